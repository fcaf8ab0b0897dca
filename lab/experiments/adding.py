"""The tutorial's two claims as experiments you can rerun.

1. Gradients (`run_gradients`): a SimpleRNN's gradient vanishes (or, with a large
   recurrent kernel, explodes) over a long sequence. We measure the norm of
   d y_hat / d x_t -- how much the prediction read at the last step depends on the
   input t steps back -- for every t, with `tf.GradientTape`, at initialisation and
   after training (by default the budget of (2)), and report the ratio
   |dy/dx_1| / |dy/dx_T|. For LSTMs we also record the forget gates f_t.
2. Memory (`run_memory`): the LSTM solves a long-term dependency task that the
   SimpleRNN cannot. The task is the adding problem (Hochreiter & Schmidhuber,
   1997): a sequence of random values in [0, 1] with two of them marked; the
   target is the sum of the two marked values. Predicting the mean (1.0) scores
   MSE = Var(u1 + u2) = 2/12 ~ 0.167, so anything clearly below that has learnt to
   carry the first marked value across the sequence.

Both run on the adding problem, so "after training" in (1) means trained on the
task of (2). TensorFlow and matplotlib are imported inside the functions that
need them: importing this module is cheap.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lstm_tf.atomic import csv_text, refuse_overwrite, write_json, write_text
from lstm_tf.config import library_versions
from lstm_tf.errors import UserError, check_choice
from lstm_tf.figures import pyplot, save_figure
# TensorFlow is started by `tensorflow()`: no C++ start-up lines, as in `train`, and no
# "retracing" warning (every model gets its own tf.function, which it calls a mistake).
from lstm_tf.tf_setup import tensorflow

Progress = Callable[[str], None]

#: MSE of always predicting E[u1 + u2] = 1 on the adding problem: Var(u1 + u2) = 2/12.
ADDING_BASELINE_MSE = 1.0 / 6.0

MODEL_KINDS = ("simple_rnn", "lstm")
OPTIMIZERS = ("adam", "sgd")

GRADIENT_FILES = ("gradients.csv", "summary.csv", "training.csv", "gradients.png",
                  "clipnorm.png", "config.json")
MEMORY_FILES = ("memory.csv", "curves.csv", "memory.png", "config.json")


# --------------------------------------------------------------------------- data


def adding_problem(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` adding-problem sequences of `length` steps: x (n, length, 2), y (n, 1).

    Channel 0 holds values uniform in [0, 1]; channel 1 marks exactly two steps,
    one in the first half and one in the second half (the usual variant, e.g.
    Le et al. 2015), so at least length/2 steps separate the first mark from the
    end. The target is the sum of the two marked values.
    """
    if length < 2:
        raise UserError(f"sequence length must be >= 2, got {length}")
    values = rng.uniform(0.0, 1.0, size=(n, length)).astype(np.float32)
    markers = np.zeros((n, length), dtype=np.float32)
    half = length // 2
    rows = np.arange(n)
    markers[rows, rng.integers(0, half, size=n)] = 1.0
    markers[rows, rng.integers(half, length, size=n)] = 1.0
    targets = (values * markers).sum(axis=1, keepdims=True)
    return np.stack([values, markers], axis=-1), targets


def _rng(*key: int) -> np.random.Generator:
    # One independent stream per (seed, length, purpose): the SimpleRNN and the
    # LSTM see exactly the same batches, and adding a length changes no other.
    return np.random.default_rng([int(k) for k in key])


_TRAIN_STREAM, _TEST_STREAM = 1, 2


