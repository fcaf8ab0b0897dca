"""`lstm-tf inspect` and `export --gates`: gate traces that equal the model's own numbers."""

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest

from lstm_tf import contract
from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

from helpers import copy_run, run

WINDOW, UNITS, LAYERS = 8, 6, 2


def one_line_error(result, message):
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def tiny_config(kind):
    return RunConfig(
        data=DataConfig(dataset="sine", window=WINDOW),
        model=ModelConfig(kind=kind, units=UNITS, layers=LAYERS),
        train=TrainConfig(epochs=1, patience=0, seed=3))


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, sine_runs):
    """lstm and gated runs trained from the same config but the kind (tiny_config: the
    session's anchored runs, copied: inspect writes into the run); an rnn run's config."""
    root = tmp_path_factory.mktemp("inspect")
    copy_run(sine_runs["lstm anchored"], root / "lstm")
    copy_run(sine_runs["gated"], root / "gated")
    from lstm_tf import runs

    for kind in ("lstm", "gated"):
        config, expected = runs.load_config(root / kind), tiny_config(kind)
        # A single series' default ensemble is resolved to one network when it trains.
        assert (config.model, config.data.window, config.train.seed, config.train.epochs) == \
            (replace(expected.model, ensemble=1), WINDOW, 3, 1)
    # An rnn run is refused from its config.json alone, before any model is loaded.
    config = json.loads((root / "lstm" / "config.json").read_text())
    config["model"]["kind"] = "rnn"
    (root / "rnn").mkdir()
    (root / "rnn" / "config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(scope="module")
def inspected(runs_dir):
    result = run("inspect", runs_dir / "lstm")
    assert result.exit_code == 0, result.output
    return result


def scaled_test_windows(run_dir):
    from lstm_tf import data, runs
    from lstm_tf.data.prepare import evaluation_data

    config = runs.load_config(run_dir)
    prepared, part = evaluation_data(config)
    inputs, _ = data.windows(prepared.scaled, prepared.starts[part], WINDOW, 1, 1)
    return inputs.astype(np.float32)


def test_gated_and_lstm_trained_from_the_same_seed_agree_after_one_epoch(runs_dir):
    from lstm_tf import runs
    from lstm_tf.models import build_model
    from lstm_tf.tf_setup import set_seed

    initial = {}
    for kind in ("lstm", "gated"):
        set_seed(3)  # as train() does before building the model
        initial[kind] = build_model(tiny_config(kind).model, 1, 1, 1)
    for a, b in zip(initial["lstm"].get_weights(), initial["gated"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    x = scaled_test_windows(runs_dir / "lstm")
    lstm, gated = runs.load_model(runs_dir / "lstm"), runs.load_model(runs_dir / "gated")
    assert any(type(layer).__name__ == "RNN" for layer in gated.layers)
    before = initial["lstm"].predict(x, verbose=0)
    after = lstm.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-2  # the epoch did train
    np.testing.assert_allclose(gated.predict(x, verbose=0), after, atol=1e-4, rtol=0)


def test_inspect_writes_npz_csv_png_and_summary(runs_dir, inspected):
    out = runs_dir / "lstm" / "inspect"
    test_windows = len(scaled_test_windows(runs_dir / "lstm"))
    stem = f"window-{test_windows - 1}"  # the last test window by default
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for ext in ("csv", "json", "npz", "png"))

    with np.load(out / f"{stem}.npz", allow_pickle=False) as npz:
        arrays = dict(npz)
    for name in contract.gate_output_names(LAYERS):
        assert arrays[name].shape == (WINDOW, UNITS), name
    for layer in range(LAYERS):
        for gate in ("forget_gate", "input_gate", "output_gate"):
            values = arrays[f"{gate}_l{layer}"]
            assert values.min() >= 0 and values.max() <= 1 and values.std() > 1e-3
        for name in ("candidate", "h"):
            assert np.abs(arrays[f"{name}_l{layer}"]).max() <= 1
    assert arrays["window"].shape == (WINDOW, 1) and arrays["forecast"].shape == (1, 1)
    assert list(arrays["columns"]) == ["value"] and int(arrays["index"]) == test_windows - 1
    assert arrays["columns"].dtype.kind == "U"

    lines = (out / f"{stem}.csv").read_text().splitlines()
    assert lines[0] == "layer,t,time,unit,forget_gate,input_gate,output_gate,candidate,cell_state,h"
    assert len(lines) == 1 + LAYERS * WINDOW * UNITS
    layer, t, _, unit, *values = lines[-1].split(",")
    assert (int(layer), int(t), int(unit)) == (LAYERS - 1, WINDOW, UNITS - 1)
    assert float(values[-1]) == pytest.approx(float(arrays[f"h_l{LAYERS - 1}"][-1, -1]), abs=1e-6)

    png = (out / f"{stem}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000

    summary = json.loads((out / f"{stem}.json").read_text())
    assert [layer["layer"] for layer in summary["layers"]] == [0, 1]
    first = summary["layers"][0]
    assert first["mean_forget_gate"] == pytest.approx(float(arrays["forget_gate_l0"].mean()))
    change = np.abs(np.diff(arrays["cell_state_l0"], axis=0)).sum(axis=0)
    assert first["most_changed_units"][0]["unit"] == int(np.argmax(change))
    assert "layer 1 (6 units): mean forget gate" in inspected.output


def test_inspected_gates_equal_the_models_own_numbers(runs_dir, inspected):
    import keras

    from lstm_tf import anchors, cells, runs

    x = scaled_test_windows(runs_dir / "lstm")[-1:]
    out = runs_dir / "lstm" / "inspect"
    with np.load(out / f"window-{len(scaled_test_windows(runs_dir / 'lstm')) - 1}.npz",
                 allow_pickle=False) as npz:
        arrays = dict(npz)
    config = runs.load_config(runs_dir / "lstm")
    scaled = (arrays["window"] - config.scaler["mean"]) / config.scaler["std"]
    np.testing.assert_allclose(scaled, x[0], atol=1e-6)

    model = runs.load_model(runs_dir / "lstm")
    # The network sees the window relative to its last value and corrects the anchor.
    anchor = anchors.of_run(config)
    x_net = anchor.network_inputs(x, 1).astype(np.float32)
    # Keras' own last-layer h_T: the model cut after its last LSTM layer.
    last_h = keras.Model(model.inputs, model.get_layer(f"lstm_{LAYERS - 1}").output)
    np.testing.assert_allclose(arrays[f"h_l{LAYERS - 1}"][-1],
                               last_h.predict(x_net, verbose=0)[0], atol=1e-6, rtol=0)
    # Every step of every quantity: the tutorial's equations in NumPy on the run's weights.
    layer_input = x_net
    for layer in range(LAYERS):
        reference = cells.numpy_lstm_reference(layer_input,
                                               *model.get_layer(f"lstm_{layer}").get_weights())
        for name in contract.GATES:
            np.testing.assert_allclose(arrays[f"{name}_l{layer}"], getattr(reference, name)[0],
                                       atol=1e-6, rtol=0, err_msg=name)
        layer_input = reference.h
    forecast = ((anchor.forecast(x, 1) + model.predict(x_net, verbose=0))
                * config.scaler["std"][0] + config.scaler["mean"][0])
    np.testing.assert_allclose(arrays["forecast"], forecast[0], atol=1e-5)


def test_inspect_refuses_overwrite_and_bad_index(runs_dir, inspected, tmp_path):
    test_windows = len(scaled_test_windows(runs_dir / "lstm"))
    one_line_error(run("inspect", runs_dir / "lstm"), "already exists; pass --force")
    for index in (test_windows, -1):
        one_line_error(run("inspect", runs_dir / "lstm", "--index", index),
                       f"the test part has {test_windows} window(s), use --index "
                       f"0..{test_windows - 1}")
    one_line_error(run("inspect", runs_dir / "lstm", "--index", 0, "--last"),
                   "either --index N or --last")
    one_line_error(run("inspect", runs_dir / "rnn"), "SimpleRNN has no gates to inspect")

    out = tmp_path / "elsewhere"
    png = out / "window-0.png"
    assert run("inspect", runs_dir / "lstm", "--index", 0, "--out", out).exit_code == 0
    png.write_bytes(b"old")
    one_line_error(run("inspect", runs_dir / "lstm", "--index", 0, "--out", out),
                   "already exists; pass --force")
    assert png.read_bytes() == b"old"
    result = run("inspect", runs_dir / "lstm", "--index", 0, "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_inspect_a_gated_run_on_a_data_file(runs_dir, tmp_path):
    from lstm_tf.data import load_builtin

    values = load_builtin("sine").values[:30, 0]
    csv = tmp_path / "recent.csv"
    csv.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in values))
    out = tmp_path / "gated"
    result = run("inspect", runs_dir / "gated", "--data", csv, "--index", 2, "--out", out)
    assert result.exit_code == 0, result.output
    with np.load(out / "recent-window-2.npz", allow_pickle=False) as npz:
        np.testing.assert_allclose(npz["window"][:, 0], values[2:2 + WINDOW])
        assert npz["cell_state_l1"].shape == (WINDOW, UNITS)
    windows = 30 - WINDOW  # horizon 1, stride 1
    one_line_error(run("inspect", runs_dir / "gated", "--data", csv, "--index", windows),
                   f"the file has {windows} window(s), use --index 0..{windows - 1}")


def test_gate_export_outputs_every_gate_and_passes_parity(runs_dir, tmp_path):
    from lstm_tf import anchors, cells, runs, runtime

    out = tmp_path / "lstm.gates.onnx"
    result = run("export", runs_dir / "lstm", "--onnx", "--gates", "--out", out)
    assert result.exit_code == 0, result.output
    assert "gate model: parity PASSED" in result.output

    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)  # shapes and types inferred throughout
    names = [contract.OUTPUT] + contract.gate_output_names(LAYERS)
    assert [o.name for o in model.graph.output] == names
    assert names[1:7] == ["h_l0", "forget_gate_l0", "input_gate_l0", "output_gate_l0",
                          "candidate_l0", "cell_state_l0"]
    ops = [node.op_type for node in model.graph.node]
    # The gates come from the cell unrolled over the window: no fused op, no Loop.
    assert "LSTM" not in ops and "Loop" not in ops and ops.count("Sigmoid") == 3 * WINDOW * LAYERS
    meta = contract.read_metadata(model, str(out))
    assert meta["model"] == "gates" and meta["gates"] is True
    assert meta["inputs"]["window"] == ["batch", WINDOW, 1]  # the window's length is fixed
    assert list(meta["outputs"]) == names and meta["outputs"]["cell_state_l1"] == [
        "batch", WINDOW, UNITS]
    shapes = {value.name: [dim.dim_param or dim.dim_value for dim in
                           value.type.tensor_type.shape.dim]
              for value in [*model.graph.input, *model.graph.output]}
    assert shapes == {**meta["inputs"], **meta["outputs"]}  # no generated unk__ axis names
    report = json.loads(out.with_name("lstm.gates.parity.json").read_text())["gates"]
    assert report["passed"] and set(report["outputs"]) == set(names)
    assert all(o["max_relative_error"] < 1e-5 for o in report["outputs"].values())

    # Independently of the parity module: raw windows through onnxruntime vs trace_gates.
    config = runs.load_config(runs_dir / "lstm")
    x = scaled_test_windows(runs_dir / "lstm")[::7]
    raw = (x * config.scaler["std"][0] + config.scaler["mean"][0]).astype(np.float32)
    got = dict(zip(names, runtime.session(out).run(names, {contract.INPUT: raw})))
    anchor = anchors.of_run(config)
    traces, prediction = cells.trace_gates(runs.load_model(runs_dir / "lstm"),
                                           anchor.network_inputs(x, 1).astype(np.float32))
    prediction = prediction + anchor.forecast(x, 1)
    for layer, trace in enumerate(traces):
        for gate in contract.GATES:
            np.testing.assert_allclose(got[f"{gate}_l{layer}"], getattr(trace, gate),
                                       atol=1e-5, rtol=0, err_msg=f"{gate}_l{layer}")
    np.testing.assert_allclose(got[contract.OUTPUT],
                               prediction * config.scaler["std"][0] + config.scaler["mean"][0],
                               atol=1e-5)
    result = run("parity", out, runs_dir / "lstm")
    assert result.exit_code == 0 and "parity PASSED" in result.output, result.output


def test_gate_export_with_loop_takes_any_window_length(runs_dir, tmp_path):
    out = tmp_path / "lstm.gates.onnx"
    result = run("export", runs_dir / "lstm", "--gates", "--loop", "--out", out)
    assert result.exit_code == 0, result.output
    assert "(Loop x2;" in result.output and "gate model: parity PASSED" in result.output
    model = onnx.load(out)
    assert [node.op_type for node in model.graph.node].count("Loop") == LAYERS
    meta = contract.read_metadata(model, str(out))
    assert meta["inputs"]["window"] == ["batch", "time", 1]
    report = json.loads(out.with_name("lstm.gates.parity.json").read_text())["gates"]
    assert f"time {2 * WINDOW}" in report["cases"]  # checked beyond the training window


def test_gate_export_errors(runs_dir, tmp_path):
    one_line_error(run("export", runs_dir / "rnn", "--gates", "--out", tmp_path / "r.onnx"),
                   "SimpleRNN has no gates to export")
    one_line_error(run("export", runs_dir / "lstm", "--gates", "--step",
                       "--out", tmp_path / "s.onnx"), "--gates and --step")
    one_line_error(run("export", runs_dir / "lstm", "--loop", "--out", tmp_path / "l.onnx"),
                   "--loop applies to the gate model only: add --gates")


def test_default_output_paths():
    from lstm_tf.export import default_output, parity_path_for

    assert str(default_output("runs/elnino-lstm", gates=True)) == "exported/elnino-lstm.gates.onnx"
    assert parity_path_for(default_output("runs/x", gates=True)).name == "x.gates.parity.json"
