"""The data side, one job per module: `panel` (the Series and Panel types), `csv` and
`panel_csv` (readers), `timeaxis` (seasons, continuing and formatting times), `sources`
(built-in datasets and panels, generators), `split`, `scaling`, `windowing` (window
starts and the tf.data pipeline), `covariates`; `prepare` turns a run's configuration
into windows ready for a model."""

# The public data API: lstm_tf.data.read_csv, ...
from .csv import (FILL_METHODS, FLOAT32_MAX, check_columns, decode,  # noqa: F401
                  existing_file, parse_csv, read_csv)
from .panel import Panel, Series  # noqa: F401
from .scaling import Scaler  # noqa: F401
from .sources import (BUILTIN_DATASETS, BuiltinDataset, load_builtin,  # noqa: F401
                      synthetic_sine)
from .split import Split, default_window, split_rows  # noqa: F401
from .timeaxis import infer_season, parse_time  # noqa: F401
from .windowing import make_dataset, window_starts, windows  # noqa: F401
