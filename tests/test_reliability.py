"""Concurrent writers, a full disk, an interrupted export, TensorFlow's start-up noise
and the forecast figure's time axis (issue 16).

Where processes are what is tested (concurrent writers, signals, start-up output) they
are real (`python -m lstm_tf_cli`), and every wait is on an event (a line printed, a process
ending), never on the clock; the rest runs the CLI in this process.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import copy_run, ctrl_c_works, fill, run, small_tmpfs

TINY = ["--window", "6", "--units", "4", "--epochs", "2", "--batch-size", "16", "-q"]
HANG = 1800  # only turns a hang into a failure; no performance limit


def cli(*args, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **popen.pop("env", {})}
    return subprocess.Popen([sys.executable, "-m", "lstm_tf_cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=ctrl_c_works, **popen)


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="module")
def sine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reliability") / "sine.csv"
    t = np.arange(120)
    path.write_text("step,value\n" + "".join(
        f"{i},{np.sin(2 * np.pi * i / 12) + 0.1 * np.cos(i):.6f}\n" for i in t))
    return path


@pytest.fixture(scope="module")
def trained(tiny_sine_run) -> Path:
    """A tiny run (sine, TINY) that the tests export but never write into (tests/conftest.py)."""
    return tiny_sine_run[1]


# ------------------------------------------------------------- concurrent writers

def test_two_trains_into_one_run_directory_one_wins(sine, tmp_path):
    out = tmp_path / "runs" / "same"
    seeds = (1, 2)
    processes = [cli("train", "--data", sine, "--out", out, "--seed", seed, *TINY)
                 for seed in seeds]
    results = [(p.returncode, *outputs) for p, outputs in
               [(p, p.communicate(timeout=HANG)) for p in processes]]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = next(seed for seed, (code, _, _) in zip(seeds, results) if code == 0)
    _, _, loser_err = next(r for r in results if r[0] == 1)
    message = one_line_error(loser_err)
    assert (f"run directory {out} is being written by another process" in message
            or f"run directory {out} already exists" in message), message
    # The run is the winner's, whole: its files, its seed, and nothing else beside it.
    assert {p.name for p in out.iterdir()} == {
        "model.keras", "config.json", "history.csv", "metrics.json", "loss.png", "forecast.png"}
    assert json.loads((out / "config.json").read_text())["train"]["seed"] == winner
    assert [p.name for p in out.parent.iterdir()] == ["same"]


def test_a_train_stops_at_once_while_another_process_writes_the_run(sine, tmp_path):
    from lstm_tf.atomic import exclusive

    out = tmp_path / "run"
    with exclusive(out, "run directory"):  # this pytest process is the other writer
        for extra in ([], ["--force"]):
            process = cli("train", "--data", sine, "--out", out, *TINY, *extra)
            _, stderr = process.communicate(timeout=HANG)
            assert process.returncode == 1
            assert one_line_error(stderr) == (
                f"Error: run directory {out} is being written by another process "
                f"(pid {os.getpid()}); wait for it to finish, then pass --force to replace it")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the lock file left with its holder


def test_two_exports_to_one_file_one_wins(trained, tmp_path):
    import onnx

    out = tmp_path / "model.onnx"
    processes = [cli("export", trained, "--out", out) for _ in range(2)]
    results = [(p.returncode, *outputs) for p, outputs in
               [(p, p.communicate(timeout=HANG)) for p in processes]]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    message = one_line_error(next(err for code, _, err in results if code == 1))
    assert (f"model {out} is being written by another process" in message
            or f"model {out} already exists" in message), message
    onnx.checker.check_model(onnx.load(out), full_check=True)
    assert json.loads((tmp_path / "model.parity.json").read_text())["window"]["passed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.parity.json"]


def test_a_lock_left_by_a_dead_writer_blocks_no_one(trained, tmp_path):
    from lstm_tf.atomic import lock_path

    out = tmp_path / "forecast.onnx"
    lock_path(out).write_text("999999\n")  # a writer killed with SIGKILL leaves its file
    result = run("export", trained, "--out", out, "--no-check")
    assert result.exit_code == 0, result.output
    assert out.is_file() and not lock_path(out).exists()


# --------------------------------------------------------- SIGTERM/SIGINT in export

@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    """A folder with `lstm-tf export TRAINED` (model.onnx and its parity report)."""
    folder = tmp_path_factory.mktemp("exported")
    result = run("export", trained, "--out", folder / "model.onnx")
    assert result.exit_code == 0, result.output
    return folder


# A TensorFlow start-up costs a process ~5 s of CPU, so each process of this section is
# used twice: it is started without TF_CPP_MIN_LOG_LEVEL and first shows how TensorFlow
# starts under the CLI (SIGTERM's: Keras imports it first; SIGINT's: `lstm-tf experiment`
# does), the tests of TensorFlow's noise below, then runs the interrupted export.
FIRST_IMPORT = {
    signal.SIGTERM: "import lstm_tf_cli.main\n"
                    "import keras, tensorflow as tf; print(tf.__version__)\n",
    signal.SIGINT: "from lstm_tf_cli.main import cli\n"
                   "cli(['experiment', 'gradients', '--quick', '--length', '5', '--seeds', '1',"
                   " '--train-steps', '2', '--probe-size', '8', '--out', {g!r}],"
                   " prog_name='lstm-tf', standalone_mode=False)\n"}
EXPORT_MARK = "@@ export"  # on stdout and stderr between the start-up part and the export


@pytest.fixture(scope="module")
def interrupted_exports(trained, exported, tmp_path_factory) -> dict:
    """signum -> (folder, digest of the folder before, exit code, {"start-up": (stdout,
    stderr), "export": (stdout, stderr)}): `lstm-tf export --force` over the earlier
    export in the folder, interrupted by `signum` during its parity check, in a new process
    whose start-up part (FIRST_IMPORT) ran first; its output split at EXPORT_MARK."""
    made = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        folder = tmp_path_factory.mktemp(f"interrupted-{signum.name}")
        out = folder / "model.onnx"
        for name in ("model.onnx", "model.parity.json"):  # the earlier export, one per module
            shutil.copy(exported / name, folder / name)
        assert sorted(p.name for p in folder.iterdir()) == ["model.onnx", "model.parity.json"]
        before = digest(folder)
        # A real `lstm-tf export --force` process whose parity check sends the signal to
        # its own process as it starts: delivered inside the check on any machine, loaded
        # or not (a signal sent from here on seeing the "checking parity" line could land
        # after it).
        start_up = FIRST_IMPORT[signum].format(g=str(tmp_path_factory.mktemp("g") / "g"))
        code = (start_up + "import sys\n"
                f"print({EXPORT_MARK!r}, flush=True)\n"
                f"print({EXPORT_MARK!r}, file=sys.stderr, flush=True)\n"
                "import os\nfrom lstm_tf import parity\n"
                "real = parity.check_window_model\n"
                "def check(*args, **kwargs):\n"
                f"    os.kill(os.getpid(), {int(signum)})\n"
                "    return real(*args, **kwargs)\n"
                "parity.check_window_model = check\n"
                "from lstm_tf_cli.main import cli\n"
                f"cli(['export', {str(trained)!r}, '--out', {str(out)!r}, '--force'],"
                " prog_name='lstm-tf')\n")
        env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=HANG, preexec_fn=ctrl_c_works)
        assert EXPORT_MARK in done.stdout and EXPORT_MARK in done.stderr, \
            done.stdout + done.stderr[-3000:]  # the start-up part ended without an error
        stdout, stderr = (text.split(EXPORT_MARK + "\n", 1) for text in (done.stdout,
                                                                          done.stderr))
        parts = {"start-up": (stdout[0], stderr[0]), "export": (stdout[1], stderr[1])}
        made[signum] = folder, before, done.returncode, parts
    return made


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_export_interrupted_during_parity_check_writes_nothing(interrupted_exports, signum):
    folder, before, returncode, parts = interrupted_exports[signum]
    stdout, stderr = parts["export"]
    out = folder / "model.onnx"
    assert returncode == 130, stderr
    assert stdout.splitlines()[-1].startswith("checking parity against the Keras model")
    assert one_line_error(stderr) == (f"Error: export interrupted; nothing was written to "
                                      f"{out} (an earlier model there is intact)")
    assert digest(folder) == before  # the earlier model and report, and nothing else


# ------------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, mounted for the test (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root and runs this test)")
    with small_tmpfs(tmp_path / "disk") as mount:
        yield mount


def test_full_disk_stops_train_export_and_predict_with_one_line_errors(sine, small_disk):
    run_dir, model, forecast = small_disk / "run", small_disk / "model.onnx", small_disk / "f.csv"
    for args in (["train", "--data", sine, "--out", run_dir, *TINY],
                 ["export", run_dir, "--out", model],
                 ["predict", model, "--data", sine, "--out", forecast]):
        result = run(*args)
        assert result.exit_code == 0, result.output
    before = digest(small_disk)
    fill(small_disk, leave=8192)  # room to start writing, not to finish
    for target, args in (
            (run_dir, ["train", "--data", sine, "--out", run_dir, "--force", *TINY]),
            (model, ["export", run_dir, "--out", model, "--force"]),
            (forecast, ["predict", model, "--data", sine, "--out", forecast, "--force",
                        "--steps", "2000"])):
        # In this process (CliRunner keeps stderr apart): the disk, not the process, is
        # what is tested, and three more TensorFlow start-ups cost ~15 s of CPU.
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert one_line_error(result.stderr) == (
            f"Error: no space left on the device to write {target}; nothing was written there "
            "(an earlier version is intact): free some space and try again"), args[0]
        after = digest(small_disk)
        after.pop("filler")
        assert after == before, f"{args[0]} changed or left files on the full disk"


def test_disk_full_is_recognised_through_wrapping_errors():
    from lstm_tf.atomic import is_disk_full

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("h5py could not write") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full(OSError("Unable to write file (errno = 28, error message = 'No space "
                                "left on device')"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("bad value"))


# ------------------------------------------------------------ TensorFlow's noise

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cuda drivers", "cpu_feature_guard")


def test_experiment_keeps_tensorflow_start_up_lines_off_the_terminal(interrupted_exports):
    # `lstm-tf experiment gradients` started the process (FIRST_IMPORT) and ended without
    # an error (the fixture asserts it: EXPORT_MARK printed after it).
    stdout, stderr = interrupted_exports[signal.SIGINT][3]["start-up"]
    assert "wrote" in stdout
    for noise in NOISE:
        assert noise not in stderr and noise not in stdout, stderr


def test_any_first_import_of_tensorflow_under_the_cli_is_quiet(interrupted_exports):
    """Keras importing TensorFlow (not our `tensorflow()`) is silenced too."""
    # The process imported lstm_tf_cli.main, then Keras and TensorFlow (FIRST_IMPORT),
    # without an error (the fixture asserts it: EXPORT_MARK printed after it).
    stdout, stderr = interrupted_exports[signal.SIGTERM][3]["start-up"]
    assert stdout.strip()[:1].isdigit()
    assert stderr == "", stderr


# ------------------------------------------------------- the forecast's time axis

def captured_figure(monkeypatch, tmp_path, plot):
    from lstm_tf import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: drawn.append(figure))
    figures.plot_forecast(plot, tmp_path / "forecast.png")
    return drawn[0].axes[0]


def test_forecast_figure_uses_the_time_column(monkeypatch, tmp_path):
    from lstm_tf import data
    from lstm_tf.figures import forecast_times

    series = data.parse_csv("month,value\n" + "".join(
        f"2020-{m:02d},{m}\n" for m in range(1, 13)), "t.csv", ["value"], None, "month")
    times = forecast_times(series, np.array([9, 10, 11]))
    assert times["time_column"] == "month"
    assert list(times["time"]) == [np.datetime64("2020-10"), np.datetime64("2020-11"),
                                   np.datetime64("2020-12")]
    actual = np.array([10.0, 11.0, 12.0])[:, None, None]
    plot = {"forecast": actual + 0.5, "actual": actual, "targets": ["value"], **times}
    axis = captured_figure(monkeypatch, tmp_path, plot)
    assert axis.get_xlabel() == "month (forecast step 1)"
    x = axis.lines[0].get_xdata()
    assert np.asarray(x, dtype="datetime64[M]").tolist() == list(times["time"].tolist())

    numeric = data.parse_csv("year,value\n1990,1\n1991,2\n1992,3\n", "y.csv", ["value"], None,
                             "year")
    plot = {**plot, **forecast_times(numeric, np.array([0, 1, 2]))}
    axis = captured_figure(monkeypatch, tmp_path, plot)
    assert axis.get_xlabel() == "year (forecast step 1)"
    assert list(axis.lines[1].get_xdata()) == [1990.0, 1991.0, 1992.0]

    without = {"forecast": plot["forecast"], "actual": actual, "targets": ["value"]}
    axis = captured_figure(monkeypatch, tmp_path, without)
    assert axis.get_xlabel() == "test window" and list(axis.lines[0].get_xdata()) == [1, 2, 3]


def test_read_only_folder_is_a_one_line_error(trained, sine, small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for args, target in ((["train", "--data", sine, *TINY], small_disk / "run"),
                         (["export", trained, "--no-check"], small_disk / "m.onnx")):
        result = run(*args, "--out", target)
        assert result.exit_code == 1
        assert result.output.strip() == (f"Error: cannot write {target}: Read-only file system "
                                         f"({lock_path_of(target)})"), result.output


def lock_path_of(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def test_disk_full_while_the_run_is_assembled_leaves_the_earlier_run(sine, trained, tmp_path,
                                                                     monkeypatch):
    """The last file of the staging folder fails (ENOSPC): no staging, no state, old run."""
    from lstm_tf import figures

    out = copy_run(trained, tmp_path / "run")  # the earlier run: the session's, copied
    before = digest(tmp_path)

    def full(plot, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(figures, "plot_forecast", full)
    result = run("train", "--data", sine, "--out", out, "--force", "--seed", "9", *TINY)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: no space left on the device to write {out}; nothing was written there (an "
        "earlier version is intact): free some space and try again")
    assert digest(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
