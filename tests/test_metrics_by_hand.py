"""metrics.json against a hand computation on a tiny series, in original units.

The baselines (naive, seasonal naive with --season) and the MASE scale are computed
here from the CSV alone; the model's MAE and RMSE from the model's own forecasts,
read through its exported ONNX graph (raw values in, raw values out), so the test
holds whatever the model's internal normalisation is.
"""

import json

import numpy as np
import onnxruntime as ort
import pytest

from helpers import run

ROWS, WINDOW, HORIZON, SEASON = 40, 4, 2, 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    i = np.arange(ROWS)
    y = 10 + 3 * np.sin(2 * np.pi * i / SEASON + 0.3) + (i * 7919 % 13) / 10 + 0.05 * i
    csv = root / "tiny.csv"
    csv.write_text("t,y\n" + "".join(f"{k},{float(v)!r}\n" for k, v in zip(i, y)))
    out = root / "run"
    result = run("train", "--data", csv, "--time-column", "t", "--target", "y", "--out", out,
                 "--window", WINDOW, "--horizon", HORIZON, "--season", SEASON,
                 "--val-fraction", 0.2, "--test-fraction", 0.2, "--units", 3, "--epochs", 2,
                 "--batch-size", 8, "-q")
    assert result.exit_code == 0, result.output
    result = run("export", out, "--out", root / "m.onnx", "--no-check")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    return y, metrics, root / "m.onnx"


# The split by hand: 20 % test (8 rows), 20 % validation (8 rows), the rest training.
TRAIN_END, VAL_END = 24, 32
# Test windows forecast rows t..t+1 for every t whose two targets lie in the test part.
STARTS = np.arange(VAL_END, ROWS - HORIZON + 1)


def actual(y):
    return np.array([[y[t + k] for k in range(HORIZON)] for t in STARTS])


def scale(y):  # in-sample MAE of one-step persistence on the training part
    train = y[:TRAIN_END]
    return sum(abs(train[k] - train[k - 1]) for k in range(1, TRAIN_END)) / (TRAIN_END - 1)


def check(entry, forecast, y):
    errors = (forecast - actual(y)).ravel()
    mae = sum(abs(e) for e in errors) / len(errors)
    rmse = (sum(e * e for e in errors) / len(errors)) ** 0.5
    assert entry["mae"] == pytest.approx(mae, rel=1e-9)
    assert entry["rmse"] == pytest.approx(rmse, rel=1e-9)
    assert entry["mase"] == pytest.approx(mae / scale(y), rel=1e-9)


def test_window_count_and_split(tiny):
    y, metrics, _ = tiny
    assert metrics["part"] == "test" and metrics["windows"] == len(STARTS) == 7
    assert metrics["season"] == SEASON


def test_naive_repeats_the_last_value(tiny):
    y, metrics, _ = tiny
    forecast = np.array([[y[t - 1]] * HORIZON for t in STARTS])
    check(metrics["naive"], forecast, y)


def test_seasonal_naive_repeats_the_value_one_season_back(tiny):
    y, metrics, _ = tiny
    forecast = np.array([[y[t + k - SEASON] for k in range(HORIZON)] for t in STARTS])
    check(metrics["seasonal_naive"], forecast, y)


