"""Panels on the input side: long and wide CSV readers and their one-line errors, time
continuation and formatting, the synthetic generator, the built-in panels and the
dispatch from a run's DataConfig (lstm_tf/data/panel_csv.py, timeaxis.py, sources.py)."""

import numpy as np
import pytest

from lstm_tf.config import DataConfig
from lstm_tf.data import panel_csv, timeaxis
from lstm_tf.data.panel import Panel
from lstm_tf.data.panel_csv import read_long_csv, read_wide_as_panel, write_long_csv
from lstm_tf.data.sources import (BUILTIN_PANELS, is_panel, load_builtin_panel, load_panel,
                                  synthetic_panel)
from lstm_tf.data.timeaxis import continue_time, format_time
from lstm_tf.errors import UserError


@pytest.fixture(params=["fast", "careful"])
def reader(request, monkeypatch):
    """Run a test with pyarrow's reader and again with the careful pure-Python one."""
    if request.param == "careful":
        def refuse(*args, **kwargs):
            raise panel_csv._Refused()
        monkeypatch.setattr(panel_csv, "_read_fast", refuse)
    return request.param


LONG = ("id,t,y,x\n"
        "b,2020-01-02,20,0.2\n"
        "a,2020-01-02,2,0.02\n"
        "b,2020-01-01,10,0.1\n"
        "a,2020-01-01,1,0.01\n"
        "a,2020-01-03,3,0.03\n")


def test_long_csv_sorted_by_series_then_time(csv_file, reader):
    panel = read_long_csv(csv_file(LONG), "id", features=["x"], time_column="t")
    assert panel.names == ["a", "b"]  # by name, not by first appearance (b)
    assert panel.offsets.tolist() == [0, 3, 5]
    assert panel.targets == ["y"] and panel.features == ["x"]  # y: first non-id, non-time
    np.testing.assert_array_equal(panel.values, [[1, .01], [2, .02], [3, .03], [10, .1],
                                                 [20, .2]])
    assert panel.time.dtype == np.dtype("datetime64[s]")
    assert format_time(panel.time[panel.rows_of(1)]).tolist() == ["2020-01-01", "2020-01-02"]
    assert (panel.series_column, panel.time_column) == ("id", "t")
    assert panel.series_index().tolist() == [0, 0, 0, 1, 1]
    assert panel.values.flags.writeable and panel.time.flags.writeable
    sorted_file = read_long_csv(csv_file("id,y\na,1\na,2\nb,3\n", "sorted.csv"), "id")
    assert sorted_file.values.flags.writeable  # no reordering copy made it so


def test_long_csv_without_time_keeps_file_order_within_a_series(csv_file, reader):
    panel = read_long_csv(csv_file("id,y\nz,3\nq,1\nz,1\nq,2\nz,2\n"), "id")
    assert panel.names == ["q", "z"] and panel.time is None
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 3, 1, 2])


def test_spaces_around_names_and_times_are_not_part_of_them(csv_file, reader):
    panel = read_long_csv(csv_file("id,t,y\n a ,1,1\nb, 1,2\na,2 ,3\n"), "id", time_column="t")
    assert panel.names == ["a", "b"] and panel.offsets.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(panel.time, [1, 2, 1])


def test_numeric_time_and_blank_lines(csv_file, reader):
    panel = read_long_csv(csv_file("s,year,v\n\nu,2001,5\nu,2000,4\n\nw,2000,7\nw,2001,NA\n"),
                          "s", ["v"], time_column="year", fill="ffill")
    assert panel.time.dtype == np.float64
    np.testing.assert_array_equal(panel.time, [2000, 2001, 2000, 2001])
    np.testing.assert_array_equal(panel.values[:, 0], [4, 5, 7, 7])


