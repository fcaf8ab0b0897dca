"""The study behind `--anchor auto`: anchors alone, by rolling-origin backtests on 13 real
series, against naive and the best of statsforecast's AutoETS/AutoARIMA on the same rows.

    pip install statsforecast pmdarima statsmodels   # the series ship inside these wheels
    python benchmarks/anchor_study.py [--one-step]

For each series: the last N origins (12 for short series, 24 for long ones) are held
out; candidates are fitted on the training windows before them and scored on the
validation windows (the last 15%), exactly as `lstm_tf.anchors.fit_candidates` does in
training; the rules that turn candidates into one anchor are then compared on the
held-out origins. Prints each rule's MAE / best of ETS and ARIMA per series, their
geometric mean and worst case, and the chosen rule's MAE / naive. ARIMA is skipped for
seasons longer than 24 (too slow), so those series compare with ETS only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lstm_tf import anchors  # noqa: E402
from lstm_tf.data import load_builtin  # noqa: E402


def series() -> dict[str, tuple[np.ndarray, int | None, int]]:
    """name -> (values, season, horizon)."""
    import pmdarima.datasets as pm
    import statsmodels.api as sm

    taylor = pm.load_taylor()
    macro = sm.datasets.macrodata.load_pandas().data
    ausbeer = pm.load_ausbeer()
    found = {
        "airpassengers": (pm.load_airpassengers(), 12, 12),
        "wineind": (pm.load_wineind(), 12, 12),
        "woolyrnq": (pm.load_woolyrnq(), 4, 4),
        "ausbeer": (ausbeer[~np.isnan(ausbeer)], 4, 4),
        "lynx": (pm.load_lynx(), None, 4),
        "taylor_halfhourly": (taylor[-2400:], 48, 48),
        "taylor_hourly": (taylor.reshape(-1, 2).sum(1)[-1500:], 24, 24),
        "realgdp_q": (macro.realgdp.values, 4, 4),
        "cpi_q": (macro.cpi.values, 4, 4),
        "nile_y": (sm.datasets.nile.load_pandas().data.volume.values, None, 4),
        "elnino": (load_builtin("elnino").values[:, 0], 12, 12),
        "sunspots": (load_builtin("sunspots").values[:, 0], 11, 4),
        "co2": (load_builtin("co2").values[:, 0], 52, 13),
    }
    return {k: (np.asarray(v, np.float64), m, h) for k, (v, m, h) in found.items()}


def stats_mae(y: np.ndarray, season: int | None, horizon: int, origins: int) -> dict:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, Naive

    frame = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(y)), "y": y})
    models = [Naive(), AutoETS(season_length=season or 1)]
    if not season or season <= 24:
        models.append(AutoARIMA(season_length=season or 1))
    found = {}
    for model in models:
        cv = StatsForecast(models=[model], freq=1).cross_validation(
            df=frame, h=horizon, n_windows=origins, step_size=1, refit=False)
        name = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")][0]
        found[name] = float(np.mean(np.abs(cv[name].values - cv["y"].values)))
    return found


def rules(options: dict, test_windows: np.ndarray) -> dict[str, np.ndarray]:
    """Each way of turning the candidates into one anchor -> its forecasts (z-scores)."""
    names = list(options)
    errors = np.stack([options[n][2] for n in names])  # [candidates, horizon]
    forecast = {n: test_windows @ w.T + b for n, (w, b, _) in options.items()}
    order = np.argsort(errors.mean(axis=1))

    def within(close: float, most: int = anchors.COMBINED):
        best = errors.mean(axis=1)[order[0]]
        picked = [names[i] for i in order[:most] if errors.mean(axis=1)[i] <= close * best]
        return np.mean([forecast[n] for n in picked], axis=0)

    per_step = np.stack([forecast[names[i]][:, k] for k, i in enumerate(errors.argmin(0))], 1)
    return {"auto (chosen)": within(anchors.CLOSE), "single best": forecast[names[order[0]]],
            "per step": per_step, "mean of all": np.mean(list(forecast.values()), axis=0),
            "top 3": within(np.inf)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-step", action="store_true", help="horizon 1 instead of a season")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    ratios: dict[str, list[float]] = {}
    for name, (y, season, horizon) in series().items():
        horizon = 1 if args.one_step else horizon
        origins = 24 if len(y) > 1000 else 12
        first = len(y) - (origins + horizon - 1)
        window = 3 * season + 1 if season else 24
        window = min(window, int((first * 0.85 - horizon) // 3))
        mean, std = y[:first].mean(), y[:first].std()
        z = (y - mean) / std
        starts = np.arange(window, first - horizon + 1)
        n_val = max(1, int(round(0.15 * len(starts))))
        options = anchors.fit_candidates(z, starts[:-n_val], starts[-n_val:], horizon, season,
                                         window)
        test = np.arange(first, len(y) - horizon + 1)
        actual = y[test[:, None] + np.arange(horizon)]
        windows = z[test[:, None] + np.arange(-window, 0)]
        stats = stats_mae(y, season, horizon, origins)
        best = min(v for k, v in stats.items() if k != "Naive")
        line = [f"{name:18s}"]
        for rule, forecast in rules(options, windows).items():
            mae = float(np.mean(np.abs(forecast * std + mean - actual)))
            ratios.setdefault(rule, []).append(mae / best)
            line.append(f"{rule}={mae / best:.2f}")
            if rule == "auto (chosen)":
                line.append(f"(/naive {mae / stats['Naive']:.2f})")
        print(" ".join(line), flush=True)
    print("\nMAE / best of AutoETS, AutoARIMA: geometric mean (worst series)")
    for rule, values in ratios.items():
        print(f"  {rule:14s} {np.exp(np.mean(np.log(values))):.3f} ({max(values):.2f})")


if __name__ == "__main__":
    main()
