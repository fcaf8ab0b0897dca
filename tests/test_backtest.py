"""`lstm-tf backtest`: cutoffs, output, verifiable numbers, no look-ahead, refit, baselines."""

import csv
import json

import numpy as np
import pytest

from helpers import run

TINY = ["--window", "6", "--units", "4", "--epochs", "2", "--batch-size", "16", "-q"]
ROWS, HORIZON, WINDOWS, STEP = 150, 2, 4, 3


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def bt_run(tmp_path_factory):
    """A tiny run trained with a held-out block for 4 cutoffs 3 rows apart, horizon 2."""
    root = tmp_path_factory.mktemp("backtest")
    t = np.arange(ROWS)
    values = np.sin(2 * np.pi * t / 12) + 0.01 * t + 0.1 * np.cos(1.7 * t)
    csv_path = root / "sine.csv"
    csv_path.write_text("day,value\n" + "".join(f"{100 + i},{v:.6f}\n"
                                                for i, v in zip(t, values)))
    out = root / "run"
    result = run("train", "--data", csv_path, "--time-column", "day", "--season", "12",
                 "--horizon", HORIZON, "--backtest-windows", WINDOWS, "--backtest-step", STEP,
                 "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    result = run("backtest", out)  # defaults: the run's backtest windows and step
    assert result.exit_code == 0, result.output
    return root, csv_path, out, values, result.output


def test_backtest_cutoffs_and_files(bt_run):
    root, _, out, values, output = bt_run
    folder = out / "backtest"
    assert {p.name for p in folder.iterdir()} == {"backtest.csv", "metrics.json",
                                                  "metrics_by_cutoff.csv"}
    rows = _read(folder / "backtest.csv")
    assert list(rows[0]) == ["series", "cutoff", "time", "step", "y", "model", "naive",
                             "seasonal_naive"]
    assert len(rows) == WINDOWS * HORIZON
    starts = [ROWS - HORIZON - STEP * (WINDOWS - 1 - i) for i in range(WINDOWS)]
    # cutoff = the time of the last row seen; time = the forecast row's time (day = 100 + row)
    assert [r["cutoff"] for r in rows[::HORIZON]] == [str(100 + s - 1) for s in starts]
    assert rows[-1]["time"] == str(100 + ROWS - 1)  # the last forecast ends at the last row
    for r in rows:
        row = int(r["time"]) - 100
        assert float(r["y"]) == pytest.approx(values[row], abs=1e-6)
        assert row == int(r["cutoff"]) - 100 + int(r["step"])
        assert float(r["naive"]) == pytest.approx(values[int(r["cutoff"]) - 100], abs=1e-6)
        assert float(r["seasonal_naive"]) == pytest.approx(values[row - 12], abs=1e-6)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["windows"] == WINDOWS and metrics["step"] == STEP and not metrics["refit"]
    assert metrics["first_forecast_row"] == starts[0] == metrics["val_end"]
    assert set(metrics["overall"]) == {"model", "naive", "seasonal_naive"}
    for values_ in metrics["overall"].values():
        assert set(values_) == {"mae", "rmse", "mase", "smape", "mae_vs_naive"}
    forecast = np.array([float(r["model"]) for r in rows])
    actual = np.array([float(r["y"]) for r in rows])
    # (the CSV's 8 significant digits of values near 1: each row's |forecast - y| is read
    # within 1e-8, which a small MAE, 0.001 with the damped anchor, feels beyond rel 1e-6)
    assert metrics["overall"]["model"]["mae"] == pytest.approx(
        np.mean(np.abs(forecast - actual)), rel=1e-6, abs=1e-8)
    assert len(metrics["by_cutoff"]) == WINDOWS
    assert len(_read(folder / "metrics_by_cutoff.csv")) == WINDOWS * 3
    assert "MAE/naive" in output and "model" in output


@pytest.mark.parametrize("anchor", ["auto", "none"])
def test_one_cutoff_recomputed_with_the_exported_model(bt_run, tmp_path, anchor):
    """The backtest's model forecast = the exported ONNX model on the rows before the cutoff
    (with the run's anchor, and with --anchor none: the network's output alone)."""
    from lstm_tf import predict
    from lstm_tf.export import export_run

    root, csv_path, out, values, _ = bt_run
    if anchor == "none":
        out = tmp_path / "run-none"
        result = run("train", "--data", csv_path, "--time-column", "day", "--season", "12",
                     "--horizon", HORIZON, "--backtest-windows", WINDOWS, "--backtest-step",
                     STEP, "--anchor", "none", "--out", out, *TINY)
        assert result.exit_code == 0, result.output
        assert run("backtest", out).exit_code == 0
    export_run(out, tmp_path / "model.onnx")
    session, meta = predict.load(tmp_path / "model.onnx")
    rows = _read(out / "backtest" / "backtest.csv")
    cutoff_rows = [r for r in rows if r["cutoff"] == rows[HORIZON]["cutoff"]]  # the 2nd cutoff
    start = int(cutoff_rows[0]["cutoff"]) - 100 + 1
    history = values[:start, None]  # only the rows before the cutoff's forecast
    by_hand = predict.forecast(session, meta, history)[:, 0]
    backtest = np.array([float(r["model"]) for r in cutoff_rows])
    np.testing.assert_allclose(backtest, by_hand, rtol=1e-4, atol=1e-5 * np.abs(values).max())


@pytest.mark.parametrize("baselines", [[], ["ets"]], ids=["built-in", "statsforecast"])
def test_no_target_is_an_input_of_its_own_forecast(bt_run, tmp_path, baselines):
    """Change one future value: the forecasts of every cutoff before it stay the same
    (model, naive, seasonal naive; and the statsforecast baseline, the one case that needs
    the `stats` extra)."""
    if baselines:
        pytest.importorskip("statsforecast")
    root, csv_path, out, values, _ = bt_run
    lines = csv_path.read_text().splitlines()
    changed_row = ROWS - HORIZON - STEP  # the first forecast row of the third cutoff
    day, value = lines[1 + changed_row].split(",")
    lines[1 + changed_row] = f"{day},{float(value) + 5:.6f}"
    copy = tmp_path / "changed.csv"
    copy.write_text("\n".join(lines) + "\n")
    results = {}
    for name, data in (("same", csv_path), ("changed", copy)):
        result = run("backtest", out, "--data", data,
                     *(["--baselines", ",".join(baselines)] if baselines else []),
                     "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        results[name] = _read(tmp_path / name / "backtest.csv")
    methods = ["model", "naive", "seasonal_naive", *baselines]
    for before, after in zip(results["same"], results["changed"]):
        start = int(before["cutoff"]) - 100 + 1
        row = int(before["time"]) - 100
        if start <= changed_row:  # the changed row lies after everything this cutoff saw
            assert [before[m] for m in methods] == [after[m] for m in methods]
        if row == changed_row:
            assert float(after["y"]) == pytest.approx(float(before["y"]) + 5, abs=1e-5)
    # ... and the last cutoff, which saw the change, forecasts differently (naive at least).
    assert results["same"][-1]["naive"] != results["changed"][-1]["naive"] or \
        results["same"][-1]["model"] != results["changed"][-1]["model"]


def test_overwrite_needs_force(bt_run):
    _, _, out, _, _ = bt_run
    result = run("backtest", out)
    assert result.exit_code == 1 and "already exists; pass --force" in result.output
    result = run("backtest", out, "--force", "--windows", "2")
    assert result.exit_code == 0, result.output
    assert len(_read(out / "backtest" / "backtest.csv")) == 2 * HORIZON


def test_block_outside_the_test_part_needs_refit(bt_run, tmp_path, monkeypatch):
    """A block reaching into the validation rows is refused without --refit and trains a
    fresh run per cutoff with it, on the rows before the cutoff only."""
    import lstm_tf.train
    from lstm_tf import runs

    _, _, out, values, _ = bt_run
    real_train, fresh = lstm_tf.train.train, []

    def recording_train(config, run_out, **kwargs):
        result = real_train(config, run_out, **kwargs)
        fresh.append(runs.load_config(run_out).split)
        return result

    monkeypatch.setattr(lstm_tf.train, "train", recording_train)
    result = run("backtest", out, "--windows", "2", "--step", "12", "--out", tmp_path / "a")
    assert result.exit_code == 1
    assert "--backtest-windows 2 --backtest-step 12" in result.output
    result = run("backtest", out, "--windows", "2", "--step", "12", "--refit",
                 "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["refit"] and metrics["windows"] == 2
    rows = _read(tmp_path / "b" / "backtest.csv")
    assert [int(r["time"]) - 100 for r in rows] == [136, 137, 148, 149]
    # each fresh run fitted (scaler, anchor, network, early stopping) on rows before its
    # cutoff only: its test part is exactly the cutoff's forecast
    assert [(split["val_end"], split["rows"]) for split in fresh] == [(136, 138), (148, 150)]
    assert np.all(np.isfinite([float(r["model"]) for r in rows]))


def test_multi_target_run(tmp_path):
    t = np.arange(90)
    csv_path = tmp_path / "two.csv"
    csv_path.write_text("a,b\n" + "".join(f"{np.sin(i / 3):.5f},{np.cos(i / 5) + i / 50:.5f}\n"
                                          for i in t))
    result = run("train", "--data", csv_path, "--target", "a,b", "--backtest-windows", "3",
                 "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 0, result.output
    result = run("backtest", tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = _read(tmp_path / "run" / "backtest" / "backtest.csv")
    assert [r["series"] for r in rows] == ["a"] * 3 + ["b"] * 3
    assert [r["cutoff"] for r in rows[:3]] == ["86", "87", "88"]  # row numbers: no time column
    assert [r["time"] for r in rows[:3]] == ["87", "88", "89"]
    assert float(rows[3]["y"]) == pytest.approx(np.cos(87 / 5) + 87 / 50, abs=1e-4)


def test_smape():
    from lstm_tf.metrics import smape

    assert smape(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == pytest.approx(50.0)
    assert smape(np.array([2.0]), np.array([2.0])) == 0.0


def test_plan_cutoffs():
    from lstm_tf.backtest import plan
    from lstm_tf.errors import UserError

    starts, step = plan(100, 80, 10, 3, windows=None, step=2, refit=False)
    assert step == 2 and list(starts) == [81, 83, 85, 87, 89, 91, 93, 95, 97]
    assert starts[-1] + 3 == 100
    with pytest.raises(UserError, match="overlaps the rows"):
        plan(100, 80, 10, 3, windows=10, step=2, refit=False)
    assert plan(100, 80, 10, 3, windows=10, step=2, refit=True)[0][0] == 79
    with pytest.raises(UserError, match="the data has 100"):
        plan(100, 80, 10, 3, windows=50, step=2, refit=True)


def test_baselines_fit_once_and_forward():
    """ets/arima without refit: fitted on the rows before the first cutoff only."""
    pytest.importorskip("statsforecast")
    from lstm_tf.baselines import forecasts, season_length

    t = np.arange(80)
    y = np.sin(2 * np.pi * t / 4) + 0.05 * t
    starts = np.array([70, 74, 78])
    for name in ("ets", "arima"):
        out = forecasts(name, y, starts, 2, 70, 4)
        assert out.shape == (3, 2) and np.all(np.isfinite(out))
        assert np.abs(out - y[starts[:, None] + np.arange(2)]).mean() < 0.5
        changed = y.copy()
        changed[75] += 10  # after the first two cutoffs' histories
        again = forecasts(name, changed, starts, 2, 70, 4)
        np.testing.assert_array_equal(out[:2], again[:2])
    assert season_length(48) == (1, season_length(48)[1]) and "48" in season_length(48)[1]
    assert season_length(None) == (1, None)


def test_without_refit_one_batched_prediction(bt_run):
    """Every cutoff is forecast in one call of the network, over all the windows at once."""
    from lstm_tf import backtest, runs

    _, _, out, _, _ = bt_run
    model = runs.load_model(out)
    calls = []

    def predict(x):
        calls.append(x.shape)
        return model.predict(x, verbose=0)

    result = backtest.backtest(out, windows=WINDOWS, predict=predict, log=lambda line: None)
    assert calls == [(WINDOWS, 6, 1)]
    assert result.forecasts["model"].shape == (WINDOWS, HORIZON, 1)
