"""Export a trained run to ONNX: a window model, optionally a streaming step model,
or (`gates=True`) a gate model that also outputs every gate of every LSTM layer.

    raw window ─(x - mean) / std─▶ z ─┬─ relative to last value ─▶ Keras network ─┐
                                      └─ anchor (a fixed linear forecast) ───────(+)─(y * std + mean)─▶ raw forecast

Scaling and the anchor (`anchors`) live inside the graph, so any onnxruntime can
feed raw values. The network is traced as a `tf.function` with an explicit input
signature and converted by tf2onnx (`onnx_convert`), which fuses the recurrent layers
into ONNX LSTM/RNN nodes. The parity check (`parity`) runs before anything is written: a
model that fails it never reaches the target path.

The gate model is converted from `cells.gate_model_from_lstm(model, unroll=True)`:
its recurrent layers are Python cells that emit the gates (the fused ONNX LSTM op
computes the same h and C but cannot output f, i, o or C~), unrolled over the run's
window, so the ONNX graph is straight (`window` copies of the cell's MatMul, Sigmoid
and Tanh ops per layer, no `Loop`) and takes windows of exactly `window` rows. It
runs in every ONNX runtime (OpenVINO, tract and the reference evaluator have no
usable `Loop`; `lstm_tf/runtimes.py`). `gates_loop=True` keeps the earlier
dynamic-length variant instead: one ONNX `Loop` per layer, any window length,
onnxruntime only. Its outputs are `forecast` then `contract.gate_output_names(layers)`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import contract, parity, runs
from .quantiles import with_median
from .anchors import of_run
from .atomic import atomic_path, disk_full_as_user_error, exclusive, refuse_overwrite, write_json
from .config import RunConfig, library_versions
from .contract import parity_path_for, step_path_for
from .ensemble import member, member_0_note
from .errors import UserError
from .forecaster import Forecaster
from .progress import Interrupted, interrupts_as_keyboard_interrupt
from .tf_setup import tensorflow


@dataclass
class ExportResult:
    path: Path
    parity: dict | None
    op_counts: dict[str, int]
    step_path: Path | None = None
    step_parity: dict | None = None


def default_output(run: str | Path, gates: bool = False) -> Path:
    """exported/<run>.onnx, or exported/<run>.gates.onnx for the gate model."""
    name = Path(run).resolve().name
    return Path("exported") / (f"{name}.gates.onnx" if gates else f"{name}.onnx")


def fused_network(model, config: RunConfig):
    """The network to trace for fused ONNX recurrent nodes: the run's model, or for a
    `gated` run its LSTM twin (same math and weights; the Python cell would export as a
    Loop)."""
    if config.model.kind != "gated":
        return model
    from .models import lstm_twin

    return lstm_twin(model, config.model, len(config.scaler["columns"]), config.data.horizon,
                     len(config.data.targets))


def export_run(run: str | Path, out: str | Path | None = None, *, force: bool = False,
               opset: int | None = None, scaling: bool = True, step: bool = False,
               check: bool = True, tolerance: float = parity.DEFAULT_TOLERANCE,
               allow_loop: bool = False, gates: bool = False, gates_loop: bool = False,
               log: Callable[[str], None] = lambda line: None) -> ExportResult:
    """Export `run` to `out` (default exported/<run>.onnx); see the module docstring.

    With `gates` the model written (default exported/<run>.gates.onnx) is the gate
    model, checked output by output against the Keras gate model, unrolled over the
    run's window (no `Loop`; inputs of exactly `window` rows); with `gates_loop` too
    it is the dynamic-length variant with one ONNX `Loop` per layer (`allow_loop` is
    implied). It cannot be combined with `step`.

    One writer at a time per `out` (a second export of the same file stops with a
    one-line error); SIGTERM or Ctrl-C before the files are renamed into place, or a
    full disk, leave no partial file and the earlier model intact.
    """
    out = Path(out) if out else default_output(run, gates)
    with exclusive(out, "model"), disk_full_as_user_error(out):
        try:
            with interrupts_as_keyboard_interrupt():
                return _export_run(run, out, force=force, opset=opset, scaling=scaling,
                                   step=step, check=check, tolerance=tolerance,
                                   allow_loop=allow_loop, gates=gates,
                                   gates_loop=gates_loop, log=log)
        except KeyboardInterrupt:
            raise Interrupted(f"export interrupted; nothing was written to {out} (an earlier "
                              "model there is intact)") from None


def _export_run(run, out: Path, *, force, opset, scaling, step, check, tolerance, allow_loop,
                gates, gates_loop, log) -> ExportResult:
    import onnx

    from .onnx_convert import convert, default_opset, op_counts, trace_without_cudnn

    config = _checked_request(run, out, force=force, scaling=scaling, step=step, gates=gates,
                              gates_loop=gates_loop)
    model = runs.load_model(run)
    levels = config.model.quantiles
    output_names = contract.output_names(config.model.kind, gates_layers=gates and
                                         config.model.layers, quantiles=levels)
    check_window = parity.check_window_model
    fixed_time = None  # the input's time length, when the graph takes only one
    if gates:
        from .cells import gate_model_from_lstm

        # Unrolled over the window unless the Loop variant is asked for: then the gates
        # exist only inside the cell's Loop body.
        # An ensemble's gates: member 0's (ensemble.member), its forecast that member's.
        network = gate_model_from_lstm(member(model, 0), unroll=not gates_loop)
        if member_0_note(config.model.ensemble):
            log(member_0_note(config.model.ensemble))
        fixed_time = None if gates_loop else config.data.window
        check_window = functools.partial(parity.check_gate_model, fixed_time=fixed_time)
        allow_loop = gates_loop
        traced, signature = gates_function(network, config, scaling, fixed_time)
    else:
        # Parity below compares the ONNX model with the run's own Keras model, gated or not.
        network = fused_network(model, config)
        traced, signature = window_function(network, config, scaling)
    opset = opset or default_opset()
    with trace_without_cudnn(network):
        onnx_model = convert(traced, signature, opset=opset, allow_loop=allow_loop,
                             output_name=output_names)
    report = None
    if check:
        log(f"checking parity against the Keras model of {run}")
        report = check_window(onnx_model.SerializeToString(), model, config,
                              scaling=scaling, tolerance=tolerance)
    _attach_metadata(onnx_model, config, run, scaling=scaling, step=False, opset=opset,
                     parity_report=report, gates=gates, fixed_time=fixed_time)
    onnx.checker.check_model(onnx_model, full_check=True)

    result = ExportResult(out, report, op_counts(onnx_model))
    step_model = None
    if step:
        traced_step, step_signature = step_function(network, config, scaling)
        with trace_without_cudnn(network):
            step_model = convert(traced_step, step_signature, opset=opset,
                                 allow_loop=allow_loop, output_name=contract.output_names(
                                     config.model.kind, step=True, quantiles=levels))
        if check:
            result.step_parity = parity.check_step_model(
                step_model.SerializeToString(), model, config, scaling=scaling,
                tolerance=tolerance)
        _attach_metadata(step_model, config, run, scaling=scaling, step=True, opset=opset,
                         parity_report=result.step_parity)
        onnx.checker.check_model(step_model, full_check=True)
        result.step_path = step_path_for(out)

    reports = {"gates" if gates else "window": report, "step": result.step_parity}
    failed = [name for name, rep in reports.items() if rep and not rep["passed"]]
    made = {k: v for k, v in reports.items() if v}
    files = {parity_path_for(out): (json.dumps(made, indent=2) + "\n").encode()} if check else {}
    if failed:
        write_json(parity_path_for(out), made)
        raise UserError(f"parity check FAILED for the {' and '.join(failed)} model "
                        f"({parity.verdict(reports[failed[0]])}); no model was written, "
                        f"details in {parity_path_for(out)}")
    files[out] = onnx_model.SerializeToString()
    if step_model is not None:
        files[result.step_path] = step_model.SerializeToString()
    _write_all(files)
    return result


def _write_all(files: dict[Path, bytes]) -> None:
    """Every file is written beside its target first; only when all are written are they
    renamed into place (a full disk leaves the earlier set whole), and no signal can
    stop the renames half-way."""
    with _signals_deferred(), contextlib.ExitStack() as renames:
        for path, data in files.items():
            renames.enter_context(atomic_path(path)).write_bytes(data)


def _checked_request(run, out: Path, *, force, scaling, step, gates, gates_loop) -> RunConfig:
    """The run's configuration, once the requested export is known to make sense for it
    and to overwrite nothing without `force`."""
    if gates and step:
        raise UserError("--gates and --step write different models; export each separately")
    if gates_loop and not gates:
        raise UserError("--loop applies to the gate model only: add --gates")
    if out.suffix != ".onnx":
        raise UserError(f"output {out} must end in .onnx")
    for path in [out, parity_path_for(out)] + ([step_path_for(out)] if step else []):
        refuse_overwrite(path, force, "model" if path.suffix == ".onnx" else "file")
    config = runs.load_config(run)
    if config.panel and (step or gates or not scaling):
        raise UserError(f"the run {run} is a panel run: export its window model (without "
                        "--step, --gates or --no-scaling; its scaling is per window or per "
                        "series, inside the graph)")
    if config.covariates and (step or gates or not scaling):
        raise UserError(f"the run {run} takes future-known covariates (a second input): export "
                        "its window model (without --step, --gates or --no-scaling)")
    if step and config.model.ensemble > 1:
        raise UserError(f"--step: the run {run} is an ensemble of {config.model.ensemble} "
                        "networks, whose states a step model cannot carry yet; export the "
                        "window model")
    if step and of_run(config).kind != "none":  # (a blend's anchor too: a linear map of the window)
        raise UserError(f"--step: the run {run} forecasts relative to each window's last value "
                        "(its anchor), which a model fed one row at a time cannot know in advance;"
                        " export the window model, or train with --anchor none for a step model")
    if gates:
        from .inspect_gates import check_inspectable

        check_inspectable(config.model.kind, run, "export")
    return config


@contextlib.contextmanager
def _signals_deferred():
    """SIGINT and SIGTERM are held off while the block runs (a few renames), so an export
    is complete or not written at all. One received meanwhile is dropped: the export it
    came too late to stop is complete, and the command ends as it would have anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _window_signature(config: RunConfig, time: int | None = None) -> list:
    """`window` [batch, time, columns]; `known` [batch, horizon, K] for a run with
    future-known covariates; `series` [batch] for a panel scaled by series or with a
    series embedding (one index input serves both); `time` fixes the window length (an
    unrolled gate model)."""
    tf = tensorflow()
    features = len(config.scaler["columns"])
    signature = [tf.TensorSpec([None, time, features], tf.float32, name=contract.INPUT)]
    if config.covariates:
        signature.append(tf.TensorSpec([None, config.data.horizon,
                                        len(config.covariates["names"])], tf.float32,
                                       name=contract.KNOWN_INPUT))
    if contract.takes_series(_panel_metadata(config)):
        signature.append(tf.TensorSpec([None], tf.int64, name=contract.SERIES_INPUT))
    return signature


