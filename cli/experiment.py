"""`lstm-tf experiment`: reproduce the tutorial's claims (gradients, long-term memory).

The library (and TensorFlow) is imported inside the command bodies, so `--help`
stays fast.
"""

from __future__ import annotations

import time

import click


class IntList(click.ParamType):
    """Comma-separated integers, each at least `min`: `10,50,100`."""

    name = "N,N,..."

    def __init__(self, min: int) -> None:
        self.min = min

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(int(part) for part in str(value).split(",") if part.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if not numbers:
            self.fail("give at least one value", param, ctx)
        small = [n for n in numbers if n < self.min]
        if small:
            self.fail(f"each value must be >= {self.min}, got {small[0]}", param, ctx)
        if len(set(numbers)) != len(numbers):
            self.fail(f"values repeat in {value!r}", param, ctx)
        return numbers


POSITIVE = click.FloatRange(min=0, min_open=True)


def _common_options(function):
    """Options both experiments share; None means 'the (quick) default'."""
    options = [
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Output directory [default: runs/experiments/<name>]."),
        click.option("--force", is_flag=True, help="Replace existing outputs."),
        click.option("--quick", is_flag=True, help="Smaller settings that finish in about a minute."),
        click.option("--seed", type=click.IntRange(min=0), default=None,
                     help="Seed of weights and data [default: 0]."),
        click.option("--units", type=click.IntRange(min=1), default=None,
                     help="Recurrent units of every model [default: 32]."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Training batch size [default: 32]."),
        click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default=None,
                     help="Optimiser of every training run [default: adam]."),
        click.option("--learning-rate", type=POSITIVE, default=None,
                     help="Learning rate [default: 0.01]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group()
def experiment() -> None:
    """Reproduce the tutorial's claims: vanishing/exploding gradients, long-term memory.

    Both experiments use the adding problem (two marked values in a long random
    sequence; predict their sum). Results go to CSV, PNG and config.json files.
    """


@experiment.command()
@click.option("--length", type=click.IntRange(min=2), default=None,
              help="Sequence length T [default: 100].")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Number of seeds, from --seed on [default: 3; --quick: 1].")
@click.option("--train-steps", type=click.IntRange(min=1), default=None,
              help="Steps of the training run [default: 3000; --quick: 200].")
@click.option("--probe-size", type=click.IntRange(min=1), default=None,
              help="Sequences the gradient norm is averaged over [default: 256].")
@click.option("--forget-bias", type=float, default=None,
              help="Also run an LSTM whose forget-gate bias is set to this value "
                   "[default: 3]. Keras' own default is 1; pass 1 to leave the variant out.")
@click.option("--recurrent-scale", type=POSITIVE, default=None,
              help="Exploding case: also run a SimpleRNN whose recurrent kernel is "
                   "multiplied by this, trained with and without --clipnorm.")
@click.option("--clipnorm", type=POSITIVE, default=None,
              help="Gradient clipping of the exploding case's second run [default: 1].")
@_common_options
def gradients(length, seeds, train_steps, probe_size, forget_bias, recurrent_scale, clipnorm,
              out, force, quick, seed, units, batch_size, optimizer, learning_rate) -> None:
    """Gradient of the prediction with respect to each input step: SimpleRNN vs LSTM.

    Measures ||d y_hat / d x_t|| for every t at initialisation and after training
    on the adding problem, and prints |dy/dx_1| / |dy/dx_T| per model and the
    LSTMs' forget gates. Writes gradients.csv, summary.csv, training.csv,
    gradients.png (and clipnorm.png with --recurrent-scale) and config.json.
    """
    from lstm_tf_lab.experiments import adding as ex

    config = ex.gradient_config(
        quick=quick, length=length, seeds=seeds, train_steps=train_steps, probe_size=probe_size,
        forget_bias=forget_bias, recurrent_scale=recurrent_scale, clipnorm=clipnorm, seed=seed,
        units=units, batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate)
    out = out or "runs/experiments/gradients"
    ex.check_outputs_free(out, ex.GRADIENT_FILES, force)
    started = time.perf_counter()
    result = ex.run_gradients(config, progress=_progress)
    written = ex.write_gradient_outputs(result, out, force=force)
    click.echo(ex.gradient_table(result))
    _report(written, started)


@experiment.command()
@click.option("--lengths", type=IntList(min=2), default=None,
              help="Comma-separated sequence lengths, each >= 2 [default: 10,50,100,200; "
                   "--quick: 10,50].")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps per model and length [default: 3000; --quick: 1000].")
@click.option("--eval-every", type=click.IntRange(min=1), default=None,
              help="Steps between test-set evaluations [default: 50].")
@click.option("--test-size", type=click.IntRange(min=1), default=None,
              help="Test sequences per length [default: 1000; --quick: 500].")
@click.option("--target-mse", type=POSITIVE, default=None,
              help="Report the first step with test MSE below this [default: 0.01].")
@click.option("--forget-bias", type=float, default=None,
              help="Set the LSTM's forget-gate bias to this [default: Keras' own, 1].")
@_common_options
def memory(lengths, steps, eval_every, test_size, target_mse, forget_bias, out, force, quick,
           seed, units, batch_size, optimizer, learning_rate) -> None:
    """Adding problem: SimpleRNN vs LSTM with the same budget, per sequence length.

    Prints and writes (memory.csv, curves.csv, memory.png, config.json) the final
    test MSE of each model and of always predicting the mean (~0.167), and the
    first step with test MSE below --target-mse.
    """
    from lstm_tf_lab.experiments import adding as ex

    config = ex.memory_config(
        quick=quick, lengths=lengths, steps=steps, eval_every=eval_every, test_size=test_size,
        target_mse=target_mse, lstm_forget_bias=forget_bias, seed=seed, units=units,
        batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate)
    out = out or "runs/experiments/memory"
    ex.check_outputs_free(out, ex.MEMORY_FILES, force)
    started = time.perf_counter()
    result = ex.run_memory(config, progress=_progress)
    written = ex.write_memory_outputs(result, out, force=force)
    click.echo(ex.memory_table(result))
    _report(written, started)


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _report(written, started: float) -> None:
    click.echo(f"wrote {', '.join(str(p) for p in written)} "
               f"({time.perf_counter() - started:.0f} s)")


COMMANDS = [experiment]
