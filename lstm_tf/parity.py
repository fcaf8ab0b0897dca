"""Parity: does the ONNX model compute what the Keras model computes, on real data?

Both run on the run's real test windows and on cases that stress the exported
graph's dynamic axes: batch 1, batch 256, and time lengths other than the training
window. Errors are reported in original units and relative to each target's
standard deviation (from the training part); the default tolerance is 1e-5 x std.

A gate model (`export --gates`) is checked output by output against the Keras gate
model (`cells.gate_model_from_lstm`): the forecast as above, each gate, candidate,
cell state and h sequence by its absolute error relative to max(1, its largest
|value|) (gates lie in 0..1, C~ and h in -1..1: for them that is the absolute
error), with the same tolerance.
"""

from __future__ import annotations

import functools

import numpy as np

from . import contract, runtime
from . import quantiles as quantiles_lib
from .config import RunConfig
from .data import windows
from .data.covariates import future_cut
from .data.prepare import evaluation_data
from .devices import full_float32
from .forecaster import Forecaster
from .tf_setup import tensorflow

DEFAULT_TOLERANCE = 1e-5  # x the target's standard deviation
STEP_WINDOWS = 64  # windows replayed one step at a time in the step-model check
PANEL_WINDOWS = 4096  # test windows checked of a panel, at most (spread over its series)


def in_full_float32(check):
    """Run a parity check with TensorFloat-32 off (`devices.full_float32`): on Ampere and
    newer GPUs the Keras reference would otherwise be about 1e-4 off, above the tolerance."""
    @functools.wraps(check)
    def checked(*args, **kwargs):
        with full_float32():
            return check(*args, **kwargs)

    return checked


def _session(onnx_model):
    """An onnxruntime session for a model path or bytes; a session-like object (any
    `run(output_names, feed)`, e.g. another runtime's in `lstm_tf.runtimes`) as it is."""
    return onnx_model if hasattr(onnx_model, "run") else runtime.session(onnx_model)


def graph_model(model, features: int):
    """The Keras model as one graph function for any batch and time length.

    Eager calls of a recurrent Keras model step through Python (about 0.5 s per call
    here); traced once with dynamic axes, every parity case runs as a graph. A model
    with more inputs than the window (covariates, a series index) takes a dict keyed
    by their names.
    """
    tf = tensorflow()
    signature = [tf.TensorSpec([None, None, features], tf.float32)]
    if len(model.inputs) == 1:
        return tf.function(lambda window: model(window, training=False),
                           input_signature=signature)
    names = [tensor.name for tensor in model.inputs]
    signature += [tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype)
                  for tensor in model.inputs[1:]]
    forward = tf.function(lambda *inputs: model(list(inputs), training=False),
                          input_signature=signature)
    return lambda feed: forward(*[feed[name] for name in names])


def keras_outputs(model, raw_windows: np.ndarray, config: RunConfig,
                  series: np.ndarray | None = None, known: np.ndarray | None = None):
    """(forecast, quantiles or None): the Keras model's (`model`: its batched output)
    forecast for raw windows in original units (float64; a quantile model's median)
    and its quantiles [..., targets, Q]; `series` and `known` as `Forecaster.forecast`
    takes them."""
    whole = Forecaster.of_run(config).forecast(model, raw_windows, series, known)
    levels = config.model.quantiles
    return (whole[..., quantiles_lib.median_index(levels)], whole) if levels else (whole, None)


def exported_units(raw: np.ndarray, config: RunConfig, scaling: bool = True):
    """(feed, to_raw): what an exported model takes for raw windows (or rows) — raw
    values, or the network's units when exported without scaling — and the map of its
    outputs back to original units (float64)."""
    if scaling:
        return raw, lambda out: np.asarray(out, np.float64)
    z, undo, _ = Forecaster.of_run(config).to_network(raw)
    return z.astype(np.float32), lambda out: undo(np.asarray(out, np.float64))


