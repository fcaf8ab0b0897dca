"""Panels end to end: one global model over many series, its per-series metrics, the
exported graph (window or series scaling inside), and batched predict."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helpers import run
from lstm_tf.data import panel_csv, sources
from lstm_tf.data.panel import Panel

# --anchor auto (anchor + network), not a panel's default network-alone: its 3 epochs lose
# to the fitted anchor and the run trains a second time as anchor + network, twice the CPU
# for what test_training_defaults and test_floor_blend test.
SMALL = ["--epochs", "3", "--units", "8", "--horizon", "3", "--test-size", "3", "--anchor",
         "auto", "-q"]
# One network, not the small-panel default of five (lstm_tf/ensemble.py): nothing here is
# about the ensemble (tests/test_ensemble.py is), and five cost ~7 s more CPU per run.
ONE_NETWORK = ["--ensemble", "1"]


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    """A synthetic long CSV: 12 series of different lengths, levels and seasons, rows shuffled."""
    folder = tmp_path_factory.mktemp("panel")
    panel = sources.synthetic_panel(series=12, length=90, seed=3)
    path = folder / "panel.csv"
    panel_csv.write_long_csv(panel, path)
    lines = path.read_text().splitlines()
    body = lines[1:]
    np.random.default_rng(0).shuffle(body)  # any row order: lstm-tf sorts by (series, time)
    path.write_text("\n".join([lines[0]] + body) + "\n")
    return path, panel


@pytest.fixture(scope="module")
def trained(long_csv, tmp_path_factory):
    """A window-scaled and a series-scaled run on the same panel, each exported."""
    path, _ = long_csv
    folder = tmp_path_factory.mktemp("runs")
    result = {}
    for scaling in ("window", "series"):
        out = folder / scaling
        trained = run("train", "--data", path, "--series-column", "series", "--time-column", "time",
                      "--scaling", scaling, *ONE_NETWORK,
                      "--window", "12", *SMALL, "--out", out)
        assert trained.exit_code == 0, trained.output
        exported = run("export", out, "--out", folder / f"{scaling}.onnx")
        assert exported.exit_code == 0, exported.output
        result[scaling] = (out, folder / f"{scaling}.onnx", trained.output)
    return result


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_per_series_metrics_add_up_to_the_summary(trained):
    out, _, output = trained["window"]
    metrics = json.loads((out / "metrics.json").read_text())
    rows = _read_csv(out / "per_series.csv")
    assert metrics["series"] == len(rows) == 12 and metrics["scaling"] == "window"
    for name in ("model", "naive", "seasonal_naive"):
        mase = [float(row[f"{name}_mase"]) for row in rows]
        assert metrics[name]["mase"] == pytest.approx(np.mean(mase), rel=1e-4)
        smape = [float(row[f"{name}_smape"]) for row in rows]
        assert metrics[name]["smape"] == pytest.approx(np.mean(smape), rel=1e-4)
    beaten = sum(float(row["model_mase"]) < float(row["seasonal_naive_mase"]) for row in rows)
    assert metrics["beats_seasonal_naive"] == beaten
    assert f"model beats naive on {metrics['beats_naive']}/12 series" in output
    config = json.loads((out / "config.json").read_text())
    assert len(config["panel"]["series"]) == 12 and config["panel"]["skipped"] == []


def test_naive_metrics_recomputed_by_hand(trained, long_csv):
    """Each series' naive MAE: the last training+validation value repeated over its test rows."""
    out, _, _ = trained["window"]
    _, panel = long_csv
    rows = {row["series"]: row for row in _read_csv(out / "per_series.csv")}
    for index, name in enumerate(panel.names):
        values = panel.values[panel.rows_of(index), 0]
        test, last = values[-3:], values[-4]
        assert float(rows[name]["naive_mae"]) == pytest.approx(np.mean(np.abs(test - last)),
                                                               rel=1e-5)


