"""`lstm-tf runtimes`: every model kind lstm-tf writes, in every ONNX runtime installed.

Tiny runs on the built-in sine data (window 8); the windows compared are few and the
timing budget is small (latency is measured by exported/bench_runtimes.py, not here).
"""

import importlib.util
import subprocess
import sys

import numpy as np
import onnx
import pytest

from lstm_tf import contract, runtimes

from helpers import run

# (--loss mse: the model this module measured OpenVINO's bf16 miss on; the default MAE
# trains another one, on which bf16 missed by 46x the tolerance instead of over 100x)
TINY = ["--dataset", "sine", "--window", "8", "--units", "4", "--layers", "2", "--epochs", "1",
        "--loss", "mse", "-q"]
FAST = {"windows": 4, "budget": 0.02}
EXTRA = ("openvino", "tract")  # the `runtimes` extra; the reference evaluator comes with onnx


@pytest.fixture(scope="module")
def models(tmp_path_factory, sine_runs):
    """name -> (model path, run): window models of lstm, rnn and gated runs (the gated one
    with the default anchor inside the graph), step models of the lstm and rnn runs (no
    anchor, so that they have one; a gated run's step model is its LSTM twin's), and the
    gate model (unrolled)."""
    root = tmp_path_factory.mktemp("runtimes")
    # The lstm run is this module's own (4 units, TINY): OpenVINO in bf16 misses on it by
    # over 100x the tolerance (test_openvino_needs_the_f32_hint_on_a_bf16_cpu; on the
    # session's 6-unit lstm it missed by 45x). The rnn and gated runs are the session's
    # (tests/conftest.py: the same data and window, 2 x 6 units).
    result = run("train", "--model", "lstm", "--out", root / "lstm", "--anchor", "none", *TINY)
    assert result.exit_code == 0, result.output
    runs = {"lstm": root / "lstm", "rnn": sine_runs["rnn"], "gated": sine_runs["gated"]}
    made = {}
    for name, kind, options in (("lstm", "lstm", ["--step"]), ("rnn", "rnn", ["--step"]),
                                ("gated", "gated", []), ("lstm gates", "lstm", ["--gates"])):
        out = root / f"{name.replace(' ', '.')}.onnx"
        # No parity check here: compare() runs it in every runtime, onnxruntime included.
        result = run("export", runs[kind], "--out", out, "--no-check", *options)
        assert result.exit_code == 0, result.output
        made[name] = (out, runs[kind])
        if "--step" in options:
            made[f"{name} step"] = (contract.step_path_for(out), runs[kind])
    return made


@pytest.fixture(scope="module")
def panel_models(tmp_path_factory):
    """scaling -> (model path, run): a tiny panel run of each scaling (window: statistics of
    each window inside the graph; series: a `series` index input)."""
    from lstm_tf.data import panel_csv, sources

    root = tmp_path_factory.mktemp("panel")
    path = root / "panel.csv"
    panel_csv.write_long_csv(sources.synthetic_panel(series=4, length=60, seed=2), path)
    made = {}
    # The window-scaled run is an ensemble (of 2: the graph of the small-panel default of
    # 5, at less CPU), the series-scaled one a single network. The window-scaled run keeps
    # a panel's default (the network alone, zeroed here: the fitted anchor as its floor);
    # the series-scaled one is anchor + network (--anchor auto), the run its default would
    # keep after a second training (the same config and seed), trained once.
    for scaling, members, anchor in (("window", 2, []), ("series", 1, ["--anchor", "auto"])):
        result = run("train", "--data", path, "--series-column", "series", "--time-column",
                     "time", "--scaling", scaling, "--window", "8", "--units", "4",
                     "--epochs", "1", "--horizon", "2", "--test-size", "2", "-q",
                     "--ensemble", members, *anchor, "--out", root / scaling)
        assert result.exit_code == 0, result.output
        result = run("export", root / scaling, "--out", root / f"{scaling}.onnx", "--no-check")
        assert result.exit_code == 0, result.output
        made[scaling] = (root / f"{scaling}.onnx", root / scaling)
    return made


