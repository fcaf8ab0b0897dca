"""Keras classes of a quantile forecaster: `QuantileHead` and `PinballLoss`.

Both are registered as `lstm_tf>QuantileHead` and `lstm_tf>PinballLoss`, so a `.keras`
file that uses them loads with `safe_mode=True` once this module is imported
(`runs.load_model` does). Importing it imports TensorFlow: `quantiles` (levels and
metrics, NumPy only) imports it lazily.
"""

from __future__ import annotations

from .tf_setup import tensorflow

tensorflow()  # TensorFlow's environment defaults, before Keras starts it

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

MEDIAN = 0.5


@keras.saving.register_keras_serializable(package="lstm_tf", name="QuantileHead")
class QuantileHead(keras.layers.Layer):
    """Quantiles that never cross, from a Dense head's raw outputs.

    For levels τ_1 < ... < τ_Q with the median at index m, the raw outputs
    r_1..r_Q (last axis) become

        q_m     = r_m
        q_{j+1} = q_j + s_{j+1} softplus(r_{j+1})      j >= m   (above the median)
        q_{j-1} = q_j - s_{j-1} softplus(r_{j-1})      j <= m   (below the median)

    so q_1 <= ... <= q_Q for any input: softplus >= 0, s >= 0, and each quantile is
    its neighbour plus or minus one non-negative number in one floating-point add
    (rounding is monotone, so the chain never decreases, even in float32). A sum in
    another order, such as a matrix product, could come out one ulp below its
    neighbour: the chain is deliberate.

    The scales s [targets, Q] are a weight that is not trained: 1 until
    `quantiles.calibrate` sets them from held-out windows, clipped at 0 here.

    Args:
        levels: the quantile levels, strictly increasing in (0, 1), with the median 0.5.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(..., targets, Q)` raw outputs, Q = len(levels).

    Output shape:
        the same: the quantiles, in the order of `levels`.
    """

    def __init__(self, levels, **kwargs):
        super().__init__(**kwargs)
        self.levels = [float(level) for level in levels]
        self.median = self.levels.index(MEDIAN)

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-2], input_shape[-1]),
                                     initializer="ones", trainable=False)

    def call(self, raw):
        m = self.median
        scale = ops.maximum(ops.cast(self.scale, raw.dtype), 0.0)
        values = [None] * len(self.levels)
        values[m] = raw[..., m]
        for j in range(m + 1, len(self.levels)):
            values[j] = values[j - 1] + scale[:, j] * ops.softplus(raw[..., j])
        for j in range(m - 1, -1, -1):
            values[j] = values[j + 1] - scale[:, j] * ops.softplus(raw[..., j])
        return ops.stack(values, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


@keras.saving.register_keras_serializable(package="lstm_tf", name="PinballLoss")
class PinballLoss(keras.losses.Loss):
    """The pinball (quantile) loss, averaged over the levels.

    For an actual value y and its quantile q at level τ, with e = y - q,

        L_τ(y, q) = max(τ e, (τ - 1) e)

    and the loss of a point is the mean of L_τ over the levels: an under-forecast
    costs τ per unit, an over-forecast 1 - τ, so its minimiser is the τ-quantile.

    Args:
        levels: the quantile levels, in the order of the predictions' last axis.
        name: the loss's name.
        **kwargs: base loss keyword arguments, such as `reduction`.

    Call arguments:
        y_true: `(batch, horizon, targets)` actual values.
        y_pred: `(batch, horizon, targets, Q)` quantiles.
    """

    def __init__(self, levels, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.levels = [float(level) for level in levels]

    def call(self, y_true, y_pred):
        tau = ops.convert_to_tensor(np.asarray(self.levels, np.float32))
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred
        return ops.mean(ops.maximum(tau * error, (tau - 1.0) * error), axis=(-1, -2))

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}