@pytest.mark.parametrize("scaling", ["window", "series"])
def test_export_passes_parity_and_predict_matches_keras(trained, long_csv, scaling, tmp_path):
    """predict forecasts every series in one call, and each forecast is the Keras model's
    for that series' latest window (in original units)."""
    from lstm_tf import runs
    from lstm_tf.forecaster import Forecaster
    from lstm_tf.parity import graph_model

    out, model, _ = trained[scaling]
    report = json.loads(model.with_name(f"{scaling}.parity.json").read_text())
    assert report["window"]["passed"] and report["window"]["max_relative_error"] < 1e-5
    path, panel = long_csv
    predicted = run("predict", model, "--data", path, "--out", tmp_path / "forecast.csv")
    assert predicted.exit_code == 0, predicted.output
    rows = _read_csv(tmp_path / "forecast.csv")
    assert len(rows) == 12 * 3 and list(rows[0]) == ["series", "time", "step", "value"]
    config, keras_model = runs.load_config(out), runs.load_model(out)
    names = config.panel["series"]
    windows = np.stack([panel.values[panel.rows_of(i)][-12:] for i in range(len(panel.names))])
    series = np.array([names.index(name) for name in panel.names])
    expected = Forecaster.of_run(config).forecast(graph_model(keras_model, 1),
                                                  windows.astype(np.float32), series)
    got = np.array([float(row["value"]) for row in rows]).reshape(12, 3)
    order = [panel.names.index(row["series"]) for row in rows[::3]]
    std = np.array([panel.values[panel.rows_of(i), 0].std() for i in order])
    assert np.max(np.abs(got - expected[order, :, 0]) / std[:, None]) < 1e-5
    # Future times continue each series' own monthly dates.
    last = {name: panel.time[panel.rows_of(i)][-1] for i, name in enumerate(panel.names)}
    first_row = rows[0]
    following = np.datetime64(first_row["time"], "D")
    assert following > last[first_row["series"]].astype("datetime64[D]")


def test_window_scaling_serves_a_series_it_never_saw(trained):
    """Window scaling inside the graph: a new series at another level and scale gets the
    same forecast, transformed the same way (x -> 1000 x + 5e4)."""
    from lstm_tf import runtime

    _, model, _ = trained["window"]
    session = runtime.session(model)
    rng = np.random.default_rng(1)
    window = np.cumsum(rng.standard_normal((4, 12, 1)), axis=1).astype(np.float32)
    (base,) = session.run(None, {"window": window})
    (moved,) = session.run(None, {"window": (1000 * window + 5e4).astype(np.float32)})
    np.testing.assert_allclose(moved, 1000 * base + 5e4, rtol=2e-5, atol=2e-2)
    # An all-zero window has no scale to give the network's output: it is forecast zero.
    zero = np.zeros((2, 12, 1), np.float32)
    zero[1] = window[0]
    (got,) = session.run(None, {"window": zero})
    assert np.all(got[0] == 0) and np.abs(got[1]).max() > 0.01
    np.testing.assert_allclose(got[1], base[0], rtol=1e-6, atol=1e-6)
    out = trained["window"][0]  # and so does the NumPy side (evaluation, parity)
    from lstm_tf import runs
    from lstm_tf.forecaster import Forecaster
    from lstm_tf.parity import graph_model

    numpy_side = Forecaster.of_run(runs.load_config(out)).forecast(
        graph_model(runs.load_model(out), 1), zero)
    assert np.all(numpy_side[0] == 0)
    np.testing.assert_allclose(numpy_side[1], got[1], rtol=1e-5, atol=1e-5)


def test_series_scaling_takes_a_series_index_and_skips_unknown_series(trained, long_csv,
                                                                      tmp_path):
    from lstm_tf import runtime

    _, model, _ = trained["series"]
    session = runtime.session(model)
    assert [i.name for i in session.get_inputs()] == ["window", "series"]
    meta = runtime.metadata(session, str(model))
    assert meta["panel"]["scaling"] == "series" and len(meta["panel"]["series"]) == 12
    path, panel = long_csv
    text = path.read_text().replace(f"\n{panel.names[0]},", "\nnewcomer,")
    assert "newcomer" in text
    (tmp_path / "new.csv").write_text(text)
    predicted = run("predict", model, "--data", tmp_path / "new.csv")
    assert predicted.exit_code == 0, predicted.output
    assert "skipped series newcomer: not among the series the model was trained on" in \
        predicted.output
    assert predicted.output.count("\n") >= 11 * 3


def test_windows_never_cross_series(long_csv):
    """Every window's input rows and targets lie inside its own series."""
    from lstm_tf.config import DataConfig
    from lstm_tf.data.prepare import prepare

    _, panel = long_csv
    config = DataConfig(dataset=None, window=12, horizon=3, test_size=3, season=12)
    prepared = prepare(panel, config)
    assert prepared.skipped == []
    for part, starts in prepared.starts.items():
        series = prepared.series_of[part]
        first, end = panel.offsets[series], panel.offsets[series + 1]
        assert np.all(starts - 12 >= first) and np.all(starts + 3 <= end)
        np.testing.assert_array_equal(prepared.series_index(starts), series)


