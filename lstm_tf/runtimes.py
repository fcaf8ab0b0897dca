"""One exported model in every ONNX runtime installed: same inputs, same numbers, latency.

    lstm-tf runtimes MODEL.onnx [RUN]

Runtimes, each behind onnxruntime's calling convention (`run(output_names, feed)`), so
that the parity checks (`parity`) run unchanged in any of them: onnxruntime (the
reference), OpenVINO (CPU plugin, f32: its bf16 default misses the tolerance), tract,
`onnx.reference.ReferenceEvaluator` and onnxruntime-node (`exported/node/serve.js`, when
`node` is on PATH and `npm ci` has run in exported/).

Inputs come from the graph and the contract (`contract`), never from a fixed list: the
`window` input gets real (or, without a run, synthetic) windows, a step model's `x_t` the
last row of each and its states small values, any other float input seeded normal values
of the shape the graph and the metadata give, and an integer index input (a panel's
series index) 0, 1, ... n-1 cycling, n from the metadata. Every output is compared.

Errors are relative, as the parity check measures them: an output in the target's units
(`forecast`, quantiles: the targets on axis 2) divided by the target's standard deviation
from the training part; a gate, cell or hidden state divided by max(1, its largest
|value|). The tolerance is parity's, 1e-5.

A model without lstm-tf metadata is refused: a bare graph has no window length, scale or
target std. A panel model keeps its statistics inside the graph: with the run it gets
its test windows of every series, errors in each series' training std; without, a
window-scaled one gets windows at mean 0 and std 1, errors in each window's std, and a
series-scaled one is refused (no series' level is known without the run).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import contract, runtime
from .errors import UserError

RUNTIMES = ("onnxruntime", "openvino", "tract", "reference", "node")
TOLERANCE = 1e-5  # x the target's std; parity.DEFAULT_TOLERANCE (not imported: no TensorFlow)
BATCHES = (1, 256)
OPENVINO_PRECISION = "f32"
EXPORTED = Path(__file__).resolve().parent.parent / "exported"
# What a runtime that is not installed needs: its table row says so (never an ImportError).
NEEDS = {"openvino": 'pip install "lstm-tf[runtimes]"', "tract": 'pip install "lstm-tf[runtimes]"',
         "reference": "pip install onnx", "node": "Node.js and `npm ci` in exported/"}


# --- the model's graph ------------------------------------------------------------------

@dataclass
class GraphInput:
    """A graph input as onnxruntime's session lists it (`.name`, `.shape`)."""

    name: str
    dtype: np.dtype
    dims: list  # int for a fixed axis, str (dim_param) or None for a dynamic one

    shape = property(lambda self: self.dims)


@dataclass
class Model:
    """An exported model file: its bytes, inputs and outputs (graph order), metadata."""

    path: Path
    data: bytes
    inputs: list[GraphInput]
    outputs: list[str]
    meta: dict

    @property
    def fixed_time(self) -> int | None:
        """The `window` input's time length when the graph takes only one (unrolled)."""
        return next((item.dims[1] for item in self.inputs
                     if item.name == contract.INPUT and isinstance(item.dims[1], int)), None)


def load_model(path: str | os.PathLike) -> Model:
    """Read and check an exported model; `UserError` for a missing, non-ONNX or bare file."""
    import onnx
    from onnx import helper

    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    data = path.read_bytes()
    try:
        proto = onnx.load_from_string(data)
        if not proto.graph.node:
            raise ValueError("the graph has no nodes")
    except Exception as error:  # protobuf's DecodeError and friends
        message = " ".join(str(error).split())[:200]
        raise UserError(f"{path} is not a valid ONNX model ({message})") from None
    meta = contract.read_metadata(proto, str(path))
    initializers = {tensor.name for tensor in proto.graph.initializer}
    inputs = [GraphInput(
        value.name, np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)),
        [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None)
         for dim in value.type.tensor_type.shape.dim])
        for value in proto.graph.input if value.name not in initializers]
    return Model(path, data, inputs, [value.name for value in proto.graph.output], meta)


# --- inputs -----------------------------------------------------------------------------

