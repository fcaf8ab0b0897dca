"""A backtest without refit against one evaluation pass over as many windows.

    python benchmarks/backtest_speed.py                 # trains a small run on `sine`
    python benchmarks/backtest_speed.py RUN --windows 64

`lstm-tf backtest` forecasts every cutoff in one batched prediction (the model, naive
and seasonal naive forecasts: `backtest.point_forecasts`), like `evaluate_model` does
for the test windows. This times both, over the same N windows, side by side in
interleaved rounds (`bench.time_interleaved`), and prints the medians and their ratio;
the target is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="a run directory (default: train a small one)")
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per candidate")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from lstm_tf import backtest, runs
    from lstm_tf_lab.bench.inference import time_interleaved
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.evaluate import evaluate_model, keras_predict

    with tempfile.TemporaryDirectory() as scratch:
        run = args.run
        if run is None:
            from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
            from lstm_tf.train import train

            run = Path(scratch) / "run"
            config = RunConfig(DataConfig(dataset="sine", horizon=6,
                                          backtest_windows=args.windows,
                                          backtest_step=args.step),
                               ModelConfig(units=32), TrainConfig(epochs=2))
            train(config, run, verbose=0, log=lambda line: None)
        config = runs.load_config(run)
        model = runs.load_model(run)
        prepared, _ = evaluation_data(config)
        data = config.data
        starts, step = backtest.plan(len(prepared.series.values), config.split["val_end"],
                                     data.window, data.horizon, args.windows, args.step,
                                     refit=False)
        # evaluate_model over the very same windows
        same = dataclasses.replace(prepared, starts={**prepared.starts, "test": starts})
        predict = keras_predict(model)
        timings = time_interleaved({
            "backtest": lambda: backtest.point_forecasts(predict, prepared, data, starts),
            "evaluate_model": lambda: evaluate_model(model, same, config),
        }, budget_seconds=args.budget, rounds=args.rounds)
    result = {"windows": len(starts), "step": step, "horizon": data.horizon,
              "window": data.window, "units": config.model.units,
              "backtest_ms": timings["backtest"][0] * 1e3,
              "evaluate_model_ms": timings["evaluate_model"][0] * 1e3,
              "backtest_p90_ms": timings["backtest"][1] * 1e3,
              "evaluate_model_p90_ms": timings["evaluate_model"][1] * 1e3}
    result["ratio"] = result["backtest_ms"] / result["evaluate_model_ms"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['windows']} windows (window {data.window}, horizon {data.horizon}, "
              f"{config.model.units} units), medians of {args.rounds} interleaved rounds:")
        print(f"  backtest forecasting  {result['backtest_ms']:8.2f} ms "
              f"(p90 {result['backtest_p90_ms']:.2f})")
        print(f"  evaluate_model        {result['evaluate_model_ms']:8.2f} ms "
              f"(p90 {result['evaluate_model_p90_ms']:.2f})")
        print(f"  ratio backtest / evaluate_model: {result['ratio']:.2f} (target <= 1.5)")
    return 0 if result["ratio"] <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
