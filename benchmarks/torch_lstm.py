"""Keras (lstm-tf) against PyTorch `nn.LSTM`: training samples per second, side by side.

    pip install -e ".[bench]"            # PyTorch, for this script only
    python benchmarks/torch_lstm.py      # 5 alternating rounds, the reference model
    python benchmarks/torch_lstm.py --rounds 7 \
        --keras-args="" --keras-args="--threads 2" --keras-args="--xla --no-unroll"

The PyTorch model is the tutorial's family at the reference size: `nn.LSTM(1, 64,
num_layers=2, batch_first=True)`, its last step, `nn.Linear(64, 1)`; Adam, MSE, batch
64, the same 4096 windows of 48 steps per epoch, reshuffled each epoch, taken from one
pre-cut tensor (so PyTorch pays nothing for its input). Keras is measured by
`lstm-tf bench-train` (lab/bench/training.py), which trains the same model with the
code `lstm-tf train` uses.

Each round runs Keras and PyTorch in fresh processes, one after the other, each with
the whole machine: PyTorch with `--threads` threads (default 2, this machine's
cores), Keras with the thread settings `lstm-tf train` uses there. A round's figure
is the median of its timed epochs (after a warm-up epoch). The ratio reported is the
median over rounds of Keras / PyTorch (each round's own ratio), so that both see the
same load on a shared machine.
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


def _keras_round(args, extra: str) -> dict:
    # Keras gets the machine as `lstm-tf train` uses it (its own thread defaults).
    command = [sys.executable, "-c", "from lstm_tf_cli.main import cli; cli()", "bench-train",
               "--json", "--repeats", str(args.repeats),
               "--samples", str(args.samples), "--device", "cpu", *extra.split()]
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
    parser.add_argument("--keras-args", action="append", default=None,
                        help="`lstm-tf bench-train` options of one Keras setting; repeat the "
                        "option to compare settings (default: one setting, the defaults)")
    parser.add_argument("--torch-only", action="store_true", help="measure PyTorch once (JSON)")
    parser.add_argument("--json", help="also write all figures to this file")
    args = parser.parse_args()
    if args.torch_only:
        print(json.dumps(measure_torch(samples=args.samples, repeats=args.repeats,
                                       threads=args.threads)))
        return
    settings = args.keras_args or [""]

    rounds = []
    for index in range(args.rounds):
        # Alternate who goes first, so that no one always inherits the other's aftermath.
        names = ["torch", *settings]
        order = names if index % 2 == 0 else names[::-1]
        figures = {"load_before": os.getloadavg()[0], "keras": {}}
        for name in order:
            if name == "torch":
                figures["torch"] = _torch_round(args)
            else:
                figures["keras"][name] = _keras_round(args, name)
        torch_rate = figures["torch"]["median"]
        figures["ratio"] = {name: round(result["training_samples_per_second"] / torch_rate, 3)
                            for name, result in figures["keras"].items()}
        rounds.append(figures)
        line = "  ".join(f"Keras[{name or 'defaults'}] "
                         f"{figures['keras'][name]['training_samples_per_second']:,.0f} "
                         f"({figures['ratio'][name]:.2f}x)" for name in settings)
        print(f"round {index + 1} (load {figures['load_before']:.1f}): PyTorch "
              f"{torch_rate:,.0f} samples/s  {line}", flush=True)

    median = statistics.median
    torch_median = median(r["torch"]["median"] for r in rounds)
    print(f"\nPyTorch on {args.threads} thread(s); medians of {args.rounds} alternating rounds of "
          f"{args.repeats} epochs x {args.samples} samples; PyTorch "
          f"{rounds[0]['torch']['torch']}, TensorFlow {rounds[0]['keras'][settings[0]]['tensorflow']}"
          f"\n\n| setting | training samples/s | Keras / PyTorch | input pipeline samples/s |"
          f"\n| --- | ---: | ---: | ---: |"
          f"\n| PyTorch nn.LSTM | {torch_median:,.0f} | 1.00 | (pre-cut tensor) |")
    summary = {}
    for name in settings:
        rate = median(r["keras"][name]["training_samples_per_second"] for r in rounds)
        ratio = median(r["ratio"][name] for r in rounds)
        pipeline = median(r["keras"][name]["pipeline_samples_per_second"] for r in rounds)
        first = rounds[0]["keras"][name]
        label = (f"Keras, {name or 'defaults'} (spe {first['config']['steps_per_execution']}, "
                 f"{'unrolled' if first['config']['unroll'] else 'rolled'}, "
                 f"{first['threads']} intra-op thread(s), "
                 f"XLA {'on' if first['xla_used'] else 'off'})")
        print(f"| {label} | {rate:,.0f} | {ratio:.2f} | {pipeline:,.0f} |")
        summary[name] = {"keras": rate, "ratio": ratio, "pipeline": pipeline}
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rounds, "torch": torch_median,
                                               "settings": summary}, indent=2))


if __name__ == "__main__":
    main()
