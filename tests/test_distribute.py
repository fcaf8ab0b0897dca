"""Devices, precision, XLA and tf.distribute strategies, on the CPU.

Distributed runs need logical devices or a cluster configured before TensorFlow starts,
so they run in subprocesses and leave this pytest process alone.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import host_in_fresh_process
from helpers import run

ROOT = Path(__file__).resolve().parent.parent
# (--loss mse: on this tiny sine the default MAE is flat within 3 epochs, at the noise's
# level, and "it did learn" below needs a loss that still falls)
SMALL = ["--dataset", "sine", "--window", "6", "--units", "4", "--batch-size", "16",
         "--patience", "0", "--device", "cpu", "--loss", "mse", "-q"]  # on the CPU, GPU or not
# Subprocesses get this long only to turn a hang into a failure: it is no performance
# limit, which a loaded 2-core machine would make flaky.
HANG = 1800
TINY = [*SMALL, "--epochs", "3"]


def subprocess_env(**extra):
    path = os.pathsep.join([str(ROOT), str(ROOT / ".dev"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def cli_code(*argv_lists):
    """Python code running `lstm-tf` once per argv list, in one process."""
    calls = "\n".join(f"cli({[str(a) for a in argv]!r}, standalone_mode=False)"
                      for argv in argv_lists)
    return f"from lstm_tf_cli.main import cli\n{calls}\n"


def losses(run_dir):
    lines = (Path(run_dir) / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return np.array([[float(row.split(",")[header.index(key)]) for key in ("loss", "val_loss")]
                     for row in lines[1:]])


# ------------------------------------------------------------------ cuDNN eligibility


@pytest.mark.parametrize("kwargs, eligible, reason", [
    ({}, True, "standard cell"),
    ({"recurrent_dropout": 0.2}, False, "recurrent dropout 0.2"),
    ({"activation": "relu"}, False, "activation relu (cuDNN needs tanh)"),
    ({"recurrent_activation": "hard_sigmoid"}, False, "recurrent activation hard_sigmoid"),
    ({"unroll": True}, False, "unrolled"),
    ({"use_bias": False}, False, "no bias"),
    ({"use_cudnn": False}, False, "use_cudnn=False"),
    ({"dropout": 0.3}, True, "standard cell"),  # input dropout is allowed
])
def test_cudnn_eligibility_of_lstm(kwargs, eligible, reason):
    import keras

    from lstm_tf.devices import cudnn_eligibility

    ok, why = cudnn_eligibility(keras.layers.LSTM(8, **kwargs))
    assert ok is eligible and reason in why


def test_cudnn_eligibility_lists_every_problem_and_other_layers():
    import keras

    from lstm_tf.devices import cudnn_eligibility

    ok, why = cudnn_eligibility(keras.layers.LSTM(8, recurrent_dropout=0.1, unroll=True))
    assert not ok and "recurrent dropout 0.1" in why and "unrolled" in why
    assert cudnn_eligibility(keras.layers.SimpleRNN(8)) == (False, "SimpleRNN has no cuDNN kernel")

    class GatedCell(keras.layers.Layer):  # stands for a custom gated cell
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = units

        def call(self, inputs, states):
            return inputs, states

    ok, why = cudnn_eligibility(keras.layers.RNN(GatedCell(4)))
    assert not ok and why.startswith("custom cell GatedCell has no cuDNN kernel")


# ----------------------------------------------------------------- device, precision


def machine_has_gpu() -> bool:
    """Whether this process can train on a GPU (never under tests/conftest.py's pin)."""
    from lstm_tf.tf_setup import tensorflow

    return bool(tensorflow().config.get_visible_devices("GPU"))


def test_device_gpu_trains_on_the_gpu_or_is_a_one_line_error_without_one(tmp_path):
    result = run("train", *TINY, "--device", "gpu", "--out", tmp_path / "run")
    if machine_has_gpu():  # assert what this machine has
        assert result.exit_code == 0, result.output
        assert "device: GPU" in result.output
        assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["device"] \
            == "gpu"
        return
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --device gpu: TensorFlow sees no GPU on this machine (it needs an NVIDIA "
        "driver and `pip install lstm-tf[gpu]`); use --device cpu or auto"]
    assert not (tmp_path / "run").exists()


def test_resolution_rules(monkeypatch):
    from lstm_tf.devices import (is_chief, precision_policy, resolve_device, resolve_strategy,
                                 resolve_threads, resolve_unroll)
    from lstm_tf.errors import UserError

    assert resolve_device("auto") == ("gpu" if machine_has_gpu() else "cpu")
    assert resolve_device("cpu") == "cpu"
    assert [precision_policy(False, "gpu"), precision_policy(True, "gpu"),
            precision_policy(True, "cpu")] == ["float32", "mixed_float16", "mixed_bfloat16"]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert resolve_strategy("auto", "cpu") == "default"
    assert resolve_strategy("mirrored", "cpu") == "mirrored"
    cluster = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}
    for task, chief in [({"type": "worker", "index": 0}, True),
                        ({"type": "worker", "index": 1}, False)]:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert resolve_strategy("auto", "cpu") == "multiworker"
        assert is_chief("multiworker") is chief and is_chief("default") is True
    with_chief = {"chief": ["10.0.0.9:2222"], **cluster}
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert is_chief("multiworker") is False  # the chief task is the chief, not worker 0
    # Unrolled by default: stacked layers, on a CPU, without XLA, over short windows.
    assert resolve_unroll(None, "cpu", False, 48, 2) is True
    assert [resolve_unroll(None, *case) for case in [
        ("gpu", False, 48, 2), ("cpu", True, 48, 2), ("cpu", False, 65, 2),
        ("cpu", False, 48, 1)]] == [False] * 4
    assert resolve_unroll(True, "gpu", False, 500, 1) is True  # asked for explicitly
    # One intra-op thread when unrolled on a CPU (the executor fills the cores).
    assert [resolve_threads(0, True, "cpu"), resolve_threads(0, False, "cpu"),
            resolve_threads(0, True, "gpu"), resolve_threads(3, True, "cpu")] == [1, 0, 0, 3]
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG is not valid"):
        resolve_strategy("auto", "cpu")


