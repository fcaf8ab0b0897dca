"""Look inside a trained LSTM: every gate, the candidate, the cell state and h for one window.

    lstm-tf inspect RUN  →  RUN/inspect/window-<index>.{npz,csv,png,json}

One input window (by default the last test window) goes through the run's model
rebuilt with gate cells (`cells.gate_model_from_lstm`); for every LSTM layer and step
of it we keep f_t, i_t, o_t, C~_t, C_t and h_t (each [time, units]) and write them as
NPZ (named as the gate model's outputs, `contract.gate_output_names`) and as a long CSV
(a row per layer, step and unit), draw them as heatmaps under the window and its
forecast, and summarise each layer in a few numbers. Steps are numbered t = 1..T (row
t-1 of an NPZ array), as the tutorial's x_t; units from 0.

Importing this module does not import TensorFlow; `trace_window` and `inspect_run` do.
"""

from __future__ import annotations

import time as time_lib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import contract, runs
from .atomic import atomic_path, csv_text, refuse_overwrite, write_json, write_text
from .data.prepare import evaluation_data
from .data.timeaxis import format_time
from .errors import UserError
from .figures import pyplot, save_figure
from .quantiles import median_index

# The order data flows through the cell; the figure's panels and the CSV's columns.
FLOW_ORDER = ("forget_gate", "input_gate", "output_gate", "candidate", "cell_state", "h")
TOP_CHANGED_UNITS = 3


@dataclass
class Window:
    """One evaluated window, in original units."""

    part: str  # "test", or "file" for every window of a --data file
    index: int  # position among the part's windows, 0-based
    count: int  # windows in the part
    start: int  # row of the first forecast step
    inputs: np.ndarray  # [time, columns]
    actual: np.ndarray  # [horizon, targets]
    columns: list[str]
    targets: list[str]
    input_times: list[str] | None = None  # the time column's labels of the input rows
    forecast_times: list[str] | None = None  # ... and of the forecast rows


@dataclass
class Inspection:
    """A window traced through a run's model: one gate trace per LSTM layer."""

    run: str
    kind: str
    window: Window
    layers: list  # one cells.GateTrace per LSTM layer, each array [time, units]
    forecast: np.ndarray  # [horizon, targets], original units
    summary: list[dict] = field(default_factory=list)


@dataclass
class InspectResult:
    inspection: Inspection
    paths: dict[str, Path]  # "npz", "csv", "png", "json"
    seconds: float


def check_inspectable(kind: str, run, action: str = "inspect") -> None:
    """Refuse a SimpleRNN run before loading anything: it has no gates."""
    if kind == "rnn":
        raise UserError(f"{run} is a SimpleRNN run (--model rnn); a SimpleRNN has no gates to "
                        f"{action}: train with --model lstm or --model gated")


def pick_window(prepared, part: str, window: int, horizon: int,
                index: int | None = None) -> Window:
    """Window `index` (default: the last) of the prepared part, raw values and time labels."""
    starts = prepared.starts[part]
    count = len(starts)
    index = count - 1 if index is None else index
    if not 0 <= index < count:
        where = "test part" if part == "test" else "file"
        raise UserError(f"window index {index} is out of range: the {where} has {count} "
                        f"window(s), use --index 0..{count - 1} (or --last)")
    start = int(starts[index])
    series = prepared.series
    return Window(
        part=part, index=index, count=count, start=start,
        inputs=series.values[start - window:start].copy(),
        actual=series.values[start:start + horizon, :len(series.targets)].copy(),
        columns=list(series.columns), targets=list(series.targets),
        input_times=_time_labels(series.time, slice(start - window, start)),
        forecast_times=_time_labels(series.time, slice(start, start + horizon)))


def _time_labels(times, rows: slice) -> list[str] | None:
    """A series' time texts for `rows`; a panel's parsed times formatted back."""
    if times is None or len(times) == 0:
        return None
    if isinstance(times, np.ndarray):
        return [str(label) for label in format_time(times[rows])]
    return list(times[rows])


def trace_window(model, scaled_inputs: np.ndarray):
    """Run one scaled window [time, columns] through `model` rebuilt with gate cells.

    Returns (one `cells.GateTrace` per LSTM layer with arrays [time, units], the
    model's scaled forecast [horizon, targets]). The forecast is the gate model's,
    which computes the same function as `model`. Of an ensemble (`--ensemble`): member
    0's gates and forecast.
    """
    from . import cells
    from .ensemble import member

    gate_model = cells.gate_model_from_lstm(member(model, 0))
    x = np.asarray(scaled_inputs, np.float32)[None]
    # One window: a direct eager call is faster than predict(), which traces a function.
    *traces, forecast = gate_model(x, training=False)
    layers = [cells.split_gates(np.asarray(trace)[0]) for trace in traces]
    return layers, np.asarray(forecast)[0]


