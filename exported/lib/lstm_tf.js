// The lstm-tf contract for JavaScript: read an exported model's metadata, form its
// inputs from a CSV, run it. Shared by the Node.js consumer (exported/node) and the
// browser page (exported/web), so it imports nothing: the caller passes its own
// onnxruntime (`onnxruntime-node` or `onnxruntime-web`) as `ort`.
//
// The contract itself is defined in lstm_tf/contract.py and documented in
// exported/README.md: input `window` float32 [batch, time, columns], output
// `forecast` float32 [batch, horizon, targets], both in the CSV's original units;
// the step model takes `x_t` [batch, columns] and `h_in`/`c_in` [layers, batch, units].
// A panel model scaled by series (or with a series embedding or series anchors) also
// takes `series` int64 [batch]: the index of the series' name in `meta.panel.series`.
// A quantile model (`lstm-tf train --quantiles`) also outputs `quantiles` float32
// [batch, horizon, targets, Q] at the levels in the metadata's `quantiles`; its
// `forecast` is their median.

export const METADATA_KEY = 'lstm_tf';
export const FORMAT = 'lstm-tf/1';
export const INPUT = 'window';
export const KNOWN_INPUT = 'known';
export const OUTPUT = 'forecast';
export const SERIES_INPUT = 'series';
export const QUANTILES = 'quantiles';
export const STEP_INPUT = 'x_t';
export const STATE_INPUTS = { h: 'h_in', c: 'c_in' };
export const STATE_OUTPUTS = { h: 'h_out', c: 'c_out' };

const MAX_SIZE = 1_000_000; // the same bounds lstm_tf/contract.py puts on untrusted metadata
const MAX_NAMES = 10_000;

/** A problem the user can fix (bad file, column, model): shown as one line `Error: ...`. */
export class LstmTfError extends Error {
  constructor(message) { super(message); this.name = 'LstmTfError'; }
}

/** The state tensors of a step model: h for a simple RNN, h and c for an LSTM. */
export function stateNames(kind) {
  return kind === 'rnn' ? ['h'] : ['h', 'c'];
}

// ------------------------------------------------------------------ metadata

// onnxruntime-node and onnxruntime-web do not expose an ONNX model's custom
// metadata_props, so they are read from the protobuf directly. Only two messages
// matter: ModelProto.metadata_props is field 14, a repeated StringStringEntryProto
// {key = 1, value = 2}; every other field is skipped by its wire type.

function readVarint(bytes, position, source) {
  // Lengths can exceed 2^31 in principle, so no 32-bit bit operations here.
  let value = 0;
  let scale = 1;
  for (let index = 0; index < 10; index += 1) {
    if (position >= bytes.length) throw new LstmTfError(`${source} is not a valid ONNX model (truncated)`);
    const byte = bytes[position];
    position += 1;
    value += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) return [value, position];
    scale *= 128;
  }
  throw new LstmTfError(`${source} is not a valid ONNX model (bad varint)`);
}

function* fields(bytes, start, end, source) {
  let position = start;
  while (position < end) {
    let key;
    [key, position] = readVarint(bytes, position, source);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    let valueStart = position;
    if (wireType === 0) {
      [, position] = readVarint(bytes, position, source);
    } else if (wireType === 1) {
      position += 8;
    } else if (wireType === 2) {
      let length;
      [length, valueStart] = readVarint(bytes, position, source);
      position = valueStart + length;
    } else if (wireType === 5) {
      position += 4;
    } else {
      throw new LstmTfError(`${source} is not a valid ONNX model (wire type ${wireType})`);
    }
    if (field === 0 || position > end) {
      throw new LstmTfError(`${source} is not a valid ONNX model (bad field at byte ${valueStart})`);
    }
    yield { field, wireType, start: valueStart, end: position };
  }
}

