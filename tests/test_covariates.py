"""Future-known covariates and the learned series embedding, end to end: calendar
features by hand, a covariate that carries the signal (the model with it beats the one
without), the exported graph's extra inputs and their parity, predict's future
covariates (computed, read, refused), and an embedding round trip on a panel."""

from __future__ import annotations

import csv
import datetime
import json

import numpy as np
import pytest

from helpers import run
from lstm_tf.data import covariates as cov

SMALL = ["--units", "16", "--window", "5", "--horizon", "3", "--seed", "1", "-q"]


# ----------------------------------------------------------------- calendar by hand


def test_calendar_phases_by_hand():
    """2021-03-15 14:30 was a Monday, the 74th day of 2021 (365 days)."""
    when = np.array(["2021-03-15T14:30"], dtype="datetime64[s]")
    expected = {"month": 2 / 12, "dayofweek": 0 / 7, "dayofmonth": 14 / 31,
                "dayofyear": 73 / 365, "hour": 14 / 24, "minute": 30 / 60}
    for name, phase in expected.items():
        assert cov.phases(when, name)[0] == pytest.approx(phase)
    features = cov.calendar_features(when, ["month", "hour"])
    assert features[0] == pytest.approx([np.sin(2 * np.pi * 2 / 12), np.cos(2 * np.pi * 2 / 12),
                                         np.sin(2 * np.pi * 14 / 24), np.cos(2 * np.pi * 14 / 24)])
    assert cov.calendar_names(["month", "hour"]) == ["month_sin", "month_cos", "hour_sin",
                                                      "hour_cos"]


def test_future_calendar_continues_the_time_column():
    """Monthly history ending 2020-11-30 (month ends): the next steps are Dec 31 and Jan 31,
    month phases 11/12 and 0; the known column's future rows follow them."""
    history = np.array(["2020-09-30", "2020-10-31", "2020-11-30"], dtype="datetime64[s]")
    spec = {"calendar": ["month", "dayofweek"], "known": ["promo"]}
    got = cov.future_covariates(spec, history, np.array([[1.0], [0.0], [5.0]]), 2, "x.csv", "t")
    weekday = [datetime.date(2020, 12, 31).weekday(), datetime.date(2021, 1, 31).weekday()]
    for step, (month, day) in enumerate(zip([11, 0], weekday)):
        angle_m, angle_d = 2 * np.pi * month / 12, 2 * np.pi * day / 7
        assert got[step] == pytest.approx([np.sin(angle_m), np.cos(angle_m), np.sin(angle_d),
                                           np.cos(angle_d), [1.0, 0.0][step]])
    with pytest.raises(Exception, match="known column 'promo' has 1 of the 2 future"):
        cov.future_covariates(spec, history, np.array([[1.0], [np.nan]]), 2, "x.csv", "t")


# ---------------------------------------------------------- a covariate that matters


def _daily(path, rows=240, seed=0):
    """Daily sales: +3 on Sundays and +4 on promotion days (drawn at random, so only a
    model told the future promotions can see them coming), noise 0.3."""
    rng = np.random.default_rng(seed)
    days = np.datetime64("2020-01-06") + np.arange(rows)  # a Monday
    weekday = (days.astype(np.int64) + 3) % 7
    promo = (rng.random(rows) < 0.25).astype(int)
    sales = 10 + 3.0 * (weekday == 6) + 4.0 * promo + 0.3 * rng.standard_normal(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "sales", "promo"])
        writer.writerows([str(d), f"{v:.4f}", p] for d, v, p in zip(days, sales, promo))
    return days, sales, promo


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """The daily series trained with and without future-known covariates (both see the
    past promotions in the window: `promo` is a feature and a known column); the first
    one exported."""
    folder = tmp_path_factory.mktemp("covariates")
    data = folder / "daily.csv"
    days, sales, promo = _daily(data)
    common = ["train", "--data", data, "--time-column", "date", "--target", "sales",
              "--features", "promo", "--epochs", "25", *SMALL]
    with_covariates = run(*common, "--calendar", "dayofweek", "--known", "promo",
                          "--out", folder / "with")
    assert with_covariates.exit_code == 0, with_covariates.output
    without = run(*common, "--out", folder / "without")
    assert without.exit_code == 0, without.output
    exported = run("export", folder / "with", "--out", folder / "with.onnx")
    assert exported.exit_code == 0, exported.output
    return folder, days, sales, promo


