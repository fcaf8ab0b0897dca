"""Nothing half-written: every artefact is written to a temporary file and renamed into place."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lstm_tf import atomic
from lstm_tf.errors import UserError


def test_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old model")
    with pytest.raises(OSError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half of a new mod")
            raise OSError("disk full")
    assert target.read_bytes() == b"old model"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_successful_write_replaces_with_readable_permissions(tmp_path):
    target = tmp_path / "metrics.json"
    atomic.write_json(target, {"mae": 0.5})
    assert target.read_text() == '{\n  "mae": 0.5\n}\n'
    assert target.stat().st_mode & 0o044  # not mkstemp's private 0600


def test_refuse_overwrite(tmp_path):
    target = tmp_path / "x.onnx"
    atomic.refuse_overwrite(target, force=False)  # absent: fine
    target.write_text("x")
    with pytest.raises(UserError, match="x.onnx already exists; pass --force"):
        atomic.refuse_overwrite(target, force=False)
    atomic.refuse_overwrite(target, force=True)


WRITER = """
import sys
from lstm_tf.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as handle:
        while True:  # a never-ending write, killed from outside
            handle.write(b"n" * 65536)
            handle.flush()
"""


@pytest.mark.parametrize("existing", [b"complete old file", None])
def test_killed_writer_leaves_the_old_file_or_none(tmp_path, existing):
    target = tmp_path / "model.keras"
    if existing:
        target.write_bytes(existing)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".model.keras.") and p.stat().st_size > 1 << 20
                  for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and writer.poll() is None
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    if existing:
        assert target.read_bytes() == existing
    else:
        assert not target.exists()


def test_the_next_write_removes_a_killed_writers_stale_temporary(tmp_path):
    import json

    target = tmp_path / "metrics.json"
    stale = tmp_path / ".metrics.json.k1ll3d.json"  # what atomic_path names its temporaries
    fresh = tmp_path / ".metrics.json.wr1t1ng.json"  # a live writer's: too young to touch
    other = tmp_path / ".config.json.0ld.json"  # another target's
    for path in (stale, fresh, other):
        path.write_text("{")
    old = time.time() - atomic.STALE_SECONDS - 60
    for path in (stale, other):
        os.utime(path, (old, old))
    atomic.write_json(target, {"mae": 0.4})
    assert json.loads(target.read_text()) == {"mae": 0.4}
    assert not stale.exists() and fresh.exists() and other.exists()
