"""What a run directory shows besides its model and metrics: history.csv,
per_series.csv, loss.png and forecast.png (matplotlib without a display, saved
atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import data as data_lib
from .atomic import atomic_path, csv_text


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write `figure` to `path` (format from its suffix) atomically, then free it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi)
    pyplot().close(figure)
    return Path(path)


def history_csv(history: dict[str, list[float]]) -> str:
    """history.csv: epoch, then each metric Keras recorded."""
    keys = list(history)
    return csv_text([["epoch"] + keys] + [
        [epoch + 1] + [f"{history[key][epoch]:.8g}" for key in keys]
        for epoch in range(len(history[keys[0]]))])


def per_series_csv(table: dict) -> str:
    """per_series.csv: one row per series, its metrics for each forecast."""
    columns = [key for key in table if key != "series"]
    return csv_text([["series"] + columns] + [
        [name] + [f"{table[key][index]:.6g}" for key in columns]
        for index, name in enumerate(table["series"])])


def plot_loss(history: dict[str, list[float]], path: Path) -> None:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axis.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        axis.plot(epochs, history["val_loss"], label="validation loss")
    losses = np.concatenate([history["loss"], history.get("val_loss", [])])
    # (a log scale needs a positive loss: a constant series' is 0 from the first epoch)
    axis.set(xlabel="epoch", ylabel="loss (scaled units)", title="Loss curves",
             yscale="log" if (losses > 0).any() else "linear")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)


def forecast_times(series: data_lib.Series, rows: np.ndarray) -> dict:
    """{"time": the time column's values at `rows` (forecast rows; dates as datetime64,
    else numbers), "time_column": its name}, or {} when the series has no time column."""
    if not series.time or not series.time_column:
        return {}
    values = [data_lib.parse_time(series.time[row]) for row in rows]
    dates = any(isinstance(value, np.datetime64) for value in values)
    return {"time": np.array(values, dtype="datetime64" if dates else np.float64),
            "time_column": series.time_column}


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
