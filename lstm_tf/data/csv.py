"""Reading one series from CSV text, with errors that name the line and column.

The cell rules (what counts as missing, the float32 range, `--fill`) are shared with
the panel readers (`panel_csv`). NumPy only: the ONNX `predict` path reads CSVs
without TensorFlow.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UserError, check_choice
from .panel import Series
from .timeaxis import check_increasing, guess_time_column, is_time_like, iso_periods, parse_times


FILL_METHODS = ("interpolate", "ffill", "drop")


def read_csv(path: str | Path, targets: list[str] | None = None,
             features: list[str] | None = None, time_column: str | None = None,
             fill: str | None = None) -> Series:
    """Read a CSV file with a header row.

    `targets` defaults to the first column that is not the time column, an index
    (`INDEX_NAMES`: R's rownames...) or named like a time. Without `time_column`, a column
    named like one (`timeaxis.TIME_NAMES`: time, date, ds...; else year, month...) is.
    Missing cells (empty, NA, NaN) are refused unless `fill` says how to handle them;
    rows before the first target value are not part of the series (it starts there).
    """
    path = existing_file(path)
    return parse_csv(decode(path, str(path)), str(path), targets, features, time_column, fill)


def check_columns(source: str, header: list[str], targets: list[str], features: list[str],
                  roles: dict[str, str | None]) -> None:
    """Every target and feature is a column of `header`, none is both, and none is a
    column with another role (`roles`: e.g. {"time": "month", "series": "store"})."""
    check_present(source, header, targets + features)
    overlap = set(targets) & set(features)
    if overlap:
        raise UserError(f"{source}: column(s) {', '.join(sorted(overlap))} given as both "
                        "target and feature")
    for role, name in roles.items():
        if name is not None and name in targets + features:
            raise UserError(f"{source}: the {role} column {name!r} cannot be a target or "
                            "feature")


def check_present(source: str, header: list[str], names, role: str = "") -> None:
    """Each of `names` (None: not given) is a column of `header`; `role` ("time ") in the error."""
    for name in names:
        if name is not None and name not in header:
            raise UserError(f"{source}: no {role}column {name!r}; available: {', '.join(header)}")


# Columns that number or name the rows rather than measure anything: R's `rownames`,
# the index pandas writes (unnamed, or `Unnamed: 0`), statsforecast's `unique_id`.
# Never a default target or series.
INDEX_NAMES = ("", "rownames", "unnamed: 0", "index", "unique_id")

# The rows `label_columns` reads (a long file's series may start with hundreds of NA).
LABEL_SAMPLE = 1000


def default_columns(source: str, header: list[str], taken: list[str | None],
                    what: str, labels: set[str] = frozenset()) -> list[str]:
    """The columns a file's targets (or a wide file's series) default to: every column
    not `taken` (the time and series columns), nor an index (`INDEX_NAMES`), nor named
    like a time (`timeaxis.is_time_like`: `year` beside `month`); a one-line error where
    none is left. `what` names the taken columns in it. `labels` (`label_columns`: text
    such as a series' title) come last, so a default target is a column of numbers
    where the file has one."""
    columns = [name for name in header if name not in taken
               and name.lower() not in INDEX_NAMES and not is_time_like(name)]
    if not columns:
        raise UserError(f"{source} has no column besides {what} to forecast; "
                        f"available: {', '.join(header)}")
    return ([name for name in columns if name not in labels]
            + [name for name in columns if name in labels])


def label_columns(header: list[str], rows: list[list[str]]) -> set[str]:
    """The columns holding only text in `rows` (the file's first rows): a series' `Title`
    or `State`; not a column of numbers with a typo (the reader reports that)."""
    kinds = {}  # name -> whether its cells that are not missing are numbers
    for row in rows:
        for name, cell in zip(header, row):
            if cell.strip().lower() not in _MISSING:
                kinds.setdefault(name, set()).add(_is_number(cell))
    return {name for name, found in kinds.items() if found == {False}}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _one_series(source: str, header: list[str], rows: list[list[str]]) -> None:
    """A single series' file with statsforecast's `unique_id` column holds one series."""
    column = next((i for i, name in enumerate(header) if name.lower() == "unique_id"), None)
    if column is None:
        return
    names = {row[column].strip() for row in rows if len(row) > column}
    if len(names) > 1:
        raise UserError(f"{source}: column {header[column]!r} names {len(names)} series; "
                        f"train them as a panel with --series-column {header[column]}")


def column_if_present(path: str | Path, column: str | None) -> str | None:
    """`column` if the CSV's header has it (a run's time column is optional in the files
    it forecasts or evaluates); `column` too when the file cannot be opened, for the
    reader to report."""
    if not column:
        return None
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            header = next(csv.reader(handle), [])
    except OSError:
        return column
    return column if column in [name.strip() for name in header] else None


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
    header, rows = _header_and_rows(text, source)
    if not rows:
        raise UserError(f"{source} has a header but no data rows")
    if time_column is None:
        time_column = guess_time_column(header, [*(targets or []), *(features or [])])
    if targets is None:
        targets = default_columns(source, header, [time_column], "the time column",
                                  label_columns(header, rows[:LABEL_SAMPLE]))[:1]
        _one_series(source, header, rows)
    return _select(source, header, rows, targets, features or [], time_column, fill,
                   first_line=2)


def _header_and_rows(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    """A CSV text's header (names stripped, none twice) and its rows, trailing blank
    lines dropped."""
    lines = [line for line in csv.reader(text.splitlines())]
    header = parse_header(lines[0] if lines else [], source)
    rows = lines[1:]
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    return header, rows


def parse_header(cells: list[str], source: str) -> list[str]:
    """A CSV header's names, stripped; a one-line error if it is empty or repeats one."""
    header = [cell.strip() for cell in cells]
    if not any(header):
        raise UserError(f"{source} is empty")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UserError(f"{source}: duplicate column name(s) {', '.join(duplicates)}")
    return header


def _select(source: str, header: list[str], rows: list[list[str]], targets: list[str],
            features: list[str], time_column: str | None, fill: str | None,
            first_line: int) -> Series:
    """Pick the target, feature and time columns out of text rows and parse them."""
    check_columns(source, header, list(targets), list(features), {"time": time_column})
    check_present(source, header, [time_column or None])
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
    start = series_start(values[:, :len(targets)])
    if start:  # the series starts at its first value (read_long_csv's rule per series)
        values, rows, first_line = values[start:], rows[start:], first_line + start
    time = time_format = None
    if time_column:
        time_format = rows[-1][header.index(time_column)].strip() if rows else None
        time = iso_periods([row[header.index(time_column)].strip() for row in rows])
        codes, texts = np.arange(len(time)), np.array(time, dtype=object)
        times = parse_times(codes, texts, lambda row: first_line + row, source, time_column)[0]
        check_increasing(times, codes, texts, lambda row: first_line + row, source, time_column)
    values, keep = fill_missing(values, np.array([0, len(values)]), fill, source,
                                lambda at: f"at line {first_line + at[0]}",
                                lambda _, j: f"column {value_columns[j]!r}")
    if keep is not None and time:
        time = [t for t, k in zip(time, keep) if k]
    if not np.all(np.isfinite(values)):
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise UserError(f"{source}: column {value_columns[j]!r} has an infinite value "
                        f"at line {first_line + i}")
    return Series(source, list(targets), list(features), values, time, time_column,
                  time_format=time_format)


_MISSING = {"", "na", "nan", "null", "none", "n/a", "-"}


# Models compute (and exported models take their input) in float32: a larger value
# would become inf there.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _parse_number(cell: str, source: str, column: str, line: int) -> float:
    value = number(cell, lambda: f"{source}: column {column!r}, line {line}")
    if math.isfinite(value) and abs(value) > FLOAT32_MAX:
        raise UserError(f"{source}: column {column!r}, line {line}: {cell!r} is outside "
                        f"float32's finite range (±{FLOAT32_MAX:.4g}), which the model "
                        "computes in; rescale the column (e.g. other units)")
    return value


def number(cell: str, where: Callable[[], str]) -> float:
    """A cell's number (NaN for a missing one), or a one-line error starting with
    `where()` (the file, series, column and line)."""
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        hint = (" (thousands separators and decimal commas are not supported: use 1234.5)"
                if "," in text else "")
        raise UserError(f"{where()}: {cell!r} is not a number{hint}") from None


def series_start(targets: np.ndarray) -> int:
    """The first row holding a target value, where the series starts (the rows before it
    are not part of it); 0 where none does (its missing values are reported as such)."""
    present = ~np.isnan(targets).all(axis=1)
    return int(np.argmax(present)) if present.any() else 0


def fill_missing(values: np.ndarray, offsets: np.ndarray, fill: str | None, source: str,
                 where: Callable[[np.ndarray], str], column_of: Callable[[int, int], str]):
    """Handle the missing values (NaN) of series stacked as a `Panel`'s (`offsets`; one
    series: [0, rows]) by `fill`, series by series, never filling across two: (the
    values, the mask of the rows "drop" keeps, else None).

    Without `fill`, a one-line error saying `where(rows)` the first missing value is
    (`rows`: those holding one); `column_of(i, j)` names series i's column j.
    """
    missing = np.isnan(values)
    if not missing.any():
        return values, None
    if fill is None:
        raise UserError(f"{source}: {int(missing.sum())} missing value(s), the first "
                        f"{where(np.flatnonzero(missing.any(axis=1)))}; choose --fill "
                        "interpolate, ffill or drop")
    check_choice("fill method", fill, FILL_METHODS)
    if fill == "drop":
        keep = ~missing.any(axis=1)
        return values[keep], keep
    values = values.copy()
    series_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    for i in np.unique(series_of[missing.any(axis=1)]):
        part = slice(int(offsets[i]), int(offsets[i + 1]))
        for j in range(values.shape[1]):
            column = values[part, j]  # a view: filled in place
            gaps = np.isnan(column)
            if gaps.all():
                raise UserError(f"{source}: {column_of(i, j)} has no values at all to fill "
                                "from")
            if gaps.any():
                fill_gaps(column, fill)
    return values, None


def fill_gaps(column: np.ndarray, fill: str) -> None:
    """Fill the NaNs of one series' column in place (it holds at least one number):
    interpolate linearly, or ffill (leading gaps take the first known value)."""
    known = ~np.isnan(column)
    steps = np.arange(len(column))
    if fill == "interpolate":
        # np.interp holds the end values flat beyond the first and last known rows.
        column[:] = np.interp(steps, steps[known], column[known])
    else:
        last_known = np.maximum.accumulate(np.where(known, steps, -1))
        column[:] = column[np.where(last_known < 0, int(np.argmax(known)), last_known)]


def read_with_future(path, targets: list[str], features: list[str], known: list[str],
                     time_column: str | None):
    """`lstm-tf predict`'s reader for one series with known covariates: (the history as a
    `Series`, the known columns' raw values on the future rows [future, len(known)]).

    The future rows are the rows after the last row with a target value (their target
    and feature cells empty); the history before them is read as any CSV (every check of
    `read_csv` applies to it).
    """
    path = existing_file(path)
    source = str(path)
    header, rows = _header_and_rows(decode(path, source), source)
    check_present(source, header, list(targets) + list(known))
    columns = [header.index(name) for name in targets]

    def has_target(row: list[str]) -> bool:
        return any(j < len(row) and row[j].strip().lower() not in _MISSING
                   for j in columns)

    split = max((i + 1 for i, row in enumerate(rows) if has_target(row)), default=0)
    if split == 0:
        raise UserError(f"{source} has no row with a value of {', '.join(targets)}")
    history = _select(source, header, rows[:split], list(targets), list(features),
                      time_column, None, first_line=2)
    future = np.full((len(rows) - split, len(known)), np.nan)
    for i, row in enumerate(rows[split:]):
        if len(row) != len(header):
            raise UserError(f"{source}: line {2 + split + i} has {len(row)} fields, the "
                            f"header has {len(header)}")
        for j, name in enumerate(known):
            future[i, j] = _parse_number(row[header.index(name)], source, name, 2 + split + i)
    return history, future