def summarise(layers: list) -> list[dict]:
    """Per layer: mean forget, input and output gate, and the units whose C changed most.

    A unit's change is sum over t = 2..T of |C_t - C_{t-1}|: how much its memory
    was rewritten inside the window (the fill-up from the zero state at t = 1 is
    not counted).
    """
    summary = []
    for number, trace in enumerate(layers):
        change = np.abs(np.diff(trace.cell_state, axis=0)).sum(axis=0)
        most = np.argsort(-change, kind="stable")[:TOP_CHANGED_UNITS]
        summary.append({
            "layer": number, "units": int(trace.h.shape[-1]),
            "mean_forget_gate": float(trace.forget_gate.mean()),
            "mean_input_gate": float(trace.input_gate.mean()),
            "mean_output_gate": float(trace.output_gate.mean()),
            "most_changed_units": [{"unit": int(unit), "cell_state_change": float(change[unit])}
                                   for unit in most],
        })
    return summary


def summary_lines(summary: list[dict]) -> list[str]:
    """The summary as short lines for a terminal."""
    return [f"layer {layer['layer']} ({layer['units']} units): mean forget gate "
            f"{layer['mean_forget_gate']:.2f}, input gate {layer['mean_input_gate']:.2f}, "
            f"output gate {layer['mean_output_gate']:.2f}; cell state changed most in unit(s) "
            + ", ".join(f"{u['unit']} ({u['cell_state_change']:.2f})"
                        for u in layer["most_changed_units"])
            for layer in summary]


def inspect_run(run: str | Path, data_path: str | None = None, index: int | None = None,
                out: str | Path | None = None, force: bool = False) -> InspectResult:
    """Trace one window of `run` and write NPZ, CSV, PNG and a JSON summary.

    `index` counts the windows of the evaluated part (the test part, or every
    window of `data_path`); None is the last. Output goes to `out` (default
    RUN/inspect/); existing files are replaced only with `force`.
    """
    started = time_lib.perf_counter()
    config = runs.load_config(run)
    if config.covariates or config.model.series_embedding:
        raise UserError(f"{run} takes more inputs than its window (future-known covariates or "
                        "a series embedding), which `lstm-tf inspect` does not feed yet")
    check_inspectable(config.model.kind, run)
    prepared, part = evaluation_data(config, data_path)
    window = pick_window(prepared, part, config.data.window, config.data.horizon, index)
    # window-<index>.* for the test part, <file stem>-window-<index>.* for a --data file
    stem = f"window-{window.index}" if data_path is None else \
        f"{Path(data_path).stem}-window-{window.index}"
    paths = {kind: (Path(out) if out else Path(run) / "inspect") / f"{stem}.{kind}"
             for kind in ("npz", "csv", "png", "json")}
    for path in paths.values():
        refuse_overwrite(path, force)

    model = runs.load_model(run)
    layers = []

    def network(inputs):  # the gates are the network's, fed the scaled, anchored window
        traces, output = trace_window(model, inputs[0])
        layers.extend(traces)
        return output[None]

    forecast = prepared.forecast(network, np.array([window.start]), config.data.window,
                                 config.data.horizon)[0]
    if config.model.quantiles:  # the point forecast is the median
        forecast = forecast[..., median_index(config.model.quantiles)]
    inspection = Inspection(run=Path(run).resolve().name, kind=config.model.kind,
                            window=window, layers=layers, forecast=forecast,
                            summary=summarise(layers))
    with atomic_path(paths["npz"]) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **npz_arrays(inspection))  # a file: savez would add .npz to a name
    write_csv(inspection, paths["csv"])
    plot_inspection(inspection, paths["png"])
    write_json(paths["json"], {
        "run": inspection.run, "kind": inspection.kind, "part": window.part,
        "index": window.index, "windows": window.count, "start_row": window.start,
        "time_range": _time_range(window), "targets": window.targets,
        "forecast": inspection.forecast.tolist(), "actual": window.actual.tolist(),
        "layers": inspection.summary})
    return InspectResult(inspection, paths, time_lib.perf_counter() - started)


# ------------------------------------------------------------------------- files


def npz_arrays(inspection: Inspection) -> dict[str, np.ndarray]:
    """Everything written to the NPZ: numeric arrays and fixed-width unicode names only."""
    window = inspection.window
    names = contract.gate_output_names(len(inspection.layers))
    traces = [trace.as_dict()[gate] for trace in inspection.layers for gate in contract.GATES]
    arrays = dict(zip(names, traces))
    arrays.update({
        "window": window.inputs, "forecast": inspection.forecast, "actual": window.actual,
        "columns": np.array(window.columns, dtype=str),
        "targets": np.array(window.targets, dtype=str),
        "index": np.array(window.index), "start_row": np.array(window.start),
    })
    if window.input_times is not None:
        arrays["input_times"] = np.array(window.input_times, dtype=str)
        arrays["forecast_times"] = np.array(window.forecast_times, dtype=str)
    return arrays


