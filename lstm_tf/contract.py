"""The contract of an exported model: names, shapes and metadata, defined once.

The exporter writes models that follow it; `predict`, the parity check, the tests and
the Node.js and browser consumers read it (the consumers read the JSON in the model's
metadata, `metadata_props["lstm_tf"]`, built by `build_metadata`). Pure Python: no
TensorFlow, no onnxruntime. `exported/README.md` documents it in full, in short:

    window model  `window` [batch, time, features] (+ `known` [batch, horizon, K], + a
                  panel's `series` [batch] int64) -> `forecast` [batch, horizon, targets]
    step model    `x_t`, `h_in`, `c_in` -> `forecast`, `h_out`, `c_out`
    gate model    `window` -> `forecast`, then `<gate>_l<layer>` [batch, time, units]
    quantiles     every model above also outputs, last, `quantiles` [batch, horizon,
                  targets, Q]; `forecast` is their median

in raw units, or z-scores with `scaling == "none"`; the anchor is inside the graph either way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import UserError

METADATA_KEY = "lstm_tf"
FORMAT = "lstm-tf/1"

INPUT = "window"
OUTPUT = "forecast"
SERIES_INPUT = "series"
QUANTILES = "quantiles"  # last output of a quantile model: [batch, horizon, targets, Q]
KNOWN_INPUT = "known"
STEP_INPUT = "x_t"
STEP_STATE_INPUTS = {"h": "h_in", "c": "c_in"}
STEP_STATE_OUTPUTS = {"h": "h_out", "c": "c_out"}

# An LSTM layer's per-step values, in the order `cells.GateLSTMCell` concatenates them.
GATES = ("h", "forget_gate", "input_gate", "output_gate", "candidate", "cell_state")

MAX_NAMES = 10_000  # bounds for validating untrusted metadata
MAX_SIZE = 1_000_000


def _stem(path: Path) -> str:
    return path.name[:-len(".onnx")] if path.name.endswith(".onnx") else path.name


def step_path_for(path: Path) -> Path:
    """The step model written beside a window model: NAME.onnx -> NAME.step.onnx."""
    return path.with_name(_stem(path) + ".step.onnx")


def parity_path_for(path: Path) -> Path:
    """The parity report written beside a model: NAME.onnx -> NAME.parity.json."""
    return path.with_name(_stem(path) + ".parity.json")


def state_names(kind: str) -> list[str]:
    """The state tensors of a step model: h for a simple RNN, h and c for an LSTM."""
    return ["h"] if kind == "rnn" else ["h", "c"]


def gate_output_names(layers: int) -> list[str]:
    """The gate model's outputs after `forecast`: `<gate>_l<layer>`, layer by layer."""
    return [f"{gate}_l{layer}" for layer in range(layers) for gate in GATES]


def output_names(kind: str, step: bool = False, gates_layers: int | None = None,
                 quantiles: list[float] | None = None) -> list[str]:
    """A model's outputs, in order: `forecast`, the step model's states or the gate
    model's sequences, then `quantiles` for a quantile model."""
    names = [OUTPUT]
    if step:
        names += [STEP_STATE_OUTPUTS[name] for name in state_names(kind)]
    if gates_layers:
        names += gate_output_names(gates_layers)
    return names + ([QUANTILES] if quantiles else [])


