"""Transfer (`--init RUN`): a run's network starts from another run's trained weights.

A global model trained on a large panel (or a generated corpus) is fine-tuned on a short
series or a new panel: same model kind, units, layers, horizon and inputs (the window's
length may differ: the recurrent weights do not depend on it). Everything else is the new
run's own: its scaling, its anchor (the transferred network then corrects a possibly
different anchor, which fine-tuning adapts to), its validation and the keep-or-zero
decision, so a transferred network that does not help is dropped like any other.
"""

from __future__ import annotations

from pathlib import Path

from . import runs
from .errors import UserError


def start_from(model, run: str | Path) -> None:
    """Set `model`'s weights to those of the run at `run` (a one-line error when the run
    is missing or its network has another shape)."""
    if not (Path(run) / runs.MODEL_FILE).is_file():
        raise UserError(f"--init {run}: no trained run there ({runs.MODEL_FILE} not found)")
    source = runs.load_model(run)
    mine = [tuple(w.shape) for w in model.weights]
    theirs = [tuple(w.shape) for w in source.weights]
    if mine != theirs:
        raise UserError(f"--init {run}: its network's weights {theirs} do not fit this run's "
                        f"{mine}; use the same --model, --units, --layers, --horizon, targets "
                        "and features")
    model.set_weights(source.get_weights())
