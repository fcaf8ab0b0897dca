"""Windows cut from a series by index: their start rows, NumPy copies of them, and the
tf.data pipeline that feeds training and evaluation (TensorFlow imported inside it).

Conventions
- A series is a float64 array `values[rows, columns]`; the first `len(targets)`
  columns are the targets, the rest are extra input features.
- A window that starts forecasting at row `t` reads inputs `values[t - window:t]`
  (all columns) and targets `values[t:t + horizon, :len(targets)]`.
"""

from __future__ import annotations

import numpy as np


def window_starts(start: int, end: int, window: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Rows `t` at which windows of a split `[start, end)` begin forecasting.

    A window at `t` has inputs `[t - window, t)` and targets `[t, t + horizon)`, and
    is kept when `t - window >= 0` and its targets lie in `[start, end)`. Steps of
    `stride` are counted back from the last window, so the most recent data is
    always used.
    """
    first = max(start, window)
    last = end - horizon
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(last, first - 1, -stride, dtype=np.int64)[::-1].copy()


def windows(values: np.ndarray, starts: np.ndarray, window: int, horizon: int,
            n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """Materialise windows in NumPy: inputs [n, window, columns], targets [n, horizon, targets]."""
    starts = np.asarray(starts, np.int64)[:, None]
    return (values[starts + np.arange(-window, 0)],
            values[starts + np.arange(horizon), :n_targets])


# ------------------------------------------------------------------------- window


def make_dataset(scaled: np.ndarray, starts: np.ndarray, window: int, horizon: int,
                 n_targets: int, batch_size: int, shuffle: bool = False, seed: int = 0,
                 epochs: range | None = None, anchor=None, window_scaled: bool = False,
                 covariates: np.ndarray | None = None, row_series: np.ndarray | None = None,
                 per_epoch: int | None = None):
    """A tf.data pipeline of (inputs, targets) windows, batched and prefetched.

    With an `anchor` (`anchors.Anchor`), the network's view of each window: inputs
    relative to the window's last value, targets minus the anchor's forecast.
    `window_scaled` first standardises each window, and its targets, by the window's
    own statistics (`window_scaling`; a panel's default).

    `covariates` [rows, K] (future-known, in network units) and `row_series` [rows]
    (each row's series index, for a series embedding) make the inputs a dict: `window`,
    and `known` [horizon, K] (the covariates of the window's forecast rows, cut by index
    like its targets) and/or `series` (the index of the series of its last row).

    Windows are cut by index from one in-memory copy of the series (no window is
    stored twice). Without `shuffle`: one pass in order, cached after the first.
    With it, the training stream: one pass per epoch in `epochs`, each in an order
    drawn from (seed, epoch) alone. The batches of an epoch never
    depend on how many passes came before, so a resumed run (`epochs` starting after
    the epochs already done) sees exactly the batches an uninterrupted run would.
    `per_epoch`: each pass takes only the first `per_epoch` windows of its order (a
    different sample every epoch, still drawn from (seed, epoch) alone).
    """
    import tensorflow as tf

    cut_batch = _batch_cutter(scaled, window, horizon, n_targets, anchor, window_scaled,
                              covariates, row_series)
    if not shuffle:
        dataset = tf.data.Dataset.from_tensor_slices(np.asarray(starts, np.int64))
        dataset = dataset.batch(batch_size).map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE,
                                                deterministic=True)
        return dataset.cache().prefetch(tf.data.AUTOTUNE)
    epochs = epochs if epochs is not None else range(1)
    all_starts = tf.constant(starts, dtype=tf.int64)

    def one_epoch(epoch):
        # A stateless shuffle: the order is a function of (seed, epoch) alone.
        order = tf.random.experimental.stateless_shuffle(
            all_starts, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        # Batches are sliced from the order tensor: slicing it element by element
        # and re-batching cost more than the gathers themselves.
        first_rows = tf.data.Dataset.range(0, min(len(starts), per_epoch or len(starts)),
                                           batch_size)
        return first_rows.map(lambda first: cut_batch(order[first:first + batch_size]),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    passes = tf.data.Dataset.range(epochs.start, epochs.stop)
    return passes.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


def _batch_cutter(scaled, window, horizon, n_targets, anchor, window_scaled, covariates,
                  row_series):
    """`make_dataset`'s cutter: [batch] start rows -> the network's view of their windows
    (scaling, anchor, extra inputs), one gather per batch from the series tensors."""
    import tensorflow as tf

    series = tf.constant(scaled, dtype=tf.float32)
    target_series = series[:, :n_targets]
    known = None if covariates is None else tf.constant(covariates, dtype=tf.float32)
    index = None if row_series is None else tf.constant(row_series, dtype=tf.int64)
    input_steps = tf.range(-window, 0, dtype=tf.int64)
    target_steps = tf.range(horizon, dtype=tf.int64)

    def cut_batch(t):
        inputs = tf.gather(series, t[:, None] + input_steps)  # [batch, window, columns]
        targets = tf.gather(target_series, t[:, None] + target_steps)
        if window_scaled:
            from .window_scaling import tf_standardise

            inputs, _, to_z = tf_standardise(inputs, n_targets)
            targets = to_z(targets)
        if anchor is not None:
            inputs, targets = (anchor.tf_network_inputs(inputs, n_targets),
                               targets - anchor.tf_forecast(inputs, n_targets))
        # Static shapes: Keras and XLA then know the window length when they trace.
        inputs = tf.ensure_shape(inputs, (None, window, scaled.shape[1]))
        if known is not None or index is not None:  # {window, known, series}
            inputs = {"window": inputs}
            if known is not None:
                inputs["known"] = tf.ensure_shape(tf.gather(known, t[:, None] + target_steps),
                                                  (None, horizon, covariates.shape[1]))
            if index is not None:
                inputs["series"] = tf.gather(index, t - 1)  # the window's last row's series
        return inputs, tf.ensure_shape(targets, (None, horizon, n_targets))

    return cut_batch