def window_function(model, config: RunConfig, scaling: bool):
    """The traced function: raw window in, raw forecast out (or scaled, without scaling)."""
    tf = tensorflow()
    forecaster = Forecaster.of_run(config, scaled=scaling)
    signature = _window_signature(config)
    levels = config.model.quantiles

    @tf.function(input_signature=signature)
    def window_model(*inputs):  # window, then known and series when the run takes them
        named = {spec.name: value for spec, value in zip(signature, inputs)}
        network = forecaster.tf_network(model, named)
        outputs = with_median(forecaster.tf_forecast(network, named[contract.INPUT],
                                                     named.get(contract.SERIES_INPUT)), levels)
        return outputs if levels else outputs[0]

    return window_model, signature


def gates_function(gate_model, config: RunConfig, scaling: bool, time: int | None = None):
    """Raw window in; raw forecast and each layer's six [batch, time, units] sequences out.

    `time` fixes the window length in the signature: an unrolled gate model
    (`gate_model_from_lstm(model, unroll=True)`) needs it to trace a straight graph.
    """
    from .cells import GATE_OUTPUTS

    tf = tensorflow()
    forecaster = Forecaster.of_run(config, scaled=scaling)
    signature = _window_signature(config, time)

    @tf.function(input_signature=signature)
    def gates_model(*inputs):
        traces = []

        def network(inputs):  # the forecast; the gate sequences kept aside
            *layers, forecast = gate_model(inputs, training=False)
            traces.extend(layers)
            return forecast

        forecast, *quantiles = with_median(forecaster.tf_forecast(network, *inputs),
                                           config.model.quantiles)
        outputs = [forecast]
        for trace in traces:  # [batch, time, 6*units], blocks in GATE_OUTPUTS order
            outputs += tf.split(trace, len(GATE_OUTPUTS), axis=-1)
        return outputs + quantiles

    return gates_model, signature


