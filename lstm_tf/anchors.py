"""Anchors: the simple forecast the network corrects, computed from each window.

A network fed z-scores fitted on the training rows forecasts badly once a trending
series leaves that range: every test input lies beyond anything it saw. So by
default the network never sees the series' level. For each window

    inputs  = the window, each target column minus its last value   (the level removed)
    forecast = anchor(window) + network(inputs)

where `anchor` is a fixed linear forecast read off the window's last `reach` rows:

    last          x_T                                  (naive persistence; the network
                                                        forecasts the change)
    season        x_{T+k-m*ceil(k/m)}                  (seasonal naive, season m)
    season-level  x_T + mean_{j=0..J-1} (x_{T+k-b-jm} - x_{T-b-jm})   with b = m*ceil(k/m):
                  the last value plus the change over the same k steps one season
                  earlier (averaged over J seasons): seasonal naive that keeps the
                  level and the trend
    none          0                                    (absolute z-scores, as before)

for step k = 1..horizon after the window's last row T. Every anchor is a weighted
sum of window rows whose weights add up to 1, so it commutes with the z-score:
anchor(z(x)) = z(anchor(x)). The network and its loss work in z-scores; the
exported graph takes and returns raw values.

`choose` picks the anchor by its error on the training windows (auto), as one
would choose between differencing and seasonal differencing: a series whose
seasonal naive beats persistence gets a seasonal anchor.

The same arithmetic exists in NumPy (evaluation, parity, backtests) and in
TensorFlow (the training stream and the exported graph), both as one matrix product
`anchor_k = sum_r weights[k, r] * x[T - reach + r]`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import UserError

KINDS = ("none", "last", "season", "season-level")
CHOICES = ("auto",) + KINDS
MAX_SEASONS = 3  # season-level averages at most this many past seasons


@dataclass(frozen=True)
class Anchor:
    """One anchor: `kind` (see the module docstring), `season` m, `seasons` J, for
    forecasts of `horizon` steps."""

    kind: str = "none"
    horizon: int = 1
    season: int | None = None
    seasons: int = 1

    @property
    def reach(self) -> int:
        """How many of the window's last rows the anchor reads (0 for none)."""
        if self.kind in ("none", "last"):
            return {"none": 0, "last": 1}[self.kind]
        m = self.season
        if self.kind == "season":
            return m
        return m * ((self.horizon - 1) // m + self.seasons) + 1

    @property
    def relative_inputs(self) -> bool:
        """Whether the network's inputs are relative to the window's last value."""
        return self.kind != "none"

    def weights(self) -> np.ndarray:
        """[horizon, reach]: anchor_k = weights[k] @ window[-reach:]."""
        reach, horizon = self.reach, self.horizon
        w = np.zeros((horizon, reach))
        if self.kind == "none":
            return w
        last = reach - 1  # the window's last row
        for k in range(horizon):  # step k + 1 after the window
            if self.kind == "last":
                w[k, last] = 1.0
                continue
            m = self.season
            back = m * (k // m + 1)  # the same phase, at least one season before step k + 1
            if self.kind == "season":
                w[k, last + 1 + k - back] = 1.0
                continue
            w[k, last] += 1.0
            for j in range(self.seasons):
                earlier = back + m * j
                w[k, last + 1 + k - earlier] += 1.0 / self.seasons
                w[k, last - earlier] -= 1.0 / self.seasons
        return w

    def to_dict(self) -> dict:
        return {**asdict(self), "reach": self.reach}

    @classmethod
    def from_dict(cls, saved: dict | None) -> "Anchor":
        """The anchor a run recorded; a run from before anchors (None) used none."""
        if not saved:
            return cls()
        return cls(saved["kind"], saved["horizon"], saved.get("season"), saved.get("seasons", 1))

    def describe(self) -> str:
        if self.kind == "season":
            return f"season (m={self.season})"
        if self.kind == "season-level":
            return f"season-level (m={self.season}, {self.seasons} season(s))"
        return self.kind

    # ------------------------------------------------------------------- NumPy

    def network_inputs(self, scaled_windows: np.ndarray, n_targets: int) -> np.ndarray:
        """The network's input: the targets' last value subtracted from their columns."""
        if not self.relative_inputs:
            return scaled_windows
        out = np.array(scaled_windows, copy=True)
        out[:, :, :n_targets] -= scaled_windows[:, -1:, :n_targets]
        return out

    def forecast(self, scaled_windows: np.ndarray, n_targets: int) -> np.ndarray:
        """The anchor forecast [windows, horizon, targets] (zeros for none)."""
        if self.kind == "none":
            return np.zeros((len(scaled_windows), self.horizon, n_targets))
        recent = np.asarray(scaled_windows, np.float64)[:, -self.reach:, :n_targets]
        return np.einsum("hr,nrt->nht", self.weights(), recent)

    # -------------------------------------------------------------- TensorFlow

    def tf_network_inputs(self, windows, n_targets: int):
        """`network_inputs` on a float32 tensor [batch, time, columns]."""
        import tensorflow as tf

        if not self.relative_inputs:
            return windows
        targets = windows[:, :, :n_targets] - windows[:, -1:, :n_targets]
        return tf.concat([targets, windows[:, :, n_targets:]], axis=-1)

    def tf_forecast(self, windows, n_targets: int):
        """`forecast` on a float32 tensor [batch, time, columns]: [batch, horizon, targets]."""
        import tensorflow as tf

        if self.kind == "none":
            return tf.zeros([tf.shape(windows)[0], self.horizon, n_targets], windows.dtype)
        weights = tf.constant(self.weights(), windows.dtype)
        return tf.einsum("hr,brt->bht", weights, windows[:, -self.reach:, :n_targets])


def candidates(horizon: int, season: int | None, window: int) -> list[Anchor]:
    """The anchors `auto` chooses from: last, and the seasonal ones the window can hold."""
    found = [Anchor("last", horizon)]
    if season and season > 1:
        found.append(Anchor("season", horizon, season))
        found += [Anchor("season-level", horizon, season, seasons)
                  for seasons in range(1, MAX_SEASONS + 1)]
    return [anchor for anchor in found if anchor.reach <= window]


def resolve(choice: str, horizon: int, season: int | None, window: int) -> Anchor | None:
    """The anchor for an explicit `--anchor`; None for auto (see `choose`)."""
    if choice not in CHOICES:
        raise UserError(f"unknown anchor {choice!r}; choose {', '.join(CHOICES)}")
    if choice == "auto":
        return None
    if choice in ("season", "season-level") and not season:
        raise UserError(f"--anchor {choice} needs a season length: pass --season")
    anchor = Anchor(choice, horizon, season if choice in ("season", "season-level") else None)
    if anchor.reach > window:
        raise UserError(f"--anchor {choice} reads the last {anchor.reach} rows of each window; "
                        f"--window {window} is shorter")
    return anchor


def choose(scaled: np.ndarray, starts: np.ndarray, horizon: int, n_targets: int,
           season: int | None, window: int) -> tuple[Anchor, dict[str, float]]:
    """The candidate with the lowest mean absolute error over windows starting at
    `starts` (the training windows); returns it and every candidate's error."""
    steps = np.arange(horizon)
    actual = scaled[starts[:, None] + steps[None, :], :n_targets]
    errors = {}
    best = None
    for anchor in candidates(horizon, season, window):
        rows = starts[:, None] + np.arange(-anchor.reach, 0)[None, :]
        error = float(np.mean(np.abs(anchor.forecast(scaled[rows], n_targets)
                                     - actual)))
        errors[anchor.describe()] = error
        if best is None or error < best[1]:
            best = (anchor, error)
    return best[0], errors


def anchored_forecast(network, scaled_windows: np.ndarray, anchor: Anchor,
                      n_targets: int) -> np.ndarray:
    """anchor(window) + network(inputs) in z-scores (float64), for windows [n, time, columns].

    `network` maps float32 network inputs to its output [n, horizon, targets] (a Keras
    model's `predict`, a traced function, ...).
    """
    inputs = anchor.network_inputs(np.asarray(scaled_windows, np.float64), n_targets)
    output = np.asarray(network(inputs.astype(np.float32)), np.float64)
    return anchor.forecast(scaled_windows, n_targets) + output
