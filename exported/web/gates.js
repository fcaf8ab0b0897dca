// The gate explorer: the tutorial's LSTM flow chart, live, for one trained lstm-tf run.
//
// Used by the standalone page `lstm-tf inspect RUN --html FILE` (this module and the two it
// imports are inlined into it by lstm_tf/gate_page.py) and by the serve-demo page
// (exported/web/app.js imports it). The numbers come from gate_math.js, the labels from
// gate_labels.js; this module draws: the series and the window slider, the one-step
// diagram and its equations, the forecast table and the heatmaps.
import { FORMAT, QUANTITIES, computeWindow, mostChangedUnit, readModel } from './gate_math.js';
import { LABELS, SYMBOLS, fill } from './gate_labels.js';

const SVG = 'http://www.w3.org/2000/svg';

// ------------------------------------------------------------------ drawing helpers

function el(parent, tag, attributes = {}, text = null) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const RDBU = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];

function colour(stops, fraction) {
  const position = Math.min(1, Math.max(0, fraction)) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(position));
  const w = position - k;
  return stops[k].map((value, j) => Math.round(value + w * (stops[k + 1][j] - value)));
}

// 256-entry lookup tables: a heatmap of a few thousand cells colours without allocating.
const TABLES = new Map();
function table(stops) {
  if (!TABLES.has(stops)) {
    const lut = new Uint8ClampedArray(256 * 3);
    for (let k = 0; k < 256; k += 1) lut.set(colour(stops, k / 255), 3 * k);
    TABLES.set(stops, lut);
  }
  return TABLES.get(stops);
}

/** Colour map and range of a quantity: gates 0..1, C~ and h -1..1, C symmetric on its largest |C|. */
function scaleOf(name, values) {
  if (name.endsWith('_gate')) return { stops: VIRIDIS, low: 0, high: 1 };
  if (name === 'cell_state') {
    let limit = 1e-6;
    for (const v of values) limit = Math.max(limit, Math.abs(v));
    return { stops: RDBU, low: -limit, high: limit };
  }
  return { stops: RDBU, low: -1, high: 1 };
}

const format = (value, digits = 3) => (value === null || value === undefined ? '—' : Number(value).toFixed(digits));

// ------------------------------------------------------------------ the explorer

/**
 * Build the explorer in `root` for `data`; returns the API (also window.gateExplorer):
 * select(index) -> milliseconds, values(index), count, setLanguage(lang), focus(layer, t, unit).
 */