/** ModelProto.metadata_props of serialized ONNX bytes, as a Map (the first of duplicate keys wins). */
export function readMetadataProps(bytes, source = 'the model') {
  if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const props = new Map();
  for (const top of fields(bytes, 0, bytes.length, source)) {
    if (top.field !== 14 || top.wireType !== 2) continue;
    let key = '';
    let value = '';
    for (const entry of fields(bytes, top.start, top.end, source)) {
      if (entry.wireType !== 2 || (entry.field !== 1 && entry.field !== 2)) continue;
      let text;
      try {
        text = decoder.decode(bytes.subarray(entry.start, entry.end));
      } catch {
        throw new LstmTfError(`${source}: metadata is not UTF-8`);
      }
      if (entry.field === 1) key = text; else value = text;
    }
    if (!props.has(key)) props.set(key, value);
  }
  return props;
}

/** Parse and validate the lstm-tf metadata JSON (the same checks as lstm_tf/contract.py). */
export function parseMetadata(raw, source = 'the model') {
  if (raw === undefined || raw === null) {
    throw new LstmTfError(`${source} has no lstm-tf metadata (metadata_props['${METADATA_KEY}']); `
      + 'was it exported by `lstm-tf export`?');
  }
  if (raw.length > MAX_SIZE) throw new LstmTfError(`${source}: lstm-tf metadata is too large`);
  let meta;
  try {
    meta = JSON.parse(raw);
  } catch (error) {
    throw new LstmTfError(`${source}: lstm-tf metadata is not valid JSON (${error.message})`);
  }
  const bad = (field, why) => new LstmTfError(`${source}: lstm-tf metadata field '${field}' ${why}`);
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw bad('(root)', 'is not an object');
  if (meta.format !== FORMAT) throw bad('format', `is ${JSON.stringify(meta.format)}, expected '${FORMAT}'`);
  for (const field of ['window', 'horizon', 'units', 'layers']) {
    const value = meta[field];
    if (!Number.isInteger(value) || value <= 0 || value > MAX_SIZE) throw bad(field, 'must be a positive integer');
  }
  for (const field of ['targets', 'columns']) {
    const names = meta[field];
    if (!Array.isArray(names) || names.length === 0 || names.length > MAX_NAMES
        || !names.every((name) => typeof name === 'string' && name.length > 0 && name.length <= 1000)) {
      throw bad(field, 'must be a non-empty list of column names');
    }
  }
  if (!meta.targets.every((name, index) => meta.columns[index] === name)) {
    throw bad('columns', 'must start with the targets');
  }
  if (!['lstm', 'rnn', 'gated'].includes(meta.kind)) throw bad('kind', 'must be lstm, rnn or gated');
  if (!['window', 'step'].includes(meta.model)) throw bad('model', "must be 'window' or 'step'");
  if (!['in-graph', 'none'].includes(meta.scaling)) throw bad('scaling', "must be 'in-graph' or 'none'");
  const scaler = meta.scaler;
  if (scaler === null || typeof scaler !== 'object') throw bad('scaler', 'must be an object');
  if (meta.panel !== null && meta.panel !== undefined) {
    // A panel model: its statistics are inside the graph (per window, or per series).
    if (!['window', 'series'].includes(meta.panel.scaling)) throw bad('panel.scaling', "must be 'window' or 'series'");
    if (!Array.isArray(meta.panel.series) || !meta.panel.series.every((name) => typeof name === 'string')) {
      throw bad('panel.series', 'must be a list of series names');
    }
    return meta;
  }
  for (const field of ['mean', 'std']) {
    const numbers = scaler[field];
    if (!Array.isArray(numbers) || numbers.length !== meta.columns.length
        || !numbers.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw bad(`scaler.${field}`, `must be ${meta.columns.length} finite numbers`);
    }
  }
  if (!scaler.std.every((x) => x > 0)) throw bad('scaler.std', 'must be positive');
  if (meta.time_column !== null && meta.time_column !== undefined && typeof meta.time_column !== 'string') {
    throw bad('time_column', 'must be a string or null');
  }
  const levels = meta.quantiles;
  if (levels !== null && levels !== undefined && (!Array.isArray(levels) || levels.length === 0
      || levels.length > 1000 || !levels.every((x) => typeof x === 'number' && x > 0 && x < 1)
      || levels.some((x, i) => i > 0 && x <= levels[i - 1]) || !levels.includes(0.5))) {
    throw bad('quantiles', 'must be null or increasing numbers in (0, 1) including 0.5');
  }
  return meta;
}