@pytest.mark.parametrize("text, kwargs, message", [
    ("id,y\na,1\n", {"series_column": "store"},
     "no series column 'store'; available: id, y"),
    ("id,t,y\na,1,1\nb,1,1\na,2,1\nb,2,2\na,1,3\n", {"time_column": "t"},
     "series 'a' has time '1' twice, at lines 2 and 6"),
    ("id,t,y\na,1,1\nb,1,1\nb,2,zero\n", {"time_column": "t"},
     "series 'b', column 'y', line 4: 'zero' is not a number"),
    ("id,y\na,1\n,2\n", {}, "line 3: empty series name in column 'id'"),
    ("id,y\na,1\na,2\n", {}, "the series column 'id' holds one series only ('a')"),
    ("id,y\na,NA\nb,\n", {"fill": "drop"}, "every series is empty"),
    ("id,y\na,1\nb,2\nb,NA\n", {}, "1 missing value(s), the first in series 'b', column 'y', "
     "line 4; choose --fill"),
    ("id,y\na,1\nb,NA\nb,NA\n", {"fill": "interpolate"},
     "series 'b', column 'y' has no values at all to fill from"),
    ("id,t,y\na,2020-01-01,1\nb,soon,2\n", {"time_column": "t"},
     "time column 't', line 3 (series 'b'): 'soon' is neither a number nor an ISO date"),
    ("id,t,y\na,2020-01-01,1\nb,2020,2\n", {"time_column": "t"},
     "line 3 (series 'b'): '2020' mixes numbers and dates"),
    ("id,t,y\na,1,1\nb,,2\n", {"time_column": "t"}, "line 3 (series 'b'): '' is missing"),
    ("id,y\na,1\nb,inf\n", {}, "series 'b', column 'y', line 3: an infinite value"),
    ("id,y\na,1\nb,1e39\n", {}, "line 3: 1e+39 is outside float32's finite range"),
    ("id,y\na,1\nb,2,3\n", {}, "line 3 has 3 fields, the header has 2"),
    ("id,y\na,1\nb,\"1,5\"\n", {}, "decimal commas are not supported"),
    ("id,y\n", {}, "has a header but no data rows"),
    ("id,y\na,1\n", {"targets": ["id"]}, "the series column 'id' cannot be a target"),
])
def test_long_csv_errors_are_one_line_and_exact(csv_file, reader, text, kwargs, message):
    kwargs = {"series_column": "id", **kwargs}
    with pytest.raises(UserError) as error:
        read_long_csv(csv_file(text), **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_key_of_several_columns_names_each_series_and_round_trips(csv_file, reader, tmp_path):
    """`--series-column State,Purpose` (a tsibble's key): one series per pair of cells,
    named `NSW/Business`, in name order; `write_long_csv` writes the key's columns back."""
    text = ("Quarter,State,Purpose,Trips\n"
            "1998 Q1,NSW,Holiday,3\n1998 Q1,NSW,Business,1\n1998 Q1,VIC,Business,5\n"
            "1998 Q2,NSW,Holiday,4\n1998 Q2,NSW,Business,2\n1998 Q2,VIC,Business,6\n")
    panel = read_long_csv(csv_file(text), "State,Purpose")
    assert list(panel.names) == ["NSW/Business", "NSW/Holiday", "VIC/Business"]
    assert panel.targets == ["Trips"] and panel.time_column == "Quarter"
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 3, 4, 5, 6])
    out = tmp_path / "back.csv"
    write_long_csv(panel, out)
    assert out.read_text().splitlines()[:2] == ["State,Purpose,Quarter,Trips",
                                                "NSW,Business,1998-01-01,1"]
    again = read_long_csv(out, "State,Purpose")
    assert list(again.names) == list(panel.names)
    np.testing.assert_array_equal(again.values, panel.values)
    with pytest.raises(UserError, match="no series column 'Region'"):
        read_long_csv(csv_file(text), "State,Region")
    with pytest.raises(UserError, match="the series column 'State' cannot be a target"):
        read_long_csv(csv_file(text), "State,Purpose", targets=["State"])
    with pytest.raises(UserError, match="line 3: empty series name in column 'Purpose'"):
        read_long_csv(csv_file(text.replace("NSW,Business,1", "NSW,,1")), "State,Purpose")


def test_the_same_time_written_two_ways_is_a_duplicate(csv_file, reader):
    text = "id,t,y\na,2020-01-01,1\nb,2020-01-01,1\na,2020-01-01T00:00,2\n"
    with pytest.raises(UserError, match="series 'a' has time '2020-01-01' twice, at lines 2 and 4"):
        read_long_csv(csv_file(text), "id", time_column="t")


