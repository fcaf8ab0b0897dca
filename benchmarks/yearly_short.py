"""Short yearly series that `short_series.py` does not hold, anchors alone (as
`anchors_alone.py`: the default split, no network or floor, which is what a series too short
for a validation part forecasts): Grunfeld's 11 firms x 3 variables (investment, value,
capital stock; 20 years, statsmodels), and the Nile's flow and the sunspot numbers cut into
pieces of 20 and 16 years. h = 6, the last 6 years held out; statsforecast's AutoETS,
AutoTheta and AutoARIMA and naive persistence fitted on the rows before.

    python benchmarks/yearly_short.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

import anchors_alone
import m4_protocol as m4

HORIZON = 6


def cases() -> list[tuple[str, str, list[str], np.ndarray]]:
    """(group, name, years, values)."""
    import statsmodels.api as sm

    found = []
    grunfeld = sm.datasets.grunfeld.load_pandas().data
    for firm in grunfeld.firm.unique():
        rows = grunfeld[grunfeld.firm == firm].sort_values("year")
        for column in ("invest", "value", "capital"):
            found.append(("grunfeld", f"{firm}-{column}", [str(int(y)) for y in rows.year],
                          rows[column].to_numpy(float)))
    nile = sm.datasets.nile.load_pandas().data
    sunspots = sm.datasets.sunspots.load_pandas().data
    for length in (20, 16):
        for end in (40, 60, 80, 100):
            part = nile.iloc[end - length:end]
            found.append((f"nile-{length}", f"to {int(part.year.iloc[-1])}",
                          [str(int(y)) for y in part.year], part.volume.to_numpy(float)))
        for end in (100, 160, 220, 280):
            part = sunspots.iloc[end - length:end]
            found.append((f"sunspots-{length}", f"to {int(part.YEAR.iloc[-1])}",
                          [str(int(y)) for y in part.YEAR],
                          part.SUNACTIVITY.to_numpy(float)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="JSON file of every case's figures")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for group, name, years, values in cases():
            mase, anchor, window = anchors_alone.anchor_alone(years, values, HORIZON, 1,
                                                              Path(scratch))
            found = m4.statistical({name: (years, values)}, HORIZON, 1)
            scale = m4.mase_scale(values[:-HORIZON], 1)
            stats = {method: float(np.mean(np.abs(f[name] - values[-HORIZON:]))) / scale
                     for method, f in found.items()}
            stats["naive"] = float(np.mean(np.abs(values[-HORIZON - 1] - values[-HORIZON:])))
            stats["naive"] /= scale
            rows.append({"group": group, "series": name, "anchor_mase": mase,
                         "anchor": anchor, "window": window, **stats})
    methods = ("naive", "ets", "theta", "arima")
    print("| group | n | anchor alone | " + " | ".join(methods) + " | worse than naive |")
    print("| --- " * (len(methods) + 4) + "|")
    for group in [*dict.fromkeys(r["group"] for r in rows), None]:
        found = [r for r in rows if group in (None, r["group"])]
        print(f"| {group or 'all'} | {len(found)} | "
              + " | ".join(f"{anchors_alone.gmean([r[k] for r in found]):.3f}"
                           for k in ("anchor_mase", *methods))
              + f" | {sum(r['anchor_mase'] > r['naive'] for r in found)} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
