"""Reading and writing panels as CSV.

Reading (NumPy, plus pyarrow's CSV reader imported only when a file is read; the ONNX
`predict` path reads panels without TensorFlow):
- `read_long_csv`: one row per (series, time), rows in any order (`--series-column`);
- `read_wide_as_panel`: every column its own series sharing the time column
  (`--columns-as-series`).

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
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import atomic_path, refuse_overwrite
from ..errors import UserError
from .csv import (_MISSING, FLOAT32_MAX, LABEL_SAMPLE, check_columns, check_present, decode,
                  default_columns, existing_file, fill_missing, label_columns, number,
                  parse_header, series_start)
from .panel import Panel
from .timeaxis import check_increasing, format_time, guess_time_column, parse_times


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
    column, nor an index or named like a time (`csv.default_columns`). `fill`
    (interpolate, ffill, drop) handles missing values series by series,
    never interpolating from one series into the next; without it a missing value is
    an error; a series starts at its first target value (missing values may precede it).
    With `allow_single` a file holding one series is accepted (`predict` of one series);
    otherwise it is an error (train it as a single series instead).
    A series that `fill="drop"` empties stays in the panel with no rows.
    `keep_missing` leaves missing values as NaN (predict: the future rows of a model
    with known covariates have empty targets).
    """
    path = existing_file(path)
    source = str(path)
    header, features = _header(path, source), list(features)
    keys, targets, time_column = _long_columns(path, source, header, series_column, targets,
                                               features, time_column)
    text_columns = keys + ([time_column] if time_column else [])
    table = _read_columns(path, source, header, targets + features, text_columns,
                          series_column=keys[0] if len(keys) == 1 else None)
    if table.rows == 0:
        raise UserError(f"{source} has a header but no data rows")
    codes, names = _series_in_name_order(table, keys, series_column, source, allow_single)
    columns = targets + features
    values = (table.numbers[columns[0]][:, None] if len(columns) == 1
              else np.column_stack([table.numbers[name] for name in columns]))
    time = None
    if time_column:
        time_codes, time_texts = table.texts[time_column]
        time, time_rank = parse_times(time_codes, time_texts, table.line, source, time_column,
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
            hint = _key_hint(path, header, text_columns, file_rows, series_column)
            raise UserError(f"{source}: series {names[codes[k]]!r} has time {text!r} twice, "
                            f"at lines {first} and {second}; keep one row per series and time"
                            + hint)
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(names)), out=offsets[1:])
    _check_finite(values, rows, table, source, columns, lambda i: names[codes[i]])
    if not keep_missing:
        values, time, offsets, rows = _from_first_values(values, time, offsets, rows,
                                                         len(targets))
        values, time, offsets = _fill(values, time, offsets, rows, table, source, names,
                                      columns, fill,
                                      lambda name, column: f"series {name!r}, column {column!r}")
    return Panel(source, names, offsets, targets, list(features), values, time, time_column,
                 series_column, time_format=None if time is None else time_texts[-1].strip())


def _key_hint(path: Path, header: list[str], taken: list[str], file_rows: tuple[int, int],
              series_column: str) -> str:
    """For two rows of one series and time: the column telling them apart, as an option
    (`--series-column Region,Purpose`), or "" where no text column does."""
    rows = _first_rows(path, max(file_rows) + 1)
    one, two = (rows[row] if row < len(rows) else [] for row in file_rows)
    labels = label_columns(header, [one, two])
    apart = [j for j, name in enumerate(header) if name in labels and name not in taken
             and j < min(len(one), len(two)) and one[j].strip() != two[j].strip()]
    return (f" (or name each series by several columns: --series-column "
            f"{series_column},{header[apart[0]]})" if apart else "")


