"""Where and how training runs: device, precision, XLA, and the tf.distribute strategy.

    --device auto|cpu|gpu     auto: a GPU when TensorFlow sees one
    --mixed-precision         mixed_float16 on a GPU, mixed_bfloat16 on a CPU; the head stays float32
    --xla                     the train step compiled with XLA (Keras' jit_compile)
    --strategy auto|default|mirrored|multiworker

Everything distributed is TensorFlow's own engine: `tf.distribute.MirroredStrategy`
across the devices of one machine, `tf.distribute.MultiWorkerMirroredStrategy` across
machines (configured by the TF_CONFIG environment variable). Keras' `fit` runs under
the strategy's scope and distributes the tf.data pipeline itself; the batch size is the
global batch, split evenly across the replicas.

Devices must be chosen before TensorFlow creates its runtime, so `use_devices` and
`make_strategy` are called first thing in a training process.
"""

from __future__ import annotations

import contextlib
import json
import os

from .config import DEVICES, STRATEGIES, UNROLL_MAX_WINDOW
from .errors import UserError, check_choice
from .tf_setup import tensorflow


# ------------------------------------------------------------------------- device


def resolve_device(device: str) -> str:
    """'cpu' or 'gpu'; 'auto' is a GPU when TensorFlow can use one. No GPU for 'gpu' is an error.

    What counts is the GPUs *visible* to this process, not the ones installed: an
    earlier `--device cpu` run in the same process hid them (`use_devices`), and they
    cannot be shown again once TensorFlow has started.
    """
    check_choice("device", device, DEVICES)
    tf = tensorflow()
    visible = tf.config.get_visible_devices("GPU")
    if device == "gpu" and not visible:
        if tf.config.list_physical_devices("GPU"):
            raise UserError("--device gpu: this process hid its GPUs from TensorFlow for an "
                            "earlier --device cpu run, and they cannot be shown again once "
                            "TensorFlow has started; run this training in a new process")
        raise UserError("--device gpu: TensorFlow sees no GPU on this machine (it needs an "
                        "NVIDIA driver and `pip install lstm-tf[gpu]`); use --device cpu or auto")
    return ("gpu" if visible else "cpu") if device == "auto" else device


def use_devices(device: str, cpu_devices: int = 1) -> None:
    """Make TensorFlow train on `device` ('cpu' or 'gpu'), before its runtime starts.

    `cpu_devices` > 1 splits the CPU into that many logical devices, so a
    MirroredStrategy can be rehearsed (and tested) on a machine without GPUs.
    """
    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        if device == "cpu" and gpus and tf.config.get_visible_devices("GPU"):
            tf.config.set_visible_devices([], "GPU")
        if cpu_devices > 1 and len(tf.config.get_logical_device_configuration(cpu) or []) \
                != cpu_devices:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    except RuntimeError:  # the runtime already started in this process
        raise UserError("devices can only be chosen before TensorFlow starts; run this "
                        "training in a new process") from None


# ---------------------------------------------------------------------- precision


def precision_policy(mixed_precision: bool, device: str) -> str:
    """The Keras dtype policy of the model's body: float16 on GPUs, bfloat16 on CPUs.

    float16 needs loss scaling (see `train.compile_model`); bfloat16 has float32's
    exponent range and does not.
    """
    return ("float32" if not mixed_precision else
            "mixed_float16" if device == "gpu" else "mixed_bfloat16")


@contextlib.contextmanager
def full_float32():
    """Inside the block, float32 matmuls (and cuDNN's recurrent kernels) run in full
    float32, not as TensorFloat-32 (Ampere and newer GPUs' default: a 10-bit mantissa,
    about 1e-4 relative off). Training tolerates that; a parity reference held to 1e-5 x
    std does not. No effect on CPUs."""
    tf = tensorflow()
    enabled = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(enabled)


def resolve_unroll(unroll: bool | None, device: str, xla: bool, window: int,
                   layers: int) -> bool:
    """Unroll the recurrence? None (auto): yes for stacked layers on a CPU, without XLA,
    over short windows. Unrolled, layer 2's step t runs beside layer 1's step t + 1 on
    another core (docs/training.md); one layer has no such overlap, a GPU's cuDNN kernel
    needs a rolled loop and XLA compiles unrolled graphs into slower code."""
    if unroll is not None:
        return unroll
    return device == "cpu" and not xla and layers >= 2 and window <= UNROLL_MAX_WINDOW