/** The validated lstm-tf metadata of serialized ONNX model bytes. */
export function readMetadata(bytes, source = 'the model') {
  return parseMetadata(readMetadataProps(bytes, source).get(METADATA_KEY), source);
}

/**
 * An onnxruntime session and the metadata of model bytes (a window or a step model).
 * `options` are onnxruntime session options (e.g. { intraOpNumThreads: 1 }).
 */
export async function loadModel(ort, bytes, source = 'the model', options = {}) {
  bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const meta = readMetadata(bytes, source);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, options);
  } catch (error) {
    throw new LstmTfError(`${source} is not a valid ONNX model (${String(error.message || error).slice(0, 200)})`);
  }
  // A window model's inputs are the contract's `metadata.inputs` (`window`, and `known`
  // for a model with future-known covariates).
  const expected = meta.model === 'step'
    ? [STEP_INPUT, ...stateNames(meta.kind).map((name) => STATE_INPUTS[name])]
    : Object.keys(meta.inputs || { [INPUT]: null });
  if (JSON.stringify(session.inputNames) !== JSON.stringify(expected)) {
    throw new LstmTfError(`${source}: inputs are ${session.inputNames.join(', ')}, the contract says ${expected.join(', ')}`);
  }
  return { session, meta };
}

// ------------------------------------------------------------------ CSV

