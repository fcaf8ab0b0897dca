"""Untrusted files: .keras models load with safe_mode=True; ONNX metadata is validated JSON."""

import json

import pytest

from lstm_tf import contract, runs
from lstm_tf.errors import UserError


def test_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    from lstm_tf.tf_setup import tensorflow

    tensorflow()
    import keras

    model = keras.Sequential([keras.Input((None, 1)), keras.layers.Lambda(lambda x: x * 2)])
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    with pytest.raises(UserError, match="contains Python code .* safe_mode=True"):
        runs.load_model(run)


GOOD = contract.build_metadata(
    kind="lstm", units=4, layers=1, window=8, horizon=2, targets=["y"], features=["x"],
    scaler={"mean": [0.0, 1.0], "std": [1.0, 2.0]}, scaling=True, step=False, gates=False,
    time_column=None, versions={}, opset=17, run="r")


@pytest.mark.parametrize("change, message", [
    ({"window": -1}, "'window' must be a positive integer"),
    ({"window": "8"}, "'window' must be a positive integer"),
    ({"horizon": True}, "'horizon' must be a positive integer"),
    ({"targets": []}, "'targets' must be a non-empty list"),
    ({"columns": ["x", "y"]}, "'columns' must start with the targets"),
    ({"kind": "transformer"}, "'kind' must be lstm, rnn or gated"),
    ({"scaler": {"mean": [0.0], "std": [1.0, 1.0]}}, "'scaler.mean' must be 2 finite numbers"),
    ({"scaler": {"mean": [0.0, 1.0], "std": [1.0, 0.0]}}, "'scaler.std' must be positive"),
    ({"scaler": {"mean": [0.0, float("nan")], "std": [1.0, 1.0]}}, "'scaler.mean' must be 2 finite"),
    ({"format": "other/9"}, "'format' is 'other/9'"),
    ({"columns": ["y"] + ["c"] * 20000}, "'columns' must be a non-empty list"),
    ({"ensemble": 0}, "'ensemble' must be a positive integer"),
    ({"ensemble": "3"}, "'ensemble' must be a positive integer"),
])
def test_metadata_is_validated(change, message):
    assert contract.parse_metadata(json.dumps(GOOD), "m.onnx")["window"] == 8
    with pytest.raises(UserError, match=message.replace("(", "\\(")):
        contract.parse_metadata(json.dumps({**GOOD, **change}), "m.onnx")


def test_metadata_without_ensemble_is_one_network():
    """Models exported before `--ensemble` have no `ensemble` field: read as one network."""
    assert GOOD["ensemble"] == 1
    older = {key: value for key, value in GOOD.items()
             if key not in ("ensemble", "ensemble_member")}
    assert "ensemble" not in contract.parse_metadata(json.dumps(older), "m.onnx")


def test_metadata_that_is_not_json_or_too_large():
    with pytest.raises(UserError, match="not valid JSON"):
        contract.parse_metadata("{nope", "m.onnx")
    with pytest.raises(UserError, match="too large"):
        contract.parse_metadata(" " * (contract.MAX_SIZE + 1), "m.onnx")
    with pytest.raises(UserError, match="not an object"):
        contract.parse_metadata("[1, 2]", "m.onnx")
