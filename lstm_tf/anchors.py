"""Anchors: the linear forecast the network corrects, computed from each window.

A network fed z-scores fitted on the training rows forecasts badly once a trending
series leaves that range: every test input lies beyond anything it saw. And a
recurrent network trained on a short series learns slowly what a linear model gets
right at once (a season, a trend, mean reversion). So by default, for each window,

    network inputs = the window, each target column minus its last value (the level removed)
    forecast       = anchor(window) + network(network inputs)

where the anchor is a linear forecast of each target from its own column's last
`reach` rows, in z-scores (the training rows' scaler):

    anchor[target, k] = bias[target, k] + sum_r weights[target, k, r] * z[T - reach + r, target]

for step k = 1..horizon after the window's last row T. The candidates:

    last          z_T: naive persistence (the network forecasts the change)
    season        z_{T+k-b}, b = m*ceil(k/m): seasonal naive, season m
    season-level  z_T + mean_{j<J} (z_{T+k-b-jm} - z_{T-b-jm}): the last value plus the
                  change over the same k steps a season (J seasons) earlier; keeps the
                  level and the trend
    drift         z_T + k (z_T - z_{T-W+1}) / (W - 1): persistence plus the window's
                  mean change (the random walk with drift over the window of W rows)
    damped        z_T + (phi + phi^2 + ... + phi^k) (z_T - z_{T-W+1}) / (W - 1): drift
                  whose trend fades (phi 0.9), as the damped-trend exponential smoothing
                  that is a robust benchmark of the M3 and M4 competitions
    theta         the theta method (theta = 2) made linear: the window's exponentially
                  weighted level (alpha 0.5, truncated, renormalised) plus half its
                  least-squares slope times (k - 1 + 1/alpha), as M3's winner
    ar            a ridge regression of z_{T+k} - z_T on the window relative to z_T
                  (an autoregression of the changes: trend-safe)
    ar-level      a ridge regression of z_{T+k} on the window and a constant (an
                  autoregression that reverts to the training mean: for stationary series)
    ar-season     seasonal naive plus a ridge regression of what it misses,
                  z_{T+k} - z_{T+k-b}, on the window's seasonal differences z_t - z_{t-m}
                  (a seasonal ARIMA's one seasonal difference; `auto` only, with a window
                  of two seasons or more)
    arima         an ARIMA(p,1,0) made linear: a ridge AR(p) of the one-step changes
                  z_t - z_{t-1} (on every step of the training windows, not one
                  regression per horizon step as ar), iterated h steps and summed onto
                  z_T; p in 1, 2, 3 and, for a season m <= 12, m and m + 1, chosen on
                  validation (`auto` only; not in window-scaled units)
    arima-trend   one series' ARIMA(p,1,0) with a drift, fitted by least squares on all
                  its rows before the part it is scored on (not on windows), p in 0..3
                  (for a season m <= 4, each also with the lag m: a seasonal AR(1)) and
                  the drift chosen by AICc as AutoARIMA does; its forecast iterated h
                  steps (the drift is the bias); a single series only (`auto` only)
    arima-curve   the same with two differences and no drift: a curving trend continued
    arima-season  the same with one seasonal difference (1 - B^m) and no other: seasonal
                  naive plus a drift and an AR(p) of the seasonal changes (a partner
                  only, below)
    sarima        a seasonal ARIMA(p,d,q)(0,1,Q)m with the moving averages AutoARIMA
                  has and the others lack, for a season of 5..12 (`seasonal_arima`):
                  its best linear predictor from the window (a partner only, below)
    none          0 (the network sees absolute z-scores, as before anchors)
    network       none for training (the network alone), with `auto`'s anchor fitted
                  beside it as a fallback: the run forecasts that anchor (or a naive
                  forecast) instead when it beats the network on validation
                  (`train.floor`); a panel's default

The floor (`train.floor`) may also make the run forecast the mean of the trained model
and another forecast f (the fitted anchor, seasonal naive or naive persistence):

    forecast = (anchor(z) + network(inputs)) / 2 + f(z) / 2
             = [anchor/2 + f/2](z) + [network/2](inputs)

which is still an anchor plus a network: `mean_with_model` gives the anchor in brackets
(`model_anchor` says it is one, and keeps the network's inputs as they were trained),
and the network's head is halved (`train.scale_network`).

`choose` fits the regressions on the training windows, scores every candidate on
the validation windows and, for each target, averages the best (up to three, each
within 10% of the best one's error); the regressions are then refitted on training and
validation windows. A single series with fewer validation windows than the horizon
(one, or none: its training windows stand in) averages that choice with a partner
whose order rests on every row: sarima where they are seasonal with a season of 5..12
(two thirds of the mean), else arima-season where they hold 8 seasons or are seasonal,
else arima-trend (`PARTNER_SEASONS`). The network trains on what the anchor leaves (`zero
head`: it starts out forecasting the anchor), and training keeps it only if it helps on
validation.

The same arithmetic exists in NumPy (training data, evaluation, parity, backtests)
and in TensorFlow (the exported graph): one einsum and an add. `forecaster.Forecaster`
puts it between a run's scaling and its network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import seasonal_arima
from .data import window_scaling
from .errors import UserError, check_choice

CHOICES = ("auto", "network", "none", "last", "season", "season-level", "ar", "ar-level")
MAX_SEASONS = 3  # season-level averages at most this many past seasons
TRENDS = ("drift", "damped", "theta")  # the trend candidates `auto` weighs (docs/accuracy.md)
DAMPING = 0.9  # damped's phi: the trend's weight falls by a tenth per step
# `auto` weighs ar-season too, but not in window-scaled units (a panel's default): measured
# in docs/accuracy.md, "Sub-daily and weekly series" (hourly 0.872 -> 0.829; panels -2%).
AR_SEASON = True
# Ridge penalties, relative to the inputs' mean square (so they do not depend on the
# series' scale: the changes of a smooth series are tiny in z-scores); the one with
# the lowest validation error is used.
RIDGE_PENALTIES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# auto averages the best candidates on validation: up to COMBINED of them, each within
# CLOSE x the best one's error: steadier than one choice on a few validation windows, and a
# clearly better candidate is not diluted (13 real series, docs/accuracy.md: 0.82x the best
# of ETS/ARIMA, against 0.83x for the single best candidate).
COMBINED = 3
CLOSE = 1.1
# arima's orders p, tried on validation, and p = m, m + 1 (the season's lag) where the
# season is at most ARIMA_SEASON_MAX and the window holds it (docs/accuracy.md: nine monthly
# series 0.266 -> 0.225; the hourly seasons' orders 24 and 25 lost).
ARIMA_ORDERS = (1, 2, 3)
ARIMA_SEASON_MAX = 12
# One series' ARIMAs fitted on all its rows, their order by AICc (`_history_arima`):
# name -> (differences d, the seasonal difference too, a drift allowed).
HISTORY_ARIMAS = {"arima-trend": (1, False, True), "arima-curve": (2, False, False),
                  "arima-season": (0, True, True)}
HISTORY_ORDERS_MAX = 3
# ... each also with the season's lag m (a seasonal AR(1)) for m <= SEASONAL_LAG_MAX
# (docs/accuracy.md, "Fourteenth session": quarterly 0.576 -> 0.516; monthly too lost).
SEASONAL_LAG_MAX = 4
# Fewer validation windows than the horizon (one, or none: the training windows stand in)
# are too few to choose on alone: the choice is averaged with a partner fitted on every
# row, sarima where the rows before the test part pass `is_seasonal` (a season of 5..12),
# else arima-season where they pass it or the training rows hold PARTNER_SEASONS seasons,
# else arima-trend; both seasonal ones are partners only (docs/accuracy.md, "Twelfth
# session": 0.645 -> 0.527; "Fifteenth session": the test, 10 seasonal monthly 0.729 -> 0.415).
PARTNER_SEASONS = 8
PARTNER_ONLY = ("arima-season", "sarima")
# sarima, a partner, weighs two thirds of the mean ("Sixteenth session": ten seasonal
# 120-month series 0.415 -> 0.358 (alone 0.344); the six of 150 months 0.339 -> 0.326, where
# alone it lost one, 0.343 -> 1.058); the others one share of it, as the picks.
PARTNER_SHARES = {"sarima": 2 / 3}
# A panel may hold millions of windows; a linear anchor is fitted as well on a seeded
# sample of this many (the training and validation windows each).
MAX_FIT_WINDOWS = 100_000


@dataclass
class Anchor:
    """weights [targets, horizon, reach], bias [targets, horizon]; `parts` names the
    candidates averaged for each target.

    `model_anchor`: None for an anchor as chosen. For the floor's mean of the trained
    model and another forecast (`mean_with_model`): the description of the anchor the
    network was trained with ("none" for the network alone, whose inputs then stay
    absolute); `parts` then names the other forecast, and the weights hold half of each.
    """

    weights: np.ndarray
    bias: np.ndarray
    parts: list[list[str]]
    model_anchor: str | None = None

    @property
    def reach(self) -> int:
        """How many of the window's last rows the anchor reads (0 for none)."""
        return int(self.weights.shape[-1])

    @property
    def horizon(self) -> int:
        return int(self.weights.shape[1])

    @property
    def kind(self) -> str:
        """none, a candidate's name, `mean` when candidates are averaged, or `blend`: the
        floor's mean of the model and another forecast (`mean_with_model`)."""
        if self.model_anchor is not None:
            return "blend"
        names = {name for target in self.parts for name in target}
        return names.pop() if len(names) == 1 else "mean"

    @property
    def relative_inputs(self) -> bool:
        """Whether the network's inputs are relative to the window's last value: with an
        anchor, unless the network was trained without one (a blend's `model_anchor`)."""
        return (self.kind if self.model_anchor is None else self.model_anchor) != "none"

    @classmethod
    def none(cls, horizon: int, n_targets: int) -> "Anchor":
        return cls(np.zeros((n_targets, horizon, 0)), np.zeros((n_targets, horizon)),
                   [["none"] for _ in range(n_targets)])

    def describe(self) -> str:
        chosen = "; ".join("mean of " + " + ".join(names) if len(names) > 1 else names[0]
                           for names in self.parts)
        if self.model_anchor is None:
            return chosen
        model = ("the network" if self.model_anchor == "none"
                 else f"the model ({self.model_anchor} + network)")
        return f"mean of {model} and {chosen}"

    def summary(self) -> dict:
        """What an exported model's metadata says of its anchor (the weights are in the graph)."""
        found = {"kind": self.kind, "description": self.describe(), "reach": self.reach,
                 "parts": self.parts}
        if self.model_anchor is not None:
            found["model_anchor"] = self.model_anchor
        return found

    def to_dict(self) -> dict:
        """Everything, for config.json."""
        return {**self.summary(), "weights": self.weights.tolist(), "bias": self.bias.tolist()}

    @classmethod
    def from_dict(cls, saved: dict | None, horizon: int = 1, n_targets: int = 1) -> "Anchor":
        """The anchor a run recorded; a run from before anchors (None) used none."""
        if not saved:
            return cls.none(horizon, n_targets)
        weights = np.asarray(saved["weights"], np.float64)
        bias = np.asarray(saved["bias"], np.float64)
        if weights.ndim != 3 or bias.shape != weights.shape[:2]:
            raise UserError("config.json: the anchor's weights and bias have the wrong shapes")
        return cls(weights, bias, saved["parts"], saved.get("model_anchor"))

    # ------------------------------------------------------------------- NumPy

    def network_inputs(self, scaled_windows: np.ndarray, n_targets: int) -> np.ndarray:
        """The network's input: the targets' last value subtracted from their columns."""
        if not self.relative_inputs:
            return np.asarray(scaled_windows)
        out = np.array(scaled_windows, dtype=np.float64, copy=True)
        out[:, :, :n_targets] -= out[:, -1:, :n_targets]
        return out

    def forecast(self, scaled_windows: np.ndarray, n_targets: int) -> np.ndarray:
        """The anchor's forecast [windows, horizon, targets] in z-scores."""
        scaled_windows = np.asarray(scaled_windows, np.float64)
        if self.reach == 0:  # none
            return np.zeros((len(scaled_windows), self.horizon, n_targets)) + self.bias.T[None]
        recent = scaled_windows[:, scaled_windows.shape[1] - self.reach:, :n_targets]
        return np.einsum("thr,nrt->nht", self.weights, recent) + self.bias.T[None]

    # -------------------------------------------------------------- TensorFlow

    def tf_network_inputs(self, windows, n_targets: int):
        """`network_inputs` on a float32 tensor [batch, time, columns]."""
        import tensorflow as tf

        if not self.relative_inputs:
            return windows
        targets = windows[:, :, :n_targets] - windows[:, -1:, :n_targets]
        return tf.concat([targets, windows[:, :, n_targets:]], axis=-1)

    def tf_forecast(self, windows, n_targets: int):
        """`forecast` on a float32 tensor [batch, time, columns]: [batch, horizon, targets]."""
        import tensorflow as tf

        # Transposes and a batched MatMul rather than an Einsum: every ONNX runtime has
        # MatMul, not all have Einsum.
        bias = tf.constant(self.bias.T[None], windows.dtype)  # [1, h, t]
        if self.reach == 0:  # none
            return tf.zeros([tf.shape(windows)[0], self.horizon, n_targets], windows.dtype) + bias
        weights = tf.constant(np.transpose(self.weights, (0, 2, 1)), windows.dtype)  # [t, r, h]
        recent = tf.transpose(windows[:, -self.reach:, :n_targets], (2, 0, 1))  # [t, b, r]
        return tf.transpose(tf.matmul(recent, weights), (1, 2, 0)) + bias