def test_the_covariates_beat_the_model_without_them(daily):
    folder, *_ = daily
    mae = {name: json.loads((folder / name / "metrics.json").read_text())["model"]["mae"]
           for name in ("with", "without")}
    # Measured: 0.69 against 1.70 (the model without them does not beat its anchor much).
    assert mae["with"] < 0.6 * mae["without"], mae
    config = json.loads((folder / "with" / "config.json").read_text())
    assert config["covariates"]["names"] == ["dayofweek_sin", "dayofweek_cos", "promo"]
    assert config["covariates"]["mean"][:2] == [0, 0] and config["covariates"]["std"][:2] == [1, 1]


def test_exported_graph_takes_known_and_passes_parity(daily):
    import onnx

    folder, *_ = daily
    model = onnx.load(folder / "with.onnx")
    shapes = {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
              for value in model.graph.input}
    assert shapes == {"window": ["batch", "time", 2], "known": ["batch", 3, 3]}
    assert [node.op_type for node in model.graph.node].count("LSTM") == 1  # still fused
    meta = json.loads(model.metadata_props[0].value)
    assert meta["inputs"]["known"] == ["batch", 3, 3]
    assert meta["covariates"] == {"calendar": ["dayofweek"], "known": ["promo"],
                                  "names": ["dayofweek_sin", "dayofweek_cos", "promo"]}
    assert meta["parity"]["passed"] and meta["parity"]["max_relative_error"] < 1e-5
    assert "time 10" in meta["parity"]["cases"]  # twice the window, with its covariates


def _with_future(source, target, keep, future_promo):
    """The first `keep` rows of the daily CSV, then future rows: date, empty sales, promo."""
    rows = list(csv.reader(open(source)))
    history = rows[:1 + keep]
    last = np.datetime64(history[-1][0])
    future = [[str(last + k + 1), "", p] for k, p in enumerate(future_promo)]
    with open(target, "w", newline="") as handle:
        csv.writer(handle).writerows(history + future)
    return history


def test_predict_computes_the_calendar_and_reads_future_known_values(daily, tmp_path):
    """predict's forecast equals onnxruntime fed the calendar computed by hand (Python's
    weekday of each future date) and the promotions of the future rows."""
    import onnxruntime as ort

    folder, days, sales, promo = daily
    path = tmp_path / "latest.csv"
    history = _with_future(folder / "daily.csv", path, 200, [1, 0, 1, 0])  # one extra row
    result = run("predict", folder / "with.onnx", "--data", path)
    assert result.exit_code == 0, result.output
    lines = [line.split(",") for line in result.output.strip().splitlines()]
    got = np.array([[float(v) for v in line[2:]] for line in lines[1:]])
    last = datetime.date.fromisoformat(history[-1][0])
    # The time column continues after the history's last date, one day a step.
    assert lines[0][:2] == [history[0][0], "step"]
    assert [line[:2] for line in lines[1:]] == [
        [str(last + datetime.timedelta(days=step)), str(step)] for step in (1, 2, 3)]
    known = []
    for step, flag in enumerate([1, 0, 1], start=1):
        weekday = (last + datetime.timedelta(days=step)).weekday()
        angle = 2 * np.pi * weekday / 7
        known.append([np.sin(angle), np.cos(angle), flag])
    window = np.array([[float(row[1]), float(row[2])] for row in history[-5:]], np.float32)[None]
    session = ort.InferenceSession(str(folder / "with.onnx"))
    (expected,) = session.run(["forecast"], {"window": window,
                                             "known": np.array([known], np.float32)})
    assert got.shape == (3, 1)
    np.testing.assert_allclose(got, expected[0], rtol=1e-6, atol=1e-5)
    # The promotions move the forecast: the model uses them.
    assert got[0, 0] - got[1, 0] > 1.0


