"""`lstm-tf train --ensemble K`: K networks in one model, trained in one fit, their mean
the forecast; exported as one ONNX graph that passes parity and that `predict` runs;
K = 1 is the single network of before, to the bit."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from helpers import copy_run, run

ENSEMBLE = ["--dataset", "sine", "--window", "8", "--units", "6", "--epochs", "4",
            "--patience", "3", "--seed", "3", "--anchor", "none", "--ensemble", "3", "-q"]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """A 3-network ensemble on the built-in sine, without an anchor (so that the
    networks are the whole forecast, never zeroed), exported. Read-only."""
    root = tmp_path_factory.mktemp("ensemble")
    out = root / "run"
    result = run("train", *ENSEMBLE, "--out", out)
    assert result.exit_code == 0, result.output
    assert "an ensemble of 3" in result.output
    onnx_path = root / "ensemble.onnx"
    result = run("export", out, "--out", onnx_path)
    assert result.exit_code == 0, result.output
    return out, onnx_path


def test_config_records_k_and_early_stopping_watches_the_mean(ensemble_run):
    out, _ = ensemble_run
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["ensemble"] == 3
    history = list(csv.DictReader(io.StringIO((out / "history.csv").read_text())))
    combined = [float(row["val_forecast_loss"]) for row in history]
    members = [float(row["val_loss"]) for row in history]
    # By convexity the mean's MAE is at most the members' mean MAE, and below it once
    # the members differ.
    assert all(c <= m + 1e-7 for c, m in zip(combined, members))
    assert any(c < m - 1e-6 for c, m in zip(combined, members))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] == int(np.argmin(combined)) + 1


def test_the_forecast_is_the_mean_of_distinct_members(ensemble_run):
    from lstm_tf import ensemble, runs

    out, _ = ensemble_run
    model = runs.load_model(out)
    assert ensemble.size(model) == 3
    assert [layer.name for layer in ensemble.heads(model)] == ["head", "head_m1", "head_m2"]
    x = np.random.default_rng(0).normal(size=(5, 8, 1)).astype(np.float32)
    members = [np.asarray(ensemble.member(model, k)(x)) for k in range(3)]
    assert np.abs(members[0] - members[1]).max() > 1e-4  # different initial weights
    np.testing.assert_allclose(np.asarray(model(x)), np.mean(members, axis=0), atol=1e-6)


def test_export_is_one_graph_that_passes_parity_and_predict_matches_keras(ensemble_run,
                                                                         tmp_path):
    import onnx

    from lstm_tf import contract, runs
    from lstm_tf.data.sources import load_builtin
    from lstm_tf.forecaster import Forecaster

    out, onnx_path = ensemble_run
    model_proto = onnx.load(onnx_path)
    assert sum(node.op_type == "LSTM" for node in model_proto.graph.node) == 3
    meta = contract.read_metadata(model_proto, str(onnx_path))
    assert meta["ensemble"] == 3 and meta["ensemble_member"] is None
    assert meta["parity"]["passed"] and meta["parity"]["max_relative_error"] <= 1e-5
    assert [o.name for o in model_proto.graph.output] == ["forecast"]

    config = runs.load_config(out)
    series = load_builtin("sine")
    data = tmp_path / "sine.csv"
    values = np.asarray(series.values[:, 0], np.float64)
    data.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    result = run("predict", onnx_path, "--data", data)
    assert result.exit_code == 0, result.output
    predicted = np.array([float(line.split(",")[-1])
                          for line in result.output.strip().splitlines()[1:]])
    expected = Forecaster.of_run(config).forecast(
        runs.load_model(out), values[-config.data.window:][None, :, None])[0, :, 0]
    assert predicted.shape == expected.shape
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-5 * values.std())


def test_gate_export_and_inspect_trace_member_0(ensemble_run, tmp_path):
    import onnx

    from lstm_tf import contract, ensemble, runs
    from lstm_tf.inspect_gates import inspect_run

    out, _ = ensemble_run
    gates_path = tmp_path / "ensemble.gates.onnx"
    result = run("export", out, "--gates", "--out", gates_path)
    assert result.exit_code == 0, result.output
    assert ("an ensemble of 3 networks: the gates, and the forecast beside them, are member "
            "0's; the run forecasts with the mean of all 3") in result.output
    meta = contract.read_metadata(onnx.load(gates_path), str(gates_path))
    assert meta["ensemble"] == 3 and meta["ensemble_member"] == 0
    assert meta["parity"]["passed"]

    copy = copy_run(out, tmp_path / "run")
    result = run("inspect", copy, "--force")
    assert result.exit_code == 0, result.output
    assert "are member 0's; the run forecasts with the mean of all 3" in result.output
    inspected = inspect_run(copy, force=True).inspection
    model = runs.load_model(out)
    x = inspected.window.inputs[None].astype(np.float32)  # anchor none: global z-scores
    config = runs.load_config(out)
    from lstm_tf.forecaster import Forecaster

    forecaster = Forecaster.of_run(config)
    member_0 = forecaster.forecast(ensemble.member(model, 0), x)[0]
    whole = forecaster.forecast(model, x)[0]
    np.testing.assert_allclose(inspected.forecast, member_0, rtol=1e-5, atol=1e-6)
    assert np.abs(member_0 - whole).max() > 1e-6  # it is member 0's, not the mean


def test_step_model_of_an_ensemble_is_refused_in_one_line(ensemble_run, tmp_path):
    out, _ = ensemble_run
    result = run("export", out, "--step", "--out", tmp_path / "e.onnx")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: --step: the run {out} is an ensemble of 3 networks, whose states a step "
        "model cannot carry yet; export the window model")


def test_the_keep_rule_zeroes_every_member(tmp_path):
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from lstm_tf.models import build_model
    from lstm_tf.train import zero_network

    config = RunConfig(DataConfig(), ModelConfig(units=4, ensemble=3), TrainConfig())
    model = build_model(config.model, features=1, horizon=2, targets=1)
    x = np.random.default_rng(1).normal(size=(4, 6, 1)).astype(np.float32)
    assert np.abs(np.asarray(model(x))).max() > 1e-3
    zero_network(model, config)
    assert np.abs(np.asarray(model(x))).max() == 0.0


def test_k_1_is_the_single_network_of_before_to_the_bit(sine_runs, tmp_path):
    """`--ensemble 1` trains exactly the default run (the shared `lstm anchored` one)."""
    from conftest import SINE_KINDS, SINE_KINDS_COMMON
    from lstm_tf import runs

    before = sine_runs["lstm anchored"]
    out = tmp_path / "k1"
    result = run("train", *SINE_KINDS_COMMON, *SINE_KINDS["lstm anchored"], "--ensemble", "1",
                 "--out", out)
    assert result.exit_code == 0, result.output
    old, new = runs.load_model(before), runs.load_model(out)
    assert type(new).__name__ == "Sequential"
    assert [layer.name for layer in new.layers] == [layer.name for layer in old.layers]
    for a, b in zip(old.get_weights(), new.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert (out / "history.csv").read_text() == (before / "history.csv").read_text()
    def metrics(run_dir):  # all but the wall-clock seconds
        found = json.loads((run_dir / "metrics.json").read_text())
        return {key: value for key, value in found.items() if key != "train_seconds"}

    assert metrics(out) == metrics(before)
    assert runs.load_config(out).model.ensemble == 1


def test_gate_page_shows_member_0(ensemble_run):
    import base64

    from lstm_tf import runs
    from lstm_tf.gate_page import page_data

    out, _ = ensemble_run
    data = page_data(out)
    model = runs.load_model(out)
    assert len(data["layers"]) == 1  # member 0's one LSTM layer, not all three members'
    kernel = np.frombuffer(base64.b64decode(data["head"]["kernel"]), "<f4")
    np.testing.assert_array_equal(kernel, model.get_layer("head").get_weights()[0].ravel())
    assert not np.array_equal(kernel, model.get_layer("head_m1").get_weights()[0].ravel())


def test_node_consumer_reads_the_ensemble_unchanged(ensemble_run, tmp_path):
    """exported/node/forecast.js, unchanged, forecasts with the ensemble's one graph as
    `lstm-tf predict` does."""
    import subprocess
    from pathlib import Path

    from lstm_tf.data.sources import load_builtin

    _, onnx_path = ensemble_run
    data = tmp_path / "sine.csv"
    values = np.asarray(load_builtin("sine").values[:, 0], np.float64)
    data.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    script = Path(__file__).resolve().parent.parent / "exported" / "node" / "forecast.js"
    done = subprocess.run(["node", str(script), str(onnx_path), str(data), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    from_node = np.asarray(json.loads(done.stdout)["forecast"], np.float64)[:, 0]
    result = run("predict", onnx_path, "--data", data)
    assert result.exit_code == 0, result.output
    from_python = np.array([float(line.split(",")[-1])
                            for line in result.output.strip().splitlines()[1:]])
    np.testing.assert_allclose(from_node, from_python, rtol=1e-6, atol=1e-6)


def test_backtest_forecasts_with_the_ensemble(ensemble_run, tmp_path):
    """`lstm-tf backtest` of an ensemble run: every cutoff's forecast is the mean of the
    members', computed from the rows up to that cutoff."""
    from lstm_tf import runs
    from lstm_tf.data.sources import load_builtin
    from lstm_tf.forecaster import Forecaster

    out, _ = ensemble_run
    copy = copy_run(out, tmp_path / "run")
    result = run("backtest", copy, "--windows", "4")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((copy / "backtest" / "backtest.csv").read_text())))
    assert len(rows) == 4
    config, model = runs.load_config(out), runs.load_model(out)
    values = np.asarray(load_builtin("sine").values[:, 0], np.float64)
    window = config.data.window
    cutoffs = [int(row["cutoff"]) for row in rows]
    raw = np.stack([values[c - window + 1:c + 1] for c in cutoffs])[..., None]
    expected = Forecaster.of_run(config).forecast(model, raw)[:, 0, 0]
    np.testing.assert_allclose([float(row["model"]) for row in rows], expected,
                               rtol=1e-5, atol=1e-5)


