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
