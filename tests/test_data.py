"""The data path: CSV parsing and its errors, split, scaler and windows (NumPy and tf.data)."""

import numpy as np
import pytest

from lstm_tf import data
from lstm_tf.data.scaling import check_features_vary
from lstm_tf.errors import UserError


def test_read_csv_targets_features_time(csv_file):
    path = csv_file("t,a,b,c\n1,1.5,2,3\n2,2.5,3,4\n3,3.5,4,6\n")
    series = data.read_csv(path, targets=["c"], features=["a"], time_column="t")
    assert series.columns == ["c", "a"]
    np.testing.assert_array_equal(series.values, [[3, 1.5], [4, 2.5], [6, 3.5]])
    assert series.time == ["1", "2", "3"]


def test_default_target_is_first_non_time_column(csv_file):
    series = data.read_csv(csv_file("date,x,y\n2020-01-01,1,2\n2020-01-02,3,4\n"),
                           time_column="date")
    assert series.targets == ["x"]
    np.testing.assert_array_equal(series.values[:, 0], [1, 3])


@pytest.mark.parametrize("header, time", [
    ("date,x", "date"), ("x,Time", "Time"), ("ds,x", "ds"), ("timestamp,x", "timestamp"),
    ("t,x", None),  # not a time column's name: t is the target
    ("date,ds,x", None),  # two: neither is guessed, nor a target (x is)
])
def test_a_column_named_like_time_is_the_time_column(csv_file, header, time):
    """Without --time-column a column called time, date, datetime, timestamp or ds (any
    case; statsforecast's `ds`) is the time column, as a pandas or statsforecast user's
    file has it; none is guessed from other names or when two compete."""
    names = header.split(",")
    rows = "".join(",".join("2020-01-0%d" % (i + 1) if n.lower() in ("date", "time", "ds",
                                                                   "timestamp") else str(i + 2)
                            for n in names) + "\n" for i in range(3))
    series = data.read_csv(csv_file(header + "\n" + rows))
    assert series.time_column == time
    assert series.targets == ["x" if time or "ds" in names else names[0]]
    np.testing.assert_array_equal(series.values[:, 0], [2, 3, 4])
    if time:
        assert series.time == ["2020-01-01", "2020-01-02", "2020-01-03"]


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@pytest.mark.parametrize("name, header, time_of, season, first_time", [
    # R's write.csv of a monthly ts (Rdatasets): row names, decimal years
    ("R ts", '"rownames","time","value"', lambda i: f'"{i + 1}",{1990 + i / 12!r}', 12,
     "1990.0"),
    # pandas' to_csv with its index
    ("pandas", ",date,value", lambda i: f"{i},{1990 + i // 12}-{i % 12 + 1:02d}-01", 12,
     "1990-01-01"),
    # statsforecast's columns, one series
    ("statsforecast", "unique_id,ds,y", lambda i: f"A,{1990 + i // 12}-{i % 12 + 1:02d}-01",
     12, "1990-01-01"),
    # R's tsibble: yearmonth, yearquarter, yearweek
    ("tsibble month", "Month,Value", lambda i: f"{1990 + i // 12} {MONTHS[i % 12]}", 12,
     "1990-01-01"),
    ("tsibble quarter", "Quarter,Trips", lambda i: f"{1990 + i // 4} Q{i % 4 + 1}", 4,
     "1990-01-01"),
    ("tsibble week", "Week,Sales", lambda i: f"2020 W{i + 1:02d}", 52, "2019-12-30"),
    ("pandas quarter", "period,value", lambda i: f"{1990 + i // 4}Q{i % 4 + 1}", 4,
     "1990-01-01"),
    ("years", "year,value", lambda i: f"{1990 + i}", None, "1990"),
])
def test_files_as_r_pandas_and_statsforecast_write_them(csv_file, name, header, time_of,
                                                         season, first_time):
    """The default target is the measured column, never an index (R's rownames, pandas'
    unnamed index, statsforecast's unique_id) nor a period column (`year`); period labels
    read as the dates they start on, decimal years as numbers, and both give the season."""
    values = [round(10 + i + 3 * np.sin(i), 3) for i in range(40)]
    text = header + "\n" + "".join(f"{time_of(i)},{v}\n" for i, v in enumerate(values))
    series = data.read_csv(csv_file(text))
    assert series.targets == [header.replace('"', "").split(",")[-1]]
    np.testing.assert_array_equal(series.values[:, 0], values)
    assert series.time_column == header.replace('"', "").split(",")[-2]
    assert repr(float(series.time[0])) == first_time if name == "R ts" else (
        series.time[0] == first_time)
    assert data.infer_season(series.time) == season


