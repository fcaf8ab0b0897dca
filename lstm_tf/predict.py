"""Forecast with an exported model: onnxruntime and NumPy only, never TensorFlow.

Everything needed (columns, window, horizon, scaling) comes from the model's
lstm-tf metadata, so a model file and a CSV are all a user needs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from . import contract, data, runtime
from .errors import UserError


def load(model_path: str | Path):
    """An onnxruntime session and the validated metadata of an exported window model."""
    session = runtime.session(model_path)
    meta = runtime.metadata(session, str(model_path))
    if meta.get("model") != "window":
        raise UserError(f"{model_path} is a {meta.get('model')} model; predict needs the window "
                        "model (the .onnx without .step or .gates)")
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != contract.INPUT or len(inputs[0].shape) != 3:
        raise UserError(f"{model_path}: expected one input {contract.INPUT!r} of rank 3 "
                        "[batch, time, features]")
    return session, meta


def forecast(session, meta: dict, history: np.ndarray, steps: int | None = None,
             source: str = "the data") -> np.ndarray:
    """Forecast `steps` rows (default: the horizon) after `history` [rows, columns], raw units.

    Beyond the horizon the model is rolled forward: each forecast is appended to the
    history and the window slides; only a univariate model (one target, no extra
    features) can do that, since future feature values are unknown.
    """
    window, horizon = meta["window"], meta["horizon"]
    steps = steps or horizon
    if len(history) < window:
        raise UserError(f"{source} has {len(history)} rows; the model needs at least {window} "
                        "(its window)")
    if steps > horizon and len(meta["columns"]) != 1:
        raise UserError(f"--steps {steps} exceeds the horizon {horizon}; rolling forward needs a "
                        "univariate model (one target, no extra features)")
    history = np.asarray(history, np.float32)
    if meta["scaling"] == "none":
        raise UserError("this model was exported with --no-scaling; predict needs a model with "
                        "in-graph scaling")
    rows = []
    while sum(len(r) for r in rows) < steps:
        window_rows = history[-window:][None, :, :]
        (out,) = session.run([contract.OUTPUT], {contract.INPUT: window_rows})
        rows.append(out[0])
        history = np.concatenate([history, out[0]], axis=0)
    return np.concatenate(rows, axis=0)[:steps]


def predict_csv(model_path: str | Path, data_path: str | Path, steps: int | None = None):
    """Read the model's columns from a CSV and forecast after its last row."""
    session, meta = load(model_path)
    targets = meta["targets"]
    features = meta["columns"][len(targets):]
    series = data.read_csv(data_path, targets, features)
    return meta, forecast(session, meta, series.values, steps, str(data_path))


def forecast_csv(meta: dict, rows: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step"] + meta["targets"])
    for step, row in enumerate(rows, start=1):
        writer.writerow([step] + [f"{value:.7g}" for value in row])
    return buffer.getvalue()
