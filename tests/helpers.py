"""Shared by the test modules (pytest puts this folder on sys.path)."""

from click.testing import CliRunner

from lstm_tf_cli.main import cli


def run(*args):
    """`lstm-tf ARGS...` in this process; arguments may be paths or numbers."""
    return CliRunner().invoke(cli, [str(a) for a in args])
