#!/usr/bin/env node
// Per-call latency of a window model in onnxruntime-node at batch 1, on the last
// window of a CSV. Prints one JSON line of per-call times in microseconds.
// exported/bench.py runs this side by side with Python onnxruntime.
//
//   node exported/node/bench.js MODEL.onnx FILE.csv [--calls 2000] [--warmup 200] [--threads 1]
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

import { INPUT, loadModel, readCsv, windowTensor } from '../lib/lstm_tf.js';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const index = argv.indexOf(name);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
};
const [modelPath, csvPath] = argv.filter((a, i) => !a.startsWith('--') && !(argv[i - 1] || '').startsWith('--'));
const calls = option('--calls', 2000);
const warmup = option('--warmup', 200);
const threads = option('--threads', 1);

const { session, meta } = await loadModel(ort, readFileSync(modelPath), modelPath,
  { intraOpNumThreads: threads, interOpNumThreads: 1 });
const { values } = readCsv(readFileSync(csvPath, 'utf-8'), meta, csvPath);
const feed = { [INPUT]: windowTensor(ort, meta, values) };
for (let i = 0; i < warmup; i += 1) await session.run(feed);
const micros = [];
for (let i = 0; i < calls; i += 1) {
  const start = process.hrtime.bigint();
  await session.run(feed);
  micros.push(Number(process.hrtime.bigint() - start) / 1000);
}
console.log(JSON.stringify({ runtime: `onnxruntime-node ${ort.env.versions?.node ?? ''}`.trim(), calls, micros }));
