"""The floor's combinations (`train.floor`): the mean of the model and another forecast,
chosen on validation, in one model and one exported graph (Keras, NumPy, ONNX, predict
and Node give the same forecast)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers import run
from lstm_tf import anchors
from lstm_tf.anchors import Anchor, mean_with_model, naive_anchors

ROOT = Path(__file__).resolve().parent.parent
FORECAST_JS = ROOT / "exported" / "node" / "forecast.js"


def test_the_mean_with_a_model_is_half_of_each_anchor_over_the_longer_reach():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 10, 2))  # 5 windows, 10 rows, 2 columns (1 target)
    season = naive_anchors(3, 1, season=4, window=10)["season"]  # reach 4
    last = naive_anchors(3, 1, season=None, window=10)["last"]  # reach 1
    blend = mean_with_model(season, last)
    assert blend.reach == 4 and blend.kind == "blend" and blend.relative_inputs
    np.testing.assert_allclose(blend.forecast(z, 1),
                               0.5 * (season.forecast(z, 1) + last.forecast(z, 1)))
    assert blend.describe() == "mean of the model (season + network) and last"
    # saved and read back (config.json), it is the same anchor
    again = Anchor.from_dict(json.loads(json.dumps(blend.to_dict())))
    assert again.model_anchor == "season" and again.kind == "blend"
    np.testing.assert_allclose(again.forecast(z, 1), blend.forecast(z, 1))
    # a network trained alone (anchor none) keeps its absolute inputs
    alone = mean_with_model(Anchor.none(3, 1), last)
    assert not alone.relative_inputs and alone.kind == "blend"
    np.testing.assert_allclose(alone.network_inputs(z, 1), z)
    np.testing.assert_allclose(alone.forecast(z, 1), 0.5 * last.forecast(z, 1))
    assert alone.describe() == "mean of the network and last"


@pytest.mark.parametrize("model_anchor", ["none", "season"])
def test_a_blend_forecasts_the_same_in_numpy_and_tensorflow(model_anchor):
    import tensorflow as tf

    from lstm_tf.forecaster import Forecaster

    horizon = 3
    trained = (Anchor.none(horizon, 1) if model_anchor == "none"
               else naive_anchors(horizon, 1, season=4, window=10)["season"])
    other = naive_anchors(horizon, 1, season=None, window=10)["last"]
    blend = mean_with_model(trained, other)
    raw = np.random.default_rng(1).normal(3.0, 2.0, size=(4, 10, 2))

    def network(inputs):  # any function of the inputs, the same in NumPy and TF
        return 0.3 * inputs[:, -horizon:, :1] + 0.1 * inputs[:, :horizon, 1:]

    def halved(inputs):  # the run's network once the floor has halved its head
        return 0.5 * network(inputs)

    for scaling in ("window", "global"):
        mean, std = (None, None) if scaling == "window" else (np.array([1.0, -2.0]),
                                                              np.array([2.0, 0.5]))
        forecaster = Forecaster(scaling, blend, 1, mean, std)
        numpy_side = forecaster.forecast(halved, raw)
        tf_side = forecaster.tf_forecast(halved, tf.constant(raw, tf.float32)).numpy()
        np.testing.assert_allclose(tf_side, numpy_side, rtol=1e-5, atol=1e-5)
        # the mean of the trained model (its anchor + the network at full weight) and `other`
        z, undo, _ = forecaster.to_network(raw)
        model = trained.forecast(z, 1) + network(trained.network_inputs(z, 1))
        expected = undo(0.5 * model + 0.5 * other.forecast(z, 1))
        np.testing.assert_allclose(numpy_side, expected, rtol=1e-6, atol=1e-6)  # (float32 inputs)


SLOPE, HORIZON, SEASON, PUSH = 0.5, 3, 4, 6.5


def _line_csv(path: Path) -> Path:
    """A straight line: naive persistence misses step k by SLOPE x k, seasonal naive (a
    season of 4) by 4 x SLOPE."""
    path.write_text("value\n" + "".join(f"{10 + SLOPE * t:.6f}\n" for t in range(120)))
    return path


def _pushed_run(tmp_path: Path, monkeypatch, push: float):
    """A run of anchor `season` on the straight line whose network, once trained, adds
    `push` x SLOPE to the anchor at every step: (the CLI's output, metrics, config, run,
    CSV)."""
    from lstm_tf import train as train_lib

    fit = train_lib.fit

    def fit_then_push(model, train_set, val_set, steps, config, *rest, **kwargs):
        seconds = fit(model, train_set, val_set, steps, config, *rest, **kwargs)
        std = config.scaler["std"][0]  # the network's output is in training z-scores
        head = model.get_layer("head")
        kernel, bias = head.get_weights()
        head.set_weights([np.zeros_like(kernel), np.full_like(bias, push * SLOPE / std)])
        return seconds

    monkeypatch.setattr(train_lib, "fit", fit_then_push)
    csv = _line_csv(tmp_path / "line.csv")
    out = tmp_path / "run"
    done = run("train", "--data", csv, "--window", "12", "--horizon", HORIZON, "--season",
               SEASON, "--anchor", "season", "--epochs", "1", "--units", "4", "-q", "--out", out)
    assert done.exit_code == 0, done.output
    return (done, json.loads((out / "metrics.json").read_text()),
            json.loads((out / "config.json").read_text()), out, csv)


def test_the_floor_takes_the_mean_of_model_and_naive_where_it_wins_on_validation(
        tmp_path, monkeypatch):
    """Anchor `season` on a straight line, with a network that adds PUSH x SLOPE to it:
    the model overshoots step k by (PUSH - 4) x SLOPE = 2.5 x SLOPE (kept: better than its
    anchor's 4 x SLOPE), naive persistence undershoots by k x SLOPE (2 x SLOPE on average:
    better than the model, so the floor acts), and their mean misses by |k / 2 - 1.25| x
    SLOPE (5 / 12 x SLOPE on average), the best on validation: the floor takes the mean.
    The run, its export, predict and Node all forecast last + (k / 2 + 1.25) x SLOPE."""
    done, metrics, config, out, csv = _pushed_run(tmp_path, monkeypatch, PUSH)
    steps = np.arange(1, HORIZON + 1)
    scores = metrics["floor_validation"]
    assert scores["model"] == pytest.approx((PUSH - SEASON) * SLOPE, rel=1e-3)
    assert scores["last"] == pytest.approx(SLOPE * steps.mean(), rel=1e-3)
    assert scores["season"] == pytest.approx(SEASON * SLOPE, rel=1e-3)
    miss = np.mean(np.abs(steps / 2 - 1.25)) * SLOPE
    assert scores["mean-last"] == pytest.approx(miss, rel=1e-3)
    assert metrics["floor"] == "mean-last" and metrics["network_kept"] is True
    # every validation window gains the same over the anchor (but for float32 rounding): a
    # statistic beyond any threshold
    assert metrics["keep_statistic"] < -1e6
    assert "the mean of the model and naive persistence beats the model" in done.output
    assert metrics["model"]["mae"] == pytest.approx(miss, rel=1e-3)  # the line goes on
    assert config["anchor"]["kind"] == "blend" and config["anchor"]["model_anchor"] == "season"

    onnx_path = tmp_path / "line.onnx"
    done = run("export", out, "--out", onnx_path)
    assert done.exit_code == 0 and "parity PASSED" in done.output, done.output
    last_value = 10 + SLOPE * 119
    expected = last_value + (steps / 2 + 1.25) * SLOPE
    done = run("predict", onnx_path, "--data", csv)
    assert done.exit_code == 0, done.output
    predicted = [float(line.split(",")[1]) for line in done.output.strip().splitlines()[1:]]
    np.testing.assert_allclose(predicted, expected, atol=1e-3)
    assert shutil.which("node"), "node is not on PATH"
    node = subprocess.run(["node", str(FORECAST_JS), str(onnx_path), str(csv), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert node.returncode == 0, node.stderr
    np.testing.assert_allclose(np.asarray(json.loads(node.stdout)["forecast"])[:, 0], expected,
                               atol=1e-3)


def _ramps_csv(path: Path) -> Path:
    """6 straight lines of different levels and slopes, with a little noise."""
    rng = np.random.default_rng(3)
    lines = ["series,time,value"]
    for i in range(6):
        lines += [f"s{i},{t},{10 * (i + 1) + (i + 1) * 0.5 * t + rng.normal(0, 0.3):.4f}"
                  for t in range(60)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_panel_blend_of_the_network_alone_and_its_fallback_exports_as_one_graph(tmp_path):
    """Anchor `network`: the network alone, on absolute inputs, and the fitted anchor
    beside it; their mean is one model whose export forecasts exactly that mean."""
    from lstm_tf import runs, runtime
    from lstm_tf.atomic import write_json
    from lstm_tf.data.prepare import load_prepared
    from lstm_tf.parity import keras_outputs
    from lstm_tf.train import keras_predict, take_floor

    csv = _ramps_csv(tmp_path / "ramps.csv")
    out = tmp_path / "run"
    done = run("train", "--data", csv, "--series-column", "series", "--time-column", "time",
               "--window", "8", "--horizon", "3", "--test-size", "3", "--epochs", "2",
               "--units", "8", "--ensemble", "2", "--no-floor", "-q", "--out", out)
    assert done.exit_code == 0, done.output
    config = runs.load_config(out)
    model = runs.load_model(out)
    prepared, _ = load_prepared(config.data)  # as trained: the fallback is not saved
    assert prepared.anchor.kind == "none" and prepared.fallback.kind != "none"
    starts, d = prepared.starts["test"], config.data
    raw, _, _ = prepared.raw_inputs(starts, d.window, d.horizon)
    network_alone = prepared.forecast(keras_predict(model), starts, d.window, d.horizon)
    fallback = replace(prepared, anchor=prepared.fallback).forecast(None, starts, d.window,
                                                                     d.horizon)
    assert np.abs(network_alone - fallback).max() > 1e-2  # two different forecasts

    take_floor(model, prepared, config, "mean-anchor", prepared.fallback)
    assert config.anchor["kind"] == "blend" and config.anchor["model_anchor"] == "none"
    model.save(out / runs.MODEL_FILE)
    write_json(out / runs.CONFIG_FILE, config.to_dict())

    saved = runs.load_config(out)
    expected = 0.5 * (network_alone + fallback)
    keras_side, _ = keras_outputs(runs.load_model(out), raw, saved)
    np.testing.assert_allclose(keras_side, expected, rtol=1e-5, atol=1e-4)
    onnx_path = tmp_path / "ramps.onnx"
    done = run("export", out, "--out", onnx_path)
    assert done.exit_code == 0 and "parity PASSED" in done.output, done.output
    (onnx_side,) = runtime.session(onnx_path).run(None, {"window": raw.astype(np.float32)})
    np.testing.assert_allclose(onnx_side, expected, rtol=1e-4, atol=1e-3)
    assert anchors.of_run(saved).describe().startswith("mean of the network and ")


def test_a_mean_does_not_unseat_a_model_that_beats_every_simple_forecast(tmp_path,
                                                                         monkeypatch):
    """The network adds 5.5 x SLOPE: the model overshoots by 1.5 x SLOPE, better than
    naive persistence (2 x SLOPE on average) and seasonal naive (4 x SLOPE); the mean of
    it and naive would miss by |k - 1.5| / 2 x SLOPE (5 / 12 x SLOPE), better still, but
    no simple forecast beats the model, so the floor leaves it."""
    _, metrics, config, _, _ = _pushed_run(tmp_path, monkeypatch, 5.5)
    scores = metrics["floor_validation"]
    assert scores["mean-last"] == pytest.approx(5 / 12 * SLOPE, rel=1e-3)
    assert scores["mean-last"] < scores["model"] == pytest.approx(1.5 * SLOPE, rel=1e-3)
    assert scores["model"] < min(scores["last"], scores["season"])
    assert metrics["floor"] is None and metrics["network_kept"] is True
    assert config["anchor"]["kind"] == "season"
    assert metrics["model"]["mae"] == pytest.approx(1.5 * SLOPE, rel=1e-3)


@pytest.mark.parametrize("second_mae", [0.9, 1.0])
def test_the_second_training_replaces_the_first_only_when_better_on_validation(
        tmp_path, monkeypatch, second_mae):
    """Anchor `network` whose network alone lost to the fitted anchor on validation
    (model 2.0, anchor 1.0: the floor took the anchor) trains anchor + network as well;
    the run at `out` is the second only when its chosen forecast is better there (0.9),
    the first on a tie (1.0), the other's figures recorded either way. (`_train` replaced
    by a stand-in that writes a run of two files: this is the choice and the files.)"""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    trained = []

    def stand_in(config, out, force, verbose, log, resume, note=None):
        first = config.data.anchor is None  # the panel default, resolved by loading
        config.data.anchor = "network" if first else config.data.anchor
        scores = {"model": 2.0, "anchor": 1.0} if first else {"model": second_mae,
                                                               "anchor": 1.0}
        metrics = {"floor": "anchor" if first else None, "network_kept": not first,
                   "best_epoch": 3 if first else 9, "train_seconds": 1.5,
                   "train_windows": 500, "floor_validation": scores, **(note or {})}
        Path(out).mkdir(parents=True, exist_ok=force)
        (Path(out) / "metrics.json").write_text(json.dumps(metrics))
        (Path(out) / "anchor.txt").write_text(config.data.anchor)
        trained.append(config.data.anchor)
        return metrics

    monkeypatch.setattr(train_lib, "_train", stand_in)
    out = tmp_path / "run"
    lines = []
    metrics = train_lib.train(RunConfig(DataConfig(), ModelConfig(), TrainConfig()), out,
                              log=lines.append)
    assert trained == ["network", "auto"]
    assert any("training the anchor + network as well" in line for line in lines)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == metrics
    if second_mae < 1.0:
        assert (out / "anchor.txt").read_text() == "auto" and metrics["network_kept"] is True
        assert metrics["first_training"] == {
            "anchor": "network", "floor": "anchor", "network_kept": False, "best_epoch": 3,
            "train_seconds": 1.5, "validation_mae": 1.0}
    else:
        assert (out / "anchor.txt").read_text() == "network" and metrics["floor"] == "anchor"
        assert metrics["second_training"]["validation_mae"] == 1.0
        assert metrics["second_training"]["best_epoch"] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing else left


def test_no_second_training_on_a_panel_past_the_ensemble_window_limit(tmp_path, monkeypatch):
    """The second training doubles the training time: past `ensemble.PANEL_WINDOWS`
    training windows (the 150 x 300-month panel of the time budget) the first run stays,
    the floor's choice as it was, and the log says why."""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from lstm_tf.ensemble import PANEL_WINDOWS

    trained = []

    def stand_in(config, out, force, verbose, log, resume, note=None):
        config.data.anchor = "network"
        trained.append(config.data.anchor)
        metrics = {"floor": "anchor", "network_kept": False, "best_epoch": 3,
                   "train_seconds": 1.5, "train_windows": PANEL_WINDOWS + 1,
                   "floor_validation": {"model": 2.0, "anchor": 1.0}}
        Path(out).mkdir(parents=True, exist_ok=force)
        (Path(out) / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    monkeypatch.setattr(train_lib, "_train", stand_in)
    lines = []
    metrics = train_lib.train(RunConfig(DataConfig(), ModelConfig(), TrainConfig()),
                              tmp_path / "run", log=lines.append)
    assert trained == ["network"]
    assert metrics["floor"] == "anchor" and "second_training" not in metrics
    assert any(f"no second training (anchor + network) on more than {PANEL_WINDOWS}" in line
               for line in lines)


@pytest.mark.parametrize("series_mae", [0.97, 0.99])
def test_series_scaling_replaces_window_scaling_only_when_clearly_better_on_validation(
        tmp_path, monkeypatch, series_mae):
    """A panel trained without --scaling trains under series scaling (anchor auto) as
    well; that run replaces the first only when its chosen forecast's validation MAE is
    lower by `SERIES_SCALING_EDGE` (2%: 0.97 against 1.0 is, 0.99 is not), since it
    forecasts only the series it saw. Each run records the other's figures. (`_train`
    replaced by a stand-in that writes a run of two files: this is the choice and the
    files.)"""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    assert train_lib.SERIES_SCALING_EDGE == 0.02
    trained = []

    def stand_in(config, out, force, verbose, log, resume, note=None):
        first = config.data.scaling is None
        config.data.scaling = config.data.scaling or "window"
        config.data.anchor = config.data.anchor or "network"
        config.panel, config.data.window = {"series": ["a", "b"]}, 12
        scores = {"model": 1.0 if first else series_mae, "anchor": 1.5}
        metrics = {"floor": None, "network_kept": True, "best_epoch": 4 if first else 7,
                   "train_seconds": 2.0, "epochs_run": 9, "train_windows": 800,
                   "floor_validation": scores, **(note or {})}
        Path(out).mkdir(parents=True, exist_ok=force)
        (Path(out) / "metrics.json").write_text(json.dumps(metrics))
        (Path(out) / "scaling.txt").write_text(config.data.scaling)
        trained.append((config.data.scaling, config.data.anchor))
        return metrics

    monkeypatch.setattr(train_lib, "_train", stand_in)
    out = tmp_path / "run"
    lines = []
    metrics = train_lib.train(RunConfig(DataConfig(), ModelConfig(), TrainConfig()), out,
                              log=lines.append)
    assert trained == [("window", "network"), ("series", "auto")]
    assert any("scaled by its own statistics as well" in line for line in lines)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    if series_mae < 0.98:
        assert (out / "scaling.txt").read_text() == "series"
        assert metrics["window_scaling_training"] == {
            "scaling": "window", "floor": None, "network_kept": True, "best_epoch": 4,
            "train_seconds": 2.0, "validation_mae": 1.0}
    else:
        assert (out / "scaling.txt").read_text() == "window"
        assert metrics["series_scaling_training"]["validation_mae"] == 0.99
        assert metrics["series_scaling_training"]["best_epoch"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing else left


def _panel_stand_in(trained: list, window: int = 12, train_windows: int = 800):
    """A stand-in for `train._train` that "trains" a panel run whose model beats its
    anchor on validation (1.0 against 1.5), writes its metrics.json and records each
    training's scaling in `trained`; series scaling is refused with a user error when
    `window` is 0."""
    from lstm_tf.errors import UserError

    def stand_in(config, out, force, verbose, log, resume, note=None):
        if config.data.scaling == "series" and not window:
            raise UserError("series s3 has no training rows")
        trained.append(config.data.scaling or "window")
        config.data.scaling, config.data.anchor = trained[-1], "network"
        config.panel, config.data.window = {"series": ["a", "b"]}, window or 12
        metrics = {"floor": None, "network_kept": True, "best_epoch": 4, "train_seconds": 2.0,
                   "epochs_run": 9, "train_windows": train_windows,
                   "floor_validation": {"model": 1.0, "anchor": 1.5}}
        Path(out).mkdir(parents=True, exist_ok=force)
        (Path(out) / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    return stand_in


@pytest.mark.parametrize("asked", [{"scaling": "window"}, {"scaling": "series"}])
def test_no_series_scaling_training_when_the_scaling_is_asked_for(tmp_path, monkeypatch,
                                                                 asked):
    """`--scaling` given (either) is the run's: nothing is trained beside it."""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    trained = []
    monkeypatch.setattr(train_lib, "_train", _panel_stand_in(trained))
    metrics = train_lib.train(RunConfig(DataConfig(**asked), ModelConfig(), TrainConfig()),
                              tmp_path / "run", log=lambda line: None)
    assert trained == [asked["scaling"]]
    assert not any(key.endswith("_scaling_training") for key in metrics)


def test_a_challenger_the_data_refuses_leaves_the_first_run(tmp_path, monkeypatch):
    """A second training that ends in a user error (what one scaling allows the other
    may refuse) leaves the first run at `out` as it was, and says why."""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    trained = []
    monkeypatch.setattr(train_lib, "_train", _panel_stand_in(trained, window=0))
    out, lines = tmp_path / "run", []
    metrics = train_lib.train(RunConfig(DataConfig(), ModelConfig(), TrainConfig()), out,
                              log=lines.append)
    assert trained == ["window"]
    assert metrics["best_epoch"] == 4 and "series_scaling_training" not in metrics
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert any("series scaling could not train (series s3 has no training rows)" in line
               for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_no_series_scaling_training_past_its_window_steps(tmp_path, monkeypatch):
    """Past `ensemble.PANEL_STEPS` window steps (training windows x window: two hourly
    series of 12 weeks have 232,724) the first run stays, and the log says why."""
    from lstm_tf import train as train_lib
    from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    trained = []
    monkeypatch.setattr(train_lib, "_train", _panel_stand_in(trained, 73, 3188))
    lines = []
    metrics = train_lib.train(RunConfig(DataConfig(), ModelConfig(), TrainConfig()),
                              tmp_path / "run", log=lines.append)
    from lstm_tf.ensemble import PANEL_STEPS

    assert PANEL_STEPS == 100_000 < 3188 * 73
    assert trained == ["window"] and "series_scaling_training" not in metrics
    assert any("no second training under series scaling on more than 100,000 window steps "
               "(3,188 training windows x window 73)" in line for line in lines)
