"""`lstm-tf bench-train`: training and input-pipeline throughput, measured separately."""

import json
import subprocess
import sys

from click.testing import CliRunner

from lstm_tf_lab.bench.training import format_report
from lstm_tf_cli.main import cli


def test_bench_train_reports_rates_of_what_train_would_run():
    # Two replicas (logical CPU devices, fixed when TensorFlow starts: a new process), as
    # `lstm-tf train` would run them on two GPUs: mirrored, one step per execution.
    args = ["bench-train", "--layers", "1", "--units", "8", "--window", "8", "--samples", "256",
            "--repeats", "2", "--steps-per-execution", "4", "--no-xla", "--device", "cpu",
            "--strategy", "mirrored", "--cpu-devices", "2", "--json"]
    code = f"from lstm_tf_cli.main import cli; cli({args!r}, standalone_mode=False)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout[out.stdout.index("{"):])
    assert (report["strategy"], report["replicas"], report["device"]) == ("mirrored", 2, "cpu")
    # 4 steps per execution asked for; train runs 1 under several replicas, and so does this
    assert report["config"]["samples"] == 256 and report["config"]["steps_per_execution"] == 1
    assert len(report["training_runs"]) == 2 and len(report["pipeline_runs"]) == 2
    assert report["training_samples_per_second"] > 0 and report["xla_used"] is False
    assert report["pipeline_samples_per_second"] > 0
    ratio = report["pipeline_samples_per_second"] / report["training_samples_per_second"]
    assert abs(report["pipeline_to_training"] - ratio) < 0.1
    assert "CPU, mirrored strategy x2 replica(s)" in format_report(report)


def test_bench_train_text_report_and_defaults():
    from lstm_tf_lab.bench.training import BenchConfig, format_report
    from lstm_tf.config import TrainConfig

    config = BenchConfig()
    assert (config.layers, config.units, config.window, config.batch_size) == (2, 64, 48, 64)
    assert (config.steps_per_execution, config.xla) == (TrainConfig.steps_per_execution,
                                                         TrainConfig.xla)
    result = {"config": {**config.__dict__}, "training_samples_per_second": 3000.0,
              "training_runs": [3000.0] * 3, "pipeline_samples_per_second": 45000.0,
              "pipeline_runs": [45000.0] * 3, "pipeline_to_training": 15.0, "xla_used": True,
              "device": "cpu", "threads": 2, "tensorflow": "2.x", "load_average": 0.5}
    text = format_report(result)
    assert "training:            3,000 samples/s" in text
    assert "15x the training rate: TOO CLOSE" in text


def test_bench_train_help_does_not_import_tensorflow():
    code = ("import sys; from lstm_tf_cli.main import cli\n"
            "try: cli(['bench-train', '--help'])\nexcept SystemExit: pass\n"
            "print('TF' if any(m.startswith('tensorflow') for m in sys.modules) else 'clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "reference LSTM" in out.stdout and out.stdout.strip().endswith("clean")


def test_bench_train_is_also_bench_dash_dash_train(monkeypatch):
    import lstm_tf_lab.bench.training as bench_train
    from lstm_tf_lab.bench.training import BenchConfig

    seen = []

    def measured(config):  # the real measurement is the test above; here, the dispatch
        seen.append(config)
        return {"config": config.__dict__, "training_samples_per_second": 3000.0,
                "training_runs": [3000.0], "pipeline_samples_per_second": 90000.0,
                "pipeline_runs": [90000.0], "pipeline_to_training": 30.0, "xla_used": False,
                "device": "cpu", "threads": 1, "tensorflow": "2.x", "load_average": 0.5}

    monkeypatch.setattr(bench_train, "run", measured)
    result = CliRunner().invoke(cli, ["bench", "--train"])
    assert result.exit_code == 0, result.output
    assert seen == [BenchConfig()]  # bench-train's defaults: the reference model
    assert "input pipeline:     90,000 samples/s (30x the training rate" in result.output
    for args in (["bench"], ["bench", "--train", "--batch", "4"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
        assert result.output.startswith("Error: bench")
