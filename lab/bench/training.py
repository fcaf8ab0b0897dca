"""Training throughput: samples per second of the reference LSTM, and of its input pipeline.

The reference model (the issue's): 2 stacked LSTM layers x 64 units on windows of 48
steps of one feature, horizon 1, global batch 64, Adam, MSE. It is built, compiled and
fed by the code `lstm-tf train` uses (`start_tensorflow`, `build_model`, `compile_model`,
`make_dataset`), under the strategy `train` would pick and with the steps per execution
it would run (one under several replicas), so what is measured here is what training runs.

Two numbers, measured separately so that it is visible which one limits training: the
samples per second of training and of the input pipeline alone, which must stay far
above the training rate (20x or more).

`benchmarks/torch_lstm.py` runs this and an equivalent PyTorch `nn.LSTM` model side by
side, alternating processes, for the comparison in docs/training.md.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from lstm_tf.config import ModelConfig, TrainConfig
from lstm_tf.data import make_dataset, synthetic_sine
from lstm_tf.devices import (batches_per_epoch, even_shards, kept_windows, precision_policy,
                       with_data_sharding)
from lstm_tf.errors import UserError
from lstm_tf.tf_setup import tensorflow

_DEFAULTS = TrainConfig()


@dataclass
class BenchConfig:
    kind: str = "lstm"
    layers: int = 2
    units: int = 64
    window: int = 48
    batch_size: int = 64
    samples: int = 4096  # training windows per epoch: 64 steps of 64
    repeats: int = 5  # timed epochs (and pipeline passes); medians are reported
    steps_per_execution: int = _DEFAULTS.steps_per_execution
    xla: bool = _DEFAULTS.xla
    unroll: bool | None = _DEFAULTS.unroll  # None: as `lstm-tf train` decides
    mixed_precision: bool = False
    device: str = "auto"
    strategy: str = _DEFAULTS.strategy  # "auto": as `lstm-tf train` decides
    cpu_devices: int = _DEFAULTS.cpu_devices  # logical CPU devices (to rehearse mirrored)
    threads: int = _DEFAULTS.threads  # TensorFlow intra-op threads; 0: as `lstm-tf train` decides
    seed: int = 0
    replicas: int = 1  # filled in: the strategy's replicas

    def train_config(self) -> TrainConfig:
        """The `lstm-tf train` settings this benchmark runs with."""
        return TrainConfig(batch_size=self.batch_size, seed=self.seed, device=self.device,
                           strategy=self.strategy, cpu_devices=self.cpu_devices,
                           xla=self.xla, mixed_precision=self.mixed_precision,
                           unroll=self.unroll, threads=self.threads,
                           steps_per_execution=self.steps_per_execution)


def reference_series(config: BenchConfig) -> tuple[np.ndarray, np.ndarray]:
    """A scaled noisy sine long enough for `samples` windows, and the windows' start rows."""
    rows = config.samples + config.window
    values = synthetic_sine(rows, seed=config.seed)
    scaled = ((values - values.mean()) / values.std())[:, None]
    starts = np.arange(config.window, rows, dtype=np.int64)
    return scaled, starts


def run(config: BenchConfig) -> dict:
    """Measure training and input-pipeline throughput; a JSON-ready result."""
    tf, strategy = _start(config)
    scaled, starts = reference_series(config)
    # Both consume the same stream: the warm-up epoch and the timed ones, from one iterator.
    epochs = 1 + config.repeats
    pipeline = measure_pipeline(_dataset(config, scaled, starts, epochs), config.repeats)
    training = measure_training(config, _dataset(config, scaled, starts, epochs), strategy)
    return {
        "config": asdict(config),
        "training_samples_per_second": training["median"],
        "training_runs": training["runs"],
        "pipeline_samples_per_second": pipeline["median"],
        "pipeline_runs": pipeline["runs"],
        "pipeline_to_training": round(pipeline["median"] / training["median"], 1),
        "xla_used": training["xla_used"],
        "device": config.device,
        "strategy": config.strategy,
        "replicas": config.replicas,
        "threads": config.threads or os.cpu_count(),
        "tensorflow": tf.__version__,
        "load_average": os.getloadavg()[0],
    }


