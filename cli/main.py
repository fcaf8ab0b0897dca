"""`lstm-tf`: the command group.

Commands live one per module and import the library (and so TensorFlow) inside
their bodies, so `lstm-tf --help` and every `--help` stay fast.
"""

from __future__ import annotations

import click

from lstm_tf import __version__
from lstm_tf.errors import UserError
from lstm_tf.tf_setup import quiet_tensorflow_imports

quiet_tensorflow_imports()  # whichever command imports TensorFlow, it starts up quietly


class Group(click.Group):
    """A click group that turns the library's UserError into a one-line `Error: ...`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            exception = click.ClickException(" ".join(str(error).split()))
            exception.exit_code = getattr(error, "exit_code", 1)  # 130 for an interruption
            raise exception from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lstm-tf")
def cli() -> None:
    """Train SimpleRNN/LSTM forecasters on a time series and export them to ONNX."""


def _register() -> None:
    # One module per area; each exposes COMMANDS. Add a new area here.
    from . import backtest, bench_train, core, demo, experiment, inspect, onnx, runtimes, tune

    for module in (core, backtest, tune, onnx, runtimes, inspect, experiment, bench_train,
                   demo):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