# ------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """One recurrent model of the comparison: Input(length, 2) -> RNN(units) -> Dense(1).

    Args:
        kind: "simple_rnn" or "lstm" (Keras layers with their default initialisers:
            glorot-uniform input kernel, orthogonal recurrent kernel, and for the LSTM
            `unit_forget_bias=True`, i.e. forget-gate bias 1).
        forget_bias: LSTM only; overwrite the forget-gate bias b_f with this value
            after initialisation (f_t = sigmoid(W_f [x_t, h_{t-1}] + b_f)).
        recurrent_scale: SimpleRNN only; multiply the (orthogonal) recurrent kernel by
            this factor after initialisation, so its singular values all become S.
        clipnorm: train with Keras' `clipnorm` (each weight's gradient clipped to
            this norm).
    """

    kind: str
    forget_bias: float | None = None
    recurrent_scale: float | None = None
    clipnorm: float | None = None

    @property
    def label(self) -> str:
        name = "SimpleRNN" if self.kind == "simple_rnn" else "LSTM"
        if self.recurrent_scale is not None:
            name += f" x{_g(self.recurrent_scale)} recurrent"
        if self.forget_bias is not None:
            name += f", forget bias {_g(self.forget_bias)}"
        if self.clipnorm is not None:
            name += f", clipnorm {_g(self.clipnorm)}"
        return name


def _g(value: float) -> str:
    return f"{value:g}"


def build_model(spec: ModelSpec, length: int, units: int, seed: int):
    """Build the Keras model for `spec` with weights drawn from `seed`."""
    tensorflow()
    import keras

    check_choice("model kind", spec.kind, MODEL_KINDS, "choose from")
    keras.utils.set_random_seed(seed)
    if spec.kind == "simple_rnn":
        recurrent = keras.layers.SimpleRNN(units, name="simple_rnn")
    else:
        recurrent = keras.layers.LSTM(units, name="lstm")
    model = keras.Sequential(
        [keras.Input((length, 2)), recurrent, keras.layers.Dense(1, name="readout")],
        name=spec.kind)
    cell = recurrent.cell
    if spec.recurrent_scale is not None:
        if spec.kind != "simple_rnn":
            raise UserError("recurrent_scale applies to the SimpleRNN only")
        cell.recurrent_kernel.assign(cell.recurrent_kernel * spec.recurrent_scale)
    if spec.forget_bias is not None:
        if spec.kind != "lstm":
            raise UserError("forget_bias applies to the LSTM only")
        # Keras packs the LSTM bias as [input, forget, candidate, output] gates.
        bias = cell.bias.numpy()
        bias[units:2 * units] = spec.forget_bias
        cell.bias.assign(bias)
    return model


def gradient_profile(model, x: np.ndarray) -> np.ndarray:
    """Mean over the sequences in `x` of ||d y_hat / d x_t||_2, for every step t.

    Returns an array of shape (length,). Each sequence's prediction depends only on
    its own inputs, so the gradient of the summed predictions gives every
    sequence's own gradient at once.
    """
    tensorflow()
    import tensorflow as tf

    @tf.function  # a traced graph is ~3x faster than eager for one 100-step pass
    def profile(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(model(inputs, training=False))
        return tf.reduce_mean(tf.norm(tape.gradient(total, inputs), axis=-1), axis=0)

    return profile(tf.constant(x, dtype=tf.float32)).numpy().astype(np.float64)


def gradient_ratio(profile: np.ndarray) -> float:
    """|dy/dx_1| / |dy/dx_T|: below 1 the first input matters less than the last."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(profile[0] / profile[-1])


@dataclass(frozen=True)
class ForgetGates:
    """What an LSTM's forget gates do on a probe set, in C_t = f_t*C_{t-1} + i_t*C~_t.

    Along the cell path alone, dC_T/dC_1 = prod_{t=2..T} f_t (element-wise): the
    product is how much of C_1 -- and of a gradient flowing back to step 1 -- a
    unit keeps across the sequence.

    Attributes:
        mean: mean of f_t over units, sequences and steps.
        best_retention: the largest over units of prod_{t=2..T} f_t (geometric mean
            over sequences), i.e. the best-kept unit's cell path across the sequence.
    """

    mean: float
    best_retention: float


def forget_gates(model, x: np.ndarray) -> ForgetGates | None:
    """Run the LSTM of `model` over `x`, recording f_t; None if the model has no LSTM."""
    import keras

    layer = next((layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)), None)
    if layer is None:
        return None
    _, forget = lstm_forward_numpy(layer.cell, x)
    # f_1 multiplies the zero initial state: the path from C_1 to C_T uses f_2..f_T.
    retention = np.exp(np.log(forget[1:]).sum(axis=0).mean(axis=0))
    return ForgetGates(float(forget.mean()), float(retention.max()))


