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