def test_short_series_are_skipped_and_counted(tmp_path):
    panel = sources.synthetic_panel(series=5, length=60, seed=1)
    short = Panel(panel.source, panel.names + ["tiny"],
                         np.append(panel.offsets, panel.offsets[-1] + 10),
                         panel.targets, panel.features,
                         np.concatenate([panel.values, panel.values[:10]]),
                         np.concatenate([panel.time, panel.time[:10]]), panel.time_column,
                         panel.series_column)
    from lstm_tf.config import DataConfig
    from lstm_tf.data.prepare import prepare

    config = DataConfig(dataset=None, window=12, horizon=3, test_size=3, season=12)
    prepared = prepare(short, config)
    assert prepared.skipped == ["tiny"] and prepared.series.names == panel.names


@pytest.mark.parametrize("scaling", ["window", "series"])
def test_node_consumer_forecasts_one_series_of_a_panel_model(trained, long_csv, scaling,
                                                             tmp_path):
    """exported/node/forecast.js on one series' rows equals `lstm-tf predict` for it
    (a series-scaled model is told the series with --series)."""
    import shutil
    import subprocess
    from pathlib import Path

    if not shutil.which("node"):
        pytest.fail("node is not on PATH (.ci/run installs it)")
    _, model, _ = trained[scaling]
    path, panel = long_csv
    name = panel.names[4]
    values = panel.values[panel.rows_of(4), 0]
    (tmp_path / "one.csv").write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    forecast_js = Path(__file__).resolve().parent.parent / "exported" / "node" / "forecast.js"
    command = ["node", str(forecast_js), str(model), str(tmp_path / "one.csv"), "--json"]
    if scaling == "series":
        refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "give the series (--series NAME)" in refused.stderr
        command += ["--series", name]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    got = np.asarray(json.loads(result.stdout)["forecast"])[:, 0]
    predicted = run("predict", model, "--data", path)
    rows = [line.split(",") for line in predicted.output.splitlines()[1:]
            if line.startswith(name + ",")]
    expected = np.array([float(row[3]) for row in rows])
    assert np.max(np.abs(got - expected)) <= 1e-6 * max(1.0, np.abs(expected).max())


def test_panel_backtest_forecasts_every_series_from_its_own_rows(trained, long_csv, tmp_path):
    """`lstm-tf backtest` of a panel run: one cutoff per series (its test block), each
    forecast equal to the Keras model's on that series' rows before the cutoff; a value
    after the cutoff never changes it; the overlap with training is refused."""
    from lstm_tf import backtest, runs
    from lstm_tf.forecaster import Forecaster
    from lstm_tf.parity import graph_model

    out, _, _ = trained["window"]
    result = backtest.backtest(out, windows=1, log=lambda line: None)
    _, panel = long_csv
    assert result.series is not None and len(result.series) == 12
    config, model = runs.load_config(out), runs.load_model(out)
    forward = graph_model(model, 1)
    index = panel.names.index(result.series[5])
    values = panel.values[panel.rows_of(index)]
    history = values[-3 - 12:-3][None].astype(np.float32)  # the 12 rows before the block
    expected = Forecaster.of_run(config).forecast(forward, history, np.array([index]))
    np.testing.assert_allclose(result.forecasts["model"][5], expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.actual[5, :, 0], values[-3:, 0])
    summary = backtest.summary(result)
    rows = result.forecasts["model"], result.actual
    mase = np.mean(np.mean(np.abs(rows[0] - rows[1]), axis=(1, 2)) / result.scale)
    assert summary["overall"]["model"]["mase"] == pytest.approx(mase)
    refused = run("backtest", out, "--windows", "2", "--out", tmp_path / "bt")
    assert refused.exit_code == 1 and "overlaps the rows the run trained or validated on" in \
        refused.output