def test_duplicate_lines_count_blank_lines_on_the_fast_path(csv_file):
    text = "id,t,y\n\na,1,1\n\nb,1,1\na,1,2\n"
    with pytest.raises(UserError, match="at lines 3 and 6"):
        read_long_csv(csv_file(text), "id", time_column="t")


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path, reader):
    path = tmp_path / "bom.csv"
    path.write_bytes("id,y\na,1\nb,2\n".encode("utf-8-sig"))
    assert read_long_csv(path, "id").names == ["a", "b"]


def test_non_utf8_long_csv(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("id,y\nb\xe9,1\na,2\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"not UTF-8 text \(byte 6\)"):
        read_long_csv(path, "id")


@pytest.mark.parametrize("fill, expected", [
    # a: 1, gap, 3 | b: (not started), 10, gap, 12, gap -- nothing flows from a into b
    # or back; b starts at its first value, a trailing gap is held at the last one.
    ("interpolate", [1, 2, 3, 10, 11, 12, 12]),
    ("ffill", [1, 1, 3, 10, 10, 12, 12]),
    ("drop", [1, 3, 10, 12]),
])
def test_fill_works_per_series(csv_file, reader, fill, expected):
    text = "id,y\na,1\na,\na,3\nb,NA\nb,10\nb,nan\nb,12\nb,\n"
    panel = read_long_csv(csv_file(text), "id", fill=fill)
    np.testing.assert_array_equal(panel.values[:, 0], expected)
    assert panel.offsets.tolist() == ([0, 2, 4] if fill == "drop" else [0, 3, 7])


WIDE = ("month,a,b,c\n"
        "2020-01-01,1,,\n"
        "2020-02-01,2,20,\n"
        "2020-03-01,3,30,300\n"
        "2020-04-01,,40,400\n")


def test_wide_csv_columns_are_series_of_their_own_spans(csv_file, reader):
    panel = read_wide_as_panel(csv_file(WIDE), time_column="month")
    assert panel.names == ["a", "b", "c"] and panel.targets == ["value"]
    assert panel.series_column is None and panel.features == []
    assert panel.lengths.tolist() == [3, 3, 2]
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 3, 20, 30, 40, 300, 400])
    starts = format_time(panel.time[panel.offsets[:-1]]).tolist()
    assert starts == ["2020-01-01", "2020-02-01", "2020-03-01"]
    chosen = read_wide_as_panel(csv_file(WIDE), columns=["c", "a"], time_column="month")
    assert chosen.names == ["c", "a"] and chosen.lengths.tolist() == [2, 3]


def test_wide_csv_inner_gaps_need_fill(csv_file, reader):
    text = "t,a,b\n1,1,5\n2,,6\n3,3,\n4,4,\n"
    with pytest.raises(UserError, match="1 missing value.*first in column 'a', line 3"):
        read_wide_as_panel(csv_file(text), time_column="t")
    panel = read_wide_as_panel(csv_file(text), time_column="t", fill="interpolate")
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize("text, kwargs, message", [
    ("t,a\n1,1\n3,2\n2,3\n", {"time_column": "t"}, "line 4: '2' goes back in time from '3'"),
    ("t,a\n1,1\n1,2\n", {"time_column": "t"}, "line 3: '1' repeats '1'"),
    ("t,a,b\n1,,\n2,,\n", {"time_column": "t"}, "every series is empty"),
    ("t,a,name\n1,1,x\n", {"time_column": "t"}, "column 'name', line 2: 'x' is not a number"),
    ("t,a\n1,1\n", {"columns": ["z"]}, "no column 'z'; available: t, a"),
])
def test_wide_csv_errors(csv_file, reader, text, kwargs, message):
    with pytest.raises(UserError) as error:
        read_wide_as_panel(csv_file(text), **kwargs)
    assert message in str(error.value)


def _dates(*texts):
    return np.array(texts, dtype="datetime64[s]")


