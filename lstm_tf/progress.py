"""Training progress that survives an interruption: early stopping, divergence, resumption.

While a run trains, its resumable state lives beside the future run directory:

    runs/.<name>.resume/
      config.json     the run's configuration, as started
      backup/         keras.callbacks.BackupAndRestore: weights, optimizer, epoch
      progress.json   history so far, best validation loss, epochs since it improved
      best.weights.h5 the weights of the best epoch so far

`Progress` is one Keras callback that does the bookkeeping Keras' EarlyStopping and
TerminateOnNaN do, but keeps it on disk after every epoch, so `lstm-tf train
--resume` continues with the same early-stopping state and ends after the same
number of epochs as an uninterrupted run would. The folder is removed when the run
directory is complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import threading
from pathlib import Path

from .atomic import atomic_path, write_json
from .errors import UserError

PROGRESS_FILE = "progress.json"
BEST_WEIGHTS = "best.weights.h5"


def state_dir(out: str | os.PathLike) -> Path:
    """Where the resumable state of the run at `out` is kept while it trains."""
    out = Path(out)
    return out.parent / f".{out.name}.resume"


def load_progress(state: Path) -> dict | None:
    path = state / PROGRESS_FILE
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def load_backup(model, backup: Path) -> None:
    """Load BackupAndRestore's last weights (and optimizer state) into a compiled model."""
    latest = backup / "latest.weights.h5"
    if latest.is_file():
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(latest)


def discard(state: Path) -> None:
    shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt():
    """Within the block, SIGTERM stops training the way Ctrl-C (SIGINT) does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Interrupted(UserError):
    """Training stopped by Ctrl-C or SIGTERM; the state to resume from is on disk."""

    exit_code = 130


class Diverged(UserError):
    """The loss became NaN or infinite before any epoch gave usable weights."""


def progress_callback(state: Path, patience: int, monitor: str = "val_loss"):
    """A `Progress` callback for a run whose state is kept in `state`; early stopping
    watches the logged value `monitor` (an ensemble's: its combined forecast's loss)."""
    import keras

    class Progress(keras.callbacks.Callback):
        """Early stopping on val_loss (restoring the best weights), a stop on a NaN or
        infinite loss, and the per-epoch record that makes both resumable."""

        def __init__(self):
            super().__init__()
            saved = load_progress(state) or {}
            self.history: dict[str, list[float]] = saved.get("history", {})
            self.best = saved.get("best", math.inf)
            self.best_epoch = saved.get("best_epoch")
            self.wait = saved.get("wait", 0)
            self.diverged_at: int | None = None

        @property
        def epochs_done(self) -> int:
            return len(self.history.get("loss", []))

        def finished(self, epochs: int) -> bool:
            """True when a resumed run has nothing left to do (it was stopped just as it ended)."""
            return self.epochs_done >= epochs or bool(patience and self.wait >= patience)

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.diverged_at = self.epochs_done + 1
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.diverged_at is not None:
                return  # a diverged epoch is neither recorded nor resumable
            logs = {key: float(value) for key, value in (logs or {}).items()}
            for key, value in logs.items():
                self.history.setdefault(key, []).append(value)
            if not all(math.isfinite(value) for value in logs.values()):
                self.diverged_at = epoch + 1
                self.model.stop_training = True
                return
            monitored = logs.get(monitor, logs.get("val_loss", logs.get("loss")))
            if monitored < self.best:
                self.best, self.best_epoch, self.wait = monitored, epoch + 1, 0
                with atomic_path(state / BEST_WEIGHTS, suffix=".weights.h5") as tmp:
                    self.model.save_weights(tmp)
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self.model.stop_training = True
            write_json(state / PROGRESS_FILE, {
                "history": self.history, "best": self.best, "best_epoch": self.best_epoch,
                "wait": self.wait})

        def restore_best(self) -> bool:
            """Load the best epoch's weights; False if no epoch finished with a finite loss."""
            if not (state / BEST_WEIGHTS).is_file():
                return False
            self.model.load_weights(state / BEST_WEIGHTS)
            return True

    return Progress()