# --------------------------------------------------------------- the candidates


def seasonal_weights(kind: str, horizon: int, season: int | None = None,
                     seasons: int = 1) -> np.ndarray:
    """[horizon, reach] weights of last, season or season-level (see the docstring)."""
    if kind == "last":
        return np.ones((horizon, 1))
    m = season
    reach = m if kind == "season" else m * ((horizon - 1) // m + seasons) + 1
    w = np.zeros((horizon, reach))
    last = reach - 1  # the window's last row
    for k in range(horizon):  # step k + 1 after the window
        back = m * (k // m + 1)  # the same phase, at least one season before step k + 1
        if kind == "season":
            w[k, last + 1 + k - back] = 1.0
            continue
        w[k, last] += 1.0
        for j in range(seasons):
            earlier = back + m * j
            w[k, last + 1 + k - earlier] += 1.0 / seasons
            w[k, last - earlier] -= 1.0 / seasons
    return w


THETA_ALPHA = 0.5  # theta's fixed smoothing weight (its SES level over the window)


def trend_weights(kind: str, horizon: int, reach: int,
                  alpha: float = THETA_ALPHA) -> np.ndarray:
    """[horizon, reach] weights of drift or theta over the window's last `reach` >= 2
    rows (see the docstring); each row sums to 1, the trend parts to 0."""
    last, steps = reach - 1, np.arange(1, horizon + 1)
    if kind in ("drift", "damped"):  # z_T + k (z_T - z_{T-reach+1}) / (reach - 1): the
        # mean change; damped: its k-th step weighs phi + ... + phi^k, not k
        gain = steps if kind == "drift" else np.cumsum(DAMPING ** steps)
        w = np.zeros((horizon, reach))
        w[:, last] = 1.0 + gain / last
        w[:, 0] = -gain / last
        return w
    # theta (theta = 2, Hyndman & Billah 2003): the SES level with a fixed alpha,
    # truncated to the window and renormalised, plus half the window's OLS slope times
    # (k - 1) + (1 - (1 - alpha)^n) / alpha (the theta method's forecast function).
    age = last - np.arange(reach)  # 0 for the last row
    level = alpha * (1 - alpha) ** age
    t = np.arange(reach) - last / 2
    slope = t / np.sum(t * t)
    gain = (steps - 1) + (1 - (1 - alpha) ** reach) / alpha
    return level[None] / level.sum() + 0.5 * gain[:, None] * slope[None]


def _fixed_candidates(horizon: int, season: int | None, window: int) -> dict[str, np.ndarray]:
    found = {"last": seasonal_weights("last", horizon)}
    if window >= 2:  # the window's trend (linear in it: the exported graph is unchanged)
        for kind in TRENDS:
            found[kind] = trend_weights(kind, horizon, window)
    if season and season > 1:
        found["season"] = seasonal_weights("season", horizon, season)
        for seasons in range(1, MAX_SEASONS + 1):
            found["season-level" + (f"/{seasons}" if seasons > 1 else "")] = \
                seasonal_weights("season-level", horizon, season, seasons)
    return {name: w for name, w in found.items() if w.shape[1] <= window}


def _ridge(inputs: np.ndarray, targets: np.ndarray, penalty: float) -> np.ndarray:
    """Ridge coefficients [features, outputs]; the penalty is relative to the mean square
    of the inputs. No inputs (a window of one row, relative to itself): no coefficients."""
    if inputs.shape[1] == 0:
        return np.zeros((0, targets.shape[1]))
    gram = inputs.T @ inputs
    gram += penalty * max(float(np.trace(gram)) / len(gram), 1e-12) * np.eye(len(gram))
    return np.linalg.solve(gram, inputs.T @ targets)


def _fit_ar(recent: np.ndarray, future: np.ndarray, level: bool, penalty: float):
    """ar (`level` False) or ar-level on one column's windows [n, reach] and targets
    [n, horizon] -> (weights [horizon, reach], bias [horizon])."""
    if level:  # z_{T+k} on the window and a constant
        coef = _ridge(np.concatenate([recent, np.ones((len(recent), 1))], axis=1), future,
                      penalty)
        return coef[:-1].T, coef[-1]
    # z_{T+k} - z_T on the window relative to its last value
    coef = _ridge(recent[:, :-1] - recent[:, -1:], future - recent[:, -1:], penalty)
    weights = np.zeros((future.shape[1], recent.shape[1]))
    weights[:, :-1] = coef.T
    weights[:, -1] = 1.0 - coef.sum(axis=0)  # z_T + sum_r c_r (z_r - z_T)
    return weights, np.zeros(future.shape[1])


def _fit_ar_season(recent: np.ndarray, future: np.ndarray, season: int, penalty: float):
    """ar-season: the seasonal naive forecast plus a ridge regression of what it misses
    (z_{T+k} - z_{T+k-b}) on the window's seasonal differences (z_t - z_{t-m}), as a
    seasonal ARIMA with one seasonal difference; linear in the window, no bias."""
    reach, horizon = recent.shape[1], future.shape[1]
    naive = seasonal_weights("season", horizon, season)  # [horizon, m]
    base = np.zeros((horizon, reach))
    base[:, reach - season:] = naive
    differences = np.zeros((reach - season, reach))  # rows: z_t - z_{t-m}
    differences[:, season:] = np.eye(reach - season)
    differences[:, :reach - season] -= np.eye(reach - season)
    coef = _ridge(recent @ differences.T, future - recent @ base.T, penalty)
    return base + coef.T @ differences, np.zeros(horizon)


def arima_orders(season: int | None, window: int) -> list[int]:
    """The orders arima tries: ARIMA_ORDERS, and the season's lag m, m + 1 for a season
    of 2..ARIMA_SEASON_MAX; each needs a window of order + 1 rows."""
    seasonal = [season, season + 1] if season and 1 < season <= ARIMA_SEASON_MAX else []
    return [p for p in (*ARIMA_ORDERS, *seasonal) if p < window]


def _fit_arima(recent: np.ndarray, future: np.ndarray, order: int, penalty: float):
    """arima: a ridge AR(`order`) of the one-step changes, fitted on every change of the
    windows' rows and targets with `order` changes before it (not one regression per
    step, as ar: h times the samples for `order` coefficients), then iterated `horizon`
    steps onto the last value. No constant: a drift fitted on the training rows carried
    a past trend on (US construction jobs, 2006-12: validation MAE 0.035 -> 0.21).
    Linear in the window's last `order` + 1 rows -> (weights [horizon, reach], bias 0)."""
    reach, horizon = recent.shape[1], future.shape[1]
    changes = np.diff(np.concatenate([recent, future], axis=1), axis=1)
    rows = np.arange(order, changes.shape[1])  # the change each sample predicts
    lagged = changes[:, rows[:, None] + np.arange(-order, 0)].reshape(-1, order)
    targets = changes[:, rows].reshape(-1, 1)
    if len(lagged) > MAX_FIT_WINDOWS:  # a seeded sample, as for the windows
        keep = np.random.default_rng(0).choice(len(lagged), MAX_FIT_WINDOWS, replace=False)
        lagged, targets = lagged[keep], targets[keep]
    coef = _ridge(lagged, targets, penalty)[:, 0]  # oldest change first
    # Every change as weights over the window's rows: the window's last `order` changes,
    # then each forecast step's, and the level z_T plus the steps so far.
    eye = np.eye(reach)
    past = [eye[i + 1] - eye[i] for i in range(reach - order - 1, reach - 1)]
    level, weights = eye[reach - 1], np.zeros((horizon, reach))
    for k in range(horizon):
        past.append(coef @ np.array(past[-order:]))
        level = level + past[-1]
        weights[k] = level
    return weights, np.zeros(horizon)


def _history_arima(history: np.ndarray, d: int, drift: bool, window: int, horizon: int,
                   lag: int = 0, season: int | None = None):
    """An ARIMA(p, d, 0) fitted by conditional least squares on every row of `history`
    (not on windows: one series' rows before its forecast), p in 0..HISTORY_ORDERS_MAX
    and, where `drift`, a constant chosen by AICc as AutoARIMA chooses within one
    differencing; with a `season` m of up to SEASONAL_LAG_MAX beyond those orders that the
    window holds, each order also with the lag m (a seasonal AR(1)); its forecast iterated
    `horizon` steps as weights over the window's last rows -> (weights [horizon, window],
    bias [horizon]: the drift), or None where the history is too short for any order."""
    difference = np.array([1.0])
    for _ in range(d):
        difference = np.convolve(difference, [1.0, -1.0])
    if lag:
        difference = np.convolve(difference, np.r_[1.0, np.zeros(lag - 1), -1.0])
    w = np.convolve(history, difference, mode="valid")  # the differenced series
    most = min(HISTORY_ORDERS_MAX, window - (len(difference) - 1))
    if most < 0:
        return None
    lag_sets = [list(range(1, p + 1)) for p in range(most + 1)]
    if season and most < season <= SEASONAL_LAG_MAX and season + len(difference) - 1 <= window:
        lag_sets += [lags + [season] for lags in lag_sets]
    start = max(lags[-1] if lags else 0 for lags in lag_sets)
    y, best = w[start:], None
    for lags in lag_sets:
        for constant in (False, True) if drift else (False,):
            k = len(lags) + constant + 1  # parameters, the variance among them
            if len(y) - k - 1 <= 0:
                continue
            x = np.array([w[start - i:len(w) - i] for i in lags]
                         + [np.ones(len(y))] * constant).reshape(-1, len(y)).T
            coef = _ridge(x, y[:, None], 1e-6)[:, 0]
            sse = float(np.sum((y - x @ coef) ** 2)) + 1e-12 * len(y)
            aicc = len(y) * np.log(sse / len(y)) + 2 * k + 2 * k * (k + 1) / (len(y) - k - 1)
            if best is None or aicc < best[0]:
                phi = np.zeros(lags[-1] if lags else 0)
                phi[np.array(lags, int) - 1] = coef[:len(lags)]
                best = (aicc, phi, coef[len(lags)] if constant else 0.0)
    if best is None:
        return None
    _, phi, c = best
    full = np.convolve(np.r_[1.0, -phi], difference)  # (1 - sum phi_i B^i)(1 - B)^d y_t = c
    g, reach = -full[1:], len(full) - 1
    rows, bias = list(np.eye(window)[window - reach:]), [0.0] * reach
    for _ in range(horizon):  # y_t = c + sum_j g_j y_{t-j}, each y as weights over the window
        rows.append(sum(g[j] * rows[-1 - j] for j in range(reach)))
        bias.append(c + sum(g[j] * bias[-1 - j] for j in range(reach)))
    return np.array(rows[reach:]), np.array(bias[reach:])


# ------------------------------------------------------------------- choosing


def _cut(column: np.ndarray, starts: np.ndarray, window: int, horizon: int,
         window_scaled: bool) -> tuple[np.ndarray, np.ndarray]:
    """One column's windows [n, window] and targets [n, horizon]; with `window_scaled`
    in each window's own standardised units (`data.window_scaling`)."""
    x = column[starts[:, None] + np.arange(-window, 0)]
    y = column[starts[:, None] + np.arange(horizon)]
    if window_scaled:
        level, scale = window_scaling.stats(x[:, :, None])
        x, y = (x - level[:, :, 0]) / scale[:, :, 0], (y - level[:, :, 0]) / scale[:, :, 0]
    return x, y


def _sample(starts: np.ndarray, seed: int = 0) -> np.ndarray:
    return (starts if len(starts) <= MAX_FIT_WINDOWS else
            np.sort(np.random.default_rng(seed).choice(starts, MAX_FIT_WINDOWS, replace=False)))


def fit_candidates(column: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray,
                   horizon: int, season: int | None, window: int, names: list[str] | None = None,
                   window_scaled: bool = False, history: bool = False
                   ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every candidate for one scaled column: name -> (weights [horizon, window],
    bias [horizon], validation MAE per step [horizon]).

    Regressions are fitted on the training windows (their penalty chosen on the
    validation ones), scored on the validation windows, then refitted on both.
    With `window_scaled` every window is first standardised by its own statistics.
    """
    train_x, train_y = _cut(column, _sample(train_starts), window, horizon, window_scaled)
    val_x, val_y = _cut(column, _sample(val_starts, 1), window, horizon, window_scaled)
    fixed = _fixed_candidates(horizon, season, window)

    def val_error(w, b):  # per step [horizon]
        return np.mean(np.abs(val_x @ w.T + b - val_y), axis=0)

    options = {}
    # (ar-season needs a season and a window of two seasons at least: differences to learn
    # from; see AR_SEASON for why not in window-scaled units)
    seasonal = (["ar-season"] if AR_SEASON and not window_scaled and season and season > 1
                and window >= 2 * season else [])
    # (arima not in window-scaled units, as ar-season: measured on singles only)
    arima = ["arima"] if not window_scaled and window >= 2 else []
    first = int(train_starts.min()) - window  # one series' first row (`history`)
    scored_end = int(train_starts.max()) + horizon  # its rows before the scored windows
    last = int(max(train_starts.max(), val_starts.max())) + horizon  # before the test part
    for name in _history_names(season, window) if history else ():
        if names is not None and name not in names:
            continue
        fit = _history_fit(name, column[first:scored_end], season, window, horizon)
        if fit is not None:  # refitted on every row before the test part, as the others
            refit = (fit if scored_end == last  # (no validation part: the same rows)
                     else _history_fit(name, column[first:last], season, window, horizon))
            options[name] = (*refit, val_error(*fit))
    for name in [*fixed, "ar", "ar-level", *seasonal, *arima]:
        if names is not None and name.split("/")[0] not in names:
            continue
        if name in fixed:
            w = np.zeros((horizon, window))
            w[:, window - fixed[name].shape[1]:] = fixed[name]
            b = np.zeros(horizon)
            options[name] = (w, b, val_error(w, b))
            continue

        def fitted(x, y, setting, name=name):
            if name == "arima":
                return _fit_arima(x, y, setting, 1e-3)
            if name == "ar-season":
                return _fit_ar_season(x, y, season, setting)
            return _fit_ar(x, y, name == "ar-level", setting)

        # The penalty (arima: the order) is chosen on validation too (the first of the lowest).
        settings = RIDGE_PENALTIES if name != "arima" else arima_orders(season, window)
        errors = [val_error(*fitted(train_x, train_y, setting)) for setting in settings]
        best = min(range(len(errors)), key=lambda i: errors[i].mean())
        # Refit on every window before the test part, with the chosen setting.
        w, b = fitted(np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y]),
                      settings[best])
        options[name] = (w, b, errors[best])
    return options


def _history_names(season: int | None, window: int) -> list[str]:
    """The candidates fitted on one series' rows: `HISTORY_ARIMAS` (arima-season with a
    season) and sarima (a season of `seasonal_arima.SEASONS` and a window past it)."""
    seasonal = bool(season and season > 1)
    return ([name for name, (_, difference, _) in HISTORY_ARIMAS.items()
             if seasonal or not difference]
            + ["sarima"] * (season in seasonal_arima.SEASONS and window >= season + 2))


def _history_fit(name: str, rows: np.ndarray, season: int | None, window: int, horizon: int):
    """(weights [horizon, window], bias [horizon]) of the history candidate `name` fitted
    on `rows` (one series' rows before the part it is scored on), or None where they are
    too few: sarima needs more than three seasons of them."""
    if name == "sarima":
        model = seasonal_arima.fit(rows, season) if len(rows) > 3 * season else None
        return None if model is None else seasonal_arima.forecast_weights(model, window, horizon)
    d, seasonal_difference, drift = HISTORY_ARIMAS[name]
    return _history_arima(rows, d, drift, window, horizon, season if seasonal_difference else 0,
                          season)


def choose(scaled: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray,
           horizon: int, n_targets: int, season: int | None, window: int,
           choice: str = "auto", window_scaled: bool = False,
           fixed_only: bool = False, history: bool = False) -> tuple[Anchor, dict]:
    """The anchor for a run (see the module docstring) and each candidate's validation
    MAE per target, in z-scores.

    `choice` restricts the candidates to one kind (`--anchor`; the best season count
    for season-level); `auto` averages the `COMBINED` candidates with the lowest
    validation MAE that lie within `CLOSE` x the best, target by target.
    `window_scaled`: the anchor works in each window's own standardised units
    (`data.window_scaling`, a panel's default), and is fitted there. `fixed_only`: `auto`
    weighs only the candidates that fit nothing (a series with no validation part scores
    them on its training windows, where a fitted one would score its own fit).
    """
    check_choice("anchor", choice, CHOICES)
    if choice in ("none", "network"):  # (network's fallback: `choose` again with auto)
        return Anchor.none(horizon, n_targets), {}
    if choice in ("season", "season-level") and not any(
            name.startswith(choice) for name in _fixed_candidates(horizon, season, window)):
        raise UserError(f"--anchor {choice} needs a season (--season) of which the window "
                        f"({window} rows) holds the anchor's reach")
    few = too_few_to_choose(len(val_starts), horizon, fixed_only)
    # (the partner's seasonality test reads every row before the test part, as the split's
    # does: docs/accuracy.md, "Sixteenth session", 72 months 0.806 -> 0.692)
    first, train_end = int(train_starts.min()) - window, int(train_starts.max()) + horizon
    end = max(train_end, int(val_starts.max()) + horizon)
    weights = np.zeros((n_targets, horizon, window))
    bias = np.zeros((n_targets, horizon))
    chosen: list[list[str]] = []
    report = {}
    for target in range(n_targets):
        names = [choice] if choice != "auto" else (
            [*_fixed_candidates(horizon, season, window), *_history_names(season, window)]
            if fixed_only
            else None)
        options = fit_candidates(scaled[:, target], train_starts, val_starts, horizon, season,
                                 window, names, window_scaled, history)
        error = {name: float(options[name][2].mean()) for name in options}
        partner = (_partner(options, season, scaled[first:end, target], train_end - first)
                   if few and choice == "auto" else None)
        ranked = sorted((name for name in options if name != partner
                         and name not in PARTNER_ONLY), key=error.get)
        picked = [name for name in ranked[:COMBINED if choice == "auto" else 1]
                  if error[name] <= CLOSE * error[ranked[0]]] + ([partner] if partner else [])
        share = PARTNER_SHARES.get(partner) if len(picked) > 1 else None
        for i, part in enumerate((weights, bias)):  # the mean, or the partner's share of it
            fits = [options[name][i] for name in picked]
            part[target] = (np.mean(fits, axis=0) if share is None
                            else (1 - share) * np.mean(fits[:-1], axis=0) + share * fits[-1])
        chosen.append(picked)
        report[f"target {target}"] = {name: error[name]
                                      for name in sorted(options, key=error.get)}
    # Trim the rows no step reads, so the anchor's reach is as short as it can be.
    used = np.flatnonzero(np.abs(weights).sum(axis=(0, 1)) > 0)
    reach = window - int(used[0]) if len(used) else 1
    return Anchor(weights[:, :, window - reach:], bias, chosen), report


def too_few_to_choose(val_windows: int, horizon: int, in_sample: bool) -> bool:
    """Fewer validation windows than the horizon, or none (`in_sample`: the training
    windows stand in): too few for a single series' anchor to be chosen on alone (its
    choice gets a partner, `PARTNER_SEASONS`) or for the floor (`train.few_windows`)."""
    return in_sample or val_windows < horizon


def _partner(options: dict, season: int | None, history: np.ndarray,
             training_rows: int) -> str | None:
    """The history ARIMA a choice made on few validation windows is averaged with
    (PARTNER_SEASONS), None where there is none (a panel): `history` are the series' rows
    before its test part, of which `training_rows` before its validation part."""
    seasonal = bool(season and season > 1) and is_seasonal(history, season)
    if "sarima" in options and seasonal:
        return "sarima"
    if ("arima-season" in options
            and (training_rows >= PARTNER_SEASONS * season or seasonal)):
        return "arima-season"
    return "arima-trend" if "arima-trend" in options else None


def is_seasonal(values: np.ndarray, season: int) -> bool:
    """Whether `values` change with a season of `season` rows: the autocorrelation of their
    one-step changes at lag `season` lies above the 90% limit of Bartlett's formula, as
    statsforecast's and R's Theta test their values (the changes, so that a trend does not
    pass for a season)."""
    changes = np.diff(values)
    if len(changes) <= season + 1:  # (before the mean: an empty one warns)
        return False
    changes = changes - changes.mean()
    total = float(changes @ changes)
    if total == 0:
        return False
    acf = [float(changes[:-lag] @ changes[lag:]) / total for lag in range(1, season + 1)]
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(np.square(acf[:-1]))) / len(changes))
    return bool(acf[-1] > limit)


def naive_anchors(horizon: int, n_targets: int, season: int | None,
                  window: int) -> dict[str, Anchor]:
    """The naive forecasts as anchors, for the floor of a run (`train.floor`):
    `last` (naive persistence) and, when there is a season the window holds, `season`
    (seasonal naive). Parameter-free, so nothing is fitted and nothing can overfit."""
    return {name: Anchor(np.repeat(w[None], n_targets, axis=0), np.zeros((n_targets, horizon)),
                         [[name] for _ in range(n_targets)])
            for name, w in _fixed_candidates(horizon, season, window).items()
            if name in ("last", "season")}


def mean_with_model(model: Anchor, other: Anchor) -> Anchor:
    """The anchor of the mean of a trained model (anchor `model` + network) and the
    forecast `other`: half of each anchor's weights and bias, over the longer reach. The
    caller halves the network's output (`train.scale_network`); the network's inputs stay
    what it was trained on (`Anchor.relative_inputs`)."""
    reach = max(model.reach, other.reach)

    def padded(anchor):  # zero weights for the older rows it does not read
        weights = np.zeros((*anchor.weights.shape[:2], reach))
        weights[:, :, reach - anchor.reach:] = anchor.weights
        return weights

    return Anchor(0.5 * (padded(model) + padded(other)), 0.5 * (model.bias + other.bias),
                  [list(names) for names in other.parts], model.describe())


def of_run(config) -> Anchor:
    """The anchor a run (`config.RunConfig`) trained with."""
    return Anchor.from_dict(config.anchor, config.data.horizon, len(config.data.targets))