def test_model_metrics_are_those_of_its_own_forecast(tiny):
    y, metrics, model = tiny
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    windows = np.array([y[t - WINDOW:t] for t in STARTS], np.float32)[:, :, None]
    (forecast,) = session.run(["forecast"], {"window": windows})
    forecast = forecast[:, :, 0].astype(np.float64)
    errors = (forecast - actual(y)).ravel()
    mae, rmse = np.abs(errors).mean(), np.sqrt((errors ** 2).mean())
    # float32 inside the model: agreement to float32 precision, in original units
    assert metrics["model"]["mae"] == pytest.approx(mae, rel=1e-5)
    assert metrics["model"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert metrics["model"]["mase"] == pytest.approx(mae / scale(y), rel=1e-5)
    assert metrics["model"]["mae"] != pytest.approx(metrics["naive"]["mae"], rel=1e-3)


def test_diebold_mariano_by_hand():
    """The keep rule's statistic (`train.KEEP_T`): d = 1, 2, 3, 4 with lag 1: mean 2.5,
    centred -1.5 -0.5 0.5 1.5, sum of squares 5, lag-1 products 1.25 weighted 1/2: a
    variance of the mean of (5 + 2 * 0.5 * 1.25) / 4^2, standard error 0.625, t = 4."""
    from lstm_tf.metrics import diebold_mariano

    one = np.zeros(4, np.int64)
    assert diebold_mariano(np.array([1.0, 2, 3, 4]), one, lag=1) == pytest.approx(4.0)
    assert diebold_mariano(-np.array([1.0, 2, 3, 4]), one, lag=1) == pytest.approx(-4.0)
    # lag 0: the plain t statistic of the mean (standard error sqrt(5) / 4)
    assert diebold_mariano(np.array([1.0, 2, 3, 4]), one, lag=0) == pytest.approx(
        2.5 / (np.sqrt(5) / 4))
    # Two series: no product across them. Series 0 holds 1, 2 (centred on the mean of all
    # four, 2.5: -1.5, -0.5, lag-1 product 0.75), series 1 holds 3, 4 (0.5, 1.5: 0.75):
    # variance (5 + 2 * 0.5 * (0.75 + 0.75)) / 16, t = 2.5 / sqrt(6.5 / 16).
    two = np.array([0, 0, 1, 1])
    assert diebold_mariano(np.array([1.0, 2, 3, 4]), two, lag=1) == pytest.approx(
        2.5 / np.sqrt(6.5 / 16))
    assert diebold_mariano(np.zeros(5), np.zeros(5, np.int64), lag=2) == 0.0
    assert diebold_mariano(np.full(3, -0.1), np.zeros(3, np.int64), lag=1) == -np.inf
    # One forecast (a single series whose validation part holds one window): no standard
    # error, no statistic, so the keep rule (`< -KEEP_T`) keeps no network on it.
    one_window = diebold_mariano(np.array([-0.1]), np.zeros(1, np.int64), lag=17)
    assert np.isnan(one_window) and not one_window < -0.5


def test_the_keep_rule_reads_the_statistic_of_the_per_window_mae_differences(monkeypatch):
    """`train.network_beats_anchor` on four validation windows of horizon 2 (lag 1) whose
    anchor misses every step by 1 and whose anchor + network misses by 1 - d/10, d = 1..4:
    per-window differences -0.1 .. -0.4, the statistic of the by-hand test above with its
    sign turned: -4. Kept (below -KEEP_T); a network that only matches the anchor, or
    that is better on average but not window by window, is not."""
    from types import SimpleNamespace

    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig

    gain = np.array([0.1, 0.2, 0.3, 0.4])
    network = object()
    monkeypatch.setattr(train_lib, "keras_predict", lambda model: network)

    def prepared(with_network):
        return SimpleNamespace(
            starts={"val": np.arange(10, 14)},
            actual=lambda starts, window, horizon: np.zeros((4, horizon, 1)),
            error_scale=lambda starts: np.ones(4),
            series_index=lambda starts: np.zeros(4, np.int64),
            forecast=lambda predict, starts, window, horizon: np.ones((4, horizon, 1)) - (
                with_network[:, None, None] if predict is network else 0))

    data = DataConfig(window=3, horizon=2)
    statistic = train_lib.network_beats_anchor(None, prepared(gain), data)
    assert statistic == pytest.approx(-4.0)
    assert statistic < -train_lib.KEEP_T
    assert train_lib.network_beats_anchor(None, prepared(0 * gain), data) == 0.0
    # Better on average (by 0.0125) but worse on two windows of four: no clear edge.
    noisy = train_lib.network_beats_anchor(None, prepared(np.array([0.3, -0.25, 0.2, -0.2])),
                                           data)
    assert -train_lib.KEEP_T < noisy < 0


def test_metrics_record_the_keep_statistic_that_decided(tiny):
    """The tiny run's network: kept exactly where its recorded statistic is below -KEEP_T
    (a finite number here: its validation windows differ from one another)."""
    from lstm_tf.train import KEEP_T

    _, metrics, _ = tiny
    statistic = metrics["keep_statistic"]
    assert isinstance(statistic, float) and np.isfinite(statistic)
    assert metrics["network_kept"] == (statistic < -KEEP_T)