const MISSING = new Set(['', 'na', 'nan', 'null', 'none', 'n/a', '-']);
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Split CSV text into rows of cells (RFC 4180 quotes; CRLF or LF line ends). */
export function splitCsv(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(cell); cell = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i += 1;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else {
      cell += char;
    }
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

function parseCell(cell, column, line, source) {
  if (!DECIMAL.test(cell)) {
    const hint = cell.includes(',') ? ' (thousands separators and decimal commas are not supported: use 1234.5)' : '';
    throw new LstmTfError(`${source}: column '${column}', line ${line}: '${cell}' is not a number${hint}`);
  }
  return Number(cell);
}

// A file's time column when the model's is not in it, as lstm_tf/data/timeaxis.py
// `guess_time_column` finds it: its one column named as a time, else its one column named
// as a period, that is not one of the model's columns.
const TIME_NAMES = ['time', 'date', 'datetime', 'timestamp', 'ds'];
const PERIOD_NAMES = ['year', 'quarter', 'month', 'week', 'day', 'hour', 'minute', 'period'];

function guessTimeColumn(header, taken) {
  for (const names of [TIME_NAMES, PERIOD_NAMES]) {
    const found = header.filter((name) => names.includes(name.toLowerCase()) && !taken.includes(name));
    if (found.length) return found.length === 1 ? found[0] : null;
  }
  return null;
}

/**
 * The model's columns read from CSV text: { values: number[][] (rows x columns, the
 * model's column order), time: string[] | null (the time column's text, if present),
 * timeColumn: its name (the model's, else `guessTimeColumn`'s) | null, known: number[][]
 * | null }. Like `lstm-tf predict`, a missing or non-numeric cell is an error naming its
 * line. For a model with future-known covariates, the rows after the last target value
 * (target cells empty) are the future rows: `known` holds the covariates over the horizon
 * (`knownRows`).
 */
export function readCsv(text, meta, source = 'the CSV') {
  const lines = splitCsv(text);
  if (!lines.length || !lines[0].some((cell) => cell.trim())) throw new LstmTfError(`${source} is empty`);
  const header = lines[0].map((cell) => cell.trim());
  let rows = lines.slice(1);
  while (rows.length && !rows[rows.length - 1].some((cell) => cell.trim())) rows.pop();
  if (!rows.length) throw new LstmTfError(`${source} has a header but no data rows`);
  let future = [];
  if (meta.covariates) {
    const targets = meta.targets.map((name) => header.indexOf(name));
    const hasTarget = (row) => targets.some((index) => index >= 0 && index < row.length
      && !MISSING.has(row[index].trim().toLowerCase()));
    let split = rows.length;
    while (split > 0 && !hasTarget(rows[split - 1])) split -= 1;
    future = rows.slice(split);
    rows = rows.slice(0, split);
    if (!rows.length) throw new LstmTfError(`${source} has no row with a value of ${meta.targets.join(', ')}`);
  }
  const indices = meta.columns.map((name) => {
    const index = header.indexOf(name);
    if (index < 0) throw new LstmTfError(`${source}: no column '${name}'; available: ${header.join(', ')}`);
    return index;
  });
  const values = rows.map((row, offset) => {
    const line = offset + 2;
    if (row.length !== header.length) {
      throw new LstmTfError(`${source}: line ${line} has ${row.length} fields, the header has ${header.length}`);
    }
    return indices.map((index, j) => {
      const cell = row[index].trim();
      if (MISSING.has(cell.toLowerCase())) {
        throw new LstmTfError(`${source}: column '${meta.columns[j]}' has a missing value at line ${line}`);
      }
      return parseCell(cell, meta.columns[j], line, source);
    });
  });
  const timeColumn = header.includes(meta.time_column) ? meta.time_column
    : guessTimeColumn(header, meta.columns);
  const timeIndex = timeColumn ? header.indexOf(timeColumn) : -1;
  const time = timeIndex >= 0 ? rows.map((row) => row[timeIndex].trim()) : null;
  if (!meta.covariates) return { values, time, timeColumn, known: null };
  const futureKnown = meta.covariates.known.map((name) => {
    const index = header.indexOf(name);
    if (index < 0) throw new LstmTfError(`${source}: no column '${name}'; available: ${header.join(', ')}`);
    return future.slice(0, meta.horizon).map((row, offset) => {
      const cell = (row[index] ?? '').trim();
      return MISSING.has(cell.toLowerCase()) ? NaN : parseCell(cell, name, rows.length + offset + 2, source);
    });
  });
  return { values, time, timeColumn, known: knownRows(meta, time, futureKnown, source) };
}

// ------------------------------------------------------------------ covariates

// The same definitions as lstm_tf/data/covariates.py and lstm_tf/data/panels.py
// (continue_time): calendar features of the future steps, the sine and cosine of each
// cycle's phase, from the time column continued by its median spacing.

const DAY = 86400;
const CALENDAR_MONTHS = [[28, 31, 1], [89, 92, 3], [181, 184, 6], [365, 366, 12]];

// Period labels as R's tsibble and pandas print them (lstm_tf/data/timeaxis.py `_PERIOD`):
// `1998 Q1`, `1998Q1`, `1998-Q1`, `1949 Jan`, `1949 January`, `2020 W05` (ISO weeks), read
// as the first day of the period (an ISO week's Monday) and written back in their style.
const PERIOD = /^(\d{4})\s*-?\s*(?:Q([1-4])|W(\d{1,2})|([A-Za-z]{3,9}))$/i;
const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august',
  'september', 'october', 'november', 'december'];
const pad = (value, width) => String(value).padStart(width, '0');

/** The ISO (year, week) of a UTC date: the week of its Thursday. */
function isoWeek(date) {
  const thursday = new Date(date.getTime() + (3 - ((date.getUTCDay() + 6) % 7)) * DAY * 1000);
  const year = thursday.getUTCFullYear();
  return [year, 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY * 1000))];
}

