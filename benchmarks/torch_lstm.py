"""Keras (lstm-tf) against PyTorch `nn.LSTM`: training samples per second, side by side.

    pip install -e ".[bench]"            # PyTorch, for this script only
    python benchmarks/torch_lstm.py      # 5 alternating rounds, 2 threads, the reference model
    python benchmarks/torch_lstm.py --rounds 7 --threads 1 --keras-args="--xla"

The PyTorch model is the tutorial's family at the reference size: `nn.LSTM(1, 64,
num_layers=2, batch_first=True)`, its last step, `nn.Linear(64, 1)`; Adam, MSE, batch
64, the same 4096 windows of 48 steps per epoch, reshuffled each epoch, taken from one
pre-cut tensor (so PyTorch pays nothing for its input). Keras is measured by
`lstm-tf bench-train` (lstm_tf/bench_train.py), which trains the same model with the
code `lstm-tf train` uses.

Each round runs Keras and PyTorch in fresh processes, one after the other, with the
same number of threads; a round's figure is the median of its timed epochs (after a
warm-up epoch). The ratio reported is the median over rounds of Keras / PyTorch, so
that both see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure_torch(samples: int = 4096, window: int = 48, batch_size: int = 64, layers: int = 2,
                  units: int = 64, repeats: int = 5, threads: int = 2, seed: int = 0) -> dict:
    """Samples per second of PyTorch training epochs, after one warm-up epoch."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    # The same data as lstm-tf bench-train: a scaled noisy sine cut into windows.
    rng = np.random.default_rng(seed)
    rows = samples + window
    t = np.arange(rows)
    values = np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(rows)
    values = (values - values.mean()) / values.std()
    starts = np.arange(window, rows)
    inputs = torch.tensor(np.stack([values[s - window:s] for s in starts])[:, :, None],
                          dtype=torch.float32)
    targets = torch.tensor(values[starts][:, None], dtype=torch.float32)

    class LSTMModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(1, units, num_layers=layers, batch_first=True)
            self.head = torch.nn.Linear(units, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    model = LSTMModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.MSELoss()

    def epoch():
        order = torch.randperm(samples)
        for first in range(0, samples, batch_size):
            batch = order[first:first + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()

    epoch()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        epoch()
        runs.append(round(samples / (time.perf_counter() - started), 1))
    return {"median": round(statistics.median(runs), 1), "runs": runs,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def _keras_round(args) -> dict:
    command = [sys.executable, "-c", "from lstm_tf_cli.main import cli; cli()", "bench-train",
               "--json", "--threads", str(args.threads), "--repeats", str(args.repeats),
               "--samples", str(args.samples), "--device", "cpu", *args.keras_args.split()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / ".dev"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def _torch_round(args) -> dict:
    command = [sys.executable, __file__, "--torch-only", "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--samples", str(args.samples)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per round")
    parser.add_argument("--samples", type=int, default=4096, help="windows per epoch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keras-args", default="", help="extra `lstm-tf bench-train` options")
    parser.add_argument("--torch-only", action="store_true", help="measure PyTorch once (JSON)")
    parser.add_argument("--json", help="also write all figures to this file")
    args = parser.parse_args()
    if args.torch_only:
        print(json.dumps(measure_torch(samples=args.samples, repeats=args.repeats,
                                       threads=args.threads)))
        return

    rounds = []
    for index in range(args.rounds):
        # Alternate which goes first, so neither always inherits the other's aftermath.
        order = ("keras", "torch") if index % 2 == 0 else ("torch", "keras")
        figures = {"load_before": os.getloadavg()[0]}
        for name in order:
            figures[name] = _keras_round(args) if name == "keras" else _torch_round(args)
        keras_rate = figures["keras"]["training_samples_per_second"]
        torch_rate = figures["torch"]["median"]
        figures["ratio"] = round(keras_rate / torch_rate, 3)
        rounds.append(figures)
        print(f"round {index + 1}: Keras {keras_rate:8,.0f}  PyTorch {torch_rate:8,.0f} "
              f"samples/s  ratio {figures['ratio']:.2f}  (pipeline "
              f"{figures['keras']['pipeline_samples_per_second']:,.0f} samples/s; load "
              f"{figures['load_before']:.1f})", flush=True)

    keras_median = statistics.median(r["keras"]["training_samples_per_second"] for r in rounds)
    torch_median = statistics.median(r["torch"]["median"] for r in rounds)
    pipeline_median = statistics.median(r["keras"]["pipeline_samples_per_second"]
                                        for r in rounds)
    ratio = statistics.median(r["ratio"] for r in rounds)
    first = rounds[0]["keras"]
    print(f"\n| {args.threads} thread(s), medians of {args.rounds} rounds | samples/s |\n"
          f"| --- | ---: |\n"
          f"| Keras (lstm-tf, TF {first['tensorflow']}, steps_per_execution "
          f"{first['config']['steps_per_execution']}, XLA {'on' if first['xla_used'] else 'off'})"
          f" | {keras_median:,.0f} |\n"
          f"| PyTorch {rounds[0]['torch']['torch']} nn.LSTM | {torch_median:,.0f} |\n"
          f"| Keras / PyTorch (median of per-round ratios) | {ratio:.2f} |\n"
          f"| tf.data input pipeline alone | {pipeline_median:,.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rounds, "keras": keras_median,
                                               "torch": torch_median, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
