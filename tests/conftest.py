import contextlib
import fcntl
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite tests CPU behaviour: the same numbers for a seed, in-process runs that choose
# --device cpu (TensorFlow allows that only before it starts), the CPU split into logical
# devices for the mirrored runs. On a machine with a GPU TensorFlow would start on it, so
# the GPUs are hidden from this process and from the subprocesses the tests start. The
# GPU-only branches are tested by making Keras believe a GPU is visible (test_onnx_convert,
# test_distribute, test_experiments, test_export), and on a real GPU by scripts/gpu_check.sh.
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np
import pytest


# The slowest files (CPU seconds per file in one process, measured 2026-12-06 with the
# session's later savings; test_gate_page's Chromium estimated from wall time), longest
# first, run before the others. Each file runs whole on one xdist worker (--dist
# loadfile, --no-loadscope-reorder in pyproject.toml) in the order collected: starting
# with the longest ones leaves the short files to even out the two workers' ends (xdist's
# own order, most tests first, left a worker alone on test_resume for a minute).
SLOWEST_FIRST = ["test_reliability.py", "test_distribute.py", "test_tune.py",
                 "test_runtimes.py", "test_accuracy.py", "test_ensemble.py",
                 "test_gate_page.py", "test_export.py", "test_embed.py", "test_resume.py",
                 "test_training_defaults.py", "test_experiments.py", "test_panel_train.py",
                 "test_series_anchors.py",
                 "test_bad_input.py", "test_inspect.py", "test_backtest.py",
                 "test_onnx_convert.py", "test_quantiles.py", "test_core_cli.py",
                 "test_cells.py", "test_covariates.py", "test_floor_blend.py",
                 "test_bench_train.py", "test_split.py", "test_bench.py",
                 "test_metrics_by_hand.py", "test_short_series.py"]


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