def _long_columns(path: Path, source: str, header: list[str], series_column: str,
                  targets: list[str] | None, features: list[str], time_column: str | None):
    """A long file's (key columns, targets, time column), checked against its header;
    the defaults as `read_long_csv` says."""
    keys = ([series_column] if series_column in header  # else a key of several columns
            else [name.strip() for name in series_column.split(",")])
    check_present(source, header, keys, "series ")
    if time_column is None:  # a column named like one (time, date, ds...)
        time_column = guess_time_column(header, [*keys, *(targets or []), *features])
    check_present(source, header, [time_column], "time ")
    if targets is None:
        targets = default_columns(source, header, [*keys, time_column],
                                  "the series and time columns",
                                  label_columns(header, _first_rows(path, LABEL_SAMPLE)))[:1]
    targets = list(targets)
    for key in keys:
        check_columns(source, header, targets, features, {"series": key, "time": time_column})
    return keys, targets, time_column


# A key of several columns (`--series-column State,Purpose`) joins its cells: NSW/Business.
KEY_SEPARATOR = "/"


def _from_first_values(values: np.ndarray, time: np.ndarray | None, offsets: np.ndarray,
                       rows: np.ndarray | None, n_targets: int):
    """Each series from its first target value on (`csv.series_start`), as the wide reader
    reads leading missing cells: (values, time, offsets, rows: each kept row's file row)."""
    late = np.flatnonzero((np.diff(offsets) > 0) & np.isnan(  # (a last series may be empty)
        values[np.minimum(offsets[:-1], len(values) - 1), :n_targets]).all(axis=1))
    if not len(late):  # (no series' first row is missing: the usual file, one pass)
        return values, time, offsets, rows
    starts, keep = offsets[:-1].copy(), np.ones(len(values), dtype=bool)
    for i in late:
        starts[i] += series_start(values[offsets[i]:offsets[i + 1], :n_targets])
        keep[offsets[i]:starts[i]] = False
    keep = np.flatnonzero(keep)
    offsets = np.r_[0, np.cumsum(offsets[1:] - starts)].astype(np.int64)
    rows = keep if rows is None else rows[keep]
    return values[keep], None if time is None else time[keep], offsets, rows


def _series_in_name_order(table: _Table, keys: list[str], series_column: str, source: str,
                          allow_single: bool) -> tuple[np.ndarray, list[str]]:
    """(each row's series index, the series names): series numbered in name order; a key
    of several columns names a series by its cells joined by `KEY_SEPARATOR`."""
    for key in keys:
        codes, uniques = table.texts[key]
        blank = np.flatnonzero(uniques == "")
        if len(blank):
            row = int(np.argmax(codes == blank[0]))
            raise UserError(f"{source}: line {table.line(row)}: empty series name in column "
                            f"{key!r}")
    codes, uniques = table.texts[keys[0]]
    if len(keys) > 1:
        parts = [table.texts[key] for key in keys]
        combined, codes = np.unique(np.column_stack([codes for codes, _ in parts]), axis=0,
                                    return_inverse=True)
        codes, uniques = codes.reshape(-1), np.array(
            [KEY_SEPARATOR.join(str(part[1][c]) for part, c in zip(parts, row))
             for row in combined], dtype=object)
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
    return codes, names


# --------------------------------------------------------------------- wide CSV


def read_wide_as_panel(path: str | Path, columns: list[str] | None = None,
                       time_column: str | None = None, fill: str | None = None,
                       source: str | None = None) -> Panel:
    """Read a wide CSV as a panel: every selected column is its own series (`value`).

    The series share the time column, which must increase row by row. `columns`
    defaults to every column but the time column; each must hold numbers. A column's
    leading and trailing missing cells are not part of its series, so the series may
    differ in length and start time; a gap inside a series needs `fill`. `source` names
    the file in errors (default its path).
    """
    path = existing_file(path)
    source = source or str(path)
    header = _header(path, source)
    if time_column is None:  # a column named like one (time, date, ds...)
        time_column = guess_time_column(header, columns or [])
    check_present(source, header, [time_column], "time ")
    if columns is None:
        columns = default_columns(source, header, [time_column], "the time column")
    columns = list(columns)
    check_columns(source, header, columns, [], {"time": time_column})
    table = _read_columns(path, source, header, columns,
                          [time_column] if time_column else [])
    if table.rows == 0:
        raise UserError(f"{source} has a header but no data rows")
    times = None
    if time_column:
        time_codes, time_texts = table.texts[time_column]
        times = parse_times(time_codes, time_texts, table.line, source, time_column)[0]
        check_increasing(times, time_codes, time_texts, table.line, source, time_column)

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
    return Panel(source, columns, offsets, ["value"], [], values, time, time_column, None,
                 time_format=None if times is None else time_texts[-1].strip())


