"""Window scaling: every window standardised by its own statistics (the panel default).

For a window x [time, columns], per column:

    level  m = mean_t x_t
    spread s0 = max(std_t x_t, FLOOR * mean_t |x_t|)   (0 only for an all-zero column)
    scale  s = s0, or 1 where s0 is 0
    network space  z = (x - m) / s,      forecast = m + s0 * z_forecast   (target columns)

An all-zero window is forecast zero whatever the network says: its scale of 1 is no
scale of the series (its units are unknown), so a network output there would be an
error in arbitrary units (a zero series of a panel got forecasts of +-0.02).

A global model then sees every series on one scale whatever its level and units, and
it serves a series it never saw: the statistics come from the window itself, inside
the exported graph, so nothing per series is stored. The floor keeps a (nearly)
constant window finite; s0 is a continuous function of the window, so float32
rounding cannot flip the forecast between two runtimes the way a threshold would.

NumPy here (training data, evaluation, parity); `tf_standardise` is the same arithmetic
on tensors (the training pipeline and the exported graph).
"""

from __future__ import annotations

import numpy as np

FLOOR = 1e-4  # x the window's mean absolute value


def stats(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(level, scale), each [n, 1, columns], of windows [n, time, columns] (float64)."""
    level, spread = _level_spread(windows)
    return level, np.where(spread > 0, spread, 1.0)


def _level_spread(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(level m, spread s0) of the module's docstring."""
    windows = np.asarray(windows, np.float64)
    level = windows.mean(axis=1, keepdims=True)
    spread = np.sqrt(np.mean((windows - level) ** 2, axis=1, keepdims=True))
    return level, np.maximum(spread, FLOOR * np.mean(np.abs(windows), axis=1, keepdims=True))


def standardise(windows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(z, level, scale, spread): windows in network space, the statistics that took them
    there, and the spread that undoes a forecast (`scale`, but 0 for an all-zero column)."""
    level, spread = _level_spread(windows)
    scale = np.where(spread > 0, spread, 1.0)
    return (np.asarray(windows, np.float64) - level) / scale, level, scale, spread


def tf_standardise(windows, n_targets: int):
    """`standardise` on a float32 tensor [batch, time, columns]: (z, undo, to_z), where
    undo(forecast [batch, horizon, targets]) returns original units and to_z(targets)
    takes a window's targets into its forecast's units (for training).

    float32 keeps 7 digits: a series at 140,000 that moves by hundreds would lose its
    last digits if its mean were subtracted directly. The window's last value is
    subtracted first instead (exact for nearby values), the small differences averaged,
    and the level added back last.
    """
    import tensorflow as tf

    last = windows[:, -1:, :]
    change = windows - last
    mean_change = tf.reduce_mean(change, axis=1, keepdims=True)
    centred = change - mean_change
    spread = tf.sqrt(tf.reduce_mean(tf.square(centred), axis=1, keepdims=True))
    spread = tf.maximum(spread, FLOOR * tf.reduce_mean(tf.abs(windows), axis=1, keepdims=True))
    scale = tf.where(spread > 0, spread, tf.ones_like(spread))  # spread 0: all zero

    def undo(forecast):  # [batch, horizon, targets], or quantiles [..., targets, Q]
        part = (lambda x: x[..., :n_targets, None]) if forecast.shape.rank == 4 else \
            (lambda x: x[..., :n_targets])  # a quantile's trailing level axis
        return (forecast * part(spread) + part(mean_change)) + part(last)

    def to_z(targets):
        return ((targets - last[..., :n_targets]) - mean_change[..., :n_targets]) \
            / scale[..., :n_targets]

    return centred / scale, undo, to_z
