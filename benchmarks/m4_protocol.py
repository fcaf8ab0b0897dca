"""The competition protocol on development data: lstm-tf's defaults against statsforecast.

Every series' last h points are held out (h = 18 monthly, 8 quarterly, 6 yearly, 13
weekly, 48 hourly/half-hourly). lstm-tf runs through its CLI with its defaults:

    lstm-tf train --data F.csv --time-column T [--series-column series] --horizon h --test-size h

and its forecast of the held-out block is read from the run (the test window of every
series: the model saw none of its rows). SeasonalNaive, AutoETS, AutoTheta and
AutoARIMA (statsforecast, season m) are fitted on the rows before it, and "median" is
their median ensemble. MASE divides each series' MAE by the in-sample MAE of its
seasonal naive forecast (season m; naive when m = 1) over all rows before the held-out
block, as M4 does.

Development data only (never R datasets or the Monash/M1 archives): lstm-tf's built-in
series and panel, statsmodels' datasets (nile, macrodata, fertility, grunfeld), the
synthetic panel generator and vega_datasets' local files (the `bench` extra: the stocks
panel and, `--subdaily`, real hourly and weekly series).

    python benchmarks/m4_protocol.py [--quick | --subdaily | --monthly] [--only NAME,...] [--out FILE]
                                     [--keep-runs DIR]
                                     [--stats-from FILE] [-- TRAIN OPTIONS]
    python benchmarks/m4_protocol.py --compare BEFORE.json AFTER.json [AFTER2.json ...]

Options after `--` are passed to every `lstm-tf train` (to measure a change against the
defaults). Writes benchmarks/m4-protocol-<date>[-quick].json and prints a table.
`--stats-from` an earlier result file takes the statistical methods' (and naive's and
the median's) per-series MASE of each case from there instead of fitting them again:
the same data and deterministic fits give the same figures, and on a shared 2-core
machine AutoARIMA on 150 seasonal series takes longer than training lstm-tf on them.
Needs the `stats` extra (statsforecast) and statsmodels.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("seasonal_naive", "ets", "theta", "arima")


@dataclass
class Case:
    name: str
    kind: str  # series | panel
    frequency: str
    horizon: int
    season: int  # 1: none
    quick: bool


# The hourly cases' held-out blocks end at these days of 2010 (a day's last hour);
# the weekly cases' at the last week of these years.
SUBDAILY_CUTS = {"mar": "2010-03-31", "jun": "2010-06-30", "sep": "2010-09-15",
                 "dec": "2010-12-31"}
WEEKLY_CUTS = (1989, 1994, 1999)
HOURLY_HISTORY, WEEKLY_HISTORY, MONTHLY_HISTORY = 2016, 1040, 240
EMPLOYMENT_SECTORS = ("construction", "retail_trade", "leisure_and_hospitality",
                      "education_and_health_services", "government", "manufacturing")
MONTHLY_CUTS = (1985, 1993, 2001)

CASES = [
    Case("elnino", "series", "monthly", 18, 12, True),
    Case("co2-weekly-last520", "series", "weekly", 13, 52, False),
    Case("sunspots", "series", "yearly", 6, 1, True),
    Case("nile", "series", "yearly", 6, 1, True),
    Case("realgdp", "series", "quarterly", 8, 4, True),
    Case("cpi", "series", "quarterly", 8, 4, False),
    Case("unemp", "series", "quarterly", 8, 4, True),
    Case("m1", "series", "quarterly", 8, 4, False),
    Case("synthetic-hourly", "series", "hourly", 48, 24, False),
    Case("us-employment", "panel", "monthly", 18, 12, True),
    Case("macrodata", "panel", "quarterly", 8, 4, True),
    Case("fertility", "panel", "yearly", 6, 1, True),
    Case("synthetic-monthly-150", "panel", "monthly", 18, 12, False),
    # ~180 short yearly series (14-47 rows) as the issue's yearly panel: most are shorter
    # than a monthly window, and a global model must learn from them all
    Case("synthetic-yearly-181", "panel", "yearly", 6, 1, False),
    # Real sub-daily and weekly series (issue 25's judging has both; `--only` them with
    # --subdaily): hourly temperatures of 2010 (vega_datasets' local files; one DST hour
    # interpolated), 2,016 hours (12 weeks) of history before 48 held out, cut at four
    # dates each, so one odd block does not decide; one full year to time a long series;
    # weekly co2 (statsmodels' Mauna Loa, the built-in `co2`), 1,040 weeks (20 years)
    # before 13 held out, cut at three years' ends.
    # Two small real panels first measured in the ninth session, after the defaults they
    # check were set: five stocks' monthly closing prices of 2000-10 (vega_datasets; GOOG
    # from 2004) and Grunfeld's investment of 11 US firms, 1935-54 (statsmodels).
    Case("stocks", "panel", "monthly", 18, 12, False),
    Case("grunfeld", "panel", "yearly", 6, 1, False),
    # fertility's 192 series cut to their last 20 years: a panel of short yearly series
    # none of which holds a validation part (14 rows before the held-out 6)
    Case("fertility-last20", "panel", "yearly", 6, 1, False),
    # weekly and hourly panels (judging has both): Seattle's four daily weather columns as
    # weekly series of 2012-15, and Seattle's and San Francisco's hourly temperatures of
    # the 12 weeks up to 2010-12-31 (the same held-out block for both series)
    Case("weekly-weather-panel", "panel", "weekly", 13, 52, False),
    Case("hourly-temperatures-panel", "panel", "hourly", 48, 24, False),
    *[Case(f"{city}-hourly-{month}", "series", "hourly", 48, 24, False)
      for city in ("seattle", "sf") for month in SUBDAILY_CUTS],
    Case("seattle-hourly-year", "series", "hourly", 48, 24, False),
    *[Case(f"co2-weekly-{year}", "series", "weekly", 13, 52, False) for year in WEEKLY_CUTS],
    # Short noisy weekly series, as most of M4's weekly ones: Seattle's daily weather of
    # 2012-15 (vega_datasets) as weekly means (temp_max, wind) and sums (precipitation),
    # 156 and 208 weeks ending at the last full week of 2014 and of 2015.
    *[Case(f"seattle-{column}-weekly-{year}", "series", "weekly", 13, 52, False)
      for column in ("temp_max", "precipitation", "wind") for year in (2014, 2015)],
    # Single monthly series with a season (most of the judging's monthly series have one;
    # elnino was the only monthly single): six sectors of the US employment panel alone
    # (120 months, not seasonally adjusted), and statsmodels' Mauna Loa co2 as monthly
    # means, 240 months before the 18 held out, cut at three years' ends.
    *[Case(f"employment-{sector}", "series", "monthly", 18, 12, False)
      for sector in EMPLOYMENT_SECTORS],
    *[Case(f"co2-monthly-{year}", "series", "monthly", 18, 12, False) for year in MONTHLY_CUTS],
    # M-style lengths (150 months: a validation part of 20 rows, 3 windows of 18 that
    # overlap): co2 by month and El Nino, each cut at three years' ends
    *[Case(f"{name}-150-{year}", "series", "monthly", 18, 12, False)
      for name in ("co2-monthly", "elnino") for year in MONTHLY_CUTS],
]
MONTHLY = [c.name for c in CASES if c.name.startswith(("employment-", "co2-monthly-", "elnino-"))]
SUBDAILY = [c.name for c in CASES if c.kind == "series" and (
    c.frequency == "hourly" and "synthetic" not in c.name
    or c.name.startswith("co2-weekly-") and c.name != "co2-weekly-last520"
    or c.name.startswith("seattle-") and c.frequency == "weekly")]


# ------------------------------------------------------------------------- data


def load(name: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """name -> {series name: (times, values)}; a single series has one entry."""
    import statsmodels.api as sm

    from lstm_tf.data.sources import load_builtin, load_builtin_panel, synthetic_panel

    def from_panel(panel):
        return {n: ([str(t)[:19] for t in panel.time[panel.rows_of(i)]],
                    panel.values[panel.rows_of(i), 0]) for i, n in enumerate(panel.names)}

    if "-150-" in name:  # the last 150 months up to the end of a year
        times, values = next(iter(load(name.replace("-150-", "-") if name.startswith("co2")
                                       else "elnino").values()))
        end = max(i for i, t in enumerate(times) if str(t)[:4] == name[-4:]) + 1
        return {name: (list(times)[end - 150:end], np.asarray(values)[end - 150:end])}
    if name in ("elnino", "sunspots"):
        series = load_builtin(name)
        return {name: (list(series.time), series.values[:, 0])}
    if "-hourly-" in name and not name.startswith("synthetic"):
        return {name: hourly_temperatures(name)}
    if name.startswith("seattle-") and "-weekly-" in name:
        return {name: weekly_weather(name)}
    if name.startswith("co2-weekly-") and name != "co2-weekly-last520":
        series = load_builtin("co2")
        year = int(name.rsplit("-", 1)[1])
        end = max(i for i, t in enumerate(series.time) if str(t)[:4] == str(year)) + 1
        start = end - WEEKLY_HISTORY - 13
        return {name: (list(series.time)[start:end], series.values[start:end, 0])}
    if name.startswith("employment-"):
        return {name: from_panel(load_builtin_panel("us-employment"))[name.split("-", 1)[1]]}
    if name.startswith("co2-monthly-"):
        import pandas as pd

        series = load_builtin("co2")
        weekly = pd.Series(series.values[:, 0], index=pd.to_datetime(list(series.time)))
        monthly = weekly.resample("MS").mean().interpolate()
        monthly = monthly[monthly.index.year <= int(name.rsplit("-", 1)[1])]
        monthly = monthly.iloc[-MONTHLY_HISTORY - 18:]
        return {name: ([str(t.date()) for t in monthly.index], monthly.to_numpy(float))}
    if name == "co2-weekly-last520":
        series = load_builtin("co2")
        return {name: (list(series.time)[-520:], series.values[-520:, 0])}
    if name == "nile":
        data = sm.datasets.nile.load_pandas().data
        return {name: ([str(int(y)) for y in data["year"]], data["volume"].to_numpy(float))}
    macro = sm.datasets.macrodata.load_pandas().data
    quarters = [f"{int(y)}-{3 * int(q) - 2:02d}-01" for y, q in zip(macro["year"],
                                                                     macro["quarter"])]
    if name in ("realgdp", "cpi", "unemp", "m1"):
        return {name: (quarters, macro[name].to_numpy(float))}
    if name == "macrodata":
        columns = [c for c in macro.columns if c not in ("year", "quarter")]
        return {c: (quarters, macro[c].to_numpy(float)) for c in columns}
    if name == "fertility":
        data = sm.datasets.fertility.load_pandas().data
        years = [c for c in data.columns if c.isdigit() and data[c].notna().any()]
        data = data.dropna(subset=years)
        return {code: (years, values) for code, values in
                zip(data["Country Code"], data[years].to_numpy(float))}
    if name == "weekly-weather-panel":
        return {column: weekly_weather(f"seattle-{column}-weekly-2015")
                for column in ("temp_max", "temp_min", "precipitation", "wind")}
    if name == "hourly-temperatures-panel":
        return {city: hourly_temperatures(f"{city}-hourly-dec") for city in ("seattle", "sf")}
    if name == "fertility-last20":
        return {code: (years[-20:], values[-20:]) for code, (years, values)
                in load("fertility").items()}
    if name == "us-employment":
        return from_panel(load_builtin_panel("us-employment"))
    if name == "stocks":
        from vega_datasets import local_data

        prices = local_data.stocks()
        return {symbol: ([str(t.date()) for t in rows["date"]], rows["price"].to_numpy(float))
                for symbol, rows in prices.groupby("symbol")}
    if name == "grunfeld":
        data = sm.datasets.grunfeld.load_pandas().data
        return {firm: ([str(int(y)) for y in rows["year"]], rows["invest"].to_numpy(float))
                for firm, rows in data.groupby("firm", sort=False)}
    if name == "synthetic-monthly-150":
        return from_panel(synthetic_panel(150, 240, seed=7, periods=(12,)))
    if name == "synthetic-yearly-181":
        found = from_panel(synthetic_panel(181, 47, seed=7, periods=(1000,), min_length=14,
                                           frequency=None))
        return {n: ([str(int(float(t))) for t in times], values)  # step numbers: 0, 1, ...
                for n, (times, values) in found.items()}
    if name == "synthetic-hourly":
        return from_panel(synthetic_panel(1, 24 * 60, seed=3, periods=(24,), frequency="hour"))
    raise KeyError(name)


def hourly_temperatures(name: str) -> tuple[list[str], np.ndarray]:
    """A cut of vega_datasets' hourly temperatures of 2010 (`seattle-hourly-jun`: the 2,016
    hours before the last 48 up to 2010-06-30 23:00; `...-year`: all 8,760 hours)."""
    import pandas as pd
    from vega_datasets import local_data

    city, _, cut = name.split("-")
    frame = getattr(local_data, f"{city}_temps")().set_index("date")["temp"]
    # (a regular hourly grid: the spring DST change left one hour out)
    frame = frame.reindex(pd.date_range("2010-01-01", "2010-12-31 23:00", freq="h"))
    frame = frame.interpolate()
    if cut == "year":
        chosen = frame
    else:
        end = frame.index.get_loc(pd.Timestamp(SUBDAILY_CUTS[cut]) + pd.Timedelta(hours=23)) + 1
        chosen = frame.iloc[end - HOURLY_HISTORY - 48:end]
    return [str(t) for t in chosen.index], chosen.to_numpy(float)


def weekly_weather(name: str) -> tuple[list[str], np.ndarray]:
    """`seattle-<column>-weekly-<year>`: vega_datasets' Seattle daily weather of 2012-15
    by week (Monday to Sunday; precipitation summed, the others averaged), the full weeks
    from 2012-01-02 to the last of `year`."""
    from vega_datasets import local_data

    _, column, _, year = name.split("-")
    daily = local_data.seattle_weather().set_index("date")[column]
    weekly = daily.resample("W-SUN").agg("sum" if column == "precipitation" else "mean")
    weekly = weekly[(weekly.index >= "2012-01-08") & (weekly.index <= f"{year}-12-31")]
    return [str(t.date()) for t in weekly.index], weekly.to_numpy(float)


def write_csv(case: Case, data: dict, path: Path) -> list[str]:
    """The CSV lstm-tf trains on (long for a panel); returns its train options."""
    lines = ["series,time,value" if case.kind == "panel" else "time,value"]
    for name, (times, values) in data.items():
        for t, v in zip(times, values):
            lines.append((f"{name}," if case.kind == "panel" else "") + f"{t},{v:.10g}")
    path.write_text("\n".join(lines) + "\n")
    options = ["--data", str(path), "--time-column", "time"]
    return options + (["--series-column", "series"] if case.kind == "panel" else [])


# ---------------------------------------------------------------------- methods


def mase_scale(history: np.ndarray, season: int) -> float:
    m = season if len(history) > season else 1
    scale = float(np.mean(np.abs(history[m:] - history[:-m])))
    return scale if scale > 0 else 1.0


def series_mase(found: dict[str, np.ndarray], data: dict, case: Case) -> list[float]:
    """Each series' MASE (in `data`'s order) of the forecasts `found` ({series: [h]}) of
    its held-out block; a series without one (skipped by a run) gets naive's."""
    scores = []
    for name, (_, values) in data.items():
        history, block = values[:-case.horizon], values[-case.horizon:]
        forecast = found.get(name, np.full(case.horizon, history[-1]))
        scores.append(float(np.mean(np.abs(forecast - block))) / mase_scale(history, case.season))
    return scores


