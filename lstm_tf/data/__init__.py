"""The data side: `series` reads, splits, scales and windows one series (NumPy only,
plus the tf.data pipeline); `prepare` turns a run's configuration into windows ready
for a model."""

from .series import *  # noqa: F401,F403  (the public data API: lstm_tf.data.read_csv, ...)
from .series import BUILTIN_DATASETS, FILL_METHODS, FLOAT32_MAX  # noqa: F401