def test_predict_refuses_missing_future_known_values(daily, tmp_path):
    folder, *_ = daily
    path = tmp_path / "no-future.csv"
    _with_future(folder / "daily.csv", path, 200, [1, 0])  # two of the three steps
    result = run("predict", folder / "with.onnx", "--data", path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {path}: known column 'promo' has 2 of the 3 future value(s) the model needs: "
        "add 3 row(s) after the last target value, with the target empty and 'promo' filled"]


# ---------------------------------------------------------------- series embedding


@pytest.fixture(scope="module")
def store_panel(tmp_path_factory):
    """6 stores of different levels, a promotion column and monthly dates, trained with
    a series embedding, the promotions and the month; exported."""
    folder = tmp_path_factory.mktemp("embedding")
    rng = np.random.default_rng(1)
    path = folder / "stores.csv"
    months = np.datetime64("2000-01") + np.arange(80)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["store", "month", "sales", "promo"])
        for store in range(6):
            promo = (rng.random(80) < 0.25).astype(int)
            level = 10.0 * (store + 1)
            sales = level * (1 + 0.3 * promo) + 0.05 * level * rng.standard_normal(80)
            writer.writerows([f"s{store}", f"{m}-01", f"{v:.3f}", p]
                             for m, v, p in zip(months, sales, promo))
    trained = run("train", "--data", path, "--series-column", "store", "--time-column", "month",
                  "--target", "sales", "--known", "promo", "--calendar", "month",
                  "--series-embedding", "3", "--test-size", "4", "--epochs", "8", "--units", "8",
                  "--window", "6", "--horizon", "2", "-q", "--out", folder / "run",
                  "--ensemble", "1")  # one network: test_ensemble covers an embedding's K
    assert trained.exit_code == 0, trained.output
    exported = run("export", folder / "run", "--out", folder / "stores.onnx")
    assert exported.exit_code == 0, exported.output
    return folder, path


