"""Training throughput: `lstm-tf bench-train` (`lstm-tf bench --train` runs it with its defaults)."""

from __future__ import annotations

import json

import click

positive = click.IntRange(min=1)


@click.command("bench-train")
@click.option("--model", "kind", type=click.Choice(["lstm", "rnn"]), default="lstm",
              show_default=True)
@click.option("--layers", type=positive, default=2, show_default=True)
@click.option("--units", type=positive, default=64, show_default=True)
@click.option("--window", type=positive, default=48, show_default=True)
@click.option("--batch-size", type=positive, default=64, show_default=True)
@click.option("--samples", type=positive, default=4096, show_default=True,
              help="Training windows per epoch.")
@click.option("--repeats", type=positive, default=5, show_default=True,
              help="Timed epochs (after one warm-up epoch); the median is reported.")
@click.option("--steps-per-execution", type=positive, default=None,
              help="Default: lstm-tf train's.")
@click.option("--xla/--no-xla", default=None, help="Default: lstm-tf train's.")
@click.option("--unroll/--no-unroll", default=None, help="Default: lstm-tf train's.")
@click.option("--mixed-precision", is_flag=True,
              help="mixed_float16 on a GPU, mixed_bfloat16 on a CPU.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True)
@click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
              default="auto", show_default=True,
              help="tf.distribute strategy; auto: the one lstm-tf train picks.")
@click.option("--cpu-devices", type=positive, default=1, show_default=True,
              help="Split the CPU into this many logical devices (to rehearse --strategy "
              "mirrored without GPUs).")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="TensorFlow intra-op threads; 0: lstm-tf train's default.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench_train(kind, layers, units, window, batch_size, samples, repeats, steps_per_execution,
                xla, unroll, mixed_precision, device, strategy, cpu_devices, threads,
                as_json) -> None:
    """Training samples/s of the reference LSTM (2 x 64 units, window 48, batch 64), and the
    input pipeline's samples/s measured separately (it must be >= 20x the training rate).

    For the side-by-side comparison with PyTorch, see benchmarks/torch_lstm.py.
    """
    from lstm_tf_lab.bench.training import BenchConfig, format_report, run

    config = BenchConfig(kind=kind, layers=layers, units=units, window=window,
                         batch_size=batch_size, samples=samples, repeats=repeats,
                         mixed_precision=mixed_precision, device=device, strategy=strategy,
                         cpu_devices=cpu_devices, threads=threads, unroll=unroll)
    if steps_per_execution is not None:
        config.steps_per_execution = steps_per_execution
    if xla is not None:
        config.xla = xla
    result = run(config)
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


COMMANDS = [bench_train]