def write_csv(inspection: Inspection, path: Path) -> None:
    """One row per layer, step t (1-based) and unit; `time` is the time column's label."""
    times = inspection.window.input_times
    rows = [["layer", "t", "time", "unit", *FLOW_ORDER]]
    for number, trace in enumerate(inspection.layers):
        values = trace.as_dict()
        steps, units = trace.h.shape
        rows += [[number, step + 1, times[step] if times else "", unit]
                 + [f"{values[name][step, unit]:.7g}" for name in FLOW_ORDER]
                 for step in range(steps) for unit in range(units)]
    write_text(path, csv_text(rows))


def _time_range(window: Window) -> list[str] | None:
    return (None if window.input_times is None else
            [window.input_times[0], (window.forecast_times or window.input_times)[-1]])


# ------------------------------------------------------------------------ figure

# Panel title, then the tutorial's equation, per quantity.
PANELS = {
    "forget_gate": ("forget gate $f_t$", r"$\sigma(W_f\,[h_{t-1}, x_t] + b_f)$"),
    "input_gate": ("input gate $i_t$", r"$\sigma(W_i\,[h_{t-1}, x_t] + b_i)$"),
    "output_gate": ("output gate $o_t$", r"$\sigma(W_o\,[h_{t-1}, x_t] + b_o)$"),
    "candidate": (r"candidate $\tilde{C}_t$", r"$\tanh(W_C\,[h_{t-1}, x_t] + b_C)$"),
    "cell_state": ("cell state $C_t$", r"$f_t \odot C_{t-1} + i_t \odot \tilde{C}_t$"),
    "h": ("hidden state $h_t$", r"$o_t \odot \tanh(C_t)$"),
}


def _colour_scale(name: str, values: np.ndarray) -> tuple[str, float, float]:
    """Gates on a fixed 0..1 scale; C~ and h on -1..1; C symmetric around 0."""
    if name.endswith("_gate"):
        return "viridis", 0.0, 1.0
    if name in ("candidate", "h"):
        return "RdBu_r", -1.0, 1.0
    limit = max(float(np.abs(values).max()), 1e-6)
    return "RdBu_r", -limit, limit


def plot_inspection(inspection: Inspection, path: Path, dpi: int = 100) -> None:
    """Input window and forecast on top, then per layer a row of six heatmaps over t x unit."""
    plt = pyplot()
    from matplotlib.gridspec import GridSpec

    window = inspection.window
    layers = inspection.layers
    steps = window.inputs.shape[0]
    max_units = max(trace.h.shape[-1] for trace in layers)
    row_height = 2.6 + 0.02 * max_units  # taller rows for more units
    height = 3.6 + row_height * len(layers)
    figure = plt.figure(figsize=(20, height), dpi=dpi)
    # Margins in inches, so that titles and axis labels fit for any number of layers.
    grid = GridSpec(1 + len(layers), 6, figure=figure,
                    height_ratios=[3.0] + [row_height] * len(layers),
                    hspace=0.55, wspace=0.35, left=0.05, right=0.97,
                    top=1 - 0.75 / height, bottom=0.55 / height)

    _plot_window(figure.add_subplot(grid[0, :4]), inspection)
    _draw_flow(figure.add_subplot(grid[0, 4:]), len(layers))

    ticks = _step_ticks(steps)
    for number, trace in enumerate(layers):
        values = trace.as_dict()
        units = trace.h.shape[-1]
        for column, name in enumerate(FLOW_ORDER):
            axis = figure.add_subplot(grid[1 + number, column])
            cmap, low, high = _colour_scale(name, values[name])
            image = axis.imshow(values[name].T, aspect="auto", origin="lower", cmap=cmap,
                                vmin=low, vmax=high, interpolation="nearest",
                                extent=(0.5, steps + 0.5, -0.5, units - 0.5))
            figure.colorbar(image, ax=axis, fraction=0.08, pad=0.03).ax.tick_params(labelsize=8)
            title, equation = PANELS[name]
            axis.set_title(f"{title}\n{equation}", fontsize=10)
            axis.set_xticks(ticks)
            axis.tick_params(labelsize=8)
            axis.set_xlabel("step t in the window", fontsize=9)
            if column == 0:
                axis.set_ylabel(f"layer {number}: unit", fontsize=10, fontweight="bold")
            if units <= 12:
                axis.set_yticks(range(units))

    where = "test window" if window.part == "test" else "window"
    title = (f"{inspection.run} ({inspection.kind}): gates for {where} {window.index} "
             f"(0-based, of {window.count})")
    time_range = _time_range(window)
    if time_range:
        title += f", {time_range[0]} to {time_range[1]}"
    figure.suptitle(title, fontsize=13, fontweight="bold", y=1 - 0.12 / height, va="top")
    save_figure(figure, path, dpi=dpi)


