"""Figures: matplotlib without a display, saved atomically."""

from __future__ import annotations

import os
from pathlib import Path

from .atomic import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write `figure` to `path` (format from its suffix) atomically, then free it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi)
    pyplot().close(figure)
    return Path(path)
