"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader (or a crash) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import glob
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from .errors import DiskFull, UserError


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
        with disk_full_as_user_error(target):
            yield tmp_path
            with open(tmp_path, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        _remove_stale_temporaries(target, tmp_path.suffix)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# ------------------------------------------------------------------- a full disk

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, is ENOSPC or EDQUOT.

    Writers wrap the OSError (h5py, zipfile, matplotlib, TensorFlow's file I/O), so the
    whole chain is searched, and by message where the errno was lost on the way.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if (isinstance(error, DiskFull) or getattr(error, "errno", None) in _NO_SPACE
                or "No space left on device" in text or "Disk quota exceeded" in text):
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_message(target: str | os.PathLike) -> str:
    return (f"no space left on the device to write {target}; nothing was written there (an "
            "earlier version is intact): free some space and try again")


@contextlib.contextmanager
def disk_full_as_user_error(target: str | os.PathLike) -> Iterator[None]:
    """Within the block, a write that fails for lack of space becomes a one-line DiskFull
    naming `target`."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:  # noqa: BLE001  (writers raise many types; only ENOSPC is ours)
        if not is_disk_full(error):
            raise
        raise DiskFull(disk_full_message(target)) from None


# ---------------------------------------------------------- one writer at a time

def lock_path(target: str | os.PathLike) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def exclusive(target: str | os.PathLike, what: str = "file") -> Iterator[None]:
    """Be the only process writing `target` for the duration of the block.

    An flock on `.NAME.lock` beside the target: a second writer (another `train --out`
    or `export --out` of the same path, with or without --force) stops at once with a
    one-line error naming the holder's pid; it never waits. The kernel releases the
    lock when its holder dies, however it dies, so a stale lock file blocks no one.
    Take it before the overwrite check and hold it until the final rename, so that the
    check and the rename cannot interleave with another writer's.
    """
    target = Path(target)
    check_parent(target)
    path = lock_path(target)
    created = [parent for parent in [path.parent, *path.parent.parents] if not parent.exists()]
    while True:
        try:
            with disk_full_as_user_error(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as error:  # read-only or not ours: say so on one line
            existing = next((p for p in [path.parent, *path.parent.parents] if p.exists()),
                            path.parent)
            raise UserError(f"cannot write {target}: {error.strerror or error} "
                            f"({error.filename or existing})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UserError(f"{what} {target} is being written by another process"
                            f"{f' (pid {holder})' if holder else ''}; wait for it to finish, "
                            "then pass --force to replace it") from None
        # The previous holder unlinks the file as it releases it: make sure the file
        # locked is still the one at `path`, or another writer could lock a new one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        with contextlib.suppress(OSError):  # the pid is a courtesy for the error message
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # releases the flock
        for folder in created:  # a failed first write leaves no empty folders behind
            with contextlib.suppress(OSError):  # not empty: someone wrote there
                folder.rmdir()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


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


def csv_text(rows: Iterable) -> str:
    """`rows` (lists of cells) as CSV text, lines ending in "\\n"."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def refuse_overwrite(path: str | os.PathLike, force: bool, what: str = "file") -> None:
    """Raise a UserError if `path` exists and `force` is not set, or cannot be created
    because a folder on its way is a file."""
    check_parent(path)
    if Path(path).exists() and not force:
        raise UserError(f"{what} {path} already exists; pass --force to replace it")


def check_parent(path: str | os.PathLike) -> None:
    """Raise a UserError if a folder that `path` needs exists as a file (or is not reachable)."""
    for parent in Path(path).parents:
        if parent.is_dir():
            return
        if parent.exists() or parent.is_symlink():
            raise UserError(f"cannot write {path}: {parent} is a file, not a directory")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
