"""The split rules, one set for a single series and for every series of a panel
(lstm_tf/data/split.py): parts of at least the horizon, --val-size / --test-size for one
series too, a default window that shrinks for a short series, refusals that state the
true minimum of rows; and the short series of the competitions' protocol (h = 18
monthly, 8 quarterly, 6 yearly, with --test-size h) prepared and trained."""

import csv

import numpy as np
import pytest

from lstm_tf.anchors import is_seasonal
from lstm_tf.config import DataConfig
from lstm_tf.data import load_builtin
from lstm_tf.data.prepare import load_data, prepare_any
from lstm_tf.data.split import (MIN_TRAIN_WINDOWS, MIN_WINDOW, NO_VALIDATION,
                                default_window, in_sample_windows, part_rows, split_rows,
                                too_short_to_validate)
from lstm_tf.errors import UserError


def builtin_slice(tmp_path, name: str, first: int, rows: int):
    """Rows [first, first + rows) of a real built-in series, as a CSV with its time column."""
    series = load_builtin(name)
    path = tmp_path / f"{name}{rows}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([series.time_column, series.targets[0]])
        for t in range(first, first + rows):
            writer.writerow([series.time[t], series.values[t, 0]])
    return str(path), series.time_column


def prepared(**options):
    config = DataConfig(dataset=None, **options)
    config.validate()
    data = load_data(config)
    found, panel = prepare_any(data, config)
    return config, found, panel


def test_fraction_parts_hold_the_horizon_and_fixed_sizes_are_kept():
    val, test = part_rows([72, 1000], 12, 0.15, 0.15)
    # 15% of 72 rows is 11: raised to the horizon; 15% of 1000 stays 150.
    assert val.tolist() == [12, 150] and test.tolist() == [12, 150]
    val, test = part_rows([72], 12, 0.15, 0.15, holdout=12)
    assert (int(val[0]), int(test[0])) == (12, 12)  # round(60 * 0.15) = 9 -> 12
    val, test = part_rows([72], 1, 0.15, 0.15, holdout=10, val_size=12)
    assert (int(val[0]), int(test[0])) == (12, 10)
    with pytest.raises(UserError, match=r"^--val-size 6 is shorter than the horizon \(12\)"):
        part_rows([72], 12, 0.15, 0.15, val_size=6)
    with pytest.raises(UserError, match=r"^--test-size 3 is shorter than the horizon \(8\)"):
        part_rows([48], 8, 0.15, 0.15, holdout=3)


def test_val_size_is_honoured_for_one_series():
    split = split_rows(72, 0.15, 0.15, window=13, horizon=1, holdout=None, val_size=12)
    assert split.bounds("val") == (49, 61) and split.bounds("test") == (61, 72)  # 11 = 15%
    # Before, a single series read only --val-fraction: 28 rows of validation.
    split = split_rows(200, 0.15, 0.15, window=13, horizon=1, holdout=12, val_size=12)
    assert split.bounds("val") == (176, 188) and split.bounds("test") == (188, 200)


@pytest.mark.parametrize("rows, season, horizon, holdout, window", [
    (72, 12, 12, 12, 12),   # 72 months, h = 12: refused before ("need at least 56 rows")
    (84, 12, 18, 18, 10),   # the protocol's monthly horizon on 7 years
    (72, 12, 18, 18, 6),    # 36 training rows: a third of the 18 after the horizon
    (48, 4, 8, 8, 8),       # 12 years of quarters
    (30, None, 6, 6, 4),    # 30 years
    (36, None, 6, 6, 6),
    (732, 12, 1, None, 37), # a long series keeps three seasons and a step
    (1000, 24, 1, None, 73),
])
def test_default_window_shrinks_for_a_short_series(rows, season, horizon, holdout, window):
    assert default_window(rows, season, horizon, 0.15, 0.15, holdout) == window
    split = split_rows(rows, 0.15, 0.15, window, horizon, holdout)
    training_windows = split.train_end - window - horizon + 1
    assert training_windows >= MIN_TRAIN_WINDOWS


