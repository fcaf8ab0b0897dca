"""Training and evaluation, read top to bottom: load → split → scale → window → fit → evaluate."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import data as data_lib
from . import metrics as metrics_lib
from . import runs
from .atomic import atomic_path, write_json, write_text
from .config import DataConfig, RunConfig, TrainConfig, library_versions
from .errors import UserError


@dataclass
class Prepared:
    """A series made ready for a model: split, scaled, and cut into windows."""

    series: data_lib.Series
    split: data_lib.Split
    scaler: data_lib.Scaler
    scaled: np.ndarray
    starts: dict[str, np.ndarray]  # window start rows per part: train, val, test


def load_series(config: DataConfig) -> data_lib.Series:
    """Load the configured data and fill in the defaults it implies (targets, time, season)."""
    if config.path:
        series = data_lib.read_csv(config.path, config.targets, config.features,
                                   config.time_column, config.fill)
    else:
        info = data_lib.BUILTIN_DATASETS.get(config.dataset)
        series = data_lib.load_builtin(config.dataset, config.targets, config.features,
                                       config.fill)
        if info is not None:
            config.season = config.season or info.season
            config.fill = config.fill or info.fill
    config.targets, config.features = series.targets, series.features
    config.time_column = series.time_column
    return series


def prepare(series: data_lib.Series, config: DataConfig,
            scaler: data_lib.Scaler | None = None) -> Prepared:
    """Split chronologically, fit the scaler on the training rows, find every window."""
    split = data_lib.split_rows(len(series.values), config.val_fraction, config.test_fraction,
                                config.window, config.horizon)
    if scaler is None:
        scaler = data_lib.Scaler.fit(series.values[:split.train_end], series.columns)
    starts = {part: data_lib.window_starts(*split.bounds(part), config.window, config.horizon,
                                           config.stride)
              for part in ("train", "val", "test")}
    for part, found in starts.items():
        if len(found) == 0:
            raise UserError(f"the {part} part holds no window of {config.window} + "
                            f"{config.horizon} rows; use more data or a smaller window/stride")
    return Prepared(series, split, scaler, scaler.transform(series.values), starts)


def train(config: RunConfig, out: str | Path, force: bool = False, verbose: int = 1,
          log: Callable[[str], None] = print) -> dict:
    """Train a forecaster and write a complete run directory at `out`. Returns its metrics."""
    from .devices import is_chief, resolve_unroll, run_report, with_data_sharding
    from .models import build_model, local_copy
    from .tf_setup import set_op_determinism

    config.validate()
    chief = is_chief(config.train.strategy)  # only the chief writes the run
    if chief and Path(out).exists() and not force:  # fail before the slow part
        raise UserError(f"run directory {out} already exists; pass --force to replace it")
    series = load_series(config.data)
    prepared = prepare(series, config.data)
    config.scaler = {"columns": prepared.scaler.columns, "mean": prepared.scaler.mean,
                     "std": prepared.scaler.std}
    config.split = {"train_end": prepared.split.train_end, "val_end": prepared.split.val_end,
                    "rows": prepared.split.rows}
    config.versions = library_versions()

    strategy, policy = start_tensorflow(config.train)
    data, n_targets = config.data, len(series.targets)
    # batch_size is the global batch: the strategy splits each batch across its replicas.
    train_set, val_set = (
        with_data_sharding(data_lib.make_dataset(
            prepared.scaled, prepared.starts[part], data.window, data.horizon, n_targets,
            config.train.batch_size, shuffle=part == "train", seed=config.train.seed))
        for part in ("train", "val"))
    config.train.unroll = resolve_unroll(config.train.unroll, config.train.device,
                                         config.train.xla, data.window, config.model.layers)
    with strategy.scope():  # variables and optimizer state live on every replica
        model = build_model(config.model, features=len(series.columns), horizon=data.horizon,
                            targets=n_targets, dtype_policy=policy,
                            unroll_window=data.window if config.train.unroll else None)
        compile_model(model, config.train, policy)
    if config.train.xla and not model.jit_compile:  # a cuDNN layer refused XLA
        set_op_determinism(True)  # so keep TensorFlow's op determinism after all
    for line in run_report(strategy, config.train.device, policy, model, config.train.xla):
        log(line)
    if config.train.strategy == "default":
        # Keras draws a batch from a pass of its own before it trains a distributed
        # model, which moves the shuffle on by one pass. Do the same on one device, so
        # that a seed gives the same batches on one device and on several replicas.
        iter(train_set)
    import keras

    callbacks = [keras.callbacks.TerminateOnNaN()]
    if config.train.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            patience=config.train.patience, restore_best_weights=True))
    log(f"training {config.model.kind} ({config.model.layers} x {config.model.units} units) on "
        f"{series.source}: {len(prepared.starts['train'])} train / "
        f"{len(prepared.starts['val'])} val / {len(prepared.starts['test'])} test windows")
    started = time.perf_counter()
    history = model.fit(train_set, validation_data=val_set, epochs=config.train.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - started

    # Across machines each worker would predict only its shard of the windows: evaluate
    # an ordinary copy instead, which every worker holds whole.
    evaluated = local_copy(model) if config.train.strategy == "multiworker" else model
    metrics = evaluate_model(evaluated, prepared, config)
    plot = metrics.pop("_plot")
    metrics["train_seconds"] = round(seconds, 2)
    metrics["epochs_run"] = len(history.history["loss"])
    # Every worker saves (saving may need them all), but only the chief keeps its run.
    target = Path(out) if chief else Path(tempfile.mkdtemp(prefix="lstm-tf-worker-")) / "run"
    try:
        with runs.new_run_directory(target, force) as staging:
            with atomic_path(staging / runs.MODEL_FILE) as path:
                model.save(path)
            write_json(staging / runs.CONFIG_FILE, config.to_dict())
            write_json(staging / runs.METRICS_FILE, metrics)
            write_text(staging / runs.HISTORY_FILE, _history_csv(history.history))
            plot_loss(history.history, staging / "loss.png")
            plot_forecast(plot, staging / "forecast.png")
    finally:
        if not chief:
            shutil.rmtree(target.parent, ignore_errors=True)
    if not chief:
        log(f"this worker is not the chief: the chief writes the run directory {out}")
    return metrics


def start_tensorflow(train_config: TrainConfig):
    """Choose device, strategy and precision, and seed; before TensorFlow's first op.

    Replaces "auto" in `train_config` by the device and strategy used, so that
    config.json records how the run was made. Returns (strategy, dtype policy).
    """
    from .devices import make_strategy, precision_policy, resolve_device, resolve_strategy, \
        use_devices
    from .tf_setup import set_seed

    train_config.device = resolve_device(train_config.device)
    use_devices(train_config.device, train_config.cpu_devices)
    train_config.strategy = resolve_strategy(train_config.strategy, train_config.device)
    strategy = make_strategy(train_config.strategy, train_config.device)
    train_config.replicas = strategy.num_replicas_in_sync
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
    loss = {"mse": "mse", "huber": keras.losses.Huber()}[train_config.loss]
    model.compile(optimizer=optimizer, loss=loss,
                  steps_per_execution=train_config.steps_per_execution,
                  jit_compile=train_config.xla)


def evaluate_model(model, prepared: Prepared, config: RunConfig,
                   part: str = "test") -> dict:
    """MAE, RMSE and MASE of the model and the naive baselines on one part, in original units."""
    data = config.data
    n_targets = len(prepared.series.targets)
    starts = prepared.starts[part]
    inputs, _ = data_lib.windows(prepared.scaled, starts, data.window, data.horizon, n_targets)
    scaled_forecast = model.predict(inputs.astype(np.float32), batch_size=256, verbose=0)
    forecast = prepared.scaler.inverse_targets(scaled_forecast.astype(np.float64), n_targets)
    raw_targets = prepared.series.values[:, :n_targets]
    _, actual = data_lib.windows(raw_targets, starts, data.window, data.horizon, n_targets)

    train_targets = raw_targets[:prepared.split.train_end]
    scale = metrics_lib.mase_scale(train_targets)
    result = {"part": part, "windows": int(len(starts)), "targets": prepared.series.targets,
              "model": metrics_lib.report(forecast, actual, scale),
              "naive": metrics_lib.report(
                  metrics_lib.naive_forecast(raw_targets, starts, data.horizon), actual, scale)}
    if data.season and starts.min() >= data.season:
        result["seasonal_naive"] = metrics_lib.report(
            metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, data.season),
            actual, scale)
        result["season"] = data.season
    result["_plot"] = {"forecast": forecast, "actual": actual, "targets": prepared.series.targets}
    return result


def evaluate(run: str | Path, data_path: str | None = None) -> dict:
    """Metrics of a saved run on its own test part, or on every window of another CSV file."""
    config = runs.load_config(run)
    model = runs.load_model(run)
    scaler = data_lib.Scaler(config.scaler["mean"], config.scaler["std"], config.scaler["columns"])
    if data_path is None:
        series = load_series(config.data)
        prepared = prepare(series, config.data, scaler)
        part = "test"
    else:
        data = config.data
        series = data_lib.read_csv(data_path, data.targets, data.features,
                                   data.time_column if _has_column(data_path, data.time_column)
                                   else None, data.fill)
        rows = len(series.values)
        starts = data_lib.window_starts(0, rows, data.window, data.horizon, data.stride)
        if len(starts) == 0:
            raise UserError(f"{data_path} has {rows} rows; need at least "
                            f"{data.window + data.horizon} for one window")
        # The whole file is the evaluation part; MASE is scaled on the file itself.
        prepared = Prepared(series, data_lib.Split(rows, rows, rows), scaler,
                            scaler.transform(series.values), {"file": starts})
        part = "file"
    result = evaluate_model(model, prepared, config, part)
    result.pop("_plot")
    return result


def _has_column(path: str, column: str | None) -> bool:
    if not column:
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return column in [name.strip() for name in header]


def _history_csv(history: dict[str, list[float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history)
    writer.writerow(["epoch"] + keys)
    for epoch in range(len(history[keys[0]])):
        writer.writerow([epoch + 1] + [f"{history[key][epoch]:.8g}" for key in keys])
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss(history: dict[str, list[float]], path: Path) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axis.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        axis.plot(epochs, history["val_loss"], label="validation loss")
    axis.set(xlabel="epoch", ylabel="loss (scaled units)", yscale="log", title="Loss curves")
    axis.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)


def plot_forecast(plot: dict, path: Path) -> None:
    """Test forecast (first horizon step) against the actual values, one panel per target."""
    plt = _pyplot()
    targets = plot["targets"]
    figure, axes = plt.subplots(len(targets), 1, figsize=(9, 3.2 * len(targets)), squeeze=False)
    for index, (axis, name) in enumerate(zip(axes[:, 0], targets)):
        axis.plot(plot["actual"][:, 0, index], label="actual", color="black", linewidth=1.2)
        axis.plot(plot["forecast"][:, 0, index], label="forecast (step 1)", color="tab:orange")
        axis.set(xlabel="test window", ylabel=name, title=f"Test forecast: {name}")
        axis.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)
