// The gate explorer's labels in English and Chinese (the tutorial's terms: 遗忘门, 输入门,
// 输出门, 候选值, 细胞状态, 隐藏状态), and the symbols of the six quantities.

export const SYMBOLS = { forget_gate: 'f_t', input_gate: 'i_t', output_gate: 'o_t', candidate: 'C~_t', cell_state: 'C_t', h: 'h_t' };

export const LABELS = {
  en: {
    title: 'Inside the LSTM: gates of {run}',
    intro: 'Every number is computed in this page from the run\'s weights with the tutorial\'s equations. Pick a window with the slider or by clicking the series; move the mouse over a heatmap to pick a step and a unit.',
    language: '中文', window: 'window', of: 'of', part: { train: 'training', val: 'validation', test: 'test', file: 'file' },
    series: 'the series ({target}) and the chosen window', input: 'input window', forecastBand: 'forecast',
    heatmaps: 'Layer {layer}: every step (x) and unit (y)', step: 'step t', unit: 'unit', layer: 'layer',
    axes: 'x: step t = 1 … {steps} of the window (oldest left); y: unit 0 … {last} (top down). Colours: gates 0 … 1, candidate and h −1 … 1, cell state ± its largest |C|. The red column is the step of the chart above, the black box its unit.',
    forget_gate: 'forget gate', input_gate: 'input gate', output_gate: 'output gate',
    candidate: 'candidate', cell_state: 'cell state', h: 'hidden state',
    diagram: 'The tutorial\'s flow chart: one step of the LSTM (layer {layer}, step t = {t}, unit {unit})',
    x: 'input (scaled)', xLower: 'input = h_t of layer {below}', hPrev: 'previous hidden state', cPrev: 'previous cell state',
    hNew: 'output', values: '{count} values', equations: 'The equations, with this step\'s numbers',
    forecast: 'Forecast from this window', anchor: 'anchor', correction: 'network correction', sum: 'forecast = anchor + correction',
    actual: 'actual', time: 'time', horizonStep: 'step',
    anchorNote: 'The anchor ({anchor}) is a linear forecast from the window; the network learns the correction added to it.',
    noAnchor: 'This run has no anchor: the forecast is the network\'s output alone.',
    render: 'rendered in {ms} ms',
  },
  zh: {
    title: 'LSTM 内部：{run} 的门',
    intro: '页面中的每个数字都由该运行的权重按教程中的公式在本页计算。用滑块或点击序列选择窗口；把鼠标移到热图上选择时间步和单元。',
    language: 'English', window: '窗口', of: '共', part: { train: '训练', val: '验证', test: '测试', file: '文件' },
    series: '序列（{target}）与所选窗口', input: '输入窗口', forecastBand: '预测',
    heatmaps: '第 {layer} 层：每个时间步（横轴）与单元（纵轴）', step: '时间步 t', unit: '单元', layer: '层',
    axes: '横轴：窗口中的时间步 t = 1 … {steps}（最早的在左）；纵轴：单元 0 … {last}（从上到下）。颜色：各门 0 … 1，候选值和 h 为 −1 … 1，细胞状态为 ± 其最大 |C|。红色列是上面流程图的时间步，黑框是其单元。',
    forget_gate: '遗忘门', input_gate: '输入门', output_gate: '输出门',
    candidate: '候选值', cell_state: '细胞状态', h: '隐藏状态',
    diagram: '教程的数据处理流程图：LSTM 的一个时间步（第 {layer} 层，时间步 t = {t}，单元 {unit}）',
    x: '当前输入（已缩放）', xLower: '输入 = 第 {below} 层的 h_t', hPrev: '上一时刻的隐藏状态', cPrev: '上一时刻的细胞状态',
    hNew: '输出', values: '{count} 个值', equations: 'LSTM门机制的数学解释（代入本时间步的数值）',
    forecast: '该窗口的预测', anchor: '锚定预测', correction: '网络修正', sum: '预测 = 锚定预测 + 网络修正',
    actual: '实际值', time: '时间', horizonStep: '步',
    anchorNote: '锚定预测（{anchor}）是由窗口得出的线性预测；网络学习加在其上的修正。',
    noAnchor: '该运行没有锚定预测：预测就是网络的输出。',
    render: '渲染用时 {ms} 毫秒',
  },
};

export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? String(values[key]) : `{${key}}`));
}