def held_out_mase(found: dict[str, np.ndarray], data: dict, case: Case) -> float:
    """The mean of `series_mase` over the case's series."""
    return float(np.mean(series_mase(found, data, case)))


def statistical(data: dict, horizon: int, season: int) -> dict[str, dict[str, np.ndarray]]:
    """method -> {series: forecast [h]} fitted on each series' rows before the last h."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    frames = []
    for name, (_, values) in data.items():
        history = values[:-horizon]
        frames.append(pd.DataFrame({"unique_id": name, "ds": np.arange(len(history)),
                                    "y": history}))
    m = season
    models = [SeasonalNaive(season_length=m, alias="seasonal_naive"),
              AutoETS(season_length=m, alias="ets"), AutoTheta(season_length=m, alias="theta"),
              # (a seasonal ARIMA of a season over 24 takes minutes per series: M4's
              # weekly and hourly entries fitted it without the season too)
              AutoARIMA(season_length=m if m <= 24 else 1, alias="arima")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = StatsForecast(models=models, freq=1, n_jobs=1).forecast(
            df=pd.concat(frames), h=horizon)
    if "unique_id" not in found.columns:
        found = found.reset_index()
    out = {method: {} for method in METHODS}
    for name, rows in found.groupby("unique_id", sort=False):
        for method in METHODS:
            out[method][str(name)] = rows[method].to_numpy(float)
    return out


def lstm_tf_forecasts(run: Path) -> dict[str, dict[str, np.ndarray]]:
    """{"lstm_tf": {series: forecast}, "anchor": {...}} of the run's test window per series."""
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.train import keras_predict

    config = runs.load_config(run)
    model = runs.load_model(run)
    prepared, part = evaluation_data(config, None)
    starts, d = prepared.starts[part], config.data
    names = config.panel["series"] if config.panel else ["_"]
    series = prepared.series_of[part] if config.panel else np.zeros(len(starts), int)
    out = {}
    for label, predict in (("lstm_tf", keras_predict(model)), ("anchor", None)):
        forecast = prepared.forecast(predict, starts, d.window, d.horizon)[:, :, 0]
        out[label] = {names[s]: forecast[i] for i, s in enumerate(series)}
    return out