def test_embedding_round_trip(store_panel, tmp_path):
    import onnxruntime as ort

    from lstm_tf import runs

    folder, path = store_panel
    model = runs.load_model(folder / "run")  # safe_mode=True
    assert [tensor.name for tensor in model.inputs] == ["window", "known", "series"]
    assert model.get_layer("series_embedding").get_weights()[0].shape == (6, 3)
    session = ort.InferenceSession(str(folder / "stores.onnx"))
    meta = json.loads(session.get_modelmeta().custom_metadata_map["lstm_tf"])
    assert meta["panel"]["embedding"] == 3
    assert meta["panel"]["series"] == [f"s{i}" for i in range(6)]
    assert meta["inputs"] == {"window": ["batch", "time", 1], "known": ["batch", 2, 3],
                              "series": ["batch"]}
    assert meta["parity"]["passed"]

    # Future rows for s0..s4 (s5 has none), and a store the model never saw.
    rows = list(csv.reader(open(path)))
    for store in range(5):
        rows += [[f"s{store}", "2006-09-01", "", "1"], [f"s{store}", "2006-10-01", "", "0"]]
    rows += [["s9", f"{2000 + i // 12}-{i % 12 + 1:02d}-01", "5", "0"] for i in range(80)]
    rows += [["s9", "2006-09-01", "", "1"], ["s9", "2006-10-01", "", "1"]]
    latest = tmp_path / "latest.csv"
    with open(latest, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result = run("predict", folder / "stores.onnx", "--data", latest)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert any(line.startswith("skipped series s5: known column 'promo' has 0 of the 2")
               for line in lines)
    assert any(line.startswith("skipped series s9: not among the series the model was "
                               "trained on") for line in lines)
    forecast = {(parts[0], parts[2]): float(parts[3]) for parts in
                (line.split(",") for line in lines[1:] if not line.startswith("skipped"))}
    assert {series for series, _ in forecast} == {f"s{i}" for i in range(5)}

    # By hand for s3: its last 6 values, the months Sep and Oct, promotions 1, 0, index 3.
    history = [float(row[2]) for row in rows[1:] if row[0] == "s3" and row[2]][-6:]
    known = [[np.sin(2 * np.pi * m / 12), np.cos(2 * np.pi * m / 12), flag]
             for m, flag in ((8, 1), (9, 0))]
    feed = {"window": np.array(history, np.float32)[None, :, None],
            "known": np.array([known], np.float32), "series": np.array([3], np.int64)}
    (expected,) = session.run(["forecast"], feed)
    assert [forecast[("s3", "1")], forecast[("s3", "2")]] == pytest.approx(
        expected[0, :, 0].tolist(), rel=1e-6)
    # The embedding is an input that matters: another store's vector, another forecast.
    (other,) = session.run(["forecast"], {**feed, "series": np.array([0], np.int64)})
    assert not np.allclose(other, expected)


# ------------------------------------------------------------------ Node.js consumer


def test_node_consumer_feeds_known_from_the_contract(daily, tmp_path):
    """lib/lstm_tf.js builds `known` as predict does: forecast.js prints the same CSV
    text as `lstm-tf predict` (calendar continued in JavaScript, promotions from the future
    rows), forecastWindow() fed covariates by hand matches onnxruntime, and missing
    future values get the same one-line error."""
    import subprocess
    from pathlib import Path

    import onnxruntime as ort

    folder, *_ = daily
    exported = Path(__file__).resolve().parent.parent / "exported"
    assert (exported / "node_modules" / "onnxruntime-node").is_dir(), \
        "run `cd exported && ONNXRUNTIME_NODE_INSTALL=skip npm ci`"
    forecast_js = exported / "node" / "forecast.js"
    latest = tmp_path / "latest.csv"
    _with_future(folder / "daily.csv", latest, 150, [0, 1, 1])
    python = run("predict", folder / "with.onnx", "--data", latest)
    assert python.exit_code == 0, python.output
    node = subprocess.run(["node", str(forecast_js), str(folder / "with.onnx"), str(latest)],
                          capture_output=True, text=True, timeout=60)
    assert node.returncode == 0, node.stderr
    assert node.stdout == python.output

    rng = np.random.default_rng(0)
    window = np.column_stack([10 + rng.random(5), rng.random(5) < 0.3]).round(3).tolist()
    known = [[0.5, -0.5, 1.0], [0.1, 0.9, 0.0], [-1.0, 0.0, 1.0]]
    code = (
        "import fs from 'node:fs'; import ort from 'onnxruntime-node';"
        "import { loadModel, forecastWindow } from './lib/lstm_tf.js';"
        "const { session, meta } = await loadModel(ort, fs.readFileSync(process.argv[1]), 'm');"
        "const rows = await forecastWindow(ort, session, meta, JSON.parse(process.argv[2]),"
        " null, JSON.parse(process.argv[3])); console.log(JSON.stringify(rows));")
    result = subprocess.run(["node", "--input-type=module", "-e", code, str(folder / "with.onnx"),
                             json.dumps(window), json.dumps(known)], capture_output=True,
                            text=True, cwd=exported, timeout=60)
    assert result.returncode == 0, result.stderr
    session = ort.InferenceSession(str(folder / "with.onnx"))
    (expected,) = session.run(["forecast"], {"window": np.array([window], np.float32),
                                             "known": np.array([known], np.float32)})
    np.testing.assert_allclose(json.loads(result.stdout), expected[0], rtol=1e-6)

    missing = tmp_path / "missing.csv"
    _with_future(folder / "daily.csv", missing, 150, [1])
    refused = subprocess.run(["node", str(forecast_js), str(folder / "with.onnx"), str(missing)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        f"Error: {missing}: known column 'promo' has 1 of the 3 future value(s) the model "
        "needs: add 3 row(s) after the last target value, with the target empty and 'promo' "
        "filled"]