def fake_gpus(monkeypatch, count: int, visible: bool = True):
    """Make lstm_tf.devices see `count` GPUs (an "NVIDIA A100" each), hidden when not
    `visible` (what an earlier --device cpu run in the process leaves behind)."""
    from lstm_tf.tf_setup import tensorflow

    config = tensorflow().config
    physical = [config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(count)]
    logical = [config.LogicalDevice(f"/device:GPU:{i}", "GPU") for i in range(count)]
    real = {name: getattr(config, name) for name in (
        "list_physical_devices", "get_visible_devices", "list_logical_devices")}
    fakes = {"list_physical_devices": physical, "get_visible_devices": physical if visible else [],
             "list_logical_devices": logical if visible else []}
    for name, devices in fakes.items():
        monkeypatch.setattr(config, name, lambda kind=None, name=name, devices=devices:
                            devices if kind == "GPU" else real[name](kind))
    monkeypatch.setattr(config.experimental, "get_device_details",
                        lambda device: {"device_name": "NVIDIA A100"})


def test_device_gpu_after_a_cpu_run_in_the_same_process_is_refused(monkeypatch):
    from lstm_tf.devices import resolve_device, resolve_strategy
    from lstm_tf.errors import UserError

    fake_gpus(monkeypatch, 2, visible=False)  # installed, but hidden by --device cpu
    with pytest.raises(UserError, match="this process hid its GPUs from TensorFlow for an "
                       "earlier --device cpu run"):
        resolve_device("gpu")
    assert resolve_device("auto") == "cpu"  # what it really trains on
    monkeypatch.undo()
    fake_gpus(monkeypatch, 2)
    monkeypatch.delenv("TF_CONFIG", raising=False)  # no cluster: one machine
    assert resolve_device("auto") == resolve_device("gpu") == "gpu"
    assert resolve_strategy("auto", "gpu") == "mirrored"  # two visible GPUs