def _statistics(meta: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The columns' training (mean, std) from the metadata; None for a panel model, whose
    statistics are inside the graph (per window or per series)."""
    scaler = meta.get("scaler", {})
    return ((np.asarray(scaler["mean"], np.float64), np.asarray(scaler["std"], np.float64))
            if "mean" in scaler and "std" in scaler else None)


def synthetic_windows(meta: dict, count: int, time: int, seed: int = 0) -> np.ndarray:
    """Raw windows made from the metadata alone: each column a smooth random walk around
    its training mean, scaled by its training std (a panel model's metadata has none:
    then around 0 with std 1; its graph scales each window or series itself).
    [count, time, columns] float32."""
    rng = np.random.default_rng(seed)
    mean, std = _statistics(meta) or (np.zeros(len(meta["columns"])),
                                      np.ones(len(meta["columns"])))
    steps = rng.normal(scale=0.3, size=(count, time, len(mean)))
    walk = np.cumsum(steps, axis=1) + rng.normal(size=(count, 1, len(mean)))
    return (mean + std * walk).astype(np.float32)


def _index_range(meta: dict, name: str) -> int:
    """How many values an integer index input takes: the length of the metadata entry
    that lists them (`series` -> `panel.series`, or `series`, `series_names`, ... at the
    top level or in any section), else 1 (all zeros)."""
    sections = [meta] + [value for value in meta.values() if isinstance(value, dict)]
    for section in sections:
        for key in (name, f"{name}s", f"{name}_names", f"{name}_index"):
            value = section.get(key)
            if isinstance(value, (list, dict)) and value:
                return len(value)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return 1


def feeds_for(model: Model, raw_windows: np.ndarray, seed: int = 0,
              given: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A value for every graph input, for `len(raw_windows)` windows (see the module doc);
    `given` values (a panel run's real series index) are taken as they are."""
    meta = model.meta
    batch, time = raw_windows.shape[:2]
    windows = raw_windows
    training = _statistics(meta)
    if meta["scaling"] == "none" and training:  # the graph takes z-scores
        windows = ((raw_windows - training[0]) / training[1]).astype(np.float32)
    declared = meta.get("inputs", {})
    rng = np.random.default_rng(seed)
    feed = {}
    for graph_input in model.inputs:
        if given and graph_input.name in given:
            value = given[graph_input.name]
        elif graph_input.name == contract.INPUT:
            value = windows
        elif graph_input.name == contract.STEP_INPUT:
            value = windows[:, -1, :]
        else:
            named = declared.get(graph_input.name, [])
            shape = []
            for axis, dim in enumerate(graph_input.dims):
                if isinstance(dim, int) and dim > 0:
                    shape.append(dim)
                elif dim == "batch" or (axis == 0 and dim is None):
                    shape.append(batch)
                elif dim == "time":
                    shape.append(time)
                elif axis < len(named) and isinstance(named[axis], int):
                    shape.append(named[axis])
                elif axis < len(named) and named[axis] == "batch":
                    shape.append(batch)
                else:
                    shape.append(meta["horizon"])  # a dynamic axis the contract does not name
            if np.issubdtype(graph_input.dtype, np.integer):
                count = _index_range(meta, graph_input.name)
                value = np.arange(int(np.prod(shape))).reshape(shape) % count
            elif graph_input.name in contract.STEP_STATE_INPUTS.values():
                value = np.tanh(rng.normal(scale=0.5, size=shape))  # a state h or c might hold
            else:
                value = rng.normal(size=shape)
        feed[graph_input.name] = np.ascontiguousarray(value, dtype=graph_input.dtype)
    return feed


# --- the runtimes -----------------------------------------------------------------------

def _node_paths() -> tuple[str, Path, Path] | None:
    node = shutil.which("node")
    script = EXPORTED / "node" / "serve.js"
    package = EXPORTED / "node_modules" / "onnxruntime-node" / "package.json"
    return (node, script, package) if node and script.is_file() and package.is_file() else None


def installed() -> dict[str, str | None]:
    """Each runtime's version, or None where it is not installed. Imports nothing heavy."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                         ("tract", "tract"), ("reference", "onnx")):
        try:
            found = importlib.util.find_spec(module) is not None and version(module)
        except PackageNotFoundError:
            found = None
        versions[name] = (f"onnx {found}" if name == "reference" else found) if found else None
    node = _node_paths()
    versions["node"] = (f"onnxruntime-node {json.loads(node[2].read_text()).get('version', '?')}"
                        if node else None)
    return versions


def parse_names(text: str | None) -> list[str]:
    """`--runtimes a,b` -> [a, b]; all of `RUNTIMES` when empty; UserError for others."""
    if not text:
        return list(RUNTIMES)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown or not names:
        raise UserError(f"--runtimes: unknown runtime {', '.join(map(repr, unknown)) or '(none)'};"
                        f" known runtimes: {', '.join(RUNTIMES)}")
    return list(dict.fromkeys(names))


class Session:
    """A model loaded in one runtime, called as an onnxruntime session is; `call` maps a
    feed to every output, in graph order."""

    def __init__(self, model: Model, call: Callable[[dict], list] | None = None):
        self.model, self._call = model, call

    def get_inputs(self) -> list:
        """The graph's inputs (`.name`, `.shape`), as onnxruntime's session lists them."""
        return list(self.model.inputs)

    def run(self, output_names, feed: dict) -> list[np.ndarray]:
        outputs = dict(zip(self.model.outputs, self._run(feed)))
        return [outputs[name] for name in (output_names or self.model.outputs)]

    def _run(self, feed: dict) -> list[np.ndarray]:  # every output, in graph order
        return self._call(feed)

    def time(self, feed: dict, seconds: float) -> list[float]:
        """Per-call microseconds of about `seconds` of calls (at least 3), after a warm-up."""
        self._run(feed)
        micros = []
        end = time.perf_counter() + seconds
        while len(micros) < 3 or time.perf_counter() < end:
            start = time.perf_counter_ns()
            self._run(feed)
            micros.append((time.perf_counter_ns() - start) / 1000)
        return micros

    def close(self) -> None:
        pass


def _onnxruntime(model: Model, threads: int = 1) -> Session:
    runner = runtime.session(model.data, threads)
    return Session(model, lambda feed: runner.run(None, feed))


def _openvino(model: Model, threads: int = 1,
              precision: str | None = OPENVINO_PRECISION) -> Session:
    """OpenVINO's CPU plugin. `precision` is INFERENCE_PRECISION_HINT ("f32"); None keeps
    the plugin's default, bf16 on a CPU that has it (shown by the tests to miss)."""
    import openvino

    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(model.path)), "CPU", config)
    request = compiled.create_infer_request()

    def call(feed):
        results = request.infer(feed)
        return [np.array(results[output]) for output in compiled.outputs]  # graph order
    return Session(model, call)


