"""Anchors (lstm_tf/anchors.py): the linear forecasts the network corrects.

Each candidate is checked against an independent hand computation; NumPy and the
TensorFlow graph agree; the auto choice finds the right structure on series where
the answer is known.
"""

import warnings

import numpy as np
import pytest

from lstm_tf import anchors
from lstm_tf.anchors import Anchor, seasonal_weights, trend_weights


def apply(weights, window):
    """weights [horizon, reach] on one window [time] (its last `reach` rows)."""
    return weights @ window[len(window) - weights.shape[1]:]


def test_seasonal_candidates_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    m, horizon = 4, 6
    last = apply(seasonal_weights("last", horizon), x)
    assert np.array_equal(last, np.full(horizon, x[-1]))
    season = apply(seasonal_weights("season", horizon, m), x)
    # step k (1-based) repeats the value m*ceil(k/m) rows before it: rows 36..39, then again
    T = len(x)
    assert np.allclose(season, [x[T - 1 + k - m * -(-k // m)] for k in range(1, horizon + 1)])
    level = apply(seasonal_weights("season-level", horizon, m, 2), x)
    expected = []
    for k in range(1, horizon + 1):
        back = m * -(-k // m)
        changes = [x[T - 1 + k - back - m * j] - x[T - 1 - back - m * j] for j in range(2)]
        expected.append(x[-1] + np.mean(changes))
    assert np.allclose(level, expected)


def test_season_level_follows_a_seasonal_trend_exactly():
    t = np.arange(60.0)
    x = 3.0 + 0.5 * t + np.sin(2 * np.pi * t / 12)
    window, future = x[:48], x[48:60]
    for seasons in (1, 2, 3):
        got = apply(seasonal_weights("season-level", 12, 12, seasons), window)
        assert np.allclose(got, future, atol=1e-9)
    # seasonal naive lags the trend by a whole season
    assert np.allclose(apply(seasonal_weights("season", 12, 12), window), future - 6.0)


def test_every_anchor_weight_row_sums_to_one():
    """Weights summing to 1 make an anchor commute with the z-score."""
    for kind, args in [("last", ()), ("season", (7,)), ("season-level", (7, 3))]:
        w = seasonal_weights(kind, 10, *args)
        assert np.allclose(w.sum(axis=1), 1.0)


def test_drift_follows_a_linear_trend_exactly_and_theta_is_the_theta_method():
    t = np.arange(30.0)
    line = 3.0 + 0.5 * t
    window, future = line[:20], line[20:26]
    for reach in (2, 4, 20):
        assert np.allclose(apply(trend_weights("drift", 6, reach), window), future, atol=1e-9)
    # theta by hand: SES with alpha 0.5 over the last 5 rows (renormalised weights
    # 16:8:4:2:1 from the last row back) plus half the OLS slope times k - 1 + (1 - 0.5^5) / 0.5
    rng = np.random.default_rng(4)
    x = rng.normal(size=12).cumsum()
    recent = x[-5:]
    level = np.dot([1, 2, 4, 8, 16], recent) / 31
    slope = np.polyfit(np.arange(5), recent, 1)[0]
    expected = [level + 0.5 * slope * (k - 1 + (1 - 0.5 ** 5) / 0.5) for k in (1, 2, 3)]
    assert np.allclose(apply(trend_weights("theta", 3, 5), x), expected)
    # damped by hand: on the line, step k adds the slope times 0.9 + ... + 0.9^k, not k
    for reach in (2, 4, 20):
        damped = [window[-1] + 0.5 * sum(0.9 ** j for j in range(1, k + 1)) for k in range(1, 7)]
        assert np.allclose(apply(trend_weights("damped", 6, reach), window), damped, atol=1e-9)
    assert anchors.DAMPING == 0.9
    for kind in ("drift", "damped", "theta"):
        assert np.allclose(trend_weights(kind, 7, 6).sum(axis=1), 1.0)  # commutes with z-scores
    # auto weighs them when the window holds two rows; on a noisy trend drift's validation
    # error is that of the noise (MAE 0.04 of N(0, 0.05) plus its slope's), persistence's
    # the trend's (0.3 x 3.5 steps on average)
    assert {"drift", "damped", "theta"} <= set(anchors._fixed_candidates(6, None, 2))
    assert set(anchors._fixed_candidates(6, None, 1)) == {"last"}
    noisy = 0.3 * np.arange(400.0) + 0.05 * rng.normal(size=400)
    starts = np.arange(10, 394)
    _, report = anchors.choose(noisy[:, None], starts[:300], starts[300:], 6, 1, None, 10)
    assert report["target 0"]["drift"] < 0.1
    assert report["target 0"]["last"] > 10 * report["target 0"]["drift"]


def test_ar_candidate_forecasts_an_autoregression_as_well_as_the_true_model():
    rng = np.random.default_rng(1)
    n = 3000
    x = np.zeros(n)
    for t in range(2, n):  # a stationary AR(2) around 0
        x[t] = 0.6 * x[t - 1] - 0.3 * x[t - 2] + 0.1 * rng.normal()
    starts = np.arange(8, n - 1)
    options = anchors.fit_candidates(x, starts[:2500], starts[2500:], 1, None, 8,
                                     ["ar-level", "last"])
    weights, bias, error = options["ar-level"]
    assert weights[0, -1] == pytest.approx(0.6, abs=0.1)
    assert weights[0, -2] == pytest.approx(-0.3, abs=0.1)
    val = starts[2500:]
    true_error = np.mean(np.abs(0.6 * x[val - 1] - 0.3 * x[val - 2] - x[val]))
    assert error[0] < 1.03 * true_error
    assert options["last"][2][0] > 1.2 * true_error  # persistence is clearly worse


def test_auto_picks_seasonal_anchors_for_a_seasonal_series_and_ar_for_a_random_walk():
    rng = np.random.default_rng(2)
    t = np.arange(600)
    seasonal = np.sin(2 * np.pi * t / 12) + 0.05 * rng.normal(size=600)
    starts = np.arange(37, 590)
    anchor, report = anchors.choose(seasonal[:, None], starts[:450], starts[450:], 6, 1, 12, 37)
    assert not set(anchor.parts[0]) & {"last"}
    assert report["target 0"]["last"] > 5 * min(report["target 0"].values())
    walk = np.cumsum(rng.normal(size=600))
    anchor, report = anchors.choose(walk[:, None], starts[:450], starts[450:], 1, 1, None, 37)
    # a random walk: nothing beats persistence by much; the anchor stays close to it
    best = min(report["target 0"].values())
    assert report["target 0"]["last"] <= 1.1 * best


def test_numpy_and_tensorflow_anchor_agree_and_round_trip():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 2)).cumsum(axis=0)
    starts = np.arange(25, 290)
    anchor, _ = anchors.choose(z, starts[:200], starts[200:], 4, 2, 6, 25)
    assert anchor.weights.shape[:2] == (2, 4) and anchor.reach <= 25
    again = Anchor.from_dict(anchor.to_dict())
    windows = np.stack([z[s - 25:s] for s in starts[:50]])
    import tensorflow as tf

    got = anchor.tf_forecast(tf.constant(windows, tf.float32), 2).numpy()
    assert np.allclose(got, again.forecast(windows, 2), atol=1e-4)
    inputs = anchor.tf_network_inputs(tf.constant(windows, tf.float32), 1).numpy()
    assert np.allclose(inputs, anchor.network_inputs(windows, 1), atol=1e-5)
    assert np.all(inputs[:, -1, 0] == 0) and np.allclose(inputs[:, :, 1], windows[:, :, 1])


def test_history_arima_fits_every_row_and_chooses_its_order_by_aicc():
    """arima-trend: an ARIMA(p,1,0) with a drift, fitted by least squares on every row of
    the series (not on windows), p and the drift chosen by AICc; its weights and bias
    forecast what the recursion with independently fitted coefficients forecasts. On an
    ARI(1,1) with drift the order and both coefficients are found; on a random walk
    without drift AICc keeps no coefficient (naive persistence). arima-curve (d = 2)
    continues a quadratic, arima-season (a seasonal difference) a seasonal walk's drift."""
    rng = np.random.default_rng(3)
    changes = np.zeros(600)
    for t in range(1, len(changes)):
        changes[t] = 0.4 + 0.6 * (changes[t - 1] - 1.0) + 0.6 + 0.05 * rng.normal()
    x = np.cumsum(changes)  # changes revert to their mean 1.0: phi 0.6, constant 0.4
    window, horizon = 6, 4
    weights, bias = anchors._history_arima(x, 1, True, window, horizon)
    dx = np.diff(x)
    (phi, c), *_ = np.linalg.lstsq(np.stack([dx[2:-1], np.ones(len(dx) - 3)], axis=1),
                                   dx[3:], rcond=None)  # (the sample AICc fitted: lags 1..3)
    assert phi == pytest.approx(0.6, abs=0.05) and c == pytest.approx(0.4, abs=0.05)
    level, change, expected = x[-1], x[-1] - x[-2], []
    for _ in range(horizon):
        change = c + phi * change
        level += change
        expected.append(level)
    assert weights.shape == (horizon, window) and not weights[:, :-2].any()  # reach p + d
    assert np.allclose(apply(weights, x) + bias, expected, atol=1e-6)
    walk = np.cumsum(rng.normal(size=400))
    weights, bias = anchors._history_arima(walk, 1, True, window, horizon)
    assert np.allclose(weights, seasonal_weights("last", horizon)[:, -1:] * np.eye(window)[-1])
    assert np.allclose(bias, 0)
    t = np.arange(30.0)
    weights, bias = anchors._history_arima(0.1 * t ** 2, 2, False, window, horizon)
    assert np.allclose(apply(weights, 0.1 * t ** 2) + bias, 0.1 * (30 + np.arange(horizon)) ** 2)
    assert anchors._history_arima(x[:4], 1, True, window, horizon) is None  # too short
    # arima-season: y_t = y_{t-m} + c (a seasonal random walk with drift) continued
    m, c = 4, 0.3
    seasonal = np.zeros(200)
    seasonal[:m] = [0.0, 2.0, -1.0, 1.0]
    for t in range(m, len(seasonal)):
        seasonal[t] = seasonal[t - m] + c + 1e-3 * rng.normal()
    weights, bias = anchors._history_arima(seasonal, 0, True, window, horizon, m)
    expected = [seasonal[len(seasonal) - m + k % m] + c * (k // m + 1) for k in range(horizon)]
    assert np.allclose(apply(weights, seasonal) + bias, expected, atol=0.01)


def test_few_validation_windows_average_the_choice_with_a_history_arima():
    """A single series chosen on fewer validation windows than the horizon (one here; or
    none: its training windows) forecasts the mean of what they chose and a partner whose
    order rests on every row: arima-trend, or arima-season where the rows hold 8 seasons.
    With more windows arima-trend is one candidate among the others, arima-season none."""
    rng = np.random.default_rng(0)
    x = np.cumsum(0.5 + rng.normal(size=80))
    window, horizon = 8, 6
    starts = np.arange(window, len(x) - horizon + 1)
    train, one = starts[:50], starts[-1:]
    anchor, _ = anchors.choose(x[:, None], train, one, horizon, 1, None, window, history=True)
    parts = anchor.parts[0]
    assert parts[-1] == "arima-trend" and len(parts) >= 2
    options = anchors.fit_candidates(x, train, one, horizon, None, window, history=True)
    mean = np.mean([options[name][0] for name in parts], axis=0)
    assert np.allclose(anchor.weights[0], mean[:, window - anchor.reach:])
    assert np.allclose(anchor.bias[0], np.mean([options[name][1] for name in parts], axis=0))
    several, report = anchors.choose(x[:, None], train, starts[50:], horizon, 1, None, window,
                                     history=True)
    errors = report["target 0"]
    ranked = sorted(errors, key=errors.get)
    assert "arima-trend" in errors and len(starts[50:]) >= horizon
    assert several.parts[0] == [name for name in ranked[:anchors.COMBINED]
                                if errors[name] <= anchors.CLOSE * errors[ranked[0]]]
    # a season of 4 and 20 seasons of rows: arima-season, never a candidate of its own
    m = 4
    seasonal = np.tile([0.0, 2.0, -1.0, 1.0], 20) + 0.05 * np.arange(80) + 0.1 * rng.normal(
        size=80)
    few, report = anchors.choose(seasonal[:, None], train, starts[-3:], horizon, 1, m, window,
                                 history=True)
    assert few.parts[0][-1] == "arima-season" and "arima-season" in report["target 0"]
    many, _ = anchors.choose(seasonal[:, None], train, starts[50:], horizon, 1, m, window,
                             history=True)
    assert "arima-season" not in many.parts[0]
    # a panel (no one series' rows): no history ARIMA
    assert not set(anchors.HISTORY_ARIMAS) & set(
        anchors.fit_candidates(x, train, one, horizon, None, window))


def test_a_seasonal_series_partners_with_a_seasonal_arima_before_8_seasons():
    """Fewer than PARTNER_SEASONS seasons of rows take a seasonal partner where their
    changes are seasonal (`is_seasonal`: the autocorrelation at the season's lag above
    Bartlett's 90% limit): sarima for a monthly season (`seasonal_arima.SEASONS`),
    arima-season for a quarterly one; arima-trend where they trend without a season."""
    rng = np.random.default_rng(1)
    t = np.arange(84)  # 7 seasons of 12
    seasonal = 0.1 * t + np.sin(2 * np.pi * t / 12) + 0.2 * rng.normal(size=84)
    trending = np.cumsum(0.1 + rng.normal(size=84))
    assert anchors.is_seasonal(seasonal, 12) and not anchors.is_seasonal(trending, 12)
    assert not anchors.is_seasonal(0.1 * t, 12)  # a straight line: no change varies
    assert not anchors.is_seasonal(seasonal[:13], 12)  # too few changes to tell
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no rows at all: no "Mean of empty slice" either
        assert not anchors.is_seasonal(np.array([]), 12)
    window, horizon = 24, 12
    starts = np.arange(window, 84 - horizon + 1)
    for values, partner in ((seasonal, "sarima"), (trending, "arima-trend")):
        anchor, _ = anchors.choose(values[:, None], starts[:-1], starts[-1:], horizon, 1, 12,
                                   window, history=True)
        assert anchor.parts[0][-1] == partner
    quarterly = 0.1 * t[:28] + np.sin(np.pi * t[:28] / 2) + 0.1 * rng.normal(size=28)
    starts = np.arange(8, 28 - 4 + 1)  # 7 seasons of 4, window 8, horizon 4
    anchor, _ = anchors.choose(quarterly[:, None], starts[:-1], starts[-1:], 4, 1, 4, 8,
                               history=True)
    assert anchor.parts[0][-1] == "arima-season"


def test_arima_is_an_iterated_autoregression_of_the_changes():
    """arima: an AR(p) of the one-step changes, least squares over every step of the
    training windows, iterated h steps onto the last value: on an ARI(2,1) process the
    coefficients are found, and the weights forecast exactly what the recursion with the
    coefficients fitted independently (NumPy's lstsq) forecasts."""
    rng = np.random.default_rng(5)
    changes = np.zeros(4000)
    for t in range(2, len(changes)):
        changes[t] = 0.5 * changes[t - 1] - 0.2 * changes[t - 2] + 0.1 * rng.normal()
    x = np.cumsum(changes)
    window, horizon = 10, 5
    starts = np.arange(window, len(x) - horizon)
    recent = x[starts[:, None] + np.arange(-window, 0)]
    future = x[starts[:, None] + np.arange(horizon)]
    weights, bias = anchors._fit_arima(recent, future, 2, 1e-12)
    assert np.allclose(bias, 0) and np.allclose(weights.sum(axis=1), 1.0)  # z-score safe
    assert weights.shape == (horizon, window) and not weights[:, :-3].any()  # reach p + 1
    steps = np.diff(np.concatenate([recent, future], axis=1), axis=1)
    lagged = np.stack([steps[:, 0:-2], steps[:, 1:-1]], axis=-1).reshape(-1, 2)
    (older, newer), *_ = np.linalg.lstsq(lagged, steps[:, 2:].reshape(-1), rcond=None)
    assert newer == pytest.approx(0.5, abs=0.05) and older == pytest.approx(-0.2, abs=0.05)
    last = x[-window:]
    history, level, expected = list(np.diff(last)), last[-1], []
    for _ in range(horizon):
        history.append(newer * history[-1] + older * history[-2])
        level += history[-1]
        expected.append(level)
    assert np.allclose(weights @ last, expected, atol=1e-9)
    # auto weighs it, its order chosen on validation, in a run's z-scores, not in
    # window-scaled units (a panel's)
    val = starts[3000:]
    options = anchors.fit_candidates(x, starts[:3000], val, horizon, None, window)
    assert "arima" in options
    assert options["arima"][2].mean() < options["last"][2].mean()
    assert "arima" not in anchors.fit_candidates(x, starts[:3000], val, horizon, None, window,
                                                 window_scaled=True)


def test_history_arima_adds_the_seasonal_lag_of_a_quarterly_season():
    """For a season of up to SEASONAL_LAG_MAX (quarters) that the window holds, each
    history ARIMA order is also tried with the seasonal lag m (AICc chooses): on a
    series whose changes repeat a quarter's change (an ARIMA(0,1,0)(1,0,0)_4 with a drift)
    arima-trend finds the seasonal coefficient and forecasts what the recursion forecasts;
    without the season, or with a monthly one, its reach stays p + d rows."""
    rng = np.random.default_rng(5)
    m, phi, c = 4, 0.8, 0.2
    changes = np.zeros(400)
    changes[:m] = [1.0, -2.0, 3.0, -1.0]
    for t in range(m, len(changes)):
        changes[t] = c + phi * changes[t - m] + 0.05 * rng.normal()
    x = np.cumsum(changes)
    window, horizon = 8, 6
    weights, bias = anchors._history_arima(x, 1, True, window, horizon, season=m)
    dx = np.diff(x)
    (fitted_phi, fitted_c), *_ = np.linalg.lstsq(  # the lag m and a constant
        np.stack([dx[:-m], np.ones(len(dx) - m)], axis=1), dx[m:], rcond=None)
    assert fitted_phi == pytest.approx(phi, abs=0.02)
    level, recent, expected = x[-1], list(dx[-m:]), []
    for _ in range(horizon):  # the recursion with the least-squares coefficients
        recent.append(fitted_c + fitted_phi * recent[-m])
        level += recent[-1]
        expected.append(level)
    assert weights[:, :-(m + 1)].sum() == 0 and np.abs(weights[:, -(m + 1)]).sum() > 0.5
    assert np.allclose(apply(weights, x) + bias, expected, atol=0.05)
    errors = {}
    for season in (m, None, 12):
        weights, bias = anchors._history_arima(x[:-horizon], 1, True, window, horizon,
                                               season=season)
        if season != m:  # reach p + d at most (p <= 3)
            assert not weights[:, :window - (anchors.HISTORY_ORDERS_MAX + 1)].any()
        errors[season] = np.mean(np.abs(apply(weights, x[:-horizon]) + bias - x[-horizon:]))
    assert errors[m] < 0.5 * errors[None]
