"""The data path, top to bottom: load → split → scale → window.

Everything here up to `make_dataset` is NumPy only, so the ONNX `predict` path can
read a CSV without importing TensorFlow. `make_dataset` builds the tf.data pipeline
for training and evaluation.

Conventions
- A series is a float64 array `values[rows, columns]`; the first `len(targets)`
  columns are the targets, the rest are extra input features.
- A window that starts forecasting at row `t` reads inputs `values[t - window:t]`
  (all columns) and targets `values[t:t + horizon, :len(targets)]`.
- A split owns rows `[start, end)`. A window belongs to a split when all its
  *targets* lie inside the split; its inputs may look back into earlier rows, which
  are past observations, never future ones.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import UserError

FILL_METHODS = ("interpolate", "ffill", "drop")


# --------------------------------------------------------------------------- load


@dataclass
class Series:
    """A loaded time series: target columns first, then extra feature columns."""

    source: str
    targets: list[str]
    features: list[str]
    values: np.ndarray  # float64 [rows, len(targets) + len(features)]
    time: list[str] | None = None  # the time column's text, one per row, if any
    time_column: str | None = None
    # Future-known columns (`--known`), raw [rows, len(known)]: not window inputs.
    known: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        return self.targets + self.features


@dataclass(frozen=True)
class BuiltinDataset:
    description: str
    target: str
    time_column: str | None = None
    season: int | None = None  # for the seasonal naive baseline
    file: str | None = None  # CSV shipped in lstm_tf/datasets
    fill: str | None = None  # how its missing values are handled by default
    source: str = ""


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "elnino": BuiltinDataset(
        "Monthly sea-surface temperature, Nino 1+2 region, 1950-2010 (732 rows, real, NOAA)",
        target="sst", time_column="month", season=12, file="elnino.csv",
        source="NOAA NWS ERSST.V3B Nino 1+2, public domain (via statsmodels)"),
    "sunspots": BuiltinDataset(
        "Yearly sunspot numbers, 1700-2008 (309 rows, real, NOAA NGDC)",
        target="sunspots", time_column="year", season=11, file="sunspots.csv",
        source="NOAA NGDC, public domain (via statsmodels)"),
    "co2": BuiltinDataset(
        "Weekly Mauna Loa atmospheric CO2, 1958-2001 (2284 rows with 59 gaps, real)",
        target="co2", time_column="date", season=52, file="co2.csv", fill="interpolate",
        source="Scripps/CDIAC Mauna Loa, public domain (via statsmodels)"),
    "sine": BuiltinDataset(
        "Synthetic noisy sine, period 24, 1000 rows", target="value", season=24),
    "sine2": BuiltinDataset(
        "Synthetic two targets (sine and cosine) plus a feature (a ramp), 600 rows",
        target="sin,cos", season=24),
}


def load_builtin(name: str, targets: list[str] | None = None,
                 features: list[str] | None = None, fill: str | None = None) -> Series:
    """Load a built-in dataset by name (see `BUILTIN_DATASETS`)."""
    if name not in BUILTIN_DATASETS:
        from .panels import BUILTIN_PANELS  # panels imports this module

        raise UserError(f"unknown dataset {name!r}; available: {', '.join(BUILTIN_DATASETS)}; "
                        f"panels: {', '.join(BUILTIN_PANELS)}")
    info = BUILTIN_DATASETS[name]
    targets = targets or info.target.split(",")
    if info.file is None:
        columns, rows = _synthetic(name)
        return _select(f"builtin:{name}", columns, rows, targets, features or [], None,
                       fill or info.fill, first_line=2)
    text = resources.files("lstm_tf").joinpath("datasets", info.file).read_text("utf-8")
    return parse_csv(text, f"builtin:{name}", targets, features, info.time_column,
                     fill or info.fill)


def synthetic_sine(rows: int = 1000, period: float = 24.0, noise: float = 0.1,
                   seed: int = 0) -> np.ndarray:
    """A noisy sine: `sin(2*pi*t/period) + noise * N(0, 1)`."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(rows)