# ----------------------------------------------------------------- shared steps


def _header(path: Path, source: str) -> list[str]:
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        decode(path, source)  # raises with the byte's position
        raise
    return parse_header(next(csv.reader([line]), []), source)


def _first_rows(path: Path, count: int) -> list[list[str]]:
    """The first `count` data rows of a CSV file as text cells, blank lines skipped."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header
        return list(itertools.islice((row for row in reader if any(map(str.strip, row))), count))


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


# Missing cells (csv.py's `_MISSING`, matched case-insensitively there): every
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
            numbers[k].append(number(row[j], lambda: _where(
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
    series = ("" if series_column is None
              else f"series {row[header.index(series_column)].strip()!r}, ")
    return f"{source}: {series}column {column!r}, line {line}"


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


def _fill(values: np.ndarray, time: np.ndarray | None, offsets: np.ndarray,
          rows: np.ndarray | None, table: _Table, source: str, names: list[str],
          columns: list[str], fill: str | None, describe: Callable[[str, str], str]):
    """`fill_missing` of a panel's series (`rows`: the file's data row of each row of
    `values`, None: the same row): (values, time, offsets) once filled or dropped."""
    def where(at: np.ndarray) -> str:  # the first missing value in the file
        i = int(at[0] if rows is None else at[np.argmin(rows[at])])
        column = columns[int(np.argmax(np.isnan(values[i])))]
        name = names[int(np.searchsorted(offsets, i, side="right")) - 1]
        return (f"in {describe(name, column)}, "
                f"line {table.line(i if rows is None else int(rows[i]))}")

    filled, keep = fill_missing(values, offsets, fill, source, where,
                                lambda i, j: describe(names[i], columns[j]))
    if keep is None:
        return filled, time, offsets
    if not keep.any():
        raise UserError(f"{source}: every series is empty once the rows with missing "
                        "values are dropped")
    series_of = np.repeat(np.arange(len(names)), np.diff(offsets))
    offsets = np.zeros_like(offsets)
    np.cumsum(np.bincount(series_of[keep], minlength=len(names)), out=offsets[1:])
    return filled, time[keep] if time is not None else None, offsets


def write_long_csv(panel: Panel, path: str | Path, force: bool = False) -> None:
    """Write a panel as a long CSV (`series,time,<targets>,<features>`), atomically.

    The time column is written by `format_time` (left out without one); numbers in
    their shortest round-trip form, so `read_long_csv` gives the panel back.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    refuse_overwrite(path, force)
    series_column = panel.series_column or "series"
    keys = [name.strip() for name in series_column.split(",")]  # a joined key: its columns
    parts = [str(name).split(KEY_SEPARATOR) for name in panel.names]
    if len(keys) == 1 or any(len(part) != len(keys) for part in parts):
        keys, parts = [series_column], [[str(name)] for name in panel.names]
    columns = {key: np.repeat(np.array([part[j] for part in parts], dtype=object), panel.lengths)
               for j, key in enumerate(keys)}
    if panel.time is not None:
        columns[panel.time_column or "time"] = format_time(panel.time)
    columns.update({name: panel.values[:, j] for j, name in enumerate(panel.columns)})
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
