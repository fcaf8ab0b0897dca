"""Many series in one array: the panel that a global model trains on.

A panel keeps every series' rows contiguous and in time order inside ONE float64
array, so windows are cut from it by index exactly as from a single series (no
window is materialised, no per-series Python loop in the input pipeline):

    values[offsets[i]:offsets[i + 1]]  are series i's rows (names[i]), oldest first

A window never crosses from one series into the next: window starts are found per
series (`prepare`), then shifted by the series' offset.

Reading (NumPy, plus pyarrow's CSV reader imported only when a file is read; the ONNX
`predict` path reads panels without TensorFlow):
- `read_long_csv`: one row per (series, time), rows in any order (`--series-column`);
- `read_wide_as_panel`: every column its own series sharing the time column
  (`--columns-as-series`);
- `load_builtin_panel`: the built-in panels (`BUILTIN_PANELS`); `load_panel` picks one of
  the three from a run's `DataConfig`.

Fast path and exact errors: pyarrow parses a clean file in one multithreaded pass. Any
file it refuses (a non-numeric cell, a row with the wrong number of fields, bytes that
are not UTF-8, spaces around a number) is read again by the careful pure-Python reader,
which names the line, series and column of the problem; an error found after parsing
(a duplicate time, a missing value) looks its line numbers up only then.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from array import array
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError
from .series import (_MISSING, _SEASONS, FILL_METHODS, FLOAT32_MAX, check_columns, decode,
                     existing_file)


@dataclass
class Panel:
    """Series stacked along the rows: targets first, then feature columns."""

    source: str
    names: list[str]  # series ids, in row order
    offsets: np.ndarray  # int64 [len(names) + 1]; series i is rows offsets[i]:offsets[i + 1]
    targets: list[str]
    features: list[str]
    values: np.ndarray  # float64 [rows, len(targets) + len(features)]
    # The time column per row, parsed: datetime64[s] or float64 (plain numbers); None
    # when the data has no time column (row order is time order).
    time: np.ndarray | None = None
    time_column: str | None = None
    series_column: str | None = None  # None when the columns were the series (wide CSV)
    # Future-known columns (`--known`), raw [rows, len(known)]: not window inputs.
    known: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        return self.targets + self.features

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def rows_of(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def series_index(self) -> np.ndarray:
        """int64 [rows]: the index (into `names`) of the series each row belongs to."""
        return np.repeat(np.arange(len(self.names), dtype=np.int64), self.lengths)


# --------------------------------------------------------------------- long CSV


def read_long_csv(path: str | Path, series_column: str, targets: list[str] | None = None,
                  features: list[str] | tuple[str, ...] = (), time_column: str | None = None,
                  fill: str | None = None, allow_single: bool = False,
                  keep_missing: bool = False) -> Panel:
    """Read a long CSV: one row per (series, time), e.g. `series,time,value,price`.

    Rows may come in any order: they are sorted by (series, time), stably, so without
    a time column the file's order within a series is its time order. Series are
    ordered by name (sorted by code point), so the panel, and the index a model
    gives each series, never depend on how the file's rows were shuffled.

    `targets` defaults to the first column that is neither the series nor the time
    column. `fill` (interpolate, ffill, drop) handles missing values series by series,
    never interpolating from one series into the next; without it a missing value is
    an error. With `allow_single` a file holding one series is accepted (`predict` of
    one series); otherwise it is an error (train it as a single series instead).
    A series that `fill="drop"` empties stays in the panel with no rows.
    `keep_missing` leaves missing values as NaN (predict: the future rows of a model
    with known covariates have empty targets).
    """
    path = existing_file(path)
    source = str(path)
    header = _header(path, source)
    return _read_long(path, source, header, series_column, targets, list(features),
                      time_column, fill, allow_single, keep_missing)


def _read_long(path: Path, source: str, header: list[str], series_column: str,
               targets: list[str] | None, features: list[str], time_column: str | None,
               fill: str | None, allow_single: bool, keep_missing: bool = False) -> Panel:
    if series_column not in header:
        raise UserError(f"{source}: no series column {series_column!r}; "
                        f"available: {', '.join(header)}")
    if time_column is not None and time_column not in header:
        raise UserError(f"{source}: no time column {time_column!r}; "
                        f"available: {', '.join(header)}")
    if targets is None:
        candidates = [name for name in header if name not in (series_column, time_column)]
        if not candidates:
            raise UserError(f"{source} has no column besides the series and time columns")
        targets = candidates[:1]
    targets = list(targets)
    check_columns(source, header, targets, features,
                         {"series": series_column, "time": time_column})
    text_columns = [series_column] + ([time_column] if time_column else [])
    table = _read_columns(path, source, header, targets + features, text_columns,
                          series_column=series_column)
    if table.rows == 0:
        raise UserError(f"{source} has a header but no data rows")

    codes, uniques = table.texts[series_column]
    blank = np.flatnonzero(uniques == "")
    if len(blank):
        row = int(np.argmax(codes == blank[0]))
        raise UserError(f"{source}: line {table.line(row)}: empty series name in column "
                        f"{series_column!r}")
    # Series in name order: renumber the codes by each name's rank.
    by_name = np.argsort(uniques, kind="stable")
    if (by_name != np.arange(len(uniques))).any():  # else first appearance is name order
        rank = np.empty(len(uniques), dtype=np.int64)
        rank[by_name] = np.arange(len(uniques))
        codes = rank[codes]
    names = [str(name) for name in uniques[by_name]]
    if len(names) == 1 and not allow_single:
        raise UserError(f"{source}: the series column {series_column!r} holds one series "
                        f"only ({names[0]!r}); leave out --series-column to train on it as "
                        "a single series")

    columns = targets + features
    values = (table.numbers[columns[0]][:, None] if len(columns) == 1
              else np.column_stack([table.numbers[name] for name in columns]))
    time = None
    if time_column:
        time_codes, time_texts = table.texts[time_column]
        time, time_rank = _parse_times(time_codes, time_texts, table, source, time_column,
                                       lambda row: names[codes[row]])

    # One int64 key, series then time: a stable argsort of it is the (series, time) order
    # (twice as fast as np.lexsort of the two).
    key = codes if time is None else codes * (int(time_rank.max()) + 1) + time_rank
    order = None
    if not (key[1:] > key[:-1] if time is not None else key[1:] >= key[:-1]).all():
        order = np.argsort(key, kind="stable")  # a repeated time keeps the file's order
        codes, values, key = codes[order], values[order], key[order]
        time = time[order] if time is not None else None
    rows = order  # the file's row of each panel row (None: the same row)
    if time is not None:
        same = key[1:] == key[:-1]
        if same.any():
            k = int(np.argmax(same))
            file_rows = (k, k + 1) if rows is None else (int(rows[k]), int(rows[k + 1]))
            first, second = sorted(table.line(row) for row in file_rows)
            text = time_texts[time_codes[file_rows[0]]]
            raise UserError(f"{source}: series {names[codes[k]]!r} has time {text!r} twice, "
                            f"at lines {first} and {second}; keep one row per series and time")
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(names)), out=offsets[1:])
    _check_finite(values, rows, table, source, columns, lambda i: names[codes[i]])
    if not keep_missing:
        values, time, offsets = _fill(values, time, offsets, rows, table, source, names,
                                      columns, fill,
                                      lambda name, column: f"series {name!r}, column {column!r}")
    return Panel(source, names, offsets, targets, list(features), values, time, time_column,
                 series_column)


# --------------------------------------------------------------------- wide CSV


def read_wide_as_panel(path: str | Path, columns: list[str] | None = None,
                       time_column: str | None = None, fill: str | None = None) -> Panel:
    """Read a wide CSV as a panel: every selected column is its own series (`value`).

    The series share the time column, which must increase row by row. `columns`
    defaults to every column but the time column; each must hold numbers. A column's
    leading and trailing missing cells are not part of its series, so the series may
    differ in length and start time; a gap inside a series needs `fill`.
    """
    path = existing_file(path)
    source = str(path)
    return _read_wide(path, source, _header(path, source), columns, time_column, fill)


def _read_wide(path: Path, source: str, header: list[str], columns: list[str] | None,
               time_column: str | None, fill: str | None) -> Panel:
    if time_column is not None and time_column not in header:
        raise UserError(f"{source}: no time column {time_column!r}; "
                        f"available: {', '.join(header)}")
    if columns is None:
        columns = [name for name in header if name != time_column]
        if not columns:
            raise UserError(f"{source} has no column besides the time column")
    columns = list(columns)
    check_columns(source, header, columns, [], {"time": time_column})
    table = _read_columns(path, source, header, columns,
                          [time_column] if time_column else [])
    if table.rows == 0:
        raise UserError(f"{source} has a header but no data rows")
    times = None
    if time_column:
        time_codes, time_texts = table.texts[time_column]
        times = _parse_times(time_codes, time_texts, table, source, time_column, None)[0]
        key = times.view(np.int64) if times.dtype.kind == "M" else times
        back = np.flatnonzero(np.diff(key) <= 0)
        if len(back):
            k = int(back[0])
            word = "repeats" if key[k + 1] == key[k] else "goes back in time from"
            raise UserError(f"{source}: time column {time_column!r}, line {table.line(k + 1)}: "
                            f"{time_texts[time_codes[k + 1]]!r} {word} "
                            f"{time_texts[time_codes[k]]!r}; rows must be in increasing "
                            "time order")

    pieces, rows = [], []
    offsets = np.zeros(len(columns) + 1, dtype=np.int64)
    for i, name in enumerate(columns):
        column = table.numbers[name]
        known = np.flatnonzero(~np.isnan(column))
        span = np.arange(known[0], known[-1] + 1) if len(known) else np.arange(0)
        pieces.append(column[span])
        rows.append(span)
        offsets[i + 1] = offsets[i] + len(span)
    if offsets[-1] == 0:
        raise UserError(f"{source}: every series is empty (no numbers in "
                        f"{', '.join(columns)})")
    rows = np.concatenate(rows)
    values = np.concatenate(pieces)[:, None]
    time = times[rows] if times is not None else None
    series_of = np.repeat(np.arange(len(columns)), np.diff(offsets))
    _check_finite(values, rows, table, source, ["value"], lambda i: columns[series_of[i]])
    values, time, offsets = _fill(values, time, offsets, rows, table, source, columns,
                                  ["value"], fill, lambda name, column: f"column {name!r}")
    return Panel(source, columns, offsets, ["value"], [], values, time, time_column, None)


# ----------------------------------------------------------------- shared steps


def _header(path: Path, source: str) -> list[str]:
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        decode(path, source)  # raises with the byte's position
        raise
    cells = next(csv.reader([line]), [])
    header = [cell.strip() for cell in cells]
    if not any(header):
        raise UserError(f"{source} is empty")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UserError(f"{source}: duplicate column name(s) {', '.join(duplicates)}")
    return header


@dataclass
class _Table:
    """Columns of a CSV file: numbers as float64 (NaN where missing), text columns as
    (codes, uniques) with uniques the distinct stripped texts."""

    rows: int
    numbers: dict[str, np.ndarray]
    texts: dict[str, tuple[np.ndarray, np.ndarray]]
    lines_of: Callable[[], np.ndarray]  # data row -> line in the file (called on errors only)
    _lines: np.ndarray | None = field(default=None, repr=False)

    def line(self, row: int) -> int:
        if self._lines is None:
            self._lines = self.lines_of()
        return int(self._lines[row])


def _read_columns(path: Path, source: str, header: list[str], numeric: list[str],
                  text: list[str], series_column: str | None = None) -> _Table:
    """Read the `numeric` and `text` columns: pyarrow first, the careful reader when
    pyarrow refuses the file (it then raises the one-line error, if there is one)."""
    try:
        return _read_fast(path, header, numeric, text)
    except _Refused:
        return _read_careful(path, source, header, numeric, text, series_column)


class _Refused(Exception):
    """The fast reader cannot read the file as it stands."""


# Missing cells (series.py's `_MISSING`, matched case-insensitively there): every
# capitalisation, since pyarrow matches null values exactly.
_NULLS = sorted({"".join(chars) for word in _MISSING
                 for chars in itertools.product(*({c.lower(), c.upper()} for c in word))})


def _read_fast(path: Path, header: list[str], numeric: list[str], text: list[str]) -> _Table:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise _Refused() from None
    types = {name: pa.float64() for name in numeric} | {name: pa.string() for name in text}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=numeric + text, null_values=_NULLS,
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeError):
        raise _Refused() from None
    numbers = {name: _to_numpy(table[name].chunks, np.float64) for name in numeric}
    texts = {}
    for name in text:
        # Every chunk of a chunked dictionary_encode shares one dictionary (one memo).
        encoded = pc.dictionary_encode(table[name]).chunks
        dictionary = encoded[-1].dictionary if encoded else pa.array([], pa.string())
        if not all(chunk.dictionary.equals(dictionary) for chunk in encoded):
            raise _Refused()  # pragma: no cover - not how pyarrow encodes today
        codes = _to_numpy([chunk.indices for chunk in encoded], np.int32, np.int64)
        # Spaces around a name or time are not part of it: strip the distinct texts
        # (not the millions of cells), merging those that become equal.
        raw = [cell.strip() for cell in dictionary.to_pylist()]
        uniques, merged = np.unique(np.array(raw, dtype=object), return_inverse=True)
        texts[name] = (merged.ravel()[codes] if len(uniques) < len(raw) else codes,
                       uniques if len(uniques) < len(raw) else np.array(raw, dtype=object))
    return _Table(table.num_rows, numbers, texts, lambda: _data_lines(path))


def _to_numpy(chunks, dtype, out_dtype=None) -> np.ndarray:
    """Chunks of a primitive Arrow array as ONE writeable NumPy array, nulls as NaN.

    Read from their buffers into one preallocated array: pyarrow's `to_numpy` imports
    pandas (a quarter of a second, on `predict`'s path too), and combining the chunks
    first would copy every column once more (fresh pages cost CPU time here).
    """
    out = np.empty(sum(len(chunk) for chunk in chunks), dtype=out_dtype or dtype)
    at = 0
    for chunk in chunks:
        validity, data = chunk.buffers()[:2]
        start, end = chunk.offset, chunk.offset + len(chunk)
        if end > start:
            part = out[at:at + len(chunk)]
            part[:] = np.frombuffer(data, dtype=dtype, count=end)[start:]
            if chunk.null_count:
                bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=end,
                                     bitorder="little")[start:]
                part[bits == 0] = np.nan
        at += len(chunk)
    return out


def _data_lines(path: Path) -> np.ndarray:
    """The line on which each data row starts (blank lines skipped, as the readers do)."""
    lines = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        previous = reader.line_num
        for row in reader:
            if row:
                lines.append(previous + 1)
            previous = reader.line_num
    return np.asarray(lines, dtype=np.int64)


def _read_careful(path: Path, source: str, header: list[str], numeric: list[str],
                  text: list[str], series_column: str | None) -> _Table:
    """The pure-Python reader: slower, and exact about where a problem is.

    One pass, keeping only what the panel needs: numbers parsed as they come, each
    text column as codes into its distinct (stripped) texts.
    """
    reader = csv.reader(io.StringIO(decode(path, source), newline=""))
    next(reader, None)
    text_at = [header.index(name) for name in text]
    number_at = [header.index(name) for name in numeric]
    seen: list[dict[str, int]] = [{} for _ in text]
    codes = [array("q") for _ in text]
    numbers = [array("d") for _ in numeric]
    lines = array("q")
    previous = reader.line_num
    for row in reader:
        line, previous = previous + 1, reader.line_num
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise UserError(f"{source}: line {line} has {len(row)} fields, the header has "
                            f"{len(header)}")
        for k, j in enumerate(text_at):
            cell = row[j].strip()
            code = seen[k].get(cell)
            if code is None:
                code = seen[k][cell] = len(seen[k])
            codes[k].append(code)
        for k, j in enumerate(number_at):
            numbers[k].append(_number(row[j], lambda: _where(
                source, row, header, series_column, numeric[k], line)))
        lines.append(line)
    lines_array = np.frombuffer(lines, dtype=np.int64) if len(lines) else np.empty(0, np.int64)
    texts = {name: (np.frombuffer(codes[k], dtype=np.int64) if len(lines)
                    else np.empty(0, np.int64), np.array(list(seen[k]), dtype=object))
             for k, name in enumerate(text)}
    floats = {name: np.frombuffer(numbers[k], dtype=np.float64) if len(lines)
              else np.empty(0) for k, name in enumerate(numeric)}
    return _Table(len(lines), floats, texts, lambda: lines_array)


def _where(source: str, row: list[str], header: list[str], series_column: str | None,
           column: str, line: int) -> str:
    series = ""
    if series_column is not None:
        series = f"series {row[header.index(series_column)].strip()!r}, "
    return f"{source}: {series}column {column!r}, line {line}"


def _number(cell: str, where: Callable[[], str]) -> float:
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        hint = ""
        if "," in text:
            hint = " (thousands separators and decimal commas are not supported: use 1234.5)"
        raise UserError(f"{where()}: {cell!r} is not a number{hint}") from None


def _check_finite(values: np.ndarray, rows: np.ndarray | None, table: _Table, source: str,
                  columns: list[str], series_of: Callable[[int], str]) -> None:
    """Refuse infinities and numbers beyond float32 (the model computes in float32).

    `rows`: the file's data row of each row of `values` (None: the same row).
    """
    # Infinities too; NaN (missing) compares False. Two comparisons: no float copy.
    bad = (values > FLOAT32_MAX) | (values < -FLOAT32_MAX)
    if not bad.any():
        return
    i, j = (int(k) for k in np.argwhere(bad)[0])
    where = (f"{source}: series {series_of(i)!r}, column {columns[j]!r}, "
             f"line {table.line(i if rows is None else int(rows[i]))}")
    if np.isinf(values[i, j]):
        raise UserError(f"{where}: an infinite value")
    raise UserError(f"{where}: {float(values[i, j])!r} is outside float32's finite range "
                    f"(±{FLOAT32_MAX:.4g}), which the model computes in; rescale the column "
                    "(e.g. other units)")


def _parse_times(codes: np.ndarray, texts: np.ndarray, table: _Table, source: str,
                 column: str, series_of: Callable[[int], str] | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the time as float64 (all numbers) or datetime64[s] (all ISO dates), and
    its rank among the distinct times (int64; equal times, equal ranks).

    Only the distinct texts are parsed (a panel repeats the same timestamps in every
    series), vectorised; a Python pass over them finds the culprit if that fails.
    """
    parsed = None
    try:
        parsed = np.array(texts, dtype=np.float64) if len(texts) else np.empty(0)
        bad = ~np.isfinite(parsed)
    except ValueError:
        try:
            parsed = np.array(texts, dtype="datetime64[s]")
            bad = np.isnat(parsed)
            # NumPy reads a bare year ("2020") as a date; among dates it is a number.
            yearlike = np.char.find(texts.astype(str), "-", 1) < 0
            if yearlike.any():
                bad = bad | yearlike
        except ValueError:
            bad = None
    if bad is None or bad.any():
        _time_error(codes, texts, table, source, column, series_of)
    rank = np.unique(parsed, return_inverse=True)[1].ravel().astype(np.int64)
    return parsed[codes], rank[codes]


def _time_error(codes, texts, table, source, column, series_of) -> None:
    def kind(text: str) -> str:
        try:
            return "number" if math.isfinite(float(text)) else "bad"
        except ValueError:
            pass
        try:
            return "bad" if np.isnat(np.datetime64(text, "s")) else "date"
        except ValueError:
            return "bad"

    kinds = np.array([kind(text) for text in texts])
    row_kinds = kinds[codes]
    bad_rows = np.flatnonzero(row_kinds == "bad")
    mixed_rows = np.flatnonzero(row_kinds != row_kinds[0])
    row = int(min(bad_rows[0] if len(bad_rows) else len(codes),
                  mixed_rows[0] if len(mixed_rows) else len(codes)))
    text = texts[codes[row]]
    where = f"{source}: time column {column!r}, line {table.line(row)}"
    if series_of is not None:
        where += f" (series {series_of(row)!r})"
    if row_kinds[row] == "bad":
        problem = "is missing" if text == "" else "is neither a number nor an ISO date"
        raise UserError(f"{where}: {text!r} {problem}")
    raise UserError(f"{where}: {text!r} mixes numbers and dates")


def _fill(values: np.ndarray, time: np.ndarray | None, offsets: np.ndarray,
          rows: np.ndarray | None, table: _Table, source: str, names: list[str], columns: list[str], fill: str | None,
          describe: Callable[[str, str], str]):
    """Handle missing values series by series (`--fill`): never across two series."""
    missing = np.isnan(values)
    if not missing.any():
        return values, time, offsets
    series_of = np.repeat(np.arange(len(names)), np.diff(offsets))
    if fill is None:
        at = np.flatnonzero(missing.any(axis=1))
        i = int(at[0] if rows is None else at[np.argmin(rows[at])])  # the first in the file
        j = int(np.argmax(missing[i]))
        raise UserError(f"{source}: {int(missing.sum())} missing value(s), the first in "
                        f"{describe(names[series_of[i]], columns[j])}, line "
                        f"{table.line(i if rows is None else int(rows[i]))}; choose --fill "
                        "interpolate, ffill or drop")
    if fill not in FILL_METHODS:
        raise UserError(f"unknown fill method {fill!r}; choose {', '.join(FILL_METHODS)}")
    if fill == "drop":
        keep = ~missing.any(axis=1)
        if not keep.any():
            raise UserError(f"{source}: every series is empty once the rows with missing "
                            "values are dropped")
        offsets = np.zeros_like(offsets)
        np.cumsum(np.bincount(series_of[keep], minlength=len(names)), out=offsets[1:])
        return values[keep], time[keep] if time is not None else None, offsets
    values = values.copy()
    for i in np.unique(series_of[missing.any(axis=1)]):
        part = slice(int(offsets[i]), int(offsets[i + 1]))
        for j in range(values.shape[1]):
            column = values[part, j]  # a view: filled in place
            known = ~np.isnan(column)
            if known.all():
                continue
            if not known.any():
                raise UserError(f"{source}: {describe(names[i], columns[j])} has no values "
                                "at all to fill from")
            steps = np.arange(len(column))
            if fill == "interpolate":
                # np.interp holds the end values flat beyond the first and last known rows.
                column[:] = np.interp(steps, steps[known], column[known])
            else:  # ffill; leading gaps take the first known value
                last_known = np.maximum.accumulate(np.where(known, steps, -1))
                column[:] = column[np.where(last_known < 0, int(np.argmax(known)), last_known)]
    return values, time, offsets


# ------------------------------------------------------------------------- time

# Median spacing (days) of the calendar frequencies: month-based steps, continued by
# the calendar rather than by a fixed number of seconds.
_CALENDAR_MONTHS = ((28, 31, 1), (89, 92, 3), (181, 184, 6), (365, 366, 12))


def continue_time(times: np.ndarray, steps: int) -> np.ndarray:
    """The `steps` timestamps after one series' `times`, continuing its spacing.

    Dates spaced by months, quarters, half-years or years continue by the calendar:
    month ends stay month ends (Jan 31, Feb 28, Mar 31), month starts stay month
    starts, any other day of the month is kept where the month has it (else its last
    day), and so is the time of day. Any other spacing (weekly, daily, hourly,
    half-hourly, ...) is fixed: `last + k * spacing`. Plain numbers (years, step
    counts) continue by their step. The spacing is the median step, so a gap in the
    history does not change it.

    Args:
        times: datetime64 or float64 [n >= 2], increasing.
        steps: how many timestamps to return.

    Returns:
        datetime64[s] or float64 [steps].
    """
    times = np.asarray(times)
    if len(times) < 2:
        raise UserError(f"cannot continue a time column from {len(times)} timestamp(s); "
                        "need two or more to know its spacing")
    if times.dtype.kind != "M":
        times = times.astype(np.float64)
        step = float(np.median(np.diff(times)))
        if not step > 0:
            raise UserError("cannot continue a time column that does not increase")
        return _continue_numbers(times[-1:], step, _integral(times), steps)[0]
    stamps = times.astype("datetime64[s]")
    spacing = float(np.median(np.diff(stamps).astype(np.int64)))
    if not spacing > 0:
        raise UserError("cannot continue a time column that does not increase")
    month_ends = bool(_is_month_end(stamps).all())
    return _continue_dates(stamps[-1:], spacing, np.array([month_ends]), steps)[0]


def continue_panel_time(panel: Panel, steps: int,
                        series: np.ndarray | None = None) -> np.ndarray:
    """`continue_time` of every series in `series` (default all) at once: [n, steps].

    A panel whose series all share one spacing (every step inside every series the
    same, the usual case) is continued in one vectorised pass; any other falls back to
    `continue_time` series by series.
    """
    if panel.time is None:
        raise UserError("the panel has no time column to continue")
    series = np.arange(len(panel.names)) if series is None else np.asarray(series)
    lengths = panel.lengths[series]
    if len(series) and lengths.min() >= 2:
        key = panel.time.astype("datetime64[s]") if panel.time.dtype.kind == "M" else panel.time
        step = np.diff(key)
        inside = np.ones(len(step), dtype=bool)  # steps that stay inside one series
        boundaries = panel.offsets[1:-1] - 1
        inside[boundaries[(boundaries >= 0) & (boundaries < len(step))]] = False
        member = np.zeros(len(panel.names), dtype=bool)
        member[series] = True
        row_series = panel.series_index()
        used = member[row_series]
        steps_used = step[used[:-1] & inside]
        last = key[panel.offsets[series + 1] - 1]
        if panel.time.dtype.kind == "M" and len(steps_used):
            steps_used = steps_used.astype(np.int64)
            days = steps_used[0] / 86400
            band = next(((low, high) for low, high, _ in _CALENDAR_MONTHS
                         if low <= days <= high), None)
            if band is not None and (steps_used >= band[0] * 86400).all() and (
                    steps_used <= band[1] * 86400).all():
                steps_used = steps_used[:1]  # calendar steps: one band, any month length
        if len(steps_used) and (steps_used == steps_used[0]).all() and steps_used[0] > 0:
            if panel.time.dtype.kind != "M":
                integral = _integral(key[used])
                return _continue_numbers(last, float(steps_used[0]), integral, steps)
            # Series whose every date is a month end (the others keep their day).
            not_end = np.bincount(row_series[~_is_month_end(key)], minlength=len(panel.names))
            return _continue_dates(last, float(steps_used[0]), not_end[series] == 0, steps)
    return np.stack([continue_time(panel.time[panel.rows_of(i)], steps) for i in series])


def _continue_numbers(last: np.ndarray, step: float, integral: bool, steps: int) -> np.ndarray:
    future = last[:, None] + step * np.arange(1, steps + 1)
    # Integral times with an integral step stay integral (no 2016.0000000002).
    return np.round(future) if integral and step == round(step) else future


def _is_month_end(stamps: np.ndarray) -> np.ndarray:
    dates = stamps.astype("datetime64[D]")
    return dates == (dates.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1


def _continue_dates(last: np.ndarray, spacing: float, month_ends: np.ndarray,
                    steps: int) -> np.ndarray:
    """[n, steps] dates after each of `last` [n], `spacing` seconds apart, by the
    calendar when the spacing is a month, a quarter, half a year or a year."""
    ahead = np.arange(1, steps + 1, dtype=np.int64)
    days = spacing / 86400
    months = next((m for low, high, m in _CALENDAR_MONTHS if low <= days <= high), None)
    last = last[:, None]
    if months is None:
        return last + ahead * np.timedelta64(int(round(spacing)), "s")
    time_of_day = last - last.astype("datetime64[D]")
    month = last.astype("datetime64[M]") + months * ahead
    start = month.astype("datetime64[D]")
    length = (month + 1).astype("datetime64[D]") - start  # days in each future month
    day_of_month = last.astype("datetime64[D]") - last.astype("datetime64[M]").astype(
        "datetime64[D]")
    # Month ends stay month ends; any other day is kept, or the month's last (starts: 0).
    day = np.where(month_ends[:, None], length - 1, np.minimum(day_of_month, length - 1))
    return (start + day).astype("datetime64[s]") + time_of_day


def _integral(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def format_time(values: np.ndarray, like: str | None = None) -> np.ndarray:
    """Times as text, the way a CSV writes them: an array of str.

    Dates at midnight as dates (`2016-01-31`), other datetimes in ISO 8601
    (`2016-01-31T13:30:00`), integral numbers without a spurious `.0` (`2016`), other
    numbers in their shortest round-trip form. `like`, a time cell of the input,
    makes dates follow its precision and separator (`1950-01` gives months,
    `2020-01-01 13:30` minutes with a space).
    """
    values = np.asarray(values)
    if values.dtype.kind == "M":
        stamps = values.astype("datetime64[s]")
        if like is not None:
            unit = np.datetime_data(np.datetime64(like.strip()).dtype)[0]
            text = np.datetime_as_string(stamps, unit=unit)
            return np.char.replace(text, "T", " ") if " " in like.strip() else text
        midnight = (stamps == stamps.astype("datetime64[D]")).all()
        return np.datetime_as_string(stamps, unit="D" if midnight else "s")
    values = values.astype(np.float64)
    if np.all(np.isfinite(values)) and _integral(values) and np.all(np.abs(values) < 2**53):
        return values.astype(np.int64).astype(str)
    return np.array([repr(float(v)) for v in values.ravel()]).reshape(values.shape)


def panel_season(panel: Panel) -> int | None:
    """The season a date time column's spacing implies (as `infer_season` for one
    series: hourly 24, daily 7, weekly 52, monthly 12, quarterly 4), else None.

    The spacing is the median step inside the series (never from one series' last row
    to the next one's first).
    """
    if panel.time is None or panel.time.dtype.kind != "M":
        return None
    step = np.diff(panel.time.astype("datetime64[s]").astype(np.int64))
    inside = np.ones(len(step), dtype=bool)
    ends = panel.offsets[1:-1] - 1  # the step from each series' last row to the next
    inside[ends[(ends >= 0) & (ends < len(step))]] = False
    if inside.sum() < 2:
        return None
    spacing = float(np.median(step[inside]))
    return next((season for seconds, season in _SEASONS
                 if abs(spacing - seconds) <= 0.1 * seconds), None)


# -------------------------------------------------------------------- synthetic

_FREQUENCIES = {"month": "M", "day": "D", "hour": "h"}


def synthetic_panel(series: int = 50, length: int = 240, seed: int = 0,
                    periods: tuple[int, ...] = (6, 12), min_length: int | None = None,
                    frequency: str | None = "month", start: str = "2000-01-01",
                    decimals: int | None = 3) -> Panel:
    """A seeded panel of `series` series that differ the way real panels do.

    Series i, at step t:

        trend_t = level * (1 + slope * t)
        y_t = trend_t * (1 + a * sin(2 pi t / p + phase))      (multiplicative season)
            or trend_t + a * level * sin(2 pi t / p + phase)   (additive season)
        y_t += sigma * level * N(0, 1)

    with level log-uniform in [1, 1000], slope ~ N(0, 0.002) per step, season period
    p drawn from `periods`, amplitude a in [0.05, 0.3], phase uniform, noise sigma in
    [0.01, 0.05] of the level, and multiplicative or additive seasonality by a coin
    flip: every draw comes from `seed` alone.

    Args:
        series, length: the panel's size (rows = series * length without `min_length`).
        periods: the seasonal periods drawn from (the default 6 and 12 both divide 12, so
            a seasonal naive of season 12 fits every series).
        min_length: if given, each series keeps a random run of its steps of length in
            [min_length, length], so the series differ in length and start time.
        frequency: "month" (month starts), "day", "hour" from `start`, or None for
            plain step numbers 0, 1, 2, ...
        decimals: values rounded to this many decimals (so a CSV round-trips them
            exactly), or None.
    """
    if series < 1 or length < 2:
        raise UserError(f"a synthetic panel needs at least 1 series of 2 steps, got "
                        f"{series} x {length}")
    if min_length is not None and not 1 <= min_length <= length:
        raise UserError(f"min_length must be in [1, {length}], got {min_length}")
    rng = np.random.default_rng(seed)
    level = 10 ** rng.uniform(0, 3, series)[:, None]
    slope = rng.normal(0, 0.002, series)[:, None]
    period = rng.choice(np.asarray(periods, dtype=np.float64), series)[:, None]
    amplitude = rng.uniform(0.05, 0.3, series)[:, None]
    phase = rng.uniform(0, 2 * np.pi, series)[:, None]
    sigma = rng.uniform(0.01, 0.05, series)[:, None]
    multiplicative = rng.random(series)[:, None] < 0.5
    noise = rng.standard_normal((series, length))
    t = np.arange(length)[None, :]
    trend = level * (1 + slope * t)
    wave = amplitude * np.sin(2 * np.pi * t / period + phase)
    values = np.where(multiplicative, trend * (1 + wave), trend + wave * level)
    values = values + sigma * level * noise
    if decimals is not None:
        values = np.round(values, decimals)

    if frequency is None:
        steps = np.arange(length, dtype=np.float64)
    elif frequency in _FREQUENCIES:
        unit = _FREQUENCIES[frequency]
        steps = (np.datetime64(start, unit) + np.arange(length)).astype("datetime64[s]")
    else:
        raise UserError(f"unknown frequency {frequency!r}; choose month, day, hour or None")

    if min_length is None:
        first = np.zeros(series, dtype=np.int64)
        lengths = np.full(series, length, dtype=np.int64)
    else:
        lengths = rng.integers(min_length, length + 1, series)
        first = rng.integers(0, length - lengths + 1)
    keep = (t >= first[:, None]) & (t < (first + lengths)[:, None])
    offsets = np.zeros(series + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    width = len(str(series - 1))
    names = [f"s{i:0{width}d}" for i in range(series)]
    return Panel(f"synthetic:{series}x{length}:seed{seed}", names, offsets, ["value"], [],
                 values[keep][:, None], np.broadcast_to(steps, (series, length))[keep],
                 "time", "series")


def write_long_csv(panel: Panel, path: str | Path, force: bool = False) -> None:
    """Write a panel as a long CSV (`series,time,<targets>,<features>`), atomically.

    The time column is written by `format_time` (left out without one); numbers in
    their shortest round-trip form, so `read_long_csv` gives the panel back.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..atomic import atomic_path, refuse_overwrite

    refuse_overwrite(path, force)
    series_column = panel.series_column or "series"
    columns = {series_column: np.repeat(np.asarray(panel.names, dtype=object), panel.lengths)}
    if panel.time is not None:
        columns[panel.time_column or "time"] = format_time(panel.time)
    for j, name in enumerate(panel.columns):
        columns[name] = panel.values[:, j]
    table = pa.table({name: pa.array(column) for name, column in columns.items()})
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)
    # pyarrow quotes every text cell (and its header) unless told not to: only names
    # that hold a comma, quote or line break need quotes.
    special = any(set(name) & set(',"\r\n') for name in panel.names)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(header.getvalue().encode("utf-8"))
        pacsv.write_csv(table, handle, pacsv.WriteOptions(
            include_header=False, quoting_style="needed" if special else "none"))


# --------------------------------------------------------------------- built-in


@dataclass(frozen=True)
class BuiltinPanel:
    description: str
    series: int  # how many series it holds
    season: int | None  # for the seasonal naive baseline
    source: str
    file: str | None = None  # a CSV in lstm_tf/datasets; None: made by `synthetic_panel`
    layout: str = "wide"  # how the file is read: wide (one series per column) or long
    time_column: str | None = None
    series_column: str | None = None  # for layout long
    options: dict = field(default_factory=dict, hash=False)  # synthetic_panel's arguments


BUILTIN_PANELS: dict[str, BuiltinPanel] = {
    "us-employment": BuiltinPanel(
        "U.S. employment by BLS supersector and the nonfarm total (thousands), monthly "
        "2006-2015, seasonally adjusted, 120 months each (real, BLS)",
        series=22, season=12, file="us-employment.csv", layout="wide", time_column="month",
        source="U.S. Bureau of Labor Statistics, Current Employment Statistics; public "
        "domain (via vega_datasets)"),
    "synthetic": BuiltinPanel(
        "Synthetic, 240 monthly steps each: different levels, trends, seasonal periods "
        "(6, 12) and amplitudes, additive or multiplicative seasons (seed 0)",
        series=50, season=12, source="generated (synthetic_panel)",
        options={"series": 50, "length": 240, "seed": 0}),
}


def load_builtin_panel(name: str, columns: list[str] | None = None,
                       fill: str | None = None) -> Panel:
    """A built-in panel by name (see `BUILTIN_PANELS`); `columns` picks some of a wide
    panel's series."""
    if name not in BUILTIN_PANELS:
        raise UserError(f"unknown panel {name!r}; available: {', '.join(BUILTIN_PANELS)}")
    info = BUILTIN_PANELS[name]
    if info.file is None:
        if columns not in (None, ["value"]):
            raise UserError(f"the {name} panel has one target, value; got {', '.join(columns)}")
        return synthetic_panel(**info.options)
    source = f"builtin:{name}"
    with resources.as_file(resources.files("lstm_tf").joinpath("datasets", info.file)) as path:
        header = _header(path, source)
        if info.layout == "wide":
            panel = _read_wide(path, source, header, columns, info.time_column, fill)
        else:
            panel = _read_long(path, source, header, info.series_column, columns, [],
                               info.time_column, fill, allow_single=False)
    return panel


# ------------------------------------------------------------ from a DataConfig


def is_panel(config) -> bool:
    """Whether a run's `DataConfig` names a panel: a built-in panel, a CSV with a series
    column, or a CSV whose columns are the series."""
    return (config.dataset in BUILTIN_PANELS or config.series_column is not None
            or bool(config.columns_as_series))


def load_panel(config) -> Panel:
    """The panel a run's `DataConfig` names (see `is_panel`)."""
    if config.series_column is not None and config.columns_as_series:
        raise UserError("give --series-column (a long CSV) or --columns-as-series (a wide "
                        "CSV), not both")
    if config.path is None:
        if config.dataset not in BUILTIN_PANELS:
            raise UserError(f"{config.dataset!r} is not a built-in panel; panels: "
                            f"{', '.join(BUILTIN_PANELS)}, or --data FILE with "
                            "--series-column or --columns-as-series")
        if config.series_column is not None:
            raise UserError("--series-column applies to a --data file, not to the built-in "
                            f"panel {config.dataset}")
        if config.features or getattr(config, "known", None):
            raise UserError(f"the built-in panel {config.dataset} has no feature columns")
        return load_builtin_panel(config.dataset, config.series_columns or config.targets,
                                  config.fill)
    if config.series_column is not None:
        from .covariates import read_columns, split_known

        known = list(getattr(config, "known", []))
        return split_known(read_long_csv(config.path, config.series_column, config.targets,
                                         read_columns(config.features, known),
                                         config.time_column, config.fill),
                           list(config.features), known)
    if getattr(config, "known", None):
        raise UserError("--known needs a long CSV (--series-column): a known column belongs "
                        "to each series")
    if config.columns_as_series:
        if config.features:
            raise UserError("--features cannot be combined with --columns-as-series (every "
                            "column is a series); use a long CSV with --series-column")
        return read_wide_as_panel(config.path, config.series_columns or config.targets,
                                  config.time_column, config.fill)
    raise UserError(f"{config.path} is not a panel: give --series-column ID (a long CSV) or "
                    "--columns-as-series (a wide CSV)")