def test_a_seasonal_series_window_holds_its_season(tmp_path):
    """A single series whose training rows have a season (`anchors.is_seasonal`) windows
    that season where the training part keeps MIN_TRAIN_WINDOWS windows (72 months, h = 18:
    12 rows, not 6) and, with fewer validation windows than the horizon (its anchor's
    partner is then sarima), four seasons where more than two fit (120 months: 48 rows, not
    22; 84: the 27 that leave 4 training windows, not 10); with as many validation windows
    as the horizon it keeps its window (300 months: 37); one without a season and a weekly
    season (52 rows) keep the third of the room."""
    for rows, third, seasonal in ((120, 22, 48), (84, 10, 27), (72, 6, 12), (300, 37, 37)):
        assert default_window(rows, 12, 18, 0.15, 0.15, 18) == third
        assert default_window(rows, 12, 18, 0.15, 0.15, 18, seasonal=True) == seasonal
    assert default_window(84, 4, 8, 0.15, 0.15, 8, seasonal=True) == default_window(
        84, 4, 8, 0.15, 0.15, 8)  # (a quarterly season has no sarima partner)
    assert default_window(200, 52, 13, 0.15, 0.15, 13, seasonal=True) == default_window(
        200, 52, 13, 0.15, 0.15, 13) == 48  # (a third of 146 rows; 52 would keep 95 windows)
    t = np.arange(84)
    rng = np.random.default_rng(2)
    profile = np.tile(rng.normal(size=12), 7)  # each month its own level, as real seasons
    for name, values, window in (
            ("seasonal", 0.1 * t + profile + 0.2 * rng.normal(size=84), 27),
            ("walk", np.cumsum(0.1 + rng.normal(size=84)), 10)):
        path = tmp_path / f"{name}.csv"
        path.write_text("month,value\n" + "".join(
            f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{float(v)!r}\n" for i, v in enumerate(values)))
        config = DataConfig(dataset=None, path=str(path), time_column="month", horizon=18,
                            test_size=18)
        load_data(config)
        assert (config.season, config.window) == (12, window)


def test_a_refusal_states_the_true_minimum_of_rows():
    # A validation part needs 8 rows (a window of 2 rows and 4 training windows) ...
    with pytest.raises(UserError, match=r"too few rows \(7\) for horizon 1 .* need at least 8 "
                                        r"rows \(a window of 2 rows and 4 training windows\)"):
        default_window(7, None, 1, 0.15, 0.15, val_size=1)
    assert default_window(8, None, 1, 0.15, 0.15) == MIN_WINDOW
    assert not too_short_to_validate(8, None, 1, 0.15, 0.15)
    # ... a shorter series trains without one while it holds a window, its horizon, its
    # test part and `in_sample_windows` (NO_VALIDATION: 3 of horizon 1); below that it is
    # refused with that minimum.
    # (the window: three quarters of the rows before the test part and the horizon, the
    # 3 training windows left)
    for rows, window in ((6, MIN_WINDOW), (7, 3)):
        assert too_short_to_validate(rows, None, 1, 0.15, 0.15)
        assert default_window(rows, None, 1, 0.15, 0.15) == window
        assert default_window(rows, None, 1, 0.15, 0.15, val_size=NO_VALIDATION) == window
    with pytest.raises(UserError, match=r"too few rows \(5\) for horizon 1 .* need at least 6 "
                                        r"rows \(a window of 2 rows and 3 training windows\)"):
        default_window(5, None, 1, 0.15, 0.15)
    assert [in_sample_windows(h) for h in (1, 2, 3, 6)] == [3, 2, 1, 1]  # 3 steps or more
    assert not too_short_to_validate(5, None, 1, 0.15, 0.15)
    # With a window given, the minimum is the first row count the split accepts.
    for window, horizon, holdout, val_size in [(4, 1, None, None), (24, 12, 12, None),
                                               (13, 18, 18, 18), (40, 6, None, 10)]:
        with pytest.raises(UserError, match=r"need at least (\d+) rows") as refused:
            split_rows(window, 0.15, 0.15, window, horizon, holdout, val_size)
        need = int(refused.value.args[0].rsplit("need at least ", 1)[1].split()[0])
        split = split_rows(need, 0.15, 0.15, window, horizon, holdout, val_size)
        assert split.train_end >= window + horizon
        with pytest.raises(UserError):
            split_rows(need - 1, 0.15, 0.15, window, horizon, holdout, val_size)


@pytest.mark.parametrize("horizon, season", [(6, None), (8, 4), (12, 12), (18, 12), (13, 52)])
def test_the_default_window_refusal_states_the_true_minimum_at_the_protocol_horizons(
        horizon, season):
    """A single series with the competitions' horizons and --test-size h: the minimum
    the refusal names is the first row count whose default window and split are
    accepted (a window, its horizon and the test part: one window, the 3 forecast steps of
    `in_sample_windows`), and every longer series is
    accepted too: without a validation part up to the first count that holds one of h
    rows after `MIN_TRAIN_WINDOWS` training windows, with one from there on."""
    with pytest.raises(UserError, match=r"need at least (\d+) rows") as refused:
        default_window(horizon + 1, season, horizon, 0.15, 0.15, horizon)
    need = int(refused.value.args[0].rsplit("need at least ", 1)[1].split()[0])
    # a window, the horizon, the test part: one training window (14 yearly rows with h 6,
    # 18 quarterly with h 8: M1's shortest series train)
    assert in_sample_windows(horizon) == 1
    assert need == 2 * horizon + MIN_WINDOW
    with pytest.raises(UserError, match=f"need at least {need} rows"):
        default_window(need - 1, season, horizon, 0.15, 0.15, horizon)
    validated = 3 * horizon + MIN_WINDOW + MIN_TRAIN_WINDOWS - 1  # (validation: h rows)
    for rows in range(need, validated + 40):
        short = too_short_to_validate(rows, season, horizon, 0.15, 0.15, horizon)
        assert short == (rows < validated)
        val_size = NO_VALIDATION if short else None
        window = default_window(rows, season, horizon, 0.15, 0.15, horizon, val_size)
        split = split_rows(rows, 0.15, 0.15, window, horizon, horizon, val_size)
        windows = split.train_end - window - horizon + 1
        if not short:
            assert windows >= MIN_TRAIN_WINDOWS
        else:  # a seasonal window where one fits, else in_sample_windows to choose on
            assert windows >= in_sample_windows(horizon)
        val = split.val_end - split.train_end
        assert val == 0 if short else val >= horizon


def test_short_monthly_series_prepare_with_the_protocol_horizons(tmp_path):
    # (El Nino's rows before the test part are seasonal by `anchors.is_seasonal`; with one
    # validation window the window holds up to four seasons, as many as leave four training
    # windows, for the sarima partner (84 months; 72 with h = 12); 72 with h = 18 leave room
    # for the season alone)
    for rows, horizon, window in [(72, 12, 33), (84, 18, 27), (72, 18, 12)]:
        path, time = builtin_slice(tmp_path, "elnino", 100, rows)
        config, found, panel = prepared(path=path, time_column=time, horizon=horizon,
                                        test_size=horizon)
        assert panel is None and config.season == 12 and config.window == window
        assert found.split.rows - found.split.val_end == horizon  # the held-out block
        assert found.split.val_end - found.split.train_end == horizon
        train_rows = rows - 2 * horizon
        assert {part: len(s) for part, s in found.starts.items()} == {
            "train": train_rows - window - horizon + 1, "val": 1, "test": 1}
        assert train_rows - window - horizon + 1 >= MIN_TRAIN_WINDOWS
        # the partner of its choice on one window is seasonal: sarima, or where too few rows
        # fit it (36 before validation) arima-season, by the test on the rows before the
        # test part (the 36 training rows alone do not pass it)
        assert found.anchor.parts[0][-1] == ("arima-season" if (rows, horizon) == (72, 18)
                                             else "sarima")
    assert not is_seasonal(found.series.values[:36, 0], 12)


def test_a_seasonal_series_gives_up_validation_for_a_window_of_its_season(tmp_path):
    """A seasonal series whose window with a validation part would be shorter than its
    season (60 months, h = 18: 2 rows) trains without one where that window holds the
    season (18 rows); with room for the season beside a validation part (72 months) it
    keeps the part, as does a series without a season."""
    assert not too_short_to_validate(60, 12, 18, 0.15, 0.15, 18)
    assert too_short_to_validate(60, 12, 18, 0.15, 0.15, 18, seasonal=True)
    assert default_window(60, 12, 18, 0.15, 0.15, 18, NO_VALIDATION, seasonal=True) == 18
    assert not too_short_to_validate(72, 12, 18, 0.15, 0.15, 18, seasonal=True)
    for rows in range(38, 69):  # (one too short for any window beside a validation part
        # trains without one, seasonal or not, as before)
        assert too_short_to_validate(rows, 12, 18, 0.15, 0.15, 18, seasonal=True)
        assert too_short_to_validate(rows, 12, 18, 0.15, 0.15, 18) == (rows < 59)
    path, time = builtin_slice(tmp_path, "elnino", 96, 60)  # (1958-62: seasonal by the test)
    config, found, _ = prepared(path=path, time_column=time, horizon=18, test_size=18)
    assert (config.val_size, config.window) == (NO_VALIDATION, 18)
    assert found.in_sample and found.anchor.parts[0][-1] == "sarima"
    assert found.split.rows - found.split.val_end == 18  # the held-out block, unseen


def test_short_yearly_series_prepare(tmp_path):
    for rows, window in [(30, 4), (36, 6), (40, 7)]:
        path, time = builtin_slice(tmp_path, "sunspots", 200, rows)
        config, found, _ = prepared(path=path, time_column=time, horizon=6, test_size=6)
        assert config.window == window
        assert len(found.starts["train"]) == rows - 12 - window - 6 + 1


def quarterly_panel(tmp_path, series: int = 6, quarters: int = 48):
    """A long CSV of `series` seeded series of `quarters` quarters (season 4)."""
    from lstm_tf.data.sources import synthetic_panel

    panel = synthetic_panel(series=series, length=quarters, seed=4, periods=(4,),
                            frequency=None)
    dates = (np.datetime64("2000-01", "M") + 3 * np.arange(quarters)).astype("datetime64[D]")
    path = tmp_path / "quarterly.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "quarter", "value"])
        for i, name in enumerate(panel.names):
            for k, row in enumerate(range(*panel.offsets[i:i + 2])):
                writer.writerow([name, dates[k], panel.values[row, 0]])
    return str(path)


def test_a_48_quarter_panel_prepares_with_horizon_8(tmp_path):
    """A quarterly panel windows three seasons and a step (13), not a third of its room
    (8), where its series keep MIN_TRAIN_WINDOWS training windows; a monthly panel keeps
    the third (split.PANEL_FULL_SEASONS_MAX), as does one quarterly series."""
    from lstm_tf.data.split import panel_window

    config, found, panel = prepared(path=quarterly_panel(tmp_path), series_column="id",
                                    time_column="quarter", horizon=8, test_size=8)
    assert config.season == 4 and config.window == 13 and panel["skipped"] == []
    # Each series: 8 test, 8 validation, 32 training rows -> 32 - 13 - 8 + 1 windows.
    assert np.bincount(found.series_of["train"]).tolist() == [12] * 6
    assert default_window(48, 4, 8, 0.15, 0.15, holdout=8) == 8
    assert panel_window([120] * 22, 12, 18, 0.15, 0.15, holdout=18) == 22  # a third of 66
    assert panel_window([30] * 10, 4, 8, 0.15, 0.15, holdout=8) == 2  # 13 > room 6 - 3
    assert len(found.starts["val"]) == 6 and len(found.starts["test"]) == 6


def test_scaling_is_refused_for_one_series(tmp_path):
    path, time = builtin_slice(tmp_path, "elnino", 0, 120)
    with pytest.raises(UserError, match=r"^--scaling series applies to a panel"):
        prepared(path=path, time_column=time, scaling="series")


def test_a_one_row_window_leaves_the_ar_anchor_no_input_and_no_error():
    from lstm_tf import anchors

    scaled = np.sin(np.arange(60) / 3.0)[:, None]
    starts = np.arange(1, 50)
    anchor, _ = anchors.choose(scaled, starts[:40], starts[40:], 1, 1, None, 1, "ar")
    # ar on a window of one row: no coefficients, so the last value.
    forecast = anchor.forecast(scaled[starts[40:] - 1][:, :, None], 1)
    np.testing.assert_allclose(forecast[:, 0, 0], scaled[starts[40:] - 1, 0])


def test_short_series_train_end_to_end(tmp_path):
    """The protocol's default command on a 72-month series with h = 12 (refused before)
    and on a 48-quarter panel with h = 8 (refused before): both train and are evaluated
    on their held-out block."""
    import json

    from click.testing import CliRunner

    from lstm_tf_cli.main import cli

    path, time = builtin_slice(tmp_path, "elnino", 100, 72)
    panel = quarterly_panel(tmp_path)
    for args, test_windows in [
            (["--data", path, "--time-column", time, "--horizon", "12"], 1),
            (["--data", panel, "--series-column", "id", "--time-column", "quarter",
              "--horizon", "8", "--ensemble", "1"], 6)]:  # one network, not 5: cheaper
        out = tmp_path / f"run{test_windows}"
        horizon = args[args.index("--horizon") + 1]
        result = CliRunner().invoke(cli, ["train", *args, "--test-size", horizon, "--epochs",
                                          "2", "--units", "4", "-q", "--out", str(out)])
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text())
        config = json.loads((out / "config.json").read_text())
        assert config["data"]["test_size"] == int(horizon)
        assert metrics["part"] == "test" and metrics["windows"] == test_windows
        assert np.isfinite(metrics["model"]["mae"]) and metrics["model"]["mae"] > 0


def test_a_series_too_short_for_a_validation_part_trains_without_one(tmp_path):
    """48 months with h = 18 and --test-size 18 (M3's shortest monthly series; refused
    before: 30 rows before the test part hold no validation part of 18 after a training
    window): no validation part, the anchor chosen among the fixed candidates and the
    history ARIMAs on the training windows (one, of its season: the seasonal candidates
    read it) and averaged with arima-trend, the network not trained; the held-out block
    is forecast from the rows before it, and the exported model forecasts the same."""
    import json

    from click.testing import CliRunner

    from lstm_tf import anchors
    from lstm_tf_cli.main import cli

    path, time = builtin_slice(tmp_path, "elnino", 100, 48)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", path, "--time-column", time,
                                      "--horizon", "18", "--test-size", "18", "--epochs", "2",
                                      "--units", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no validation part" in result.output
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["data"]["val_size"] == NO_VALIDATION
    assert config["split"] == {"train_end": 30, "val_end": 30, "rows": 48}
    window = config["data"]["window"]
    assert window == 12  # its season: 30 rows hold one window of it and its horizon
    assert metrics["train_windows"] == 30 - window - 18 + 1 == 1
    assert metrics["network_kept"] is False and metrics["windows"] == 1
    # nothing held out could keep the network: it is not trained at all
    assert "the network is not trained" in result.output
    assert metrics["epochs_run"] == 0 and metrics["best_epoch"] is None
    import warnings

    from lstm_tf.runs import load_model
    with warnings.catch_warnings(record=True) as caught:  # its optimizer saved whole
        warnings.simplefilter("always")
        load_model(out)
    assert not [w for w in caught if "optimizer" in str(w.message)]
    # chosen among the candidates that fit nothing and one series' ARIMAs fitted on all
    # its rows, then averaged with arima-trend (48 rows hold fewer than 8 seasons)
    fixed = anchors._fixed_candidates(18, 12, window)
    *chosen, partner = config["anchor"]["parts"][0]
    assert chosen and set(chosen) <= set(fixed) | {"arima-trend", "arima-curve"}
    assert partner == "arima-trend" and partner not in chosen
    assert np.isfinite(metrics["model"]["mae"]) and metrics["model"]["mae"] > 0


def test_in_a_panel_every_series_that_holds_a_window_trains():
    from lstm_tf.data.split import forecast_only, panel_parts, panel_window

    lengths = np.array([10, 11, 14, 17, 20, 30, 40, 47, 47])
    # h = 6, 6 test rows; validation max(15%, 6) = 6 rows where the series holds it.
    val, test, kept = panel_parts(lengths, 5, 6, 0.15, 0.15, holdout=6)
    assert test.tolist() == [6] * 9
    # 10 rows: 4 before the test part, fewer than the window (5): not kept.
    # 11 and 14 rows: 5 and 8 before the test part, a window but not window + horizon =
    # 11: kept, forecast only (no training window; the model forecasts their test part).
    # 17 and 20 rows: no validation of their own, their rows before the test part train.
    assert kept.tolist() == [False, True, True, True, True, True, True, True, True]
    assert val.tolist() == [0, 0, 0, 0, 0, 6, 6, 6, 6]
    assert (kept & forecast_only(lengths, val, test, 5, 6)).tolist() == [
        False, True, True, False, False, False, False, False, False]
    lengths = lengths[2:]  # 14, 17, 20, 30, 40, 47, 47
    # The window shrinks from the median series' (30 rows: 4) until `share` of the
    # series that can hold a window of MIN_WINDOW rows hold it (14 rows: window 2).
    assert default_window(30, None, 6, 0.15, 0.15, holdout=6) == 4
    assert panel_window(lengths, None, 6, 0.15, 0.15, holdout=6, share=1.0) == 2
    # Window 4 trains 6 of the 7 (every series of 16 rows or more): enough for share
    # 0.8; the window counts the series that train, not those only forecast.
    assert panel_window(lengths, None, 6, 0.15, 0.15, holdout=6, share=0.8) == 4
    assert panel_window(lengths, None, 6, 0.15, 0.15, holdout=6) == 2  # 0.9 of 7 > 6
    # Without a series that holds validation, the panel trains without a validation part
    # (NO_VALIDATION): 17 rows train, 14 rows are forecast only ...
    val, test, kept = panel_parts(np.array([14, 17]), 5, 6, 0.15, 0.15, holdout=6)
    assert kept.tolist() == [True, True] and val.tolist() == [0, 0]
    assert forecast_only(np.array([14, 17]), val, test, 5, 6).tolist() == [True, False]
    # ... and without a series that holds a window and its horizon, none is kept.
    assert not panel_parts(np.array([14, 16]), 5, 6, 0.15, 0.15, holdout=6)[2].any()


def test_a_panel_with_no_series_long_enough_to_validate_trains_without_validation(tmp_path):
    """30 monthly series of 40 rows with h = 12 and --test-size 12 (refused before: no
    series holds a validation part after a training window): every series trains, the
    anchor is chosen among the fixed candidates on the training windows (the panel's
    default, the network alone, has no validation to fall back on), the network is
    zeroed, and each held-out block is forecast."""
    import json

    from click.testing import CliRunner

    from lstm_tf import anchors
    from lstm_tf.data.panel_csv import write_long_csv
    from lstm_tf.data.sources import synthetic_panel
    from lstm_tf_cli.main import cli

    path = tmp_path / "short.csv"
    write_long_csv(synthetic_panel(30, 40, seed=3, periods=(12,)), path)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [
        "train", "--data", str(path), "--series-column", "series", "--time-column", "time",
        "--horizon", "12", "--test-size", "12", "--epochs", "2", "--units", "4",
        "--ensemble", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no validation part" in result.output
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    window = config["data"]["window"]
    assert window == 12  # its season: 28 rows before the test part hold one such window
    assert metrics["network_kept"] is False and metrics["epochs_run"] == 0
    assert metrics["train_windows"] == 30 * (28 - window - 12 + 1)
    assert set(config["anchor"]["parts"][0]) <= set(anchors._fixed_candidates(12, 12, window))
    assert metrics["windows"] == 30 and np.isfinite(metrics["model"]["mase"])


def test_without_validation_a_panel_windows_half_the_room_one_series_three_quarters():
    """20 yearly rows with h = 6 and --test-size 6 hold 8 rows of room for a window and
    its horizon: one series takes 6 (its ARIMAs fitted on every row need the order), a
    panel of such series 4 (measured: fertility's last 20 years, 192 series, mean MASE
    1.293 with 4 against 1.556 with 6; docs/accuracy.md, "Thirteenth session")."""
    from lstm_tf.data.split import panel_window

    assert too_short_to_validate(20, None, 6, 0.15, 0.15, holdout=6)
    assert default_window(20, None, 6, 0.15, 0.15, holdout=6) == 6
    assert panel_window([20] * 192, None, 6, 0.15, 0.15, holdout=6) == 4


def test_a_yearly_panel_of_short_series_keeps_them(tmp_path):
    from lstm_tf.data.panel_csv import write_long_csv
    from lstm_tf.data.sources import synthetic_panel

    panel = synthetic_panel(series=60, length=47, min_length=14, seed=7, periods=(1000,),
                            frequency=None)
    path = tmp_path / "yearly.csv"
    write_long_csv(panel, path)
    config, found, recorded = prepared(path=str(path), series_column="series",
                                       time_column="time", horizon=6, test_size=6)
    # The median series' window keeps 0.9 or more of the series that can train: no shrink.
    window = default_window(int(np.median(panel.lengths)), None, 6, 0.15, 0.15, holdout=6)
    assert config.window == window == 4
    too_short = panel.lengths < window + 6 + 6  # window, horizon and the test part
    assert 0 < too_short.sum() <= 0.1 * 60
    # Those too short to train are forecast only: none is skipped (each holds a window
    # of 4 before its test part), each has its test window.
    assert recorded["skipped"] == [] and panel.lengths.min() >= window + 6
    assert recorded["forecast_only"] == [name for name, s in zip(panel.names, too_short) if s]
    kept = int((~too_short).sum())
    assert len(np.unique(found.series_of["train"])) == kept
    assert np.unique(found.series_of["test"]).tolist() == list(range(60))
    # Validation comes from the series long enough for it (6 + 6 + 4 + 6 rows or more);
    # the shorter ones train on every row before their test part.
    with_val = int((panel.lengths >= 22).sum())
    assert len(np.unique(found.series_of["val"])) == with_val < kept
    # Before, validation was 15% of the rows before the test part, refused below the
    # horizon: only the series of 43 rows or more (round(37 * 0.15) = 6) were kept.
    assert (panel.lengths >= 43).sum() < kept / 2


@pytest.mark.parametrize("options", [
    dict(horizon=12, test_size=12, window=13),
    dict(horizon=1, window=37),
    dict(horizon=6, val_size=30, test_size=24, window=25, stride=3),
])
def test_a_single_series_splits_as_a_panel_of_one(options):
    """One set of rules: a series and the panel of that one series get the same parts
    and the same windows."""
    from lstm_tf.data.panel import as_panel
    from lstm_tf.data.prepare import panel_starts, split_panel
    from lstm_tf.data.windowing import window_starts

    series = load_builtin("elnino")
    panel = as_panel(series)
    assert panel.names == ["sst"] and panel.lengths.tolist() == [732]
    assert panel.time.dtype == np.dtype("datetime64[s]") and str(panel.time[0])[:7] == "1950-01"
    config = DataConfig(dataset=None, **options)
    split = split_rows(732, config.val_fraction, config.test_fraction, config.window,
                       config.horizon, config.holdout, config.val_size)
    panel_split, keep = split_panel(panel, config)
    assert keep.tolist() == [True]
    assert (int(panel_split.train_end[0]), int(panel_split.val_end[0])) == \
        (split.train_end, split.val_end)
    starts, series_of = panel_starts(panel_split, config.window, config.horizon, config.stride)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(starts[part], window_starts(
            *split.bounds(part), config.window, config.horizon, config.stride))
        assert (series_of[part] == 0).all()


def test_a_single_series_splits_as_a_panel_of_one_with_a_window_given():
    """48 months, h = 18, --test-size 18 and --window 6 (refused before: the default window
    trained without a validation part, a window given did not): the same parts as a panel
    of such series, no validation part; a --val-size given is kept or refused."""
    from lstm_tf.data.split import panel_parts

    split = split_rows(48, 0.15, 0.15, window=6, horizon=18, holdout=18)
    assert (split.train_end, split.val_end, split.rows) == (30, 30, 48)
    val, test, kept = panel_parts([48, 48], 6, 18, 0.15, 0.15, holdout=18)
    assert val.tolist() == [0, 0] and test.tolist() == [18, 18] and kept.all()
    # 42 rows hold a window and its horizon before the test part, 41 do not
    assert split_rows(42, 0.15, 0.15, window=6, horizon=18, holdout=18).train_end == 24
    with pytest.raises(UserError, match=r"too few rows \(41\) .* need at least 42 rows"):
        split_rows(41, 0.15, 0.15, window=6, horizon=18, holdout=18)
    with pytest.raises(UserError, match=r"\(validation 18 rows\); need at least 60 rows"):
        split_rows(48, 0.15, 0.15, window=6, horizon=18, holdout=18, val_size=18)
    assert not panel_parts([48], 6, 18, 0.15, 0.15, holdout=18, val_size=18)[0].any()
    split = split_rows(60, 0.15, 0.15, window=6, horizon=18, holdout=18, val_size=18)
    assert (split.train_end, split.val_end) == (24, 42)
