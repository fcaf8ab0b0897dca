"""Probabilistic forecasts on the built-in data: the 80% interval of `lstm-tf train
--quantiles 0.1,0.9` against the seasonal-naive empirical-residual intervals.

For each dataset, horizon and seed: train (default configuration plus --quantiles),
read the test part's figures from metrics.json (coverage and mean width of the 80%
interval, mean scaled pinball loss, GluonTS' weighted quantile loss, the median's
MAE), and time `lstm-tf export` (parity checks included) of the first seed's run.
Prints one table (each seed, then the median over seeds) and writes the raw figures.

    python benchmarks/quantiles.py [--seeds 42,1,2] [--no-calibrate] [--out benchmarks/quantiles.json]

(`--no-calibrate`: the quantiles as trained, without the validation-part calibration.)

Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from accuracy import lstm_tf  # the CLI in a child process (benchmarks/accuracy.py)

CASES = [("elnino", 1), ("elnino", 12), ("sunspots", 1), ("sunspots", 4)]  # dataset, horizon
LEVELS = "0.1,0.9"


def figures(metrics: dict) -> dict:
    block = metrics["quantiles"]
    model = block["model"]
    reference_name = next(key for key in block if key.endswith("_intervals"))
    reference = block[reference_name]
    return {
        "coverage_80": model["intervals"]["80%"]["coverage"],
        "width_80": model["intervals"]["80%"]["mean_width"],
        "scaled_pinball": model["mean_scaled_pinball"],
        "weighted_quantile_loss": model["weighted_quantile_loss"],
        "reference": reference_name,
        "reference_coverage_80": reference["intervals"]["80%"]["coverage"],
        "reference_width_80": reference["intervals"]["80%"]["mean_width"],
        "reference_scaled_pinball": reference["mean_scaled_pinball"],
        "reference_weighted_quantile_loss": reference["weighted_quantile_loss"],
        "median_mae": metrics["model"]["mae"],
        "network_kept": metrics["network_kept"],
        "train_seconds": metrics["train_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--out", default="benchmarks/quantiles.json")
    parser.add_argument("--no-calibrate", action="store_true")
    args = parser.parse_args()
    extra = ["--no-calibrate"] if args.no_calibrate else []
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for dataset, horizon in CASES:
            for seed in seeds:
                run = Path(scratch) / f"{dataset}-{horizon}-{seed}"
                lstm_tf("train", "--dataset", dataset, "--horizon", str(horizon), "-q",
                        "--quantiles", LEVELS, "--seed", str(seed), "--out", str(run), *extra)
                row = {"dataset": dataset, "horizon": horizon, "seed": seed,
                       **figures(json.loads((run / "metrics.json").read_text()))}
                if seed == seeds[0]:
                    started = time.perf_counter()
                    lstm_tf("export", str(run), "--onnx", "--out", str(run) + ".onnx")
                    row["export_seconds"] = round(time.perf_counter() - started, 1)
                    parity = json.loads(Path(str(run) + ".parity.json").read_text())["window"]
                    row["parity_x_std"] = parity["max_relative_error"]
                results.append(row)
                print(json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print("| dataset | h | seed | 80% coverage | width | scaled pinball | wQL | reference "
          "coverage | width | scaled pinball | wQL | median MAE |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dataset, horizon in CASES:
        rows = [r for r in results if (r["dataset"], r["horizon"]) == (dataset, horizon)]
        for label, picked in [(str(r["seed"]), [r]) for r in rows] + [("median", rows)]:
            value = {key: statistics.median(r[key] for r in picked) for key in (
                "coverage_80", "width_80", "scaled_pinball", "weighted_quantile_loss",
                "reference_coverage_80", "reference_width_80", "reference_scaled_pinball",
                "reference_weighted_quantile_loss", "median_mae")}
            print(f"| {dataset} | {horizon} | {label} | {100 * value['coverage_80']:.1f}% | "
                  f"{value['width_80']:.4g} | {value['scaled_pinball']:.4f} | "
                  f"{value['weighted_quantile_loss']:.4f} | "
                  f"{100 * value['reference_coverage_80']:.1f}% | "
                  f"{value['reference_width_80']:.4g} | {value['reference_scaled_pinball']:.4f} | "
                  f"{value['reference_weighted_quantile_loss']:.4f} | {value['median_mae']:.4g} |")
    for row in results:
        if "export_seconds" in row:
            print(f"export {row['dataset']} h={row['horizon']}: {row['export_seconds']} s, parity "
                  f"{row['parity_x_std']:.2g} x std")


if __name__ == "__main__":
    main()
