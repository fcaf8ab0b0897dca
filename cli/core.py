"""Core commands: datasets, train, evaluate."""

from __future__ import annotations

import click


@click.command()
def datasets() -> None:
    """List the built-in datasets (shipped inside the package; no network)."""
    from lstm_tf.data import BUILTIN_DATASETS

    for name, info in BUILTIN_DATASETS.items():
        click.echo(f"{name:12s} {info.description}")


COMMANDS = [datasets]
