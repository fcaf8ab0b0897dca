"""`lstm-tf bench`: every inference path is timed and the table reports real numbers."""

import re

import pytest
from click.testing import CliRunner

from lstm_tf_cli.main import cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, sine_runs):
    """The session's rnn run on sine (--anchor none: it has a step model; tests/conftest.py)
    linked in as `run`, and its window and step models exported beside it."""
    root = tmp_path_factory.mktemp("bench")
    runner = CliRunner()
    (root / "run").symlink_to(sine_runs["rnn"], target_is_directory=True)
    result = runner.invoke(cli, ["export", str(root / "run"), "--step", "--no-check",
                                 "--out", str(root / "m.onnx")])
    assert result.exit_code == 0, result.output
    return root


def test_bench_run_times_every_path(tiny):
    from lstm_tf_lab.bench.inference import bench_run, ratios, table

    timings = bench_run(tiny / "run", batches=(1, 4), budget_seconds=0.05)
    names = {t.name for t in timings}
    assert names == {"keras model(x)", "keras model.predict", "tf.function (graph)",
                     "onnxruntime, exported model", "onnxruntime, hand-built graph",
                     "onnxruntime, step model, per step"}
    assert len(timings) == 12 and all(0 < t.median_us <= t.p90_us for t in timings)
    rendered = table(timings)
    assert rendered.count("\n") == 7 and "batch 4: median" in rendered
    assert re.match(r"batch 1: exported / hand-built graph = \d+\.\d{3}x", ratios(timings)[0])


def test_bench_command_on_an_onnx_file(tiny):
    result = CliRunner().invoke(cli, ["bench", str(tiny / "m.onnx"), "--batch", "1",
                                      "--budget", "0.05"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| onnxruntime")]
    assert len(rows) == 2 and all(re.search(r"\d+ µs", row) for row in rows)
