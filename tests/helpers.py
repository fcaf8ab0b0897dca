"""Shared by the test modules (pytest puts this folder on sys.path)."""

import contextlib
import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from lstm_tf_cli.main import cli


def ctrl_c_works():
    """`preexec_fn` for a child that a test stops with SIGINT: a shell's background job
    (`.ci/run &`) starts with SIGINT ignored and its children inherit that, so the child's
    Ctrl-C would never arrive; a terminal's Ctrl-C is SIGINT's default, restored here."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def copy_run(run: Path, to: Path) -> Path:
    """A copy at `to` of a run shared by the session (tests/conftest.py), for a test that
    writes into the run's folder; the shared run stays as trained."""
    import shutil

    return Path(shutil.copytree(run, to))


def run(*args):
    """`lstm-tf ARGS...` in this process; arguments may be paths or numbers."""
    return CliRunner().invoke(cli, [str(a) for a in args])


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str = "2m"):
    """A tmpfs of `size` mounted at `mount` for the block (needs root; CI runs as root)."""
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` with one file until no more than `leave` bytes are free."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


# `python -c` code run as `lstm-tf ARGS...` whose training sends itself `signum` once
# epoch `after` has ended: keras.Model.fit gets one more callback, last in the list, so the
# run's own callbacks (the backup, the progress record) have saved that epoch first. The
# patch is applied when Keras is first imported (not before: Keras stays unimported until
# the command imports it, as in a plain run); the library itself has no test hook.
_SIGNAL_AFTER_EPOCH = """
import importlib.abc, importlib.machinery, os, sys

AFTER, SIGNUM = {after}, {signum}


def patch(keras):
    class SignalAfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == AFTER:
                os.kill(os.getpid(), SIGNUM)

    fit = keras.Model.fit

    def fit_then_signal(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), SignalAfterEpoch()], **kwargs)

    keras.Model.fit = fit_then_signal


class PatchKerasOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            sys.meta_path.remove(self)
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_then_patch
        return spec


sys.meta_path.insert(0, PatchKerasOnImport())
from lstm_tf_cli.main import cli
cli(prog_name="lstm-tf")
"""


RUN_MARK = "@@ run "  # `cli_signalled_runs`: before each run's output, with its signal
EXIT_MARK = "@@ exit status "  # and after it, with its exit status


def cli_signalled_runs(after: int, runs) -> list[str]:
    """The command line of one new process that runs `lstm-tf ARGS` once per (signum,
    ARGS) of `runs`, in turn, each run sending itself its signal (SIGINT: Ctrl-C; SIGTERM)
    right after training epoch `after`: an interruption at a known epoch, instead of a
    signal from outside racing the run; one TensorFlow start-up for them all. Before each
    run's output a line RUN_MARK + its signal's number, after it EXIT_MARK + the exit
    status it ended with."""
    import sys

    code = _SIGNAL_AFTER_EPOCH.format(after=after, signum=0).replace(
        'cli(prog_name="lstm-tf")\n', "")
    for signum, args in runs:
        code += (f"SIGNUM = {int(signum)}\n"  # what the callback sends, read as it fires
                 f"print({RUN_MARK!r} + '{int(signum)}', flush=True)\n"
                 f"try:\n    cli({[str(a) for a in args]!r}, prog_name='lstm-tf')\n"
                 f"except SystemExit as stop:\n"
                 f"    print({EXIT_MARK!r} + str(stop.code), flush=True)\n")
    return [sys.executable, "-u", "-c", code]


@contextlib.contextmanager
def interrupted_after_epoch(after: int):
    """Within the block, `lstm-tf train` in this process stops right after training epoch
    `after` as a signal would stop it: a KeyboardInterrupt raised during fit, which is what
    Ctrl-C raises and what SIGTERM's handler raises there
    (`progress.interrupts_as_keyboard_interrupt`). The callback is last, so that the run's
    own callbacks have saved that epoch first, as with `cli_signalled_runs` (which
    sends the signals themselves, to a process of their own)."""
    import keras

    class InterruptAfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == after:
                raise KeyboardInterrupt

    fit = keras.Model.fit

    def fit_then_interrupt(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), InterruptAfterEpoch()], **kwargs)

    keras.Model.fit = fit_then_interrupt
    try:
        yield
    finally:
        keras.Model.fit = fit
