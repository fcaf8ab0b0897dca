// A line chart of one target's history and forecast, drawn as plain SVG (no library,
// no fonts to fetch). Every part has a class, so tests can find it in the DOM.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 960;
const HEIGHT = 440;
const MARGIN = { left: 76, right: 28, top: 88, bottom: 58 };

function element(parent, name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  parent.appendChild(node);
  return node;
}

/** About `count` round tick values (1, 2 or 5 x 10^k apart) covering [low, high]. */
export function niceTicks(low, high, count = 6) {
  const raw = (high - low) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const ticks = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  return { ticks, step };
}

function format(value, step) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return value.toFixed(Math.min(decimals, 6));
}

/**
 * Draw into `container`: `history` values (with `labels`, e.g. the time column),
 * then `forecast` values; the last `window` history points are the model's input.
 * `band` ({ low, high, label }, one value per forecast step), a quantile model's
 * interval, is shaded around the forecast.
 */
export function drawChart(container, { id, title, subtitle, yLabel, xLabel, labels, history,
  forecast, window, band = null }) {
  const svg = element(container, 'svg', {
    id, class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title,
  });
  const n = history.length;
  const total = n + forecast.length;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = history.concat(forecast, band ? band.low.concat(band.high) : []);
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (high === low) { low -= 1; high += 1; }
  const pad = (high - low) * 0.06;
  const { ticks, step } = niceTicks(low - pad, high + pad);
  low = Math.min(low - pad, ticks[0]);
  high = Math.max(high + pad, ticks[ticks.length - 1]);
  const x = (index) => MARGIN.left + (index / Math.max(1, total - 1)) * plotWidth;
  const y = (value) => MARGIN.top + (1 - (value - low) / (high - low)) * plotHeight;

  element(svg, 'text', { class: 'title', x: MARGIN.left, y: 26 }, title);
  element(svg, 'text', { class: 'subtitle', x: MARGIN.left, y: 46 }, subtitle);

  // The rows the model reads, shaded behind everything else.
  const windowStart = Math.max(0, n - window);
  element(svg, 'rect', {
    class: 'input-window', x: x(windowStart), y: MARGIN.top,
    width: x(n - 1) - x(windowStart), height: plotHeight,
  });

  const yAxis = element(svg, 'g', { class: 'y-axis' });
  for (const tick of ticks) {
    const group = element(yAxis, 'g', { class: 'tick' });
    element(group, 'line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) });
    element(group, 'text', { x: MARGIN.left - 8, y: y(tick) + 4, 'text-anchor': 'end' }, format(tick, step));
  }
  element(svg, 'text', {
    class: 'axis-label', 'text-anchor': 'middle',
    transform: `translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)`,
  }, yLabel);

  // Ticks by priority (the forecast's end, the last observation, then every few rows),
  // each dropped if it would collide with one already placed.
  const xAxis = element(svg, 'g', { class: 'x-axis' });
  const every = Math.max(1, Math.ceil(n / 8));
  const candidates = [total - 1, n - 1];
  if (forecast.length > 4) candidates.push(n + Math.floor(forecast.length / 2) - 1);
  for (let index = n - 1 - every; index >= 0; index -= every) candidates.push(index);
  const placed = [];
  for (const index of candidates) {
    if (placed.some((other) => Math.abs(x(other) - x(index)) < 56)) continue;
    placed.push(index);
    const group = element(xAxis, 'g', { class: 'tick' });
    const label = index < n ? labels[index] : `+${index - n + 1}`;
    element(group, 'line', { x1: x(index), x2: x(index), y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight + 5 });
    element(group, 'text', { x: x(index), y: MARGIN.top + plotHeight + 20, 'text-anchor': 'middle' }, label);
  }
  element(svg, 'text', {
    class: 'axis-label', x: MARGIN.left + plotWidth / 2, y: HEIGHT - 12, 'text-anchor': 'middle',
  }, xLabel);

  element(svg, 'line', { class: 'now', x1: x(n - 1), x2: x(n - 1), y1: MARGIN.top, y2: MARGIN.top + plotHeight });
  element(svg, 'text', { class: 'now-label', x: x(n - 1) - 6, y: MARGIN.top + 14, 'text-anchor': 'end' },
    `last observation ${labels[n - 1]}`);
  element(svg, 'rect', { class: 'frame', x: MARGIN.left, y: MARGIN.top, width: plotWidth, height: plotHeight });

  if (band) {  // from the last observation out to the band's ends and back
    const edge = (values) => values.map((v, k) => `L${x(n + k).toFixed(2)},${y(v).toFixed(2)}`);
    const d = [`M${x(n - 1).toFixed(2)},${y(history[n - 1]).toFixed(2)}`, ...edge(band.high),
      ...edge(band.low).reverse(), 'Z'].join('');
    element(svg, 'path', { class: 'quantile-band', d, 'data-points': band.low.length });
  }
  const historyPath = history.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(2)},${y(v).toFixed(2)}`).join('');
  element(svg, 'path', { class: 'history', d: historyPath, 'data-points': n });
  // The forecast continues from the last observation.
  const forecastPath = [`M${x(n - 1).toFixed(2)},${y(history[n - 1]).toFixed(2)}`]
    .concat(forecast.map((v, k) => `L${x(n + k).toFixed(2)},${y(v).toFixed(2)}`)).join('');
  element(svg, 'path', { class: 'forecast', d: forecastPath, 'data-points': forecast.length });
  forecast.forEach((v, k) => {
    element(svg, 'circle', { class: 'forecast-point', cx: x(n + k), cy: y(v), r: 3.2, 'data-value': v });
  });

  const legend = element(svg, 'g', { class: 'legend', transform: `translate(${MARGIN.left + 4} 70)` });
  element(legend, 'line', { class: 'history', x1: 0, x2: 26, y1: 0, y2: 0 });
  element(legend, 'text', { x: 32, y: 4 }, 'history');
  element(legend, 'line', { class: 'forecast', x1: 96, x2: 122, y1: 0, y2: 0 });
  element(legend, 'text', { x: 128, y: 4 }, 'forecast');
  element(legend, 'rect', { class: 'input-window', x: 196, y: -7, width: 22, height: 14 });
  element(legend, 'text', { x: 224, y: 4 }, `model input (${window} rows)`);
  if (band) {
    element(legend, 'rect', { class: 'quantile-band', x: 370, y: -7, width: 22, height: 14 });
    element(legend, 'text', { x: 398, y: 4 }, band.label);
  }
  return svg;
}
