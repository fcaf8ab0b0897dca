"""Run directories: what `lstm-tf train` writes and every other command reads.

    runs/<name>/
      model.keras    the trained Keras model (loaded with safe_mode=True)
      config.json    RunConfig: data, model, training, scaler, split, versions
      history.csv    loss and val_loss per epoch
      metrics.json   test MAE/RMSE/MASE of the model and of the naive baselines
      loss.png, forecast.png

A run is built in a hidden sibling directory and renamed into place when complete,
so a crash never leaves a half-written run under the run's name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from .atomic import refuse_overwrite
from .config import RunConfig
from .errors import UserError
from .tf_setup import tensorflow

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


@contextlib.contextmanager
def new_run_directory(out: str | os.PathLike, force: bool) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces `out` atomically."""
    out = Path(out)
    refuse_overwrite(out, force, "run directory")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
        if out.exists():
            # Two renames keep a complete run under `out` at every moment but one.
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, retired / "run")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def load_config(run: str | os.PathLike) -> RunConfig:
    run = Path(run)
    path = run / CONFIG_FILE
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    if not path.is_file():
        raise UserError(f"{run} is not an lstm-tf run (no {CONFIG_FILE})")
    return load_config_file(path)


def load_config_file(path: Path) -> RunConfig:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} is not an lstm-tf run configuration")
    return RunConfig.from_dict(raw)


def load_model(run: str | os.PathLike):
    """Load a run's Keras model with safe_mode=True (no arbitrary code from the file).

    The model computes in float32 over any time length, even when it was trained
    with mixed precision or unrolled (see `models.float32_copy`).
    """
    tensorflow()
    import keras

    from . import cells, layers  # noqa: F401  (register GateLSTMCell, QuantileHead, PinballLoss)

    path = Path(run) / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{run} is not an lstm-tf run (no {MODEL_FILE})")
    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot load {path}: not a Keras 3 .keras file (a .keras file is a zip "
                        "archive); it is corrupt or was written by another program")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        message = " ".join(str(error).split())
        if "safe_mode" in message:
            raise UserError(f"refused to load {path}: it contains Python code (e.g. a Lambda "
                            "layer), and lstm-tf loads models with safe_mode=True") from None
        raise UserError(f"cannot load {path}: {message[:300]}") from None
    if any(layer.dtype_policy.name != "float32" or getattr(layer, "unroll", False)
           for layer in model.layers):
        # A mixed-precision run, or one unrolled over a fixed window for CPU speed:
        # inference, export and parity all use a float32, rolled-up copy with a dynamic
        # time axis, so exported models fuse and match like any other.
        from .models import float32_copy

        model = float32_copy(model)
    return model
