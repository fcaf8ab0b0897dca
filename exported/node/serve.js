#!/usr/bin/env node
// Run one ONNX model in onnxruntime-node for a Python caller, one JSON request per line.
// `lstm-tf runtimes` (lstm_tf/runtimes.py) starts this once per model and sends it the
// same inputs it gives every other runtime.
//
//   node exported/node/serve.js MODEL.onnx [--threads 1]
//
// Request:  {"feed": {name: {"dtype": "float32"|"int64", "dims": [...], "data": base64}},
//            "time": seconds}                      (time: optional, see below)
// Response: {"outputs": [{"name", "dtype", "dims", "data": base64}, ...]}   (graph order)
//           or, with "time", {"micros": median per-call microseconds over about that long}
// First line written: {"runtime": "onnxruntime-node 1.30.0", "inputs": [...], "outputs": [...]}.
// Tensors travel as little-endian bytes in base64 (exact, unlike decimal text).
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import ort from 'onnxruntime-node';

const argv = process.argv.slice(2);
const threadsAt = argv.indexOf('--threads');
const threads = threadsAt >= 0 ? Number(argv[threadsAt + 1]) : 1;
const modelPath = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--threads');

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, float64: Float64Array };

function decode({ dtype, dims, data }) {
  const bytes = Buffer.from(data, 'base64');
  const copy = new Uint8Array(bytes).buffer;  // aligned for the typed array
  return new ort.Tensor(dtype, new ARRAYS[dtype](copy), dims);
}

function encode(name, tensor) {
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return { name, dtype: tensor.type, dims: tensor.dims, data: data.toString('base64') };
}

const session = await ort.InferenceSession.create(readFileSync(modelPath), {
  executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
});
const write = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);
write({ runtime: `onnxruntime-node ${ort.env.versions.node}`, inputs: session.inputNames,
  outputs: session.outputNames });

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const request = JSON.parse(line);
    const feed = Object.fromEntries(Object.entries(request.feed).map(([k, v]) => [k, decode(v)]));
    if (request.time) {
      await session.run(feed);  // warm-up
      const micros = [];
      const end = process.hrtime.bigint() + BigInt(Math.round(request.time * 1e9));
      while (micros.length < 3 || process.hrtime.bigint() < end) {
        const start = process.hrtime.bigint();
        await session.run(feed);
        micros.push(Number(process.hrtime.bigint() - start) / 1000);
      }
      micros.sort((a, b) => a - b);
      write({ micros: micros[Math.floor(micros.length / 2)] });
    } else {
      const results = await session.run(feed);
      write({ outputs: session.outputNames.map((name) => encode(name, results[name])) });
    }
  } catch (error) {
    write({ error: String(error.message || error).split('\n')[0] });
  }
}