def test_inspect_and_bench_take_panel_runs(trained, tmp_path):
    """`lstm-tf inspect` traces a panel window (its forecast is the model's for that
    window, in original units); `lstm-tf bench` feeds a series-scaled model's index."""
    from lstm_tf import runs
    from lstm_tf.data.prepare import evaluation_data
    from lstm_tf.train import keras_predict

    out, model, _ = trained["window"]
    result = run("inspect", out, "--index", "4", "--out", tmp_path / "inspect")
    assert result.exit_code == 0, result.output
    traced = json.loads(next((tmp_path / "inspect").glob("*.json")).read_text())
    config = runs.load_config(out)
    prepared, _ = evaluation_data(config)
    start = prepared.starts["test"][4:5]
    expected = prepared.forecast(keras_predict(runs.load_model(out)), start, 12, 3)[0]
    np.testing.assert_allclose(np.asarray(traced["forecast"]), expected, rtol=1e-5, atol=1e-6)
    benched = run("bench", trained["series"][1], "--batch", "4", "--budget", "0.05")
    assert benched.exit_code == 0, benched.output
    assert "onnxruntime, exported model" in benched.output


@pytest.mark.parametrize("scaling", ["window", "series"])
def test_panel_quantile_run_exports_and_predicts_quantiles_that_never_cross(long_csv, scaling,
                                                                            tmp_path):
    """A panel quantile run: its quantile block and per-series columns, parity of every
    output of the exported model, and predict's quantile columns, ordered for every
    series and step (also for windows far outside the training range)."""
    from lstm_tf import runtime

    path, panel = long_csv
    out, model = tmp_path / "run", tmp_path / "q.onnx"
    trained = run("train", "--data", path, "--series-column", "series", "--time-column", "time",
                  "--scaling", scaling, "--window", "12", "--quantiles", "0.1,0.9", *SMALL,
                  "--out", out)
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((out / "metrics.json").read_text())
    block = metrics["quantiles"]
    assert block["levels"] == [0.1, 0.5, 0.9] and 0 <= block["model"]["intervals"]["80%"][
        "coverage"] <= 1
    rows = _read_csv(out / "per_series.csv")
    coverage = [float(row["model_coverage_80%"]) for row in rows]
    # pooled coverage is the per-series coverages weighted by windows (equal here)
    assert block["model"]["intervals"]["80%"]["coverage"] == pytest.approx(np.mean(coverage))
    exported = run("export", out, "--out", model)
    assert exported.exit_code == 0, exported.output
    report = json.loads(model.with_name("q.parity.json").read_text())["window"]
    assert report["passed"]
    predicted = run("predict", model, "--data", path, "--out", tmp_path / "f.csv")
    assert predicted.exit_code == 0, predicted.output
    forecast = _read_csv(tmp_path / "f.csv")
    assert len(forecast) == 36 and "value_q0.1" in forecast[0]
    for row in forecast:
        low, mid, high = (float(row[f"value_q{q}"]) for q in ("0.1", "0.5", "0.9"))
        assert low <= mid <= high and mid == pytest.approx(float(row["value"]))
    session = runtime.session(model)
    rng = np.random.default_rng(0)
    extreme = np.concatenate([1e6 * rng.standard_normal((4, 12, 1)),
                              np.full((4, 12, 1), 7.0),
                              np.tile([[1e4], [-1e4]], (4, 6, 1))]).astype(np.float32)
    feed = {"window": extreme}
    if scaling == "series":
        feed["series"] = np.arange(12, dtype=np.int64)
    (quantiles,) = session.run(["quantiles"], feed)
    assert np.all(np.diff(quantiles, axis=-1) >= 0)
    # The backtest of a quantile run: quantile columns, and its coverage by hand.
    backtested = run("backtest", out, "--windows", "1", "--out", tmp_path / "bt")
    assert backtested.exit_code == 0, backtested.output
    rows = _read_csv(tmp_path / "bt" / "backtest.csv")
    inside = [float(r["model_q0.1"]) <= float(r["y"]) <= float(r["model_q0.9"]) for r in rows]
    summary = json.loads((tmp_path / "bt" / "metrics.json").read_text())
    coverage = summary["overall"]["model"]["quantiles"]["intervals"]["80%"]["coverage"]
    assert len(rows) == 36 and coverage == pytest.approx(np.mean(inside))


def test_forecast_csv_keeps_one_name_per_column_when_the_time_column_is_step():
    from lstm_tf.predict import PanelForecast, forecast_csv

    meta = {"targets": ["a", "b"], "quantiles": None, "time_column": "step"}
    result = PanelForecast(["s0"], [["20", "21"]], np.array([[[1.0, 2.0], [3.0, 4.0]]]), {},
                           time_column="step")
    lines = forecast_csv(meta, result).splitlines()
    assert lines == ["series,step,horizon_step,a,b", "s0,20,1,1,2", "s0,21,2,3,4"]
    result.time_column = "month"
    assert forecast_csv(meta, result).splitlines()[0] == "series,month,step,a,b"
