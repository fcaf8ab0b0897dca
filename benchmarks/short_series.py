"""Short single series, the competition protocol: real development series cut to the
lengths M-style data has (48-60 months with h = 18, 24-40 quarters with h = 8, 16-20
years with h = 6), each trained alone with the default command, against naive,
seasonal naive and statsforecast's AutoETS/AutoTheta/AutoARIMA fitted on the rows
before its last h.

    python benchmarks/short_series.py [--out FILE] [-- TRAIN OPTIONS]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import m4_protocol as m4  # noqa: E402

# (group, source case, rows kept, horizon, season, how many series)
GROUPS = [("monthly-48", "us-employment", 48, 18, 12, 8),
          # seasonal: El Nino's sea temperatures and Mauna Loa's co2 (monthly means of the
          # weekly series), 48 months ending in six and four different years
          ("monthly-48-seasonal", "seasonal", 48, 18, 12, 10),
          ("monthly-60", "us-employment", 60, 18, 12, 8),
          ("quarterly-32", "macrodata", 32, 8, 4, 6),
          ("quarterly-24", "macrodata", 24, 8, 4, 6),
          ("yearly-20", "fertility", 20, 6, 1, 8),
          ("yearly-16", "fertility", 16, 6, 1, 8),
          # the shortest a single series trains with (one training window: M1's shortest
          # yearly and quarterly series, 15 and 18 rows, hold one more)
          ("yearly-14", "fertility", 14, 6, 1, 8),
          ("quarterly-18", "macrodata", 18, 8, 4, 6)]


def seasonal_monthly() -> dict:
    """48-month pieces of two seasonal monthly series, each its own case."""
    from lstm_tf.data.sources import load_builtin

    found = {}
    elnino = load_builtin("elnino")
    for end in (1960, 1970, 1980, 1990, 2000, 2010):
        rows = [i for i, t in enumerate(elnino.time) if int(str(t)[:4]) < end]
        found[f"elnino-{end}"] = ([elnino.time[i] for i in rows], elnino.values[rows, 0])
    co2 = load_builtin("co2")
    months = {}
    for t, v in zip(co2.time, co2.values[:, 0]):
        months.setdefault(str(t)[:7], []).append(v)
    keys = sorted(months)
    for end in ("1975", "1985", "1995", "2001"):
        rows = [k for k in keys if k[:4] < end]
        found[f"co2-{end}"] = ([k + "-01" for k in rows],
                               np.array([np.mean(months[k]) for k in rows]))
    return found


def cases(groups=None):
    for group, source, rows, horizon, season, count in GROUPS:
        if groups and group not in groups:
            continue
        data = seasonal_monthly() if source == "seasonal" else m4.load(source)
        for name in list(data)[:count]:
            times, values = data[name]
            yield group, name, (list(times)[-rows:], np.asarray(values)[-rows:]), horizon, season


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--groups", default=None, help="comma-separated group names")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for group, name, (times, values), horizon, season in cases(
                args.groups and args.groups.split(",")):
            case = m4.Case(name, "series", group, horizon, season, False)
            path = scratch / f"{group}-{name}.csv"
            options = m4.write_csv(case, {name: (times, values)}, path) + [
                "--horizon", str(horizon), "--test-size", str(horizon)]
            run = scratch / f"run-{group}-{name}"
            seconds, metrics, error = m4.run_lstm_tf(options, run, extra)
            forecasts = m4.statistical({name: (times, values)}, horizon, season)
            forecasts["naive"] = {name: np.full(horizon, values[-horizon - 1])}
            if not error:
                for label, found in m4.lstm_tf_forecasts(run).items():
                    forecasts[label] = {name: found["_"]}
            scale = m4.mase_scale(values[:-horizon], season)
            mase = {method: float(np.mean(np.abs(f[name] - values[-horizon:]))) / scale
                    for method, f in forecasts.items()}
            row = {"group": group, "series": name, "error": error,
                   "kept": metrics.get("network_kept"), "seconds": round(seconds, 1),
                   "anchor": metrics.get("anchor"), "window": None, "mase": mase}
            if not error:
                row["window"] = json.loads((run / "config.json").read_text())["data"]["window"]
            results.append(row)
            print(group, name, error or "", {k: round(v, 3) for k, v in mase.items()},
                  row["anchor"], row["window"], flush=True)
    methods = ["lstm_tf", "anchor", "naive", *m4.METHODS]
    print("| group | n | " + " | ".join(methods) + " | refused |")
    for group in dict.fromkeys(r["group"] for r in results):
        rows = [r for r in results if r["group"] == group]
        ok = [r for r in rows if not r["error"]]
        cells = [f"{m4.gmean([r['mase'][m] for r in ok]):.3f}" if ok else "-" for m in methods]
        print(f"| {group} | {len(rows)} | " + " | ".join(cells) + f" | {len(rows) - len(ok)} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"train_options": extra, "results": results},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
