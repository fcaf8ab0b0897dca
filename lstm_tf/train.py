"""Training, read top to bottom: `_train` is the story (prepare the data, start
TensorFlow, build the datasets and the model, fit, keep the network only if it beats
its anchor, calibrate the quantiles, evaluate, write the run), each step a function
below it, in that order."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import data as data_lib, figures, metrics as metrics_lib, progress, runs
from . import quantiles as quantiles_lib
from .atomic import atomic_path, disk_full_as_user_error, disk_full_message, exclusive, \
    refuse_overwrite, write_json, write_text
from .config import DataConfig, RunConfig, TrainConfig, library_versions
from .data import timeaxis
from .data.panel import as_panel
from .data.prepare import Prepared, load_prepared, scaler_record
from .errors import DiskFull, UserError
from .evaluate import Evaluation, evaluate_model, keras_network, keras_predict


def train(config: RunConfig, out: str | Path, force: bool = False, verbose: int = 1,
          log: Callable[[str], None] = print, resume: bool = False) -> dict:
    """Train a forecaster and write a complete run directory at `out`. Returns its metrics.

    An interrupted run (Ctrl-C, SIGTERM) leaves its state beside `out` (`progress`);
    `resume=True` continues it (`resume_training`). One writer at a time
    (`atomic.exclusive`); a full disk stops it with a one-line error naming `out`, the
    earlier run there intact and nothing partial left (not even a fresh run's state).
    """
    from .devices import is_chief

    if not is_chief(config.train.strategy):  # a worker writes only its own temporaries
        return _train_then_challenge(config, out, force, verbose, log, resume)
    state = progress.state_dir(out)
    had_state = state.exists()
    with exclusive(out, "run directory"):
        try:
            with disk_full_as_user_error(out):
                return _train_then_challenge(config, out, force, verbose, log, resume)
        except DiskFull:
            if not had_state:
                progress.discard(state)
            # (A file in the hidden staging directory may have been named: name the run.)
            raise DiskFull(disk_full_message(out)) from None


# A panel run under series scaling forecasts only the series it was trained on (their
# statistics are in the graph): it must beat window scaling on validation by this much.
SERIES_SCALING_EDGE = 0.02
# ... and it trains only where one training is cheap: up to `ensemble.PANEL_STEPS`
# window steps (training windows x window), as the ensemble default.
# The second trainings (`_challenge`), by what they change, and where metrics.json
# records the trainings a run was chosen over.
CHALLENGERS = {"auto": "anchor + network", "series": "series scaling"}
TRAINING_RECORDS = ("first_training", "second_training", "window_scaling_training",
                    "series_scaling_training")


def _train_then_challenge(config: RunConfig, out: str | Path, force: bool, verbose: int,
                          log: Callable[[str], None], resume: bool) -> dict:
    """`_train`; then the trainings that validation may prefer to it, each kept at `out`
    only when its chosen forecast (the floor's pick) has the lower validation MAE (the
    run already there wins ties), its metrics.json naming the other's figures:

    - **anchor + network** (`first_training` / `second_training`): when anchor
      `network`'s network alone lost to the fitted anchor on validation, anchor `auto`.
    - **series scaling** (`window_scaling_training` / `series_scaling_training`): for a
      panel trained without `--scaling` (nor `--init`), each series z-scored by its own
      training statistics and the anchor `auto`, kept when better by
      `SERIES_SCALING_EDGE`, on up to `ensemble.PANEL_STEPS` window steps.
    Neither beyond `ensemble.PANEL_WINDOWS` training windows (it would double a large
    panel's time). What each bought: docs/accuracy.md."""
    import copy

    from .ensemble import PANEL_STEPS, PANEL_WINDOWS

    asked = copy.deepcopy(config)  # before `_train` fills in its defaults
    metrics = _train(config, out, force, verbose, log, resume)
    scores = metrics.get("floor_validation") or {}
    anchored = config.data.anchor == "network" and scores.get("anchor", np.inf) < scores.get(
        "model", -np.inf)
    # (epochs run: a validation part to choose on; none and the network is not trained)
    series_scaled = (bool(config.panel) and bool(scores) and metrics["epochs_run"] > 0
                     and asked.data.scaling is None and asked.train.init is None)
    if metrics["train_windows"] > PANEL_WINDOWS:  # a second fit would double a large panel's time
        if anchored:
            log(f"the network alone lost to the fitted anchor on the validation windows; no "
                f"second training (anchor + network) on more than {PANEL_WINDOWS} training "
                "windows")
        return metrics
    if series_scaled and metrics["train_windows"] * config.data.window > PANEL_STEPS:
        series_scaled = False
        log(f"no second training under series scaling on more than {PANEL_STEPS:,} "
            f"window steps ({metrics['train_windows']:,} training windows x window "
            f"{config.data.window}); --scaling series trains it alone")
    if anchored:
        log("the network alone lost to the fitted anchor on the validation windows: training "
            "the anchor + network as well (anchor auto)")
        again = copy.deepcopy(asked)
        again.data.anchor = "auto"
        metrics = _challenge(again, out, metrics, ("network", "first_training"),
                             ("auto", "second_training"), 0.0, verbose, log)
    if series_scaled:
        log("training with each series scaled by its own statistics as well (scaling series, "
            "anchor auto)")
        again = copy.deepcopy(asked)
        again.data.scaling, again.data.anchor = "series", asked.data.anchor or "auto"
        metrics = _challenge(again, out, metrics, ("window", "window_scaling_training"),
                             ("series", "series_scaling_training"), SERIES_SCALING_EDGE,
                             verbose, log)
    return metrics


def _challenge(challenger: RunConfig, out: str | Path, metrics: dict, held: tuple[str, str],
               challenging: tuple[str, str], edge: float, verbose: int,
               log: Callable[[str], None]) -> dict:
    """Train `challenger` beside the run at `out` (whose `metrics` are given) and keep
    whichever's chosen forecast has the lower validation MAE, the challenger only when
    lower by the fraction `edge`. `held` and `challenging` are (what each is, the metrics
    key under which the other run records its figures). Returns the kept run's metrics."""
    import os

    from .devices import is_chief

    held_summary = _training_summary(held[0], metrics)
    scratch = Path(tempfile.mkdtemp(prefix=f".{Path(out).name}.", suffix=".challenger",
                                    dir=Path(out).parent))
    try:
        earlier = {key: metrics[key] for key in TRAINING_RECORDS if key in metrics}
        try:
            other = _train(challenger, scratch / "run", True, verbose, log, False,
                           {**earlier, held[1]: held_summary})
        except DiskFull:
            raise
        except UserError as error:  # what the data allows one way it may refuse the other
            log(f"{CHALLENGERS[challenging[0]]} could not train ({error}): the run keeps "
                "the first")
            return metrics
        other_summary = _training_summary(challenging[0], other)
        chief = is_chief(challenger.train.strategy)  # (a worker's runs are its temporaries)
        scores = (f"(MAE {other_summary['validation_mae']:.6g} against "
                  f"{held_summary['validation_mae']:.6g})")
        if not other_summary["validation_mae"] < held_summary["validation_mae"] * (1 - edge):
            log(f"{CHALLENGERS[challenging[0]]} did not beat the run on the validation "
                f"windows {scores}: the run keeps the first")
            metrics[challenging[1]] = other_summary
            if chief:
                write_json(Path(out) / runs.METRICS_FILE, metrics)
            return metrics
        log(f"{CHALLENGERS[challenging[0]]} beat the run on the validation windows {scores}: "
            "the run is this training")
        if chief:  # two renames keep a complete run under `out` at every moment but one
            os.replace(out, scratch / "first")
            os.replace(scratch / "run", out)
        return other
    except progress.Interrupted:
        raise progress.Interrupted(f"training interrupted in its second part "
                                   f"({CHALLENGERS[challenging[0]]}); the run before it is "
                                   f"complete in {out}") from None
    finally:  # (the second training's resumable state lives in it too)
        shutil.rmtree(scratch, ignore_errors=True)


def _training_summary(kind: str, metrics: dict) -> dict:
    """What the run kept records of another training; `validation_mae` is its chosen
    forecast's (the floor's pick, else the model's)."""
    return {"anchor" if kind in ("network", "auto") else "scaling": kind,
            "floor": metrics["floor"], "network_kept": metrics["network_kept"],
            "best_epoch": metrics["best_epoch"], "train_seconds": metrics["train_seconds"],
            "validation_mae": metrics["floor_validation"][metrics["floor"] or "model"]}


def _train(config: RunConfig, out: str | Path, force: bool, verbose: int,
           log: Callable[[str], None], resume: bool, note: dict | None = None) -> dict:
    from .devices import is_chief
    from .models import local_copy

    config.validate()
    chief = is_chief(config.train.strategy)  # only the chief writes the run
    state = _state_dir(out, force, resume, chief)
    prepared = prepare_run(config)
    strategy, policy = start_tensorflow(config.train, config.data.window, config.model.layers)
    state.mkdir(parents=True, exist_ok=True)
    write_json(state / runs.CONFIG_FILE, config.to_dict())
    tracker = progress.progress_callback(state, config.train.patience, monitor(config))
    train_set, val_set, steps_per_epoch = datasets(prepared, config, tracker.epochs_done)
    model, trainer = build_trainer(prepared, config, strategy, policy, log)
    log_plan(prepared, config, tracker.epochs_done, log)
    if prepared.in_sample:  # nothing held out could show that the network helps: no fit
        seconds, network_kept, keep_statistic = 0.0, False, None
        tracker.history.setdefault("loss", [])
        if getattr(model, "optimizer", None) is not None:  # (as fit would: its slots saved)
            model.optimizer.build(model.trainable_variables)
        zero_network(model, config)
        log(f"no validation part (too few rows for one of {config.data.horizon} after a "
            f"training window): the anchor ({prepared.anchor.describe()}) was chosen on the "
            "training windows and the network is not trained (its output is zero)")
    else:
        seconds = fit(trainer, train_set, val_set, steps_per_epoch, config, tracker, state,
                      out, verbose, log)
        early = early_best_epoch(config, tracker)
        network_kept, keep_statistic = keep_network_if_better(model, prepared, config, early)
        if not network_kept:
            log(f"the network did not clearly improve on its anchor "
                f"({prepared.anchor.describe()}) on the validation windows"
                + (f" after its first {EARLY_EPOCHS} epochs" if early else
                   f" (Diebold-Mariano {keep_statistic}, kept below -{KEEP_T})"
                   if keep_statistic is not None else
                   " (one validation window: no standard error to show a clear edge)"
                   if len(prepared.starts["val"]) < 2 else "")
                + ": its output is set to zero, the forecast is the anchor's")
    trained_anchor = prepared.anchor
    floor_taken, floor_scores = floor(model, prepared, config)
    halved = floor_taken in BLENDS and floor_taken != "mean-series"  # (its network stays whole)
    if floor_taken:
        log(floor_message(floor_taken, prepared))
        network_kept = network_kept and floor_taken in BLENDS
    if config.train.final and not prepared.in_sample:  # the test part stays unseen (final_fit)
        epochs = final_epochs(config, tracker)
        log(f"final fit: {epochs} epochs on the training and validation windows")
        # A blend's network is trained on its own anchor, then halved as the first one.
        model = final_fit(config, replace(prepared, anchor=trained_anchor)
                          if halved else prepared,
                          strategy, policy, epochs, network_kept, verbose)
        if halved:
            scale_network(model, config, 0.5)
    calibrate_quantiles(model, prepared, config)
    # Across machines each worker would predict only its shard of the windows: evaluate
    # an ordinary copy instead, which every worker holds whole.
    evaluated = local_copy(model) if config.train.strategy == "multiworker" else model
    evaluation = evaluate_model(evaluated, prepared, config)
    metrics = {**evaluation.metrics, **training_metrics(config, tracker, seconds, network_kept),
               "train_windows": len(prepared.starts["train"]), "floor": floor_taken,
               "keep_statistic": keep_statistic,
               **(note or {})}
    if floor_scores:  # each forecast's validation MAE, as the floor weighed them
        metrics["floor_validation"] = {name: round(score, 6)
                                       for name, score in floor_scores.items()}
    write_run(out, force, chief, model, config, tracker.history, metrics, evaluation)
    progress.discard(state)
    if not chief:
        log(f"this worker is not the chief: the chief writes the run directory {out}")
    return metrics


def _state_dir(out: str | Path, force: bool, resume: bool, chief: bool) -> Path:
    """Where the run's resumable state lives (`progress`); a worker's is a temporary
    directory. Refuses an existing run or an interrupted run's state without `force`
    (before the slow part)."""
    if not chief:
        return Path(tempfile.mkdtemp(prefix="lstm-tf-state-"))
    refuse_overwrite(out, force, "run directory")
    state = progress.state_dir(out)
    if not resume and progress.load_progress(state) is not None:
        if not force:
            raise UserError(f"an interrupted run's state is kept in {state}; continue it with "
                            f"`lstm-tf train --resume {out}`, or pass --force to start over")
        progress.discard(state)
    return state


def prepare_run(config: RunConfig) -> Prepared:
    """Load and prepare the configured data, and record in `config` what the run
    learnt of it (panel, covariates, scaler, split, anchor, library versions)."""
    prepared, config.panel = load_prepared(config.data)
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
    if config.model.ensemble is None:
        from .ensemble import default_members

        config.model.ensemble = default_members(config, len(prepared.starts["train"]))
    config.versions = library_versions()
    return prepared


# A single series' epoch is a sample of at most this many of its training windows (a new
# one every epoch): an epoch of a year of half-hourly data (14,658 windows) took 11 s.
SERIES_EPOCH_WINDOWS = 4096
# A panel's epoch likewise: every window of a panel up to this many, else a sample of
# them (a new one every epoch). 100 hourly series of 1,000 rows have 68,900 windows (of
# 121 rows): an epoch of them all took 40-50 s, 60 epochs would take most of an hour.
PANEL_EPOCH_WINDOWS = 16_384


def datasets(prepared: Prepared, config: RunConfig, done: int):
    """(training stream, validation set, steps per epoch): tf.data pipelines of the
    network's view of the windows, from epoch `done` on (> 0 when resuming)."""
    from .devices import batches_per_epoch, even_shards, with_data_sharding

    data, series = config.data, prepared.series
    # batch_size is the global batch: the strategy splits each batch across its replicas
    # (even_shards: every batch cut to a multiple of the replicas, so none gets 0 windows).
    replicas = config.train.replicas
    per_epoch = PANEL_EPOCH_WINDOWS if config.panel else SERIES_EPOCH_WINDOWS
    batches = {part: batches_per_epoch(min(len(prepared.starts[part]), per_epoch)
                                       if part == "train" else len(prepared.starts[part]),
                                       config.train.batch_size, replicas)
               for part in ("train", "val")}
    train_set, val_set = (
        with_data_sharding(even_shards(data_lib.make_dataset(
            prepared.scaled, prepared.starts[part], data.window, data.horizon,
            prepared.n_targets, config.train.batch_size, shuffle=part == "train",
            seed=config.train.seed, epochs=range(done, config.train.epochs),
            anchor=prepared.anchor, window_scaled=prepared.window_scaled,
            covariates=prepared.covariates,
            row_series=series.series_index() if prepared.series_input else None,
            per_epoch=per_epoch if part == "train" else None),
            replicas, batches=None if part == "train" else batches[part]))  # train: epochs
        for part in ("train", "val"))
    # Keras runs `steps_per_execution` steps per call even across an epoch's end; a
    # divisor of the epoch keeps every epoch on its own batches.
    config.train.steps_per_execution = largest_divisor(batches["train"],
                                                       config.train.steps_per_execution)
    return train_set, val_set, batches["train"]


def monitor(config: RunConfig) -> str:
    """What early stopping watches: the validation loss, or an ensemble's combined
    forecast's (`ensemble.MONITOR`)."""
    from .ensemble import MONITOR

    return MONITOR if config.model.members > 1 else "val_loss"


def build_trainer(prepared: Prepared, config: RunConfig, strategy, policy: str,
                  log: Callable[[str], None]):
    """(the Keras model, the compiled model that training fits), variables on every
    replica of `strategy`; the two are one model, except for an ensemble
    (`ensemble.trainer`: the same layers, the members' forecasts as the output)."""
    from .devices import run_report
    from .ensemble import trainer as ensemble_trainer
    from .models import build_model
    from .tf_setup import set_op_determinism

    data, series = config.data, prepared.series
    with strategy.scope():  # variables and optimizer state live on every replica
        model = build_model(config.model, features=len(series.columns), horizon=data.horizon,
                            targets=prepared.n_targets, dtype_policy=policy,
                            unroll_window=data.window if config.train.unroll else None,
                            zero_head=prepared.anchor.relative_inputs,
                            covariates=(prepared.covariate_spec.count
                                        if prepared.covariate_spec else 0),
                            series_count=len(series.names) if prepared.series_input else 0)
        if config.train.init:  # (a resumed run's own weights are restored over these)
            from .transfer import start_from

            start_from(model, config.train.init)
        trainer = ensemble_trainer(model)
        compile_model(trainer, config.train, policy)
    if config.train.xla and not trainer.jit_compile:  # a cuDNN layer refused XLA
        set_op_determinism(True)  # so keep TensorFlow's op determinism after all
    for line in run_report(strategy, config.train.device, policy, trainer, config.train.xla,
                           config.train.threads):
        log(line)
    return model, trainer


def log_plan(prepared: Prepared, config: RunConfig, done: int,
             log: Callable[[str], None]) -> None:
    """What is about to be trained, on what."""
    data = config.data
    skips = timeaxis.skipped_steps(prepared.series if config.panel else as_panel(prepared.series))
    if skips:
        log(f"note: {skips}")
    if config.panel:
        log(f"panel of {len(config.panel['series'])} series, scaling {data.scaling}"
            + (f"; {len(config.panel['skipped'])} series too short, skipped"
               if config.panel["skipped"] else ""))
    if prepared.covariate_spec is not None:
        log(f"future-known covariates over the horizon: "
            f"{', '.join(prepared.covariate_spec.names)}")
    log(f"training {config.model.kind} ({config.model.layers} x {config.model.units} units"
        + (f", an ensemble of {config.model.ensemble}" if config.model.ensemble > 1 else "")
        + ") on "
        f"{prepared.series.source}, window {data.window}, anchor {prepared.anchor.describe()}: "
        f"{len(prepared.starts['train'])} train / "
        + ("no" if prepared.in_sample else f"{len(prepared.starts['val'])}")
        + f" val / {len(prepared.starts['test'])} test windows"
        + (f"; resuming after epoch {done}" if done else ""))


def fit(model, train_set, val_set, steps_per_epoch: int, config: RunConfig, tracker,
        state: Path, out: str | Path, verbose: int, log: Callable[[str], None]) -> float:
    """`model.fit`, resumable and interruptible; then the best epoch's weights (early
    stopping, or the last finite epoch after a NaN). Returns the seconds it took."""
    import keras

    # BackupAndRestore keeps weights, optimizer and epoch after every epoch; `tracker`
    # keeps history, early-stopping state and the best weights beside them.
    # (delete_checkpoint=False: Keras would also delete it when fit() is interrupted.)
    from .schedules import schedule_callbacks

    callbacks = [keras.callbacks.BackupAndRestore(str(state / "backup"), delete_checkpoint=False),
                 tracker, *schedule_callbacks(config.train, monitor(config))]
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
    return seconds


def final_starts(prepared: Prepared) -> np.ndarray:
    """Every window whose targets lie before the test part: training and validation."""
    return np.sort(np.concatenate([prepared.starts["train"], prepared.starts["val"]]))


def final_epochs(config: RunConfig, tracker) -> int:
    """The epochs the final fit trains: the best epoch's under early stopping, else all."""
    return (config.train.patience and tracker.best_epoch) or len(tracker.history["loss"])


def final_fit(config: RunConfig, prepared: Prepared, strategy, policy: str, epochs: int,
              network_kept: bool, verbose: int = 0):
    """The final fit (`--final`): once validation has chosen the epochs E, the anchor and
    whether the network beats it, a fresh network (same seed, built and fed as the first)
    trains E epochs on the training AND validation windows, without early stopping, and is
    zeroed like the first when the first was not kept.

    The anchor's regressions were refitted on those windows when it was chosen, and a
    single series keeps its training rows' scaler: the network is the one thing refitted.
    The test part stays unseen, so the test metrics stay held-out figures of the exported
    model; the validation windows are in-sample for it (a quantile run's calibration still
    uses them: slightly optimistic).
    """
    import copy

    from .tf_setup import set_seed

    final = replace(prepared, starts={**prepared.starts, "train": final_starts(prepared)})
    config = copy.deepcopy(config)
    config.train.epochs = epochs
    set_seed(config.train.seed, deterministic_ops=not config.train.xla)  # the first fit's start
    train_set, _, steps = datasets(final, config, 0)
    model, trainer = build_trainer(final, config, strategy, policy, log=lambda line: None)
    trainer.fit(train_set, epochs=epochs, steps_per_epoch=steps, verbose=verbose, shuffle=False)
    if not network_kept and prepared.anchor.relative_inputs:
        zero_network(model, config)
    return model


def training_metrics(config: RunConfig, tracker, seconds: float, network_kept: bool) -> dict:
    """What metrics.json says of the training itself, after the evaluation's metrics."""
    metrics = {"skipped_series": len(config.panel["skipped"])} if config.panel else {}
    metrics.update(train_seconds=round(seconds, 2), epochs_run=len(tracker.history["loss"]),
                   best_epoch=tracker.best_epoch, network_kept=network_kept)
    if config.train.final:
        metrics["final_fit_epochs"] = final_epochs(config, tracker)
    if tracker.diverged_at is not None:
        metrics["diverged_at_epoch"] = tracker.diverged_at
    return metrics


def write_run(out: str | Path, force: bool, chief: bool, model, config: RunConfig,
              history: dict, metrics: dict, evaluation: Evaluation) -> None:
    """The run directory, all at once (staged, then renamed into place): model, config,
    metrics, history, a panel's per-series metrics and the figures. Every worker saves
    (saving may need them all), but only the chief keeps its run."""
    target = Path(out) if chief else Path(tempfile.mkdtemp(prefix="lstm-tf-worker-")) / "run"
    try:
        with runs.new_run_directory(target, force) as staging:
            with atomic_path(staging / runs.MODEL_FILE) as path:
                model.save(path)
            write_json(staging / runs.CONFIG_FILE, config.to_dict())
            write_json(staging / runs.METRICS_FILE, metrics)
            write_text(staging / runs.HISTORY_FILE, figures.history_csv(history))
            if evaluation.per_series is not None:
                write_text(staging / "per_series.csv",
                           figures.per_series_csv(evaluation.per_series))
            figures.plot_loss(history, staging / "loss.png")
            (figures.plot_panel_forecast if evaluation.plot.get("panel")
             else figures.plot_forecast)(evaluation.plot, staging / "forecast.png")
    finally:
        if not chief:
            shutil.rmtree(target.parent, ignore_errors=True)


def network_and_anchor_errors(model, prepared: Prepared, data: DataConfig,
                              starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors [windows, horizon, targets] in original units of anchor + network
    and of the anchor alone over the windows starting at `starts`; for a panel, each
    series' errors in units of its in-sample naive MAE (MASE), so that no series
    outweighs the rest."""
    actual = prepared.actual(starts, data.window, data.horizon)
    scale = prepared.error_scale(starts)[:, None, None]  # a panel's series on one scale
    with_network, anchor_only = (
        np.abs(prepared.forecast(predict, starts, data.window, data.horizon) / scale
               - actual / scale)  # (as metrics.mae of the scaled arrays, to the last bit)
        for predict in (keras_predict(model), None))
    return with_network, anchor_only


def network_and_anchor_mae(model, prepared: Prepared, data: DataConfig,
                           starts: np.ndarray) -> tuple[float, float]:
    """The mean of `network_and_anchor_errors`: MAE of anchor + network and of the anchor."""
    return tuple(float(np.mean(errors)) for errors in
                 network_and_anchor_errors(model, prepared, data, starts))


# A single series' network whose validation loss was lowest in one of its first
# EARLY_EPOCHS epochs, after which early stopping ran out of patience, is zeroed
# (`early_best_epoch`). Measured (docs/accuracy.md, "Sub-daily and weekly series"): of twelve
# kept networks, those with a best epoch of 1-5 were worse than their anchor on 4 of 5.
EARLY_EPOCHS = 5


def early_best_epoch(config: RunConfig, tracker) -> bool:
    """Whether a single series' training stopped early (`patience` epochs without a better
    validation loss) after a best epoch among its first `EARLY_EPOCHS`: the network's
    validation edge over its anchor is then the best of a few noisy epochs, chosen and
    judged on the same windows, and it did not last on held-out blocks (EARLY_EPOCHS)."""
    patience = config.train.patience
    return (not config.panel and bool(patience) and tracker.best_epoch is not None
            and tracker.best_epoch <= EARLY_EPOCHS and tracker.wait >= patience)


# The network is kept where its validation edge over its anchor exceeds half a standard
# error: the Diebold-Mariano statistic of the per-window MAE differences below -KEEP_T.
# Seven single series place the threshold (docs/accuracy.md, "The keep rule"): those it
# helped on held-out blocks had t of -0.65 to -2.05, those it did not -0.24 to -0.29.
KEEP_T = 0.5


def network_beats_anchor(model, prepared: Prepared, data: DataConfig) -> float:
    """Diebold-Mariano statistic (`metrics.diebold_mariano`) of anchor + network against
    the anchor alone on the validation windows: per window, the MAE difference in
    original units (a panel's series each in MASE units); overlapping windows (within
    `horizon` rows of each other) are correlated, uncorrelated beyond."""
    starts = prepared.starts["val"]
    with_network, anchor_only = network_and_anchor_errors(model, prepared, data, starts)
    differences = (with_network - anchor_only).reshape(len(starts), -1).mean(axis=1)
    lag = -(-data.horizon // data.stride) - 1
    return metrics_lib.diebold_mariano(differences, prepared.series_index(starts), lag)


def keep_network_if_better(model, prepared: Prepared, config: RunConfig,
                           early: bool = False) -> tuple[bool, float | None]:
    """Keep the trained network only if anchor + network beats the anchor alone on the
    validation windows by more than half a standard error (`network_beats_anchor` below
    -`KEEP_T`) and its best epoch was not an early one (`early`: `early_best_epoch`);
    otherwise zero the head, so the model forecasts the anchor. Returns whether it was
    kept, and the statistic (None where not computed or not finite).

    Early stopping already picks the best epoch on validation; this also covers the
    case where no epoch helped (a short or noisy series), so a run is never worse on
    validation than the simple forecast it started from, nor carries a network whose
    edge there is within the noise of a few overlapping windows.
    """
    if not prepared.anchor.relative_inputs:
        return True, None
    statistic = None
    if not early:  # (an early network is zeroed whatever it scores: no need to predict)
        statistic = network_beats_anchor(model, prepared, config.data)
        kept = statistic < -KEEP_T
        # (recorded where finite: every window's difference the same gives +-inf, no JSON)
        statistic = round(statistic, 4) if np.isfinite(statistic) else None
        if kept:
            return True, statistic
    zero_network(model, config)
    return False, statistic


FLOOR_NAMES = {"last": "naive persistence", "season": "the seasonal naive forecast",
               "anchor": "the fitted anchor alone", "series": "each series' own anchor"}
# The floor's combinations: the mean of the model and one of the forecasts above.
BLENDS = {f"mean-{name}": name for name in FLOOR_NAMES}


# Series anchors scored on the training windows they were chosen on must beat the model by
# this factor (fertility's last 20 years, 192 series: 0.573 against 1.698, taken, held-out
# MASE 1.29 -> 1.06; grunfeld's 11 series: 1.387 against 1.455, no longer taken, where they
# had scored 2.967 against 2.512 on the held-out block; docs/accuracy.md).
IN_SAMPLE_EDGE = 1.1


def series_scored_fairly(scores: dict[str, float], in_sample: bool) -> bool:
    """Whether the floor may weigh series anchors with these validation `scores`: always
    on validation windows; on the training windows (`in_sample`), where they were chosen,
    only when they beat the model by `IN_SAMPLE_EDGE`."""
    return not in_sample or IN_SAMPLE_EDGE * scores["series"] < scores["model"]


def floor(model, prepared: Prepared, config: RunConfig) -> tuple[str | None, dict]:
    """The floor under a trained model. When naive persistence (`last`), the seasonal
    naive forecast (`season`, with a season the window holds) or the fitted anchor
    (`anchor`: for anchor `network` the anchor `auto` fitted beside the network,
    `Prepared.fallback`; else the model's own) beats the model (anchor + network, or the
    network alone) on the validation windows (MAE, a panel's series each in MASE units),
    the run forecasts the best on validation of those and of the equal-weight means of
    the model and each of them (`mean-last`, `mean-season`, `mean-anchor`). Returns the
    name of the forecast taken, or None when the model stays (it also wins ties), and
    every forecast's validation MAE ({} when the floor is off).

    A naive forecast or the anchor taken becomes the run's anchor (in `prepared` and
    `config.anchor`) and the network is zeroed. A mean keeps the network at half weight,
    in one model and one exported graph: the run's anchor becomes half the model's
    anchor plus half the other forecast (`anchors.mean_with_model`, linear maps of the
    window both) and the network's head is halved (`scale_network`). Forecast
    combinations are M4's robust lesson: the mean of two forecasts whose errors differ
    is often better than either (not for quantile runs, whose head would halve the
    intervals: they choose among the model and the forecasts alone).

    A panel's floor also weighs each series' own anchor (`series`, `mean-series`;
    `series_anchors`: the single-series choice per series, fitted on each series' rows
    before its validation part for this comparison and on every row before its test part
    when taken), for point forecasts of a panel small enough (`series_anchors.fits`). A
    panel without a validation part scores them on the training windows they were chosen
    on, so there they must beat the model by `IN_SAMPLE_EDGE`;
    taken, the graph selects them by the `series` input and the mean keeps the model
    whole (the anchors' share is half the forecast).

    The anchor's choice already weighs `last` and `season`, but it averages the best
    few candidates, fitted regressions among them, and the network is kept when it beats
    that average; neither step compares the end result with a naive forecast. Chosen on
    validation only: the test part stays unseen. For a panel it is one choice for all
    series (one exported graph serves every series, also unseen ones). Not under anchor
    `none`, asked for by name: the network alone and nothing else (`export --step`
    needs a run without an anchor); nor on a single series with fewer validation windows
    than the horizon (`few_windows`).
    """
    data, starts = config.data, prepared.starts["val"]
    if not config.train.floor or data.anchor == "none" or few_windows(prepared, data.horizon):
        return None, {}
    candidates = floor_candidates(prepared, config)
    forecasts = floor_forecasts(model, prepared, config, candidates, starts)
    actual = prepared.actual(starts, data.window, data.horizon)
    scale = prepared.error_scale(starts)[:, None, None]  # a panel's series on one scale
    scores = {name: metrics_lib.mae(forecast / scale, actual / scale)
              for name, forecast in forecasts.items()}
    # Only a simple forecast that beats the model on its own unseats it; then the best of
    # them and the means takes its place. (A mean that beats the model by a hair, where no
    # simple forecast does, is noise: on co2 it would have taken 0.05% on validation and
    # cost 10% on the held-out block; docs/accuracy.md.)
    if "series" in scores and not series_scored_fairly(scores, prepared.in_sample):
        for name in ("series", "mean-series"):
            candidates.pop(name, None)
            scores.pop(name, None)
    if not min(scores[name] for name in candidates) < scores["model"]:
        return None, scores
    best = min(scores, key=scores.get)
    take_floor(model, prepared, config, best, candidates[BLENDS.get(best, best)])
    return best, scores


def floor_message(taken: str, prepared: Prepared) -> str:
    """What the log says of the floor's choice `taken` (`floor`)."""
    if taken == "mean-series":
        return ("the mean of the model and each series' own anchor beats the model on the "
                "validation windows: the run forecasts it")
    if taken in BLENDS:
        return (f"the mean of the model and {FLOOR_NAMES[BLENDS[taken]]} beats the model on "
                f"the validation windows: the run forecasts it (anchor "
                f"{prepared.anchor.describe()}, the network's head halved)")
    return (f"{FLOOR_NAMES[taken]} beats the model on the validation windows: the run "
            "forecasts it (" + ("" if taken == "series" else
                                f"anchor {prepared.anchor.describe()}, ") + "network zeroed)")


def few_windows(prepared: Prepared, horizon: int) -> bool:
    """Whether a single series' validation part holds fewer windows than the horizon (or
    none: `anchors.too_few_to_choose`). Its anchor already averages what they chose with
    an ARIMA fitted on every row (`anchors.PARTNER_SEASONS`), and the floor is not
    applied: on so few windows it undid that average for what they favoured (48-month
    seasonal series: seasonal naive taken on one window on 7 of 10; docs/accuracy.md)."""
    from .anchors import too_few_to_choose

    return prepared.series_of is None and too_few_to_choose(
        len(prepared.starts["val"]), horizon, prepared.in_sample)


def take_floor(model, prepared: Prepared, config: RunConfig, name: str, forecast) -> None:
    """Make the run forecast the floor's choice `name`: `forecast` (an anchor) itself, or
    for a `mean-...` the mean of the model and `forecast` (see `floor`)."""
    from . import series_anchors
    from .anchors import mean_with_model

    if BLENDS.get(name, name) == "series":  # refitted on every row before the test part
        data, panel = config.data, prepared.series
        refitted = (forecast if prepared.in_sample  # (no validation part: the same rows)
                    else series_anchors.fit(panel.values, panel.offsets, prepared.split.val_end,
                                            prepared.n_targets, data.season, data.window,
                                            data.horizon))
        prepared.series_anchor = refitted.with_share(series_anchors.SHARES[name])
        config.series_anchor = prepared.series_anchor.to_dict()
        if name == "series":
            zero_network(model, config)
        return
    if name in BLENDS:
        prepared.anchor = mean_with_model(prepared.anchor, forecast)
        scale_network(model, config, 0.5)
    else:
        prepared.anchor = forecast
        zero_network(model, config)
    config.anchor = prepared.anchor.to_dict()


def floor_candidates(prepared: Prepared, config: RunConfig) -> dict:
    """The forecasts the floor weighs against the model, as anchors (`floor`): `last`,
    `season` (when the window holds a season), the fitted `anchor` and a panel's `series`
    anchors, fitted on the rows before each series' validation part."""
    from . import series_anchors
    from .anchors import naive_anchors

    data = config.data
    candidates = naive_anchors(data.horizon, prepared.n_targets, data.season, data.window)
    fitted = prepared.fallback if prepared.fallback is not None else prepared.anchor
    if fitted.kind != "none":
        candidates["anchor"] = fitted
    panel = prepared.series
    if (prepared.series_of is not None and not config.model.quantiles
            and series_anchors.fits(len(panel.values), len(panel.names), prepared.n_targets,
                                    data.horizon, data.window)):
        candidates["series"] = series_anchors.fit(
            panel.values, panel.offsets, prepared.split.train_end, prepared.n_targets,
            data.season, data.window, data.horizon)
    return candidates


def floor_forecasts(model, prepared: Prepared, config: RunConfig, candidates: dict,
                    starts: np.ndarray) -> dict[str, np.ndarray]:
    """name -> forecast in original units [n, horizon, targets] of the windows at
    `starts`: the model's, each candidate's and (point forecasts) the mean of the model
    and each candidate (`mean-<name>`)."""
    from .series_anchors import SeriesAnchor

    data = config.data
    forecasts = {"model": prepared.forecast(keras_predict(model), starts, data.window,
                                            data.horizon)}
    for name, anchor in candidates.items():
        own = isinstance(anchor, SeriesAnchor)  # (share 1: the model's forecast weighs 0)
        forecasts[name] = replace(prepared, **{"series_anchor" if own else "anchor": anchor}
                                  ).forecast(None, starts, data.window, data.horizon)
    if not config.model.quantiles:
        for name in candidates:
            forecasts[f"mean-{name}"] = 0.5 * (forecasts["model"] + forecasts[name])
    return forecasts


def zero_network(model, config: RunConfig) -> None:
    """Zero the head's output (every member's, an ensemble's), so the model forecasts its
    anchor (a quantile head: only the median's correction, the interval stays)."""
    scale_network(model, config, 0.0)


def scale_network(model, config: RunConfig, factor: float) -> None:
    """Multiply the network's output by `factor` (every member's head, an ensemble's: their
    mean scales with them; the head is linear, so its kernel and bias). 0 zeroes it (a
    quantile head: only the median's correction, the interval stays); 0.5 is the floor's
    mean of the model and another forecast (point forecasts only)."""
    from .ensemble import heads

    for head in heads(model):
        if config.model.quantiles:
            if factor != 0.0:
                raise ValueError("a quantile head is only zeroed, never scaled")
            quantiles_lib.zero_median(head, config.model.quantiles)
        else:
            head.set_weights([factor * w for w in head.get_weights()])


def calibrate_quantiles(model, prepared: Prepared, config: RunConfig) -> dict | None:
    """A quantile run's offsets scaled to the levels' coverage on the validation windows
    (`quantiles.calibrate`); None for a point run or with `calibrate_quantiles` off."""
    if not config.model.quantiles or not config.train.calibrate_quantiles:
        return None
    starts = prepared.starts["val"]
    if len(starts) > CALIBRATION_WINDOWS:  # a seeded sample of a large panel's
        starts = np.sort(np.random.default_rng(config.train.seed).choice(
            starts, CALIBRATION_WINDOWS, replace=False))
    inputs, actual = prepared.network_units(starts, config.data.window, config.data.horizon)
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
        {"mse": "mse", "huber": keras.losses.Huber(), "mae": "mae"}[train_config.loss]
    metrics = None
    if len(model.outputs[0].shape) == 4 and not levels:  # an ensemble's trainer [..., K]
        from .ensemble import losses

        loss, metrics = losses(train_config.loss)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  steps_per_execution=train_config.steps_per_execution,
                  jit_compile=train_config.xla)