def test_report_names_the_devices_the_strategy_really_uses(monkeypatch):
    import tensorflow as tf

    from lstm_tf.config import ModelConfig, TrainConfig
    from lstm_tf.devices import run_report
    from lstm_tf.models import build_model
    from lstm_tf.train import compile_model

    model = build_model(ModelConfig("lstm", 4, 1), features=1, horizon=1, targets=1)
    compile_model(model, TrainConfig())
    default = tf.distribute.get_strategy()
    # This CPU: even if --device gpu were claimed, the report says what is used.
    line = run_report(default, "gpu", "float32", model, False)[0]
    assert line.startswith("device: CPU (") and "no GPU used (though --device gpu" in line

    class MirroredStrategy:  # over two GPUs, as tf.distribute would report them
        num_replicas_in_sync = 2
        extended = type("Extended", (), {"worker_devices": (
            "/job:localhost/replica:0/task:0/device:GPU:0",
            "/job:localhost/replica:0/task:0/device:GPU:1")})

    fake_gpus(monkeypatch, 2)
    lines = run_report(default, "gpu", "float32", model, False)
    assert lines[0].startswith("device: GPU x1 (NVIDIA A100) of 2 visible; default strategy")
    assert lines[1] == "cuDNN: all 1 recurrent layer(s) eligible (used on this GPU)"
    line = run_report(MirroredStrategy(), "gpu", "float32", model, False)[0]
    assert line.startswith("device: GPU x2 (NVIDIA A100, NVIDIA A100); MirroredStrategy, "
                           "2 replica(s) in sync")


def test_gpu_memory_is_taken_as_needed_unless_the_user_says_otherwise(monkeypatch):
    from lstm_tf import tf_setup

    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    tf_setup.quiet_tensorflow_imports()  # what the CLI runs first, before TensorFlow starts
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    tf_setup.tensorflow()
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"
    assert not hasattr(tf_setup, "device_report")  # it claimed cuDNN whenever a GPU existed


def test_mixed_bfloat16_on_cpu_trains_with_a_float32_head(sine_runs):
    # The session's mixed-precision run (tests/conftest.py: sine, window 8, 2 x 6 units,
    # --mixed-precision --device cpu, one epoch), which test_export exports. Without an
    # anchor: the network's own output is the forecast, never zeroed for not beating an
    # anchor (train.keep_network_if_better), so bfloat16 shows in it.
    out = sine_runs["lstm mixed"]
    assert "precision mixed_bfloat16" in sine_runs.output("lstm mixed")
    config = json.loads((out / "config.json").read_text())["train"]
    assert (config["device"], config["strategy"], config["precision"],
            config["mixed_precision"]) == ("cpu", "default", "mixed_bfloat16", True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["model"]["mae"]) and metrics["model"]["mae"] > 0

    from lstm_tf.models import float32_copy
    from lstm_tf.runs import load_model

    import keras

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)  # as trained
    assert model.layers[0].compute_dtype == "bfloat16"
    # what every inference path (evaluate, export, parity, bench) gets: a float32 copy
    assert {layer.dtype_policy.name for layer in load_model(out).layers} == {"float32"}
    assert model.layers[-1].dtype_policy.name == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}  # mixed keeps float32 weights
    inputs = np.random.default_rng(0).standard_normal((5, 8, 1)).astype(np.float32)
    assert model(inputs).dtype == "float32"

    copy = float32_copy(model)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), model.get_weights()))
    exact, mixed = np.asarray(copy(inputs)), np.asarray(model(inputs))
    assert not np.array_equal(exact, mixed)  # bfloat16 really was used ...
    np.testing.assert_allclose(exact, mixed, atol=0.05)  # ... on the same weights
    assert model.layers[0].compute_dtype == "bfloat16"  # the original is untouched


def test_xla_train_step_is_compiled_and_reproducible(tmp_path):
    maes = []
    for name in ("a", "b"):
        result = run("train", "--xla", "--seed", 3, "--out", tmp_path / name, *TINY)
        assert result.exit_code == 0, result.output
        assert "XLA on" in result.output
        maes.append(json.loads((tmp_path / name / "metrics.json").read_text())["model"]["mae"])
        assert json.loads((tmp_path / name / "config.json").read_text())["train"]["xla"] is True
    assert maes[0] == maes[1]


