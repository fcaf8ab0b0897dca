"""The mean of a panel's window-scaled and series-scaled runs: what validation and the
held-out block say of it, from runs trained once (a measurement for a possible default:
one graph holding both scalings).

    python benchmarks/m4_protocol.py --only CASE --keep-runs WINDOW -- --scaling window
    python benchmarks/m4_protocol.py --only CASE --keep-runs SERIES -- --scaling series --anchor auto
    python benchmarks/scaling_average.py WINDOW SERIES [--out FILE]

For every case with a run in both directories this prints the validation MAE (a panel's
series in MASE units, as the floor and `train._challenge` see them) and the held-out mean
MASE (the benchmark's) of each run's forecast and of their mean.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import m4_protocol  # noqa: E402  (the cases, their data and MASE)


def forecasts(run: Path) -> tuple[dict, object]:
    """{"val", "test"}: the run's forecasts [windows, horizon] in raw units, and its data."""
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.train import keras_predict

    config = runs.load_config(run)
    predict = keras_predict(runs.load_model(run))
    prepared, _ = evaluation_data(config, None)
    d = config.data
    return ({part: prepared.forecast(predict, prepared.starts[part], d.window, d.horizon)[..., 0]
             for part in ("val", "test")}, prepared, config)


def study(window_run: Path, series_run: Path, case: m4_protocol.Case) -> dict:
    (w, prepared, config), (s, other, _) = forecasts(window_run), forecasts(series_run)
    for part in ("val", "test"):
        assert np.array_equal(prepared.starts[part], other.starts[part]), part
    d = config.data
    val = prepared.starts["val"]
    scale = prepared.error_scale(val)[:, None]
    actual = prepared.actual(val, d.window, d.horizon)[..., 0]
    series = m4_protocol.load(case.name)
    names = config.panel["series"]
    of = prepared.series_of["test"]
    result = {"case": case.name, "validation": {}, "held_out": {}}
    for label, f in (("window", w), ("series", s), ("mean", {p: (w[p] + s[p]) / 2 for p in w})):
        result["validation"][label] = float(np.mean(np.abs(f["val"] - actual) / scale))
        found = {names[i]: f["test"][k] for k, i in enumerate(of)}
        result["held_out"][label] = m4_protocol.held_out_mase(found, series, case)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("window", help="--keep-runs directory of the window-scaled runs")
    parser.add_argument("series", help="--keep-runs directory of the series-scaled runs")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args()
    results = []
    for case in m4_protocol.CASES:
        runs = [Path(folder) / f"run-{case.name}" for folder in (args.window, args.series)]
        if not all((run / "metrics.json").exists() for run in runs):
            continue
        r = study(*runs, case)
        results.append(r)
        print(case.name, "  ".join(f"{label}: validation {r['validation'][label]:.4f}, "
                                   f"held-out {r['held_out'][label]:.3f}"
                                   for label in r["validation"]))
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