def _synthetic(name: str) -> tuple[list[str], list[list[str]]]:
    if name == "sine":
        values = synthetic_sine()[:, None]
        columns = ["value"]
    else:  # sine2
        rows = 600
        t = np.arange(rows)
        rng = np.random.default_rng(1)
        values = np.stack([
            np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(rows),
            np.cos(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(rows),
            t / rows,
        ], axis=1)
        columns = ["sin", "cos", "ramp"]
    return columns, [[repr(float(v)) for v in row] for row in values]


def read_csv(path: str | Path, targets: list[str] | None = None,
             features: list[str] | None = None, time_column: str | None = None,
             fill: str | None = None) -> Series:
    """Read a CSV file with a header row.

    `targets` defaults to the first column that is not the time column.
    Missing cells (empty, NA, NaN) are refused unless `fill` says how to handle them.
    """
    path = existing_file(path)
    text = decode(path, str(path))
    return parse_csv(text, str(path), targets, features, time_column, fill)


def check_columns(source: str, header: list[str], targets: list[str], features: list[str],
                  roles: dict[str, str | None]) -> None:
    """Every target and feature is a column of `header`, none is both, and none is a
    column with another role (`roles`: e.g. {"time": "month", "series": "store"})."""
    for name in targets + features:
        if name not in header:
            raise UserError(f"{source}: no column {name!r}; available: {', '.join(header)}")
    overlap = set(targets) & set(features)
    if overlap:
        raise UserError(f"{source}: column(s) {', '.join(sorted(overlap))} given as both "
                        "target and feature")
    for role, name in roles.items():
        if name is not None and name in targets + features:
            raise UserError(f"{source}: the {role} column {name!r} cannot be a target or "
                            "feature")


def existing_file(path: str | Path) -> Path:
    """`path` as a Path, or a one-line error if it is missing or a directory."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"file {path} does not exist")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a CSV file")
    return path


def decode(path: Path, source: str) -> str:
    """A file's text (UTF-8, a byte-order mark dropped), or a one-line error."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{source} is not UTF-8 text (byte {error.start}); "
                        "save it as UTF-8") from None


def parse_csv(text: str, source: str, targets: list[str] | None = None,
              features: list[str] | None = None, time_column: str | None = None,
              fill: str | None = None) -> Series:
    """Parse CSV text (see `read_csv`); `source` names it in error messages."""
    lines = [line for line in csv.reader(text.splitlines())]
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise UserError(f"{source} is empty")
    header = [cell.strip() for cell in lines[0]]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UserError(f"{source}: duplicate column name(s) {', '.join(duplicates)}")
    rows = lines[1:]
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise UserError(f"{source} has a header but no data rows")
    if targets is None:
        candidates = [name for name in header if name != time_column]
        if not candidates:
            raise UserError(f"{source} has no column besides the time column")
        targets = [candidates[0]]
    return _select(source, header, rows, targets, features or [], time_column, fill,
                   first_line=2)


def _select(source: str, header: list[str], rows: list[list[str]], targets: list[str],
            features: list[str], time_column: str | None, fill: str | None,
            first_line: int) -> Series:
    """Pick the target, feature and time columns out of text rows and parse them."""
    check_columns(source, header, list(targets), list(features), {"time": time_column})
    if time_column and time_column not in header:
        raise UserError(f"{source}: no column {time_column!r}; available: {', '.join(header)}")
    # A blank line is a row of missing values (in a one-column file, one missing value).
    rows = [row if row else [""] * len(header) for row in rows]
    for offset, row in enumerate(rows):
        if len(row) != len(header):
            raise UserError(f"{source}: line {first_line + offset} has {len(row)} fields, "
                            f"the header has {len(header)}")
    value_columns = targets + features
    values = np.empty((len(rows), len(value_columns)), dtype=np.float64)
    for j, name in enumerate(value_columns):
        index = header.index(name)
        for i, row in enumerate(rows):
            values[i, j] = _parse_number(row[index], source, name, first_line + i)
    time = None
    if time_column:
        time = [row[header.index(time_column)].strip() for row in rows]
        _check_time_increases(time, source, time_column, first_line)
    values, time = _handle_missing(values, time, value_columns, fill, source, first_line)
    if not np.all(np.isfinite(values)):
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise UserError(f"{source}: column {value_columns[j]!r} has an infinite value "
                        f"at line {first_line + i}")
    return Series(source, list(targets), list(features), values, time, time_column)