def validation_ratio(run: Path) -> float:
    """The kept model's validation MAE over its anchor's (1 when the network was zeroed):
    the keep rule's margin."""
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.train import network_and_anchor_mae

    config = runs.load_config(run)
    prepared, _ = evaluation_data(config, None)
    both, anchor = network_and_anchor_mae(runs.load_model(run), prepared, config.data,
                                          prepared.starts["val"])
    return both / anchor


def run_members(run: Path) -> int:
    """The networks the run trained (its ensemble size)."""
    return json.loads((run / "config.json").read_text())["model"]["ensemble"]


def run_lstm_tf(options: list[str], run: Path, extra: list[str]) -> tuple[float, dict, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lstm_tf_cli", "train", *options, "-q",
                           "--out", str(run), *extra], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode:
        return seconds, {}, (done.stdout + done.stderr).strip().splitlines()[-1]
    return seconds, json.loads((run / "metrics.json").read_text()), ""


# ------------------------------------------------------------------------- main


STORED = ("naive", *METHODS, "median")  # what --stats-from reuses


def evaluate_case(case: Case, scratch: Path, extra: list[str],
                  stored: dict | None = None) -> dict:
    """One case's result; `stored` an earlier result of the same case whose statistical
    methods' MASE it reuses (`--stats-from`)."""
    from lstm_tf.train import TRAINING_RECORDS

    data = load(case.name)
    options = write_csv(case, data, scratch / f"{case.name}.csv") + [
        "--horizon", str(case.horizon), "--test-size", str(case.horizon)]
    run = scratch / f"run-{case.name}"
    seconds, metrics, error = run_lstm_tf(options, run, extra)
    if stored is not None and (stored["series"], stored["horizon"]) != (len(data), case.horizon):
        raise SystemExit(f"--stats-from: its {case.name} has other series or horizon")
    forecasts = {} if stored is not None else statistical(data, case.horizon, case.season)
    # naive persistence (the acceptance: never worse than it on any series)
    forecasts["naive"] = {name: np.full(case.horizon, values[-case.horizon - 1])
                          for name, (_, values) in data.items()}
    if not error:
        for label, found in lstm_tf_forecasts(run).items():
            # (a single series' one forecast is keyed "_": give it the series' name)
            forecasts[label] = {list(data)[0]: found["_"]} if "_" in found else found
    mase = {method: stored["mase"][method] for method in STORED} if stored is not None else {}
    names = list(data)
    for method, found in forecasts.items():  # (a series the run skipped: naive's forecast)
        mase[method] = series_mase(found, data, case)
    if stored is None:
        stack = np.array([forecasts[m][n] for m in METHODS for n in names]).reshape(
            len(METHODS), len(names), case.horizon)
        median = np.median(stack, axis=0)
        mase["median"] = series_mase(dict(zip(names, median)), data, case)
    return {"case": case.name, "kind": case.kind, "frequency": case.frequency,
            "horizon": case.horizon, "season": case.season, "series": len(names),
            "lengths": [int(np.min([len(v) for _, v in data.values()])),
                        int(np.max([len(v) for _, v in data.values()]))],
            "error": error, "train_seconds": round(seconds, 1),
            "network_kept": metrics.get("network_kept"), "best_epoch": metrics.get("best_epoch"),
            "keep_statistic": metrics.get("keep_statistic"),  # (train.KEEP_T)
            "floor": metrics.get("floor"), "members": run_members(run) if not error else None,
            # the trainings the run was chosen over (anchor + network, series scaling)
            **{key: metrics[key] for key in TRAINING_RECORDS if key in metrics},
            "validation_ratio": None if error else validation_ratio(run),
            "epochs_run": metrics.get("epochs_run"),
            "skipped_series": metrics.get("skipped_series", 0),
            "mase": mase,
            "mean_mase": {m: float(np.mean(v)) for m, v in mase.items()},
            "gmean_mase": {m: gmean(v) for m, v in mase.items()}}


