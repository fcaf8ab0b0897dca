// The demo page: load an exported model and a CSV, forecast with onnxruntime-web
// (wasm backend, files served from this server's copy of the npm package), draw the
// history and the forecast, and write the results into the DOM.
//
// Query parameters (all optional): ?model=URL&csv=URL&units=TEXT (the targets' unit, for
// the chart); without model and csv the bundled reference example
// (exported/reference/reference.json, which also names its units) is used.
import * as ort from '../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

import { loadModel, predict, quantileColumns, readCsv } from '../lib/lstm_tf.js';
import { drawChart } from './chart.js';
import { mountGateExplorer } from './gates.js';

const HISTORY_SHOWN = 240; // rows of history drawn before the forecast

// The wasm and its loader come from the npm package on this server, never a CDN. One
// thread: multi-threaded wasm needs cross-origin isolation, and these models are tiny.
ort.env.wasm.wasmPaths = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

const $ = (selector) => document.querySelector(selector);

function setStatus(status, message) {
  document.body.dataset.status = status;
  $('#status').textContent = message;
}

async function fetchBytes(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${what} ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

async function reference() {
  const url = new URL('../reference/reference.json', import.meta.url);
  const manifest = await (await fetch(url)).json();
  return {
    model: new URL(manifest.model, url).href, csv: new URL(manifest.csv, url).href,
    units: manifest.units || {}, name: manifest.model,
  };
}

function fill(parent, rows) {
  parent.replaceChildren();
  for (const cells of rows) {
    const tr = document.createElement('tr');
    for (const [tag, text] of cells) {
      const cell = document.createElement(tag);
      cell.textContent = text;
      tr.appendChild(cell);
    }
    parent.appendChild(tr);
  }
}

function describe(meta, name, seconds) {
  const parity = meta.parity
    ? `${meta.parity.passed ? 'passed' : 'FAILED'}, max error ${meta.parity.max_relative_error.toExponential(1)} x std`
    : 'not checked';
  const items = [
    ['file', name], ['model', `${meta.model} model, ${meta.kind}, ${meta.layers} x ${meta.units} units`],
    ['window, horizon', `${meta.window} rows in, ${meta.horizon} step(s) out`],
    ['columns', `${meta.columns.join(', ')} (targets: ${meta.targets.join(', ')})`],
    ['scaling', meta.scaling], ['parity with Keras at export', parity],
    ...(meta.quantiles ? [['quantiles', `levels ${meta.quantiles.join(', ')}; the forecast is the median`]] : []),
    ['run', meta.run], ['inference', `${(seconds * 1000).toFixed(2)} ms in onnxruntime-web ${ort.env.versions?.web ?? ''} (wasm)`],
  ];
  const list = $('#model-info');
  list.replaceChildren();
  for (const [term, text] of items) {
    list.appendChild(Object.assign(document.createElement('dt'), { textContent: term }));
    list.appendChild(Object.assign(document.createElement('dd'), { textContent: text }));
  }
}

/** The widest central interval among a quantile model's levels: [lower index, upper index, coverage], or null. */
function widestInterval(levels) {
  for (let i = 0; levels && levels[i] < 0.5; i += 1) {
    const j = levels.findIndex((level) => Math.abs(level - (1 - levels[i])) < 1e-9);
    if (j > i) return [i, j, Math.round((levels[j] - levels[i]) * 1e6) / 1e4];
  }
  return null;
}

async function run({ modelBytes, modelName, csvText, csvName, units }) {
  setStatus('loading', `Running ${modelName} on ${csvName}…`);
  const { session, meta } = await loadModel(ort, modelBytes, modelName, { executionProviders: ['wasm'] });
  const { values, time, timeColumn, known } = readCsv(csvText, meta, csvName);
  const started = performance.now();
  const { forecast: rows, quantiles } = await predict(ort, session, meta, values, null, null, known);
  const seconds = (performance.now() - started) / 1000;
  await session.release();

  const charts = $('#charts');
  charts.replaceChildren();
  const shown = Math.min(values.length, Math.max(HISTORY_SHOWN, meta.window));
  const first = values.length - shown;
  const labels = time ? time.slice(first) : Array.from({ length: shown }, (_, i) => String(first + i + 2));
  const interval = quantiles ? widestInterval(meta.quantiles) : null;
  meta.targets.forEach((target, k) => {
    const unit = units[target] || units['*'] || 'original units of the CSV';
    drawChart(charts, {
      id: `chart-${k}`,
      title: `${target} (${unit}): last ${shown} observations and the ${meta.horizon}-step forecast`,
      subtitle: `${modelName}: ${meta.kind} ${meta.layers} x ${meta.units}, window ${meta.window}, `
        + `${meta.model === 'step' ? 'step model fed one observation at a time' : 'window model'}; onnxruntime-web (wasm)`,
      yLabel: `${target} (${unit})`,
      xLabel: time ? timeColumn : 'CSV line',
      labels, window: meta.window,
      history: values.slice(first).map((row) => row[k]),
      forecast: rows.map((row) => row[k]),
      band: interval && {
        low: quantiles.map((step) => step[k][interval[0]]),
        high: quantiles.map((step) => step[k][interval[1]]),
        label: `${interval[2]}% interval (q${meta.quantiles[interval[0]]}-q${meta.quantiles[interval[1]]})`,
      },
    });
  });
  fill($('#forecast-table'), [[['th', 'step'], ...meta.targets.map((t) => ['th', t]),
    ...quantileColumns(meta).map((name) => ['th', name])]]
    .concat(rows.map((row, step) => [['td', `+${step + 1}`], ...row.map((v) => ['td', v.toFixed(4)]),
      ...(quantiles ? quantiles[step].flat().map((v) => ['td', v.toFixed(4)]) : [])])));
  describe(meta, modelName, seconds);
  $('#forecast-json').textContent = JSON.stringify({
    model: modelName, type: meta.model, kind: meta.kind, targets: meta.targets, forecast: rows,
    ...(quantiles ? { levels: meta.quantiles, quantiles } : {}),
    rows: values.length, last_time: time ? time[time.length - 1] : null,
  });
  setStatus('done', `Forecast of ${meta.targets.join(', ')} after the last of ${values.length} rows `
    + `of ${csvName}, ${meta.horizon} step(s) ahead.`);
}

let current = null; // the last model and CSV run, so a new CSV can reuse the model and vice versa

async function guarded(job) {
  try {
    current = await job();
    await run(current);
  } catch (error) {
    console.error(error);
    setStatus('error', `Error: ${error.message || error}`);
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  await guarded(async () => {
    const example = params.get('model') && params.get('csv') ? null : await reference();
    const modelUrl = params.get('model') || example.model;
    const csvUrl = params.get('csv') || example.csv;
    const [modelBytes, csvBytes] = await Promise.all([fetchBytes(modelUrl, 'model'), fetchBytes(csvUrl, 'CSV')]);
    return {
      modelBytes, modelName: decodeURIComponent(modelUrl.split('/').pop()),
      csvText: new TextDecoder().decode(csvBytes), csvName: decodeURIComponent(csvUrl.split('/').pop()),
      units: params.get('units') ? { '*': params.get('units') } : (example?.units ?? {}),
    };
  });
}

$('#model-file').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) {
    guarded(async () => ({ ...current, modelBytes: new Uint8Array(await file.arrayBuffer()), modelName: file.name, units: {} }));
  }
});
$('#csv-file').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) guarded(async () => ({ ...current, csvText: await file.text(), csvName: file.name }));
});
$('#example').addEventListener('click', () => { history.replaceState(null, '', location.pathname); start(); });

start();

// Beside the forecast: the gate explorer of the run served with `serve-demo --run RUN`.
async function startGates() {
  try {
    const data = await (await fetch(new URL('../gates/data.json', import.meta.url))).json();
    if (data.missing) {
      $('#gates-note').textContent = `Gates: ${data.missing}.`;
      return;
    }
    mountGateExplorer($('#gate-explorer'), data, { query: location.search });
  } catch (error) {
    console.error(error);
    $('#gates-note').textContent = `Error: ${error.message || error}`;
  }
}

startGates();
