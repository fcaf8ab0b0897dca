"""The time axis: parsing a time cell, the season a spacing implies, continuing a
series' times past its end and writing them back as text. NumPy only.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable

import numpy as np

from ..errors import UserError
from .panel import Panel

# What a time column is called (case-insensitive) in the files users bring, pandas' and
# statsforecast's (`ds`) among them: read as the time column when none is named. Failing
# that, a column named after its period (`year,value`; `Month,Value` as R's tsibble
# writes it).
TIME_NAMES = ("time", "date", "datetime", "timestamp", "ds")
PERIOD_NAMES = ("year", "quarter", "month", "week", "day", "hour", "minute", "period")


def guess_time_column(header: list[str], taken: list[str] | tuple[str, ...] = ()) -> str | None:
    """The time column of a file read without one named (`--time-column`): its one column
    called as `TIME_NAMES` are, else its one column called as `PERIOD_NAMES` are, that is
    not asked for as something else (`taken`: targets, features, the series column); None
    when there is none, or more than one (`year,month,value`)."""
    for names in (TIME_NAMES, PERIOD_NAMES):
        found = [name for name in header if name.lower() in names and name not in taken]
        if found:
            return found[0] if len(found) == 1 else None
    return None


def is_time_like(name: str) -> bool:
    """Whether a column's name says it holds times (never a default target)."""
    return name.lower() in TIME_NAMES + PERIOD_NAMES


# Period labels as R's tsibble and pandas print them: `1998 Q1`, `1998Q1`, `1998-Q1`,
# `1949 Jan`, `1949 January`, `2020 W05` (ISO weeks). Read as the first day of the period
# (an ISO week's Monday), so the spacing, the season and the continuation follow as for
# dates; forecasts are labelled with ISO dates.
_PERIOD = re.compile(r"^(\d{4})\s*-?\s*(?:Q([1-4])|W(\d{1,2})|([A-Za-z]{3,9}))$", re.IGNORECASE)
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")


def iso_period(text: str) -> str:
    """A period label (see `_PERIOD`) as the ISO date its period starts on; any other
    text unchanged."""
    match = _PERIOD.match(text.strip())
    if match is None:
        return text
    year, quarter, week, month = match.groups()
    if quarter:
        return f"{year}-{3 * int(quarter) - 2:02d}-01"
    if week:
        try:
            return datetime.date.fromisocalendar(int(year), int(week), 1).isoformat()
        except ValueError:  # week 0 or 54
            return text
    month = month.lower()
    number = next((i + 1 for i, name in enumerate(_MONTH_NAMES)
                   if month in (name, name[:3])), None)
    return text if number is None else f"{year}-{number:02d}-01"


def iso_periods(texts: list[str]) -> list[str]:
    """`iso_period` of every cell of a time column whose first cell is a period label;
    any other column unchanged (the same list)."""
    if not texts or iso_period(texts[0]) == texts[0]:
        return texts
    return [iso_period(text) for text in texts]


def parse_time(text: str) -> float | np.datetime64:
    """A time cell as a number (e.g. a year) or a NumPy datetime (ISO 8601)."""
    try:
        return float(text)
    except ValueError:
        return np.datetime64(text)


