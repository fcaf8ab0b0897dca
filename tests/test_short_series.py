"""A panel's series too short to train (its rows before the held-out block hold a window,
not a window and its horizon) is forecast by the global model, not skipped: it has its
test window, its row in per_series.csv and metrics.json's means, its backtest forecast,
and `lstm-tf predict` forecasts it (issue 25, item 4; lstm_tf/data/split.py)."""

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from lstm_tf.data.sources import synthetic_panel
from lstm_tf_cli.main import cli

HORIZON, WINDOW, SHORT_ROWS = 6, 4, 13  # 13 rows: 7 before the test part, < 4 + 6


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def write_panel(path, cut: int = 0):
    """Six 40-row series and one of `SHORT_ROWS` ("zz-short", the last by name), each
    without its last `cut` rows, as a long CSV; returns {series: values}."""
    panel = synthetic_panel(series=6, length=40, seed=5, periods=(1000,), frequency=None)
    found = {name: panel.values[panel.rows_of(i), 0] for i, name in enumerate(panel.names)}
    found["zz-short"] = 2.0 + np.sin(np.arange(SHORT_ROWS) / 2.0) + 0.1 * np.arange(SHORT_ROWS)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "step", "value"])
        for name, values in found.items():
            for t, value in enumerate(values[:len(values) - cut]):
                writer.writerow([name, t, repr(float(value))])
    return found


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("short")
    values = write_panel(folder / "panel.csv")
    run = folder / "run"
    invoke("train", "--data", folder / "panel.csv", "--series-column", "series",
           "--time-column", "step", "--horizon", HORIZON, "--test-size", HORIZON,
           "--window", WINDOW, "--units", 4, "--epochs", 2, "--ensemble", 1, "--seed", 2,
           # anchor + network: one training (a panel's default, the network alone, loses to
           # the fitted anchor in 2 epochs and trains a second time as anchor + network)
           "--anchor", "auto", "-q", "--out", run)
    return folder, run, values


def test_the_short_series_is_forecast_only_not_skipped(short_run):
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data

    _, run, _ = short_run
    config = json.loads((run / "config.json").read_text())
    assert config["panel"]["skipped"] == []
    assert config["panel"]["forecast_only"] == ["zz-short"]
    assert config["panel"]["series"][-1] == "zz-short"
    prepared, _ = evaluation_data(runs.load_config(run), None)
    short = len(config["panel"]["series"]) - 1
    # No training or validation window of its own, one test window: the one whose inputs
    # are the 4 rows before its held-out block.
    assert short not in prepared.series_of["train"] and short not in prepared.series_of["val"]
    assert (prepared.series_of["test"] == short).sum() == 1
    test_start = prepared.starts["test"][prepared.series_of["test"] == short][0]
    assert test_start == prepared.series.offsets[short] + SHORT_ROWS - HORIZON
    # The six others each trained: 40 - 6 - 6 rows of training, 23 - 4 - 6 + 1 windows.
    assert np.bincount(prepared.series_of["train"]).tolist() == [40 - 12 - WINDOW - 5] * 6


def test_evaluate_says_it_is_forecast_only(short_run):
    _, run, _ = short_run
    output = invoke("evaluate", run)
    assert "7 series, test mean MASE" in output
    assert "; 1 series too short to train, forecast only" in output
    assert "skipped" not in output


def test_its_metrics_are_the_model_forecast_of_its_held_out_block(short_run):
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.evaluate import keras_network

    _, run, values = short_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["series"] == 7 and metrics["forecast_only_series"] == 1
    assert metrics["model"]["series"] == 7  # the mean over series holds it
    rows = {row["series"]: row for row in csv.DictReader(open(run / "per_series.csv"))}
    assert set(rows) == set(values)
    # Its model MAE, by hand: the run's network forecast from its window, against the
    # last 6 values; its naive MAE: the last value before the block, repeated.
    config = runs.load_config(run)
    prepared, _ = evaluation_data(config, None)
    start = prepared.starts["test"][-1:]
    forecast = prepared.forecast(keras_network(runs.load_model(run)), start, WINDOW, HORIZON)
    actual = values["zz-short"][-HORIZON:]
    mae = float(np.mean(np.abs(forecast[0, :, 0] - actual)))
    assert float(rows["zz-short"]["model_mae"]) == pytest.approx(mae, rel=1e-5)
    naive = float(np.mean(np.abs(values["zz-short"][-HORIZON - 1] - actual)))
    assert float(rows["zz-short"]["naive_mae"]) == pytest.approx(naive, rel=1e-5)  # (6 digits)
    # MASE scaled by its in-sample naive MAE over its 7 rows before the block.
    history = values["zz-short"][:-HORIZON]
    assert float(rows["zz-short"]["model_mase"]) == pytest.approx(
        mae / np.mean(np.abs(np.diff(history))), rel=1e-5)
    mean = np.mean([float(row["model_mase"]) for row in rows.values()])
    assert metrics["model"]["mase"] == pytest.approx(mean, rel=1e-5)


def test_backtest_and_predict_forecast_it(short_run, tmp_path):
    folder, run, values = short_run
    invoke("backtest", run, "--out", tmp_path / "backtest")
    table = list(csv.DictReader(open(tmp_path / "backtest" / "backtest.csv")))
    assert {row["series"] for row in table} == set(values)
    short_rows = [row for row in table if row["series"] == "zz-short"]
    assert len(short_rows) == HORIZON
    per_series = {row["series"]: row for row in csv.DictReader(open(run / "per_series.csv"))}
    backtest_mae = np.mean([abs(float(r["model"]) - float(r["y"])) for r in short_rows])
    assert backtest_mae == pytest.approx(float(per_series["zz-short"]["model_mae"]), rel=1e-5)

    # predict, from the rows before the held-out block, gives the run's test forecast.
    model = tmp_path / "panel.onnx"
    invoke("export", run, "--out", model)
    write_panel(tmp_path / "before.csv", cut=HORIZON)
    result = CliRunner().invoke(cli, ["predict", str(model), "--data",
                                      str(tmp_path / "before.csv")])
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    rows = [row for row in csv.DictReader(io.StringIO(result.output))
            if row["series"] == "zz-short"]
    assert len(rows) == HORIZON
    predicted = np.array([float(row["value"]) for row in rows])
    mae = float(np.mean(np.abs(predicted - values["zz-short"][-HORIZON:])))
    assert mae == pytest.approx(float(per_series["zz-short"]["model_mae"]), rel=1e-4)