def _step_ticks(steps: int, most: int = 7) -> list[int]:
    """t = 1 and round multiples up to `steps`, at most about `most` of them."""
    every = next(n for n in (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9)
                 if steps / n <= most)
    return [1] + [t for t in range(every, steps + 1, every) if t - 1 >= 0.75 * every]


def _plot_window(axis, inspection: Inspection) -> None:
    """The targets over the input window (t = 1..T), the forecast after it (marked)."""
    window = inspection.window
    steps, horizon = window.inputs.shape[0], inspection.forecast.shape[0]
    t_in = np.arange(1, steps + 1)
    t_out = np.arange(steps + 1, steps + horizon + 1)
    axis.axvspan(steps + 0.5, steps + horizon + 0.5, color="tab:orange", alpha=0.12)
    for k, name in enumerate(window.targets):
        line, = axis.plot(t_in, window.inputs[:, k], marker="o", markersize=3, linewidth=1.4,
                          label=f"{name}: input window")
        colour = line.get_color()
        axis.plot(np.r_[steps, t_out], np.r_[window.inputs[-1, k], inspection.forecast[:, k]],
                  linestyle="--", color=colour, linewidth=1.2)
        # One target: an orange star stands out; several: each star in its target's colour.
        star = "tab:orange" if len(window.targets) == 1 else colour
        axis.plot(t_out, inspection.forecast[:, k], marker="*", markersize=13, linestyle="none",
                  color=star, markeredgecolor="black", label=f"{name}: forecast")
        axis.plot(t_out, window.actual[:, k], marker="o", markersize=7, linestyle="none",
                  markerfacecolor="none", markeredgecolor="black", label=f"{name}: actual")
    axis.text(steps + 0.5 + horizon / 2, 1.01, "forecast", transform=axis.get_xaxis_transform(),
              ha="center", va="bottom", fontsize=9, color="tab:orange")
    # Ticks on the input steps, none too close to the forecast's, which are always shown.
    forecast_ticks = [int(t_out[0]), int(t_out[-1])] if horizon > 1 else [int(t_out[0])]
    ticks = [t for t in _step_ticks(steps) if t < steps + 1 - 1.5] + forecast_ticks
    axis.set_xticks(ticks)
    if window.input_times is not None:
        labels = window.input_times + window.forecast_times
        axis.set_xticklabels([f"{t}\n{labels[t - 1]}" for t in ticks], fontsize=8)
    # Head room so that the legend never covers the series.
    shown = np.concatenate([window.inputs[:, :len(window.targets)].ravel(),
                            inspection.forecast.ravel(), window.actual.ravel()])
    low, high = float(shown.min()), float(shown.max())
    spread = max(high - low, 1e-9)
    axis.set(xlim=(0.5, steps + horizon + 0.5), ylim=(low - 0.08 * spread, high + 0.35 * spread),
             xlabel="step t (and time)" if window.input_times is not None else "step t",
             ylabel=", ".join(window.targets) + " (original units)")
    axis.set_title("input window (fed to the first layer as $x_t$, scaled) and forecast",
                   fontsize=11)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", ncol=min(3, 3 * len(window.targets)))


def _draw_flow(axis, layers: int) -> None:
    """The data-processing flow of one step, as the tutorial's chart draws it."""
    axis.axis("off")
    boxes = [
        (r"$x_t$ (scaled input) and $h_{t-1}$", "#dddddd"),
        (r"gates $f_t,\ i_t,\ o_t$ and candidate $\tilde{C}_t$", "#d8ecd8"),
        (r"$C_t = f_t \odot C_{t-1} + i_t \odot \tilde{C}_t$", "#f6e2c8"),
        (r"$h_t = o_t \odot \tanh(C_t)$", "#d6e4f2"),
        (("$h_t$ feeds layer 1; " if layers > 1 else "") + r"$h_T$ of the last layer"
         r" $\to$ Dense $\to$ forecast", "#f7d9d9"),
    ]
    spacing = 1.0 / len(boxes)
    for k, (text, colour) in enumerate(boxes):
        y = 1 - spacing * (k + 0.5)
        axis.text(0.5, y, text, ha="center", va="center", fontsize=10,
                  transform=axis.transAxes,
                  bbox={"boxstyle": "round,pad=0.35", "facecolor": colour, "edgecolor": "#888888"})
        if k < len(boxes) - 1:
            axis.annotate("", xy=(0.5, y - spacing + 0.065), xytext=(0.5, y - 0.065),
                          xycoords="axes fraction",
                          arrowprops={"arrowstyle": "->", "color": "#555555"})
    axis.set_title("one step of each LSTM layer (read the rows below left to right)",
                   fontsize=10)
