"""Quantile forecasts (`lstm-tf train --quantiles`): levels, a head whose quantiles never
cross (in Keras and in onnxruntime, for any input), the pinball loss and interval
metrics by hand, and a quantile run through export (window, step, gates), parity,
predict, evaluate and bench."""

import csv
import io
import json

import numpy as np
import pytest

from lstm_tf import contract, quantiles
from lstm_tf.errors import UserError

from helpers import run

# ------------------------------------------------------------------------- levels


@pytest.mark.parametrize("text, levels", [
    ("0.1,0.5,0.9", [0.1, 0.5, 0.9]),
    ("0.1, 0.9", [0.1, 0.5, 0.9]),          # the median is added
    ("0.025,0.975", [0.025, 0.5, 0.975]),
    ("0.5", [0.5]),
    ("0.6,0.7", [0.5, 0.6, 0.7]),
])
def test_parse_levels(text, levels):
    assert quantiles.parse_levels(text) == levels


@pytest.mark.parametrize("text, message", [
    ("0.1,1.0", "1.0 is outside (0, 1)"),
    ("0,0.5", "0 is outside (0, 1)"),
    ("-0.1,0.5", "-0.1 is outside (0, 1)"),
    ("nan", "nan is outside (0, 1)"),
    ("0.9,0.1", "levels must increase (0.9 then 0.1)"),
    ("0.1,0.1,0.9", "0.1 is repeated"),
    ("0.1,abc", "'abc' is not a number"),
    ("0.1,,0.9", "empty entry"),
])
def test_parse_levels_refuses(text, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quantiles.parse_levels(text)


def test_central_intervals_pair_levels_around_the_median():
    assert quantiles.central_intervals([0.05, 0.1, 0.5, 0.9, 0.95]) == [(0, 4, 0.9), (1, 3, 0.8)]
    assert quantiles.central_intervals([0.1, 0.5, 0.8]) == []


# ------------------------------------------------------------------------- by hand

def test_pinball_loss_and_report_by_hand():
    levels = [0.1, 0.5, 0.9]
    actual = np.array([[[1.0]], [[3.0]]])                            # [2, 1, 1]
    q = np.array([[[[0.0, 1.0, 2.0]]], [[[0.0, 1.0, 2.0]]]])         # [2, 1, 1, 3]
    # y=1: errors 1, 0, -1 -> 0.1, 0, 0.1;  y=3: errors 3, 2, 1 -> 0.3, 1.0, 0.9
    np.testing.assert_allclose(quantiles.pinball(q, actual, levels), [0.2, 0.5, 0.5])
    result = quantiles.report(q, actual, levels, scale=2.0)
    assert result["mean_scaled_pinball"] == pytest.approx(1.2 / 3 / 2.0)
    # GluonTS: mean over levels of 2 * sum(loss) / sum(|y|) = 2 * (0.4, 1.0, 1.0) / 4
    assert result["weighted_quantile_loss"] == pytest.approx(np.mean([0.2, 0.5, 0.5]))
    assert result["intervals"] == {"80%": {"levels": [0.1, 0.9], "coverage": 0.5,
                                           "mean_width": 2.0}}
    # the Keras loss is the same number
    loss = quantiles.pinball_loss(levels)
    assert float(loss(actual.astype(np.float32), q.astype(np.float32))) == pytest.approx(
        np.mean([0.2, 0.5, 0.5]), rel=1e-6)


def test_seasonal_naive_residual_intervals_by_hand():
    # season 2; training rows 0..7; residuals of the one-season-back forecast are
    # history[r] - history[r - 2] = 1, 2, 3, 4, 5, 6 for r = 2..7
    history = np.array([0, 0, 1, 2, 4, 6, 9, 12, 0, 0, 0, 0], float)[:, None]
    bands, name = quantiles.residual_intervals(history, 8, np.array([8, 10]), 1, 2,
                                               [0.1, 0.5, 0.9])
    assert name == "seasonal_naive" and bands.shape == (2, 1, 1, 3)
    offsets = np.quantile([1, 2, 3, 4, 5, 6], [0.1, 0.5, 0.9])
    np.testing.assert_allclose(bands[0, 0, 0], history[6, 0] + offsets)  # row 8 - season
    np.testing.assert_allclose(bands[1, 0, 0], history[8, 0] + offsets)
    assert quantiles.residual_intervals(history, 2, np.array([8]), 1, 2, [0.5])[0] is None


# ------------------------------------------------------------------------- Keras head

def extreme_windows(mean, std, time: int, rng) -> np.ndarray:
    """Raw windows [n, time, columns]: training-range noise, 1e3 x beyond it, constants
    (at the mean, at +-1e3 std, at 0), alternating signs, a spike."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    columns = len(mean)
    big = 1e3 * (np.abs(mean) + 3 * std)
    signs = (-1.0) ** np.arange(time)[:, None]
    cases = [mean + std * rng.normal(size=(time, columns)),
             mean + big * rng.normal(size=(time, columns)),
             np.broadcast_to(mean, (time, columns)),
             np.broadcast_to(big, (time, columns)), np.broadcast_to(-big, (time, columns)),
             np.zeros((time, columns)),
             signs * big, -signs * big, signs * std + mean]
    spike = np.broadcast_to(mean, (time, columns)).copy()
    spike[-1] = big
    cases.append(spike)
    return np.stack(cases).astype(np.float32)


def test_head_never_crosses_and_loads_with_safe_mode(tmp_path):
    import keras

    from lstm_tf import runs
    from lstm_tf.config import ModelConfig
    from lstm_tf.models import build_model

    levels = [0.05, 0.1, 0.5, 0.9, 0.95]
    model = build_model(ModelConfig("rnn", units=4, quantiles=levels), features=2, horizon=3,
                        targets=2)
    rng = np.random.default_rng(0)
    # Large weights: raw outputs of +-hundreds, so softplus underflows to 0 or is huge.
    model.set_weights([300 * rng.normal(size=w.shape) for w in model.get_weights()])
    x = extreme_windows([0.0, 5.0], [1.0, 2.0], 9, rng)
    out = model.predict(x, verbose=0)
    assert out.shape == (len(x), 3, 2, len(levels))
    assert np.all(np.isfinite(out)) and np.all(np.diff(out, axis=-1) >= 0)
    assert np.any(np.diff(out, axis=-1) == 0)  # underflowed offsets: equal, never crossed
    path = tmp_path / "run"
    path.mkdir()
    model.compile(loss=quantiles.pinball_loss(levels))
    model.save(path / "model.keras")
    loaded = runs.load_model(path)  # safe_mode=True
    assert quantiles.levels_of(loaded) == levels
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), out)
    assert isinstance(loaded.loss, keras.losses.Loss) and loaded.loss.levels == levels


def test_zero_median_keeps_the_interval():
    from lstm_tf.config import ModelConfig
    from lstm_tf.models import build_model

    levels = [0.1, 0.5, 0.9]
    model = build_model(ModelConfig("lstm", units=3, quantiles=levels), features=1, horizon=2,
                        targets=2)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    x = rng.normal(size=(4, 6, 1)).astype(np.float32)
    before = model.predict(x, verbose=0)
    quantiles.zero_median(model.get_layer("head"), levels)
    after = model.predict(x, verbose=0)
    assert np.all(after[..., 1] == 0)  # the median: the anchor's forecast, exactly
    np.testing.assert_allclose(np.diff(after, axis=-1), np.diff(before, axis=-1), rtol=1e-6)


# ------------------------------------------------------------------------- a run, end to end

TINY = ["--units", "4", "--epochs", "2", "-q"]


@pytest.fixture(scope="module")
def quantile_runs(tmp_path_factory):
    """gated: two targets and a feature, horizon 2, with an anchor (window, gates);
    rnn: 2 layers, --anchor none (window and step models)."""
    root = tmp_path_factory.mktemp("quantiles")
    specs = {"gated": ["--dataset", "sine2", "--model", "gated", "--horizon", "2",
                       "--window", "12", "--quantiles", "0.2,0.8"],
             "rnn": ["--dataset", "sine", "--model", "rnn", "--layers", "2", "--horizon", "3",
                     "--window", "10", "--anchor", "none", "--quantiles", "0.1,0.5,0.9"]}
    for name, args in specs.items():
        result = run("train", *args, *TINY, "--out", root / name)
        assert result.exit_code == 0, result.output
        assert "interval: coverage" in result.output
    exports = {"gated.gates": ["gated", "--gates"], "gated": ["gated"], "rnn": ["rnn", "--step"]}
    for out, (name, *args) in exports.items():
        result = run("export", root / name, "--onnx", *args, "--out", root / f"{out}.onnx")
        assert result.exit_code == 0, result.output
        assert "parity PASSED" in result.output
    return root


def test_run_metrics_hold_the_quantile_block(quantile_runs):
    metrics = json.loads((quantile_runs / "gated" / "metrics.json").read_text())
    block = metrics["quantiles"]
    assert block["levels"] == [0.2, 0.5, 0.8]
    for method in ("model", "seasonal_naive_intervals"):
        interval = block[method]["intervals"]["60%"]
        assert 0 <= interval["coverage"] <= 1 and interval["mean_width"] > 0
        assert block[method]["mean_scaled_pinball"] > 0
    config = json.loads((quantile_runs / "gated" / "config.json").read_text())
    assert config["model"]["quantiles"] == [0.2, 0.5, 0.8] and config["train"]["loss"] == "pinball"
    result = run("evaluate", quantile_runs / "gated", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["quantiles"] == block  # same model, same test part


@pytest.mark.parametrize("name", ["gated", "rnn"])
def test_exported_quantiles_never_cross_in_onnxruntime_and_keras(quantile_runs, name):
    from lstm_tf import runs, runtime
    from lstm_tf.parity import keras_outputs

    path = quantile_runs / f"{name}.onnx"
    session = runtime.session(path)
    meta = runtime.metadata(session, str(path))
    levels = meta["quantiles"]
    config = runs.load_config(quantile_runs / name)
    assert levels == config.model.quantiles
    assert [o.name for o in session.get_outputs()] == [contract.OUTPUT, contract.QUANTILES]
    horizon, targets = meta["horizon"], len(meta["targets"])
    assert meta["outputs"][contract.QUANTILES] == ["batch", horizon, targets, len(levels)]
    x = extreme_windows(meta["scaler"]["mean"], meta["scaler"]["std"], meta["window"],
                        np.random.default_rng(2))
    forecast, q = session.run(None, {contract.INPUT: x})
    assert q.shape == (len(x), horizon, targets, len(levels))
    assert np.all(np.isfinite(q)) and np.all(np.diff(q, axis=-1) >= 0)
    np.testing.assert_array_equal(forecast, q[..., levels.index(0.5)])  # the median
    _, in_keras = keras_outputs(runs.load_model(quantile_runs / name), x, config)
    assert np.all(np.isfinite(in_keras)) and np.all(np.diff(in_keras, axis=-1) >= 0)


def test_gate_and_step_models_output_quantiles_last(quantile_runs):
    import onnx

    from lstm_tf import runtime
    from lstm_tf.parity import run_step_model

    gates = onnx.load(quantile_runs / "gated.gates.onnx")
    names = [o.name for o in gates.graph.output]
    assert names == contract.output_names("gated", gates_layers=1, quantiles=[0.2, 0.5, 0.8])
    assert names[-1] == contract.QUANTILES and len(names) == 2 + len(contract.GATES)
    report = json.loads((quantile_runs / "gated.gates.parity.json").read_text())["gates"]
    assert report["passed"] and contract.QUANTILES in report["outputs"]
    step = runtime.session(quantile_runs / "rnn.step.onnx")
    assert [o.name for o in step.get_outputs()] == ["forecast", "h_out", "quantiles"]
    window = runtime.session(quantile_runs / "rnn.onnx")
    meta = runtime.metadata(window, "rnn.onnx")
    x = extreme_windows(meta["scaler"]["mean"], meta["scaler"]["std"], meta["window"],
                        np.random.default_rng(3))[:3]
    last = []
    run_step_model(step, x, "rnn", 2, 4, outputs_at_end=last)
    np.testing.assert_allclose(last[-1], window.run([contract.QUANTILES], {"window": x})[0],
                               rtol=1e-4, atol=1e-3 * max(meta["scaler"]["std"]))
    parity = json.loads((quantile_runs / "rnn.parity.json").read_text())
    assert parity["step"]["outputs_checked"] == ["forecast", "quantiles"]
    assert parity["window"]["outputs_checked"] == ["forecast", "quantiles"]


def test_predict_writes_a_column_per_quantile(quantile_runs, tmp_path):
    rows = ["t,value"] + [f"{i},{np.sin(i / 4):.5f}" for i in range(30)]
    data = tmp_path / "tail.csv"
    data.write_text("\n".join(rows) + "\n")
    result = run("predict", quantile_runs / "rnn.onnx", "--data", data, "--steps", "5")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.output)))
    assert table[0] == ["step", "value", "value_q0.1", "value_q0.5", "value_q0.9"]
    for row in table[1:4]:  # within the horizon (3): ordered, and the median is the forecast
        values = [float(v) for v in row[1:]]
        assert values[0] == values[2] and values[1] <= values[2] <= values[3]
    assert [row[2:] for row in table[4:]] == [["", "", ""]] * 2  # rolled beyond: none


def test_bench_handles_a_quantile_run(quantile_runs):
    result = run("bench", quantile_runs / "rnn", "--batch", "1", "--budget", "0.05")
    assert result.exit_code == 0, result.output
    assert "onnxruntime, hand-built graph" in result.output
    assert "exported / hand-built" in result.output


def test_calibration_gives_each_level_its_share_on_the_windows_it_saw():
    from lstm_tf.anchors import Anchor
    from lstm_tf.config import ModelConfig
    from lstm_tf.forecaster import Forecaster
    from lstm_tf.models import build_model

    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    model = build_model(ModelConfig("rnn", units=3, quantiles=levels), features=1, horizon=2,
                        targets=1)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 5, 1)).astype(np.float32)
    actual = 3.0 * rng.standard_t(4, size=(400, 2, 1))  # far wider than the head's offsets
    network = lambda batch: model.predict(batch, verbose=0)  # noqa: E731
    scales = quantiles.calibrate(model, network, x, Anchor.none(2, 1), actual)
    assert scales["q0.5"] == [1.0] and scales["q0.95"][0] > 1
    q = Forecaster("none", Anchor.none(2, 1), 1).forecast(network, x)
    below = (actual[..., None] <= q).reshape(-1, len(levels)).mean(axis=0)
    np.testing.assert_allclose(below[[0, 1, 3, 4]], [0.05, 0.25, 0.75, 0.95], atol=2 / 800)
    assert np.all(np.diff(q, axis=-1) >= 0)
    assert quantiles.calibration_of(model) == scales


def test_forecast_png_shades_the_interval(tmp_path, monkeypatch):
    from lstm_tf import figures

    captured = {}
    monkeypatch.setattr(figures, "save_figure",
                        lambda figure, path: captured.update(figure=figure))
    n = 6
    plot = {"forecast": np.zeros((n, 1, 1)), "actual": np.ones((n, 1, 1)), "targets": ["y"],
            "band": {"low": -np.ones((n, 1, 1)), "high": 2 * np.ones((n, 1, 1)),
                     "label": "80% interval"}}
    figures.plot_forecast(plot, tmp_path / "forecast.png")
    axis = captured["figure"].axes[0]
    (band,) = axis.collections  # the shaded interval, from -1 to 2
    np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].min(), -1)
    np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].max(), 2)
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert "80% interval" in labels and "forecast (step 1), median" in labels
