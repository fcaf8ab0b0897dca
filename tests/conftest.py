import os

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