def step_function(model, config: RunConfig, scaling: bool):
    """One observation in, the forecast and the next state out; explicit per-layer state.

    The network alone: a run with an anchor cannot stream (`export_run` refuses its
    step model), but its network's per-step cost is still what `bench` times.
    """
    tf = tensorflow()
    kind = config.model.kind
    features = len(config.scaler["columns"])
    layers, units = config.model.layers, config.model.units
    horizon, n_targets = config.data.horizon, len(config.data.targets)
    # A panel's scaling needs the whole window (or the series): its network alone here.
    scale_rows = Forecaster.of_run(config, scaled=scaling and not config.panel).tf_to_network
    recurrent = [layer for layer in model.layers if hasattr(layer, "cell")]  # with an RNN cell
    head = model.get_layer("head")
    levels = config.model.quantiles
    quantile_head = model.get_layer(contract.QUANTILES) if levels else None
    state = contract.state_names(kind)
    signature = [tf.TensorSpec([None, features], tf.float32, name=contract.STEP_INPUT)] + [
        tf.TensorSpec([layers, None, units], tf.float32, name=contract.STEP_STATE_INPUTS[name])
        for name in state]

    @tf.function(input_signature=signature)
    def step_model(x_t, *states_in):
        x, unscale = scale_rows(x_t)
        states_out = [[] for _ in state]
        for index, layer in enumerate(recurrent):
            layer_states = [states_in[k][index] for k in range(len(state))]
            _, new_states = layer.cell(x, layer_states if kind != "rnn" else layer_states[0],
                                       training=False)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) \
                else [new_states]
            for k in range(len(state)):
                states_out[k].append(new_states[k])
            x = new_states[0]  # h_t feeds the next layer
        if levels:  # the quantile head after the Dense one, as in the window model
            output = quantile_head(tf.reshape(head(x), [-1, horizon, n_targets, len(levels)]))
        else:
            output = tf.reshape(head(x), [-1, horizon, n_targets])
        forecast, *quantiles = with_median(unscale(output), levels)
        return [forecast] + [tf.stack(s) for s in states_out] + quantiles

    return step_model, signature


