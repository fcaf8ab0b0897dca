"""A seasonal ARIMA as a linear map of a window: the `sarima` anchor (anchors.py).

What AutoARIMA has on a seasonal monthly series and seasonal naive lacks is the seasonal
moving average: e_t + Theta e_{t-m} averages the season over past years where seasonal
naive repeats the last one. One series' model

    phi(B) (1 - B)^d (1 - B^m) y_t = c + (1 + theta B)(1 + Theta B^m) e_t

with p <= MAX_P AR coefficients phi, q, Q <= 1 and a constant c only without the first
difference (d = 0), is fitted by conditional least squares on every row of its history:
theta and Theta on a grid (`THETA_GRID`, `SEASONAL_THETA_GRID`), and for each grid point
phi and c by least squares on the differences filtered by the moving average's inverse;
d by a KPSS test of the seasonal differences (d = 1 where they are not level-stationary,
as AutoARIMA's `ndiffs`), the rest by AICc, as AutoARIMA chooses within one differencing.
A non-stationary phi is not a candidate.

The forecast is the best linear predictor from the window alone: the differences
w_t = (1 - B)^d (1 - B^m) y_t are a stationary ARMA whose autocovariances give each
w_{T+k} from the window's differences (one Toeplitz solve), and undoing the differences
makes it weights over the window's rows plus a constant: an anchor's weights and bias,
computed in the exported graph like any other anchor. A window shorter than the history
reads less than a full-history predictor would: the longer, the closer (a seasonal
single series' window, `data.split`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEASONS = range(5, 13)  # the seasons it is fitted for: beyond the history ARIMAs' seasonal
# lag (anchors.SEASONAL_LAG_MAX) and up to a year of months (docs/accuracy.md, "Sixteenth
# session": quarterly series lost with it, 0.516 -> 0.536)
MAX_P = 2
THETA_GRID = np.round(np.arange(-0.8, 0.81, 0.2), 2)
SEASONAL_THETA_GRID = np.round(np.arange(-0.9, 0.51, 0.1), 2)
KPSS_CRITICAL = 0.463  # the KPSS level-stationarity test's 5% critical value
PSI_TERMS = 3000  # terms of the MA(infinity) form summed for the autocovariances


@dataclass
class Model:
    """phi(B) (1 - B)^d (1 - B^season) y_t = c + theta(B) e_t; `ma` maps each lag of the
    moving average's polynomial theta(B) (1 and/or season and season + 1) to its
    coefficient."""

    phi: np.ndarray
    c: float
    ma: dict[int, float]
    d: int
    season: int

    @property
    def differences(self) -> np.ndarray:
        """(1 - B)^d (1 - B^m) as coefficients of B^0, B^1, ..."""
        found = np.r_[1.0, np.zeros(self.season - 1), -1.0]
        return np.convolve(found, [1.0, -1.0]) if self.d else found


def level_stationary(values: np.ndarray) -> bool:
    """The KPSS test of level stationarity at 5%, with statsforecast's `ndiffs` lags
    floor(3 sqrt(n) / 13) (R's "short" rule, more lags, took d = 1 less often: 84-month
    series 0.647 -> 0.680)."""
    n = len(values)
    e = values - values.mean()
    partial = np.cumsum(e)
    lags = int(3 * np.sqrt(n) / 13)
    variance = float(e @ e) / n
    for lag in range(1, lags + 1):
        variance += 2 * (1 - lag / (lags + 1)) * float(e[:-lag] @ e[lag:]) / n
    return float(partial @ partial) / (n * n * max(variance, 1e-12)) < KPSS_CRITICAL


def _inverse_ma(values: np.ndarray, lags: list[int], coefs: np.ndarray) -> np.ndarray:
    """u_t = values_t - sum_i coefs[:, i] u_{t - lags[i]} (zero before the start) for G
    coefficient sets at once: coefs [G, len(lags)] -> [G, n]."""
    out = np.zeros((len(coefs), len(values)))
    for t in range(len(values)):
        out[:, t] = values[t]
        for i, lag in enumerate(lags):
            if t >= lag:
                out[:, t] -= coefs[:, i] * out[:, t - lag]
    return out


def _stationary(phi: np.ndarray) -> bool:
    return not len(phi) or bool(np.all(np.abs(np.roots(np.r_[1.0, -phi][::-1])) > 1 + 1e-6))


def fit(history: np.ndarray, season: int) -> Model | None:
    """The model of one series' rows by AICc (module docstring), None where they are
    too few for any."""
    history = np.asarray(history, np.float64)
    seasonal = np.convolve(history, np.r_[1.0, np.zeros(season - 1), -1.0], mode="valid")
    if len(seasonal) < 2 * MAX_P + 4:
        return None
    d = 0 if level_stationary(seasonal) else 1
    w = np.diff(seasonal) if d else seasonal
    n, best = len(w), None
    for q in (0, 1):
        for big_q in (0, 1):
            lags = [1] * q + [season] * big_q + [season + 1] * (q * big_q)
            theta, seasonal_theta = (a.ravel() for a in np.meshgrid(
                THETA_GRID if q else [0.0], SEASONAL_THETA_GRID if big_q else [0.0],
                indexing="ij"))
            coefs = np.array([theta] * q + [seasonal_theta] * big_q
                             + [theta * seasonal_theta] * (q * big_q)).reshape(-1, len(theta)).T
            filtered = _inverse_ma(w, lags, coefs)  # [G, n]
            constant = _inverse_ma(np.ones(n), lags, coefs)  # c's share of each row
            for p in range(MAX_P + 1):
                for with_c in (False, True) if d == 0 else (False,):
                    k, rows = p + q + big_q + with_c + 1, n - p  # parameters, the variance too
                    if rows - k - 1 <= 0:
                        continue
                    for g in range(len(coefs)):
                        x = np.array([filtered[g, p - i:n - i] for i in range(1, p + 1)]
                                     + [constant[g, p:]] * with_c).reshape(-1, rows).T
                        y = filtered[g, p:]
                        coef = (np.linalg.lstsq(x, y, rcond=None)[0] if x.shape[1]
                                else np.zeros(0))
                        sse = float(np.sum((y - x @ coef) ** 2)) + 1e-12 * rows
                        aicc = rows * np.log(sse / rows) + 2 * k + 2 * k * (k + 1) / (rows - k - 1)
                        if (best is None or aicc < best[0]) and _stationary(coef[:p]):
                            best = (aicc, Model(coef[:p].copy(), float(coef[p]) if with_c else 0.0,
                                                dict(zip(lags, coefs[g])), d, season))
    return None if best is None else best[1]


def forecast_weights(model: Model, window: int, horizon: int):
    """(weights [horizon, window], bias [horizon]) of the model's best linear predictor
    from the window's rows (module docstring); None where the window holds no difference."""
    differences = model.differences
    order = len(differences) - 1
    n = window - order  # the window's differences
    if n < 1:
        return None
    ma = np.zeros(max(model.ma, default=0) + 1)
    ma[0] = 1.0
    for lag, coef in model.ma.items():
        ma[lag] += coef
    psi = np.zeros(PSI_TERMS)  # the MA(infinity) form of the differences' ARMA
    for j in range(PSI_TERMS):
        psi[j] = (ma[j] if j < len(ma) else 0.0) + sum(
            model.phi[i] * psi[j - 1 - i] for i in range(min(len(model.phi), j)))
    gamma = np.array([psi[:PSI_TERMS - h] @ psi[h:] for h in range(n + horizon)])
    index = np.arange(n)
    toeplitz = gamma[np.abs(index[:, None] - index[None, :])]
    ahead = np.stack([gamma[k + n - 1 - index] for k in range(1, horizon + 1)], axis=1)
    predictor = np.linalg.solve(toeplitz + 1e-10 * gamma[0] * np.eye(n), ahead).T  # [h, n]
    mean = model.c / (1 - model.phi.sum())
    # Everything as weights over [the window's rows, 1]: the differences, then each
    # predicted difference and the row it makes with the rows before it.
    eye = np.eye(window + 1)
    diffs = np.array([differences @ eye[t - np.arange(order + 1)] for t in range(order, window)])
    rows, one = list(eye[:window]), eye[window]
    for k in range(horizon):
        predicted = mean * one + predictor[k] @ (diffs - mean * one)
        rows.append(predicted - sum(differences[j] * rows[-j] for j in range(1, order + 1)))
    out = np.array(rows[window:])
    return out[:, :window], out[:, window]