_MISSING = {"", "na", "nan", "null", "none", "n/a", "-"}


# Models compute (and exported models take their input) in float32: a larger value
# would become inf there.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _parse_number(cell: str, source: str, column: str, line: int) -> float:
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        hint = ""
        if "," in text:
            hint = " (thousands separators and decimal commas are not supported: use 1234.5)"
        raise UserError(f"{source}: column {column!r}, line {line}: {cell!r} is not a "
                        f"number{hint}") from None
    if math.isfinite(value) and abs(value) > FLOAT32_MAX:
        raise UserError(f"{source}: column {column!r}, line {line}: {cell!r} is outside "
                        f"float32's finite range (±{FLOAT32_MAX:.4g}), which the model "
                        "computes in; rescale the column (e.g. other units)")
    return value


def parse_time(text: str) -> float | np.datetime64:
    """A time cell as a number (e.g. a year) or a NumPy datetime (ISO 8601)."""
    try:
        return float(text)
    except ValueError:
        return np.datetime64(text)


def _check_time_increases(time: list[str], source: str, column: str, first_line: int) -> None:
    previous = None
    for i, text in enumerate(time):
        try:
            current = parse_time(text)
        except ValueError:
            raise UserError(f"{source}: time column {column!r}, line {first_line + i}: "
                            f"{text!r} is neither a number nor an ISO date") from None
        if previous is not None:
            try:
                increasing = current > previous
            except TypeError:  # a number after a date, or the reverse
                raise UserError(f"{source}: time column {column!r}, line {first_line + i}: "
                                f"{text!r} mixes numbers and dates") from None
            if not increasing:
                word = "repeats" if current == previous else "goes back in time from"
                raise UserError(f"{source}: time column {column!r}, line {first_line + i}: "
                                f"{text!r} {word} {time[i - 1]!r}; rows must be in "
                                "increasing time order")
        previous = current


def _handle_missing(values: np.ndarray, time: list[str] | None, columns: list[str],
                    fill: str | None, source: str, first_line: int):
    missing = np.isnan(values)
    if not missing.any():
        return values, time
    count = int(missing.sum())
    first_row = int(np.argwhere(missing.any(axis=1))[0][0])
    if fill is None:
        raise UserError(f"{source}: {count} missing value(s), the first at line "
                        f"{first_line + first_row}; choose --fill interpolate, ffill or drop")
    if fill not in FILL_METHODS:
        raise UserError(f"unknown fill method {fill!r}; choose {', '.join(FILL_METHODS)}")
    if fill == "drop":
        keep = ~missing.any(axis=1)
        return values[keep], [t for t, k in zip(time, keep) if k] if time else None
    filled = values.copy()
    rows = np.arange(len(values))
    for j in range(values.shape[1]):
        known = ~missing[:, j]
        if not known.any():
            raise UserError(f"{source}: column {columns[j]!r} has no values at all")
        if fill == "interpolate":
            # np.interp holds the end values flat beyond the first and last known rows.
            filled[:, j] = np.interp(rows, rows[known], values[known, j])
        else:  # ffill; leading gaps take the first known value
            last_known = np.maximum.accumulate(np.where(known, rows, -1))
            first = int(np.argmax(known))
            filled[:, j] = values[np.where(last_known < 0, first, last_known), j]
    return filled, time


