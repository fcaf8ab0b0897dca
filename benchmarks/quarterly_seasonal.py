"""Seasonal quarterly single series under the competition protocol (h = 8, season 4).

Every quarterly development series of `m4_protocol.py` and `short_series.py` is statsmodels'
seasonally adjusted macro data; the judging's quarterly series mostly have a season. These
20 are real and seasonal or trending: statsmodels' Danish money-demand data (lrm, lry, lpy,
ibo, ide; 55 quarters and their first 40), German inflation and interest rate
(`interest_inflation`: Dp, R; 107 quarters and the last 48) and the built-in Mauna Loa co2
as quarterly means (48 and 80 quarters to the ends of 1975, 1985, 1995).

    python benchmarks/quarterly_seasonal.py [--anchors | --panel] [--out FILE]

Default: `lstm-tf train --horizon 8 --test-size 8` on each (`m4_protocol.evaluate_case`:
statsforecast's methods fitted on the rows before the held-out block, MASE by the in-sample
seasonal naive). `--anchors`: the anchor alone under the default split
(`anchors_alone.anchor_alone`, seconds, no TensorFlow). Prints each series and the
geometric means; writes the results as JSON with `--out`.

`--panel`: the series that do not overlap (Danish 55 quarters, German 107, co2 by quarter cut
into four pieces of 44) as one panel, the default global model against the same methods per
series (mean MASE, as the panels of `m4_protocol.py`). (pmdarima's quarterly series, Australian
beer and wool production, are R's `fpp2` and `forecast` data, kept for judging: not used.)
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

HORIZON, SEASON = 8, 4


def series() -> dict[str, tuple[list[str], np.ndarray]]:
    """name -> (quarter start dates, values)."""
    import statsmodels.api as sm

    found = {}
    danish = sm.datasets.danish_data.load_pandas().data
    quarters = [str(t)[:10] for t in danish.index]
    for column in ("lrm", "lry", "lpy", "ibo", "ide"):
        values = danish[column].to_numpy(float)
        found[f"danish-{column}"] = (quarters, values)
        found[f"danish-{column}-40"] = (quarters[:40], values[:40])
    german = sm.datasets.interest_inflation.load_pandas().data
    quarters = [f"{int(y)}-{3 * int(q) - 2:02d}-01" for y, q in zip(german.year, german.quarter)]
    for column in ("Dp", "R"):
        values = german[column].to_numpy(float)
        found[f"germany-{column}"] = (quarters, values)
        found[f"germany-{column}-48"] = (quarters[-48:], values[-48:])
    by_quarter = co2_by_quarter()
    for end in (1975, 1985, 1995):
        for length in (48, 80):
            part = by_quarter[by_quarter.index.year <= end].iloc[-length:]
            found[f"co2-quarterly-{end}-{length}"] = ([str(t.date()) for t in part.index],
                                                      part.to_numpy(float))
    return found


def co2_by_quarter():
    """The built-in Mauna Loa co2 (weekly) as quarterly means, a pandas Series by quarter."""
    import pandas as pd

    from lstm_tf.data import load_builtin

    co2 = load_builtin("co2")
    weekly = pd.Series(co2.values[:, 0], index=pd.to_datetime(list(co2.time)))
    return weekly.resample("QS").mean().interpolate()


def panel_series() -> dict[str, tuple[list[str], np.ndarray]]:
    """Non-overlapping seasonal quarterly series (no series' held-out block lies in
    another's rows): name -> (quarter start dates, values)."""
    found = {name: data for name, data in series().items()
             if name.startswith(("danish-", "germany-")) and name[-3:] not in ("-40", "-48")}
    quarters = co2_by_quarter()
    count = len(quarters) // 44  # the last count x 44 quarters, in pieces of 44
    for piece in range(count):
        part = quarters.iloc[len(quarters) - (count - piece) * 44:][:44]
        found[f"co2-{piece}"] = ([str(t.date()) for t in part.index], part.to_numpy(float))
    return found


def gmean(values) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-9)))))


def main(series=series, panel_series=panel_series, horizon: int = HORIZON,
         season: int = SEASON, frequency: str = "quarterly", doc: str = __doc__) -> None:
    """The command line, for these series or (monthly_seasonal.py) others."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--anchors", action="store_true", help="the anchor alone (seconds)")
    parser.add_argument("--panel", action="store_true", help="one panel of the series that "
                        "do not overlap")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    data = panel_series() if args.panel else series()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.panel:
            m4.load = lambda name: data
            case = m4.Case(f"{frequency}-seasonal-panel", "panel", frequency, horizon, season,
                           False)
            result = m4.evaluate_case(case, Path(scratch), [])
            print({k: v for k, v in result.items() if k not in ("mase", "gmean_mase")})
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=1))
            return
        if args.anchors:
            from anchors_alone import anchor_alone

            fitted = m4.statistical(data, horizon, season)
            for name, (times, values) in data.items():
                mase, anchor, _ = anchor_alone(times, values, horizon, season, Path(scratch))
                y, scale = values[-horizon:], m4.mase_scale(values[:-horizon], season)
                scores = {method: float(np.mean(np.abs(fitted[method][name] - y))) / scale
                          for method in m4.METHODS}
                results.append({"case": name, "anchor": anchor,
                                "mean_mase": {"lstm_tf": mase, **scores}})
        else:
            m4.load = lambda name: {name: data[name]}  # the cases are these series
            for name in data:
                case = m4.Case(name, "series", frequency, horizon, season, False)
                results.append(m4.evaluate_case(case, Path(scratch), []))
    for result in results:
        print(result["case"], {k: round(v, 3) for k, v in result["mean_mase"].items()})
    means = {method: gmean([r["mean_mase"][method] for r in results])
             for method in results[0]["mean_mase"]}
    print("geometric-mean MASE", {k: round(v, 3) for k, v in means.items()})
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "gmean": means}, indent=1))


if __name__ == "__main__":
    main()