/** A period label as the ISO date its period starts on; any other text unchanged. */
export function isoPeriod(text) {
  const match = PERIOD.exec(text.trim());
  if (!match) return text;
  const [, year, quarter, week, month] = match;
  if (quarter) return `${year}-${pad(3 * Number(quarter) - 2, 2)}-01`;
  if (week) {
    const january4 = Date.UTC(Number(year), 0, 4);
    const monday = new Date(january4 - ((new Date(january4).getUTCDay() + 6) % 7) * DAY * 1000
      + (Number(week) - 1) * 7 * DAY * 1000);
    const [isoYear, isoNumber] = isoWeek(monday);
    return isoYear === Number(year) && isoNumber === Number(week)  // not week 0 or 54
      ? monday.toISOString().slice(0, 10) : text;
  }
  const lower = month.toLowerCase();
  const number = MONTH_NAMES.findIndex((name) => lower === name || lower === name.slice(0, 3));
  return number < 0 ? text : `${year}-${pad(number + 1, 2)}-01`;
}

/** Times (seconds, UTC) as period labels in the style of `like` (the reverse of isoPeriod). */
function periodLabels(seconds, like) {
  const [, year, quarter, week, month] = PERIOD.exec(like);
  const rest = like.slice(year.length);
  const label = rest.replace(/^[ -]+/, '');
  const separator = rest.slice(0, rest.length - label.length);
  const mark = label.slice(0, 1);  // Q or W as the file writes it
  return seconds.map((value) => {
    const date = new Date(value * 1000);
    if (quarter) return `${date.getUTCFullYear()}${separator}${mark}${Math.floor(date.getUTCMonth() / 3) + 1}`;
    if (week) {
      const [isoYear, number] = isoWeek(date);
      return `${isoYear}${separator}${mark}${pad(number, week.length)}`;
    }
    const full = MONTH_NAMES[date.getUTCMonth()];
    const name = month.length === 3 ? full.slice(0, 3) : full;
    const cased = month === month.toUpperCase() ? name.toUpperCase()
      : month === month.toLowerCase() ? name : name[0].toUpperCase() + name.slice(1);
    return `${date.getUTCFullYear()}${separator}${cased}`;
  });
}

function parseTime(text, source) {
  // ISO dates and datetimes as UTC (NumPy's datetime64 has no time zone either); a period
  // label as the date its period starts on.
  const iso = isoPeriod(text).replace(' ', 'T');
  const milliseconds = Date.parse(/T/.test(iso) && !/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? `${iso}Z` : iso);
  if (!Number.isFinite(milliseconds) || /^[+-]?\d+(\.\d*)?$/.test(text)) {
    throw new LstmTfError(`${source}: the model's calendar features need dates in its time column, got '${text}'`);
  }
  return milliseconds / 1000;
}

const daysIn = (year, month) => new Date(Date.UTC(year, month + 1, 1) - DAY * 1000).getUTCDate();

/** The `steps` times (seconds since 1970, UTC) after `seconds`, continuing their spacing. */
export function continueTime(seconds, steps) {
  if (seconds.length < 2) throw new LstmTfError(`cannot continue a time column from ${seconds.length} timestamp(s)`);
  const gaps = seconds.slice(1).map((value, i) => value - seconds[i]).sort((a, b) => a - b);
  const middle = gaps.length >> 1;
  const spacing = gaps.length % 2 ? gaps[middle] : (gaps[middle - 1] + gaps[middle]) / 2;
  if (!(spacing > 0)) throw new LstmTfError('cannot continue a time column that does not increase');
  const last = seconds[seconds.length - 1];
  const months = CALENDAR_MONTHS.find(([low, high]) => low <= spacing / DAY && spacing / DAY <= high)?.[2];
  if (months === undefined) return Array.from({ length: steps }, (_, k) => last + (k + 1) * Math.round(spacing));
  const date = new Date(last * 1000);
  const timeOfDay = last - Math.floor(last / DAY) * DAY;
  const monthEnds = seconds.every((value) => {
    const day = new Date(value * 1000);
    return day.getUTCDate() === daysIn(day.getUTCFullYear(), day.getUTCMonth());
  });
  return Array.from({ length: steps }, (_, k) => {
    const index = date.getUTCFullYear() * 12 + date.getUTCMonth() + months * (k + 1);
    const year = Math.floor(index / 12);
    const month = index - 12 * year;
    const length = daysIn(year, month);
    const day = monthEnds ? length : Math.min(date.getUTCDate(), length);
    return Date.UTC(year, month, day) / 1000 + timeOfDay;
  });
}