# ------------------------------------------------------------------------- season

# Median spacing of a date column (seconds) -> the season a forecaster would assume:
# half-hourly and hourly data a day, daily a week, weekly, monthly and quarterly a year.
_SEASONS = ((1800, 48), (3600, 24), (86400, 7), (7 * 86400, 52), (30.4 * 86400, 12),
            (91.3 * 86400, 4))


def infer_season(time: list[str] | None) -> int | None:
    """The season implied by a date time column's spacing (see `_SEASONS`), else None.

    Numbers (years, step counts) imply none: a yearly series has no season.
    """
    if not time or len(time) < 3 or any(isinstance(parse_time(text), float) for text in time):
        return None
    stamps = np.array([np.datetime64(text, "s") for text in time])
    spacing = float(np.median(np.diff(stamps).astype(np.float64)))
    return next((season for seconds, season in _SEASONS
                 if abs(spacing - seconds) <= 0.1 * seconds), None)


def default_window(rows: int, season: int | None, horizon: int, val_fraction: float,
                   test_fraction: float, holdout: int | None = None) -> int:
    """Three seasons and a step (room for every seasonal anchor), or 24 without a
    season; at most a third of the training rows, so that a short series keeps windows
    to learn from."""
    wanted = 3 * season + 1 if season else 24
    test = holdout if holdout is not None else int(round(rows * test_fraction))
    train = (rows - test) * (1 - val_fraction)
    return max(1, min(wanted, int((train - horizon) // 3)))


# -------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Split:
    """Row ranges of the chronological train/validation/test split."""

    train_end: int
    val_end: int
    rows: int

    def bounds(self, part: str) -> tuple[int, int]:
        return {"train": (0, self.train_end), "val": (self.train_end, self.val_end),
                "test": (self.val_end, self.rows)}[part]


def split_rows(rows: int, val_fraction: float, test_fraction: float, window: int,
               horizon: int, holdout: int | None = None) -> Split:
    """Split `rows` chronologically; every part must hold at least one window.

    The training part needs `window + horizon` rows for its first window; validation
    and test need `horizon` rows each (their inputs look back into earlier rows).
    `holdout` fixes the test part's rows (a backtest block) instead of `test_fraction`;
    validation then takes `val_fraction` of the rows before it.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise UserError(f"split fractions val={val_fraction} and test={test_fraction} must be "
                        "in (0, 1) and leave room for training data")
    if holdout is not None:
        val_end = rows - holdout
        train_end = val_end - int(round(val_end * val_fraction))
        if train_end < window + horizon or val_end - train_end < horizon:
            raise UserError(f"too few rows ({rows}) for a held-out block of {holdout} rows, "
                            f"window {window} and horizon {horizon}; need at least "
                            f"{holdout + int(math.ceil((window + 2 * horizon) / (1 - val_fraction)))}"
                            " rows, or fewer backtest windows")
        return Split(train_end, val_end, rows)
    val_end = rows - int(round(rows * test_fraction))
    train_end = val_end - int(round(rows * val_fraction))
    split = Split(train_end, val_end, rows)
    if (train_end < window + horizon or val_end - train_end < horizon
            or rows - val_end < horizon):
        smallest = window + 3 * horizon
        need = next((n for n in range(smallest, 100 * smallest + 1000)
                     if _fits(n, val_fraction, test_fraction, window, horizon)), None)
        hint = f"need at least {need} rows" if need else "use more rows or smaller fractions"
        raise UserError(f"too few rows ({rows}) for window {window}, horizon {horizon} and the "
                        f"train/validation/test split (val {val_fraction}, test {test_fraction}); "
                        f"{hint}")
    return split


def _fits(rows: int, val_fraction: float, test_fraction: float, window: int,
          horizon: int) -> bool:
    val_end = rows - int(round(rows * test_fraction))
    train_end = val_end - int(round(rows * val_fraction))
    return (train_end >= window + horizon and val_end - train_end >= horizon
            and rows - val_end >= horizon)


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


# ------------------------------------------------------------------------- window


def make_dataset(scaled: np.ndarray, starts: np.ndarray, window: int, horizon: int,
                 n_targets: int, batch_size: int, shuffle: bool = False, seed: int = 0,
                 epochs: range | None = None, anchor=None, window_scaled: bool = False,
                 covariates: np.ndarray | None = None, row_series: np.ndarray | None = None,
                 window_measure: str = "std"):
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
    """
    import tensorflow as tf

    series = tf.constant(scaled, dtype=tf.float32)
    target_series = series[:, :n_targets]
    known = None if covariates is None else tf.constant(covariates, dtype=tf.float32)
    index = None if row_series is None else tf.constant(row_series, dtype=tf.int64)

    def with_extras(inputs, t, known_rows):
        """inputs, or {window, known, series} when the network takes more than the window."""
        if known is None and index is None:
            return inputs
        packed = {"window": inputs}
        if known is not None:
            packed["known"] = known_rows
        if index is not None:
            packed["series"] = tf.gather(index, t - 1)  # the window's last row's series
        return packed

    def for_network(inputs, targets):  # [batch, window, columns], [batch, horizon, targets]
        if window_scaled:
            from .window_scaling import tf_standardise

            inputs, _, to_z = tf_standardise(inputs, n_targets, window_measure)
            targets = to_z(targets)
        if anchor is None:
            return inputs, targets
        return (anchor.tf_network_inputs(inputs, n_targets),
                targets - anchor.tf_forecast(inputs, n_targets))

    def cut(t):
        # Static shapes: Keras and XLA then know the window length when they trace.
        inputs, targets = for_network(series[None, t - window:t], target_series[None, t:t + horizon])
        known_rows = None if known is None else tf.ensure_shape(
            known[t:t + horizon], (horizon, covariates.shape[1]))
        return (with_extras(tf.ensure_shape(inputs[0], (window, scaled.shape[1])), t,
                            known_rows),
                tf.ensure_shape(targets[0], (horizon, n_targets)))

    if not shuffle:
        dataset = tf.data.Dataset.from_tensor_slices(starts)
        dataset = dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.cache().batch(batch_size).prefetch(tf.data.AUTOTUNE)
    epochs = epochs if epochs is not None else range(1)
    all_starts = tf.constant(starts, dtype=tf.int64)

    input_steps = tf.range(-window, 0, dtype=tf.int64)
    target_steps = tf.range(horizon, dtype=tf.int64)

    def cut_batch(t):
        # One gather per batch: [batch] start rows -> [batch, window, columns] windows.
        inputs, targets = for_network(tf.gather(series, t[:, None] + input_steps),
                                      tf.gather(target_series, t[:, None] + target_steps))
        known_rows = None if known is None else tf.ensure_shape(
            tf.gather(known, t[:, None] + target_steps), (None, horizon, covariates.shape[1]))
        return (with_extras(tf.ensure_shape(inputs, (None, window, scaled.shape[1])), t,
                            known_rows),
                tf.ensure_shape(targets, (None, horizon, n_targets)))

    def one_epoch(epoch):
        # A stateless shuffle: the order is a function of (seed, epoch) alone.
        order = tf.random.experimental.stateless_shuffle(
            all_starts, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        # Batches are sliced from the order tensor: slicing it element by element
        # and re-batching cost more than the gathers themselves.
        first_rows = tf.data.Dataset.range(0, len(starts), batch_size)
        return first_rows.map(lambda first: cut_batch(order[first:first + batch_size]),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    passes = tf.data.Dataset.range(epochs.start, epochs.stop)
    return passes.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)