def test_a_single_series_file_with_several_unique_ids_names_the_option(csv_file):
    text = "unique_id,ds,y\n" + "".join(f"{s},2020-01-0{d},{d}\n" for s in "AB"
                                        for d in (1, 2, 3))
    with pytest.raises(UserError, match="column 'unique_id' names 2 series; train them as a "
                                        "panel with --series-column unique_id"):
        data.read_csv(csv_file(text))


def test_a_file_of_nothing_but_times_and_indexes_has_no_target(csv_file):
    with pytest.raises(UserError, match="has no column besides the time column to forecast; "
                                        "available: rownames, year"):
        data.read_csv(csv_file("rownames,year\n1,2000\n2,2001\n"))


def test_a_long_panel_as_r_writes_it_reads_its_quarters_and_season(tmp_path):
    """R's write.csv of a tsibble: row names, `1998 Q1` quarters, the measured column last."""
    from lstm_tf.data.panel_csv import read_long_csv
    from lstm_tf.data.timeaxis import panel_season

    path = tmp_path / "tourism.csv"
    path.write_text('"rownames","Quarter","Region","Trips"\n' + "".join(
        f'"{k}","{1998 + q // 4} Q{q % 4 + 1}","{region}",{100 + q}\n'
        for k, (region, q) in enumerate((r, q) for r in ("North", "South") for q in range(8))))
    panel = read_long_csv(path, "Region")
    assert panel.targets == ["Trips"] and panel.time_column == "Quarter"
    assert str(panel.time[0])[:10] == "1998-01-01" and str(panel.time[5])[:10] == "1999-04-01"
    assert panel_season(panel) == 4


def test_a_long_panel_as_fpp3_writes_us_employment_skips_titles_and_late_starts(tmp_path):
    """`Month,Series_ID,Title,Employed`: the text column `Title` is no default target, and
    a series written with missing values before it starts begins at its first value (its
    line numbers still name the file's lines)."""
    from lstm_tf.data.panel_csv import read_long_csv

    path = tmp_path / "employment.csv"
    months = ["2001 Jan", "2001 Feb", "2001 Mar", "2001 Apr"]
    late = ["NA", "", "7", "8"]  # starts in March
    path.write_text("Month,Series_ID,Title,Employed\n" + "".join(
        f"{month},{name},{title},{value}\n" for name, title, values in
        (("A", "Mining", ["1", "2", "3", "4"]), ("B", "Retail trade", late))
        for month, value in zip(months, values)))
    panel = read_long_csv(path, "Series_ID")
    assert panel.targets == ["Employed"] and panel.time_column == "Month"
    np.testing.assert_array_equal(panel.offsets, [0, 4, 6])
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 3, 4, 7, 8])
    assert str(panel.time[4])[:10] == "2001-03-01"
    path.write_text(path.read_text().replace("2001 Feb,B,Retail trade,", "2001 Feb,B,x,5")
                    .replace("2001 Mar,B,Retail trade,7", "2001 Mar,B,x,NA"))
    with pytest.raises(UserError, match="1 missing value.*series 'B', column 'Employed', "
                                        "line 8"):  # a gap after its start is still a gap
        read_long_csv(path, "Series_ID")


def test_a_single_series_starts_at_its_first_value_and_skips_text_columns(csv_file):
    series = data.read_csv(csv_file("time,name,value\n1,x,\n2,x,NA\n3,x,5\n4,x,6\n"))
    assert series.targets == ["value"] and series.time_column == "time"
    np.testing.assert_array_equal(series.values[:, 0], [5, 6])
    assert list(series.time) == ["3", "4"]
    with pytest.raises(UserError, match="1 missing value.*at line 5"):  # a gap is no start
        data.read_csv(csv_file("time,value\n1,\n2,1\n3,2\n4,\n5,3\n"))
    # a column of numbers with a typo is no text column: reported, not passed over
    with pytest.raises(UserError, match="column 'value', line 3: 'n/a[?]' is not a number"):
        data.read_csv(csv_file("time,value,other\n1,5,1\n2,n/a?,2\n3,6,3\n"))