/**
 * The `steps` time cells after a time column's text `time` (oldest first), as
 * `lstm-tf predict` writes them (lstm_tf/data/timeaxis.py continue_time, format_time):
 * numbers continue by their median step (integral ones stay integral), dates by the
 * calendar or their fixed spacing, written as the column's last cell is (its precision:
 * `2010-12` gives months; a space for the T; a period label its style: `1990Q4` gives
 * `1991Q1`); else dates at midnight as YYYY-MM-DD, others as YYYY-MM-DDTHH:MM:SS.
 */
export function futureTimes(time, steps, source = 'the CSV') {
  if (time.every((text) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))) {
    const numbers = time.map(Number);
    if (numbers.length < 2) throw new LstmTfError(`cannot continue a time column from ${numbers.length} timestamp(s)`);
    const gaps = numbers.slice(1).map((value, i) => value - numbers[i]).sort((a, b) => a - b);
    const middle = gaps.length >> 1;
    const step = gaps.length % 2 ? gaps[middle] : (gaps[middle - 1] + gaps[middle]) / 2;
    if (!(step > 0)) throw new LstmTfError('cannot continue a time column that does not increase');
    const integral = numbers.every(Number.isInteger) && Number.isInteger(step);
    const last = numbers[numbers.length - 1];
    const values = Array.from({ length: steps }, (_, k) => {
      const value = last + step * (k + 1);
      return integral ? Math.round(value) : value;
    });
    // As Python writes them: all integral without '.0', else each as a float (2.0).
    const whole = values.every(Number.isInteger);
    return values.map((value) => (whole || !Number.isInteger(value) ? String(value) : `${value}.0`));
  }
  const future = continueTime(time.map((text) => parseTime(text, source)), steps);
  const iso = (seconds) => new Date(seconds * 1000).toISOString();
  const like = time[time.length - 1].trim();
  if (isoPeriod(like) !== like) return periodLabels(future, like);
  if (/^\d{4}-\d\d(-\d\d([T ]\d\d(:\d\d(:\d\d)?)?)?)?$/.test(like)) {
    return future.map((seconds) => iso(seconds).slice(0, like.length).replace('T', like.includes(' ') ? ' ' : 'T'));
  }
  const midnight = future.every((seconds) => seconds % DAY === 0);
  return future.map((seconds) => iso(seconds).slice(0, midnight ? 10 : 19));
}

/** The phase in [0, 1) of a time (seconds, UTC) in a calendar cycle (see covariates.py). */
export function calendarPhase(seconds, name) {
  const date = new Date(seconds * 1000);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const intoDay = seconds - Math.floor(seconds / DAY) * DAY;
  switch (name) {
    case 'month': return month / 12;
    case 'dayofweek': return ((date.getUTCDay() + 6) % 7) / 7;
    case 'dayofmonth': return (date.getUTCDate() - 1) / daysIn(year, month);
    case 'dayofyear': {
      const first = Date.UTC(year, 0, 1) / 1000;
      const length = (Date.UTC(year + 1, 0, 1) / 1000 - first) / DAY;
      return Math.floor((seconds - first) / DAY) / length;
    }
    case 'hour': return Math.floor(intoDay / 3600) / 24;
    case 'minute': return (Math.floor(intoDay / 60) % 60) / 60;
    default: throw new LstmTfError(`unknown calendar feature '${name}'`);
  }
}

/**
 * The covariates over the horizon, `meta.covariates.names` per step: calendar features of
 * the continued time column, then each known column's future values (`futureKnown`, one
 * array per known column); a one-line error naming a known column that lacks them.
 */
