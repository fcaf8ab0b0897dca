// The gate explorer's numbers: the tutorial's LSTM equations in plain JavaScript, for one
// trained lstm-tf run (the data written by lstm_tf/gate_page.py, format 'lstm-tf-gates/1').
// No DOM: Node.js runs this module as it is (tests/test_gate_page.py).
//
// Per layer l and step t, with W acting on [h_{t-1}, x_t]:
//
//   f_t = σ(W_f·[h_{t-1}, x_t] + b_f)      i_t = σ(W_i·[h_{t-1}, x_t] + b_i)
//   o_t = σ(W_o·[h_{t-1}, x_t] + b_o)      C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
//   C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t        h_t = o_t ⊙ tanh(C_t)
//
// then forecast = anchor + slope · (Dense head of the last layer's h_T). The data holds, per
// window, the network's input (scaled and made relative to the anchor by lstm-tf's own Python
// functions), the anchor's forecast and the slope that takes the network's output to original
// units. Keras packs a layer's kernel [in, 4U], recurrent kernel [U, 4U] and bias [4U] in gate
// order i, f, C~, o.

export const FORMAT = 'lstm-tf-gates/1';
export const QUANTITIES = ['forget_gate', 'input_gate', 'output_gate', 'candidate', 'cell_state', 'h'];
const KERAS_ORDER = ['input_gate', 'forget_gate', 'candidate', 'output_gate'];

/** A little-endian float32 or float64 array from base64 text. */
export function decode(text, type = Float32Array) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return new type(bytes.buffer);
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/** The model: per layer Float64Array weights, the head's kernel and bias. */
export function readModel(data) {
  const layers = data.layers.map((layer) => ({
    units: layer.units, inputs: layer.inputs,
    kernel: Float64Array.from(decode(layer.kernel)),
    recurrent: Float64Array.from(decode(layer.recurrent_kernel)),
    bias: Float64Array.from(decode(layer.bias)),
  }));
  return {
    layers,
    head: { kernel: Float64Array.from(decode(data.head.kernel)), bias: Float64Array.from(decode(data.head.bias)) },
    inputs: decode(data.windows.inputs), // [windows, time, columns] float32
    anchor: decode(data.windows.anchor, Float64Array), // [windows, horizon, targets], original units
    slope: decode(data.windows.slope, Float64Array), // [windows, horizon, targets]
    values: decode(data.series.values, Float64Array), // [rows, targets], original units
  };
}

/** One LSTM layer over x [steps * inputs]: the six quantities, each Float64Array [steps * units]. */
export function runLayer(layer, x, steps) {
  const { units, inputs, kernel, recurrent, bias } = layer;
  const width = 4 * units;
  const out = Object.fromEntries(QUANTITIES.map((name) => [name, new Float64Array(steps * units)]));
  const z = new Float64Array(width);
  let h = new Float64Array(units);
  let c = new Float64Array(units);
  const block = Object.fromEntries(KERAS_ORDER.map((name, k) => [name, k * units]));
  for (let t = 0; t < steps; t += 1) {
    z.set(bias);
    for (let k = 0; k < inputs; k += 1) {
      const value = x[t * inputs + k];
      const row = k * width;
      for (let j = 0; j < width; j += 1) z[j] += value * kernel[row + j];
    }
    for (let k = 0; k < units; k += 1) {
      const value = h[k];
      const row = k * width;
      for (let j = 0; j < width; j += 1) z[j] += value * recurrent[row + j];
    }
    const nextH = new Float64Array(units);
    const nextC = new Float64Array(units);
    for (let u = 0; u < units; u += 1) {
      const f = sigmoid(z[block.forget_gate + u]);
      const i = sigmoid(z[block.input_gate + u]);
      const o = sigmoid(z[block.output_gate + u]);
      const candidate = Math.tanh(z[block.candidate + u]);
      nextC[u] = f * c[u] + i * candidate;
      nextH[u] = o * Math.tanh(nextC[u]);
      const at = t * units + u;
      out.forget_gate[at] = f; out.input_gate[at] = i; out.output_gate[at] = o;
      out.candidate[at] = candidate; out.cell_state[at] = nextC[u]; out.h[at] = nextH[u];
    }
    h = nextH;
    c = nextC;
  }
  return out;
}

/** Everything the page shows for window `index`: layers, anchor, correction, forecast, actual. */
export function computeWindow(data, model, index) {
  const { window: steps, horizon, targets } = data;
  const columns = data.columns.length;
  const n = targets.length;
  let x = Float64Array.from(model.inputs.subarray(index * steps * columns, (index + 1) * steps * columns));
  const layers = [];
  for (const layer of model.layers) {
    const trace = runLayer(layer, x, steps);
    layers.push(trace);
    x = trace.h;
  }
  const units = model.layers[model.layers.length - 1].units;
  const last = x.subarray((steps - 1) * units, steps * units);
  const outputs = horizon * n;
  const anchor = [];
  const correction = [];
  const forecast = [];
  const actual = [];
  const start = data.windows.starts[index];
  for (let step = 0; step < horizon; step += 1) {
    const rows = [[], [], [], []];
    for (let k = 0; k < n; k += 1) {
      const column = step * n + k;
      let network = model.head.bias[column];
      for (let u = 0; u < units; u += 1) network += last[u] * model.head.kernel[u * outputs + column];
      const at = (index * horizon + step) * n + k;
      const fix = model.slope[at] * network;
      rows[0].push(model.anchor[at]);
      rows[1].push(fix);
      rows[2].push(model.anchor[at] + fix);
      const row = start + step;
      rows[3].push(row < data.series.rows ? model.values[row * n + k] : null);
    }
    anchor.push(rows[0]); correction.push(rows[1]); forecast.push(rows[2]); actual.push(rows[3]);
  }
  const inputs = model.inputs.subarray(index * steps * columns, (index + 1) * steps * columns);
  return { index, layers, anchor, correction, forecast, actual, inputs };
}

/** The unit whose cell state moved most, sum over t >= 2 of |C_t - C_{t-1}| (as `inspect` ranks them). */
export function mostChangedUnit(cell, units) {
  let best = 0;
  let bestChange = -1;
  for (let u = 0; u < units; u += 1) {
    let change = 0;
    for (let at = units + u; at < cell.length; at += units) change += Math.abs(cell[at] - cell[at - units]);
    if (change > bestChange) { best = u; bestChange = change; }
  }
  return best;
}