def lstm_forward_numpy(cell, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' LSTM cell recomputed from its weights by the tutorial's equations
    (`cells.numpy_lstm_reference`): (h_T (n, units), f_t (T, n, units))."""
    from lstm_tf.cells import numpy_lstm_reference

    trace = numpy_lstm_reference(x, *cell.get_weights())
    return trace.h[:, -1], np.moveaxis(trace.forget_gate, 1, 0)


# ----------------------------------------------------------------------- training


#: Training runs of at least this many steps are compiled with XLA.
XLA_MIN_STEPS = 500


@dataclass
class TrainingCurve:
    """Per-step training loss and gradient norm; test MSE every `eval_every` steps."""

    loss: np.ndarray
    grad_norm: np.ndarray  # global norm of the gradient, before any clipping
    update_norm: np.ndarray  # global norm of the change of the weights
    eval_steps: np.ndarray
    eval_mse: np.ndarray
    seconds: float
    xla: bool = False  # whether the steps were compiled with XLA (`use_xla`)


def train_on_adding(model, *, length: int, steps: int, batch_size: int, optimizer: str,
                    learning_rate: float, clipnorm: float | None, data_seed: int,
                    test: tuple[np.ndarray, np.ndarray] | None = None, eval_every: int = 0,
                    progress: Progress | None = None, label: str = "") -> TrainingCurve:
    """Train `model` for `steps` Adam/SGD steps on fresh adding-problem batches (MSE loss)."""
    tensorflow()
    import keras
    import tensorflow as tf

    # (a KeyError, not a silent SGD, for a name outside OPTIMIZERS: callers validate it)
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](
        learning_rate, clipnorm=clipnorm)
    variables = model.trainable_variables
    opt.build(variables)
    jit_compile = use_xla(model, steps)

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, variables)
        before = [tf.identity(v) for v in variables]
        opt.apply_gradients(zip(grads, variables))
        update = tf.linalg.global_norm([v - b for v, b in zip(variables, before)])
        return loss, tf.linalg.global_norm(grads), update

    @tf.function(jit_compile=jit_compile)
    def test_mse(x, y):
        return tf.reduce_mean(tf.square(model(x, training=False) - y))

    rng = _rng(data_seed, length, _TRAIN_STREAM)
    losses, grad_norms, update_norms = np.empty(steps), np.empty(steps), np.empty(steps)
    eval_steps: list[int] = []
    eval_mse: list[float] = []
    if test is not None:
        test_x, test_y = (tf.constant(a) for a in test)
        eval_steps.append(0)
        eval_mse.append(float(test_mse(test_x, test_y)))
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, y = adding_problem(batch_size, length, rng)
        losses[step - 1], grad_norms[step - 1], update_norms[step - 1] = (
            float(value) for value in train_step(x, y))
        if test is not None and eval_every and (step % eval_every == 0 or step == steps):
            eval_steps.append(step)
            eval_mse.append(float(test_mse(test_x, test_y)))
            if progress and (step % (eval_every * 10) == 0 or step == steps):
                progress(f"  {label} step {step}/{steps}: test MSE {eval_mse[-1]:.4f}")
    return TrainingCurve(losses, grad_norms, update_norms, np.array(eval_steps, dtype=int),
                         np.array(eval_mse), time.perf_counter() - start, xla=jit_compile)


def use_xla(model, steps: int) -> bool:
    """Compile `train_on_adding`'s steps with XLA? For runs of `XLA_MIN_STEPS` or more (XLA
    fuses each recurrent step's small ops, 20-50% faster here, but compiles 2-5 s per model)
    when every layer of `model` supports it: a GPU's cuDNN LSTM kernel does not, and Keras
    turns XLA off for it in `Model.compile` only, not in a `tf.function` of ours."""
    return steps >= XLA_MIN_STEPS and all(layer.supports_jit for layer in model._flatten_layers())


# ---------------------------------------------------------------- gradients: run


@dataclass(frozen=True)
class GradientConfig:
    """Settings of `run_gradients`.

    Args:
        length: sequence length T.
        units: recurrent units of every model.
        seeds: number of seeds (seed, seed+1, ...); each seeds weights and data.
        seed: first seed.
        probe_size: sequences the gradient norm is averaged over.
        train_steps: steps of the training run (batch `batch_size`); the default is
            the budget of `run_memory`, enough for the LSTM to solve T = 100.
        forget_bias: add an LSTM whose forget-gate bias is set to this value
            (None or 1, Keras' own default: no such variant).
        recurrent_scale: add a SimpleRNN whose recurrent kernel is multiplied by
            this (the exploding case), trained once as is and once with `clipnorm`.
    """

    length: int = 100
    units: int = 32
    seeds: int = 3
    seed: int = 0
    probe_size: int = 256
    train_steps: int = 3000
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 0.01
    forget_bias: float | None = 3.0
    recurrent_scale: float | None = None
    clipnorm: float = 1.0

    def model_specs(self) -> list[ModelSpec]:
        specs = [ModelSpec("simple_rnn"), ModelSpec("lstm")]
        if self.forget_bias is not None and self.forget_bias != 1.0:
            specs.append(ModelSpec("lstm", forget_bias=self.forget_bias))
        if self.recurrent_scale is not None:
            specs.append(ModelSpec("simple_rnn", recurrent_scale=self.recurrent_scale))
            specs.append(ModelSpec("simple_rnn", recurrent_scale=self.recurrent_scale,
                                   clipnorm=self.clipnorm))
        return specs


#: `--quick`: one seed, a shorter training run.
QUICK_GRADIENTS = {"seeds": 1, "train_steps": 200}


def gradient_config(quick: bool = False, **overrides) -> GradientConfig:
    """The default (or `--quick`) configuration, with `overrides` (None = keep) applied."""
    return _configure(GradientConfig(), QUICK_GRADIENTS if quick else {}, overrides)


@dataclass
class GradientRun:
    """One model and seed: gradient profiles before and after training."""

    spec: ModelSpec
    seed: int
    init_profile: np.ndarray
    trained_profile: np.ndarray
    training: TrainingCurve
    final_mse: float  # on the probe set, after training
    init_gates: ForgetGates | None = None  # LSTMs only
    trained_gates: ForgetGates | None = None

    @property
    def init_ratio(self) -> float:
        return gradient_ratio(self.init_profile)

    @property
    def trained_ratio(self) -> float:
        return gradient_ratio(self.trained_profile)


@dataclass
class GradientResult:
    config: GradientConfig
    runs: list[GradientRun]
    seconds: float

    def runs_of(self, spec: ModelSpec) -> list[GradientRun]:
        return [run for run in self.runs if run.spec == spec]

    def median_ratio(self, spec: ModelSpec, phase: str = "init") -> float:
        ratios = [run.init_ratio if phase == "init" else run.trained_ratio
                  for run in self.runs_of(spec)]
        return float(np.median(ratios))


def run_gradients(config: GradientConfig, progress: Progress | None = None) -> GradientResult:
    """Measure gradient profiles of every model of `config` for every seed."""
    tensorflow()
    start = time.perf_counter()
    runs = []
    for seed in range(config.seed, config.seed + config.seeds):
        probe_x, probe_y = adding_problem(config.probe_size, config.length,
                                          _rng(seed, config.length, _TEST_STREAM))
        for spec in config.model_specs():
            model = build_model(spec, config.length, config.units, seed)
            init_profile = gradient_profile(model, probe_x)
            init_gates = forget_gates(model, probe_x)
            training = train_on_adding(
                model, length=config.length, steps=config.train_steps,
                batch_size=config.batch_size, optimizer=config.optimizer,
                learning_rate=config.learning_rate, clipnorm=spec.clipnorm, data_seed=seed)
            trained_profile = gradient_profile(model, probe_x)
            final_mse = float(np.mean((np.asarray(model(probe_x, training=False)) - probe_y) ** 2))
            run = GradientRun(spec, seed, init_profile, trained_profile, training, final_mse,
                              init_gates, forget_gates(model, probe_x))
            runs.append(run)
            if progress:
                gates = ""
                if run.init_gates:
                    gates = (f", mean forget gate {run.init_gates.mean:.3f} -> "
                             f"{run.trained_gates.mean:.3f}")
                progress(f"seed {seed} {spec.label}: ratio at init {run.init_ratio:.2e}, "
                         f"after {config.train_steps} steps {run.trained_ratio:.2e} "
                         f"(MSE {final_mse:.4f}{gates}, {training.seconds:.0f} s)")
    return GradientResult(config, runs, time.perf_counter() - start)


# ------------------------------------------------------------------- memory: run


@dataclass(frozen=True)
class MemoryConfig:
    """Settings of `run_memory`: the same budget for every model and length.

    Args:
        lengths: sequence lengths of the adding problem.
        steps: training steps per model and length (batch `batch_size`, fresh data).
        eval_every: steps between evaluations on the test set.
        test_size: test sequences per length (fixed, drawn from `seed`).
        target_mse: report the first evaluated step whose test MSE is below this.
        lstm_forget_bias: set the LSTM's forget-gate bias (None: Keras' default, 1).
    """

    lengths: tuple[int, ...] = (10, 50, 100, 200)
    steps: int = 3000
    units: int = 32
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 0.01
    eval_every: int = 50
    test_size: int = 1000
    target_mse: float = 0.01
    seed: int = 0
    lstm_forget_bias: float | None = None

    def model_specs(self) -> list[ModelSpec]:
        return [ModelSpec("simple_rnn"), ModelSpec("lstm", forget_bias=self.lstm_forget_bias)]


#: `--quick`: two lengths, a third of the steps, a smaller test set.
QUICK_MEMORY = {"lengths": (10, 50), "steps": 1000, "test_size": 500}


def memory_config(quick: bool = False, **overrides) -> MemoryConfig:
    """The default (or `--quick`) configuration, with `overrides` (None = keep) applied."""
    return _configure(MemoryConfig(), QUICK_MEMORY if quick else {}, overrides)


@dataclass
class MemoryRun:
    """One model at one length."""

    spec: ModelSpec
    length: int
    training: TrainingCurve
    target_mse: float

    @property
    def final_mse(self) -> float:
        return float(self.training.eval_mse[-1])

    @property
    def steps_to_target(self) -> int | None:
        """First evaluated step with test MSE below the target, or None if never."""
        below = np.nonzero(self.training.eval_mse < self.target_mse)[0]
        return int(self.training.eval_steps[below[0]]) if below.size else None


@dataclass
class MemoryResult:
    config: MemoryConfig
    runs: list[MemoryRun]
    baseline_mse: dict[int, float]  # always predicting 1.0, on each length's test set
    seconds: float

    def run(self, kind: str, length: int) -> MemoryRun:
        return next(r for r in self.runs if r.spec.kind == kind and r.length == length)


def run_memory(config: MemoryConfig, progress: Progress | None = None) -> MemoryResult:
    """Train every model of `config` on the adding problem at every length."""
    tensorflow()
    start = time.perf_counter()
    runs, baseline = [], {}
    for length in config.lengths:
        test = adding_problem(config.test_size, length, _rng(config.seed, length, _TEST_STREAM))
        baseline[length] = float(np.mean((test[1] - 1.0) ** 2))
        for spec in config.model_specs():
            model = build_model(spec, length, config.units, config.seed)
            label = f"length {length} {spec.label}"
            training = train_on_adding(
                model, length=length, steps=config.steps, batch_size=config.batch_size,
                optimizer=config.optimizer, learning_rate=config.learning_rate,
                clipnorm=None, data_seed=config.seed, test=test,
                eval_every=config.eval_every, progress=progress, label=label)
            run = MemoryRun(spec, length, training, config.target_mse)
            runs.append(run)
            if progress:
                reached = run.steps_to_target
                progress(f"{label}: final test MSE {run.final_mse:.4f} (baseline "
                         f"{baseline[length]:.4f}), MSE < {_g(config.target_mse)} "
                         f"{'at step ' + str(reached) if reached else 'not reached'} "
                         f"({training.seconds:.0f} s)")
    return MemoryResult(config, runs, baseline, time.perf_counter() - start)


# ----------------------------------------------------------------------- tables


def gradient_table(result: GradientResult) -> str:
    """Per model: median [min, max] over seeds of the ratio, before and after training."""
    config = result.config
    header = (f"|dy/dx_1| / |dy/dx_T|, T = {config.length}, {config.units} units, "
              f"{config.seeds} seed(s); 'trained' = after {config.train_steps} "
              f"{config.optimizer} steps on the adding problem")
    rows = [("model", "ratio at init", "ratio trained", "test MSE trained")]
    for spec in config.model_specs():
        runs = result.runs_of(spec)
        rows.append((spec.label,
                     _spread([r.init_ratio for r in runs]),
                     _spread([r.trained_ratio for r in runs]),
                     _spread([r.final_mse for r in runs], fmt="{:.4f}")))
    table = header + "\n" + _format_rows(rows)
    lstm_specs = [spec for spec in config.model_specs() if spec.kind == "lstm"]
    if not lstm_specs:
        return table
    rows = [("model", "mean f_t init", "best unit prod f_t init", "mean f_t trained",
             "best unit prod f_t trained")]
    for spec in lstm_specs:
        runs = result.runs_of(spec)
        rows.append((spec.label,
                     _spread([r.init_gates.mean for r in runs], fmt="{:.3f}"),
                     _spread([r.init_gates.best_retention for r in runs]),
                     _spread([r.trained_gates.mean for r in runs], fmt="{:.3f}"),
                     _spread([r.trained_gates.best_retention for r in runs])))
    return (table + f"\n\nLSTM forget gates on the probe set (prod over t = 2..{config.length}: "
            "the best-kept unit's cell path C_t = f_t*C_{t-1} + i_t*C~_t)\n"
            + _format_rows(rows))


def memory_table(result: MemoryResult) -> str:
    """Per length: final test MSE of each model and of the baseline, steps to target."""
    config = result.config
    target = _g(config.target_mse)
    specs = config.model_specs()
    rows = [("length", "baseline MSE")
            + tuple(f"{s.label} MSE" for s in specs)
            + tuple(f"{s.label} steps to MSE<{target}" for s in specs)]
    for length in config.lengths:
        runs = [next(r for r in result.runs if r.spec == s and r.length == length) for s in specs]
        rows.append((str(length), f"{result.baseline_mse[length]:.4f}")
                    + tuple(f"{r.final_mse:.4f}" for r in runs)
                    + tuple(str(r.steps_to_target) if r.steps_to_target else "not reached"
                            for r in runs))
    header = (f"adding problem, {config.steps} {config.optimizer} steps (lr "
              f"{_g(config.learning_rate)}, batch {config.batch_size}), {config.units} units, "
              f"seed {config.seed}")
    return header + "\n" + _format_rows(rows)


def _spread(values: Sequence[float], fmt: str = "{:.2e}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt.format(float(np.median(values))) + " [" + fmt.format(min(values)) + ", "
            + fmt.format(max(values)) + "]")


def _format_rows(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------- output


def check_outputs_free(out_dir: str | os.PathLike, names: Sequence[str], force: bool) -> None:
    """Refuse (UserError) before any work if an output of the experiment already exists."""
    for name in names:
        refuse_overwrite(Path(out_dir) / name, force, what="output")


def write_gradient_outputs(result: GradientResult, out_dir: str | os.PathLike,
                           force: bool = False) -> list[Path]:
    """Write gradients.csv, summary.csv, training.csv, the PNG(s) and config.json."""
    out = Path(out_dir)
    check_outputs_free(out, GRADIENT_FILES, force)
    config = result.config
    written = []

    rows = [("model", "seed", "phase", "t", "grad_norm")]
    for run in result.runs:
        for phase, profile in (("init", run.init_profile), ("trained", run.trained_profile)):
            rows += [(run.spec.label, run.seed, phase, t + 1, _num(v)) for t, v in enumerate(profile)]
    written.append(_write_csv(out / "gradients.csv", rows))

    rows = [("model", "seed", "ratio_init", "ratio_trained", "mse_trained", "train_seconds",
             "forget_mean_init", "forget_best_retention_init", "forget_mean_trained",
             "forget_best_retention_trained")]
    for r in result.runs:
        gates = ()
        for g in (r.init_gates, r.trained_gates):
            gates += (_num(g.mean), _num(g.best_retention)) if g else ("", "")
        rows.append((r.spec.label, r.seed, _num(r.init_ratio), _num(r.trained_ratio),
                     _num(r.final_mse), f"{r.training.seconds:.2f}") + gates)
    written.append(_write_csv(out / "summary.csv", rows))

    rows = [("model", "seed", "step", "loss", "grad_norm", "update_norm")]
    for run in result.runs:
        curve = run.training
        rows += [(run.spec.label, run.seed, step + 1, _num(loss), _num(grad), _num(update))
                 for step, (loss, grad, update)
                 in enumerate(zip(curve.loss, curve.grad_norm, curve.update_norm))]
    written.append(_write_csv(out / "training.csv", rows))

    written.append(plot_gradients(result, out / "gradients.png"))
    if config.recurrent_scale is not None:
        written.append(plot_clipnorm(result, out / "clipnorm.png"))
    elif (out / "clipnorm.png").exists():
        # Replaced with --force by a run without the exploding case: an old figure
        # next to the new results would describe a run that is no longer there.
        (out / "clipnorm.png").unlink()
    written.append(_write_config(out / "config.json", "gradients", config, result.seconds, {
        "ratios": {spec.label: {"init_median": _json_num(result.median_ratio(spec, "init")),
                                "trained_median": _json_num(result.median_ratio(spec, "trained"))}
                   for spec in config.model_specs()}}))
    return written


def write_memory_outputs(result: MemoryResult, out_dir: str | os.PathLike,
                         force: bool = False) -> list[Path]:
    """Write memory.csv, curves.csv, memory.png and config.json."""
    out = Path(out_dir)
    check_outputs_free(out, MEMORY_FILES, force)
    config = result.config
    rows = [("length", "model", "final_test_mse", "baseline_mse", "steps_to_target",
             "target_mse", "train_seconds")] + [
        (run.length, run.spec.label, _num(run.final_mse), _num(result.baseline_mse[run.length]),
         run.steps_to_target if run.steps_to_target else "not reached", _g(config.target_mse),
         f"{run.training.seconds:.2f}") for run in result.runs]
    written = [_write_csv(out / "memory.csv", rows)]
    rows = [("length", "model", "step", "test_mse")]
    for run in result.runs:
        rows += [(run.length, run.spec.label, int(step), _num(mse))
                 for step, mse in zip(run.training.eval_steps, run.training.eval_mse)]
    written.append(_write_csv(out / "curves.csv", rows))
    written.append(plot_memory(result, out / "memory.png"))
    written.append(_write_config(out / "config.json", "memory", config, result.seconds, {
        "results": [{"length": r.length, "model": r.spec.label, "final_test_mse": r.final_mse,
                     "steps_to_target": r.steps_to_target} for r in result.runs],
        "baseline_mse": {str(k): v for k, v in result.baseline_mse.items()}}))
    return written


def _num(value: float) -> str:
    return repr(float(value))  # full precision; "nan"/"inf" stay readable


def _json_num(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    write_text(path, csv_text(rows))
    return path


def _write_config(path: Path, experiment: str, config, seconds: float, results: dict) -> Path:
    write_json(path, {
        "experiment": experiment,
        "config": asdict(config),
        "wall_seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "versions": library_versions(),
        **results,
    })
    return path


def machine_info() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count()}


# ------------------------------------------------------------------------ plots


def _color(spec: ModelSpec) -> str:
    # By role, so a model keeps its colour in every figure.
    if spec.kind == "lstm":
        return "tab:green" if spec.forget_bias is not None else "tab:blue"
    return ("tab:red" if spec.recurrent_scale is None else
            "tab:purple" if spec.clipnorm is not None else "tab:orange")


def plot_gradients(result: GradientResult, path: str | os.PathLike) -> Path:
    """Two panels (init, trained): ||dy/dx_t|| against t, log scale, one curve per model.

    Thick curves are the median over seeds, thin ones the single seeds.
    """
    plt = pyplot()

    config = result.config
    steps = np.arange(1, config.length + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    panels = (("init", "at initialisation"),
              ("trained", f"after {config.train_steps} training steps"))
    for ax, (phase, title) in zip(axes, panels):
        for spec in config.model_specs():
            if phase == "init" and spec.clipnorm is not None:
                continue  # same weights as the unclipped run before training
            profiles = np.array([run.init_profile if phase == "init" else run.trained_profile
                                 for run in result.runs_of(spec)])
            color = _color(spec)
            ratio = result.median_ratio(spec, phase)
            # A gradient that underflows float32 is exactly 0: the log axis leaves a
            # gap there rather than inventing a value.
            ax.plot(steps, _positive(np.median(profiles, axis=0)), color=color, lw=1.8,
                    label=f"{spec.label} (ratio {ratio:.1e})")
            if len(profiles) > 1:
                for profile in profiles:
                    ax.plot(steps, _positive(profile), color=color, lw=0.6, alpha=0.35)
        ax.set(yscale="log", xlabel="input step t (prediction read at t = T)", title=title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("||d y_hat / d x_t||  (mean over sequences)")
    fig.suptitle(f"Gradient of the prediction w.r.t. each input step, adding problem, "
                 f"T = {config.length}, {config.units} units; median of {config.seeds} "
                 f"seed(s) (thin: single seeds)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_clipnorm(result: GradientResult, path: str | os.PathLike) -> Path:
    """Per training step of the SimpleRNNs, with and without clipnorm: loss, gradient
    norm and update norm, log-log, as running means over 25 steps (geometric for the norms).
    """
    plt = pyplot()

    config = result.config
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    window = max(1, min(25, config.train_steps // 20))
    panels = (("loss", f"training MSE (running mean, {window} steps)", "training loss", False),
              ("grad_norm", "global gradient norm before clipping", "gradient norm", True),
              ("update_norm", "norm of the weight update", "weight update per step", True))
    for spec in config.model_specs():
        if spec.kind != "simple_rnn":
            continue
        for n, run in enumerate(result.runs_of(spec)):
            steps = np.arange(1, len(run.training.loss) + 1)
            for ax, (name, _, _, geometric) in zip(axes, panels):
                ax.plot(steps, _running_mean(getattr(run.training, name), window, geometric),
                        color=_color(spec), lw=1.1, alpha=0.8,
                        label=spec.label if n == 0 else None)
    axes[0].axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=1,
                    label="predict the mean (MSE 0.167)")
    for ax, (_, ylabel, title, _) in zip(axes, panels):
        ax.set(xscale="log", yscale="log", xlabel="training step", ylabel=ylabel, title=title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Exploding case: SimpleRNN recurrent kernel x{_g(config.recurrent_scale)}, "
                 f"T = {config.length}, {config.optimizer} lr {_g(config.learning_rate)}, "
                 f"clipnorm {_g(config.clipnorm)} vs none; {config.seeds} seed(s), one line each",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_memory(result: MemoryResult, path: str | os.PathLike) -> Path:
    """One panel per length: test MSE against training step, log scale, one curve per model."""
    plt = pyplot()

    config = result.config
    count = len(config.lengths)
    fig, axes = plt.subplots(1, count, figsize=(3.6 * count + 1, 4.2), sharey=True, squeeze=False)
    for ax, length in zip(axes[0], config.lengths):
        for spec in config.model_specs():
            run = next(r for r in result.runs if r.spec == spec and r.length == length)
            ax.plot(run.training.eval_steps, run.training.eval_mse, color=_color(spec),
                    lw=1.6, label=spec.label)
        ax.axhline(result.baseline_mse[length], color="gray", ls="--", lw=1,
                   label="predict the mean")
        ax.axhline(config.target_mse, color="black", ls=":", lw=1,
                   label=f"target MSE {_g(config.target_mse)}")
        ax.set(yscale="log", title=f"T = {length}", xlabel="training step")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("test MSE")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Adding problem: test MSE during training ({config.units} units, "
                 f"{config.optimizer} lr {_g(config.learning_rate)}, batch {config.batch_size}, "
                 f"seed {config.seed})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _positive(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, np.nan)


def _running_mean(values: np.ndarray, window: int, geometric: bool = False) -> np.ndarray:
    """Trailing mean over `window` steps; `geometric` averages log10 (for norms that
    span orders of magnitude, where one spike would dominate an arithmetic mean)."""
    if window <= 1:
        return values
    if geometric:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.where(values > 0, values, np.nan))
        return 10 ** _running_mean(logs, window)
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, np.ones(window) / window, mode="valid")


# -------------------------------------------------------------------- helpers


#: Each numeric setting's name in messages and its lowest value (None: above 0).
LIMITS = {"units": ("units", 1), "batch_size": ("batch size", 1),
          "learning_rate": ("learning rate", None), "length": ("sequence length", 2),
          "lengths": ("sequence length", 2), "seeds": ("seeds", 1),
          "probe_size": ("probe size", 1), "train_steps": ("train steps", 1),
          "clipnorm": ("clipnorm", None), "recurrent_scale": ("recurrent scale", None),
          "steps": ("steps", 1), "eval_every": ("eval-every", 1),
          "test_size": ("test size", 1), "target_mse": ("target MSE", None)}


def _configure(config, quick: dict, overrides: dict):
    """`config` with the `--quick` settings and `overrides` (None = keep) applied, checked
    (UserError) against `LIMITS`."""
    config = replace(config, **{**quick, **{k: v for k, v in overrides.items() if v is not None}})
    if hasattr(config, "lengths"):
        config = replace(config, lengths=tuple(int(n) for n in config.lengths))
        if not config.lengths:
            raise UserError("give at least one sequence length")
        if len(set(config.lengths)) != len(config.lengths):
            raise UserError(f"sequence lengths repeat: {','.join(map(str, config.lengths))}")
    check_choice("optimizer", config.optimizer, OPTIMIZERS, "choose from")
    for name, (label, lowest) in LIMITS.items():
        for value in getattr(config, name, ()) if name == "lengths" else [
                getattr(config, name, None)]:
            if value is not None and not (value > 0 if lowest is None else value >= lowest):
                raise UserError(f"{label} must be {'> 0' if lowest is None else f'>= {lowest}'}"
                                f", got {value}")
    return config