@pytest.mark.parametrize("history, expected", [
    (_dates("2020-11-30", "2020-12-31"), ["2021-01-31", "2021-02-28", "2021-03-31"]),
    (_dates("2023-12-31", "2024-01-31"), ["2024-02-29", "2024-03-31", "2024-04-30"]),
    (_dates("2020-11-01", "2020-12-01"), ["2021-01-01", "2021-02-01", "2021-03-01"]),
    (_dates("2020-11-15", "2020-12-15"), ["2021-01-15", "2021-02-15", "2021-03-15"]),
    (_dates("2020-06-30", "2020-09-30"), ["2020-12-31", "2021-03-31", "2021-06-30"]),
    (_dates("2019-01-01", "2020-01-01"), ["2021-01-01", "2022-01-01", "2023-01-01"]),
    (_dates("2020-12-20", "2020-12-27"), ["2021-01-03", "2021-01-10", "2021-01-17"]),
    (_dates("2020-02-27", "2020-02-28"), ["2020-02-29", "2020-03-01", "2020-03-02"]),
    (_dates("2020-12-31T22:00", "2020-12-31T23:00"),
     ["2021-01-01T00:00:00", "2021-01-01T01:00:00", "2021-01-01T02:00:00"]),
    (_dates("2020-01-01T00:00", "2020-01-01T00:30"),
     ["2020-01-01T01:00:00", "2020-01-01T01:30:00", "2020-01-01T02:00:00"]),
    (np.array([1998.0, 1999, 2000]), ["2001", "2002", "2003"]),
    (np.array([0.0, 0.5, 1.0]), ["1.5", "2.0", "2.5"]),
])
def test_continue_time(history, expected):
    assert format_time(continue_time(history, 3)).tolist() == expected


def test_continue_time_uses_the_median_step_and_needs_two_times():
    gappy = _dates("2020-01-01", "2020-01-02", "2020-01-03", "2020-01-07")
    assert format_time(continue_time(gappy, 1)).tolist() == ["2020-01-08"]
    with pytest.raises(UserError, match="from 1 timestamp"):
        continue_time(_dates("2020-01-01"), 3)


def test_business_days_have_a_season_of_5_and_continue_past_the_weekend():
    """Daily dates with no Saturday or Sunday over a week or more (stock prices): a week
    is 5 rows, and the forecast's dates are the next business days, for one series and
    in a panel."""
    weekdays = np.busday_offset(np.datetime64("2024-01-02"), np.arange(12)).astype(
        "datetime64[s]")  # Tue 2 Jan .. Wed 17 Jan
    assert timeaxis.infer_season([str(t)[:10] for t in weekdays]) == 5
    assert format_time(continue_time(weekdays, 4)).tolist() == [
        "2024-01-18", "2024-01-19", "2024-01-22", "2024-01-23"]
    every_day = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-13")).astype(
        "datetime64[s]")
    assert timeaxis.infer_season([str(t)[:10] for t in every_day]) == 7
    assert format_time(continue_time(every_day, 2)).tolist() == ["2024-01-13", "2024-01-14"]
    panel = Panel("p", ["a", "b"], np.array([0, 12, 24]), ["y"], [], np.ones((24, 1)),
                  np.concatenate([weekdays, weekdays]), "date", "id")
    assert timeaxis.panel_season(panel) == 5
    assert format_time(timeaxis.continue_panel_time(panel, 2)[1]).tolist() == [
        "2024-01-18", "2024-01-19"]


def test_format_time_follows_an_example_cell():
    stamps = _dates("1950-01-01", "1950-02-01")
    assert format_time(stamps, like="1949-12").tolist() == ["1950-01", "1950-02"]
    assert format_time(stamps, like="2020-01-01 13:30").tolist() == ["1950-01-01 00:00",
                                                                     "1950-02-01 00:00"]
    assert format_time(np.array([3.0, 4.25])).tolist() == ["3.0", "4.25"]
    # period labels, the reverse of iso_period: quarters, ISO weeks, month names
    assert format_time(stamps, like="1949 Q4").tolist() == ["1950 Q1", "1950 Q1"]
    assert format_time(_dates("1950-12-31", "2021-01-04"), like="1949-W05").tolist() == [
        "1950-W52", "2021-W01"]
    assert format_time(stamps, like="1949-DECEMBER").tolist() == ["1950-JANUARY",
                                                                  "1950-FEBRUARY"]
    assert format_time(stamps, like="1949 dec").tolist() == ["1950 jan", "1950 feb"]