def _attach_metadata(onnx_model, config: RunConfig, run, *, scaling: bool, step: bool,
                     opset: int, parity_report: dict | None, gates: bool = False,
                     fixed_time: int | None = None) -> None:
    meta = contract.build_metadata(
        kind=config.model.kind, units=config.model.units, layers=config.model.layers,
        window=config.data.window, horizon=config.data.horizon, targets=config.data.targets,
        features=config.data.features, scaler=config.scaler, scaling=scaling, step=step,
        anchor=of_run(config).summary(),
        gates=gates, fixed_time=fixed_time, time_column=config.data.time_column,
        versions=library_versions(), opset=opset, run=Path(run).resolve().name,
        parity=parity_report, panel=_panel_metadata(config),
        quantiles=config.model.quantiles, ensemble=config.model.ensemble,
        covariates=({key: config.covariates[key] for key in ("calendar", "known", "names")}
                    if config.covariates and not step else None))
    _name_axes(onnx_model.graph, meta)
    onnx_model.producer_name = "lstm-tf"
    del onnx_model.metadata_props[:]
    prop = onnx_model.metadata_props.add()
    prop.key, prop.value = contract.METADATA_KEY, json.dumps(meta)
    onnx_model.doc_string = (f"lstm-tf {config.model.kind} forecaster: {contract.INPUT} "
                             f"[batch, time, {len(meta['columns'])}] -> {contract.OUTPUT} "
                             f"[batch, {config.data.horizon}, {len(config.data.targets)}]")
    if gates:
        onnx_model.doc_string += (f", then {len(contract.GATES)} sequences [batch, time, "
                                  f"{config.model.units}] per LSTM layer: "
                                  + ", ".join(contract.gate_output_names(config.model.layers)))
    if config.model.quantiles:
        onnx_model.doc_string += (f", then {contract.QUANTILES} {meta['outputs'][contract.QUANTILES]}"
                                  f" at levels {meta['quantiles']}")


def _panel_metadata(config: RunConfig) -> dict | None:
    """What an exported panel model says of its panel: the scaling, and when it selects
    statistics, a learned vector or an anchor by series index, the series names in index
    order."""
    if not config.panel:
        return None
    scaling = config.panel["scaling"]
    embedding = config.model.series_embedding
    own = config.series_anchor  # each series' own anchor, chosen by the floor
    return {"scaling": scaling, "series_column": config.panel.get("series_column"),
            "trained_series": len(config.panel["series"]), "embedding": embedding,
            "series_anchor": {key: own[key] for key in ("share", "reach", "candidates")}
            if own else None,
            "series": config.panel["series"] if scaling == "series" or embedding or own else []}


def _name_axes(graph, meta: dict) -> None:
    """Name each input's and output's symbolic axes as the contract states them.

    tf2onnx leaves generated names (`unk__N`) on axes it cannot infer, and the
    converter's naming goes by position; the contract knows that a step model's
    states are [layers, batch, units] and a gate sequence [batch, time, units].
    """
    shapes = {**meta["inputs"], **meta["outputs"]}
    for value in [*graph.input, *graph.output]:
        for dim, size in zip(value.type.tensor_type.shape.dim, shapes.get(value.name, [])):
            if isinstance(size, str):
                dim.dim_param = size