def _start(config: BenchConfig):
    """Start TensorFlow as `lstm-tf train` does; record what "auto" resolved to (device,
    strategy, steps per execution, ...). Returns (tf, the strategy to train under)."""
    from lstm_tf.train import start_tensorflow

    train_config = config.train_config()
    strategy, _ = start_tensorflow(train_config, config.window, config.layers)
    config.device, config.unroll = train_config.device, train_config.unroll
    config.threads, config.strategy = train_config.threads, train_config.strategy
    config.replicas = train_config.replicas
    config.steps_per_execution = train_config.steps_per_execution  # 1 under several replicas
    return tensorflow(), strategy


def _dataset(config: BenchConfig, scaled: np.ndarray, starts: np.ndarray, epochs: int):
    """The training stream `lstm-tf train` uses: `epochs` shuffled passes."""
    return with_data_sharding(even_shards(make_dataset(
        scaled, starts, config.window, horizon=1, n_targets=1, batch_size=config.batch_size,
        shuffle=True, seed=config.seed, epochs=range(epochs)), config.replicas))


def measure_training(config: BenchConfig, dataset, strategy=None) -> dict:
    """Samples per second of `repeats` training epochs, after one untimed warm-up epoch,
    under `strategy` (the one `_start` made; None: TensorFlow's default)."""
    import keras
    import tensorflow as tf

    from lstm_tf.models import build_model
    from lstm_tf.train import compile_model

    policy = precision_policy(config.mixed_precision, config.device)
    with (strategy or tf.distribute.get_strategy()).scope():  # as `lstm-tf train` does
        model = build_model(ModelConfig(config.kind, units=config.units, layers=config.layers),
                            features=1, horizon=1, targets=1, dtype_policy=policy,
                            unroll_window=config.window if config.unroll else None)
        compile_model(model, config.train_config(), policy)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # logs are fetched: the epoch is done
            self.seconds.append(time.perf_counter() - self.started)

    timer = EpochTimer()
    from lstm_tf.train import largest_divisor

    steps = batches_per_epoch(config.samples, config.batch_size, config.replicas)
    if largest_divisor(steps, config.steps_per_execution) != config.steps_per_execution:
        raise UserError(f"--steps-per-execution {config.steps_per_execution} must divide the "
                        f"{steps} steps of an epoch (--samples / --batch-size)")
    model.fit(dataset, epochs=1 + config.repeats, steps_per_epoch=steps, callbacks=[timer],
              verbose=0, shuffle=False)
    full, last = divmod(config.samples, config.batch_size)
    trained = full * config.batch_size + kept_windows(last, config.replicas)  # even_shards
    runs = [round(trained / seconds, 1) for seconds in timer.seconds[1:]]
    return {"median": round(statistics.median(runs), 1), "runs": runs,
            "xla_used": bool(model.jit_compile)}


def measure_pipeline(dataset, repeats: int) -> dict:
    """Samples per second the tf.data pipeline delivers, consumed in a graph like Keras'."""
    import tensorflow as tf

    @tf.function
    def consume():
        return dataset.reduce(tf.constant(0, tf.int64),
                              lambda count, batch: count + tf.shape(batch[0], tf.int64)[0])

    consume()  # trace
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        samples = int(consume())
        runs.append(round(samples / (time.perf_counter() - started), 1))
    return {"median": round(statistics.median(runs), 1), "runs": runs}


def format_report(result: dict) -> str:
    config = result["config"]
    lines = [
        f"reference model: {config['layers']} x {config['units']} {config['kind']} units, "
        f"window {config['window']}, batch {config['batch_size']}, {config['samples']} "
        f"samples/epoch; steps_per_execution {config['steps_per_execution']}, "
        f"{'unrolled' if config['unroll'] else 'rolled loop'}, "
        f"XLA {'on' if result['xla_used'] else 'off'}, {result['device'].upper()}, "
        f"{result.get('strategy', 'default')} strategy x{result.get('replicas', 1)} replica(s), "
        f"{result['threads']} intra-op thread(s), TensorFlow {result['tensorflow']}",
        f"training:       {result['training_samples_per_second']:>10,.0f} samples/s "
        f"(median of {len(result['training_runs'])} epochs)",
        f"input pipeline: {result['pipeline_samples_per_second']:>10,.0f} samples/s "
        f"({result['pipeline_to_training']:,.0f}x the training rate: "
        + ("not the bottleneck)" if result["pipeline_to_training"] >= 20
           else "TOO CLOSE to the training rate)"),
        f"load average at the end: {result['load_average']:.2f} "
        f"(the machine may be shared; compare figures measured side by side)",
    ]
    return "\n".join(lines)
