"""Training and evaluation, read top to bottom: load → split → scale → window → fit → evaluate."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import data as data_lib
from . import metrics as metrics_lib
from . import progress
from . import quantiles as quantiles_lib
from . import runs
from .atomic import atomic_path, disk_full_as_user_error, disk_full_message, exclusive, \
    refuse_overwrite, write_json, write_text
from .config import DataConfig, RunConfig, TrainConfig, library_versions
from .data.prepare import Prepared, SeriesScaler, evaluation_data, load_prepared
from .errors import DiskFull, UserError
from .figures import pyplot, save_figure


def train(config: RunConfig, out: str | Path, force: bool = False, verbose: int = 1,
          log: Callable[[str], None] = print, resume: bool = False) -> dict:
    """Train a forecaster and write a complete run directory at `out`. Returns its metrics.

    An interrupted run (Ctrl-C, SIGTERM) leaves its state beside `out` (see
    `progress`); `resume=True` continues it (use `resume_training`).

    One writer at a time: a second `train` (or `--resume`) of the same `out` started
    while this one runs stops at once with a one-line error (`atomic.exclusive`). A
    disk that fills up stops it with a one-line error naming `out`; the earlier run
    there is intact and nothing partial is left (not even the resumable state of a
    fresh run).
    """
    from .devices import is_chief

    if not is_chief(config.train.strategy):  # a worker writes only its own temporaries
        return _train(config, out, force, verbose, log, resume)
    state = progress.state_dir(out)
    had_state = state.exists()
    with exclusive(out, "run directory"):
        try:
            with disk_full_as_user_error(out):
                return _train(config, out, force, verbose, log, resume)
        except DiskFull:
            if not had_state:
                progress.discard(state)
            # (A file in the hidden staging directory may have been named: name the run.)
            raise DiskFull(disk_full_message(out)) from None


def _train(config: RunConfig, out: str | Path, force: bool, verbose: int,
           log: Callable[[str], None], resume: bool) -> dict:
    from .devices import batches_per_epoch, even_shards, is_chief, run_report, with_data_sharding
    from .models import build_model, local_copy
    from .tf_setup import set_op_determinism

    config.validate()
    chief = is_chief(config.train.strategy)  # only the chief writes the run
    if chief:  # fail before the slow part
        refuse_overwrite(out, force, "run directory")
    state = progress.state_dir(out) if chief else Path(tempfile.mkdtemp(prefix="lstm-tf-state-"))
    if chief and not resume and progress.load_progress(state) is not None:
        if not force:
            raise UserError(f"an interrupted run's state is kept in {state}; continue it with "
                            f"`lstm-tf train --resume {out}`, or pass --force to start over")
        progress.discard(state)
    prepared, config.panel = load_prepared(config.data)
    series = prepared.series
    if config.model.series_embedding and not config.panel:
        raise UserError("--series-embedding learns a vector per series of a panel; this data is "
                        "a single series (give --series-column or --columns-as-series)")
    prepared.series_input = bool(config.model.series_embedding)
    config.covariates = (prepared.covariate_spec.to_dict()
                         if prepared.covariate_spec is not None else None)
    config.scaler = scaler_record(prepared)
    config.split = (prepared.split.to_dict() if config.panel else
                    {"train_end": prepared.split.train_end, "val_end": prepared.split.val_end,
                     "rows": prepared.split.rows})
    config.anchor = prepared.anchor.to_dict()
    config.versions = library_versions()

    strategy, policy = start_tensorflow(config.train, config.data.window, config.model.layers)
    import keras

    state.mkdir(parents=True, exist_ok=True)
    write_json(state / runs.CONFIG_FILE, config.to_dict())
    tracker = progress.progress_callback(state, config.train.patience)
    done = tracker.epochs_done  # > 0 when resuming
    data, n_targets = config.data, len(series.targets)
    # batch_size is the global batch: the strategy splits each batch across its replicas
    # (even_shards: every batch cut to a multiple of the replicas, so none gets 0 windows).
    replicas = config.train.replicas
    batches = {part: batches_per_epoch(len(prepared.starts[part]), config.train.batch_size,
                                       replicas) for part in ("train", "val")}
    train_set, val_set = (
        with_data_sharding(even_shards(data_lib.make_dataset(
            prepared.scaled, prepared.starts[part], data.window, data.horizon, n_targets,
            config.train.batch_size, shuffle=part == "train", seed=config.train.seed,
            epochs=range(done, config.train.epochs), anchor=prepared.anchor,
            window_scaled=prepared.window_scaled, window_measure=prepared.window_measure,
            covariates=prepared.covariates,
            row_series=series.series_index() if prepared.series_input else None),
            replicas, batches=None if part == "train" else batches[part]))  # train: epochs
        for part in ("train", "val"))
    steps_per_epoch = batches["train"]
    # Keras runs `steps_per_execution` steps per call even across an epoch's end; a
    # divisor of the epoch keeps every epoch on its own batches.
    config.train.steps_per_execution = largest_divisor(steps_per_epoch,
                                                       config.train.steps_per_execution)
    with strategy.scope():  # variables and optimizer state live on every replica
        model = build_model(config.model, features=len(series.columns), horizon=data.horizon,
                            targets=n_targets, dtype_policy=policy,
                            unroll_window=data.window if config.train.unroll else None,
                            zero_head=prepared.anchor.relative_inputs,
                            covariates=(prepared.covariate_spec.count
                                        if prepared.covariate_spec else 0),
                            series_count=len(series.names) if prepared.series_input else 0)
        if config.train.init and not done:  # (a resumed run has its own weights)
            from .transfer import start_from

            start_from(model, config.train.init)
        compile_model(model, config.train, policy)
    if config.train.xla and not model.jit_compile:  # a cuDNN layer refused XLA
        set_op_determinism(True)  # so keep TensorFlow's op determinism after all
    for line in run_report(strategy, config.train.device, policy, model, config.train.xla,
                           config.train.threads):
        log(line)
    # BackupAndRestore keeps weights, optimizer and epoch after every epoch; `tracker`
    # keeps history, early-stopping state and the best weights beside them.
    # (delete_checkpoint=False: Keras would also delete it when fit() is interrupted.)
    callbacks = [keras.callbacks.BackupAndRestore(str(state / "backup"), delete_checkpoint=False),
                 tracker]
    from .schedules import schedule_callbacks

    callbacks += schedule_callbacks(config.train)
    if config.panel:
        log(f"panel of {len(config.panel['series'])} series, scaling {data.scaling}"
            + (f"; {len(config.panel['skipped'])} series too short, skipped"
               if config.panel["skipped"] else ""))
    if prepared.covariate_spec is not None:
        log(f"future-known covariates over the horizon: "
            f"{', '.join(prepared.covariate_spec.names)}")
    log(f"training {config.model.kind} ({config.model.layers} x {config.model.units} units) on "
        f"{series.source}, window {data.window}, anchor {prepared.anchor.describe()}: "
        f"{len(prepared.starts['train'])} train / "
        f"{len(prepared.starts['val'])} val / {len(prepared.starts['test'])} test windows"
        + (f"; resuming after epoch {done}" if done else ""))
    started = time.perf_counter()
    tracker.set_model(model)
    if tracker.finished(config.train.epochs):
        # Interrupted just as it ended: nothing left to train, take the last epoch's weights.
        progress.load_backup(model, state / "backup")
    try:
        with progress.interrupts_as_keyboard_interrupt():
            if not tracker.finished(config.train.epochs):
                model.fit(train_set, validation_data=val_set, epochs=config.train.epochs,
                          steps_per_epoch=steps_per_epoch,
                          callbacks=callbacks, verbose=verbose, shuffle=False)
    except KeyboardInterrupt:
        raise progress.Interrupted(
            f"training interrupted after epoch {tracker.epochs_done} of {config.train.epochs}; "
            f"its state is saved: resume with `lstm-tf train --resume {out}`") from None
    seconds = time.perf_counter() - started
    if tracker.diverged_at is not None:
        if not tracker.restore_best():
            progress.discard(state)
            raise progress.Diverged(
                f"the loss became NaN or infinite in epoch {tracker.diverged_at} before any "
                "epoch finished; try a lower --learning-rate or --clipnorm 1.0")
        log(f"the loss became NaN or infinite in epoch {tracker.diverged_at}: training stopped, "
            f"keeping the best weights (epoch {tracker.best_epoch})")
    elif config.train.patience:
        tracker.restore_best()  # early stopping keeps the best epoch, as Keras' EarlyStopping
    history = tracker.history
    network_kept = keep_network_if_better(model, prepared, config)
    if not network_kept:
        log(f"the network did not improve on its anchor ({prepared.anchor.describe()}) on the "
            "validation windows: its output is set to zero, the forecast is the anchor's")
    final_epochs = None
    if config.train.final:  # lstm_tf/refit.py: the test part stays unseen
        from .refit import final_fit

        # The epochs whose weights the run keeps: the best one's under early stopping.
        final_epochs = (config.train.patience and tracker.best_epoch) or len(history["loss"])
        log(f"final fit: {final_epochs} epochs on the training and validation windows")
        model = final_fit(config, prepared, strategy, policy, final_epochs, network_kept,
                          verbose)
    calibrate_quantiles(model, prepared, config)

    # Across machines each worker would predict only its shard of the windows: evaluate
    # an ordinary copy instead, which every worker holds whole.
    evaluated = local_copy(model) if config.train.strategy == "multiworker" else model
    metrics = evaluate_model(evaluated, prepared, config)
    plot = metrics.pop("_plot")
    per_series = metrics.pop("_per_series", None)
    if config.panel:
        metrics["skipped_series"] = len(config.panel["skipped"])
    metrics["train_seconds"] = round(seconds, 2)
    metrics["epochs_run"] = len(history["loss"])
    metrics["best_epoch"] = tracker.best_epoch
    metrics["network_kept"] = network_kept
    if final_epochs is not None:
        metrics["final_fit_epochs"] = final_epochs
    if tracker.diverged_at is not None:
        metrics["diverged_at_epoch"] = tracker.diverged_at
    # Every worker saves (saving may need them all), but only the chief keeps its run.
    target = Path(out) if chief else Path(tempfile.mkdtemp(prefix="lstm-tf-worker-")) / "run"
    try:
        with runs.new_run_directory(target, force) as staging:
            with atomic_path(staging / runs.MODEL_FILE) as path:
                model.save(path)
            write_json(staging / runs.CONFIG_FILE, config.to_dict())
            write_json(staging / runs.METRICS_FILE, metrics)
            write_text(staging / runs.HISTORY_FILE, _history_csv(history))
            if per_series is not None:
                write_text(staging / "per_series.csv", per_series_csv(per_series))
            plot_loss(history, staging / "loss.png")
            (plot_panel_forecast if plot.get("panel") else plot_forecast)(
                plot, staging / "forecast.png")
    finally:
        if not chief:
            shutil.rmtree(target.parent, ignore_errors=True)
    progress.discard(state)
    if not chief:
        log(f"this worker is not the chief: the chief writes the run directory {out}")
    return metrics


def scaler_record(prepared: Prepared) -> dict:
    """What config.json keeps of the scaling: the z-score statistics (per series for a
    panel scaled by series), or for window scaling only the columns."""
    if isinstance(prepared.scaler, SeriesScaler):
        return prepared.scaler.to_dict()
    if prepared.scaler is None:
        return {"columns": prepared.series.columns, "per_window": True,
                "measure": prepared.window_measure}
    return {"columns": prepared.scaler.columns, "mean": prepared.scaler.mean,
            "std": prepared.scaler.std}


def keras_predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model`'s batched point prediction (a quantile model's median), as
    `anchors.anchored_forecast` takes it (under a strategy, in batches that give every
    replica windows)."""
    return quantiles_lib.point_network(model, keras_network(model))


