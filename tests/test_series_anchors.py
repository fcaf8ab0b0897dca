"""Series anchors: each series of a panel its own linear forecast (lstm_tf/series_anchors.py),
chosen by the floor, inside the exported graph and served by predict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run
from lstm_tf import anchors, series_anchors
from lstm_tf.errors import UserError
from lstm_tf.forecaster import Forecaster

PATTERN = np.array([3.0, 1.0, -2.0, 0.5, -1.5, -1.0])  # a season of 6


def _stacked(columns):
    lengths = [len(column) for column in columns]
    return (np.concatenate(columns)[:, None],
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def test_exact_series_are_continued_exactly():
    # A pure season and a pure line at very different levels: each series' own choice
    # (seasonal candidates and sarima for the one, trends and ARIMAs for the other)
    # continues it exactly, in raw units.
    t = np.arange(84.0)
    season = 5e4 + 30 * np.tile(PATTERN, 14)
    line = -20.0 + 0.7 * t
    values, offsets = _stacked([season[:72], line[:72]])
    fitted = series_anchors.fit(values, offsets, offsets[1:], 1, 6, 18, 12)
    windows = np.stack([season[72 - fitted.reach:72], line[72 - fitted.reach:72]])[..., None]
    forecast = fitted.forecast(windows, np.array([0, 1]))
    np.testing.assert_allclose(forecast[0, :, 0], season[72:], atol=1e-6)
    np.testing.assert_allclose(forecast[1, :, 0], line[72:], atol=1e-6)
    assert fitted.share == 1.0 and fitted.weights.shape == (2, 1, 12, fitted.reach)
    assert any("season" in name for name in fitted.parts[0][0])


def test_each_series_is_its_single_series_choice():
    rng = np.random.default_rng(4)
    columns = [np.cumsum(rng.normal(0.3, 1.0, 60)) + 100, rng.normal(5.0, 2.0, 50)]
    values, offsets = _stacked(columns)
    ends = offsets[1:] - 8  # the rows before a held-out block
    fitted = series_anchors.fit(values, offsets, ends, 1, None, 10, 4)
    for i, column in enumerate(columns):
        rows = column[:len(column) - 8]
        z = (rows - rows.mean()) / rows.std()
        starts = np.arange(10, len(rows) - 4 + 1)
        alone, _ = anchors.choose(z[:, None], starts, starts, 4, 1, None, 10,
                                  fixed_only=True, history=True)
        expected = alone.forecast(z[None, -10:, None], 1)[0, :, 0] * rows.std() + rows.mean()
        got = fitted.forecast(rows[None, -fitted.reach:, None], np.array([i]))[0, :, 0]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
        assert fitted.parts[i] == alone.parts


def test_a_series_without_a_window_forecasts_its_last_value():
    values, offsets = _stacked([np.arange(40.0), np.array([7.0, 9.0, 8.0])])
    fitted = series_anchors.fit(values, offsets, offsets[1:], 1, None, 6, 3)
    window = np.zeros((1, fitted.reach, 1))
    window[0, -3:, 0] = [7.0, 9.0, 8.0]
    np.testing.assert_allclose(fitted.forecast(window, np.array([1]))[0, :, 0], [8.0] * 3)
    assert fitted.parts[1] == [["last"]]


def test_tensorflow_side_equals_numpy_side():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    columns = [rng.normal(1e3 * (i + 1), 10 * (i + 1), 70).cumsum() for i in range(3)]
    values, offsets = _stacked(columns)
    fitted = series_anchors.fit(values, offsets, offsets[1:], 1, 4, 12, 5).with_share(0.5)
    windows = np.stack([column[-12:] for column in columns] * 2)[..., None]
    series = np.array([0, 1, 2, 2, 0, 1])
    expected = fitted.forecast(windows, series)
    got = fitted.tf_forecast(tf.constant(windows, tf.float32), tf.constant(series, tf.int64))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got.numpy(), expected, atol=2e-7 * scale)


def test_round_trip_and_bad_shapes():
    values, offsets = _stacked([np.sin(np.arange(50.0)), np.cos(np.arange(40.0))])
    fitted = series_anchors.fit(values, offsets, offsets[1:], 1, None, 8, 3).with_share(0.5)
    saved = json.loads(json.dumps(fitted.to_dict()))
    again = series_anchors.SeriesAnchor.from_dict(saved)
    windows = np.stack([values[42:50], values[82:90]])
    np.testing.assert_array_equal(again.forecast(windows, np.array([0, 1])),
                                  fitted.forecast(windows, np.array([0, 1])))
    assert again.share == 0.5 and saved["series"] == 2
    saved["bias"] = saved["bias"][0]
    with pytest.raises(UserError, match="series anchors"):
        series_anchors.SeriesAnchor.from_dict(saved)
    assert series_anchors.SeriesAnchor.from_dict(None) is None


def test_the_panels_it_fits():
    assert series_anchors.fits(150 * 300, 150, 1, 18, 36)
    assert not series_anchors.fits(series_anchors.MAX_ROWS + 1, 10, 1, 1, 1)
    assert series_anchors.fits(4000, 400, 2, 48, 100)  # 3.84 million weights
    assert not series_anchors.fits(4500, 450, 2, 48, 100)  # 4.32 million


def _write_seasons_and_trends(path, length, pattern, levels, slope, noise, seed):
    """A long CSV of six series: the even ones `pattern` repeated (scaled by s + 1) around
    levels[0], the odd ones a line from levels[1] of slope (s + 1) * slope; plus noise."""
    rng = np.random.default_rng(seed)
    rows = ["series,step,value"]
    t = np.arange(length)
    for s in range(6):
        values = (levels[0] + (s + 1) * np.resize(pattern, length) if s % 2 == 0
                  else levels[1] + (s + 1) * slope * t) + rng.normal(0, noise, length)
        rows += [f"s{s},{i},{x:.4f}" for i, x in enumerate(values)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _train_panel(data, out, season, horizon, *options):
    return run("train", "--data", data, "--series-column", "series", "--time-column", "step",
               "--season", season, "--horizon", horizon, "--test-size", horizon,
               "--units", "4", "--ensemble", "1", "-q", *options, "--out", out)


@pytest.fixture(scope="module")
def seasons_and_trends(tmp_path_factory):
    """Three seasonal and three trending series (a global anchor serves neither kind
    alone), trained a single epoch (the network loses): the floor takes series anchors;
    the run exported."""
    folder = tmp_path_factory.mktemp("series-anchors")
    data = _write_seasons_and_trends(folder / "panel.csv", 90, PATTERN, (50, 100), 0.8, 0.1, 0)
    out = folder / "run"
    trained = _train_panel(data, out, 6, 6, "--epochs", "1", "--seed", "1")
    assert trained.exit_code == 0, trained.output
    exported = run("export", out, "--out", folder / "model.onnx")
    assert exported.exit_code == 0, exported.output
    return data, out, folder / "model.onnx", trained.output, exported.output


def test_the_floor_takes_series_anchors(seasons_and_trends):
    _, out, _, output, _ = seasons_and_trends
    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["floor_validation"]
    assert metrics["floor"] == "series" and not metrics["network_kept"]
    assert scores["series"] == min(scores.values()) < scores["model"]
    assert "each series' own anchor beats the model" in output
    config = json.loads((out / "config.json").read_text())
    assert config["series_anchor"]["share"] == 1.0 and config["series_anchor"]["series"] == 6
    # Each series continued by its own kind of forecast: the held-out block at well under
    # half the seasonal naive forecast's error (which misses every trend).
    assert metrics["model"]["mase"] < 0.5 * metrics["seasonal_naive"]["mase"]


def test_the_graph_takes_the_series_and_predict_serves_it(seasons_and_trends, tmp_path):
    import onnx

    from lstm_tf import runs

    data, out, model, _, exported = seasons_and_trends
    assert "parity PASSED" in exported
    meta = json.loads(onnx.load(str(model)).metadata_props[0].value)
    assert meta["inputs"]["series"] == ["batch"]
    assert meta["panel"]["series_anchor"]["share"] == 1.0
    assert meta["panel"]["series"] == [f"s{s}" for s in range(6)]
    # predict (onnxruntime) equals the run's NumPy forecaster on each series' last window.
    forecast = tmp_path / "forecast.csv"
    predicted = run("predict", model, "--data", data, "--series-column", "series",
                    "--out", forecast)
    assert predicted.exit_code == 0, predicted.output
    rows = [line.split(",") for line in forecast.read_text().splitlines()[1:]]
    got = {(name, int(step)): float(value) for name, _, step, value in rows}
    config = runs.load_config(out)
    table = np.loadtxt(data, delimiter=",", skiprows=1, usecols=2).reshape(6, 90)
    window = config.data.window
    expected = Forecaster.of_run(config).forecast(None, table[:, -window:, None], np.arange(6))
    for s in range(6):
        np.testing.assert_allclose([got[(f"s{s}", k + 1)] for k in range(6)],
                                   expected[s, :, 0], rtol=1e-5)
    # A series the model never saw has no anchor of its own: skipped, with the reason.
    unseen = tmp_path / "unseen.csv"
    unseen.write_text(data.read_text() + "".join(f"new,{i},{i}.5\n" for i in range(40)))
    again = run("predict", model, "--data", unseen, "--series-column", "series",
                "--out", tmp_path / "again.csv")
    assert again.exit_code == 0, again.output
    assert "own anchor" in again.output


def test_in_sample_scores_need_a_clear_edge():
    from lstm_tf.train import series_scored_fairly

    grunfeld = {"model": 1.455, "series": 1.387}  # 5% ahead, on the windows it chose on
    fertility = {"model": 1.698, "series": 0.573}
    assert not series_scored_fairly(grunfeld, in_sample=True)
    assert series_scored_fairly(fertility, in_sample=True)
    assert series_scored_fairly(grunfeld, in_sample=False)  # validation windows: any edge


def test_a_panel_without_validation_takes_them_on_a_clear_edge(tmp_path):
    # 14 rows a series, horizon 4: no validation part (the network is not trained); each
    # series' own seasonal or trend forecast beats the global anchor by far.
    data = _write_seasons_and_trends(tmp_path / "short.csv", 14, PATTERN[:4], (10, 5), -0.6,
                                     0.05, 2)
    out = tmp_path / "run"
    trained = _train_panel(data, out, 4, 4)
    assert trained.exit_code == 0, trained.output
    assert "no validation part" in trained.output
    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["floor_validation"]
    assert metrics["floor"] == "series"
    assert 1.1 * scores["series"] < scores["model"]
    assert metrics["model"]["mase"] < metrics["seasonal_naive"]["mase"]


def test_every_installed_runtime_serves_the_series_anchors(seasons_and_trends):
    from lstm_tf import runtimes

    _, out, model, _, _ = seasons_and_trends
    report = runtimes.compare(model, out, windows=4, budget=0.02)
    rows = {row.runtime: row for row in report.rows}
    assert {"onnxruntime", "node"} <= {name for name, row in rows.items() if row.version}
    for row in rows.values():
        if row.version is not None:
            assert row.failure is None, (row.runtime, row.failure)
            assert row.vs_onnxruntime <= 1e-5 and row.vs_keras <= 1e-5, row
    assert report.passed


def test_node_forecasts_one_series_as_predict_does(seasons_and_trends, tmp_path):
    # forecast.js (exported/node) fed one series' rows and its name: the same forecast as
    # `lstm-tf predict`, under the file's time column `step` continued and `horizon_step`.
    import subprocess
    from pathlib import Path

    data, _, model, _, _ = seasons_and_trends
    exported = Path(__file__).resolve().parent.parent / "exported"
    assert (exported / "node_modules" / "onnxruntime-node").is_dir(), \
        "run `cd exported && ONNXRUNTIME_NODE_INSTALL=skip npm ci`"
    lines = data.read_text().splitlines()
    one = tmp_path / "s3.csv"
    one.write_text("step,value\n" + "".join(line.split(",", 1)[1] + "\n"
                                            for line in lines[1:] if line.startswith("s3,")))
    node = subprocess.run(["node", str(exported / "node" / "forecast.js"), str(model), str(one),
                           "--series", "s3"], capture_output=True, text=True, timeout=60)
    assert node.returncode == 0, node.stderr
    python = run("predict", model, "--data", data, "--series-column", "series")
    assert python.exit_code == 0, python.output
    expected = [line.split(",", 1)[1] for line in python.output.splitlines()
                if line.startswith("s3,")]
    assert node.stdout.splitlines() == ["step,horizon_step,value"] + expected