def gmean(values) -> float:
    values = np.maximum(np.asarray(values, float), 1e-6)
    return float(np.exp(np.mean(np.log(values))))


def table(results: list[dict]) -> str:
    methods = ["lstm_tf", "anchor", "naive", *METHODS, "median"]
    lines = ["| case | h | series | " + " | ".join(methods) + " | kept | best epoch | train s |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in methods)
             + " | --- | ---: | ---: |"]
    for r in results:
        cells = [f"{r['mean_mase'][m]:.3f}" if m in r["mean_mase"] else "—" for m in methods]
        if "naive" in r["mase"] and "lstm_tf" in r["mase"]:
            worse = sum(a > b for a, b in zip(r["mase"]["lstm_tf"], r["mase"]["naive"]))
            cells[0] += f" ({worse} worse than naive)" if worse else ""
        lines.append(f"| {r['case']} | {r['horizon']} | {r['series']} | " + " | ".join(cells)
                     + f" | {r['network_kept']} | {r['best_epoch']} | {r['train_seconds']} |"
                     + (f" error: {r['error']}" if r["error"] else ""))
    singles = [r for r in results if r["kind"] == "series" and "lstm_tf" in r["mase"]]
    if singles:
        g = {m: gmean([r["mase"][m][0] for r in singles]) for m in methods
             if all(m in r["mase"] for r in singles)}
        best = min(g[m] for m in METHODS)
        lines.append("")
        lines.append(f"single series ({len(singles)}), geometric-mean MASE: " + ", ".join(
            f"{m} {g[m]:.3f}" for m in g) + f"; lstm_tf / best method {g['lstm_tf'] / best:.3f}")
    panels = [r for r in results if r["kind"] == "panel" and "lstm_tf" in r["mase"]]
    if panels:
        wins = sum(r["mean_mase"]["lstm_tf"] <= min(r["mean_mase"][m] for m in METHODS)
                   for r in panels)
        lines.append(f"panels ({len(panels)}): lstm_tf mean MASE at or below the best method on "
                     f"{wins}; / best: " + ", ".join(
                         f"{r['case']} "
                         f"{r['mean_mase']['lstm_tf'] / min(r['mean_mase'][m] for m in METHODS):.3f}"
                         for r in panels))
    kept = sum(bool(r["network_kept"]) for r in results)
    lines.append(f"network kept on {kept} of {len(results)}; train seconds in all "
                 f"{sum(r['train_seconds'] for r in results):.0f}")
    return "\n".join(lines)


