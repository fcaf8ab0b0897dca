"""`lstm-tf export`, `parity` and `predict`: fused ONNX graphs, parity with Keras, TF-free predict."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from lstm_tf import contract

from helpers import run

TINY = ["--window", "8", "--units", "6", "--layers", "2", "--epochs", "1", "-q"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, sine_runs):
    """A folder for the exported models beside the session's lstm and rnn runs on sine
    (window 8, 2 x 6 units, one epoch, --anchor none: tests/conftest.py), linked in."""
    root = tmp_path_factory.mktemp("export")
    for kind in ("lstm", "rnn"):
        (root / kind).symlink_to(sine_runs[kind], target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def exported(runs_dir):
    paths = {}
    for kind in ("lstm", "rnn"):
        out = runs_dir / f"{kind}.onnx"
        result = run("export", runs_dir / kind, "--onnx", "--step", "--out", out)
        assert result.exit_code == 0, result.output
        assert "parity PASSED" in result.output
        paths[kind] = out
    return paths


@pytest.mark.parametrize("kind, fused", [("lstm", "LSTM"), ("rnn", "RNN")])
def test_export_fuses_recurrent_layers_and_records_metadata(exported, kind, fused):
    model = onnx.load(exported[kind])
    onnx.checker.check_model(model, full_check=True)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count(fused) == 2 and "Loop" not in ops
    meta = contract.read_metadata(model, str(exported[kind]))
    assert (meta["kind"], meta["layers"], meta["units"], meta["window"]) == (kind, 2, 6, 8)
    assert meta["columns"] == ["value"] and meta["scaling"] == "in-graph"
    assert meta["parity"]["passed"] and meta["parity"]["max_relative_error"] < 1e-5
    assert [i.name for i in model.graph.input] == [contract.INPUT]
    assert [o.name for o in model.graph.output] == [contract.OUTPUT]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and not dims[1].HasField("dim_value")  # dynamic
    assert dims[2].dim_value == 1
    step = onnx.load(exported[kind].with_name(f"{kind}.step.onnx"))
    onnx.checker.check_model(step, full_check=True)
    report = json.loads(exported[kind].with_name(f"{kind}.parity.json").read_text())
    assert report["window"]["passed"] and report["step"]["passed"]
    # the README's promise: parity at half and at twice the training window (8)
    assert {"batch 1", "batch 256", "time 4", "time 16", "test windows"} <= set(
        report["window"]["cases"])
    long = report["window"]["cases"]["time 16"]
    assert long["time"] == 16 and long["max_relative_error"] <= report["window"]["tolerance"]


def graph_shapes(model) -> dict:
    """Each graph input's and output's shape as written in the ONNX file."""
    return {value.name: [dim.dim_param or dim.dim_value for dim in
                         value.type.tensor_type.shape.dim]
            for value in [*model.graph.input, *model.graph.output]}


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_exported_axes_carry_the_contract_names(exported, kind):
    for path in (exported[kind], exported[kind].with_name(f"{kind}.step.onnx")):
        model = onnx.load(path)
        meta = contract.read_metadata(model, str(path))
        assert graph_shapes(model) == {**meta["inputs"], **meta["outputs"]}
    assert graph_shapes(model)["h_in"] == [2, "batch", 6]  # [layers, batch, units]


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_step_model_reproduces_the_window_forecast(exported, runs_dir, kind):
    from lstm_tf import runtime
    from lstm_tf.data import load_builtin
    from lstm_tf.parity import run_step_model

    step_path = exported[kind].with_name(f"{kind}.step.onnx")
    step = runtime.session(step_path)
    meta = runtime.metadata(step, str(step_path))
    assert meta["model"] == "step"
    assert [i.name for i in step.get_inputs()] == ["x_t", "h_in"] + (["c_in"] if kind == "lstm" else [])
    window_model = runtime.session(exported[kind])
    series = load_builtin("sine").values.astype(np.float32)
    windows = np.stack([series[i:i + 8] for i in range(0, 400, 37)])
    (expected,) = window_model.run(None, {"window": windows})
    got = run_step_model(step, windows, kind, layers=2, units=6)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_predict_matches_keras_and_never_imports_tensorflow(exported, runs_dir, tmp_path):
    from lstm_tf.data import load_builtin
    from lstm_tf.parity import keras_outputs
    from lstm_tf.runs import load_config, load_model

    series = load_builtin("sine").values
    csv = tmp_path / "tail.csv"
    csv.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in series[-30:, 0]))
    code = ("import sys; from lstm_tf_cli.main import cli\n"
            f"try: cli(['predict', {str(exported['lstm'])!r}, '--data', {str(csv)!r}, '--steps', '3'])\n"
            "except SystemExit: pass\n"
            "print('TF' if any(m.startswith('tensorflow') for m in sys.modules) else 'clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "clean" and lines[0] == "step,value" and len(lines) == 5
    config = load_config(runs_dir / "lstm")
    keras_first = keras_outputs(load_model(runs_dir / "lstm"),
                                series[None, -8:].astype(np.float32), config)[0][0, 0, 0]
    assert float(lines[1].split(",")[1]) == pytest.approx(keras_first, abs=1e-5)


def test_predict_writes_out_file_and_refuses_overwrite(exported, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("value\n" + "".join(f"{np.sin(i / 3):.5f}\n" for i in range(20)))
    out = tmp_path / "f.csv"
    assert run("predict", exported["rnn"], "--data", csv, "--out", out).exit_code == 0
    assert out.read_text().splitlines()[0] == "step,value"
    result = run("predict", exported["rnn"], "--data", csv, "--out", out)
    assert result.exit_code == 1 and "already exists; pass --force" in result.output


@pytest.mark.parametrize("name, written, future", [
    ("quarter", lambda i: f"{1990 + i // 4}Q{i % 4 + 1}", ["1995Q1", "1995Q2", "1995Q3"]),
    ("date", lambda i: f"{2000 + i // 12}-{i % 12 + 1:02d}", ["2001-09", "2001-10", "2001-11"])])
def test_predict_writes_future_times_as_the_file_writes_its_own(exported, tmp_path, name,
                                                               written, future):
    # The model was trained without a time column: the forecast's time column takes the
    # file's name for it, and continues its times in the file's style.
    csv = tmp_path / "d.csv"
    csv.write_text(f"{name},value\n" + "".join(f"{written(i)},{np.sin(i / 3):.5f}\n"
                                               for i in range(20)))
    result = run("predict", exported["rnn"], "--data", csv, "--steps", 3)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{name},step,value"
    assert [line.split(",")[0] for line in lines[1:]] == future


def test_predict_errors(exported, tmp_path):
    not_onnx = tmp_path / "x.onnx"
    not_onnx.write_text("hello")
    bare = tmp_path / "bare.onnx"
    model = onnx.load(exported["lstm"])
    del model.metadata_props[:]
    onnx.save(model, bare)
    short = tmp_path / "short.csv"
    short.write_text("value\n1\n2\n")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("other\n1\n")
    cases = [
        ([not_onnx, "--data", short], "is not a valid ONNX model"),
        ([bare, "--data", short], "has no lstm-tf metadata"),
        ([exported["lstm"], "--data", wrong], "no column 'value'; available: other"),
        ([exported["lstm"], "--data", short], "short.csv has 2 rows; the model needs at least 8 (its window)"),
        ([exported["lstm"].with_name("lstm.step.onnx"), "--data", short], "predict needs the window model"),
    ]
    for args, message in cases:
        result = run("predict", *args)
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_export_refuses_overwrite_and_failed_parity_writes_no_model(runs_dir, exported, tmp_path):
    result = run("export", runs_dir / "lstm", "--out", exported["lstm"])
    assert result.exit_code == 1 and "already exists; pass --force" in result.output
    target = tmp_path / "strict.onnx"
    result = run("export", runs_dir / "lstm", "--out", target, "--tolerance", "1e-15")
    assert result.exit_code == 1 and "parity check FAILED" in result.output
    assert not target.exists()
    assert json.loads((tmp_path / "strict.parity.json").read_text())["window"]["passed"] is False


def test_parity_reference_runs_in_full_float32(exported, runs_dir, monkeypatch):
    """TensorFloat-32 (on by default for float32 matmuls on Ampere and newer GPUs) puts the
    Keras reference about 1e-4 off: parity computes it with TF32 off, then restores it."""
    import tensorflow as tf

    from lstm_tf import parity, runs

    tf32 = tf.config.experimental.tensor_float_32_execution_enabled
    seen = []
    reference = parity.keras_outputs

    def recorded(*args, **kwargs):
        seen.append(tf32())
        return reference(*args, **kwargs)

    monkeypatch.setattr(parity, "keras_outputs", recorded)
    assert tf32()  # TensorFlow's default, on the GPUs concerned
    config, model = runs.load_config(runs_dir / "lstm"), runs.load_model(runs_dir / "lstm")
    window = parity.check_window_model(str(exported["lstm"]), model, config)
    step = parity.check_step_model(str(contract.step_path_for(exported["lstm"])), model, config)
    assert window["passed"] and step["passed"]
    assert seen and not any(seen)  # every reference forecast without TF32 ...
    assert tf32()  # ... and the setting restored afterwards


def test_no_scaling_export_and_parity_command(runs_dir, tmp_path):
    out = tmp_path / "bare.onnx"
    result = run("export", runs_dir / "lstm", "--out", out, "--no-scaling")
    assert result.exit_code == 0, result.output
    meta = contract.read_metadata(onnx.load(out), "bare")
    assert meta["scaling"] == "none"
    result = run("parity", out, runs_dir / "lstm")
    assert result.exit_code == 0 and result.output.startswith("parity PASSED")


def test_gated_run_exports_as_fused_lstm(sine_runs, tmp_path):
    out = sine_runs["gated"]  # sine, window 8, 2 x 6 units, one epoch (tests/conftest.py)
    result = run("export", out, "--out", tmp_path / "gated.onnx")
    assert result.exit_code == 0 and "parity PASSED" in result.output, result.output
    model = onnx.load(tmp_path / "gated.onnx")
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("LSTM") == 2 and "Loop" not in ops
    assert contract.read_metadata(model, "gated")["kind"] == "gated"


def test_mixed_precision_run_exports_fused_and_passes_parity(sine_runs, tmp_path):
    import json as json_lib

    # The session's mixed-precision run (tests/conftest.py: sine, window 8, 2 x 6 units,
    # one epoch, no anchor), whose dtypes test_distribute checks.
    out = sine_runs["lstm mixed"]
    assert json_lib.loads((out / "config.json").read_text())["train"]["precision"] == "mixed_bfloat16"
    result = run("export", out, "--out", tmp_path / "mixed.onnx")
    assert result.exit_code == 0 and "parity PASSED" in result.output, result.output
    ops = [node.op_type for node in onnx.load(tmp_path / "mixed.onnx").graph.node]
    assert ops.count("LSTM") == 2 and "Loop" not in ops


def test_parity_command_fails_on_a_model_that_does_not_match_its_run(runs_dir, exported,
                                                                     sine_runs):
    """The failing branch: the lstm model checked against another run of the same shape."""
    other = sine_runs["lstm anchored"]  # the same sizes, trained with the default anchor
    result = run("parity", exported["lstm"], other)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("parity FAILED"), result.output
    assert lines[-1] == (f"Error: {exported['lstm']} does not match {other} within 1e-05 x std")
    result = run("parity", exported["lstm"], runs_dir / "lstm")  # and its own run passes
    assert result.exit_code == 0 and result.output.startswith("parity PASSED")


def test_predict_beyond_the_horizon_rolls_every_step(exported, tmp_path):
    """--steps 5 with horizon 1: each row is the model's forecast after the previous rows."""
    from lstm_tf import runtime

    history = [float(np.sin(i / 3) + 0.2 * np.cos(i)) for i in range(20)]
    csv = tmp_path / "d.csv"
    csv.write_text("value\n" + "".join(f"{v!r}\n" for v in history))
    result = run("predict", exported["lstm"], "--data", csv, "--steps", 5)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "step,value" and [int(line.split(",")[0]) for line in lines[1:]] == [
        1, 2, 3, 4, 5]
    got = [float(line.split(",")[1]) for line in lines[1:]]
    session = runtime.session(exported["lstm"])
    rolled = list(np.float32(history))
    for step, value in enumerate(got):  # by hand: feed back each forecast, one at a time
        window = np.array(rolled[-8:], np.float32)[None, :, None]
        (forecast,) = session.run(["forecast"], {"window": window})
        expected = float(forecast[0, 0, 0])
        assert value == pytest.approx(expected, rel=1e-6, abs=1e-6), f"step {step + 1}"
        rolled.append(np.float32(expected))
    assert len(set(got)) == 5  # the steps differ: each really is a new forecast