def build_metadata(*, kind: str, units: int, layers: int, window: int, horizon: int,
                   targets: list[str], features: list[str], scaler: dict, scaling: bool,
                   step: bool, anchor: dict | None = None, gates: bool, time_column: str | None, versions: dict,
                   opset: int, run: str, parity: dict | None = None,
                   panel: dict | None = None, fixed_time: int | None = None,
                   quantiles: list[float] | None = None,
                   covariates: dict | None = None, ensemble: int = 1) -> dict:
    """The metadata JSON stored in every exported model.

    `panel`: a panel run's {"scaling", "series" (names in index order), "series_column",
    "embedding", "series_anchor" (null, or its share, reach and candidates)}; the
    scaler's statistics are then inside the graph only (per window or per series). `fixed_time`: the only time length the graph takes (an unrolled gate
    model), written in place of `"time"` in the shapes of `inputs` and `outputs`.
    `covariates`: {"calendar", "known", "names"} of a model that takes future-known
    covariates (the `known` input). `ensemble`: K networks whose mean is the forecast
    (`units` and `layers` are each network's); a gate model of an ensemble traces member
    0 (`ensemble_member`), its `forecast` that member's.
    """
    columns = list(targets) + list(features)
    time = fixed_time or "time"
    outputs = {OUTPUT: ["batch", horizon, len(targets)]}
    if step:
        inputs = {STEP_INPUT: ["batch", len(columns)]}
        for name in state_names(kind):
            inputs[STEP_STATE_INPUTS[name]] = [layers, "batch", units]
            outputs[STEP_STATE_OUTPUTS[name]] = [layers, "batch", units]
    else:
        inputs = {INPUT: ["batch", time, len(columns)]}
        if covariates:
            inputs[KNOWN_INPUT] = ["batch", horizon, len(covariates["names"])]
        if takes_series(panel):
            inputs[SERIES_INPUT] = ["batch"]
    if gates:
        if step:
            raise ValueError("a gate model is a window model, not a step model")
        outputs.update({name: ["batch", time, units] for name in gate_output_names(layers)})
    if quantiles:
        outputs[QUANTILES] = ["batch", horizon, len(targets), len(quantiles)]
    return {
        "format": FORMAT,
        "model": "step" if step else ("gates" if gates else "window"),
        "kind": kind, "units": units, "layers": layers,
        "window": window, "horizon": horizon,
        "targets": list(targets),
        "columns": columns,  # the input columns, in order: targets first, then features
        "time_column": time_column,
        "scaling": "in-graph" if scaling else "none",
        "scaler": ({"per_series": True} if panel and panel["scaling"] == "series" else
                   {"per_window": True} if panel else
                   {"mean": list(scaler["mean"]), "std": list(scaler["std"])}),
        "panel": panel,
        "covariates": covariates,
        # What the network corrects, computed inside the graph from the window's last
        # `reach` rows (lstm_tf/anchors.py): a window needs at least that many rows.
        "anchor": anchor or {"kind": "none", "reach": 0},
        "inputs": inputs, "outputs": outputs, "dtype": "float32",
        "gates": gates,
        # Quantile levels of the `quantiles` output (increasing, the median among them);
        # null for a point forecaster.
        "quantiles": list(quantiles) if quantiles else None,
        # K networks averaged (1: one network); the gates of a gate model are one member's.
        "ensemble": ensemble,
        "ensemble_member": 0 if gates and ensemble > 1 else None,
        "opset": opset, "run": run, "producer": versions,
        "parity": parity,
    }


def takes_series(panel: dict | None) -> bool:
    """Whether a panel model takes the `series` index input: to select its series'
    statistics (series scaling), its learned embedding and/or its own anchor
    (`series_anchors`)."""
    return bool(panel) and (panel.get("scaling") == "series" or bool(panel.get("embedding"))
                            or bool(panel.get("series_anchor")))


