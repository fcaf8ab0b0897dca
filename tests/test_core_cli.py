"""`lstm-tf train`, `evaluate` and `datasets` end to end, and the CLI's user-facing errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import run

TINY = ["--window", "6", "--units", "4", "--epochs", "2", "--batch-size", "16", "-q"]


@pytest.fixture(scope="module")
def tiny_run(tiny_sine_run):
    """One tiny trained run shared by the tests that only read it: (csv, run, output) of
    a sine of 120 rows with a `step` time column trained with TINY (tests/conftest.py)."""
    return tiny_sine_run


def test_train_writes_a_complete_run(tiny_run):
    csv, out, output = tiny_run
    assert {p.name for p in out.iterdir()} == {
        "model.keras", "config.json", "history.csv", "metrics.json", "loss.png", "forecast.png"}
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["targets"] == ["value"] and config["data"]["window"] == 6
    assert len(config["scaler"]["mean"]) == 1 and config["scaler"]["std"][0] > 0
    assert config["versions"]["tensorflow"] and config["versions"]["keras"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["windows"] == 18 and metrics["model"]["mae"] > 0
    assert metrics["naive"]["mae"] > 0 and metrics["epochs_run"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3
    from lstm_tf.tf_setup import tensorflow

    gpu = bool(tensorflow().config.get_visible_devices("GPU"))  # what this process can use
    assert ("device: GPU" if gpu else "device: CPU") in output
    assert f"run: {out}" in output and "vs naive" in output


def test_evaluate_matches_training_metrics(tiny_run):
    csv, out, _ = tiny_run
    result = run("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    saved = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["mae"] == pytest.approx(saved["model"]["mae"], rel=1e-6)
    # on another file with the same columns, every window of the file is used
    result = run("evaluate", out, "--data", csv, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["windows"] == 120 - 6


def test_existing_run_is_refused_without_force(tiny_run):
    csv, out, _ = tiny_run
    before = (out / "model.keras").read_bytes()
    result = run("train", "--data", csv, "--out", out, *TINY)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: run directory {out} already exists; pass --force to replace it"
    assert (out / "model.keras").read_bytes() == before


def test_same_seed_same_numbers(tiny_run, tmp_path):
    # The session's tiny run (the default seed, trained by whichever worker needed it
    # first) trained again with the same options: one training instead of two.
    csv, first, _ = tiny_run
    outs = [json.loads((first / "metrics.json").read_text())["model"]["mae"]]
    result = run("train", "--data", csv, "--time-column", "step", "--out", tmp_path / "b", *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["seed"] == \
        json.loads((first / "config.json").read_text())["train"]["seed"]
    outs.append(json.loads((tmp_path / "b" / "metrics.json").read_text())["model"]["mae"])
    assert outs[0] == outs[1]


def test_rnn_multi_target_with_feature_and_horizon(tmp_path):
    out = tmp_path / "rnn"
    result = run("train", "--dataset", "sine2", "--target", "sin,cos", "--features", "ramp",
                 "--model", "rnn", "--layers", 2, "--dropout", 0.1, "--horizon", 3,
                 "--loss", "huber", "--clipnorm", 1.0, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    from lstm_tf.runs import load_model
    model = load_model(out)
    assert model.output_shape == (None, 3, 2)
    assert [layer.__class__.__name__ for layer in model.layers][:3] == [
        "SimpleRNN", "Dropout", "SimpleRNN"]


def test_tutorial_model_is_expressible():
    from lstm_tf.config import ModelConfig
    from lstm_tf.models import build_model
    model = build_model(ModelConfig("lstm", units=10, layers=1), features=1, horizon=1, targets=1)
    lstm = model.layers[0]
    assert lstm.units == 10 and not lstm.return_sequences
    # 4 gates x (input 1 + hidden 10 + bias) = 480 LSTM weights, + Linear(10 -> 1) = 11
    assert model.count_params() == 480 + 11
    assert model(np.zeros((10, 1, 1), np.float32)).shape == (10, 1, 1)


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.csv"], "Error: file missing.csv does not exist"),
    (["train", "--dataset", "nope"], "Error: unknown dataset 'nope'; available: elnino"),
    (["train", "--dataset", "sine", "--target", "zzz"], "Error: builtin:sine: no column 'zzz'"),
    (["train", "--window", "0"], "Error: Invalid value for '--window'"),
    (["train", "--epochs", "-1"], "Error: Invalid value for '--epochs'"),
    (["train", "--dataset", "sine", "--window", "900"], "Error: too few rows (1000) for window 900"),
    (["train", "--data", "x.csv", "--dataset", "sine"], "Error: give either --data FILE or --dataset"),
    (["evaluate", "no-such-run"], "Error: run directory no-such-run does not exist"),
])
def test_user_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.output


def test_datasets_lists_builtins():
    result = run("datasets")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == [
        "elnino", "sunspots", "co2", "sine", "sine2", "us-employment", "synthetic"]
    assert "panel, 22 series" in result.output.splitlines()[-2]


def test_help_of_every_command_imports_no_tensorflow():
    """`--help` of the group and of every command and subcommand, in one fresh process."""
    code = ("import sys, click\nfrom lstm_tf_cli.main import cli\n"
            "def walk(group, path):\n"
            "    yield path\n"
            "    for name, command in group.commands.items():\n"
            "        if isinstance(command, click.Group):\n"
            "            yield from walk(command, path + [name])\n"
            "        else:\n"
            "            yield path + [name]\n"
            "shown = []\n"
            "for path in walk(cli, []):\n"
            "    try: cli(path + ['--help'], standalone_mode=False)\n"
            "    except SystemExit: pass\n"
            "    shown.append(' '.join(path))\n"
            "print('COMMANDS', '|'.join(shown))\n"
            "print('IMPORTED', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'tf2onnx', 'statsforecast'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    shown = lines[-2].removeprefix("COMMANDS ").split("|")
    assert {"", "train", "evaluate", "backtest", "datasets", "export", "predict", "parity", "inspect",
            "bench", "serve-demo", "experiment gradients", "experiment memory"} <= set(shown), shown
    assert lines[-1] == "IMPORTED []"


def test_tensorflow_retracing_advice_is_dropped_other_warnings_kept():
    """Keras' predict retraces per batch shape; TensorFlow's two paragraphs of advice about
    it are filtered off the user's terminal (tf_setup), every other warning still shows."""
    import logging

    from lstm_tf.tf_setup import tensorflow

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = tensorflow().get_logger()
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # (another test in this worker may have raised it)
    try:
        logger.warning("5 out of the last 5 calls to <function f> triggered tf.function "
                       "retracing. Tracing is expensive")
        logger.warning("a warning the user should see")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == ["a warning the user should see"]
