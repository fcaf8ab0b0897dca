"""The anchor alone, in seconds: the single series of `m4_protocol.py` and
`short_series.py` split as `lstm-tf train --horizon h --test-size h` splits them (the
default window, validation part and anchor choice: `data.prepare.prepare`), the anchor's
forecast of the held-out block scored in MASE against the statistical methods' figures
of an earlier full run of those benchmarks (read from their JSON files, not fitted
again). No TensorFlow, no network, no floor: a screen for a change to the anchors
(110 cases in about 15 s), to be confirmed by the full benchmarks, where the network
and the floor also decide.

    python benchmarks/anchors_alone.py [--short] [--singles] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import m4_protocol as m4  # noqa: E402
import short_series  # noqa: E402

from lstm_tf.config import DataConfig  # noqa: E402
from lstm_tf.data.prepare import load_data, prepare  # noqa: E402

METHODS = ("seasonal_naive", "ets", "theta", "arima")
# The statistical methods' MASE per case, from full runs on the same rows.
SHORT_STATS = ["short-series-2026-12-07-partial-origins.json"]
SINGLE_STATS = ["m4-protocol-2026-12-06-blend-more-series.json",
                "m4-protocol-2026-12-07-session11-arima-quick.json",
                "m4-protocol-2026-12-07-session11-subdaily.json",
                "m4-protocol-2026-12-07-session11-monthly.json",
                "m4-protocol-2026-12-07-session11-monthly-150.json"]


def anchor_alone(times, values, horizon: int, season: int, scratch: Path):
    """(MASE of the anchor's forecast of the last `horizon` rows, its description,
    the window) under the default split."""
    path = scratch / "series.csv"
    path.write_text("time,value\n" + "".join(f"{t},{float(v)!r}\n"
                                             for t, v in zip(times, values)))
    config = DataConfig(dataset=None, path=str(path), time_column="time", horizon=horizon,
                        test_size=horizon, season=season if season > 1 else None)
    data = load_data(config)  # (with the default window, as `lstm-tf train` chooses it)
    prepared = prepare(data, config)
    forecast = prepared.forecast(None, prepared.starts["test"], config.window, horizon)[-1, :, 0]
    y = np.asarray(values, float)
    return (float(np.mean(np.abs(forecast - y[-horizon:]))
                  / m4.mase_scale(y[:-horizon], season)),
            prepared.anchor.describe(), config.window)


def gmean(values) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-9)))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="short_series.py's cases")
    parser.add_argument("--singles", action="store_true", help="m4_protocol.py's single series")
    parser.add_argument("--out", help="JSON file of every case's figures")
    args = parser.parse_args()
    both = not (args.short or args.singles)
    cases = []  # (group, name, (times, values), horizon, season, stats)
    if args.short or both:
        stats = {(r["group"], r["series"]): r["mase"] for f in SHORT_STATS
                 for r in json.loads((HERE / f).read_text())["results"] if not r["error"]}
        cases += [(group, name, data, h, m, stats[group, name])
                  for group, name, data, h, m in short_series.cases()]
    if args.singles or both:
        stats = {r["case"]: {k: v[0] for k, v in r["mase"].items()} for f in SINGLE_STATS
                 for r in json.loads((HERE / f).read_text())["results"] if not r["error"]}
        for case in m4.CASES:
            if case.kind == "series" and case.name in stats:
                (data,) = m4.load(case.name).values()
                group = "monthly-150" if "-150-" in case.name else case.frequency
                cases.append((group, case.name, data, case.horizon, case.season,
                              stats[case.name]))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for group, name, (times, values), horizon, season, stats in cases:
            mase, anchor, window = anchor_alone(times, values, horizon, season, Path(scratch))
            rows.append({"group": group, "series": name, "anchor_mase": mase,
                         "anchor": anchor, "window": window,
                         **{k: stats[k] for k in (*METHODS, "naive")}})
    print("| group | n | anchor alone | naive | " + " | ".join(METHODS)
          + " | anchor / best method |")
    print("| --- " * (len(METHODS) + 5) + "|")
    for group in dict.fromkeys(r["group"] for r in rows):
        found = [r for r in rows if r["group"] == group]
        means = {k: gmean([r[k] for r in found]) for k in ("anchor_mase", "naive", *METHODS)}
        best = min(means[k] for k in METHODS)
        print(f"| {group} | {len(found)} | " + " | ".join(
            f"{means[k]:.3f}" for k in ("anchor_mase", "naive", *METHODS))
            + f" | {means['anchor_mase'] / best:.3f} |")
    print(f"all {len(rows)}: geometric-mean MASE of the anchor alone "
          f"{gmean([r['anchor_mase'] for r in rows]):.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