def parse_metadata(raw: str | None, source: str) -> dict[str, Any]:
    """Parse and validate untrusted metadata JSON read from a model file."""
    if raw is None:
        raise UserError(f"{source} has no lstm-tf metadata (metadata_props[{METADATA_KEY!r}]); "
                        "was it exported by `lstm-tf export`?")
    if len(raw) > MAX_SIZE:
        raise UserError(f"{source}: lstm-tf metadata is too large ({len(raw)} bytes)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"{source}: lstm-tf metadata is not valid JSON ({error})") from None

    def bad(field: str, why: str):
        return UserError(f"{source}: lstm-tf metadata field {field!r} {why}")

    if not isinstance(meta, dict):
        raise bad("(root)", "is not an object")
    if meta.get("format") != FORMAT:
        raise bad("format", f"is {meta.get('format')!r}, expected {FORMAT!r}")
    for field in ("window", "horizon", "units", "layers", "ensemble"):
        value = meta.get(field, 1 if field == "ensemble" else None)  # (older models: one)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_SIZE:
            raise bad(field, "must be a positive integer")
    for field in ("targets", "columns"):
        names = meta.get(field)
        if (not isinstance(names, list) or not 0 < len(names) <= MAX_NAMES
                or not all(isinstance(name, str) and 0 < len(name) <= 1000 for name in names)):
            raise bad(field, "must be a non-empty list of column names")
    if meta["columns"][:len(meta["targets"])] != meta["targets"]:
        raise bad("columns", "must start with the targets")
    if meta.get("kind") not in ("lstm", "rnn", "gated"):
        raise bad("kind", "must be lstm, rnn or gated")
    if meta.get("scaling") not in ("in-graph", "none"):
        raise bad("scaling", "must be 'in-graph' or 'none'")
    scaler = meta.get("scaler")
    count = len(meta["columns"])
    if not isinstance(scaler, dict):
        raise bad("scaler", "must be an object")
    _check_covariates(meta.get("covariates"), bad)
    panel = meta.get("panel")
    if panel is not None:
        _check_panel(panel, bad)
        return meta
    for field in ("mean", "std"):
        numbers = scaler.get(field)
        if (not isinstance(numbers, list) or len(numbers) != count
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                           and math.isfinite(x) for x in numbers)):
            raise bad(f"scaler.{field}", f"must be {count} finite numbers")
    if not all(x > 0 for x in scaler["std"]):
        raise bad("scaler.std", "must be positive")
    if meta.get("time_column") is not None and not isinstance(meta["time_column"], str):
        raise bad("time_column", "must be a string or null")
    levels = meta.get("quantiles")
    if levels is not None and (
            not isinstance(levels, list) or not 0 < len(levels) <= 1000
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < 1
                       for x in levels)
            or any(b <= a for a, b in zip(levels, levels[1:])) or 0.5 not in levels):
        raise bad("quantiles", "must be null or increasing numbers in (0, 1) including 0.5")
    return meta


MAX_SERIES = 10_000_000


def _check_panel(panel, bad) -> None:
    if not isinstance(panel, dict) or panel.get("scaling") not in ("window", "series"):
        raise bad("panel.scaling", "must be 'window' or 'series'")
    names = panel.get("series")
    if (not isinstance(names, list) or len(names) > MAX_SERIES
            or not all(isinstance(name, str) for name in names)):
        raise bad("panel.series", "must be a list of series names")
    embedding = panel.get("embedding", 0)
    if not isinstance(embedding, int) or isinstance(embedding, bool) or embedding < 0:
        raise bad("panel.embedding", "must be a non-negative integer")
    own = panel.get("series_anchor")
    if own is not None and not (isinstance(own, dict) and isinstance(own.get("share"), float)
                                and 0 < own["share"] <= 1):
        raise bad("panel.series_anchor", "must be null or {share, reach, candidates} with a "
                  "share in (0, 1]")
    if takes_series(panel) and not names:
        raise bad("panel.series", "must name the series of a model that takes the series index")


def _check_covariates(covariates, bad) -> None:
    if covariates is None:
        return
    from .data.covariates import CALENDAR, calendar_names

    if not isinstance(covariates, dict):
        raise bad("covariates", "must be an object or null")
    calendar, known = covariates.get("calendar"), covariates.get("known")
    if not isinstance(calendar, list) or not all(name in CALENDAR for name in calendar):
        raise bad("covariates.calendar", f"must list calendar features among {', '.join(CALENDAR)}")
    if (not isinstance(known, list) or len(known) > MAX_NAMES
            or not all(isinstance(name, str) and 0 < len(name) <= 1000 for name in known)):
        raise bad("covariates.known", "must be a list of column names")
    if covariates.get("names") != calendar_names(calendar) + known or not covariates["names"]:
        raise bad("covariates.names", "must be the calendar features' names then the known columns")


def read_metadata(model_proto, source: str) -> dict[str, Any]:
    """The validated lstm-tf metadata of a loaded onnx.ModelProto."""
    raw = next((prop.value for prop in model_proto.metadata_props
                if prop.key == METADATA_KEY), None)
    return parse_metadata(raw, source)
