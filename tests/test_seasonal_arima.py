"""The seasonal ARIMA anchor (`lstm_tf/seasonal_arima.py`, `sarima` in anchors.py): its
window predictor against statsmodels' exact Kalman forecast, its fit, its KPSS test, and
the partner it is for a seasonal single series."""

import warnings

import numpy as np
import pytest

from lstm_tf import anchors, seasonal_arima
from lstm_tf.seasonal_arima import Model, fit, forecast_weights, level_stationary

SEASON, HORIZON = 12, 18


def simulated(seed: int, rows: int = 240, phi: float = 0.5, seasonal_theta: float = -0.6):
    """(1 - phi B)(1 - B^12) y_t = (1 + Theta B^12) e_t, from a random seasonal profile."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=rows + SEASON)
    w = np.zeros(rows)
    for t in range(rows):
        w[t] = (phi * w[t - 1] if t else 0.0) + e[t + SEASON] + seasonal_theta * e[t]
    y = np.zeros(rows)
    profile = 3 * rng.normal(size=SEASON)
    for t in range(rows):
        y[t] = (y[t - SEASON] if t >= SEASON else profile[t]) + w[t]
    return y


@pytest.mark.parametrize("d", [0, 1])
def test_the_window_predictor_is_statsmodels_exact_forecast(d):
    """Given the parameters, the weights over a window are the Gaussian best linear
    predictor from that window: statsmodels' SARIMAX (exact likelihood, Kalman filter) on
    the same rows forecasts the same to 1e-6."""
    sarimax = pytest.importorskip("statsmodels.tsa.statespace.sarimax")
    rng = np.random.default_rng(d)
    rows = 60
    y = (np.cumsum(rng.normal(size=rows)) if d
         else rng.normal(size=rows) + np.tile(rng.normal(size=SEASON), rows // SEASON))
    model = Model(np.array([0.5]), 0.0, {1: 0.3, SEASON: -0.6, SEASON + 1: -0.18}, d, SEASON)
    weights, bias = forecast_weights(model, rows, HORIZON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = sarimax.SARIMAX(y, order=(1, d, 1), seasonal_order=(0, 1, 1, SEASON))
        expected = exact.smooth([0.5, 0.3, -0.6, 1.0]).forecast(HORIZON)
    np.testing.assert_allclose(weights @ y + bias, expected, atol=1e-6)


def test_a_seasonal_random_walk_forecasts_seasonal_naive_plus_its_drift():
    """No AR and no moving average: the forecast is the value a season back (two, past
    the first season), plus the drift once per season."""
    weights, bias = forecast_weights(Model(np.zeros(0), 0.25, {}, 0, SEASON), 40, HORIZON)
    naive = anchors.seasonal_weights("season", HORIZON, SEASON)
    np.testing.assert_allclose(weights[:, -SEASON:], naive, atol=1e-9)
    np.testing.assert_allclose(weights[:, :-SEASON], 0.0, atol=1e-9)
    np.testing.assert_allclose(bias, 0.25 * (1 + np.arange(HORIZON) // SEASON), atol=1e-9)
    assert forecast_weights(Model(np.zeros(0), 0.0, {}, 1, SEASON), SEASON + 1, 3) is None


def test_fit_finds_the_seasonal_moving_average():
    """On 240 simulated rows of (1 - 0.5 B)(1 - B^12) y = (1 - 0.6 B^12) e, the fit keeps
    one seasonal difference and finds Theta and phi near their values."""
    model = fit(simulated(0), SEASON)
    assert model.d == 0 and model.c == 0.0
    assert model.ma[SEASON] == pytest.approx(-0.6, abs=0.15)
    assert model.phi[0] == pytest.approx(0.5, abs=0.15)
    assert fit(simulated(0)[:SEASON + 6], SEASON) is None  # too few rows for any model


def test_the_kpss_test_agrees_with_statsmodels():
    """`level_stationary` takes the same decision as statsmodels' KPSS with the same lags
    (statsforecast's ndiffs), on white noise and on random walks."""
    stattools = pytest.importorskip("statsmodels.tsa.stattools")
    rng = np.random.default_rng(5)
    agree, stationary = 0, []
    for i in range(60):
        x = rng.normal(size=150)
        x = np.cumsum(x) if i % 2 else x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = stattools.kpss(x, "c", nlags=int(3 * np.sqrt(len(x)) / 13))[1] >= 0.05
        agree += level_stationary(x) == theirs
        stationary.append(level_stationary(x))
    assert agree == 60
    assert np.mean(stationary[0::2]) > 0.8 and np.mean(stationary[1::2]) < 0.2


def test_a_seasonal_series_chosen_on_one_window_weighs_sarima_two_thirds():
    """A seasonal monthly series with one validation window: its anchor averages its
    choice with the sarima partner, which weighs PARTNER_SHARES (two thirds); sarima is a
    partner only, and not fitted for a quarterly season."""
    y = simulated(1, rows=102)
    z = (y - y[:84].mean()) / y[:84].std()
    window = 48
    train = np.arange(window, 84 - HORIZON + 1)
    val = np.array([84])
    anchor, _ = anchors.choose(z[:, None], train, val, HORIZON, 1, SEASON, window, history=True)
    assert anchor.parts[0][-1] == "sarima"
    options = anchors.fit_candidates(z, train, val, HORIZON, SEASON, window, history=True)
    others = np.mean([options[name][0] for name in anchor.parts[0][:-1]], axis=0)
    expected = (others + 2 * options["sarima"][0]) / 3
    np.testing.assert_allclose(anchor.weights[0], expected[:, window - anchor.reach:], atol=1e-12)
    assert anchors.PARTNER_SHARES["sarima"] == pytest.approx(2 / 3)
    assert "sarima" not in anchors.fit_candidates(z, train, val, HORIZON, 4, window,
                                                  history=True)
    assert 4 not in seasonal_arima.SEASONS and SEASON in seasonal_arima.SEASONS