def test_default_anchored_run_exports_one_self_contained_graph(tmp_path):
    """The default run corrects an anchor: the exported graph computes anchor + network
    in raw units (fused LSTM, MatMul for the anchor), matches the library's forecast on
    every test window, and has no step model."""
    from lstm_tf import anchors, runs, runtime
    from lstm_tf.parity import test_windows
    from lstm_tf.data.prepare import evaluation_data

    out = tmp_path / "run"
    result = run("train", "--dataset", "sine", "--horizon", 3, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    config = runs.load_config(out)
    anchor = anchors.of_run(config)
    assert anchor.relative_inputs and anchor.reach <= 8 and "anchor " in result.output
    model_path = tmp_path / "anchored.onnx"
    result = run("export", out, "--out", model_path)
    assert result.exit_code == 0 and "parity PASSED" in result.output, result.output
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("LSTM") == 2 and "MatMul" in ops and "Loop" not in ops
    meta = contract.read_metadata(model, str(model_path))
    assert meta["anchor"]["reach"] == anchor.reach and "weights" not in meta["anchor"]
    # Independently of the parity module: raw test windows through onnxruntime against
    # the scaler, anchor and Keras network applied by hand in NumPy.
    prepared, part = evaluation_data(config)
    raw = np.stack([prepared.series.values[t - 8:t] for t in prepared.starts[part]])
    z = (raw - config.scaler["mean"][0]) / config.scaler["std"][0]
    network = runs.load_model(out).predict(anchor.network_inputs(z, 1).astype(np.float32),
                                           verbose=0)
    expected = (anchor.forecast(z, 1) + network) * config.scaler["std"][0] + config.scaler["mean"][0]
    (got,) = runtime.session(model_path).run([contract.OUTPUT],
                                             {contract.INPUT: raw.astype(np.float32)})
    assert np.max(np.abs(got - expected)) < 1e-5 * config.scaler["std"][0]
    # any window at least as long as the anchor's reach works
    assert f"time {max(4, anchor.reach)}" in json.loads(
        model_path.with_name("anchored.parity.json").read_text())["window"]["cases"]
    assert set(test_windows(config)) >= {"batch 1", "batch 256", "time 16"}
    result = run("export", out, "--step", "--out", tmp_path / "s.onnx")
    assert result.exit_code == 1 and "--anchor none" in result.output
    assert not (tmp_path / "s.onnx").exists()