def _report(errors: dict[str, np.ndarray], shapes: dict[str, tuple], config: RunConfig,
            tolerance: float, target_std: np.ndarray | None = None) -> dict:
    """Summarise per-case max absolute errors ([targets], original units)."""
    if target_std is None:
        target_std = np.asarray(config.scaler["std"][:len(config.data.targets)])
    cases = {name: {"batch": shapes[name][0], "time": shapes[name][1],
                    "max_abs_error": [float(e) for e in error],
                    "max_relative_error": float(np.max(error / target_std))}
             for name, error in errors.items()}
    worst_abs = np.max(np.stack(list(errors.values())), axis=0)
    relative = float(np.max(worst_abs / target_std))
    return {"targets": config.data.targets, "cases": cases,
            "max_abs_error": [float(e) for e in worst_abs],
            "max_relative_error": relative, "tolerance": tolerance,
            "passed": bool(relative <= tolerance)}


def parity_cases(config: RunConfig) -> dict[str, tuple]:
    """A run's parity cases, a single series' or a panel's: name -> (raw windows, their
    series index, each window's target std over its series' training rows [n, targets],
    the raw covariates over each forecast [n, horizon, K] or None).

    Its test windows (spread over the series of a large panel), batch 1, batch 256, and
    windows of half and twice the training length (at least the anchor's reach)."""
    prepared, _ = evaluation_data(config)
    panel, split = prepared.series, prepared.split
    n_targets, window = prepared.n_targets, config.data.window
    if config.panel:
        target_std = np.stack([panel.values[start:end, :n_targets].std(axis=0) for start, end
                               in zip(split.offsets[:-1], split.train_end)])
        offsets = panel.offsets
    else:  # one series: its training z-scores' std
        target_std = np.asarray(config.scaler["std"][:n_targets])[None]
        offsets = np.zeros(2, np.int64)
    target_std = np.where(target_std > 0, target_std, 1.0)
    known = prepared.raw_covariates  # raw, as a caller feeds them
    test = prepared.starts["test"]
    if len(test) > PANEL_WINDOWS:  # a large panel: windows spread over all its series
        test = test[np.linspace(0, len(test) - 1, PANEL_WINDOWS).astype(np.int64)]
    every = np.concatenate([prepared.starts[p] for p in ("train", "val", "test")])
    short = max(1, window // 2, Forecaster.of_run(config).reach)
    chosen = {"test windows": (test, window), "batch 1": (test[-1:], window),
              "batch 256": (np.resize(every, 256), window), f"time {short}": (test, short)}
    long = test[test - 2 * window >= offsets[prepared.series_index(test)]]
    if len(long):
        chosen[f"time {2 * window}"] = (long, 2 * window)
    cases = {}
    for name, (starts, length) in chosen.items():
        series = prepared.series_index(starts)
        raw = windows(panel.values, starts, length, 1, n_targets)[0].astype(np.float32)
        future = (None if known is None else
                  future_cut(known, starts, config.data.horizon).astype(np.float32))
        cases[name] = (raw, series, target_std[series], future)
    return cases


def test_windows(config: RunConfig) -> dict[str, np.ndarray]:
    """Raw (original units) input windows for each parity case, keyed by case name."""
    return {name: case[0] for name, case in parity_cases(config).items()}


@in_full_float32
def check_window_model(onnx_model, model, config: RunConfig, scaling: bool = True,
                       tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Compare an exported window model (path or bytes) with the Keras model, both fed
    the same windows (and covariates and series index, when the model takes them).

    A panel's errors are in units of each window's series' training std (its series
    differ in scale; `max_abs_error` is then relative too); a single series' in its own
    units, relative to its std in the report."""
    session = _session(onnx_model)
    forward = graph_model(model, len(config.scaler["columns"]))
    names = contract.output_names(config.model.kind, quantiles=config.model.quantiles)
    needs_series = contract.SERIES_INPUT in [i.name for i in session.get_inputs()]
    errors, shapes = {}, {}
    for name, (raw, series, target_std, known) in parity_cases(config).items():
        expected, quantiles = keras_outputs(forward, raw, config, series, known)
        window, to_raw = exported_units(raw, config, scaling)
        feed = {contract.INPUT: window}
        if needs_series:
            feed[contract.SERIES_INPUT] = series.astype(np.int64)
        if known is not None:
            feed[contract.KNOWN_INPUT] = known
        outputs = session.run(names, feed)
        scale = target_std[:, None, :] if config.panel else np.ones((1, 1, 1))
        errors[name] = (np.abs(to_raw(outputs[0]) - expected) / scale).max(axis=(0, 1))
        if quantiles is not None:  # every output: the worst of forecast and quantiles
            errors[name] = np.maximum(errors[name], (
                np.abs(to_raw(outputs[-1]) - quantiles) / scale[..., None]).max(axis=(0, 1, 3)))
        shapes[name] = raw.shape
    report = _report(errors, shapes, config, tolerance,
                     np.ones(len(config.data.targets)) if config.panel else None)
    report["outputs_checked"] = names
    return report


def keras_gate_outputs(gate_model, raw_windows: np.ndarray, config: RunConfig) -> dict:
    """The Keras gate model's outputs for raw windows, keyed by the exported names.

    `forecast` in original units (float64); each gate sequence [batch, time, units].
    """
    from .cells import split_gates

    traces = []

    def network(inputs):  # the forecast; the gate sequences kept aside
        *layers, forecast = gate_model(inputs, training=False)
        traces.extend(layers)
        return forecast

    forecast, quantiles = keras_outputs(network, raw_windows, config)
    values = [np.asarray(getattr(split_gates(np.asarray(trace)), gate), dtype=np.float64)
              for trace in traces for gate in contract.GATES]
    names = contract.gate_output_names(len(traces))
    return {contract.OUTPUT: forecast, **dict(zip(names, values)),
            **({contract.QUANTILES: quantiles} if quantiles is not None else {})}


@in_full_float32
def check_gate_model(onnx_model, model, config: RunConfig, scaling: bool = True,
                     tolerance: float = DEFAULT_TOLERANCE, fixed_time: int | None = None) -> dict:
    """Compare every output of an exported gate model with the Keras gate model of `model`.

    `fixed_time`: the one time length an unrolled gate model takes; the cases of other
    lengths are left out.
    """
    from .cells import gate_model_from_lstm
    from .ensemble import member

    session = _session(onnx_model)
    gate_model = gate_model_from_lstm(member(model, 0))  # an ensemble's gate model: member 0
    target_std = np.asarray(config.scaler["std"][:len(config.data.targets)])
    names = contract.output_names(config.model.kind, gates_layers=config.model.layers,
                                  quantiles=config.model.quantiles)
    forecast_errors, shapes, outputs, cases = {}, {}, {}, {}
    for case, raw in test_windows(config).items():
        if fixed_time and raw.shape[1] != fixed_time:
            continue
        expected = keras_gate_outputs(gate_model, raw, config)
        feed, to_raw = exported_units(raw, config, scaling)
        got = dict(zip(names, session.run(names, {contract.INPUT: feed})))
        for name in (contract.OUTPUT, contract.QUANTILES):
            if name in got:
                got[name] = to_raw(got[name])
        relative = {}
        for name in names:
            error = np.abs(got[name] - expected[name])
            absolute = float(error.max())
            if name in (contract.OUTPUT, contract.QUANTILES):  # original units: x std
                per_target = error.max(axis=tuple(i for i in range(error.ndim) if i != 2))
                forecast_errors[case] = np.maximum(forecast_errors.get(case, 0), per_target)
                relative[name] = float(np.max(per_target / target_std))
            else:
                relative[name] = absolute / max(1.0, float(np.abs(expected[name]).max()))
            worst = outputs.setdefault(name, {"max_abs_error": 0.0, "max_relative_error": 0.0})
            worst["max_abs_error"] = max(worst["max_abs_error"], absolute)
            worst["max_relative_error"] = max(worst["max_relative_error"], relative[name])
        shapes[case] = raw.shape
        cases[case] = relative
    report = _report(forecast_errors, shapes, config, tolerance)
    for case, relative in cases.items():
        report["cases"][case]["outputs_relative_error"] = relative
        report["cases"][case]["max_relative_error"] = max(relative.values())
    report["outputs"] = outputs
    worst_name = max(outputs, key=lambda name: outputs[name]["max_relative_error"])
    report["worst_output"] = worst_name
    report["max_relative_error"] = outputs[worst_name]["max_relative_error"]
    report["passed"] = bool(report["max_relative_error"] <= tolerance)
    return report


def run_step_model(session, raw_windows: np.ndarray, kind: str, layers: int, units: int,
                   scaling_inputs=None, outputs_at_end: list | None = None) -> np.ndarray:
    """Feed each window to a step model one row at a time, from zero state; last forecast.

    `outputs_at_end`, a list, receives every output of the last step (a quantile step
    model's `quantiles` is its last)."""
    batch = raw_windows.shape[0]
    state_names = contract.state_names(kind)
    states = {name: np.zeros((layers, batch, units), np.float32) for name in state_names}
    forecast = None
    for t in range(raw_windows.shape[1]):
        x_t = raw_windows[:, t, :]
        outputs = session.run(None, {
            contract.STEP_INPUT: x_t if scaling_inputs is None else scaling_inputs(x_t),
            **{contract.STEP_STATE_INPUTS[n]: states[n] for n in state_names}})
        forecast = outputs[0]
        states = dict(zip(state_names, outputs[1:]))
    if outputs_at_end is not None:
        outputs_at_end[:] = outputs
    return forecast


@in_full_float32
def check_step_model(onnx_model, model, config: RunConfig, scaling: bool = True,
                     tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Replay real test windows through the step model; compare with Keras' window forecast."""
    session = _session(onnx_model)
    raw = test_windows(config)["test windows"][-STEP_WINDOWS:]
    forward = graph_model(model, len(config.scaler["columns"]))
    expected, quantiles = keras_outputs(forward, raw, config)
    to_raw = exported_units(raw, config, scaling)[1]
    last = []
    got = run_step_model(session, raw, config.model.kind, config.model.layers,
                         config.model.units, lambda x: exported_units(x, config, scaling)[0],
                         last)
    error = np.abs(to_raw(got) - expected).max(axis=(0, 1))
    if quantiles is not None:
        error = np.maximum(error, np.abs(to_raw(last[-1]) - quantiles).max(axis=(0, 1, 3)))
    report = _report({"step through test windows": error},
                     {"step through test windows": raw.shape}, config, tolerance)
    report["outputs_checked"] = [contract.OUTPUT] + (
        [contract.QUANTILES] if config.model.quantiles else [])
    return report


def verdict(report: dict) -> str:
    """One line: PASSED/FAILED, the worst error in original units and relative to std."""
    word = "PASSED" if report["passed"] else "FAILED"
    worst = ", ".join(f"{name} {error:.2g}" for name, error in
                      zip(report["targets"], report["max_abs_error"]))
    if "outputs" in report:  # a gate model
        forecast = report["outputs"][contract.OUTPUT]["max_relative_error"]
        return (f"parity {word}: forecast max abs error {worst} ({forecast:.2g} x std); "
                f"all {len(report['outputs'])} outputs: worst relative error "
                f"{report['max_relative_error']:.2g} ({report['worst_output']}) over "
                f"{len(report['cases'])} case(s); tolerance {report['tolerance']:.2g}")
    return (f"parity {word}: max abs error {worst} ({report['max_relative_error']:.2g} x std) "
            f"over {len(report['cases'])} case(s); tolerance {report['tolerance']:.2g} x std")
