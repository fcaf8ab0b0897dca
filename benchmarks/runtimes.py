"""The reference models in every ONNX runtime, and the gate model unrolled against its Loop.

    python benchmarks/runtimes.py [--budget 2] [--windows 64]

Trains the reference El Niño runs with `exported/make_reference.sh`'s options (LSTM and
SimpleRNN, 1 x 32 units, window 24, horizon 12, --anchor none, seed 42: the same weights
as exported/reference/ on CPU) in a temporary folder, exports the window, step and gate
models of the LSTM and the window model of the RNN, and prints, in one run:

- `lstm-tf runtimes MODEL RUN` for each (errors against onnxruntime and Keras, median
  batch-1 and batch-256 latency, one intra-op thread, runtimes timed in interleaved rounds);
- onnxruntime alone: the window model (fused LSTM node), the gate model unrolled over the
  window (`export --gates`) and the gate model with a Loop (`export --gates --loop`),
  median per call at batch 1 and 256, interleaved rounds, with ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, not installed

REFERENCE = ["--dataset", "elnino", "--horizon", "12", "--window", "24", "--anchor", "none",
             "--seed", "42", "-q"]


def cli(*args) -> str:
    from click.testing import CliRunner

    from lstm_tf_cli.main import cli as command

    result = CliRunner().invoke(command, [str(a) for a in args])
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return result.output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=2.0,
                        help="seconds of timed calls per runtime and batch size")
    parser.add_argument("--windows", type=int, default=64)
    args = parser.parse_args()

    from lstm_tf import runtime, runtimes
    from lstm_tf_lab.bench.inference import time_interleaved

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for kind in ("lstm", "rnn"):
            cli("train", "--model", kind, "--out", root / kind, *REFERENCE)
        cli("export", root / "lstm", "--step", "--out", root / "elnino-lstm.onnx")
        cli("export", root / "rnn", "--out", root / "elnino-rnn.onnx")
        cli("export", root / "lstm", "--gates", "--out", root / "elnino-lstm.gates.onnx")
        cli("export", root / "lstm", "--gates", "--loop", "--out",
            root / "elnino-lstm.gates-loop.onnx")
        for name, run in (("elnino-lstm.onnx", "lstm"), ("elnino-lstm.step.onnx", "lstm"),
                          ("elnino-rnn.onnx", "rnn"), ("elnino-lstm.gates.onnx", "lstm")):
            report = runtimes.compare(root / name, root / run, windows=args.windows,
                                      budget=args.budget)
            print(runtimes.table(report), end="\n\n", flush=True)

        model = runtimes.load_model(root / "elnino-lstm.onnx")
        windows = runtimes.synthetic_windows(model.meta, 256, model.meta["window"])
        print("onnxruntime, 1 thread, median per call (interleaved rounds):")
        print("| model | batch 1 | batch 256 |\n| --- | --- | --- |")
        results = {}
        for batch in (1, 256):
            feed = {"window": np.ascontiguousarray(windows[:batch])}
            candidates = {}
            for label, name in (("window model (fused LSTM)", "elnino-lstm.onnx"),
                                ("gate model, unrolled", "elnino-lstm.gates.onnx"),
                                ("gate model, Loop (--loop)", "elnino-lstm.gates-loop.onnx")):
                session = runtime.session(root / name, threads=1)
                candidates[label] = lambda run=session.run: run(None, feed)
            timings = time_interleaved(candidates, budget_seconds=3 * args.budget, rounds=10)
            for label, (median, _) in timings.items():
                results.setdefault(label, {})[batch] = median * 1e6
        for label, by_batch in results.items():
            print(f"| {label} | {by_batch[1]:.0f} µs | {by_batch[256]:.0f} µs |")
        loop, unrolled = results["gate model, Loop (--loop)"], results["gate model, unrolled"]
        fused = results["window model (fused LSTM)"]
        for batch in (1, 256):
            print(f"batch {batch}: Loop / unrolled {loop[batch] / unrolled[batch]:.2f}x, "
                  f"unrolled / fused window model {unrolled[batch] / fused[batch]:.2f}x")


if __name__ == "__main__":
    main()
