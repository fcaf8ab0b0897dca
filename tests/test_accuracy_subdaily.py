"""The defaults the sub-daily and weekly series measured (docs/accuracy.md, "Sub-daily and
weekly series"): the keep rule's early-epoch clause (`train.early_best_epoch`), the
ar-season anchor candidate and a single series' capped epoch (`SERIES_EPOCH_WINDOWS`)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import run
from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from lstm_tf.train import EARLY_EPOCHS, early_best_epoch


def _config(panel: dict | None = None, patience: int = 10) -> RunConfig:
    config = RunConfig(DataConfig(), ModelConfig(), TrainConfig(patience=patience))
    config.panel = panel
    return config


@pytest.mark.parametrize(("best", "wait", "panel", "patience", "early"), [
    (EARLY_EPOCHS, 10, None, 10, True),  # stopped early after an early best: zeroed
    (1, 10, None, 10, True),
    (EARLY_EPOCHS + 1, 10, None, 10, False),  # a later best epoch: the keep rule decides
    (2, 3, None, 10, False),  # not stopped (the epochs ran out first)
    (2, 10, {"series": ["a", "b"]}, 10, False),  # a panel: its validation spans many series
    (2, 0, None, 0, False),  # no early stopping at all
    (None, 10, None, 10, False),
])
def test_an_early_best_epoch_counts_only_for_a_single_series_stopped_early(best, wait, panel,
                                                                            patience, early):
    tracker = SimpleNamespace(best_epoch=best, wait=wait)
    assert early_best_epoch(_config(panel, patience), tracker) is early


SLOPE, HORIZON, SEASON = 0.5, 3, 4


def test_a_network_better_on_validation_at_an_early_epoch_is_zeroed(tmp_path, monkeypatch):
    """Anchor `season` on a straight line (it misses every step by 4 x SLOPE); the trained
    network adds 5.5 x SLOPE, so anchor + network misses by 1.5 x SLOPE on validation and
    would be kept. Told that its best epoch was 2 and that early stopping then ran out of
    patience, training zeroes it: the run forecasts its anchor (MAE 4 x SLOPE) and says why."""
    from lstm_tf import train as train_lib

    fit = train_lib.fit

    def fit_then_push(model, train_set, val_set, steps, config, tracker, *rest, **kwargs):
        seconds = fit(model, train_set, val_set, steps, config, tracker, *rest, **kwargs)
        std = config.scaler["std"][0]  # the network's output is in training z-scores
        head = model.get_layer("head")
        kernel, bias = head.get_weights()
        head.set_weights([np.zeros_like(kernel), np.full_like(bias, 5.5 * SLOPE / std)])
        tracker.best_epoch, tracker.wait = 2, config.train.patience
        return seconds

    monkeypatch.setattr(train_lib, "fit", fit_then_push)
    csv = tmp_path / "line.csv"
    csv.write_text("value\n" + "".join(f"{10 + SLOPE * t:.6f}\n" for t in range(120)))
    out = tmp_path / "run"
    done = run("train", "--data", csv, "--window", "12", "--horizon", HORIZON, "--season",
               SEASON, "--anchor", "season", "--epochs", "1", "--units", "4", "--no-floor",
               "-q", "--out", out)
    assert done.exit_code == 0, done.output
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    assert metrics["network_kept"] is False and metrics["best_epoch"] == 2
    assert metrics["model"]["mae"] == pytest.approx(SEASON * SLOPE, rel=1e-3)
    assert f"after its first {EARLY_EPOCHS} epochs" in done.output


def test_ar_season_is_seasonal_naive_plus_what_it_misses_and_needs_two_seasons():
    """On a season plus a trend (sin of period 4 + 0.01 t) the seasonal naive forecast
    misses step k by 0.01 x 4 x ceil(k / 4); ar-season learns that from the window's
    seasonal differences and forecasts exactly; `auto` weighs it only where the window
    holds two seasons, and not in window-scaled units (a panel's default)."""
    from lstm_tf import anchors

    season, window, horizon = 4, 12, 6
    t = np.arange(400)
    column = np.sin(2 * np.pi * t / season) + 0.01 * t
    train, val = np.arange(window, 300), np.arange(300, 390)
    options = anchors.fit_candidates(column, train, val, horizon, season, window)
    weights, bias, error = options["ar-season"]
    assert weights.shape == (horizon, window) and not bias.any()
    assert error.max() < 1e-4  # validation MAE per step
    missed = 0.01 * season * np.ceil(np.arange(1, horizon + 1) / season)
    np.testing.assert_allclose(options["season"][2], missed, rtol=1e-6)
    windows = column[val[:, None] + np.arange(-window, 0)]
    future = column[val[:, None] + np.arange(horizon)]
    np.testing.assert_allclose(windows @ weights.T, future, atol=1e-4)
    assert "ar-season" not in anchors.fit_candidates(column, train, val, horizon, season,
                                                     2 * season - 1)
    assert "ar-season" not in anchors.fit_candidates(column, train, val, horizon, season,
                                                     window, window_scaled=True)


def test_a_capped_epoch_is_the_start_of_that_epochs_order_and_differs_by_epoch():
    """`make_dataset(per_epoch=N)`: each training pass is the first N windows of the pass's
    own order (drawn from (seed, epoch) alone, as without the cap), so epochs see
    different samples and a resumed run the same ones."""
    from lstm_tf.data import make_dataset

    values = np.arange(200, dtype=np.float64)[:, None]  # a window's last input is t - 1
    starts = np.arange(10, 190)

    def last_inputs(per_epoch, epochs):
        found = make_dataset(values, starts, 10, 1, 1, 8, shuffle=True, seed=3,
                             epochs=epochs, per_epoch=per_epoch)
        return np.concatenate([x.numpy()[:, -1, 0] for x, _ in found]).astype(int) + 1

    full = last_inputs(None, range(0, 2))  # two passes of 180 windows
    capped = last_inputs(40, range(0, 2))  # two passes of 40
    assert len(capped) == 80 and len(set(capped[:40])) == 40
    np.testing.assert_array_equal(capped[:40], full[:40])
    np.testing.assert_array_equal(capped[40:], full[180:220])
    assert set(capped[:40]) != set(capped[40:])
    np.testing.assert_array_equal(last_inputs(40, range(1, 2)), capped[40:])  # resumed


def test_a_single_series_epoch_holds_at_most_its_cap_of_training_windows(monkeypatch):
    """`train.datasets`: steps per epoch of a single series follow SERIES_EPOCH_WINDOWS."""
    from lstm_tf import train as train_lib
    from lstm_tf.data.prepare import load_prepared

    monkeypatch.setattr(train_lib, "SERIES_EPOCH_WINDOWS", 64)
    config = RunConfig(DataConfig(dataset="elnino", horizon=3, window=12), ModelConfig(),
                       TrainConfig(batch_size=16))
    prepared, config.panel = load_prepared(config.data)
    assert len(prepared.starts["train"]) > 64
    _, _, steps = train_lib.datasets(prepared, config, 0)
    assert steps == 4


def test_a_panel_epoch_holds_at_most_its_cap_of_training_windows(monkeypatch):
    """`train.datasets`: steps per epoch of a panel follow PANEL_EPOCH_WINDOWS (every
    window below it)."""
    from lstm_tf import train as train_lib
    from lstm_tf.data.prepare import load_prepared

    config = RunConfig(DataConfig(dataset="us-employment", horizon=6, window=12),
                       ModelConfig(), TrainConfig(batch_size=16))
    prepared, config.panel = load_prepared(config.data)
    windows = len(prepared.starts["train"])
    assert windows > 64 and config.panel
    assert train_lib.datasets(prepared, config, 0)[2] == -(-windows // 16)  # all of them
    monkeypatch.setattr(train_lib, "PANEL_EPOCH_WINDOWS", 64)
    assert train_lib.datasets(prepared, config, 0)[2] == 4