def resolve_threads(threads: int, unroll: bool, device: str) -> int:
    """TensorFlow's intra-op threads; 0 (auto): 1 for an unrolled recurrence on a CPU
    (its independent ops already keep the cores busy: splitting each small matmul too only
    adds synchronisation, docs/training.md), else TensorFlow's default (0: one per core)."""
    return 1 if threads == 0 and unroll and device == "cpu" else threads


def use_threads(threads: int) -> int:
    """Set TensorFlow's intra-op threads (0: its default) if its runtime has not started
    (a process that already ran TensorFlow keeps its setting); the number in effect."""
    tf = tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        pass
    return tf.config.threading.get_intra_op_parallelism_threads()


# ----------------------------------------------------------------------- strategy


def tf_config() -> dict:
    """The TF_CONFIG environment variable, parsed ({} when unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
        if not isinstance(parsed.get("cluster"), dict):
            raise ValueError
        return parsed
    except (ValueError, AttributeError):
        raise UserError("TF_CONFIG is not valid: it must be JSON with a 'cluster' of "
                        "'worker' (and optionally 'chief') addresses and this machine's "
                        "'task'; see docs/training.md") from None


def cluster_workers() -> int:
    """Machines named in TF_CONFIG's cluster (0 when TF_CONFIG is unset)."""
    cluster = tf_config().get("cluster", {})
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker"))


