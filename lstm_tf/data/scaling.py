"""One series' z-scores, fitted on its training rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError


# -------------------------------------------------------------------------- scale


@dataclass
class Scaler:
    """Per-column z-score, fitted on the training rows only."""

    mean: list[float]
    std: list[float]
    columns: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, values: np.ndarray, columns: list[str]) -> "Scaler":
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        for name, spread in zip(columns, std):
            if not spread > 1e-12 * max(1.0, float(np.abs(values).max())):
                raise UserError(f"column {name!r} is constant in the training part; "
                                "it carries no information to scale or learn from")
        return cls(mean.tolist(), std.tolist(), list(columns))

    @classmethod
    def from_dict(cls, saved: dict) -> "Scaler":
        """The scaler a run recorded in config.json (`scaler`: mean, std, columns)."""
        return cls(saved["mean"], saved["std"], saved["columns"])

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse_targets(self, scaled: np.ndarray, n_targets: int) -> np.ndarray:
        """Un-scale an array whose last axis holds the first `n_targets` columns."""
        return (scaled * np.asarray(self.std[:n_targets])
                + np.asarray(self.mean[:n_targets]))