def _timed_panel(time, lengths):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Panel("t", [f"s{i}" for i in range(len(lengths))], offsets, ["y"], [],
                 np.zeros((len(time), 1)), time)


def test_a_time_column_that_skips_steps_gets_a_note():
    months = np.arange("2020-01", "2021-01", dtype="datetime64[M]").astype("datetime64[s]")
    assert timeaxis.skipped_steps(_timed_panel(months, [12])) is None
    note = timeaxis.skipped_steps(_timed_panel(np.delete(months, [4, 8]), [10]))
    assert note.startswith("the time column skips steps in 2 place(s), the first after "
                           "2020-04-01 (61 days where the usual spacing is 31 days); the "
                           "windows treat the rows as consecutive")
    # two series of six months each: the step from one to the next is no skip
    assert timeaxis.skipped_steps(_timed_panel(np.concatenate([months[6:], months[:6]]),
                                               [6, 6])) is None
    # business days skip weekends and holidays: no note; a missing week is one
    days = np.arange("2020-01-06", "2020-03-01", dtype="datetime64[D]")
    weekdays = days[np.is_busday(days)].astype("datetime64[s]")
    assert timeaxis.skipped_steps(_timed_panel(weekdays, [len(weekdays)])) is None
    assert "1 place(s), the first after 2020-01-10 (10 days where the usual spacing is 1 day)" \
        in timeaxis.skipped_steps(
        _timed_panel(np.delete(weekdays, range(5, 10)), [len(weekdays) - 5]))
    years = np.array([2001.0, 2002, 2003, 2005, 2006])
    assert "the first after 2003 (2 where the usual spacing is 1)" in timeaxis.skipped_steps(
        _timed_panel(years, [5]))


def test_synthetic_panel_is_seeded_and_varied():
    panel = synthetic_panel(40, 60, seed=3)
    again = synthetic_panel(40, 60, seed=3)
    np.testing.assert_array_equal(panel.values, again.values)
    assert not np.array_equal(panel.values, synthetic_panel(40, 60, seed=4).values)
    means = np.array([panel.values[panel.rows_of(i)].mean() for i in range(40)])
    assert means.max() / means.min() > 20  # levels spread over decades
    assert panel.names[0] == "s00" and panel.lengths.tolist() == [60] * 40
    ragged = synthetic_panel(30, 50, seed=1, min_length=20, frequency="day")
    assert ragged.lengths.min() >= 20 and len(set(ragged.lengths.tolist())) > 5
    assert len(set(ragged.time[ragged.offsets[:-1]].tolist())) > 5  # different starts


def test_long_csv_round_trip_in_any_row_order(tmp_path, reader):
    panel = synthetic_panel(12, 30, seed=5, min_length=10)
    path = tmp_path / "panel.csv"
    write_long_csv(panel, path)
    with pytest.raises(UserError, match="already exists"):
        write_long_csv(panel, path)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["series,time,value", f"s00,{format_time(panel.time[:1])[0]},"
                         f"{float(panel.values[0, 0])!r}"]
    rng = np.random.default_rng(0)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0]] + list(rng.permutation(lines[1:]))) + "\n")
    back = read_long_csv(shuffled, "series", time_column="time")
    assert back.names == panel.names
    np.testing.assert_array_equal(back.offsets, panel.offsets)
    np.testing.assert_array_equal(back.values, panel.values)
    np.testing.assert_array_equal(back.time, panel.time)


def test_us_employment_panel():
    panel = load_builtin_panel("us-employment")
    assert len(panel.names) == BUILTIN_PANELS["us-employment"].series == 22
    assert panel.names[0] == "nonfarm" and set(panel.lengths.tolist()) == {120}
    assert panel.values[0, 0] == 135450 and panel.values[119, 0] == 143093
    assert format_time(panel.time[[0, 119]]).tolist() == ["2006-01-01", "2015-12-01"]
    assert timeaxis.panel_season(panel) == 12