@pytest.mark.parametrize("scaling", ["window", "series"])
def test_panel_models_pass_in_every_installed_runtime(panel_models, scaling):
    path, run_dir = panel_models[scaling]
    model = runtimes.load_model(path)
    names = [graph_input.name for graph_input in model.inputs]
    assert names == (["window", "series"] if scaling == "series" else ["window"])
    # The run's windows and series in every runtime; synthetic windows (a window-scaled
    # model only) in one other than onnxruntime.
    for source in ([run_dir, None] if scaling == "window" else [run_dir]):
        report = runtimes.compare(path, source, None if source else ["tract"], **FAST)
        for row in report.rows:
            assert row.version is None or (row.failure is None and row.vs_onnxruntime <= 1e-5
                                           and (source is None or row.vs_keras <= 1e-5)), row
        assert report.passed
    feed = runtimes.feeds_for(model, runtimes.synthetic_windows(model.meta, 6, 8))
    if scaling == "series":  # indices of the 4 series, from the metadata
        np.testing.assert_array_equal(feed["series"], [0, 1, 2, 3, 0, 1])


@pytest.mark.parametrize("name", ["lstm", "lstm step", "rnn", "rnn step", "gated",
                                  "lstm gates"])
def test_every_model_kind_passes_in_every_installed_runtime(models, name):
    path, run_dir = models[name]
    report = runtimes.compare(path, run_dir, **FAST)
    rows = {row.runtime: row for row in report.rows}
    assert list(rows) == list(runtimes.RUNTIMES)
    for row in rows.values():
        if row.version is None:
            continue
        assert row.failure is None, (row.runtime, row.failure)
        assert row.vs_onnxruntime <= 1e-5 and row.vs_keras <= 1e-5, row
        assert set(row.latency_us) == {1, 256} and all(v > 0 for v in row.latency_us.values())
    assert rows["onnxruntime"].vs_onnxruntime == 0.0
    assert rows["reference"].version is not None  # onnx is a dependency: always there
    assert report.passed


def test_gate_model_is_a_straight_graph_with_the_window_fixed(models):
    path, run_dir = models["lstm gates"]
    graph = onnx.load(path).graph
    assert not {"Loop", "Scan", "LSTM"} & {node.op_type for node in graph.node}
    window = graph.input[0].type.tensor_type.shape.dim
    assert window[0].dim_param == "batch" and window[1].dim_value == 8
    model = runtimes.load_model(path)
    assert model.fixed_time == 8 and model.meta["inputs"]["window"] == ["batch", 8, 1]
    assert model.outputs == [contract.OUTPUT] + contract.gate_output_names(2)


def test_without_a_run_windows_come_from_the_metadata_and_every_output_is_compared(models):
    path, _ = models["lstm step"]
    model = runtimes.load_model(path)
    windows = runtimes.synthetic_windows(model.meta, 5, model.meta["window"])
    mean, std = model.meta["scaler"]["mean"][0], model.meta["scaler"]["std"][0]
    assert windows.shape == (5, 8, 1) and abs(windows.mean() - mean) < 3 * std
    feed = runtimes.feeds_for(model, windows)
    assert list(feed) == ["x_t", "h_in", "c_in"]  # every graph input, in graph order
    assert feed["h_in"].shape == (2, 5, 4) and np.all(np.abs(feed["c_in"]) < 1)
    np.testing.assert_array_equal(feed["x_t"], windows[:, -1, :])
    report = runtimes.compare(path, None, ["reference"], **FAST)
    assert [row.runtime for row in report.rows] == ["onnxruntime", "reference"]
    assert all(row.vs_keras is None for row in report.rows) and report.passed