def test_interrupted_ensemble_resumes_to_the_uninterrupted_result(ensemble_run, tmp_path):
    """Interrupted after epoch 2, `--resume`: the same epochs, best epoch, forecasts as the
    fixture's uninterrupted run (the trainer's weights and optimizer are what is saved)."""
    from helpers import interrupted_after_epoch

    out, _ = ensemble_run
    target = tmp_path / "run"
    # In this process, interrupted as SIGTERM interrupts a run (test_resume sends the
    # signals to real processes): the ensemble's state is tested, not a process (one
    # TensorFlow start-up fewer).
    with interrupted_after_epoch(2):
        interrupted = run("train", *ENSEMBLE, "--out", target)
    assert interrupted.exit_code == 130, interrupted.output
    assert "interrupted after epoch 2 of 4" in interrupted.output
    resumed = run("train", "--resume", target)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming after epoch 2" in resumed.stdout
    expected = json.loads((out / "metrics.json").read_text())
    got = json.loads((target / "metrics.json").read_text())
    assert (got["epochs_run"], got["best_epoch"]) == (expected["epochs_run"],
                                                      expected["best_epoch"])
    assert got["model"]["mae"] == pytest.approx(expected["model"]["mae"], rel=1e-5)
    combined = [float(row["val_forecast_loss"]) for row in
                csv.DictReader(io.StringIO((target / "history.csv").read_text()))]
    assert combined == pytest.approx([float(row["val_forecast_loss"]) for row in csv.DictReader(
        io.StringIO((out / "history.csv").read_text()))], rel=1e-5)


