"""Core commands: datasets, train, evaluate."""

from __future__ import annotations

import functools
import json

import click


def _names(text: str | None) -> list[str] | None:
    """A comma-separated option as a list of column names."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


@click.command()
def datasets() -> None:
    """List the built-in datasets (shipped inside the package; no network)."""
    from lstm_tf.data import BUILTIN_DATASETS

    from lstm_tf.data.sources import BUILTIN_PANELS

    width = max(map(len, [*BUILTIN_DATASETS, *BUILTIN_PANELS]))
    for name, info in BUILTIN_DATASETS.items():
        click.echo(f"{name:{width}s} target={info.target:10s} {info.description}")
    for name, info in BUILTIN_PANELS.items():
        click.echo(f"{name:{width}s} {f'panel, {info.series} series':17s} {info.description}")


positive = click.IntRange(min=1)
fraction = click.FloatRange(0, 1, min_open=True, max_open=True)


def data_options(window: bool = True):
    """The data options of `train` (and `tune`), as one decorator; `window=False` leaves
    out --window (for a command that searches it)."""
    options = [
        click.option("--data", "data_path", type=click.Path(), help="CSV file with a header row."),
        click.option("--dataset", default=None, help="Built-in dataset (see `lstm-tf datasets`); "
                     "default elnino when no --data."),
        click.option("--target", help="Target column(s), comma-separated. Default: the "
                     "dataset's, or the first non-time column."),
        click.option("--features", help="Extra input feature columns, comma-separated."),
        click.option("--time-column", help="Time column; must increase row by row. Default: "
                     "the column named time, date, datetime, timestamp or ds, if one is."),
        click.option("--fill", type=click.Choice(["interpolate", "ffill", "drop"]),
                     help="How to handle missing values (default: refuse them); in a panel, "
                     "series by series."),
        click.option("--series-column", metavar="ID", help="A panel in a long CSV: the column "
                     "naming each row's series (rows in any order; sorted by series and time); "
                     "several comma-separated for a key of several columns (State,Purpose: "
                     "series NSW/Business)."),
        click.option("--columns-as-series", is_flag=True, help="A panel in a wide CSV: every "
                     "target column (default all but the time column) is its own series."),
    ]
    if window:
        options.append(click.option(
            "--window", type=positive, help="Input steps. Default: three seasons and a step "
            "(room for every seasonal anchor), 24 without a season; at most a third of the "
            "training rows."))
    options += [
        click.option("--horizon", type=positive, default=1, show_default=True,
                     help="Steps to forecast."),
        click.option("--stride", type=positive, default=1, show_default=True,
                     help="Steps between windows."),
        click.option("--val-fraction", type=fraction, default=0.15, show_default=True),
        click.option("--test-fraction", type=fraction, default=0.15, show_default=True),
        click.option("--test-size", type=positive, metavar="N", help="The last N steps of "
                     "every series are its test part (instead of --test-fraction), as the "
                     "forecasting competitions do."),
        click.option("--val-size", type=positive, metavar="N", help="The N steps before the "
                     "test part are validation (instead of --val-fraction)."),
        click.option("--scaling", type=click.Choice(["window", "series"]), help="A panel's "
                     "scaling inside the model: window (each window by its own mean and std: "
                     "serves series never seen) or series (each series' training statistics, "
                     "chosen by a series index input). Default: window, and on a small panel "
                     "(up to 20,000 training windows and 100,000 window steps) series as "
                     "well (anchor auto), kept if 2% better on validation."),
        click.option("--season", type=positive, help="Season length (seasonal anchors, seasonal "
                     "naive baseline). Default: the dataset's, or from a date time column's "
                     "spacing (half-hourly 48, hourly 24, daily 7, weekly 52, monthly 12, "
                     "quarterly 4)."),
        click.option("--anchor", type=click.Choice(["auto", "network", "none", "last",
                                                    "season", "season-level", "ar",
                                                    "ar-level"]),
                     help="The linear forecast the network corrects, read off each window (the "
                     "network's inputs are then relative to the window's last value): the last "
                     "value, seasonal naive, seasonal naive keeping level and trend, a ridge "
                     "autoregression of the changes (ar) or of the values (ar-level); auto: per "
                     "step, the one with the lowest validation error; none: absolute z-scores "
                     "(needed for export --step); network: none, with auto's anchor as the "
                     "fallback where it beats the network on validation (and then anchor auto + "
                     "network trained as well, kept if better there). Default: auto for a "
                     "single series, network for a panel."),
        click.option("--backtest-windows", type=positive,
                     help="Hold out a test part sized for `lstm-tf backtest --windows N`: "
                     "horizon + step x (N - 1) rows (instead of --test-fraction)."),
        click.option("--backtest-step", type=positive, default=1, show_default=True,
                     help="Rows between backtest origins (with --backtest-windows)."),
    ]

    def decorate(command):
        @functools.wraps(command)
        def with_data(**values):
            data = {name: values.pop(name) for name in DATA_OPTIONS if name in values}
            return command(data=data_config(**data), **values)

        for option in reversed(options):
            with_data = option(with_data)
        return with_data

    return decorate


# The parameters `data_options` adds, which it turns into the command's `data` argument.
DATA_OPTIONS = ("data_path", "dataset", "target", "features", "time_column", "fill",
                "series_column", "columns_as_series", "window", "horizon", "stride",
                "val_fraction", "test_fraction", "test_size", "val_size", "scaling", "season",
                "anchor", "backtest_windows", "backtest_step")


def data_config(data_path=None, dataset=None, target=None, features=None, time_column=None,
                fill=None, series_column=None, columns_as_series=False, window=None,
                horizon=1, stride=1, val_fraction=0.15, test_fraction=0.15, test_size=None,
                val_size=None, scaling=None, season=None, anchor=None, backtest_windows=None,
                backtest_step=1):
    """The DataConfig of the `data_options` values (by name)."""
    from lstm_tf.config import DataConfig
    from lstm_tf.errors import UserError

    if data_path and dataset:
        raise UserError("give either --data FILE or --dataset NAME, not both")
    return DataConfig(dataset=None if data_path else (dataset or "elnino"), path=data_path,
                      targets=_names(target), features=_names(features) or [],
                      time_column=time_column, fill=fill, window=window, horizon=horizon,
                      stride=stride, val_fraction=val_fraction, test_fraction=test_fraction,
                      season=season, anchor=anchor, backtest_windows=backtest_windows,
                      backtest_step=backtest_step, series_column=series_column,
                      columns_as_series=columns_as_series, test_size=test_size,
                      val_size=val_size, scaling=scaling)


@click.command()
@data_options()
@click.option("--model", "kind", type=click.Choice(["lstm", "rnn", "gated"]), default="lstm",
              show_default=True, help="lstm: keras LSTM (cuDNN on GPU); rnn: SimpleRNN; gated: "
              "the gate-exposing LSTM cell (same math as lstm, never cuDNN: slower on a GPU).")
@click.option("--calendar", metavar="NAMES", help="Future-known calendar features of the date "
              "time column, comma-separated: month, dayofweek, dayofmonth, dayofyear, hour, "
              "minute (each as the sine and cosine of its cycle); the model sees them over the "
              "forecast horizon, and predict computes them for the future steps.")
@click.option("--known", metavar="COLS", help="Columns whose future values are known in advance "
              "(a price, a promotion, a holiday), comma-separated; the model sees them over the "
              "forecast horizon. predict reads their future values from the rows after the last "
              "target value (target cells empty).")
@click.option("--series-embedding", type=click.IntRange(min=1), metavar="DIM",
              help="A panel: learn a DIM-sized vector per series (the series index becomes an "
              "input of the model).")
@click.option("--units", type=positive, default=32, show_default=True)
@click.option("--layers", type=positive, default=1, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True, help="Dropout between stacked layers.")
@click.option("--ensemble", type=int, metavar="K",
              help="Train K networks (different initial weights) side by side in one fit; the "
              "forecast is their mean, kept or zeroed as a whole, exported as one ONNX graph "
              "(default: 5 for a panel of up to 20,000 training windows and 100,000 window "
              "steps, training windows x window; else 1).")
@click.option("--epochs", type=positive, default=60, show_default=True)
@click.option("--batch-size", type=positive, default=32, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=3e-3,
              show_default=True)
@click.option("--loss", type=click.Choice(["mse", "huber", "mae"]),
              help="Loss of a point forecast (default mae); not with --quantiles, which trains "
              "with the pinball loss.")
@click.option("--quantiles", "quantile_levels", metavar="LEVELS",
              help="Probabilistic forecast: quantile levels, comma-separated, increasing, in "
              "(0, 1), e.g. 0.1,0.5,0.9 (the median 0.5 is added if missing; it is the point "
              "forecast). Trains with the pinball loss (so not with --loss); the quantiles "
              "never cross.")
@click.option("--calibrate/--no-calibrate", "calibrate", default=True, show_default=True,
              help="With --quantiles: after training, scale the quantiles' distances from the "
              "median so that each level's coverage on the validation windows is the level.")
@click.option("--final", is_flag=True, help="After validation chose the epochs and the anchor, "
              "train again on the training and validation rows (the test part stays unseen).")
@click.option("--lr-schedule", type=click.Choice(["constant", "plateau"]), default="constant",
              show_default=True, help="plateau: halve the learning rate when the validation "
              "loss stalls for a third of --patience epochs.")
@click.option("--init", "init_run", type=click.Path(), metavar="RUN", help="Start the network "
              "from another run's trained weights (same model, units, layers and horizon).")
@click.option("--floor/--no-floor", default=True, show_default=True,
              help="Forecast naive persistence, the seasonal naive forecast, the fitted anchor "
              "or the mean of the model and one of them instead of the model when it beats the "
              "model on the validation windows (not with --anchor none).")
@click.option("--patience", type=click.IntRange(min=0), default=10, show_default=True,
              help="Early stopping on validation loss (restores the best weights); 0: off.")
@click.option("--clipnorm", type=click.FloatRange(0, min_open=True),
              help="Clip each gradient to this norm.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True, help="auto: a GPU when TensorFlow sees one.")
@click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
              default="auto", show_default=True,
              help="tf.distribute: mirrored across local devices, multiworker across machines "
              "(TF_CONFIG; see docs/training.md); auto picks one from what it sees.")
@click.option("--mixed-precision", is_flag=True,
              help="mixed_float16 on a GPU, mixed_bfloat16 on a CPU; the head stays float32.")
@click.option("--xla/--no-xla", default=False, show_default=True,
              help="Compile the train step with XLA (jit_compile) where the layers allow it.")
@click.option("--unroll/--no-unroll", default=None,
              help="Unroll the recurrence (fixed window). Default: for 2+ layers on a CPU "
              "without XLA and windows up to 64 steps (faster there); never on a GPU (cuDNN).")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="TensorFlow intra-op threads; 0: 1 when the recurrence is unrolled on a CPU "
              "(faster there), else one per core.")
@click.option("--steps-per-execution", type=positive, default=16, show_default=True,
              help="Train steps per call into TensorFlow.")
@click.option("--cpu-devices", type=positive, default=1, show_default=True,
              help="Split the CPU into this many logical devices (to rehearse --strategy "
              "mirrored without GPUs).")
@click.option("--out", type=click.Path(), help="Run directory (default runs/<name>).")
@click.option("--name", help="Run name (default <dataset>-<model>).")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@click.option("--resume", "resume_run", type=click.Path(), metavar="RUN",
              help="Continue the interrupted training of RUN (Ctrl-C or SIGTERM saved its state); "
              "every other option is taken from the interrupted run.")
@click.option("-q", "--quiet", is_flag=True, help="No Keras progress bar.")
def train(data, kind, calendar, known, series_embedding, units, layers, ensemble,
          dropout, epochs, batch_size, learning_rate, loss, quantile_levels, calibrate, final,
          lr_schedule, init_run, floor, patience,
          clipnorm, seed, device, strategy, mixed_precision, xla,
          unroll, threads, steps_per_execution, cpu_devices, out, name, force,
          resume_run, quiet) -> None:
    """Train a forecaster and write a run directory (model, config, metrics, plots).

    The tutorial's PyTorch LSTMModel(input_size=1, hidden_size=10, num_layers=1,
    output_size=1) is: --model lstm --units 10 --layers 1 --horizon 1.
    """
    from pathlib import Path

    from lstm_tf.config import ModelConfig, RunConfig, TrainConfig
    from lstm_tf.errors import UserError
    from lstm_tf.quantiles import parse_levels
    from lstm_tf.train import resume_training, train as train_run

    verbose = 0 if quiet else 2
    if resume_run:
        metrics = resume_training(resume_run, verbose=verbose, log=click.echo)
        _report(resume_run, metrics)
        return
    levels = parse_levels(quantile_levels)
    if levels and loss:
        raise UserError(f"--quantiles trains with the pinball (quantile) loss; --loss {loss} is "
                        "for a point forecast: leave out --loss")
    loss = "pinball" if levels else (loss or "mae")
    source = Path(data.path).stem if data.path else data.dataset
    name = name or f"{source}-{kind}"
    out = Path(out) if out else Path("runs") / name
    data.calendar, data.known = _names(calendar) or [], _names(known) or []
    config = RunConfig(
        data=data,
        model=ModelConfig(kind=kind, units=units, layers=layers, dropout=dropout,
                          quantiles=levels, series_embedding=series_embedding or 0,
                          ensemble=ensemble),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                          loss=loss, patience=patience, clipnorm=clipnorm, seed=seed,
                          steps_per_execution=steps_per_execution, device=device,
                          strategy=strategy, mixed_precision=mixed_precision, xla=xla,
                          unroll=unroll, threads=threads,
                          cpu_devices=cpu_devices, calibrate_quantiles=calibrate,
                          final=final, init=init_run, lr_schedule=lr_schedule,
                          floor=floor))
    metrics = train_run(config, out, force=force, verbose=verbose, log=click.echo)
    _report(out, metrics)


def _report(out, metrics: dict) -> None:
    click.echo(f"run: {out}  ({metrics['epochs_run']} epochs, {metrics['train_seconds']:.1f} s)")
    click.echo(_summary(metrics))


def _summary(metrics: dict) -> str:
    if "series" in metrics:  # a panel
        return _panel_summary(metrics)
    model, naive = metrics["model"], metrics["naive"]
    verdict = "beats" if model["mae"] < naive["mae"] else "does NOT beat"
    # (a constant test part: naive persistence is exact, no ratio to it)
    ratio = f"{model['mae'] / naive['mae']:.2f}x; " if naive["mae"] > 0 else ""
    line = (f"test MAE {model['mae']:.4g} vs naive {naive['mae']:.4g} "
            f"({ratio}model {verdict} persistence)")
    if "seasonal_naive" in metrics:
        line += f", seasonal naive {metrics['seasonal_naive']['mae']:.4g}"
    line += f"; MASE {model['mase']:.3f}, RMSE {model['rmse']:.4g}"
    return line + "".join("\n" + text for text in _quantile_summary(metrics.get("quantiles")))


def _quantile_summary(block: dict | None) -> list[str]:
    """One line per central interval of a quantile run: coverage, width, scaled pinball,
    beside the seasonal-naive residual intervals."""
    if not block:
        return []
    reference_name = next((key for key in block if key.endswith("_intervals")), None)
    reference = block.get(reference_name) if reference_name else None
    lines = [f"quantiles {', '.join(f'{x:g}' for x in block['levels'])}: mean scaled pinball "
             f"{block['model']['mean_scaled_pinball']:.4g}"
             + (f" vs {reference['mean_scaled_pinball']:.4g} for {reference_name.replace('_', ' ')}"
                if reference else "")]
    for name, interval in block["model"]["intervals"].items():
        line = (f"{name} interval: coverage {100 * interval['coverage']:.1f}%, mean width "
                f"{interval['mean_width']:.4g}")
        if reference:
            other = reference["intervals"][name]
            line += (f" (reference: {100 * other['coverage']:.1f}%, width "
                     f"{other['mean_width']:.4g})")
        lines.append(line)
    return lines


def _panel_summary(metrics: dict) -> str:
    """Mean MASE and sMAPE over the series (as M4 and Monash report), and on how many
    series the model beats each baseline."""
    model, count = metrics["model"], metrics["series"]
    baselines = [name for name in ("naive", "seasonal_naive") if name in metrics]
    line = (f"{count} series, test mean MASE {model['mase']:.3f} vs "
            + ", ".join(f"{name.replace('_', ' ')} {metrics[name]['mase']:.3f}"
                        for name in baselines)
            + f" (mean sMAPE {model['smape']:.2f}% vs "
            + ", ".join(f"{metrics[name]['smape']:.2f}%" for name in baselines) + "); model beats "
            + ", ".join(f"{name.replace('_', ' ')} on {metrics['beats_' + name]}/"
                        f"{metrics[name]['series']} series" for name in baselines))
    if metrics.get("forecast_only_series"):  # counted above: forecast, never trained on
        line += (f"; {metrics['forecast_only_series']} series too short to train, "
                 "forecast only")
    if metrics.get("skipped_series"):
        line += f"; {metrics['skipped_series']} series too short, skipped"
    return line


@click.command()
@click.argument("run", type=click.Path())
@click.option("--data", "data_path", type=click.Path(),
              help="Evaluate on every window of this CSV (same columns) instead of the test part.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(run, data_path, as_json) -> None:
    """Test metrics of a saved run against the naive forecasts."""
    from lstm_tf.evaluate import evaluate as evaluate_run

    metrics = evaluate_run(run, data_path)
    click.echo(json.dumps(metrics, indent=2) if as_json else _summary(metrics))


COMMANDS = [datasets, train, evaluate]