export function knownRows(meta, time, futureKnown, source = 'the CSV') {
  const { calendar, known } = meta.covariates;
  let future = [];
  if (calendar.length) {
    if (!time) throw new LstmTfError(`${source}: the model computes calendar features from the time column '${meta.time_column}', which the file lacks`);
    future = continueTime(time.map((text) => parseTime(text, source)), meta.horizon);
  }
  known.forEach((name, j) => {
    const count = futureKnown[j].filter((x) => Number.isFinite(x)).length;
    if (count < meta.horizon) {
      throw new LstmTfError(`${source}: known column '${name}' has ${count} of the ${meta.horizon} future value(s) `
        + `the model needs: add ${meta.horizon} row(s) after the last target value, with the target empty and '${name}' filled`);
    }
  });
  return Array.from({ length: meta.horizon }, (_, step) => [
    ...calendar.flatMap((name) => {
      const angle = 2 * Math.PI * calendarPhase(future[step], name);
      return [Math.sin(angle), Math.cos(angle)];
    }),
    ...known.map((_, j) => futureKnown[j][step]),
  ]);
}

// ------------------------------------------------------------------ forecasting

// A model exported with --no-scaling takes and returns z-scores; everything here
// speaks original units, so such a model is wrapped with the scaler from its metadata.
function toModelUnits(meta, row) {
  if (meta.scaling === 'in-graph') return row;
  return row.map((x, j) => (x - meta.scaler.mean[j]) / meta.scaler.std[j]);
}

function fromModelUnits(meta, data) {
  const targets = meta.targets.length;
  const rows = [];
  for (let step = 0; step < meta.horizon; step += 1) {
    const row = [];
    for (let k = 0; k < targets; k += 1) {
      const value = data[step * targets + k];
      row.push(meta.scaling === 'in-graph' ? value : value * meta.scaler.std[k] + meta.scaler.mean[k]);
    }
    rows.push(row);
  }
  return rows;
}

function lastRows(meta, values) {
  if (values.length < meta.window) {
    throw new LstmTfError(`need at least ${meta.window} rows (the model's window), got ${values.length}`);
  }
  return values.slice(values.length - meta.window);
}

/** The window model's input tensor for the last `window` rows of `values`: [1, window, columns]. */
export function windowTensor(ort, meta, values) {
  const rows = lastRows(meta, values);
  const data = Float32Array.from(rows.flatMap((row) => toModelUnits(meta, row)));
  return new ort.Tensor('float32', data, [1, meta.window, meta.columns.length]);
}

/**
 * The `series` input of a panel model that takes it (scaled by series, with a learned
 * series embedding or with series anchors): the index of `name` among the series it was
 * trained on. Null for every other model.
 */
export function seriesTensor(ort, meta, name) {
  if (!meta.inputs || !(SERIES_INPUT in meta.inputs)) return null;
  if (name === null || name === undefined) {
    throw new LstmTfError('this panel model takes the series index (its statistics, its learned vector or its own anchor): give the series (--series NAME)');
  }
  const index = meta.panel.series.indexOf(name);
  if (index < 0) throw new LstmTfError(`series ${JSON.stringify(name)} is not among the ${meta.panel.series.length} series the model was trained on`);
  return new ort.Tensor('int64', BigInt64Array.from([BigInt(index)]), [1]);
}

/** A quantile model's `quantiles` output: horizon x targets x Q, original units (null without). */
function quantilesFromOutputs(meta, outputs) {
  if (!meta.quantiles || !outputs[QUANTILES]) return null;
  const data = outputs[QUANTILES].data;
  const targets = meta.targets.length;
  const count = meta.quantiles.length;
  const rows = [];
  for (let step = 0; step < meta.horizon; step += 1) {
    const row = [];
    for (let k = 0; k < targets; k += 1) {
      const values = [];
      for (let q = 0; q < count; q += 1) {
        const value = data[(step * targets + k) * count + q];
        // q * std + mean keeps the order (std > 0): the quantiles still never cross.
        values.push(meta.scaling === 'in-graph' ? value : value * meta.scaler.std[k] + meta.scaler.mean[k]);
      }
      row.push(values);
    }
    rows.push(row);
  }
  return rows;
}

/** Column names of a quantile model's quantiles, as `lstm-tf predict` writes them: `<target>_q<level>`. */
export function quantileColumns(meta) {
  return (meta.quantiles || []).length
    ? meta.targets.flatMap((target) => meta.quantiles.map((level) => `${target}_q${level}`))
    : [];
}