def _tract(model: Model, threads: int = 1) -> Session:
    """tract plans a model for concrete input shapes: one runnable per feed's shapes."""
    import tract

    dtypes = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32"}
    plans = {}

    def call(feed):
        key = tuple((name, value.shape, value.dtype.str) for name, value in feed.items())
        if key not in plans:
            inference = tract.onnx().load(str(model.path))
            for index in range(inference.input_count()):
                value = feed[inference.input_name(index)]
                # Concrete shapes only: a symbolic one can abort the process inside tract.
                inference.set_input_fact(index, ",".join(
                    [str(d) for d in value.shape] + [dtypes[value.dtype.name]]))
            plans[key] = inference.into_model().into_runnable()
        return [output.to_numpy() for output in plans[key].run(
            [feed[graph_input.name] for graph_input in model.inputs])]
    return Session(model, call)


def _reference(model: Model, threads: int = 1) -> Session:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model.data)
    return Session(model, lambda feed: [np.asarray(out) for out in evaluator.run(None, feed)])


class NodeSession(Session):
    """onnxruntime-node in a child process (`exported/node/serve.js`), JSON lines."""

    def __init__(self, model: Model, threads: int = 1):
        super().__init__(model)
        node, script, _ = _node_paths()
        self.process = subprocess.Popen([node, str(script), str(model.path), "--threads",
                                         str(threads)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        try:
            hello = self._read()
            if hello.get("outputs") != model.outputs:
                raise RuntimeError(f"onnxruntime-node lists outputs {hello.get('outputs')}")
        except Exception:
            self.close()
            raise

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            error = self.process.stderr.read().strip().splitlines()
            raise RuntimeError(f"node exited: {error[-1] if error else 'no output'}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def _ask(self, request: dict) -> dict:
        request["feed"] = {name: {"dtype": value.dtype.name, "dims": list(value.shape),
                                  "data": base64.b64encode(value.astype(value.dtype.newbyteorder("<"))
                                                           .tobytes()).decode()}
                           for name, value in request["feed"].items()}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _run(self, feed):
        outputs = self._ask({"feed": feed})["outputs"]
        return [np.frombuffer(base64.b64decode(o["data"]), dtype=np.dtype(o["dtype"]).newbyteorder("<"))
                .reshape(o["dims"]).astype(o["dtype"]) for o in outputs]

    def time(self, feed, seconds):
        # Timed inside Node: the pipe is not part of a call.
        return self._ask({"feed": feed, "time": seconds})["micros"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()  # serve.js ends when its input does
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


SESSIONS: dict[str, Callable[..., Session]] = {
    "onnxruntime": _onnxruntime, "openvino": _openvino, "tract": _tract,
    "reference": _reference, "node": NodeSession}


# --- comparing --------------------------------------------------------------------------

def target_scale(model: Model, raw_windows: np.ndarray) -> np.ndarray:
    """The target's std that errors are measured in (module docstring), [1 or batch,
    targets]; 1 for a model that returns z-scores."""
    meta = model.meta
    n_targets = len(meta["targets"])
    training = _statistics(meta)
    if meta["scaling"] == "none":
        return np.ones((1, n_targets))
    if training:
        return training[1][None, :n_targets]
    std = np.asarray(raw_windows, np.float64)[:, :, :n_targets].std(axis=1)
    return np.where(std > 0, std, 1.0)


def relative_error(model: Model, name: str, expected: np.ndarray, got: np.ndarray,
                   scale: np.ndarray) -> float:
    """Worst |got - expected| of one output, relative as the module docstring says;
    `scale` is `target_scale` of the windows fed."""
    expected = np.asarray(expected, np.float64)
    got = np.asarray(got, np.float64)
    if expected.shape != got.shape:
        return float("inf")
    if not expected.size:
        return 0.0
    error = np.abs(got - expected)
    meta = model.meta
    n_targets = len(meta["targets"])
    states = set(contract.gate_output_names(meta["layers"])) | set(
        contract.STEP_STATE_OUTPUTS.values())
    if name not in states and expected.ndim >= 3 and expected.shape[2] == n_targets:
        scale = np.asarray(scale, np.float64)
        error = error / scale.reshape([len(scale), 1, n_targets] + [1] * (expected.ndim - 3))
        return float(np.nan_to_num(error.max(), nan=np.inf))
    return float(np.nan_to_num(error.max(), nan=np.inf) / max(1.0, float(np.abs(expected).max())))


@dataclass
class Row:
    """One runtime's line of the table."""

    runtime: str
    version: str | None  # None: not installed
    vs_onnxruntime: float | None = None  # worst relative error over every output
    worst_output: str | None = None
    vs_keras: float | None = None
    latency_us: dict[int, float] = field(default_factory=dict)  # batch -> median
    failure: str | None = None

    def passed(self, tolerance: float) -> bool:
        if self.version is None:
            return True  # not installed is no failure
        return self.failure is None and all(
            error is None or error <= tolerance for error in (self.vs_onnxruntime, self.vs_keras))


@dataclass
class Report:
    model: Path
    meta: dict
    windows: str  # where the inputs came from
    rows: list[Row]
    tolerance: float
    threads: int

    @property
    def passed(self) -> bool:
        return all(row.passed(self.tolerance) for row in self.rows)


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:160] + ("..." if len(text) > 160 else "")


def _keras_check(model: Model, run) -> Callable[[object], float] | None:
    """A function session -> the parity check's worst relative error against the Keras
    model of `run` (None without a run). Imports TensorFlow."""
    if run is None:
        return None
    from . import parity, runs

    config = runs.load_config(run)
    keras_model = runs.load_model(run)
    check = {"step": parity.check_step_model, "gates": parity.check_gate_model}.get(
        model.meta["model"], parity.check_window_model)
    options = {"fixed_time": model.fixed_time} if model.meta["model"] == "gates" else {}
    scaling = model.meta["scaling"] == "in-graph"

    def against_keras(session) -> float:
        return check(session, keras_model, config, scaling=scaling, **options)[
            "max_relative_error"]
    return against_keras


@dataclass
class Inputs:
    """What every runtime is fed: windows to compare on and to time on, the values of
    inputs the run knows (a panel's series index), and the errors' scale."""

    windows: np.ndarray
    timing_windows: np.ndarray  # at least max(BATCHES) of them
    source: str  # where they come from, for the table
    given: dict = field(default_factory=dict)  # input name -> values for `windows`
    timing_given: dict = field(default_factory=dict)  # ... for `timing_windows`
    scale: np.ndarray | None = None  # target_scale of `windows` (None: from the metadata)


def _inputs(model: Model, run, count: int) -> Inputs:
    time_length = model.fixed_time or model.meta["window"]
    panel = model.meta.get("panel") or {}
    if run is None and panel.get("scaling") == "series":
        raise UserError(f"{model.path} is a panel model scaled by series: each series' "
                        "statistics are inside its graph only, so windows made from the "
                        "metadata would be at no series' level; give its run: lstm-tf "
                        f"runtimes {model.path} RUN")
    if run is None:
        windows = synthetic_windows(model.meta, max(count, max(BATCHES)), time_length)
        what = ("each column's training mean and std" if _statistics(model.meta)
                else "mean 0 and std 1")
        return Inputs(windows[:count], windows[:max(BATCHES)],
                      f"{count} synthetic windows made from the metadata (a random walk at "
                      f"{what})")
    from . import parity, runs

    config = runs.load_config(run)
    if model.fixed_time and model.fixed_time != config.data.window:
        raise UserError(f"{model.path} takes windows of {model.fixed_time} rows only, the "
                        f"run {run} has windows of {config.data.window}; is it this run's "
                        "model?")
    # Windows of every series, their index, each series' training std, and the
    # future-known covariates of each window when the run has them (a graph input the
    # model lacks is not fed: `feeds_for`).
    cases = parity.parity_cases(config)
    (test, series, std, known), (timing, timing_series, _, timing_known) = \
        cases["test windows"], cases["batch 256"]
    given = {contract.SERIES_INPUT: series[-count:].astype(np.int64)}
    timing_given = {contract.SERIES_INPUT: timing_series.astype(np.int64)}
    if known is not None:
        given[contract.KNOWN_INPUT] = known[-count:]
        timing_given[contract.KNOWN_INPUT] = timing_known
    return Inputs(test[-count:], timing, f"{min(count, len(test))} test windows of the run {run}",
                  given, timing_given, std[-count:] if config.panel else None)


def compare(model_path, run=None, names: list[str] | None = None, windows: int = 32,
            budget: float = 0.5, threads: int = 1, tolerance: float = TOLERANCE,
            openvino_precision: str | None = OPENVINO_PRECISION,
            log: Callable[[str], None] = lambda line: None) -> Report:
    """Run `model_path` in every runtime in `names` (default all) that is installed.

    onnxruntime always runs (it is the reference). Each runtime gets the same `windows`
    inputs (`feeds_for`), every output is compared with onnxruntime's and, with `run`,
    parity's check against the Keras model runs through it; then the batch-1 and
    batch-256 latency is timed, `budget` seconds each, in interleaved rounds (every
    runtime sees the same bursts of load from elsewhere), `threads` intra-op threads.
    """
    model = load_model(model_path)
    names = list(names or RUNTIMES)
    if "onnxruntime" not in names:
        names.insert(0, "onnxruntime")
    versions = installed()
    inputs = _inputs(model, run, windows)
    feed = feeds_for(model, inputs.windows, given=inputs.given)
    scale = inputs.scale if inputs.scale is not None else target_scale(model, inputs.windows)
    against_keras = _keras_check(model, run)
    rows, sessions = [], {}
    expected = None
    try:
        for name in names:
            row = Row(name, versions[name])
            rows.append(row)
            if row.version is None:
                continue
            log(f"{name}: loading and running {model.path.name}")
            try:
                options = {"precision": openvino_precision} if name == "openvino" else {}
                session = SESSIONS[name](model, threads, **options)
                sessions[name] = session
                got = session.run(None, feed)
                if name == "onnxruntime":
                    expected = got
                errors = {output: relative_error(model, output, want, have, scale)
                          for output, want, have in zip(model.outputs, expected, got)}
                row.worst_output = max(errors, key=errors.get)
                row.vs_onnxruntime = errors[row.worst_output]
                if against_keras:
                    row.vs_keras = against_keras(session)
            except Exception as error:  # any runtime's own exception types
                if name == "onnxruntime":
                    raise UserError(f"{model.path}: onnxruntime cannot run it "
                                    f"({_first_line(error)})") from None
                row.failure = _first_line(error)
                sessions.pop(name, None)
        rounds = 3
        for batch in BATCHES:
            given = {name: np.resize(values, (batch,) + values.shape[1:])  # (known: 3-D)
                     for name, values in inputs.timing_given.items()}
            batch_feed = feeds_for(model, np.resize(inputs.timing_windows, (batch,)
                                                    + inputs.timing_windows.shape[1:]), given=given)
            samples = {name: [] for name in sessions}
            log(f"timing batch {batch}")
            for _ in range(rounds):
                for name, session in sessions.items():
                    try:
                        micros = session.time(batch_feed, budget / rounds)
                    except Exception as error:
                        next(r for r in rows if r.runtime == name).failure = _first_line(error)
                        continue
                    samples[name] += micros if isinstance(micros, list) else [micros]
            for row in rows:
                if samples.get(row.runtime):
                    row.latency_us[batch] = statistics.median(samples[row.runtime])
    finally:
        for session in sessions.values():
            session.close()
    return Report(model.path, model.meta, inputs.source, rows, tolerance, threads)


def _micros(value: float | None) -> str:
    return ("-" if value is None else
            f"{value:.0f} µs" if value < 10_000 else f"{value / 1000:.1f} ms")


def table(report: Report) -> str:
    """The report as one Markdown table and a verdict line."""
    keras = any(row.vs_keras is not None for row in report.rows)
    meta = report.meta
    what = {"gates": "gate"}.get(meta["model"], meta["model"])
    lines = [f"{report.model.name}: {what} model of a {meta['kind']} run "
             f"({meta['layers']} x {meta['units']}, window {meta['window']}, horizon "
             f"{meta['horizon']}); {report.windows}; latency: median per call, "
             f"{report.threads} thread(s)", "",
             "| runtime | version | vs onnxruntime (x std) | "
             + ("vs Keras (x std) | " if keras else "")
             + " | ".join(f"batch {b}" for b in BATCHES) + " | result |",
             "| --- | --- | --- | " + ("--- | " if keras else "") + "--- | " * len(BATCHES)
             + "--- |"]
    for row in report.rows:
        if row.version is None:
            cells = [row.runtime, "not installed", "-"] + (["-"] if keras else []) \
                + ["-"] * len(BATCHES) + [f"skipped: needs {NEEDS[row.runtime]}"]
        else:
            def error(value):
                return "-" if value is None else f"{value:.1e}"
            result = ("FAILED: " + row.failure if row.failure
                      else "ok" if row.passed(report.tolerance) else "MISSED")
            cells = [row.runtime, row.version, error(row.vs_onnxruntime)
                     + (f" ({row.worst_output})" if row.vs_onnxruntime and
                        row.worst_output != contract.OUTPUT else "")] \
                + ([error(row.vs_keras)] if keras else []) \
                + [_micros(row.latency_us.get(b)) for b in BATCHES] + [result]
        lines.append("| " + " | ".join(cells) + " |")
    ran = [row for row in report.rows if row.version is not None]
    verdict = "PASSED" if report.passed else "FAILED"
    lines += ["", f"{verdict}: {sum(row.passed(report.tolerance) for row in ran)} of "
              f"{len(ran)} installed runtime(s) within {report.tolerance:g} x std"]
    return "\n".join(lines)
