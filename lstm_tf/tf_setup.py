"""Import TensorFlow quietly, once, and make runs reproducible.

Every TF-using module imports TensorFlow through `tensorflow()` so that its C++ log
noise is silenced before the first import.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys


def tensorflow():
    # TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are written to fd 2 before
    # its logging can be configured: its first import is the quiet one.
    quiet_tensorflow_imports()
    import tensorflow as tf

    tf.get_logger().addFilter(_not_retracing)  # (once: a filter is added only once)
    return tf


def _not_retracing(record) -> bool:
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning: Keras' predict function retraces for each new batch shape (a last partial
    batch, the floor's and the evaluation's window counts), a few tenths of a second
    each, and the two paragraphs of advice on every `lstm-tf train` are not the user's
    to act on."""
    return "triggered tf.function retracing" not in record.getMessage()


def environment_defaults() -> None:
    """TensorFlow settings read from the environment, set before it starts (a value the
    user set is kept): TF_CPP_MIN_LOG_LEVEL=3, no C++ log lines; TF_FORCE_GPU_ALLOW_GROWTH
    =true, GPU memory taken as needed (TensorFlow's default maps nearly all of every
    visible GPU, even for a run that uses one or none, so two processes would compete).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Makes the first `import tensorflow` quiet, whoever does it (Keras, tf2onnx, a module
    of ours): TF_CPP_MIN_LOG_LEVEL=3 and fd 2 silenced while TensorFlow's C++ starts up."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once: the real finders take it from here
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        environment_defaults()
        with _stderr_silenced():
            self.loader.exec_module(module)

    def __getattr__(self, name):  # get_resource_reader, is_package, ...
        return getattr(self.loader, name)


def quiet_tensorflow_imports() -> None:
    """Install the quiet first import of TensorFlow (cheap: imports nothing). The CLI calls
    it at start-up, so every command keeps TensorFlow's start-up lines off the terminal."""
    environment_defaults()
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


@contextlib.contextmanager
def _stderr_silenced():
    if os.environ.get("LSTM_TF_VERBOSE_TF"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def set_seed(seed: int, deterministic_ops: bool = True) -> None:
    """Same seed, same numbers on CPU: seeds Python, NumPy and TF, and makes TF ops deterministic.

    `deterministic_ops=False` is for XLA runs: Keras refuses to compile with XLA while
    TensorFlow's op determinism is on (not every XLA kernel honours it on GPUs). On
    CPUs the XLA-compiled LSTM step still gives identical numbers run after run.
    """
    tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    set_op_determinism(deterministic_ops)


def set_op_determinism(enabled: bool) -> None:
    """Turn TensorFlow's op determinism on or off (it stays as set for the whole process)."""
    tf = tensorflow()
    from tensorflow.python.framework import config as tf_config

    if enabled:
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():  # left on by an earlier run in this process
        tf_config.disable_op_determinism()