/**
 * The `known` input of a model with future-known covariates: `known` is horizon rows of
 * `meta.covariates.names` values (calendar features, then the known columns in raw units).
 */
export function knownTensor(ort, meta, known) {
  const names = meta.covariates.names;
  if (!Array.isArray(known) || known.length !== meta.horizon
      || !known.every((row) => Array.isArray(row) && row.length === names.length
        && row.every((x) => typeof x === 'number' && Number.isFinite(x)))) {
    throw new LstmTfError(`the model takes future-known covariates (${names.join(', ')}): `
      + `give ${meta.horizon} rows of ${names.length} numbers`);
  }
  return new ort.Tensor('float32', Float32Array.from(known.flat()), [1, meta.horizon, names.length]);
}

/**
 * The window model's forecast after the last row of `values`: horizon x targets, original
 * units. A panel model that takes the series index needs `series` (its name); a model
 * with future-known covariates needs `known` (see `knownTensor`).
 */
export async function forecastWindow(ort, session, meta, values, series = null, known = null) {
  return (await predictWindow(ort, session, meta, values, series, known)).forecast;
}

async function predictWindow(ort, session, meta, values, series = null, known = null) {
  const feed = { [INPUT]: windowTensor(ort, meta, values) };
  const index = seriesTensor(ort, meta, series);
  if (index !== null) feed[SERIES_INPUT] = index;
  if (meta.covariates) feed[KNOWN_INPUT] = knownTensor(ort, meta, known);
  const outputs = await session.run(feed);
  return { forecast: fromModelUnits(meta, outputs[OUTPUT].data), quantiles: quantilesFromOutputs(meta, outputs) };
}

/**
 * The step model fed the last `window` rows one observation at a time, from zero
 * state: the same forecast as the window model. `onStep(index, forecast)` sees the
 * forecast after every observation (a stream consumer would use these).
 */
export async function forecastStep(ort, session, meta, values, onStep = null) {
  return (await predictStep(ort, session, meta, values, onStep)).forecast;
}

async function predictStep(ort, session, meta, values, onStep = null) {
  const names = stateNames(meta.kind);
  const stateSize = meta.layers * meta.units;
  let states = Object.fromEntries(names.map((name) => [name,
    new ort.Tensor('float32', new Float32Array(stateSize), [meta.layers, 1, meta.units])]));
  let forecast = null;
  let outputs = {};
  const rows = lastRows(meta, values);
  for (let index = 0; index < rows.length; index += 1) {
    const feed = { [STEP_INPUT]: new ort.Tensor('float32', Float32Array.from(toModelUnits(meta, rows[index])),
      [1, meta.columns.length]) };
    for (const name of names) feed[STATE_INPUTS[name]] = states[name];
    outputs = await session.run(feed);
    forecast = fromModelUnits(meta, outputs[OUTPUT].data);
    states = Object.fromEntries(names.map((name) => [name, outputs[STATE_OUTPUTS[name]]]));
    if (onStep) onStep(index, forecast);
  }
  return { forecast, quantiles: quantilesFromOutputs(meta, outputs) };
}

/**
 * The forecast after `values` with whichever model `meta` describes (`series`: a panel
 * model's series name, needed when it takes the series index; `known`: the covariates
 * over the horizon of a model that takes them, as `readCsv` returns them).
 */
export async function forecast(ort, session, meta, values, onStep = null, series = null, known = null) {
  return (await predict(ort, session, meta, values, onStep, series, known)).forecast;
}

/**
 * The forecast and, for a quantile model, its quantiles after `values`:
 * { forecast: horizon x targets, quantiles: horizon x targets x Q or null }, original units.
 */
export function predict(ort, session, meta, values, onStep = null, series = null, known = null) {
  return meta.model === 'step'
    ? predictStep(ort, session, meta, values, onStep)
    : predictWindow(ort, session, meta, values, series, known);
}