def parse_times(codes: np.ndarray, texts: np.ndarray, line: Callable[[int], int], source: str,
                column: str, series_of: Callable[[int], str] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """A time column's cells, row i being `texts[codes[i]]`: per row, the time as
    float64 (all numbers) or datetime64[s] (all ISO dates), and its rank among the
    distinct times (int64; equal times, equal ranks).

    Only the distinct texts are parsed (a panel repeats the same timestamps in every
    series), vectorised; a Python pass over them finds the culprit if that fails, for a
    one-line error naming its `line(row)` (and `series_of(row)`, for a panel).
    """
    parsed = None
    if len(texts) and iso_period(str(texts[0])) != texts[0]:  # period labels: ISO dates
        texts = np.array([iso_period(str(text)) for text in texts], dtype=object)
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
        _time_error(codes, texts, line, source, column, series_of)
    rank = np.unique(parsed, return_inverse=True)[1].ravel().astype(np.int64)
    return parsed[codes], rank[codes]


def _time_error(codes, texts, line, source, column, series_of) -> None:
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
    where = f"{source}: time column {column!r}, line {line(row)}"
    if series_of is not None:
        where += f" (series {series_of(row)!r})"
    if row_kinds[row] == "bad":
        problem = "is missing" if text == "" else "is neither a number nor an ISO date"
        raise UserError(f"{where}: {text!r} {problem}")
    raise UserError(f"{where}: {text!r} mixes numbers and dates")


def check_increasing(times: np.ndarray, codes: np.ndarray, texts: np.ndarray,
                     line: Callable[[int], int], source: str, column: str) -> None:
    """One series' parsed `times` (`parse_times`) increase row by row, else a one-line
    error naming the first row that repeats or goes back."""
    key = times.view(np.int64) if times.dtype.kind == "M" else times
    back = np.flatnonzero(np.diff(key) <= 0)
    if len(back):
        k = int(back[0])
        word = "repeats" if key[k + 1] == key[k] else "goes back in time from"
        raise UserError(f"{source}: time column {column!r}, line {line(k + 1)}: "
                        f"{texts[codes[k + 1]]!r} {word} {texts[codes[k]]!r}; rows must be "
                        "in increasing time order")


def skipped_steps(panel: Panel) -> str | None:
    """A note when a time column skips steps: a spacing inside a series over 1.5x the
    median spacing (a missing month, a missing day of hourly data). Business days are
    not a skip (a daily median with gaps of at most 4 days: weekends and holidays). The
    windows treat rows as consecutive whatever the time column says; None when none skip."""
    if panel.time is None or len(panel.time) < 3:
        return None
    dated = panel.time.dtype.kind == "M"
    key = panel.time.astype("datetime64[s]").astype(np.float64) if dated else panel.time
    inside = np.ones(len(key) - 1, bool)
    inside[panel.offsets[1:-1] - 1] = False  # a step from one series to the next
    steps = np.diff(key)[inside]
    if len(steps) == 0:
        return None
    spacing = float(np.median(steps))
    business_days = dated and spacing == 86400  # (weekends and holidays are no skip)
    skips = np.flatnonzero(inside)[steps > (4 * 86400 if business_days else 1.5 * spacing)]
    if not len(skips):
        return None
    first = int(skips[0])
    unit, size = (("day", 86400.0) if spacing >= 86400 else ("hour", 3600.0) if spacing >= 3600
                  else ("minute", 60.0)) if dated else ("", 1.0)

    def span(seconds: float) -> str:
        count = seconds / size
        return f"{count:g}" + (f" {unit}{'' if count == 1 else 's'}" if unit else "")

    after = format_time(panel.time[first:first + 1])[0]
    return (f"the time column skips steps in {len(skips)} place(s), the first after {after} "
            f"({span(key[first + 1] - key[first])} where the usual spacing is {span(spacing)}); "
            f"the windows treat the rows as consecutive (to fill them: add the missing rows "
            f"with empty values and choose --fill)")


# ------------------------------------------------------------------------- season

# Median spacing of a date column (seconds) -> the season a forecaster would assume:
# half-hourly and hourly data a day, daily a week, weekly, monthly and quarterly a year.
_SEASONS = ((1800, 48), (3600, 24), (86400, 7), (7 * 86400, 52), (30.4 * 86400, 12),
            (91.3 * 86400, 4))
# Decimal years, as R writes a monthly, quarterly or weekly `ts` (1949, 1949.0833, ...):
# their spacing in years -> the season.
_YEAR_SEASONS = ((1 / 52, 52), (1 / 12, 12), (1 / 4, 4))


def _season_of(times: np.ndarray, steps: np.ndarray) -> int | None:
    """The season of a time column (float64 numbers or datetime64) from the median of
    its `steps` (differences of times inside one series)."""
    if len(steps) == 0:
        return None
    if times.dtype.kind == "M":
        spacing = float(np.median(steps.astype("timedelta64[s]").astype(np.float64)))
        if spacing == 86400 and business_days(times):
            return 5  # a week of trading or working days
        return next((season for seconds, season in _SEASONS
                     if abs(spacing - seconds) <= 0.1 * seconds), None)
    # Plain numbers (years, step counts) imply none, decimal years their fraction.
    if _integral(times) or not ((times >= 1000) & (times <= 3000)).all():
        return None
    spacing = float(np.median(steps))
    return next((season for years, season in _YEAR_SEASONS
                 if abs(spacing - years) <= 0.1 * years), None)


def business_days(times: np.ndarray) -> bool:
    """Whether daily dates (datetime64) are business days: spanning a week or more, none
    on a Saturday or Sunday (stock prices, a working day's counts)."""
    days = np.asarray(times).astype("datetime64[D]").astype(np.int64)
    return bool(len(days) and days.max() - days.min() >= 7
                and ((days + 3) % 7 < 5).all())  # 1970-01-01 was a Thursday (3)


def infer_season(time: list[str] | None) -> int | None:
    """The season implied by a time column's spacing: dates by `_SEASONS` (a yearly
    series has none), decimal years by `_YEAR_SEASONS`; else None."""
    if not time or len(time) < 3:
        return None
    parsed = [parse_time(text) for text in iso_periods(list(time))]
    if all(isinstance(value, float) for value in parsed):
        times = np.array(parsed, dtype=np.float64)
    elif any(isinstance(value, float) for value in parsed):
        return None
    else:
        times = np.array(parsed, dtype="datetime64[s]")
    return _season_of(times, np.diff(times))


# ------------------------------------------------------------------------- time

# Median spacing (days) of the calendar frequencies: month-based steps, continued by
# the calendar rather than by a fixed number of seconds.
_CALENDAR_MONTHS = ((28, 31, 1), (89, 92, 3), (181, 184, 6), (365, 366, 12))


def continue_time(times: np.ndarray, steps: int) -> np.ndarray:
    """The `steps` timestamps (datetime64[s] or float64) after one series' increasing
    `times` (datetime64 or float64, at least two), continuing its median spacing (a gap
    in the history does not change it).

    Dates spaced by months, quarters, half-years or years continue by the calendar:
    month ends stay month ends (Jan 31, Feb 28, Mar 31), month starts stay month
    starts, any other day of the month is kept where the month has it (else its last
    day), and so is the time of day. Any other spacing (weekly, daily, hourly, ...) is
    fixed: `last + k * spacing`; plain numbers (years, step counts) continue by their step.
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
    if spacing == 86400 and business_days(stamps):  # the next business days, same time
        day = stamps[-1].astype("datetime64[D]")
        return np.busday_offset(day, np.arange(1, steps + 1)).astype("datetime64[s]") + (
            stamps[-1] - day)
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


def _period_labels(stamps: np.ndarray, like: str) -> np.ndarray:
    """Dates as period labels in the style of `like` ("1990Q1", "2010-W05", "2010 Jan":
    `_PERIOD`), the reverse of `iso_period`."""
    year, quarter, week, month = _PERIOD.match(like).groups()
    rest = like[len(year):]
    separator = rest[:len(rest) - len(rest.lstrip(" -"))]
    mark = rest.lstrip(" -")[:1]  # Q or W as the file writes it
    labels = []
    for day in stamps.astype("datetime64[D]").astype(datetime.date).ravel():
        if quarter:
            labels.append(f"{day.year}{separator}{mark}{(day.month - 1) // 3 + 1}")
        elif week:
            iso_year, iso_week, _ = day.isocalendar()
            labels.append(f"{iso_year}{separator}{mark}{iso_week:0{len(week)}d}")
        else:
            name = _MONTH_NAMES[day.month - 1][:3 if len(month) == 3 else None]
            name = (name.upper() if month.isupper() else name if month.islower()
                    else name.title())
            labels.append(f"{day.year}{separator}{name}")
    return np.array(labels).reshape(stamps.shape)


def format_time(values: np.ndarray, like: str | None = None) -> np.ndarray:
    """Times as text, the way a CSV writes them: an array of str.

    Dates at midnight as dates (`2016-01-31`), other datetimes in ISO 8601
    (`2016-01-31T13:30:00`), integral numbers without a spurious `.0` (`2016`), other
    numbers in their shortest round-trip form. `like`, a time cell of the input,
    makes dates follow its precision and separator (`1950-01` gives months,
    `2020-01-01 13:30` minutes with a space) or its period labels (`1990Q1`, `2010-W05`,
    `2010 Jan`).
    """
    values = np.asarray(values)
    if values.dtype.kind == "M":
        stamps = values.astype("datetime64[s]")
        if like is not None and _PERIOD.match(like.strip()):
            return _period_labels(stamps, like.strip())
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
    """`infer_season` of a panel: from the median step inside its series (never from one
    series' last row to the next one's first)."""
    if panel.time is None:
        return None
    times = panel.time.astype("datetime64[s]") if panel.time.dtype.kind == "M" else panel.time
    step = np.diff(times)
    inside = np.ones(len(step), dtype=bool)
    ends = panel.offsets[1:-1] - 1  # the step from each series' last row to the next
    inside[ends[(ends >= 0) & (ends < len(step))]] = False
    if inside.sum() < 2:
        return None
    return _season_of(times, step[inside])
