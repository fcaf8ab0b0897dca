"""The default `lstm-tf train` on the built-in real datasets beats naive persistence.

docs/training.md and the README say so; this trains the defaults (no option but the
dataset) and compares the test MAE with persistence on the same windows, both from
metrics.json, and the naive MAE with a hand computation from the CSV.
"""

import json

import numpy as np
import pytest

from helpers import run
from lstm_tf.data import load_builtin


@pytest.mark.parametrize("dataset", ["elnino", "sunspots", "co2"])
def test_default_run_beats_naive_persistence(tmp_path, dataset):
    out = tmp_path / dataset
    result = run("train", "--dataset", dataset, "-q", "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["model"]["mae"] < metrics["naive"]["mae"], metrics
    # persistence by hand: each test window's targets against the row before it
    values = load_builtin(dataset).values[:, 0]
    val_end, rows, horizon = config["split"]["val_end"], config["split"]["rows"], 1
    starts = np.arange(val_end, rows - horizon + 1)
    assert metrics["naive"]["mae"] == pytest.approx(np.mean(np.abs(values[starts] - values[starts - 1])))
    assert config["anchor"]["kind"] != "none"
