"""`lstm-tf tune`: a tiny KerasTuner search on the built-in sine data."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path
from unittest import mock

import pytest

from helpers import run

# Only the tests that search need keras-tuner (the `tune` extra); the missing-extra test
# and the tests of plain functions run without it.
needs_keras_tuner = pytest.mark.skipif(importlib.util.find_spec("keras_tuner") is None,
                                       reason='keras-tuner not installed: pip install "lstm-tf[tune]"')

TINY = ["--dataset", "sine", "--trials", "2", "--epochs", "2", "--patience", "0", "--seed", "7"]


def tune_in(folder: Path, *args):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        return run("tune", *args)
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    result = tune_in(folder, *TINY, "--out", "best")
    assert result.exit_code == 0, result.output
    return folder / "best", result.output


@needs_keras_tuner
def test_progress_shows_trials_done_of_total(tuned):
    _, output = tuned
    lines = output.splitlines()
    assert any(line.startswith("trial 1/2: window ") and "-> validation MAE" in line
               for line in lines), output
    assert any(line.startswith("trial 2/2: window ") and "(best " in line for line in lines)
    assert "Search: Running Trial" not in output and "Trial complete" not in output  # tuner quiet


@needs_keras_tuner
def test_tuning_json_lists_every_trial_and_the_best(tuned):
    run_dir, _ = tuned
    tuning = json.loads((run_dir / "tuning.json").read_text())
    results = tuning["results"]
    assert [r["trial"] for r in results] == [1, 2]
    assert all(math.isfinite(r["validation_mae"]) for r in results)
    best = min(results, key=lambda r: r["validation_mae"])
    assert tuning["best"]["validation_mae"] == best["validation_mae"]
    assert tuning["best"]["trial"] == best["trial"]
    assert tuning["algorithm"] == "bayesian" and tuning["seconds"] > 0
    for r in results:
        assert r["window"] in tuning["space"]["window"] and r["units"] in (16, 32, 64)
        assert r["layers"] in (1, 2) and 1e-4 <= r["learning_rate"] <= 1e-2
        assert r["dropout"] in (0.0, 0.1, 0.2) and (r["layers"] == 2 or r["dropout"] == 0.0)
        # the score never exceeds the anchor's (the network is zeroed when it does not help)
        assert r["validation_mae"] <= r["anchor_validation_mae"]


@needs_keras_tuner
def test_best_run_is_a_normal_run_with_the_best_hyperparameters(tuned):
    run_dir, _ = tuned
    for name in ("model.keras", "config.json", "metrics.json", "history.csv", "loss.png",
                 "forecast.png"):
        assert (run_dir / name).exists(), name
    best = json.loads((run_dir / "tuning.json").read_text())["best"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["window"] == best["window"]
    assert config["model"]["units"] == best["units"]
    assert config["model"]["layers"] == best["layers"]
    assert config["model"]["dropout"] == best["dropout"]
    assert config["train"]["learning_rate"] == best["learning_rate"]
    assert config["train"]["seed"] == 7 and config["train"]["epochs"] == 2
    result = run("evaluate", run_dir, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["part"] == "test"
    assert not list(run_dir.parent.glob("search*")) and not list(Path.cwd().glob("search*"))


@pytest.fixture(scope="module")
def tuned_again(tmp_path_factory):
    """(run folder, output): `tuned`'s search once more, quiet (-q): the search the same
    seed must repeat, and the output -q must keep to the result."""
    folder = tmp_path_factory.mktemp("again")
    result = tune_in(folder, *TINY, "--algorithm", "bayesian", "-q", "--out", "again")
    assert result.exit_code == 0, result.output
    return folder / "again", result.output


@needs_keras_tuner
def test_same_seed_same_search(tuned, tuned_again):
    run_dir, _ = tuned
    first = json.loads((run_dir / "tuning.json").read_text())["results"]
    second = json.loads((tuned_again[0] / "tuning.json").read_text())["results"]
    keys = ("window", "units", "layers", "learning_rate", "dropout")
    assert [[r[k] for k in keys] for r in first] == [[r[k] for k in keys] for r in second]
    assert [r["validation_mae"] for r in first] == pytest.approx(
        [r["validation_mae"] for r in second], rel=1e-5)


@needs_keras_tuner
def test_hyperband(tmp_path):
    result = tune_in(tmp_path, "--dataset", "sine", "--trials", "2", "--algorithm", "hyperband",
                     "--epochs", "1", "--max-epochs", "2", "--out", "hb")
    assert result.exit_code == 0, result.output
    tuning = json.loads((tmp_path / "hb" / "tuning.json").read_text())
    assert tuning["algorithm"] == "hyperband" and tuning["max_epochs"] == 2
    assert len(tuning["results"]) == 2 and all(1 <= r["epochs"] <= 2 for r in tuning["results"])
    assert "trial 2/2:" in result.output


@needs_keras_tuner
def test_existing_run_refused_before_searching(tuned):
    run_dir, _ = tuned
    result = tune_in(run_dir.parent, *TINY, "--out", "best")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "trial 1/" not in result.output


def test_missing_extra_is_a_one_line_error(tmp_path):
    with mock.patch.dict(sys.modules, {"keras_tuner": None}):
        result = tune_in(tmp_path, *TINY)
    assert result.exit_code == 1
    assert result.output.strip() == \
        'Error: lstm-tf tune needs keras-tuner: pip install "lstm-tf[tune]"'


@needs_keras_tuner
def test_bad_data_fails_before_the_search(tmp_path):
    (tmp_path / "flat.csv").write_text("value,flat\n" + "".join(f"{i % 7},3\n" for i in range(60)))
    result = tune_in(tmp_path, "--data", "flat.csv", "--features", "flat", "--trials", "2")
    assert result.exit_code == 1
    assert result.output == "Error: column 'flat' is constant in the training part; it carries " \
        "no information to scale or learn from\n"
    assert not (tmp_path / "runs").exists()


def test_window_choices_are_capped_by_the_data():
    from lstm_tf.config import DataConfig
    from lstm_tf.tune import window_choices

    assert window_choices(DataConfig(season=24), 1000) == [36, 73, 146]
    small = window_choices(DataConfig(season=24), 100)
    assert max(small) <= (100 * 0.85 * 0.85 - 1) // 2 and len(small) >= 2


def test_help_does_not_import_tensorflow_or_keras_tuner():
    import subprocess

    code = ("import sys\nfrom click.testing import CliRunner\nfrom lstm_tf_cli.main import cli\n"
            "r = CliRunner().invoke(cli, ['tune', '--help'])\nassert r.exit_code == 0\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', "
            "'keras_tuner')]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


@needs_keras_tuner
def test_tune_a_panel_scores_every_series_validation_windows(tmp_path):
    """A panel is tuned like a series: each trial's score is the validation MAE of every
    series in units of its own in-sample naive MAE, and the best becomes a panel run.

    (--anchor auto: anchor + network from the start. With a panel's default, the network
    alone, its 2 epochs lose to the fitted anchor and the final run trains a second time
    as anchor + network, twice the CPU (25 -> 12 s) for what test_training_defaults
    tests.)"""
    result = run("tune", "--dataset", "us-employment", "--horizon", "3", "--test-size", "3",
                 "--trials", "1", "--epochs", "2", "--patience", "0", "--seed", "7",
                 "--anchor", "auto", "--out", tmp_path / "best")
    assert result.exit_code == 0, result.output
    tuning = json.loads((tmp_path / "best" / "tuning.json").read_text())
    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    config = json.loads((tmp_path / "best" / "config.json").read_text())
    assert metrics["series"] == 22 and config["panel"]["scaling"] == "window"
    assert config["data"]["window"] == tuning["best"]["window"]
    assert math.isfinite(tuning["best"]["validation_mae"]) and tuning["best"]["validation_mae"] > 0


@needs_keras_tuner
def test_quiet_prints_only_the_result(tuned_again):
    # (the quiet search is test_same_seed_same_search's second one: one search fewer)
    run_dir, output = tuned_again
    lines = output.strip().splitlines()
    assert not [line for line in lines if line.startswith(("trial ", "tuning on", "best:"))]
    assert lines[0].startswith("run: again") and lines[-1].startswith("tuning: 2 trials in ")
    assert json.loads((run_dir / "tuning.json").read_text())["results"]
