"""Per-call latency at batch 1: onnxruntime-node against Python onnxruntime, side by side.

    python exported/bench.py [MODEL.onnx FILE.csv] [--rounds 5] [--calls 2000]

Defaults to the reference model and its CSV. Both runtimes get the same last
window, one intra-op thread, a warm-up, then `calls` timed calls; rounds alternate
Python and Node so that load from other processes hits both alike. Prints the
median per-call latency of each and their ratio (Node / Python).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from lstm_tf import contract  # noqa: E402
from lstm_tf.data import read_csv  # noqa: E402


def python_round(session, window: np.ndarray, calls: int, warmup: int) -> list[float]:
    feed = {contract.INPUT: window}
    for _ in range(warmup):
        session.run([contract.OUTPUT], feed)
    micros = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        session.run([contract.OUTPUT], feed)
        micros.append((time.perf_counter_ns() - start) / 1000)
    return micros


def node_round(model: Path, csv: Path, calls: int, warmup: int) -> tuple[str, list[float]]:
    out = subprocess.run(["node", str(HERE / "node" / "bench.js"), str(model), str(csv),
                          "--calls", str(calls), "--warmup", str(warmup), "--threads", "1"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return result["runtime"], result["micros"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=HERE / "reference" / "elnino-lstm.onnx", type=Path)
    parser.add_argument("csv", nargs="?", default=HERE / "reference" / "elnino-tail.csv", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    meta = contract.parse_metadata(
        session.get_modelmeta().custom_metadata_map.get(contract.METADATA_KEY), str(args.model))
    series = read_csv(args.csv, meta["targets"], meta["columns"][len(meta["targets"]):])
    window = series.values[-meta["window"]:][None].astype(np.float32)

    python_times, node_times, node_runtime = [], [], ""
    for _ in range(args.rounds):
        python_times += python_round(session, window, args.calls, args.warmup)
        node_runtime, micros = node_round(args.model, args.csv, args.calls, args.warmup)
        node_times += micros
    python_median = statistics.median(python_times)
    node_median = statistics.median(node_times)
    print(f"model {args.model.name} ({meta['kind']} {meta['layers']} x {meta['units']}, window "
          f"{meta['window']}, horizon {meta['horizon']}), batch 1, 1 thread, "
          f"{args.rounds} alternating rounds x {args.calls} calls")
    print(f"python onnxruntime {ort.__version__}: median {python_median:.1f} us per call "
          f"(p90 {np.percentile(python_times, 90):.1f})")
    print(f"{node_runtime}: median {node_median:.1f} us per call "
          f"(p90 {np.percentile(node_times, 90):.1f})")
    print(f"node / python: {node_median / python_median:.2f}x")


if __name__ == "__main__":
    main()
