"""The accuracy options (docs/accuracy.md): the MAE loss by default, the final fit,
--init and the learning-rate schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run
from lstm_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from lstm_tf.data import panel_csv as panel_files
from lstm_tf.data import sources

# Panel runs here train one network, not the small-panel default of five
# (lstm_tf/ensemble.py): the options tested are not the ensemble's (tests/test_ensemble.py),
# and five cost ~7 s more CPU per run.
ONE_NETWORK = ["--ensemble", "1"]
# Where the anchor and scaling are not what is tested: anchor + network under window
# scaling, one training (a panel's default, the network alone, loses to the fitted anchor
# in a few epochs and trains a second time as anchor + network, and a third under series
# scaling: test_a_panel_trains_the_network_alone_... and
# test_validation_chooses_series_scaling_... test them).
ONE_TRAINING = ["--anchor", "auto", "--scaling", "window"]


def test_the_default_loss_is_mae_and_a_saved_config_keeps_its_own():
    config = RunConfig(DataConfig(), ModelConfig(), TrainConfig())
    saved = config.to_dict()
    assert saved["train"]["loss"] == "mae"
    saved["train"]["loss"] = "mse"
    assert RunConfig.from_dict(saved).train.loss == "mse"


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    panel_files.write_long_csv(sources.synthetic_panel(series=8, length=80, seed=5), path)
    return path


def panel_options(panel_csv) -> list:
    """`lstm-tf train` options of the panel runs here: one network, anchor + network."""
    return ["--data", panel_csv, "--series-column", "series", "--time-column", "time",
            "--window", "12", "--horizon", "3", "--test-size", "3", "--units", "8",
            *ONE_NETWORK, *ONE_TRAINING, "-q"]


@pytest.fixture(scope="module")
def panel_run(panel_csv, tmp_path_factory):
    """The panel trained 2 epochs (panel_options): the run whose loss is recorded and the
    source of --init, trained once. Read-only."""
    out = tmp_path_factory.mktemp("panel-run") / "run"
    done = run("train", *panel_options(panel_csv), "--epochs", "2", "--out", out)
    assert done.exit_code == 0, done.output
    return out


def test_panel_run_records_its_loss(panel_run):
    out = panel_run
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["loss"] == "mae"
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and all(np.isfinite(float(v)) for v in history[1].split(",")[1:])


def test_final_fit_reads_no_test_row(panel_csv):
    from lstm_tf.data.prepare import load_prepared
    from lstm_tf.train import final_starts

    config = DataConfig(dataset=None, path=str(panel_csv), series_column="series",
                        time_column="time", window=12, horizon=3, test_size=3)
    prepared, _ = load_prepared(config)
    starts = final_starts(prepared)
    assert len(starts) == len(prepared.starts["train"]) + len(prepared.starts["val"])
    series = prepared.series_index(starts)
    # every window's last target row lies before its series' test part
    assert (starts + config.horizon <= prepared.split.val_end[series]).all()
    assert (starts + config.horizon == prepared.split.val_end[series]).sum() == 8


def test_final_fit_trains_the_best_epochs_on_every_row_before_the_test_part(tmp_path):
    import keras

    common = ["train", "--dataset", "sunspots", "--horizon", "6", "--test-size", "6",
              "--epochs", "3", "--patience", "0", "--units", "8", "-q"]
    outs = {name: tmp_path / name for name in ("plain", "final", "again")}
    for name, out in outs.items():
        done = run(*common, *([] if name == "plain" else ["--final"]), "--out", out)
        assert done.exit_code == 0, done.output
    metrics = {n: json.loads((o / "metrics.json").read_text()) for n, o in outs.items()}
    assert "final_fit_epochs" not in metrics["plain"]
    assert metrics["final"]["final_fit_epochs"] == 3
    assert json.loads((outs["final"] / "config.json").read_text())["train"]["final"] is True
    weights = {n: keras.models.load_model(o / "model.keras").get_layer("lstm_0").get_weights()[0]
               for n, o in outs.items()}
    assert not np.allclose(weights["plain"], weights["final"])  # trained on more windows
    assert np.array_equal(weights["final"], weights["again"])  # --seed reproduces it
    assert metrics["final"]["model"]["mae"] == metrics["again"]["model"]["mae"]


def test_init_starts_from_another_runs_weights(panel_csv, panel_run, tmp_path):
    import keras

    common = ["train", *panel_options(panel_csv)]
    source, tuned = panel_run, tmp_path / "tuned"  # the source: trained --epochs 2
    # A learning rate too small to move anything: the tuned run keeps the source's weights.
    done = run(*common, "--epochs", "1", "--learning-rate", "1e-12", "--patience", "0",
               "--init", source, "--seed", "7", "--out", tuned)
    assert done.exit_code == 0, done.output
    weights = [keras.models.load_model(out / "model.keras").get_layer("lstm_0").get_weights()
               for out in (source, tuned)]
    for mine, theirs in zip(*weights):
        assert np.allclose(mine, theirs, atol=1e-6)
    assert json.loads((tuned / "config.json").read_text())["train"]["init"] == str(source)
    wrong = run(*common, "--epochs", "1", "--units", "16", "--init", source, "--out",
                tmp_path / "wrong")
    assert wrong.exit_code != 0
    assert wrong.output.strip().splitlines()[-1].startswith(f"Error: --init {source}: its network")


def test_plateau_schedule_halves_the_learning_rate_where_validation_stalls():
    from lstm_tf.errors import UserError
    from lstm_tf.schedules import schedule_callbacks

    assert schedule_callbacks(TrainConfig()) == []
    (plateau,) = schedule_callbacks(TrainConfig(lr_schedule="plateau", patience=12,
                                                learning_rate=0.004))
    assert (plateau.factor, plateau.patience, plateau.min_lr) == (0.5, 4, 0.004 / 32)
    with pytest.raises(UserError, match="--lr-schedule 'cosine'"):
        TrainConfig(lr_schedule="cosine").validate()


def test_plateau_schedule_acts_on_the_optimizer():
    import keras

    from lstm_tf.schedules import schedule_callbacks

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.004), loss="mae")
    (plateau,) = schedule_callbacks(TrainConfig(lr_schedule="plateau", patience=6,
                                                learning_rate=0.004))
    plateau.set_model(model)
    plateau.on_train_begin()
    rates = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95]):
        plateau.on_epoch_end(epoch, {"val_loss": val_loss})
        rates.append(round(float(model.optimizer.learning_rate), 6))
    # patience 6 // 3 = 2 stalled epochs after the best (0.9) halve the rate, then again
    assert rates == [0.004, 0.004, 0.004, 0.002, 0.002, 0.001, 0.001]


def test_naive_anchors_forecast_the_last_value_and_the_last_season():
    from lstm_tf.anchors import naive_anchors

    window = np.arange(24, dtype=float)[None, :, None] ** 1.5  # [1 window, 24 rows, 1 column]
    found = naive_anchors(horizon=6, n_targets=1, season=4, window=24)
    assert sorted(found) == ["last", "season"]
    assert np.allclose(found["last"].forecast(window, 1)[0, :, 0], window[0, -1, 0])
    # step k (1..6) repeats the row one season (4 rows) before it, two seasons for k > 4
    expected = [window[0, 24 - 4 + k - 1 - (4 if k > 4 else 0), 0] for k in range(1, 7)]
    assert np.allclose(found["season"].forecast(window, 1)[0, :, 0], expected)
    assert sorted(naive_anchors(6, 1, season=30, window=24)) == ["last"]  # no room for it
    assert sorted(naive_anchors(6, 1, season=None, window=24)) == ["last"]


def _settling_series(path):
    """A noisy sine for 150 rows, then constant at 5.0: every validation and test window
    of a 12-row window lies in the constant part, where naive persistence is exact."""
    rng = np.random.default_rng(0)
    values = np.concatenate([np.sin(np.arange(150) / 3) + rng.normal(0, 0.3, 150),
                             np.full(100, 5.0)])
    path.write_text("value\n" + "\n".join(f"{v:.6f}" for v in values) + "\n")
    return path


@pytest.mark.parametrize("options", [[], ["--no-floor"], ["--anchor", "none"]])
def test_the_floor_forecasts_naive_where_it_beats_the_model_on_validation(tmp_path,
                                                                          options):
    csv = _settling_series(tmp_path / "settling.csv")
    out = tmp_path / "run"
    # ar-level: a regression of the values, which reverts towards the training rows'
    # mean, so neither it nor the network alone is exactly constant
    anchor = [] if "--anchor" in options else ["--anchor", "ar-level"]
    done = run("train", "--data", csv, "--window", "12", "--horizon", "4", "--test-size", "12",
               *anchor, "--epochs", "2", "--units", "8", "-q", "--out", out, *options)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    if not options:
        # naive persistence is exact on the constant validation windows: it takes over
        assert "naive persistence beats the model" in done.output
        assert metrics["floor"] == "last" and metrics["network_kept"] is False
        assert config["anchor"]["parts"] == [["last"]]
        assert metrics["model"]["mae"] < 1e-5  # the test part is constant too
    else:  # turned off, or the network alone asked for by name
        assert metrics["floor"] is None
        assert config["anchor"]["parts"] == [["none" if anchor == [] else "ar-level"]]
        assert config["train"]["floor"] is ("--no-floor" not in options)
        assert metrics["model"]["mae"] > 1e-3


def _ramps_csv(path):
    """A panel of 6 straight lines of different levels and slopes: every window, scaled by
    its own statistics, is the same ramp, which the fitted anchor continues exactly."""
    lines = ["series,time,value"]
    for i in range(6):
        lines += [f"s{i},{t},{10 * (i + 1) + (i + 1) * 0.5 * t:.4f}" for t in range(60)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_panel_trains_the_network_alone_with_the_fitted_anchor_as_its_fallback(tmp_path):
    from lstm_tf.data.prepare import load_prepared

    csv = _ramps_csv(tmp_path / "ramps.csv")
    options = dict(dataset=None, path=str(csv), series_column="series", time_column="time",
                   horizon=3, test_size=3, window=8)
    default = DataConfig(**options)
    prepared, _ = load_prepared(default)
    assert default.anchor == "network"  # the panel default, recorded as chosen
    assert prepared.anchor.kind == "none" and prepared.fallback is not None
    assert prepared.fallback.kind != "none"  # what auto chooses
    chosen, _ = load_prepared(DataConfig(**options, anchor="auto"))
    assert chosen.fallback is None
    assert np.allclose(chosen.anchor.weights, prepared.fallback.weights)

    out = tmp_path / "run"
    done = run("train", "--data", csv, "--series-column", "series", "--time-column", "time",
               "--window", "8", "--horizon", "3", "--test-size", "3", "--epochs", "2",
               "--units", "8", *ONE_NETWORK, "-q", "--out", out)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    # the network alone, two epochs in, is not exact; the anchor continues every ramp
    assert metrics["floor"] == "anchor" and metrics["network_kept"] is False
    assert config["data"]["anchor"] == "network"
    assert config["anchor"]["weights"] == prepared.fallback.to_dict()["weights"]
    assert "the fitted anchor alone beats the model" in done.output
    assert metrics["model"]["mase"] < 1e-3
    assert metrics["floor_validation"]["anchor"] < metrics["floor_validation"]["model"]
    # so anchor + network (anchor auto: the same anchor) trained as well; its network
    # cannot improve on an exact anchor and is zeroed: no better, the first run stays
    assert "training the anchor + network as well" in done.output
    second = metrics["second_training"]
    assert second["anchor"] == "auto" and second["network_kept"] is False
    assert second["validation_mae"] == pytest.approx(metrics["floor_validation"]["anchor"])
    assert not list(tmp_path.glob(".run.*"))  # nothing of it left beside the run


def test_a_constant_series_is_forecast_not_refused(tmp_path):
    """A series constant before its test part holds windows, a horizon and a held-out
    block: it trains (std 1 in place of its zero spread, as a panel's constant series
    always did) and forecasts its value; a constant feature is still refused."""
    csv = tmp_path / "flat.csv"
    csv.write_text("value\n" + "7.25\n" * 60)
    out = tmp_path / "run"
    done = run("train", "--data", csv, "--horizon", "6", "--test-size", "6", "--epochs", "2",
               "--units", "4", "-q", "--out", out)
    assert done.exit_code == 0, done.output
    config = json.loads((out / "config.json").read_text())
    assert config["scaler"] == {"columns": ["value"], "mean": [7.25], "std": [1.0]}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["mae"] < 1e-6 and metrics["naive"]["mae"] == 0.0


def test_train_notes_a_time_column_that_skips_a_month(tmp_path):
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(61) if i != 30]
    csv = tmp_path / "gap.csv"
    csv.write_text("date,value\n" + "".join(f"{m},{np.sin(i / 2):.5f}\n"
                                            for i, m in enumerate(months)))
    done = run("train", "--data", csv, "--horizon", "3", "--test-size", "3", "--epochs", "1",
               "--units", "4", "--out", tmp_path / "run")
    assert done.exit_code == 0, done.output
    assert ("note: the time column skips steps in 1 place(s), the first after 2002-06-01 "
            "(61 days where the usual spacing is 31 days)") in done.output


def test_validation_chooses_series_scaling_where_each_series_reverts_to_its_own_mean(tmp_path):
    """Six AR(1) series (phi 0.3) around means 10-60: a 3-row window scaled by its own
    statistics cannot tell where its series reverts to, each series' own z-scores can.
    Trained without --scaling, the panel also trains under series scaling (anchor auto)
    and keeps it: its validation MAE is more than 2% lower, and the run records the
    window-scaled training's figures."""
    rng = np.random.default_rng(3)
    lines = ["series,time,value"]
    for i in range(6):
        mean = level = 10.0 * (i + 1)
        for t in range(120):
            level = mean + 0.3 * (level - mean) + rng.normal(0, 1.0)
            lines.append(f"s{i},{t},{level:.4f}")
    csv = tmp_path / "ar.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    done = run("train", "--data", csv, "--series-column", "series", "--time-column", "time",
               "--window", "3", "--horizon", "3", "--test-size", "3", "--epochs", "3",
               "--units", "4", *ONE_NETWORK, "--out", out)
    assert done.exit_code == 0, done.output
    assert "scaled by its own statistics as well" in done.output
    assert "series scaling beat the run on the validation windows" in done.output
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["data"]["scaling"] == "series" and config["panel"]["scaling"] == "series"
    assert config["data"]["anchor"] == "auto"
    chosen = metrics["floor_validation"][metrics["floor"] or "model"]
    window = metrics["window_scaling_training"]
    assert window["scaling"] == "window"
    assert chosen < 0.98 * window["validation_mae"]
    assert "series_scaling_training" not in metrics
    assert not list(tmp_path.glob(".run.*"))  # the window-scaled run is gone
