"""Accuracy of lstm-tf's defaults against the baselines, by rolling-origin backtests.

For each built-in real dataset and horizon: `lstm-tf train --backtest-windows N` (the
last N forecast origins held out), then `lstm-tf backtest --baselines ets,arima`, for
the default configuration and a few others; prints one table (MAE, MASE, and the
ratio to the best of AutoETS/AutoARIMA) with the training times, and writes the raw
figures as JSON.

    python benchmarks/accuracy.py [--windows 24] [--out benchmarks/accuracy.json]

Needs the `stats` extra (statsforecast). Takes several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [  # dataset, horizon
    ("elnino", 1), ("elnino", 12),
    ("sunspots", 1), ("sunspots", 4),
    ("co2", 1), ("co2", 13),
]
CONFIGS = {
    "default": [],
    "before anchors (z-scores, window 24)": ["--anchor", "none", "--window", "24"],
    "2 x 64 units": ["--layers", "2", "--units", "64"],
}


def lstm_tf(*args: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "lstm_tf_cli", *args], capture_output=True,
                          text=True, env=env)
    if done.returncode:
        raise SystemExit(f"lstm-tf {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=24)
    parser.add_argument("--out", default="benchmarks/accuracy.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for dataset, horizon in CASES:
            for name, options in CONFIGS.items():
                run = Path(scratch) / f"{dataset}-{horizon}-{len(results)}"
                started = time.perf_counter()
                lstm_tf("train", "--dataset", dataset, "--horizon", str(horizon), "-q",
                        "--backtest-windows", str(args.windows), "--out", str(run), *options)
                seconds = time.perf_counter() - started
                baselines = ["--baselines", "ets,arima"] if name == "default" else []
                lstm_tf("backtest", str(run), *baselines)
                metrics = json.loads((run / "backtest" / "metrics.json").read_text())["overall"]
                config = json.loads((run / "config.json").read_text())
                kept = json.loads((run / "metrics.json").read_text()).get("network_kept")
                results.append({"dataset": dataset, "horizon": horizon, "config": name,
                                "window": config["data"]["window"],
                                "anchor": (config.get("anchor") or {}).get("description", "none"),
                                "network_kept": kept, "train_seconds": round(seconds, 1),
                                "metrics": metrics})
                print(json.dumps(results[-1]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


def table(results: list[dict]) -> str:
    lines = ["| dataset | h | method | MAE | MASE | / best of ETS, ARIMA | / naive | train s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for result in results:
        m = result["metrics"]
        if result["config"] == "default":
            stats = [m[k]["mae"] for k in ("ets", "arima") if k in m]
            best = min(stats)
            rows = [(f"LSTM, {result['config']}", m["model"], result["train_seconds"])]
            rows += [(k, m[k], "") for k in ("naive", "seasonal_naive", "ets", "arima") if k in m]
        else:
            rows = [(f"LSTM, {result['config']}", m["model"], result["train_seconds"])]
        for method, scores, seconds in rows:
            lines.append(f"| {result['dataset']} | {result['horizon']} | {method} | "
                         f"{scores['mae']:.4g} | {scores['mase']:.3f} | {scores['mae'] / best:.2f} | "
                         f"{scores['mae'] / m['naive']['mae']:.2f} | {seconds} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