def test_ensemble_with_known_covariates_and_a_series_embedding_passes_parity(tmp_path):
    """Every member takes the extra inputs (its own embedding and mixing layer); the one
    graph still takes `window`, `known` and `series` and matches Keras."""
    import onnx

    from lstm_tf import contract, ensemble, runs

    data = tmp_path / "panel.csv"
    data.write_text("id,t,value,promo\n" + "".join(
        f"{name},{i},{np.sin(i / 4 + k) * 3 + 5 + 2 * (i % 3 == 0):.3f},{int(i % 3 == 0)}\n"
        for k, name in enumerate("abc") for i in range(60)))
    out = tmp_path / "run"
    result = run("train", "--data", data, "--series-column", "id", "--time-column", "t",
                 "--target", "value", "--known", "promo", "--series-embedding", "2",
                 "--ensemble", "2", "--window", "6", "--horizon", "2", "--epochs", "2",
                 "--units", "4", "--anchor", "none", "-q", "--out", out)
    assert result.exit_code == 0, result.output
    model = runs.load_model(out)
    assert ensemble.size(model) == 2
    assert {"series_embedding", "series_embedding_m1", "mix", "mix_m1"} <= {
        layer.name for layer in model.layers}
    result = run("export", out, "--out", tmp_path / "e.onnx")
    assert result.exit_code == 0, result.output
    proto = onnx.load(tmp_path / "e.onnx")
    meta = contract.read_metadata(proto, "e.onnx")
    assert meta["ensemble"] == 2 and meta["parity"]["passed"]
    assert [i.name for i in proto.graph.input] == ["window", "known", "series"]


def test_default_members_five_for_a_small_panel_one_otherwise():
    """No --ensemble: 5 networks for a panel of up to PANEL_WINDOWS training windows and
    PANEL_STEPS window steps, one for a single series, a larger panel, a panel of long
    windows or a quantile forecaster."""
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from lstm_tf.ensemble import PANEL_STEPS, PANEL_WINDOWS, default_members

    panel, single, quantiles = (RunConfig(DataConfig(window=4), ModelConfig(), TrainConfig())
                                for _ in range(3))
    panel.panel, single.panel, quantiles.panel = True, False, True
    quantiles.model.quantiles = [0.1, 0.5, 0.9]
    assert default_members(panel, PANEL_WINDOWS) == 5  # 80,000 window steps
    assert default_members(panel, PANEL_WINDOWS + 1) == 1
    panel.data.window = 73  # two hourly series of 12 weeks: 3,188 windows, 232,724 steps
    assert PANEL_STEPS == 100_000
    assert default_members(panel, PANEL_STEPS // 73) == 5
    assert default_members(panel, PANEL_STEPS // 73 + 1) == default_members(panel, 3188) == 1
    assert default_members(single, 100) == 1
    assert default_members(quantiles, 100) == 1
