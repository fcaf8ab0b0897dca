#!/usr/bin/env node
// Forecast with an lstm-tf model in Node.js (onnxruntime-node, CPU): no Python needed.
//
//   node exported/node/forecast.js MODEL.onnx FILE.csv          window model: last window -> forecast
//   node exported/node/forecast.js MODEL.step.onnx FILE.csv     step model: one observation at a time
//
// Everything (columns, window, horizon, scaling) comes from the metadata inside the
// model. Prints the forecast as CSV ([<time column>,]step,<targets>), like `lstm-tf predict`
// (the CSV's time column continued, when it has one); a quantile model adds one column per target and level (<target>_q<level>, e.g. sst_q0.1).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import ort from 'onnxruntime-node';

import { LstmTfError, futureTimes, loadModel, predict, quantileColumns, readCsv } from '../lib/lstm_tf.js';

const USAGE = `usage: node forecast.js MODEL.onnx FILE.csv [--json] [--each] [--threads N] [--series NAME]

  MODEL.onnx   an lstm-tf window model, or a .step.onnx step model (fed one observation at a time)
  FILE.csv     a CSV with the model's columns (header row); the forecast follows its last row
  --json       print {"model", "kind", "targets", "forecast": [[...] per step]} at full precision
               (a quantile model adds "levels" and "quantiles": [step][target][level])
  --each       step model: print the forecast after every observation fed
  --threads N  onnxruntime intra-op threads (default 1)
  --series NAME  a panel model scaled by series: the series FILE.csv holds (its rows only)`;

function parseArguments(argv) {
  const options = { json: false, each: false, threads: 1, series: null, paths: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    if (argument === '--json') options.json = true;
    else if (argument === '--each') options.each = true;
    else if (argument === '--series') {
      options.series = argv[i += 1];
      if (!options.series) throw new LstmTfError('--series needs a series name');
    }
    else if (argument === '--threads') {
      options.threads = Number(argv[i += 1]);
      if (!Number.isInteger(options.threads) || options.threads < 1) throw new LstmTfError('--threads needs a positive integer');
    } else if (argument === '-h' || argument === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (argument.startsWith('--')) throw new LstmTfError(`unknown option ${argument}`);
    else options.paths.push(argument);
  }
  if (options.paths.length !== 2) throw new LstmTfError(`expected MODEL.onnx and FILE.csv\n${USAGE}`);
  return options;
}

function readFile(path, what) {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new LstmTfError(`${what} ${path} ${error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code})`}`);
  }
}

// Seven significant digits, as `lstm-tf predict` prints them (Python's '.7g').
const short = (value) => String(Number(value.toPrecision(7)));

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const [modelPath, csvPath] = options.paths;
  const { session, meta } = await loadModel(ort, readFile(modelPath, 'model file'), modelPath,
    { intraOpNumThreads: options.threads, interOpNumThreads: 1 });
  // (A model with future-known covariates: `known` from the CSV's future rows and time column.)
  const { values, time, timeColumn, known } = readCsv(readFile(csvPath, 'file').toString('utf-8'), meta, csvPath);
  const onStep = options.each && meta.model === 'step'
    ? (index, rows) => console.error(`observation ${index + 1}/${meta.window}: ${rows.map((r) => r.map(short).join(' ')).join(' | ')}`)
    : null;
  const { forecast: rows, quantiles } = await predict(ort, session, meta, values, onStep,
    options.series, known);
  if (options.json) {
    console.log(JSON.stringify({ model: basename(modelPath), type: meta.model, kind: meta.kind,
      targets: meta.targets, forecast: rows,
      ...(quantiles ? { levels: meta.quantiles, quantiles } : {}) }));
  } else {
    // The data's time column, continued under its own name (as `lstm-tf predict` does),
    // when it has one.
    const times = time && time.length >= 2 ? futureTimes(time, rows.length, csvPath) : null;
    // (`horizon_step` where the time column or a target is itself named `step`, as
    // `lstm-tf predict` names it)
    const taken = [...(times ? [timeColumn] : []), ...meta.targets].includes('step');
    console.log([...(times ? [timeColumn] : []), taken ? 'horizon_step' : 'step', ...meta.targets,
      ...quantileColumns(meta)].join(','));
    rows.forEach((row, step) => console.log([...(times ? [times[step]] : []), step + 1,
      ...row.map(short), ...(quantiles ? quantiles[step].flat().map(short) : [])].join(',')));
  }
}

main().catch((error) => {
  // A user mistake is one line; anything else is a bug and keeps its stack.
  console.error(error instanceof LstmTfError ? `Error: ${error.message}` : error);
  process.exit(1);
});