@pytest.fixture(scope="module")
def stacked(fresh_process):
    """(run folder, stdout): `train --layers 2` (unrolled by default here) in a fresh
    process: threads are fixed when TensorFlow starts, as in `lstm-tf train`. The
    process is `fresh_process`'s (tests/conftest.py), whose first run this is."""
    root, outputs = fresh_process
    return root / "stacked", outputs["stacked"][0]


def test_unrolled_training_and_its_rolled_up_float32_copy(stacked):
    out, output = stacked  # trained with --layers 2: unrolled by default here
    assert "recurrence unrolled over the window" in output
    assert json.loads((out / "config.json").read_text())["train"]["unroll"] is True

    from lstm_tf.models import float32_copy
    from lstm_tf.runs import load_model

    import keras

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)  # as trained
    assert model.input_shape == (None, 6, 1) and model.layers[0].unroll
    loaded = load_model(out)  # what evaluate, export, parity and bench get
    assert loaded.input_shape == (None, None, 1) and not loaded.layers[0].unroll
    copy = float32_copy(model)
    assert copy.input_shape == (None, None, 1)
    assert not any(layer.unroll for layer in copy.layers if hasattr(layer, "cell"))
    inputs = np.random.default_rng(1).standard_normal((4, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(copy(inputs)), np.asarray(model(inputs)), atol=1e-6)
    assert copy(np.zeros((2, 9, 1), np.float32)).shape == (2, 1, 1)  # any window length


# ----------------------------------------------------------------------- strategies


def _fresh_runs(root: Path) -> dict:
    """The runs that need TensorFlow configured as it starts, hosted by the session's one
    new process (`fresh_process`, tests/conftest.py): first `stacked` (its threads are set
    as TensorFlow starts; the CPU split in two logical devices for the runs after it), then
    the same run on one device and mirrored across two logical CPU devices, and the runs
    and checks of `test_no_replica_gets_an_empty_share_of_a_last_batch`, every LSTM
    refusing empty batches as cuDNN does."""
    common = [*TINY, "--cpu-devices", "2", "--seed", "5"]
    return {"stacked": ["train", "--layers", 2, "--cpu-devices", 2, "--out", root / "stacked",
                        *TINY],
            "one": ["train", "--strategy", "default", "--out", root / "one", *common],
            "two": ["train", "--strategy", "mirrored", "--out", root / "two", *common],
            "last-batches-of-one": last_batches_of_one(root)}


host_in_fresh_process("empty share guard", 0, lambda root: EMPTY_SHARE_GUARD)
for _place, _name in enumerate(["stacked", "one", "two", "last-batches-of-one"], start=1):
    host_in_fresh_process(_name, _place, lambda root, name=_name: cli_code(
        _fresh_runs(root)[name]) + (SHARES if name == "last-batches-of-one" else ""))


@pytest.fixture(scope="module")
def one_and_two_replicas(fresh_process):
    """(root, stdout): the same run on one device and mirrored across two logical CPU
    devices, and the last-batch runs and checks (`fresh_process`), their output in order."""
    root, outputs = fresh_process
    return root, "".join(outputs[name][0] for name in ("one", "two", "last-batches-of-one"))


def test_mirrored_over_two_cpu_devices_reaches_the_same_loss(one_and_two_replicas):
    root, output = one_and_two_replicas
    assert "MirroredStrategy, 2 replica(s) in sync" in output
    assert "default strategy, 1 replica(s) in sync" in output
    one, two = (json.loads((root / name / "config.json").read_text())["train"]
                for name in ("one", "two"))
    assert (one["strategy"], one["replicas"]) == ("default", 1)
    assert (two["strategy"], two["replicas"], two["batch_size"]) == ("mirrored", 2, 16)
    # The global batch of 16 is split 8 + 8: the same gradients, summed in another order.
    np.testing.assert_allclose(losses(root / "two"), losses(root / "one"), rtol=1e-4)
    assert losses(root / "one")[-1, 0] < losses(root / "one")[0, 0]  # it did learn


# What cuDNN does on a GPU, done on the CPU: an LSTM given a batch of 0 windows fails.
EMPTY_SHARE_GUARD = """
import functools
import keras
import tensorflow as tf

lstm_call = keras.layers.LSTM.call

@functools.wraps(lstm_call)
def refusing_empty_batches(self, sequences, *args, **kwargs):
    tf.debugging.assert_positive(tf.shape(sequences)[0], message="an empty share reached the LSTM")
    return lstm_call(self, sequences, *args, **kwargs)

keras.layers.LSTM.call = refusing_empty_batches
"""

SHARES = """
import json
from lstm_tf.devices import batches_per_epoch, even_shards

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def shares(dataset):
    return [[int(share.shape[0]) for share in strategy.experimental_local_results(batch[0])]
            for batch in strategy.experimental_distribute_dataset(dataset)]

report = {}
for windows in (16, 17, 19):  # last batches of 16, 1 and 3 windows
    batched = tf.data.Dataset.from_tensor_slices(
        (tf.zeros([windows, 3, 1]), tf.zeros([windows, 1, 1]))).batch(16)
    report[windows] = {"plain": shares(batched), "even": shares(
        even_shards(batched, 2, batches_per_epoch(windows, 16, 2)))}
try:
    keras.layers.LSTM(2)(tf.zeros([0, 3, 1]))
    report["guard"] = "silent"
except tf.errors.InvalidArgumentError as error:
    report["guard"] = "fires" if "empty share" in str(error) else str(error)
print("SHARES " + json.dumps(report))
"""


def last_batches_of_one(root: Path) -> list:
    """`lstm-tf train` arguments of a mirrored run whose every part ends in a batch of one
    window, which two replicas would split [1, 0]: 514 rows give 145 train and 105
    validation windows (% 8 == 1) and 257 test windows (% 256 == 1, the prediction batch)."""
    rows = np.arange(514)
    values = np.sin(2 * np.pi * rows / 12) + 0.1 * np.cos(rows)
    (root / "long.csv").write_text(
        "step,value\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(rows, values)))
    return ["train", "--data", root / "long.csv", "--window", 7, "--val-fraction", 0.2043,
            "--test-fraction", 0.5, "--batch-size", 8, "--units", 4, "--epochs", 2,
            "--patience", 0, "--device", "cpu", "--strategy", "mirrored", "--cpu-devices", 2,
            "--out", root / "last-batches-of-one", "-q"]


def test_no_replica_gets_an_empty_share_of_a_last_batch(one_and_two_replicas):
    root, output = one_and_two_replicas
    out = root / "last-batches-of-one"
    assert "145 train / 105 val / 257 test windows" in output
    assert json.loads((out / "config.json").read_text())["train"]["replicas"] == 2
    assert json.loads((out / "metrics.json").read_text())["windows"] == 257  # none dropped
    assert losses(out).shape == (2, 2) and np.all(np.isfinite(losses(out)))
    report = json.loads(output.split("SHARES ", 1)[1])
    assert report["guard"] == "fires"  # the guard that training passed is real
    # TensorFlow splits a last batch of 1 window [1, 0], of 3 windows [2, 1] ...
    assert [report[str(n)]["plain"][-1] for n in (16, 17, 19)] == [[8, 8], [1, 0], [2, 1]]
    # ... and even_shards trims every batch to equal shares (dropping a single window).
    assert [report[str(n)]["even"] for n in (16, 17, 19)] == [[[8, 8]], [[8, 8]],
                                                              [[8, 8], [1, 1]]]


def test_batch_size_must_be_a_multiple_of_the_replicas():
    from lstm_tf.devices import batches_per_epoch, check_batch_size, kept_windows
    from lstm_tf.errors import UserError

    check_batch_size(7, 1)
    check_batch_size(32, 4)
    with pytest.raises(UserError, match="--batch-size 34 must be a multiple of the 4 replicas, "
                       "which each get an equal share of a batch; use 32 or 36"):
        check_batch_size(34, 4)
    with pytest.raises(UserError, match="use 2$"):
        check_batch_size(1, 2)
    assert [kept_windows(n, 4) for n in (1, 3, 4, 6, 9)] == [0, 0, 4, 4, 8]
    assert [batches_per_epoch(n, 8, 2) for n in (16, 17, 18)] == [2, 2, 3]
    assert batches_per_epoch(17, 8) == 3  # one replica: the last batch of one window stays


def reserved_port(stack: contextlib.ExitStack) -> int:
    """A port the OS picked, kept bound (SO_REUSEADDR, never listening) until the test ends.

    Closing it before the worker binds would let another process take it meanwhile (a
    race). Held like this, Linux lets only a socket that also sets SO_REUSEADDR bind it
    beside ours, as the worker's gRPC server does for its listening socket.
    """
    sock = stack.enter_context(socket.socket())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def test_two_workers_train_one_epoch_and_write_one_run(one_and_two_replicas, tmp_path):
    ports = contextlib.ExitStack()
    with ports:
        _two_workers(one_and_two_replicas, tmp_path, ports)


def _two_workers(one_and_two_replicas, tmp_path, ports):
    workers = [f"127.0.0.1:{reserved_port(ports)}", f"127.0.0.1:{reserved_port(ports)}"]
    out = tmp_path / "runs" / "cluster"
    scratch = [tmp_path / "tmp0", tmp_path / "tmp1"]
    processes = []
    for index in range(2):
        scratch[index].mkdir()
        tf_config = json.dumps({"cluster": {"worker": workers},
                                "task": {"type": "worker", "index": index}})
        args = ["train", "--strategy", "multiworker", "--out", out,
                *SMALL, "--epochs", "1", "--seed", "5"]
        processes.append(subprocess.Popen(
            [sys.executable, "-c", cli_code(args)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=subprocess_env(TF_CONFIG=tf_config, TMPDIR=str(scratch[index]))))
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=HANG)
            outputs.append(stdout)
            assert process.returncode == 0, stdout + stderr[-3000:]
    finally:
        for process in processes:
            process.kill()
    assert "2 replica(s) in sync" in outputs[0] and "2 replica(s) in sync" in outputs[1]
    assert "the chief writes the run directory" in outputs[1]
    assert [p.name for p in out.parent.iterdir()] == ["cluster"]  # one run, no leftovers
    assert {p.name for p in out.iterdir()} >= {"model.keras", "config.json", "metrics.json"}
    assert list(scratch[1].iterdir()) == []  # the worker's copy was deleted
    config = json.loads((out / "config.json").read_text())["train"]
    assert (config["strategy"], config["replicas"], config["steps_per_execution"]) == (
        "multiworker", 2, 1)
    # One epoch across two machines: the first epoch of the single-device run.
    root, _ = one_and_two_replicas
    np.testing.assert_allclose(losses(out)[0], losses(root / "one")[0], rtol=1e-4)


def test_multiworker_without_tf_config_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = run("train", "--strategy", "multiworker", "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 1
    assert result.output.startswith("Error: --strategy multiworker needs TF_CONFIG")


def test_float16_gets_loss_scaling_and_bfloat16_does_not():
    import keras

    from lstm_tf.config import ModelConfig, TrainConfig
    from lstm_tf.models import build_model
    from lstm_tf.train import compile_model

    for policy, scaled in [("mixed_float16", True), ("mixed_bfloat16", False)]:
        model = build_model(ModelConfig("lstm", 4, 2), features=1, horizon=2, targets=1,
                            dtype_policy=policy)
        compile_model(model, TrainConfig(), policy)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is scaled
        assert [layer.dtype_policy.name for layer in model.layers] == [
            policy, policy, "float32", "float32"]


def test_an_unrolled_cpu_run_uses_one_intra_op_thread(stacked):
    # Threads are fixed when TensorFlow starts: a fresh process, as `lstm-tf train` is.
    out, output = stacked
    assert f"({os.cpu_count()} cores, 1 intra-op thread(s))" in output
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["unroll"], train["threads"]) == (True, 1)