def test_without_a_run_tensorflow_is_never_imported(models):
    """Like `predict`, the ONNX-only path runs where TensorFlow is not installed."""
    code = ("import sys; from lstm_tf import runtimes; "
            f"report = runtimes.compare({str(models['rnn'][0])!r}, None, ['tract'], "
            "windows=2, budget=0.01); "
            "assert report.passed; assert 'tensorflow' not in sys.modules, 'imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_feeds_are_generic_over_new_inputs(models):
    """Inputs the contract does not name today (a panel's series index, a future input)
    still get values of the right shape and type, and errors cover every output."""
    model = runtimes.load_model(models["rnn"][0])
    model.inputs.append(runtimes.GraphInput("series", np.dtype(np.int64), ["batch"]))
    model.inputs.append(runtimes.GraphInput("known", np.dtype(np.float32), ["batch", None, 2]))
    model.meta["series"] = ["a", "b", "c"]
    feed = runtimes.feeds_for(model, runtimes.synthetic_windows(model.meta, 7, 8))
    np.testing.assert_array_equal(feed["series"], [0, 1, 2, 0, 1, 2, 0])
    assert feed["known"].shape == (7, model.meta["horizon"], 2)
    std = model.meta["scaler"]["std"][0]
    scale = runtimes.target_scale(model, feed["window"])
    assert scale.shape == (1, 1) and scale[0, 0] == std
    quantiles = np.zeros((3, 1, 1, 5))
    assert runtimes.relative_error(model, "quantiles", quantiles, quantiles + std, scale) == \
        pytest.approx(1.0)
    assert runtimes.relative_error(model, "forecast", quantiles[..., 0],
                                   quantiles[..., 0] + 2 * std, scale) == pytest.approx(2.0)


def test_cli_prints_one_table_and_exits_1_on_a_miss(models, monkeypatch):
    path, run_dir = models["rnn"]
    installed = runtimes.installed()
    monkeypatch.setattr(runtimes, "installed", lambda: {**installed, "tract": None})
    result = run("runtimes", path, run_dir, "--runtimes", "onnxruntime,tract,reference",
                 "--windows", 4, "--budget", 0.02)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].startswith("| runtime | version | vs onnxruntime (x std) | vs Keras (x std) |")
    tract_row = next(line for line in lines if line.startswith("| tract |"))
    assert "not installed" in tract_row and "skipped" in tract_row
    assert 'needs pip install "lstm-tf[runtimes]"' in tract_row  # the extra, named
    assert "PASSED: 2 of 2 installed runtime(s) within 1e-05 x std" in result.output
    # A tolerance below float32 rounding: the reference evaluator differs from onnxruntime.
    result = run("runtimes", path, "--runtimes", "reference", "--tolerance", 1e-12,
                 "--windows", 4, "--budget", 0.02)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and \
        "reference missed 1e-12 x std" in result.output
    assert "Traceback" not in result.output


def _bf16_cpu() -> str | None:
    """Why OpenVINO would not default to bf16 here, or None when it does."""
    if importlib.util.find_spec("openvino") is None:
        return 'OpenVINO is not installed (pip install "lstm-tf[runtimes]")'
    import openvino

    core = openvino.Core()
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return "this CPU has no bf16 (AVX512-BF16 or AMX): OpenVINO computes in f32 anyway"
    if core.get_property("CPU", "INFERENCE_PRECISION_HINT") != openvino.Type.bf16:
        return "OpenVINO's default precision here is not bf16"
    return None


def test_openvino_needs_the_f32_hint_on_a_bf16_cpu(models):
    """exported/README.md: without the hint OpenVINO computes in bf16 and misses."""
    reason = _bf16_cpu()
    if reason:
        pytest.skip(reason)
    path, _ = models["lstm"]
    default = runtimes.compare(path, None, ["openvino"], openvino_precision=None, **FAST)
    hinted = runtimes.compare(path, None, ["openvino"], **FAST)
    row = {r.runtime: r for r in default.rows}["openvino"]
    assert row.vs_onnxruntime > 100 * runtimes.TOLERANCE and not default.passed
    assert {r.runtime: r for r in hinted.rows}["openvino"].vs_onnxruntime <= runtimes.TOLERANCE
    assert hinted.passed


def test_installed_versions_are_the_packages():
    versions = runtimes.installed()
    assert versions["onnxruntime"] == __import__("onnxruntime").__version__
    assert versions["reference"] == f"onnx {onnx.__version__}"
    missing = [name for name in EXTRA if versions[name] is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install \"lstm-tf[runtimes]\"")
    import openvino

    assert openvino.__version__.startswith(versions["openvino"])
