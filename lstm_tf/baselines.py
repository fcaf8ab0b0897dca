"""Statistical baselines for backtests: Nixtla statsforecast's AutoETS and AutoARIMA.

An optional extra (`pip install "lstm-tf[stats]"`), imported only when a backtest asks
for it (`lstm-tf backtest --baselines ets,arima`), never at CLI start-up.

Each target is forecast on its own (univariate; extra feature columns are not used).
Without refit a model is fitted once, on exactly the rows the network saw before the
first cutoff (training and validation parts), and then applied with its fitted
parameters to the history up to every cutoff (statsforecast's `forward`); with refit
it is fitted again on the history up to every cutoff.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError

KNOWN = ("ets", "arima")
MAX_SEASON = 24  # AutoETS ignores longer seasons; AutoARIMA becomes very slow beyond it
MISSING = 'needs statsforecast: pip install "lstm-tf[stats]"'


def parse(text: str | None) -> list[str]:
    """`ets,arima` -> ["ets", "arima"]; an unknown name is a one-line error."""
    names = [name.strip().lower() for name in (text or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        raise UserError(f"unknown baseline {unknown[0]!r}; known baselines: {', '.join(KNOWN)}")
    return list(dict.fromkeys(names))


def require() -> None:
    """Fail with a one-line error when the `stats` extra is not installed."""
    try:
        import statsforecast.models  # noqa: F401
    except ImportError:
        raise UserError(f"--baselines {MISSING}") from None


def season_length(season: int | None) -> tuple[int, str | None]:
    """The season length given to statsforecast and a note when it is not the run's."""
    m = season or 1
    if m > MAX_SEASON:
        return 1, (f"season {m} > {MAX_SEASON}: ets and arima are fitted without a season "
                   "(AutoETS ignores such seasons and AutoARIMA is very slow with them)")
    return m, None


def _model(name: str, m: int):
    from statsforecast.models import AutoARIMA, AutoETS

    return AutoETS(season_length=m) if name == "ets" else AutoARIMA(season_length=m)


def forecasts(name: str, y: np.ndarray, starts: np.ndarray, horizon: int, fit_end: int,
              season: int | None, refit: bool = False) -> np.ndarray:
    """[cutoffs, horizon] forecasts of the univariate series `y` from every start row
    (the first forecast row: the history is y[:start]).

    Without refit the model is fitted on y[:fit_end] (fit_end <= every start) and
    applied unchanged to each history; with refit it is fitted on each history.
    """
    m, _ = season_length(season)
    y = np.asarray(y, np.float64)
    out = np.empty((len(starts), horizon))
    if not refit and fit_end > int(np.min(starts)):
        raise ValueError("the baselines' fit rows overlap a forecast")
    try:
        fitted = None if refit else _model(name, m).fit(y[:fit_end])
        for i, start in enumerate(starts):
            # refit: a fresh model fitted on each history; else the one fitted model applied
            call = _model(name, m).forecast if fitted is None else fitted.forward
            out[i] = np.asarray(call(y=y[:int(start)], h=horizon)["mean"], np.float64)
    except Exception as error:  # statsforecast raises many types on series it cannot fit
        message = " ".join(str(error).split())[:200]
        rows = f"{fit_end} rows" if not refit else "the rows before a cutoff"
        raise UserError(f"statsforecast could not fit {name} (season length {m}) on {rows}: "
                        f"{message}") from None
    return out
