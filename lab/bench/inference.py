"""Inference latency, side by side: Keras, a compiled tf.function, onnxruntime, the step model.

`bench_run(RUN)` exports the run in memory (nothing is written) and times, at each
batch size, one forecast of a window through every path, plus the hand-built ONNX
graph (one LSTM/RNN node per layer, same weights) that the exported model is held
against. `bench_model(MODEL.onnx)` times an exported model alone (and its
`.step.onnx` sibling if present), without TensorFlow.

Timings on a shared machine are noisy: candidates are timed in interleaved rounds
(every candidate sees the same bursts of load) and medians and 90th percentiles
are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lstm_tf import contract, runtime
from lstm_tf.errors import UserError


@dataclass
class Timing:
    name: str
    batch: int
    median_us: float
    p90_us: float


def time_interleaved(candidates: dict[str, Callable[[], object]], budget_seconds: float = 1.0,
                     rounds: int = 10) -> dict[str, tuple[float, float]]:
    """(median, p90) seconds per call of each candidate, timed in `rounds` interleaved
    rounds, about `budget_seconds` in total each."""
    per_call = {}
    for name, call in candidates.items():  # warm up; first calls trace and allocate
        call()
        start = time.perf_counter()
        call()
        per_call[name] = max(time.perf_counter() - start, 1e-6)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, call in candidates.items():
            calls = max(1, int(budget_seconds / rounds / per_call[name]))
            for _ in range(calls):
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
    return {name: (float(np.median(times)), float(np.percentile(times, 90)))
            for name, times in samples.items()}


def _windows(columns: int, window: int, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, window, columns)).astype(np.float32)


def _step_call(session, x: np.ndarray, kind: str, layers: int, units: int):
    """One step of the step model for a batch (the per-observation cost)."""
    feed = {contract.STEP_INPUT: x[:, -1, :]}
    for name in contract.state_names(kind):
        feed[contract.STEP_STATE_INPUTS[name]] = np.zeros((layers, len(x), units), np.float32)
    return lambda: session.run(None, feed)


def bench_run(run: str | Path, batches=(1, 256), budget_seconds: float = 1.0) -> list[Timing]:
    """Latency of every inference path of a trained run (see the module docstring)."""
    from lstm_tf import runs
    from lstm_tf.export import fused_network, step_function, window_function
    from lstm_tf.onnx_convert import (convert, reference_lstm_onnx, reference_rnn_onnx,
                               trace_without_cudnn)

    config = runs.load_config(run)
    if config.covariates or config.model.series_embedding:
        raise UserError(f"{run} takes more inputs than its window (covariates or a series "
                        "index); export it and bench the model: lstm-tf bench MODEL.onnx")
    model = runs.load_model(run)
    kind = config.model.kind
    network = fused_network(model, config)
    with trace_without_cudnn(network):
        traced_window, signature = window_function(network, config, scaling=True)
        exported = convert(traced_window, signature, output_name=contract.output_names(
            kind, quantiles=config.model.quantiles))
        traced_step, step_signature = step_function(network, config, scaling=True)
        step = convert(traced_step, step_signature, output_name=None)
    reference = (reference_rnn_onnx if kind == "rnn" else reference_lstm_onnx)(network)
    graphs = {"onnx": exported.SerializeToString(), "step": step.SerializeToString(),
              "hand": reference.SerializeToString()}
    tf_function = window_function(network, config, scaling=False)[0]

    columns = len(config.scaler["columns"])
    timings = []
    for batch in batches:
        x = _windows(columns, config.data.window, batch)
        feed = {contract.INPUT: x}
        if config.scaler.get("per_series"):  # a panel scaled by series: the first series
            feed[contract.SERIES_INPUT] = np.zeros(batch, np.int64)
        sessions = {name: runtime.session(graph, _threads(batch)) for name, graph in graphs.items()}
        candidates = {
            "keras model(x)": lambda: model(x, training=False),
            "keras model.predict": lambda: model.predict(x, batch_size=batch, verbose=0),
            "tf.function (graph)": lambda: tf_function(*feed.values()),
            "onnxruntime, exported model": lambda: sessions["onnx"].run(None, feed),
            "onnxruntime, hand-built graph": lambda: sessions["hand"].run(None, {"window": x}),
            "onnxruntime, step model, per step": _step_call(
                sessions["step"], x, kind, config.model.layers, config.model.units),
        }
        timings += [Timing(name, batch, median * 1e6, p90 * 1e6) for name, (median, p90)
                    in time_interleaved(candidates, budget_seconds).items()]
    return timings


def bench_model(model_path: str | Path, batches=(1, 256),
                budget_seconds: float = 1.0) -> list[Timing]:
    """Latency of an exported model (and its step model, if beside it); no TensorFlow."""
    meta = runtime.metadata(runtime.session(model_path), str(model_path))
    path = Path(model_path)
    step_path = contract.step_path_for(path)
    timings = []
    for batch in batches:
        session = runtime.session(model_path, _threads(batch))
        step = runtime.session(step_path, _threads(batch)) if step_path.is_file() else None
        x = _windows(len(meta["columns"]), meta["window"], batch)
        feed = {contract.INPUT: x}
        if contract.KNOWN_INPUT in meta["inputs"]:  # the covariates over the horizon
            feed[contract.KNOWN_INPUT] = np.zeros((batch, *meta["inputs"][contract.KNOWN_INPUT][1:]),
                                                  np.float32)
        if contract.SERIES_INPUT in meta["inputs"]:  # a panel's series 0
            feed[contract.SERIES_INPUT] = np.zeros(batch, np.int64)
        candidates = {"onnxruntime, exported model": lambda: session.run(None, feed)}
        if step is not None:
            candidates["onnxruntime, step model, per step"] = _step_call(
                step, x, meta["kind"], meta["layers"], meta["units"])
        timings += [Timing(name, batch, median * 1e6, p90 * 1e6) for name, (median, p90)
                    in time_interleaved(candidates, budget_seconds).items()]
    return timings


def _threads(batch: int) -> int | None:
    """One intra-op thread for batch 1 (see runtime.session); all cores for larger batches."""
    return 1 if batch == 1 else None


def table(timings: list[Timing]) -> str:
    """A Markdown table: one row per path, median and p90 per batch size."""
    batches = sorted({t.batch for t in timings})
    names = list(dict.fromkeys(t.name for t in timings))
    by_key = {(t.name, t.batch): t for t in timings}
    header = "| path | " + " | ".join(f"batch {b}: median | p90" for b in batches) + " |"
    lines = [header, "| --- |" + " ---: | ---: |" * len(batches)]
    for name in names:
        cells = []
        for batch in batches:
            timing = by_key.get((name, batch))
            cells += [_us(timing.median_us), _us(timing.p90_us)] if timing else ["", ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(timings: list[Timing]) -> list[str]:
    """The bars: exported vs hand-built ONNX, and vs the compiled tf.function, at batch 1."""
    by_key = {(t.name, t.batch): t.median_us for t in timings}
    exported = by_key.get(("onnxruntime, exported model", 1))
    return [f"batch 1: exported / {other.split(', ')[-1]} = {exported / by_key[(other, 1)]:.3f}x"
            for other in ("onnxruntime, hand-built graph", "tf.function (graph)")
            if exported and (other, 1) in by_key]


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"
