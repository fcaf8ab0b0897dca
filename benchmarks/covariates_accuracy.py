"""What future-known covariates and a series embedding are worth: test errors side by side.

    python benchmarks/covariates_accuracy.py            # 3 seeds, writes covariates-<date>.json
    python benchmarks/covariates_accuracy.py --seeds 1  # a quick run

Two synthetic data sets where the covariate carries signal the window cannot:
1. one daily series: 10 + 3 on Sundays + 4 on promotion days (drawn at random, 25% of the
   days) + N(0, 0.3); window 5 (shorter than the week), horizon 3. Test MAE of the default
   LSTM without covariates, with the past promotions as a window feature only
   (`--features promo`), with `--calendar dayofweek`, with `--known promo`, with both, and
   with both plus the past promotions (`--features promo --known promo`).
2. a panel of 12 stores (levels 10 to 120), monthly, sales x 1.3 on promotion months,
   noise 5% of the level; window 6, horizon 2, last 4 months of every store as test.
   Mean MASE without covariates, with `--known promo --calendar month`, and with the
   series embedding added (`--series-embedding 3`).
Every variant trains with the same seeds; the table shows the median over seeds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent


def daily_series(path: Path, rows: int = 240, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    days = np.datetime64("2020-01-06") + np.arange(rows)  # a Monday
    weekday = (days.astype(np.int64) + 3) % 7
    promo = (rng.random(rows) < 0.25).astype(int)
    sales = 10 + 3.0 * (weekday == 6) + 4.0 * promo + 0.3 * rng.standard_normal(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "sales", "promo"])
        writer.writerows([str(d), f"{v:.4f}", p] for d, v, p in zip(days, sales, promo))


def store_panel(path: Path, stores: int = 12, months: int = 80, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    stamps = np.datetime64("2000-01") + np.arange(months)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["store", "month", "sales", "promo"])
        for store in range(stores):
            promo = (rng.random(months) < 0.25).astype(int)
            level = 10.0 * (store + 1)
            sales = level * (1 + 0.3 * promo) + 0.05 * level * rng.standard_normal(months)
            writer.writerows([f"s{store:02d}", f"{m}-01", f"{v:.3f}", p]
                             for m, v, p in zip(stamps, sales, promo))


def train_once(data: dict, model: dict, seed: int, out: Path) -> dict:
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from lstm_tf.train import train

    config = RunConfig(DataConfig(dataset=None, **data), ModelConfig(units=16, **model),
                       TrainConfig(epochs=40, seed=seed))
    return train(config, out, force=True, verbose=0, log=lambda line: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=HERE / f"covariates-{date.today().isoformat()}.json")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        daily_series(scratch / "daily.csv")
        store_panel(scratch / "stores.csv")
        single = {"path": str(scratch / "daily.csv"), "targets": ["sales"],
                  "time_column": "date", "window": 5, "horizon": 3}
        panel = {"path": str(scratch / "stores.csv"), "targets": ["sales"],
                 "time_column": "month", "series_column": "store", "window": 6, "horizon": 2,
                 "test_size": 4}
        variants = {
            "daily: none": (single, {}, {}),
            "daily: --features promo (past only)": (single, {"features": ["promo"]}, {}),
            "daily: --calendar dayofweek": (single, {"calendar": ["dayofweek"]}, {}),
            "daily: --known promo": (single, {"known": ["promo"]}, {}),
            "daily: both": (single, {"calendar": ["dayofweek"], "known": ["promo"]}, {}),
            "daily: both + --features promo": (
                single, {"calendar": ["dayofweek"], "known": ["promo"], "features": ["promo"]},
                {}),
            "stores: none": (panel, {}, {}),
            "stores: --known promo --calendar month": (
                panel, {"known": ["promo"], "calendar": ["month"]}, {}),
            "stores: covariates + --series-embedding 3": (
                panel, {"known": ["promo"], "calendar": ["month"]}, {"series_embedding": 3}),
        }
        for name, (data, extra, model) in variants.items():
            errors = []
            for seed in seeds:
                metrics = train_once({**data, **extra}, model, seed, scratch / "run")
                errors.append(metrics["model"]["mase" if "series" in metrics else "mae"])
            results[name] = {"metric": "mean MASE" if name.startswith("stores") else "test MAE",
                             "per_seed": errors, "median": statistics.median(errors)}
            print(f"{name:45s} {results[name]['metric']:9s} median {results[name]['median']:.3f}"
                  f"  (seeds: {', '.join(f'{e:.3f}' for e in errors)})", flush=True)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "seeds": seeds,
                                    "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