export function mountGateExplorer(root, data, { language = 'en', query = '' } = {}) {
  if (data.format !== FORMAT) throw new Error(`gate data has format ${data.format}, expected ${FORMAT}`);
  const model = readModel(data);
  const count = data.windows.starts.length;
  const steps = data.window;
  const state = { index: data.windows.default, layer: 0, t: steps - 1, unit: 0, language, current: null };
  root.classList.add('gate-explorer');
  root.replaceChildren();

  // Layout: header, series + slider, forecast, diagram + equations, heatmaps.
  const header = el(root, 'header', { class: 'gx-header' });
  const title = el(header, 'h2', { class: 'gx-title' });
  const toggle = el(header, 'button', { type: 'button', class: 'gx-language', id: 'gx-language' });
  const intro = el(root, 'p', { class: 'gx-intro' });
  const seriesBox = el(root, 'section', { class: 'gx-series' });
  const controls = el(root, 'div', { class: 'gx-controls' });
  const sliderLabel = el(controls, 'label', { for: 'gx-window' });
  const slider = el(controls, 'input', { type: 'range', id: 'gx-window', min: 0, max: count - 1, step: 1 });
  const windowText = el(controls, 'span', { class: 'gx-window-text', id: 'gx-window-text' });
  const timing = el(controls, 'span', { class: 'gx-timing', id: 'gx-timing' });
  const middle = el(root, 'div', { class: 'gx-middle' });
  const diagramBox = el(middle, 'section', { class: 'gx-diagram' });
  const equationsBox = el(middle, 'section', { class: 'gx-equations' });
  const forecastBox = el(root, 'section', { class: 'gx-forecast' });
  const heatmapBox = el(root, 'section', { class: 'gx-heatmaps' });
  const dump = el(root, 'script', { type: 'application/json', id: 'gx-values' });

  const t = (key) => LABELS[state.language][key] ?? LABELS.en[key];
  // ?values: every shown window's numbers also go into #gx-values as JSON (for tests and
  // scripts that read the page back; the API `values(index)` needs no option).
  const params = new URLSearchParams(query);
  const dumpValues = params.has('values');

  // ---- the series: the first target over every row, the window shaded, click to choose
  const rows = data.series.rows;
  const n = data.targets.length;
  const W = 1000; const H = 230; const M = { left: 56, right: 16, top: 26, bottom: 34 };
  const seriesSvg = el(seriesBox, 'svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'gx-series-chart', role: 'img' });
  const target0 = Array.from({ length: rows }, (_, r) => model.values[r * n]);
  let low = Math.min(...target0); let high = Math.max(...target0);
  if (high === low) { low -= 1; high += 1; }
  const sx = (row) => M.left + (row / Math.max(1, rows - 1)) * (W - M.left - M.right);
  const sy = (v) => M.top + (1 - (v - low) / (high - low)) * (H - M.top - M.bottom);
  const seriesTitle = el(seriesSvg, 'svg:text', { x: M.left, y: 16, class: 'gx-chart-title' });
  const shade = el(seriesSvg, 'svg:rect', { class: 'gx-input-window', y: M.top, height: H - M.top - M.bottom });
  const band = el(seriesSvg, 'svg:rect', { class: 'gx-forecast-window', y: M.top, height: H - M.top - M.bottom });
  el(seriesSvg, 'svg:path', {
    class: 'gx-series-line', 'data-points': rows,
    d: target0.map((v, r) => `${r ? 'L' : 'M'}${sx(r).toFixed(1)},${sy(v).toFixed(1)}`).join(''),
  });
  for (const v of [low, (low + high) / 2, high]) {
    el(seriesSvg, 'svg:text', { x: M.left - 6, y: sy(v) + 4, 'text-anchor': 'end', class: 'gx-tick' }, format(v, 2));
  }
  const labels = data.series.time;
  const every = Math.max(1, Math.ceil(rows / 8));
  for (let r = 0; r < rows; r += every) {
    el(seriesSvg, 'svg:text', { x: sx(r), y: H - 12, 'text-anchor': 'middle', class: 'gx-tick' }, labels ? labels[r] : String(r));
  }
  const forecastMarks = el(seriesSvg, 'svg:g', { class: 'gx-forecast-marks' });
  el(seriesSvg, 'svg:rect', { class: 'gx-frame', x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom });
  // A click chooses the window whose input ends at the clicked row (or the nearest one).
  seriesSvg.addEventListener('click', (event) => {
    const box = seriesSvg.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * W;
    const row = Math.round(((x - M.left) / (W - M.left - M.right)) * (rows - 1));
    let best = 0;
    data.windows.starts.forEach((start, k) => {
      if (Math.abs(start - 1 - row) < Math.abs(data.windows.starts[best] - 1 - row)) best = k;
    });
    select(best);
  });
  slider.addEventListener('input', () => select(Number(slider.value)));

  // ---- heatmaps: one canvas per layer and quantity, a pixel per (step, unit), CSS-scaled
  const maps = data.layers.map((layer, l) => {
    const group = el(heatmapBox, 'div', { class: 'gx-layer', 'data-layer': l });
    const heading = el(group, 'h3');
    const axes = el(group, 'p', { class: 'gx-note gx-axes' });
    const grid = el(group, 'div', { class: 'gx-grid' });
    const panels = QUANTITIES.map((name) => {
      const panel = el(grid, 'figure', { class: 'gx-panel', 'data-quantity': name });
      const caption = el(panel, 'figcaption');
      const frame = el(panel, 'div', { class: 'gx-frame-box' });
      const canvas = el(frame, 'canvas', { width: steps, height: layer.units, class: 'gx-heatmap', id: `gx-${name}-l${l}` });
      const column = el(frame, 'div', { class: 'gx-cursor-step' });
      const cell = el(frame, 'div', { class: 'gx-cursor-cell' });
      column.style.width = `${100 / steps}%`;
      cell.style.width = `${100 / steps}%`;
      cell.style.height = `${100 / layer.units}%`;
      const pick = (event) => {
        const box = canvas.getBoundingClientRect();
        const step = Math.min(steps - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * steps)));
        const unit = Math.min(layer.units - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * layer.units)));
        focus(l, step, unit);
      };
      frame.addEventListener('mousemove', pick);
      frame.addEventListener('click', pick);
      return { name, caption, canvas, context: canvas.getContext('2d'), column, cell };
    });
    return { heading, axes, panels, units: layer.units };
  });

  function drawHeatmaps(current) {
    maps.forEach((map, l) => {
      for (const panel of map.panels) {
        const values = current.layers[l][panel.name];
        const { stops, low: lo, high: hi } = scaleOf(panel.name, values);
        const lut = table(stops);
        const image = panel.context.createImageData(steps, map.units);
        const pixels = image.data;
        for (let step = 0; step < steps; step += 1) {
          for (let u = 0; u < map.units; u += 1) {
            const fraction = (values[step * map.units + u] - lo) / (hi - lo);
            const k = 3 * Math.round(255 * Math.min(1, Math.max(0, fraction)));
            const at = (u * steps + step) * 4;
            pixels[at] = lut[k]; pixels[at + 1] = lut[k + 1]; pixels[at + 2] = lut[k + 2]; pixels[at + 3] = 255;
          }
        }
        panel.context.putImageData(image, 0, 0);
        panel.canvas.dataset.range = `${lo},${hi}`;
      }
    });
  }

  function drawCursor() {
    maps.forEach((map, l) => {
      for (const panel of map.panels) {
        panel.column.style.left = `${(100 * state.t) / steps}%`;
        panel.cell.style.left = `${(100 * state.t) / steps}%`;
        panel.cell.style.top = `${(100 * Math.min(state.unit, map.units - 1)) / map.units}%`;
        panel.cell.hidden = l !== state.layer;
      }
    });
  }

  // ---- the one-step diagram (the tutorial's flow chart) and the equations beside it
  function drawDiagram(current) {
    const l = state.layer; const step = state.t; const u = state.unit;
    const trace = current.layers[l];
    const units = data.layers[l].units;
    const at = step * units + u;
    const value = (name, s = step) => (s < 0 ? 0 : trace[name][s * units + u]);
    const v = {
      f: value('forget_gate'), i: value('input_gate'), o: value('output_gate'), g: value('candidate'),
      c: value('cell_state'), h: value('h'), cPrev: value('cell_state', step - 1), hPrev: value('h', step - 1),
    };
    const columns = data.layers[l].inputs;
    const x = l === 0
      ? Array.from(current.inputs.subarray(step * columns, (step + 1) * columns))
      : Array.from(current.layers[l - 1].h.subarray(step * columns, (step + 1) * columns));
    diagramBox.replaceChildren();
    el(diagramBox, 'h3', {}, fill(t('diagram'), { layer: l, t: step + 1, unit: u }));
    const svg = el(diagramBox, 'svg:svg', { viewBox: '0 0 620 330', class: 'gx-flow', role: 'img' });
    const defs = el(svg, 'svg:defs');
    const marker = el(defs, 'svg:marker', { id: 'gx-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    el(marker, 'svg:path', { d: 'M0,0L10,5L0,10z', class: 'gx-arrowhead' });
    const line = (points, cls = 'gx-wire') => el(svg, 'svg:path', { d: `M${points.map((p) => p.join(',')).join('L')}`, class: cls, 'marker-end': 'url(#gx-arrow)' });
    // A box: its name, its symbol, its value (data-value holds the full number).
    const box = (x0, y0, w, h, cls, name, symbol, number, id) => {
      const g = el(svg, 'svg:g', { class: `gx-node ${cls}`, id: `gx-node-${id}`, 'data-value': number });
      el(g, 'svg:rect', { x: x0, y: y0, width: w, height: h, rx: 8 });
      el(g, 'svg:text', { x: x0 + w / 2, y: y0 + 16, 'text-anchor': 'middle', class: 'gx-node-title' }, name);
      el(g, 'svg:text', { x: x0 + w / 2, y: y0 + 33, 'text-anchor': 'middle', class: 'gx-node-symbol' }, symbol);
      el(g, 'svg:text', { x: x0 + w / 2, y: y0 + 53, 'text-anchor': 'middle', class: 'gx-node-value' },
        typeof number === 'number' ? format(number) : number);
      return g;
    };
    const op = (cx, cy, symbol) => {
      el(svg, 'svg:circle', { cx, cy, r: 13, class: 'gx-op' });
      el(svg, 'svg:text', { x: cx, y: cy + 5, 'text-anchor': 'middle', class: 'gx-op-text' }, symbol);
    };
    // The cell state runs along the top: C_{t-1} -> × f_t -> + i_t × C~_t -> C_t.
    box(8, 8, 150, 62, 'gx-state', t('cPrev'), 'C_{t-1}', v.cPrev, 'c-prev');
    op(240, 39, '×'); op(370, 39, '+');
    box(460, 8, 152, 62, 'gx-state', t('cell_state'), 'C_t', v.c, 'c');
    line([[158, 39], [225, 39]]); line([[253, 39], [355, 39]]); line([[383, 39], [458, 39]]);
    // The four gates in the middle.
    const gates = [['f', 'forget_gate', 150, 'σ'], ['i', 'input_gate', 270, 'σ'], ['g', 'candidate', 390, 'tanh'], ['o', 'output_gate', 510, 'σ']];
    for (const [key, name, cx, fn] of gates) {
      box(cx - 56, 140, 112, 64, `gx-gate gx-${name}`, t(name), `${SYMBOLS[name]} = ${fn}(…)`, v[key], name);
    }
    line([[150, 140], [232, 51]]);
    op(330, 100, '×');
    line([[270, 140], [321, 110]]); line([[390, 140], [339, 110]]); line([[330, 87], [364, 52]]);
    // Inputs at the bottom: x_t and h_{t-1} feed every gate.
    const xText = x.length <= 3 ? x.map((value) => format(value)).join(', ') : fill(t('values'), { count: x.length });
    box(20, 262, 210, 62, 'gx-input', l === 0 ? t('x') : fill(t('xLower'), { below: l - 1 }), 'x_t', xText, 'x');
    box(250, 262, 190, 62, 'gx-input', t('hPrev'), 'h_{t-1}', v.hPrev, 'h-prev');
    for (const [, , cx] of gates) { line([[125, 262], [cx - 10, 206]], 'gx-wire gx-thin'); line([[345, 262], [cx + 10, 206]], 'gx-wire gx-thin'); }
    // The output: h_t = o_t × tanh(C_t).
    op(590, 232, '×');
    line([[590, 70], [590, 218]]);
    el(svg, 'svg:text', { x: 584, y: 120, 'text-anchor': 'end', class: 'gx-op-text' }, 'tanh');
    line([[510, 204], [578, 226]]);
    box(456, 262, 126, 62, 'gx-output', t('hNew'), 'h_t', v.h, 'h');
    line([[590, 245], [570, 262]]);
    diagramBox.dataset.layer = l; diagramBox.dataset.t = step + 1; diagramBox.dataset.unit = u;
    diagramBox.dataset.at = at;

    // The equations with the numbers of this step and unit.
    const xh = '[h_{t-1}, x_t]';
    const rowsOfEquations = [
      ['forget_gate', `f_t = σ(W_f·${xh} + b_f)`, `= ${format(v.f, 4)}`],
      ['input_gate', `i_t = σ(W_i·${xh} + b_i)`, `= ${format(v.i, 4)}`],
      ['output_gate', `o_t = σ(W_o·${xh} + b_o)`, `= ${format(v.o, 4)}`],
      ['candidate', `C~_t = tanh(W_C·${xh} + b_C)`, `= ${format(v.g, 4)}`],
      ['cell_state', 'C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t',
        `= ${format(v.f, 4)} × ${format(v.cPrev, 4)} + ${format(v.i, 4)} × ${format(v.g, 4)} = ${format(v.c, 4)}`],
      ['h', 'h_t = o_t ⊙ tanh(C_t)', `= ${format(v.o, 4)} × tanh(${format(v.c, 4)}) = ${format(v.h, 4)}`],
    ];
    equationsBox.replaceChildren();
    el(equationsBox, 'h3', {}, t('equations'));
    const list = el(equationsBox, 'dl', { class: 'gx-equation-list' });
    for (const [name, equation, numbers] of rowsOfEquations) {
      el(list, 'dt', {}, `${t(name)} ${SYMBOLS[name]}`);
      const dd = el(list, 'dd', { 'data-quantity': name });
      el(dd, 'code', {}, equation);
      el(dd, 'span', { class: 'gx-numbers' }, ` ${numbers}`);
    }
  }

  // ---- the forecast of the window: anchor + network correction, and the actual values
  function drawForecast(current) {
    forecastBox.replaceChildren();
    el(forecastBox, 'h3', {}, t('forecast'));
    el(forecastBox, 'p', { class: 'gx-note' }, data.anchor.kind === 'none' ? t('noAnchor') : fill(t('anchorNote'), { anchor: data.anchor.description }));
    const table = el(forecastBox, 'table', { class: 'gx-forecast-table' });
    const head = el(table, 'tr');
    for (const text of [t('horizonStep'), t('time')]) el(head, 'th', {}, text);
    for (const target of data.targets) {
      for (const key of ['anchor', 'correction', 'sum', 'actual']) el(head, 'th', {}, `${target}: ${t(key)}`);
    }
    const start = data.windows.starts[current.index];
    current.forecast.forEach((row, step) => {
      const tr = el(table, 'tr');
      el(tr, 'td', {}, `+${step + 1}`);
      el(tr, 'td', {}, labels && start + step < rows ? labels[start + step] : String(start + step));
      row.forEach((value, k) => {
        el(tr, 'td', { class: 'gx-anchor' }, format(current.anchor[step][k], 4));
        el(tr, 'td', { class: 'gx-correction' }, format(current.correction[step][k], 4));
        el(tr, 'td', { class: 'gx-sum' }, format(value, 4));
        el(tr, 'td', { class: 'gx-actual' }, format(current.actual[step][k], 4));
      });
    });
  }

  function drawSeries(current) {
    const start = data.windows.starts[current.index];
    shade.setAttribute('x', sx(start - steps));
    shade.setAttribute('width', Math.max(1, sx(start - 1) - sx(start - steps)));
    band.setAttribute('x', sx(start - 1));
    band.setAttribute('width', Math.max(2, sx(start - 1 + data.horizon) - sx(start - 1)));
    forecastMarks.replaceChildren();
    current.forecast.forEach((row, step) => {
      el(forecastMarks, 'svg:circle', { cx: sx(start + step), cy: sy(row[0]), r: 3.5, class: 'gx-forecast-point' });
    });
  }

  function drawWindowText(current) {
    const k = current.index;
    const start = data.windows.starts[k];
    const from = labels ? labels[start - steps] : start - steps;
    const to = labels ? labels[start - 1] : start - 1;
    const part = LABELS[state.language].part[data.windows.parts[k]] ?? data.windows.parts[k];
    windowText.textContent = `${t('window')} ${k} (${t('of')} 0..${count - 1}; ${part}): ${from} – ${to}`;
  }

  function writeLabels() {
    document.documentElement.lang = state.language === 'zh' ? 'zh-CN' : 'en';
    title.textContent = fill(t('title'), { run: data.run });
    toggle.textContent = t('language');
    intro.textContent = t('intro');
    sliderLabel.textContent = `${t('window')} `;
    seriesTitle.textContent = fill(t('series'), { target: data.targets[0] });
    maps.forEach((map, l) => {
      map.heading.textContent = fill(t('heatmaps'), { layer: l });
      map.axes.textContent = fill(t('axes'), { steps, last: map.units - 1 });
      for (const panel of map.panels) panel.caption.textContent = `${t(panel.name)} ${SYMBOLS[panel.name]}`;
    });
  }

  function render() {
    const current = state.current;
    drawSeries(current);
    drawWindowText(current);
    drawHeatmaps(current);
    drawCursor();
    drawDiagram(current);
    drawForecast(current);
    if (dumpValues) dump.textContent = JSON.stringify(valuesOf(current));
    root.dataset.window = current.index;
  }

  function valuesOf(current) {
    const layers = current.layers.map((trace) => Object.fromEntries(QUANTITIES.map((name) => [name, Array.from(trace[name])])));
    return { index: current.index, start: data.windows.starts[current.index], layers,
      anchor: current.anchor, correction: current.correction, forecast: current.forecast, actual: current.actual };
  }

  /** Show window `index`; returns the milliseconds it took (computing, drawing, layout). */
  function select(index) {
    const started = performance.now();
    state.index = Math.min(count - 1, Math.max(0, Math.round(index)));
    state.current = computeWindow(data, model, state.index);
    state.computeMs = performance.now() - started;
    slider.value = String(state.index);
    render();
    void root.offsetHeight; // the layout is part of showing a window
    const ms = performance.now() - started;
    // The first render also compiles the code: only a new window's time is shown.
    if (state.mounted) timing.textContent = fill(t('render'), { ms: ms.toFixed(1) });
    timing.dataset.ms = ms;
    return ms;
  }

  function focus(layer, step, unit) {
    state.layer = Math.min(data.layers.length - 1, Math.max(0, layer));
    state.t = Math.min(steps - 1, Math.max(0, step));
    state.unit = Math.min(data.layers[state.layer].units - 1, Math.max(0, unit));
    drawCursor();
    drawDiagram(state.current);
  }

  function setLanguage(next) {
    state.language = next === 'zh' ? 'zh' : 'en';
    root.dataset.language = state.language;
    writeLabels();
    render();
  }

  toggle.addEventListener('click', () => setLanguage(state.language === 'en' ? 'zh' : 'en'));


  state.language = params.get('lang') === 'zh' ? 'zh' : state.language;
  root.dataset.language = state.language;
  writeLabels();
  const first = params.has('window') ? Number(params.get('window')) : state.index;
  select(Number.isFinite(first) ? first : state.index);
  // The first view: the unit whose memory moved most, at the step where its |C_t| is largest.
  const cell = state.current.layers[0].cell_state;
  const units0 = data.layers[0].units;
  const unit0 = mostChangedUnit(cell, units0);
  let step0 = 0;
  for (let step = 1; step < steps; step += 1) {
    if (Math.abs(cell[step * units0 + unit0]) > Math.abs(cell[step0 * units0 + unit0])) step0 = step;
  }
  focus(0, step0, unit0);
  state.mounted = true;
  // ?bench=N: show N windows in turn and record each one's time (the render-time figure).
  if (params.has('bench')) {
    const times = [];
    const computing = [];
    const rounds = Math.max(1, Number(params.get('bench')) || 1);
    for (let k = 0; k < rounds; k += 1) {
      times.push(select((state.index + 1 + Math.floor((k * count) / rounds)) % count));
      computing.push(state.computeMs);
    }
    select(first);
    const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
    root.dataset.benchMedian = median(times);
    root.dataset.benchMax = Math.max(...times);
    root.dataset.benchComputeMedian = median(computing);
    root.dataset.benchRounds = rounds;
  }
  root.dataset.status = 'ready';

  const api = {
    count, select, focus, setLanguage,
    values: (index) => valuesOf(index === undefined ? state.current : computeWindow(data, model, index)),
    get index() { return state.index; },
  };
  if (typeof window !== 'undefined') window.gateExplorer = api;
  return api;
}