def test_a_long_panel_in_statsforecast_columns_reads_ds_as_time(tmp_path):
    """unique_id, ds, y (statsforecast's long format) needs only --series-column."""
    from lstm_tf.data.panel_csv import read_long_csv

    path = tmp_path / "long.csv"
    path.write_text("unique_id,ds,y\n" + "".join(
        f"{name},2020-0{month}-01,{value}\n" for name in ("a", "b")
        for month, value in ((1, 1.0), (2, 2.0), (3, 4.0))))
    panel = read_long_csv(path, "unique_id")
    assert panel.time_column == "ds" and panel.targets == ["y"]
    assert list(panel.names) == ["a", "b"]
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2, 4, 1, 2, 4])


@pytest.mark.parametrize("text, kwargs, message", [
    ("", {}, "is empty"),
    ("a,b\n", {}, "no data rows"),
    ("a,b\n1,2\n", {"targets": ["z"]}, "no column 'z'; available: a, b"),
    ("a,b\n1,2\n3,x\n", {"targets": ["b"]}, "column 'b', line 3: 'x' is not a number"),
    ("a\n1\n1,5\n", {}, "line 3 has 2 fields"),
    ("a\n\"1,5\"\n", {}, "decimal commas are not supported"),
    ("a,a\n1,2\n", {}, "duplicate column name(s) a"),
    ("t,a\n1,1\n3,2\n2,3\n", {"time_column": "t"}, "line 4: '2' goes back in time from '3'"),
    ("t,a\n1,1\n1,2\n", {"time_column": "t"}, "line 3: '1' repeats '1'"),
    ("t,a\n2020-01-01,1\nsoon,2\n", {"time_column": "t"}, "'soon' is neither a number nor an ISO date"),
    ("a\n1\n\n3\nNA\n", {}, "2 missing value(s), the first at line 3"),
    ("a\n1\ninf\n", {}, "infinite value at line 3"),
])
def test_csv_errors_name_the_problem(csv_file, text, kwargs, message):
    with pytest.raises(UserError) as error:
        data.read_csv(csv_file(text), **kwargs)
    assert message in str(error.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.read_csv(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="is a directory"):
        data.read_csv(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9\n1\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        data.read_csv(path)


@pytest.mark.parametrize("fill, expected", [
    ("interpolate", [1, 2, 3, 4, 4]),
    ("ffill", [1, 1, 1, 4, 4]),
    ("drop", [1, 4]),
])
def test_fill_methods(csv_file, fill, expected):
    series = data.read_csv(csv_file("a\n1\n\nNaN\n4\nNA\n"), fill=fill)
    np.testing.assert_array_equal(series.values[:, 0], expected)


def test_builtin_datasets_load_without_network():
    for name in data.BUILTIN_DATASETS:
        series = data.load_builtin(name)
        assert len(series.values) >= 300
        assert np.isfinite(series.values).all()
    assert len(data.load_builtin("elnino").values) == 732
    # co2 has 59 real gaps that its default fill interpolates
    assert len(data.load_builtin("co2").values) == 2284


def test_split_rows_and_too_few_rows():
    split = data.split_rows(100, 0.2, 0.1, window=5, horizon=2)
    assert (split.train_end, split.val_end) == (70, 90)
    assert split.bounds("val") == (70, 90)
    with pytest.raises(UserError, match="too few rows \\(10\\)"):
        data.split_rows(10, 0.15, 0.15, window=8, horizon=1)
    with pytest.raises(UserError, match="split fractions"):
        data.split_rows(100, 0.5, 0.5, window=2, horizon=1)


def test_window_starts_stay_inside_their_split():
    split = data.split_rows(50, 0.2, 0.2, window=4, horizon=3)
    for part in ("train", "val", "test"):
        start, end = split.bounds(part)
        starts = data.window_starts(start, end, 4, 3, stride=2)
        assert (starts >= max(start, 4)).all() and (starts + 3 <= end).all()
        assert starts[-1] == end - 3  # the most recent window is always used
        assert (np.diff(starts) == 2).all()


def test_windows_match_hand_computed_slices():
    values = np.arange(40, dtype=float).reshape(20, 2)  # column 0 target, column 1 feature
    starts = data.window_starts(0, 20, window=3, horizon=2)
    assert starts[0] == 3 and starts[-1] == 18
    inputs, targets = data.windows(values, starts, window=3, horizon=2, n_targets=1)
    # the window forecasting from row 3 reads rows 0..2 and targets rows 3..4 of column 0
    np.testing.assert_array_equal(inputs[0], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(targets[0], [[6], [8]])
    np.testing.assert_array_equal(targets[-1], [[36], [38]])


def test_scaler_is_fitted_on_training_rows_and_refuses_constant_features():
    values = np.array([[1.0, 5.0], [3.0, 7.0], [100.0, 9.0]])
    scaler = data.Scaler.fit(values[:2], ["a", "b"])
    assert scaler.to_dict() == {"columns": ["a", "b"], "mean": [2.0, 6.0], "std": [1.0, 1.0]}
    np.testing.assert_allclose(scaler.transform(values)[2], [98.0, 3.0])
    np.testing.assert_allclose(scaler.inverse_targets(np.array([[1.0]]), 1), [[3.0]])
    with pytest.raises(UserError, match="column 'k' is constant in the training part; it"):
        check_features_vary(np.array([[1.0, 2.0], [3.0, 2.0]]), ["y", "k"], 1, [(0, 2)])
    # A constant target is forecast, not refused: std 1, its mean as the level.
    check_features_vary(np.array([[2.0], [2.0]]), ["y"], 1, [(0, 2)])
    flat = data.Scaler.fit(np.array([[2.0], [2.0]]), ["y"])
    assert flat.to_dict() == {"columns": ["y"], "mean": [2.0], "std": [1.0]}


def test_a_panel_refuses_a_feature_only_when_every_series_holds_it_constant():
    values = np.array([[1.0, 4.0], [3.0, 4.0], [9.0, 4.0],    # series 0: k constant
                       [5.0, 1.0], [5.0, 5.0], [5.0, 0.0]])   # series 1: y constant
    parts = [(0, 2), (3, 5)]
    check_features_vary(values, ["y", "k"], 1, parts)
    scaler = data.Scaler.fit(values, ["y", "k"], parts)
    np.testing.assert_allclose(scaler.mean, [[2.0, 4.0], [5.0, 3.0]])
    np.testing.assert_allclose(scaler.std, [[1.0, 1.0], [1.0, 2.0]])  # the two flat ones: 1
    values[3:, 1] = 4.0
    with pytest.raises(UserError, match="column 'k' is constant in the training part of every "
                                        "series"):
        check_features_vary(values, ["y", "k"], 1, parts)


def test_tf_dataset_yields_exact_windows_and_shuffles_only_training():
    values = np.arange(60, dtype=np.float64).reshape(30, 2)
    starts = data.window_starts(10, 30, window=4, horizon=2)
    ordered = data.make_dataset(values, starts, 4, 2, n_targets=1, batch_size=5)
    batches = list(ordered.as_numpy_iterator())
    inputs = np.concatenate([b[0] for b in batches])
    targets = np.concatenate([b[1] for b in batches])
    expected_inputs, expected_targets = data.windows(values, starts, 4, 2, 1)
    np.testing.assert_array_equal(inputs, expected_inputs.astype(np.float32))
    np.testing.assert_array_equal(targets, expected_targets.astype(np.float32))
    shuffled = data.make_dataset(values, starts, 4, 2, 1, batch_size=64, shuffle=True, seed=3)
    first = next(iter(shuffled.as_numpy_iterator()))[1][:, 0, 0]
    assert sorted(first) == sorted(expected_targets[:, 0, 0]) and not np.array_equal(
        first, expected_targets[:, 0, 0])


def test_season_is_read_off_a_date_columns_spacing():
    from lstm_tf.data import infer_season

    def dates(start, step, n=10):
        return [str(np.datetime64(start) + i * np.timedelta64(*step)) for i in range(n)]

    assert infer_season(dates("2020-01-01T00:00", (30, "m"))) == 48
    assert infer_season(dates("2020-01-01T00:00", (1, "h"))) == 24
    assert infer_season(dates("2020-01-01", (1, "D"))) == 7
    assert infer_season(dates("2020-01-04", (7, "D"))) == 52
    assert infer_season(dates("2020-01", (1, "M"))) == 12
    assert infer_season(["2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01"]) == 4
    assert infer_season(dates("2020", (1, "Y"))) is None  # yearly: no season
    assert infer_season([str(year) for year in range(1700, 1720)]) is None  # numbers
    # decimal years (R's ts): their fraction; other fractions and numbers: none
    assert infer_season([repr(1990 + i / 12) for i in range(30)]) == 12
    assert infer_season([repr(1990 + i / 4) for i in range(30)]) == 4
    assert infer_season([repr(1990 + i / 52) for i in range(30)]) == 52
    assert infer_season([repr(i / 12) for i in range(30)]) is None  # not years
    assert infer_season([repr(1990 + i / 7) for i in range(30)]) is None
    assert infer_season(None) is None