def compare(before: list[dict], after: list[dict]) -> str:
    """A markdown table of two benchmark runs' results (before and after a change)."""
    earlier = {r["case"]: r for r in before}
    lines = ["| case | series, h | lstm-tf before [anchor] | lstm-tf after [anchor] | "
             "kept before / after "
             "| best method | median | train s after |",
             "| --- | --- | ---: | ---: | --- | --- | ---: | ---: |"]

    def cell(r):
        m = r["mean_mase"]
        return f"{m['lstm_tf']:.3f} [{m['anchor']:.3f}]" if "lstm_tf" in m else "refused"

    for r in after:
        b = earlier.get(r["case"])
        if b is None:
            continue
        best = min(METHODS, key=lambda m: r["mean_mase"][m])
        lines.append(f"| {r['case']} | {r['series']}, {r['horizon']} | {cell(b)} | {cell(r)} | "
                     f"{b['network_kept']} / {r['network_kept']} | "
                     f"{r['mean_mase'][best]:.3f} ({best}) | {r['mean_mase']['median']:.3f} | "
                     f"{r['train_seconds']} |")
    for label, runs in (("before", [earlier[r["case"]] for r in after if r["case"] in earlier]),
                        ("after", [r for r in after if r["case"] in earlier])):
        singles = [r for r in runs if r["kind"] == "series" and "lstm_tf" in r["mase"]]
        g = {m: gmean([r["mase"][m][0] for r in singles]) for m in ("lstm_tf", *METHODS)}
        best = min(METHODS, key=g.get)
        panels = [r for r in runs if r["kind"] == "panel" and "lstm_tf" in r["mase"]]
        ratios = [r["mean_mase"]["lstm_tf"] / min(r["mean_mase"][m] for m in METHODS)
                  for r in panels]
        lines.append("")
        lines.append(f"{label}: single series ({len(singles)}) geometric-mean MASE "
                     f"{g['lstm_tf']:.3f} against " + ", ".join(
                         f"{m} {g[m]:.3f}" for m in METHODS)
                     + f" ({g['lstm_tf'] / g[best]:.3f}x the best); panels ({len(panels)}): "
                     f"mean MASE / best method " + ", ".join(f"{x:.3f}" for x in ratios)
                     + f"; network kept on {sum(bool(r['network_kept']) for r in runs)} "
                     f"of {len(runs)}")
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--compare"]:  # --compare BEFORE.json AFTER.json [MORE.json ...]
        files = [json.loads(Path(f).read_text())["results"] for f in argv[1:]]
        print(compare(files[0], [r for f in files[1:] for r in f]))
        return
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick subset of the cases")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--subdaily", action="store_true",
                        help="the real hourly and weekly cases (not in --quick)")
    parser.add_argument("--monthly", action="store_true",
                        help="the seasonal monthly single series (not in --quick)")
    parser.add_argument("--out", help="JSON file (default benchmarks/m4-protocol-<date>.json)")
    parser.add_argument("--stats-from", help="an earlier result file: reuse its statistical "
                        "methods' MASE for the same cases instead of fitting them again")
    parser.add_argument("--keep-runs", help="keep each case's run directory (and CSV) here, "
                        "to study a run after the benchmark without training it again")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if (c.quick or not args.quick)
             and (not args.only or c.name in args.only.split(","))
             and (not args.subdaily or c.name in SUBDAILY)
             and (not args.monthly or c.name in MONTHLY)]
    suffix = ("-quick" if args.quick else "-subdaily" if args.subdaily
              else "-monthly" if args.monthly else "")
    out = Path(args.out or f"benchmarks/m4-protocol-{datetime.date.today()}{suffix}.json")
    stored = ({r["case"]: r for r in json.loads(Path(args.stats_from).read_text())["results"]}
              if args.stats_from else {})
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.keep_runs:
            scratch = args.keep_runs
            Path(scratch).mkdir(parents=True, exist_ok=True)
        for case in cases:
            results.append(evaluate_case(case, Path(scratch), extra, stored.get(case.name)))
            r = results[-1]
            print(f"{case.name}: " + ", ".join(f"{m} {v:.3f}" for m, v in r["mean_mase"].items())
                  + f"; kept {r['network_kept']}, best epoch {r['best_epoch']}, "
                  f"{r['train_seconds']} s {r['error']}", flush=True)
            out.write_text(json.dumps({"date": str(datetime.date.today()),
                                       "train_options": extra, "stats_from": args.stats_from,
                                       "results": results},
                                      indent=1) + "\n")  # after every case
    print(table(results))


if __name__ == "__main__":
    main()