def resolve_strategy(strategy: str, device: str) -> str:
    """'auto' is multiworker when TF_CONFIG names several machines, mirrored on several
    GPUs, otherwise the default (one device)."""
    check_choice("strategy", strategy, STRATEGIES)
    if strategy != "auto":
        return strategy
    if cluster_workers() > 1:
        return "multiworker"
    if device == "gpu" and len(tensorflow().config.get_visible_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def make_strategy(strategy: str, device: str):
    """The tf.distribute strategy for a resolved strategy name and device."""
    tf = tensorflow()
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        kind = "GPU" if device == "gpu" else "CPU"
        devices = [logical.name for logical in tf.config.list_logical_devices(kind)]
        return tf.distribute.MirroredStrategy(devices)
    if strategy == "multiworker":
        if cluster_workers() == 0:
            raise UserError("--strategy multiworker needs TF_CONFIG describing the cluster and "
                            "this machine's task; see docs/training.md")
        return _reduce_nested(tf.distribute.MultiWorkerMirroredStrategy())
    raise UserError(f"unknown strategy {strategy!r}; choose {', '.join(STRATEGIES)}")


def _reduce_nested(strategy):
    """Let `strategy.reduce` take what Keras 3's fit hands it across machines.

    Keras 3.15 calls MultiWorkerMirroredStrategy's `reduce` with an (inputs, targets)
    pair, which it refuses (it takes one value; keras-team/keras#20585), and reduces
    scalar losses "along axis 0", which a scalar has not. Reducing each part, and
    scalars across replicas only, is what Keras means and what MirroredStrategy does.
    """
    tf = tensorflow()
    reduce_one = strategy.reduce

    def reduce_part(reduce_op, part, axis):
        local = strategy.experimental_local_results(part)[0]
        if axis is not None and local.shape.rank == 0:
            axis = None
        return reduce_one(reduce_op, part, axis=axis)

    def reduce(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda part: reduce_part(reduce_op, part, axis), value)

    strategy.reduce = reduce
    return strategy


def is_chief(strategy: str) -> bool:
    """Whether this process writes the run directory: always, except under --strategy
    multiworker on a worker that is not the chief (the task of type 'chief', or worker 0
    when TF_CONFIG names no chief). Reads only the environment."""
    if strategy != "multiworker":
        return True
    raw = tf_config()
    task = raw.get("task") or {}
    task_type, task_id = task.get("type"), int(task.get("index", 0))
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in raw.get("cluster", {})


def with_data_sharding(dataset):
    """Shard a tf.data pipeline by element across workers: our windows are cut from
    arrays in memory, not read from files, so the default policy (by file) would fall back
    with a warning; DATA has every worker keep a disjoint 1/N of the (same) batches."""
    tf = tensorflow()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


# ------------------------------------------------------- batches across replicas


def kept_windows(batch: int, replicas: int) -> int:
    """How many windows of a batch a run over `replicas` replicas keeps: the largest
    multiple of `replicas`, so that each replica gets an equal, non-empty share (0: the
    batch is dropped)."""
    return batch - batch % replicas if replicas > 1 else batch


def check_batch_size(batch_size: int, replicas: int) -> None:
    """Under several replicas the global batch must be a multiple of their number.

    Keras 3.15's `fit` builds a distributed model from the first batch by averaging
    its per-replica shares (`Trainer._maybe_symbolic_build`), which fails unless all
    shares have the same shape; and a batch smaller than the replica count would
    leave a replica empty (see `even_shards`).
    """
    if replicas > 1 and batch_size % replicas:
        lower = batch_size - batch_size % replicas
        suggestion = f"{lower} or {lower + replicas}" if lower else str(replicas)
        raise UserError(f"--batch-size {batch_size} must be a multiple of the {replicas} "
                        f"replicas, which each get an equal share of a batch; use {suggestion}")


def batches_per_epoch(windows: int, batch_size: int, replicas: int = 1) -> int:
    """Batches in an epoch of `windows` windows once `even_shards` has dropped a last
    batch smaller than the replica count (with one replica: every batch, the last one
    partial)."""
    full, last = divmod(windows, batch_size)
    return full + (1 if last and kept_windows(last, replicas) else 0)


def even_shards(dataset, replicas: int, batches: int | None = None):
    """A batched (inputs, targets) pipeline whose every batch is trimmed to a multiple of
    `replicas` (unchanged with one): an epoch's last batch can be too small to share (over
    2 replicas, 1 window splits [1, 0], and cuDNN rejects a batch of 0), so an epoch loses
    at most replicas - 1 windows, different ones each (shuffled) epoch. `batches`
    (`batches_per_epoch`) is declared as its length, so that Keras knows where a
    validation pass ends."""
    if replicas <= 1:
        return dataset
    tf = tensorflow()

    def trim(inputs, targets):  # (inputs may be a dict: the window and covariates)
        keep = tf.shape(targets)[0] // replicas * replicas
        return tf.nest.map_structure(lambda part: part[:keep], inputs), targets[:keep]

    dataset = dataset.map(trim).filter(lambda inputs, targets: tf.shape(targets)[0] > 0)
    if batches is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset


def predict_in_even_shards(model, x, batch_size: int = 256):
    """`model.predict(x)` in batches that give each of the model's N replicas windows:
    prediction cannot drop windows, so `x` is padded with copies of its last window to a
    multiple of N, predicted in batches of a multiple of N, and the padding cut off."""
    import numpy as np

    strategy = getattr(model, "distribute_strategy", None)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    # `x` may be a dict of the model's inputs (the window, covariates, a series index).
    count = len(next(iter(x.values())) if isinstance(x, dict) else x)
    if replicas <= 1 or count == 0:
        return model.predict(x, batch_size=batch_size, verbose=0)
    batch = -(-batch_size // replicas) * replicas
    padding = -count % replicas
    nest = tensorflow().nest
    padded = nest.map_structure(
        lambda part: np.concatenate([part, np.repeat(part[-1:], padding, axis=0)]), x) \
        if padding else x
    predicted = model.predict(padded, batch_size=batch, verbose=0)
    return nest.map_structure(lambda part: part[:count], predicted)


# ------------------------------------------------------------------------- report


def cudnn_eligibility(layer) -> tuple[bool, str]:
    """(eligible, reason): whether Keras 3 (TensorFlow backend) can run a recurrent layer
    on a GPU's cuDNN kernel (Keras' own LSTM or GRU with the standard cell, several times
    faster than its generic loop), and what breaks eligibility or why it holds. Masks are
    not checked: our forecasters use none.
    """
    tensorflow()
    import keras

    name = type(layer).__name__
    if isinstance(layer, keras.layers.SimpleRNN):
        return False, "SimpleRNN has no cuDNN kernel"
    if not isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        cell = getattr(layer, "cell", None)
        what = f"custom cell {type(cell).__name__}" if cell is not None else name
        return False, f"{what} has no cuDNN kernel (only Keras' own LSTM and GRU cells do)"
    tanh = (keras.activations.tanh, keras.ops.tanh, tensorflow().tanh)
    sigmoid = (keras.activations.sigmoid, keras.ops.sigmoid, tensorflow().sigmoid)
    problems = [problem for broken, problem in (
        (layer.use_cudnn is False, "use_cudnn=False"),
        (layer.activation not in tanh, f"activation {_name(layer.activation)} (cuDNN needs tanh)"),
        (layer.recurrent_activation not in sigmoid,
         f"recurrent activation {_name(layer.recurrent_activation)} (cuDNN needs sigmoid)"),
        (layer.recurrent_dropout, f"recurrent dropout {layer.recurrent_dropout:g} (cuDNN has "
                                  "none; use dropout between layers)"),
        (layer.unroll, "unrolled"),
        (not layer.use_bias, "no bias"),
        (isinstance(layer, keras.layers.GRU) and not layer.reset_after, "reset_after=False"),
    ) if broken]
    if problems:
        return False, "; ".join(problems)
    return True, "standard cell: tanh, sigmoid, no recurrent dropout, not unrolled, with bias"


def _name(function) -> str:
    return getattr(function, "__name__", repr(function))


def devices_in_use(strategy) -> list[str]:
    """The devices the strategy's replicas run on in this process (the default strategy:
    the first visible GPU, else the CPU)."""
    tf = tensorflow()
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has no device list of its own
        gpus = tf.config.list_logical_devices("GPU")
        return [gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name]


def gpu_names(devices: list[str]) -> list[str]:
    """The model names of the GPUs among `devices` (device strings), in order."""
    tf = tensorflow()
    visible = tf.config.get_visible_devices("GPU")  # logical GPU i is visible GPU i
    names = []
    for device in devices:
        spec = tf.DeviceSpec.from_string(device)
        if (spec.device_type or "").upper() != "GPU":
            continue
        index = spec.device_index or 0
        details = (tf.config.experimental.get_device_details(visible[index])
                   if index < len(visible) else {})
        names.append(details.get("device_name", f"GPU:{index}"))
    return names


def run_report(strategy, device: str, policy: str, model, xla: bool,
               threads: int = 0) -> list[str]:
    """Start-of-run lines: the devices the strategy really runs on (`--strategy default`
    on two GPUs uses one), replicas, threads, precision, XLA, cuDNN eligibility."""
    gpus = gpu_names(devices_in_use(strategy))
    if gpus:
        where = f"GPU x{len(gpus)} ({', '.join(gpus)})"
        visible = len(tensorflow().config.list_logical_devices("GPU"))
        if visible > len(gpus):
            where += f" of {visible} visible"
    else:
        intra_op = f"{threads} intra-op thread(s)" if threads else "intra-op: one per core"
        where = f"CPU ({os.cpu_count()} cores, {intra_op}); no GPU used"
        if device == "gpu":
            where += " (though --device gpu: TensorFlow placed no replica on a GPU)"
    # Keras turns XLA off where a layer does not support it (cuDNN LSTM kernels).
    xla_state = "on" if model.jit_compile else (
        "off (requested, but a layer does not support it: cuDNN kernels are not XLA ops)"
        if xla else "off")
    strategy_name = type(strategy).__name__
    if strategy_name == "_DefaultDistributionStrategy":
        strategy_name = "default strategy"
    lines = [f"device: {where}; {strategy_name}, {strategy.num_replicas_in_sync} replica(s) "
             f"in sync; precision {policy}; XLA {xla_state}; "
             f"{model.steps_per_execution} step(s) per execution"]
    recurrent = [layer for layer in model.layers if hasattr(layer, "cell")]
    if any(layer.unroll for layer in recurrent):
        lines.append("recurrence unrolled over the window (faster on CPUs; a GPU run keeps "
                     "the loop rolled for cuDNN, see --unroll)")
    verdicts = [cudnn_eligibility(layer) for layer in recurrent]
    if verdicts and all(ok for ok, _ in verdicts):
        lines.append(f"cuDNN: all {len(recurrent)} recurrent layer(s) eligible"
                     + (" (used on this GPU)" if gpus else
                        " (used when training on a GPU)"))
    else:
        for layer, (ok, reason) in zip(recurrent, verdicts):
            lines.append(f"cuDNN: {layer.name} {'eligible' if ok else 'not eligible'}: {reason}")
    return lines