@pytest.fixture
def csv_file(tmp_path):
    """Write CSV text to a file and return its path."""
    def write(text: str, name: str = "series.csv"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


@pytest.fixture
def sine_csv(tmp_path):
    """A small real-valued univariate series with a time column (120 rows)."""
    t = np.arange(120)
    values = np.sin(2 * np.pi * t / 12) + 0.1 * np.cos(t)
    path = tmp_path / "sine.csv"
    path.write_text("step,value\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(t, values)))
    return path


# ------------------------------------------------------------ trained runs, shared
#
# Training is most of the suite's time, so runs that several modules read are trained once
# per session (on first use) and shared. They are read-only: a test that writes into a run
# folder (inspect's output, a backtest, a resumed state) copies it first
# (helpers.copy_run). Under pytest-xdist (`-n 2` in pyproject.toml) the workers share them
# too: the first worker to need a run trains it in a folder of the session that every
# worker sees, under a file lock; the others wait for it and read it.

# 120 rows of sine with a time column, trained small: the run that tests only read
# (test_core_cli, test_reliability).
TINY_SINE = ["--window", "6", "--units", "4", "--epochs", "2", "--batch-size", "16", "-q"]

# The built-in sine data in 2 layers of 6 units, window 8, one epoch, seed 3, for the
# model kinds that export, inspect and runtimes check: lstm and rnn without an anchor (so
# that they have step models), lstm and gated with the default anchor (trained from the
# same config but the kind: test_inspect compares them), and an lstm in mixed precision
# (bfloat16 on the CPU) without an anchor (so that its network is the forecast, never
# zeroed): test_distribute checks its dtypes, test_export exports it (one training for
# both).
SINE_KINDS = {"lstm": ["--model", "lstm", "--anchor", "none"],
              "rnn": ["--model", "rnn", "--anchor", "none"],
              "lstm anchored": ["--model", "lstm"],
              "gated": ["--model", "gated"],
              "lstm mixed": ["--model", "lstm", "--anchor", "none", "--mixed-precision",
                             "--device", "cpu"]}
SINE_KINDS_COMMON = ["--dataset", "sine", "--window", "8", "--units", "6", "--layers", "2",
                     "--epochs", "1", "--patience", "0", "--seed", "3", "-q"]


def _shared_folder(tmp_path_factory, name: str) -> Path:
    """`name` in the session's temporary folder that every xdist worker sees (a worker's
    own basetemp is `popen-gwN` inside it); without xdist, in the basetemp."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on `path` (created) for the block: one worker at a time."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def _train_once(out: Path, *args) -> str:
    """`lstm-tf train ARGS --out OUT` unless a worker of this session did already;
    train's output either way."""
    with _locked(out.parent / f"{out.name}.lock"):
        done = out.parent / f"{out.name}.output"  # written last: the run is complete
        if not done.exists():
            from helpers import run

            result = run("train", *args, "--out", out)
            assert result.exit_code == 0, result.output
            done.write_text(result.output)
        return done.read_text()


@pytest.fixture(scope="session")
def tiny_sine_run(tmp_path_factory):
    """(csv, run folder, train's output): a sine of 120 rows (a `step` time column)
    trained with TINY_SINE. Read-only."""
    root = _shared_folder(tmp_path_factory, "tiny-sine")
    csv = root / "sine.csv"
    with _locked(root / "sine.csv.lock"):
        if not csv.exists():
            csv.write_text("step,value\n" + "".join(
                f"{i},{np.sin(2 * np.pi * i / 12):.6f}\n" for i in range(120)))
    out = root / "run"
    output = _train_once(out, "--data", csv, "--time-column", "step", *TINY_SINE)
    return csv, out, output


class _RunsByKind:
    """`runs[name]`: the run folder of SINE_KINDS[name], trained on first use."""

    def __init__(self, root):
        self.root = root

    def __getitem__(self, name):
        self.output(name)
        return self.root / name.replace(" ", "-")

    def output(self, name) -> str:
        """Train's output for the run of SINE_KINDS[name] (trained on first use)."""
        return _train_once(self.root / name.replace(" ", "-"), *SINE_KINDS_COMMON,
                           *SINE_KINDS[name])


@pytest.fixture(scope="session")
def sine_runs(tmp_path_factory):
    """Runs of every model kind on the built-in sine data (SINE_KINDS). Read-only."""
    return _RunsByKind(_shared_folder(tmp_path_factory, "sine-kinds"))


class _DefaultRuns:
    """`runs[dataset]`: the run folder of `lstm-tf train --dataset DATASET -q` (every
    default), trained on first use."""

    def __init__(self, root):
        self.root = root

    def __getitem__(self, dataset):
        out = self.root / dataset
        _train_once(out, "--dataset", dataset, "-q")
        return out


@pytest.fixture(scope="session")
def default_runs(tmp_path_factory):
    """Runs of the defaults on a built-in dataset: test_accuracy's benchmarks, and the
    default-sized El Niño model of test_gate_page (one training for both). Read-only."""
    return _DefaultRuns(_shared_folder(tmp_path_factory, "defaults"))


# ------------------------------------------------- one new process with two CPU devices
#
# TensorFlow's devices (--cpu-devices: the CPU split into logical devices) and threads are
# fixed when it starts, so the checks that need them run in a new process; one process
# hosts all of them (one TensorFlow start-up, ~5.5 s of CPU, instead of one per check):
# test_distribute's runs (its first, the stacked run, sets the threads and splits the CPU
# in two for the others) and test_bad_input's batch size refused for two replicas.
# Modules register their part (`host_in_fresh_process`) when they are imported; under
# xdist every worker imports every module, and the first worker to need the process runs
# it for both (under a file lock). (test_bench_train's mirrored bench keeps a process of
# its own: after the mirrored runs here, or before them, its all-reduce and theirs met in
# one collective instance, "Shape mismatch in the collective instance 100".)

_FRESH_PARTS = {}  # name -> (place, code of the part given the process's folder)
FRESH_MARK = "@@ part: "  # on stdout and stderr before each part's output


def host_in_fresh_process(name: str, place: int, code):
    """Run `code(folder)` (Python source) as part `name` of the fresh process, in the order
    of `place`; `fresh_process` then gives its stdout and stderr."""
    _FRESH_PARTS[name] = (place, code)


@pytest.fixture(scope="session")
def fresh_process(tmp_path_factory):
    """(folder, {name: (stdout, stderr)}): every registered part, run in order in one new
    Python process (`host_in_fresh_process`), which must exit with status 0."""
    import json
    import subprocess
    import sys

    root = _shared_folder(tmp_path_factory, "fresh-process")
    done = root / "parts.json"
    with _locked(root.parent / "fresh-process.lock"):
        if not done.exists():
            code = "import sys\n" + "".join(
                f"print({FRESH_MARK + name!r}, flush=True)\n"
                f"print({FRESH_MARK + name!r}, file=sys.stderr, flush=True)\n"
                + part(root) + "\n"
                for name, (_, part) in sorted(_FRESH_PARTS.items(), key=lambda p: p[1][0]))
            tests = Path(__file__).resolve().parent
            path = os.pathsep.join([str(tests.parent), str(tests.parent / ".dev"),
                                    os.environ.get("PYTHONPATH", "")])
            result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, timeout=1800, env={
                                        **os.environ, "PYTHONPATH": path,
                                        "TF_CPP_MIN_LOG_LEVEL": "3"})
            assert result.returncode == 0, result.stdout + result.stderr[-3000:]

            def parts(stream):
                split = stream.split(FRESH_MARK)[1:]
                return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in split}

            out, err = parts(result.stdout), parts(result.stderr)
            done.write_text(json.dumps({name: [out[name], err[name]] for name in out}))
        return root, {name: tuple(pair) for name, pair in json.loads(done.read_text()).items()}
