"""The data path: CSV parsing and its errors, split, scaler and windows (NumPy and tf.data)."""

import numpy as np
import pytest

from lstm_tf import data
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
    ("date,ds,x", None),  # two: neither is guessed (the first column is the target)
])
def test_a_column_named_like_time_is_the_time_column(csv_file, header, time):
    """Without --time-column a column called time, date, datetime, timestamp or ds (any
    case; statsforecast's `ds`) is the time column, as a pandas or statsforecast user's
    file has it; none is guessed from other names or when two compete."""
    names = header.split(",")
    rows = "".join(",".join("2020-01-0%d" % (i + 1) if n.lower() in ("date", "time", "ds",
                                                                   "timestamp") else str(i + 2)
                            for n in names) + "\n" for i in range(3))
    if time is None and names[0].lower() in ("date", "ds"):
        with pytest.raises(UserError, match="is not a number"):
            data.read_csv(csv_file(header + "\n" + rows))
        return
    series = data.read_csv(csv_file(header + "\n" + rows))
    assert series.time_column == time
    assert series.targets == ["x" if time else names[0]]
    np.testing.assert_array_equal(series.values[:, 0], [2, 3, 4])
    if time:
        assert series.time == ["2020-01-01", "2020-01-02", "2020-01-03"]


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


def test_scaler_is_fitted_on_training_rows_and_refuses_constant_columns():
    values = np.array([[1.0, 5.0], [3.0, 7.0], [100.0, 9.0]])
    scaler = data.Scaler.fit(values[:2], ["a", "b"])
    assert scaler.to_dict() == {"columns": ["a", "b"], "mean": [2.0, 6.0], "std": [1.0, 1.0]}
    np.testing.assert_allclose(scaler.transform(values)[2], [98.0, 3.0])
    np.testing.assert_allclose(scaler.inverse_targets(np.array([[1.0]]), 1), [[3.0]])
    with pytest.raises(UserError, match="column 'k' is constant"):
        data.Scaler.fit(np.array([[2.0], [2.0]]), ["k"])


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
    assert infer_season(None) is None
