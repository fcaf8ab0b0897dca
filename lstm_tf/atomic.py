"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader (or a crash) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .errors import UserError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success.

    For writers that insist on a file name (Keras' `model.save`, matplotlib's
    `savefig`, onnx.save). The suffix defaults to the target's, since some of them
    choose the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp's 0600 would survive the rename
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, target)
        _remove_stale_temporaries(target, tmp_path.suffix)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# A writer killed mid-write (SIGKILL, power loss) leaves its temporary file behind. One
# untouched for this long belongs to no live writer: the next write of the same target
# removes it.
STALE_SECONDS = 3600


def _remove_stale_temporaries(target: Path, suffix: str) -> None:
    now = time.time()
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{glob.escape(suffix)}"):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if leftover.is_file() and now - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def refuse_overwrite(path: str | os.PathLike, force: bool, what: str = "file") -> None:
    """Raise a UserError if `path` exists and `force` is not set."""
    if Path(path).exists() and not force:
        raise UserError(f"{what} {path} already exists; pass --force to replace it")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