def test_load_panel_dispatches_on_the_data_config(csv_file):
    synthetic = load_panel(DataConfig(dataset="synthetic"))
    assert len(synthetic.names) == BUILTIN_PANELS["synthetic"].series
    some = load_panel(DataConfig(dataset="us-employment", targets=["nonfarm", "government"]))
    assert some.names == ["nonfarm", "government"]
    long = DataConfig(dataset=None, path=str(csv_file(LONG)), series_column="id",
                      time_column="t", targets=["x"])
    assert is_panel(long) and load_panel(long).targets == ["x"]
    wide = DataConfig(dataset=None, path=str(csv_file(WIDE, "wide.csv")),
                      columns_as_series=True, time_column="month")
    assert is_panel(wide) and load_panel(wide).names == ["a", "b", "c"]
    assert not is_panel(DataConfig())
    with pytest.raises(UserError, match="not both"):
        load_panel(DataConfig(dataset=None, path="x.csv", series_column="id",
                              columns_as_series=True))


def test_panel_options_reach_the_data_config():
    from lstm_tf_cli.core import data_config

    config = data_config(data_path="x.csv", target="y", time_column="t", series_column="id")
    assert (config.series_column, config.columns_as_series, config.path) == ("id", False,
                                                                            "x.csv")


@pytest.mark.parametrize("frequency", ["month", "day", None])
def test_continue_panel_time_matches_series_by_series(frequency):
    panel = synthetic_panel(30, 24, seed=2, frequency=frequency, min_length=5)
    expected = np.stack([continue_time(panel.time[panel.rows_of(i)], 4) for i in range(30)])
    np.testing.assert_array_equal(timeaxis.continue_panel_time(panel, 4), expected)
    some = np.array([3, 7])
    np.testing.assert_array_equal(timeaxis.continue_panel_time(panel, 4, some), expected[some])
    # Month ends in one series, starts in another: each keeps its own.
    text = "id,t,y\na,2020-01-31,1\na,2020-02-29,2\nb,2020-01-01,1\nb,2020-02-01,2\n"
    mixed = read_long_csv_text(text)
    assert format_time(timeaxis.continue_panel_time(mixed, 2)).tolist() == [
        ["2020-03-31", "2020-04-30"], ["2020-03-01", "2020-04-01"]]
    # Uneven steps (a gap): series by series, each by its median step.
    gappy = read_long_csv_text("id,t,y\na,1,1\na,2,1\na,3,1\na,7,1\nb,10,1\nb,12,1\n")
    assert format_time(timeaxis.continue_panel_time(gappy, 2)).tolist() == [["8", "9"],
                                                                           ["14", "16"]]


def read_long_csv_text(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "panel.csv"
        path.write_text(text)
        return read_long_csv(path, "id", time_column="t")


def test_unknown_dataset_names_the_panels_too():
    from lstm_tf.data import load_builtin

    with pytest.raises(UserError, match="available: elnino.*; panels: us-employment, synthetic"):
        load_builtin("nope")


def test_write_long_csv_quotes_names_that_need_it(tmp_path, reader):
    panel = Panel("x", ["a,b", 'say "hi"'], np.array([0, 1, 2]), ["y"], [],
                         np.array([[1.5], [2.0]]), series_column="id")
    write_long_csv(panel, tmp_path / "q.csv")
    back = read_long_csv(tmp_path / "q.csv", "id")
    assert back.names == ["a,b", 'say "hi"'] and back.values[:, 0].tolist() == [1.5, 2.0]


def test_reading_a_panel_imports_neither_pandas_nor_tensorflow(tmp_path):
    import subprocess
    import sys

    (tmp_path / "p.csv").write_text("id,t,y\na,1,1\na,2,\nb,1,3\nb,2,4\n")
    code = ("import sys\nfrom lstm_tf.data.panel_csv import read_long_csv\n"
            "p = read_long_csv(sys.argv[1], 'id', time_column='t', fill='ffill')\n"
            "print(p.values[:, 0].tolist(), 'pandas' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.csv")],
                         capture_output=True, text=True, check=True).stdout
    assert out.split("]")[1].split() == ["False", "False"] and out.startswith("[1.0, 1.0, 3.0")


def test_one_series_is_allowed_when_asked(csv_file, reader):
    """`predict` of one store's rows: the file holds one series, and that is fine there."""
    panel = read_long_csv(csv_file("id,y\na,1\na,2\n"), "id", allow_single=True)
    assert panel.names == ["a"] and panel.offsets.tolist() == [0, 2]