def keras_network(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model`'s whole batched output (a quantile model's quantiles [..., Q])."""
    from .devices import predict_in_even_shards

    return lambda x: predict_in_even_shards(model, x, batch_size=256)


def network_and_anchor_mae(model, prepared: Prepared, data: DataConfig,
                           starts: np.ndarray) -> tuple[float, float]:
    """MAE in original units of anchor + network and of the anchor alone over the
    windows starting at `starts` (every horizon step); for a panel, each series' errors
    in units of its in-sample naive MAE (MASE), so that no series outweighs the rest."""
    actual = prepared.actual(starts, data.window, data.horizon)
    scale = prepared.error_scale(starts)[:, None, None]  # a panel's series on one scale
    return tuple(metrics_lib.mae(prepared.forecast(predict, starts, data.window, data.horizon)
                                 / scale, actual / scale)
                 for predict in (keras_predict(model), None))


def keep_network_if_better(model, prepared: Prepared, config: RunConfig) -> bool:
    """Keep the trained network only if anchor + network beats the anchor alone on the
    validation windows (MAE); otherwise zero the head, so the model forecasts the anchor.

    Early stopping already picks the best epoch on validation; this also covers the
    case where no epoch helped (a short or noisy series), so a run is never worse on
    validation than the simple forecast it started from.
    """
    if not prepared.anchor.relative_inputs:
        return True
    with_network, anchor_only = network_and_anchor_mae(model, prepared, config.data,
                                                       prepared.starts["val"])
    if with_network < anchor_only:
        return True
    head = model.get_layer("head")
    if config.model.quantiles:  # only the median's correction: the interval stays
        quantiles_lib.zero_median(head, config.model.quantiles)
    else:
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return False


def calibrate_quantiles(model, prepared: Prepared, config: RunConfig) -> dict | None:
    """A quantile run's offsets scaled to the levels' coverage on the validation windows
    (`quantiles.calibrate`); None for a point run or with `calibrate_quantiles` off."""
    if not config.model.quantiles or not config.train.calibrate_quantiles:
        return None
    n_targets = len(prepared.series.targets)
    if prepared.series_of is not None:  # a panel: in each window's network units
        from .data.prepare import to_network_units

        starts = prepared.starts["val"]
        if len(starts) > CALIBRATION_WINDOWS:  # a seeded sample of a large panel's
            starts = np.sort(np.random.default_rng(config.train.seed).choice(
                starts, CALIBRATION_WINDOWS, replace=False))
        inputs, undo = prepared.network_view(starts, config.data.window, config.data.horizon)
        actual = to_network_units(undo, prepared.actual(starts, config.data.window,
                                                        config.data.horizon))
    else:
        inputs, actual = data_lib.windows(prepared.scaled, prepared.starts["val"],
                                          config.data.window, config.data.horizon, n_targets)
    return quantiles_lib.calibrate(model, keras_network(model), inputs, prepared.anchor, actual)


CALIBRATION_WINDOWS = 65_536


def largest_divisor(number: int, at_most: int) -> int:
    """The largest divisor of `number` that is at most `at_most`."""
    return max(d for d in range(1, min(number, at_most) + 1) if number % d == 0)


def resume_training(out: str | Path, verbose: int = 1,
                    log: Callable[[str], None] = print) -> dict:
    """Continue an interrupted `train` of the run at `out` from its last complete epoch."""
    state = progress.state_dir(out)
    if progress.load_progress(state) is None:
        raise UserError(f"nothing to resume for {out}: no interrupted training state in {state}")
    config = runs.load_config_file(state / runs.CONFIG_FILE)
    return train(config, out, force=False, verbose=verbose, log=log, resume=True)


def start_tensorflow(train_config: TrainConfig, window: int, layers: int):
    """Choose device, unrolling, threads, strategy and precision, and seed; before
    TensorFlow's first op.

    Replaces "auto" in `train_config` by what was used, so that config.json records
    how the run was made. Returns (strategy, dtype policy).
    """
    from .devices import check_batch_size, make_strategy, precision_policy, resolve_device, \
        resolve_strategy, resolve_threads, resolve_unroll, use_devices, use_threads
    from .tf_setup import set_seed

    train_config.device = resolve_device(train_config.device)
    use_devices(train_config.device, train_config.cpu_devices)
    train_config.unroll = resolve_unroll(train_config.unroll, train_config.device,
                                         train_config.xla, window, layers)
    train_config.threads = use_threads(resolve_threads(train_config.threads,
                                                       train_config.unroll, train_config.device))
    train_config.strategy = resolve_strategy(train_config.strategy, train_config.device)
    strategy = make_strategy(train_config.strategy, train_config.device)
    train_config.replicas = strategy.num_replicas_in_sync
    check_batch_size(train_config.batch_size, train_config.replicas)
    if train_config.replicas > 1:
        # Keras 3's multi-step loop fails under several replicas (keras-team/keras#19246).
        train_config.steps_per_execution = 1
    policy = precision_policy(train_config.mixed_precision, train_config.device)
    train_config.precision = policy
    set_seed(train_config.seed, deterministic_ops=not train_config.xla)
    return strategy, policy


def compile_model(model, train_config: TrainConfig, policy: str = "float32") -> None:
    """Adam, the loss, steps per execution and XLA; loss scaling for float16."""
    import keras

    optimizer = keras.optimizers.Adam(train_config.learning_rate, clipnorm=train_config.clipnorm)
    if policy == "mixed_float16":  # float16 gradients underflow without it
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    levels = quantiles_lib.levels_of(model)
    loss = quantiles_lib.pinball_loss(levels) if levels else \
        {"mse": "mse", "huber": keras.losses.Huber(),
                                                 "mae": keras.losses.MeanAbsoluteError()
                                                 }[train_config.loss]
    model.compile(optimizer=optimizer, loss=loss,
                  steps_per_execution=train_config.steps_per_execution,
                  jit_compile=train_config.xla)


def evaluate_model(model, prepared: Prepared, config: RunConfig,
                   part: str = "test") -> dict:
    """MAE, RMSE and MASE of the model and the naive baselines on one part, in original units."""
    if prepared.series_of is not None:
        return evaluate_panel(model, prepared, config, part)
    data = config.data
    n_targets = len(prepared.series.targets)
    starts = prepared.starts[part]
    forecast = prepared.forecast(keras_predict(model), starts, data.window, data.horizon)
    raw_targets = prepared.series.values[:, :n_targets]
    _, actual = data_lib.windows(raw_targets, starts, data.window, data.horizon, n_targets)

    train_targets = raw_targets[:prepared.split.train_end]
    scale = metrics_lib.mase_scale(train_targets)
    result = {"part": part, "windows": int(len(starts)), "targets": prepared.series.targets,
              "anchor": prepared.anchor.describe(),
              "model": metrics_lib.report(forecast, actual, scale),
              "naive": metrics_lib.report(
                  metrics_lib.naive_forecast(raw_targets, starts, data.horizon), actual, scale)}
    if data.season and starts.min() >= data.season:
        result["seasonal_naive"] = metrics_lib.report(
            metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, data.season),
            actual, scale)
        result["season"] = data.season
    result["_plot"] = {"forecast": forecast, "actual": actual, "targets": prepared.series.targets,
                       **forecast_times(prepared.series, starts)}
    if config.model.quantiles:
        inputs, _ = data_lib.windows(prepared.scaled, starts, data.window, data.horizon,
                                     n_targets)
        result["quantiles"], result["_plot"]["band"] = quantile_metrics(
            model, prepared, config, inputs, actual, starts, scale)
    return result


def evaluate_panel(model, prepared: Prepared, config: RunConfig, part: str = "test") -> dict:
    """A panel's metrics on one part: per series (MAE, RMSE, sMAPE, MASE for the model,
    naive and seasonal naive; `_per_series`, written as per_series.csv) and their means
    over the series, as the M4 and Monash tables report them.

    MASE scales each series by the in-sample MAE of its seasonal naive forecast over its
    training part (M4's definition), of the naive forecast when there is no season.
    """
    from .data.prepare import naive_scales

    data, panel = config.data, prepared.series
    starts, series = prepared.starts[part], prepared.series_of[part]
    n_targets = prepared.n_targets
    forecasts = {"model": prepared.forecast(keras_predict(model), starts, data.window,
                                            data.horizon)}
    actual = prepared.actual(starts, data.window, data.horizon)
    raw_targets = panel.values[:, :n_targets]
    forecasts["naive"] = metrics_lib.naive_forecast(raw_targets, starts, data.horizon)
    season = data.season if data.season and data.season > 1 else None
    if season:
        reach = season * ((data.horizon - 1) // season + 1)
        seasonal = metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, season)
        reaches_back = starts - reach < panel.offsets[series]  # into the previous series
        seasonal[reaches_back] = np.nan
        forecasts["seasonal_naive"] = seasonal
    scales = naive_scales(panel, prepared.split, season or 1)
    table = metrics_lib.per_series(forecasts, actual, series, scales)
    result = {"part": part, "windows": int(len(starts)), "targets": panel.targets,
              "anchor": prepared.anchor.describe(), "series": len(panel.names),
              "scaling": prepared.scaling, "mase_scale": "seasonal naive" if season else "naive",
              **metrics_lib.panel_summary(table, list(forecasts))}
    if season:
        result["season"] = season
    if config.model.quantiles:
        result["quantiles"], quantile_table = panel_quantile_metrics(
            model, prepared, config, starts, series, actual, scales)
        table = {**table, **quantile_table}
    result["_per_series"] = {"series": panel.names, **table}
    result["_plot"] = {"panel": True, "table": table, "names": panel.names,
                       "targets": panel.targets, "values": raw_targets,
                       "offsets": panel.offsets, "time": panel.time,
                       "time_column": panel.time_column, "starts": starts, "series_of": series,
                       "forecast": forecasts["model"], "window": data.window}
    return result


def panel_quantile_metrics(model, prepared: Prepared, config: RunConfig, starts: np.ndarray,
                           series: np.ndarray, actual: np.ndarray,
                           scales: np.ndarray) -> tuple[dict, dict]:
    """A panel quantile run's block in metrics.json and its per-series columns: the
    model's and each series' seasonal-naive residual intervals' scaled pinball and
    coverage. Every series in units of its own MASE scale (pinball is homogeneous, so
    that is its scaled pinball; coverage does not change; widths are in those units)."""
    from .data.prepare import undo_quantiles

    levels, n_targets, data = config.model.quantiles, prepared.n_targets, config.data
    inputs, undo = prepared.network_view(starts, data.window, data.horizon)
    raw = undo_quantiles(undo, quantiles_lib.anchored(keras_network(model), inputs,
                                                      prepared.anchor, n_targets))
    reference = np.full_like(raw, np.nan)
    panel, split = prepared.series, prepared.split
    for index in range(len(panel.names)):  # each series' residuals on its training rows
        mine = np.flatnonzero(series == index)
        first = int(panel.offsets[index])
        found, name = quantiles_lib.residual_intervals(
            panel.values[first:int(panel.offsets[index + 1]), :n_targets],
            int(split.train_end[index]) - first, starts[mine] - first, data.horizon,
            data.season, levels)
        if found is not None:
            reference[mine] = found
    unit = scales[series][:, None, None]
    block = {"levels": levels, "calibration": quantiles_lib.calibration_of(model),
             "units": "each series' MASE scale",
             "model": quantiles_lib.report(raw / unit[..., None], actual / unit, levels, 1.0)}
    known = np.isfinite(reference).all(axis=(1, 2, 3))
    if known.any():
        block[f"{name}_intervals"] = quantiles_lib.report(
            reference[known] / unit[known][..., None], actual[known] / unit[known], levels, 1.0)
    columns = {}
    intervals = quantiles_lib.central_intervals(levels)
    for label, quantiles in (("model", raw), (f"{name}_intervals", reference)):
        per_window = np.mean([np.maximum(level * (actual - quantiles[..., q]),
                                         (level - 1) * (actual - quantiles[..., q]))
                              for q, level in enumerate(levels)], axis=0)
        per_window = per_window.reshape(len(starts), -1).mean(axis=1)
        count = np.bincount(series, minlength=len(scales))
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"{label}_scaled_pinball"] = (np.bincount(series, per_window, len(scales))
                                                  / count / scales)
            if intervals:
                low, high, nominal = intervals[0]
                inside = ((actual >= quantiles[..., low]) & (actual <= quantiles[..., high]))
                columns[f"{label}_coverage_{quantiles_lib.interval_name(nominal)}"] = (
                    np.bincount(series, inside.reshape(len(starts), -1).mean(axis=1),
                                len(scales)) / count)
    return block, columns


def per_series_csv(table: dict) -> str:
    """per_series.csv: one row per series, its metrics for each forecast."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [key for key in table if key != "series"]
    writer.writerow(["series"] + columns)
    for index, name in enumerate(table["series"]):
        writer.writerow([name] + [f"{table[key][index]:.6g}" for key in columns])
    return buffer.getvalue()


def quantile_metrics(model, prepared: Prepared, config: RunConfig, inputs: np.ndarray,
                     actual: np.ndarray, starts: np.ndarray, scale: float) -> tuple[dict, dict]:
    """The quantile block of `metrics.json` (`quantiles.report` of the model and of the
    seasonal-naive residual intervals) and the widest central band for `forecast.png`."""
    levels, n_targets = config.model.quantiles, len(prepared.series.targets)
    scaled = quantiles_lib.anchored(keras_network(model), inputs, prepared.anchor, n_targets)
    raw = quantiles_lib.unscale(scaled, prepared.scaler.mean[:n_targets],
                                prepared.scaler.std[:n_targets])
    reference, name = quantiles_lib.residual_intervals(
        prepared.series.values[:, :n_targets], prepared.split.train_end, starts,
        config.data.horizon, config.data.season, levels)
    block = {"levels": levels, "calibration": quantiles_lib.calibration_of(model),
             "model": quantiles_lib.report(raw, actual, levels, scale)}
    if reference is not None:  # fitted on the training rows (on the file itself for --data)
        block[f"{name}_intervals"] = quantiles_lib.report(reference, actual, levels, scale)
    band = {}
    intervals = quantiles_lib.central_intervals(levels)
    if intervals:
        low, high, nominal = intervals[0]
        band = {"low": raw[..., low], "high": raw[..., high],
                "label": f"{quantiles_lib.interval_name(nominal)} interval"}
    return block, band


def evaluate(run: str | Path, data_path: str | None = None) -> dict:
    """Metrics of a saved run on its own test part, or on every window of another CSV file."""
    config = runs.load_config(run)
    model = runs.load_model(run)
    prepared, part = evaluation_data(config, data_path)
    result = evaluate_model(model, prepared, config, part)
    result.pop("_plot")
    result.pop("_per_series", None)
    return result


def _history_csv(history: dict[str, list[float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history)
    writer.writerow(["epoch"] + keys)
    for epoch in range(len(history[keys[0]])):
        writer.writerow([epoch + 1] + [f"{history[key][epoch]:.8g}" for key in keys])
    return buffer.getvalue()


def plot_loss(history: dict[str, list[float]], path: Path) -> None:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axis.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        axis.plot(epochs, history["val_loss"], label="validation loss")
    axis.set(xlabel="epoch", ylabel="loss (scaled units)", yscale="log", title="Loss curves")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)


def forecast_times(series: data_lib.Series, rows: np.ndarray) -> dict:
    """{"time": the time column's values at `rows` (forecast rows; dates as datetime64,
    else numbers), "time_column": its name}, or {} when the series has no time column."""
    if not series.time or not series.time_column:
        return {}
    values = [data_lib.parse_time(series.time[row]) for row in rows]
    if any(isinstance(value, np.datetime64) for value in values):
        times = np.array(values, dtype="datetime64")
    else:
        times = np.array(values, dtype=np.float64)
    return {"time": times, "time_column": series.time_column}


def plot_forecast(plot: dict, path: Path) -> None:
    """Test forecast (first horizon step) against the actual values, one panel per target.

    The x axis is the time column (dates or numbers) of the forecast step when the data
    has one, else the test window's number.
    """
    plt = pyplot()
    targets = plot["targets"]
    times = plot.get("time")
    x = times if times is not None else np.arange(1, len(plot["actual"]) + 1)
    xlabel = f"{plot['time_column']} (forecast step 1)" if times is not None else "test window"
    figure, axes = plt.subplots(len(targets), 1, figsize=(9, 3.2 * len(targets)), squeeze=False)
    for index, (axis, name) in enumerate(zip(axes[:, 0], targets)):
        axis.plot(x, plot["actual"][:, 0, index], label="actual", color="black", linewidth=1.2)
        band = plot.get("band")
        if band:
            axis.fill_between(x, band["low"][:, 0, index], band["high"][:, 0, index],
                              color="tab:orange", alpha=0.25, linewidth=0, label=band["label"])
        axis.plot(x, plot["forecast"][:, 0, index], label="forecast (step 1)"
                  + (", median" if band else ""), color="tab:orange")
        axis.set(xlabel=xlabel, ylabel=name, title=f"Test forecast: {name}")
        axis.legend()
    if times is not None and np.issubdtype(times.dtype, np.datetime64):
        figure.autofmt_xdate()
    figure.tight_layout()
    save_figure(figure, path)


def plot_panel_forecast(plot: dict, path: Path) -> None:
    """A panel's test forecasts: the best, a median and the worst series by MASE, each
    with its recent history, the actual values and the forecast of every test window."""
    plt = pyplot()
    mase = plot["table"]["model_mase"]
    ranked = [int(i) for i in np.argsort(np.where(np.isfinite(mase), mase, np.inf))
              if np.isfinite(mase[i])]
    if not ranked:
        return
    picks = {"best": ranked[0], "median": ranked[len(ranked) // 2], "worst": ranked[-1]}
    targets = plot["targets"]
    figure, axes = plt.subplots(len(targets), len(picks), figsize=(4.2 * len(picks),
                                                                    3.2 * len(targets)),
                                squeeze=False)
    for column, (label, series) in enumerate(picks.items()):
        rows = np.flatnonzero(plot["series_of"] == series)
        starts = plot["starts"][rows]
        first = max(int(plot["offsets"][series]), int(starts[0]) - 2 * plot["window"])
        last = int(plot["offsets"][series + 1])
        time = plot["time"]
        x = time[first:last] if time is not None else np.arange(first, last) - first
        for target, axis in enumerate(axes[:, column]):
            axis.plot(x, plot["values"][first:last, target], color="black", linewidth=1.1,
                      label="actual")
            horizon = plot["forecast"].shape[1]
            for n, (start, forecast) in enumerate(zip(starts, plot["forecast"][rows])):
                steps = np.arange(start, min(start + horizon, last)) - first
                axis.plot(x[steps], forecast[:len(steps), target], color="tab:orange",
                          linewidth=1.0, alpha=0.8, label="forecast" if n == 0 else None)
            axis.set(title=f"{label}: {plot['names'][series]} (MASE {mase[series]:.2f})",
                     ylabel=targets[target])
            axis.legend(fontsize=7)
            if time is not None and np.issubdtype(np.asarray(time).dtype, np.datetime64):
                axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.tight_layout()
    save_figure(figure, path)
