"""Panels at scale: 10,000 series x 500 steps on one machine (issue 12's bars).

    python benchmarks/panel_scale.py                  # 10,000 x 500, writes panel_scale-<date>.json
    python benchmarks/panel_scale.py --series 500     # a quick run

Measured, each in its own process so that peak RSS is the command's own:
1. `lstm-tf train` of the default model for ONE epoch on the long CSV (5 million rows):
   the whole process' wall time and peak RSS (bar: 4 GiB), and the load time it logs.
2. Training throughput, samples/s, on the panel and on ONE long series with the same
   model, window and batch size, over the same number of steps (bar: within 10%), and
   the tf.data pipeline alone on the panel (bar: at least 20x the training rate).
3. `lstm-tf predict` for every series of the CSV: the whole process' wall time (bar:
   3 s) and whether TensorFlow was imported (bar: never).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROUNDS = 5


def run_measured(command: list[str]) -> dict:
    """Run a command in a child process: wall seconds, peak RSS (MiB), its output."""
    started = time.perf_counter()
    # A fresh interpreter per measurement: ru_maxrss of children is the largest child's.
    child = subprocess.run(
        [sys.executable, "-c", "import resource, subprocess, sys; "
         "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(p.stdout); print(p.stderr, file=sys.stderr); "
         "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "sys.exit(p.returncode)", *command],
        capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = next(int(line.split()[1]) for line in child.stdout.splitlines()
                if line.startswith("PEAK_KIB"))
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{child.stdout}\n{child.stderr}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak / 1024, 1),
            "output": child.stdout + child.stderr}


def throughput(series: int, length: int, steps: int, batch: int) -> dict:
    """samples/s of model.fit on the panel and on one long series, and of the pipeline."""
    import numpy as np

    from lstm_tf.config import DataConfig, ModelConfig, TrainConfig
    from lstm_tf.data import make_dataset, sources
    from lstm_tf.data.prepare import prepare
    from lstm_tf.models import build_model
    from lstm_tf.train import compile_model, start_tensorflow

    panel = sources.synthetic_panel(series=series, length=length, seed=0)
    config = DataConfig(dataset=None, window=37, horizon=1, season=12, scaling="window")
    prepared = prepare(panel, config)
    # One long series, as many training windows deep as needed for `steps` batches.
    rows = steps * batch + 200
    single = sources.synthetic_panel(series=1, length=rows, seed=1)
    single_prepared = prepare(single, config)
    train_config = TrainConfig(batch_size=batch, steps_per_execution=16)
    strategy, policy = start_tensorflow(train_config, config.window, 1)
    fits = {}
    for name, data in (("panel", prepared), ("one series", single_prepared)):
        starts = data.starts["train"]
        dataset = make_dataset(data.scaled, starts, config.window, 1, 1, batch, shuffle=True,
                               seed=0, epochs=range(1000), anchor=data.anchor,
                               window_scaled=True)
        model = build_model(ModelConfig(), features=1, horizon=1, targets=1,
                            zero_head=data.anchor.relative_inputs)
        compile_model(model, train_config, policy)
        model.fit(dataset, epochs=1, steps_per_epoch=64, verbose=0)  # warm-up and tracing
        fits[name] = (model, dataset, len(starts))
    # Interleaved rounds, medians: a busy machine slows both alike.
    rates = {name: [] for name in fits}
    rates["pipeline alone (panel)"] = []
    for _ in range(ROUNDS):
        for name, (model, dataset, _) in fits.items():
            started = time.perf_counter()
            model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
            rates[name].append(steps * batch / (time.perf_counter() - started))
        iterator = iter(fits["panel"][1])
        next(iterator)
        started = time.perf_counter()
        for _ in range(steps):
            next(iterator)
        rates["pipeline alone (panel)"].append(steps * batch / (time.perf_counter() - started))
    results = {name: {"samples_per_second": round(float(np.median(found))),
                      "rounds": [round(rate) for rate in found]}
               for name, found in rates.items()}
    for name, (_, _, windows) in fits.items():
        results[name]["train_windows"] = int(windows)
    results["ratio panel / one series"] = round(
        results["panel"]["samples_per_second"] / results["one series"]["samples_per_second"], 3)
    results["ratio pipeline / training"] = round(
        results["pipeline alone (panel)"]["samples_per_second"]
        / results["panel"]["samples_per_second"], 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400, help="training steps timed")
    parser.add_argument("--out", help="JSON file (default benchmarks/panel_scale-<date>.json)")
    args = parser.parse_args()
    from lstm_tf.data import panel_csv, sources

    folder = Path(tempfile.mkdtemp(prefix="lstm-tf-panel-"))
    csv_path = folder / "panel.csv"
    started = time.perf_counter()
    panel = sources.synthetic_panel(series=args.series, length=args.length, seed=0)
    panel_csv.write_long_csv(panel, csv_path)
    result = {"series": args.series, "length": args.length, "rows": int(len(panel.values)),
              "csv_mib": round(csv_path.stat().st_size / 2**20, 1),
              "write_seconds": round(time.perf_counter() - started, 1)}
    del panel
    started = time.perf_counter()
    panel_csv.read_long_csv(csv_path, "series", time_column="time")
    result["load_seconds"] = round(time.perf_counter() - started, 2)

    lstm_tf = [sys.executable, "-c", "from lstm_tf_cli.main import cli; cli()"]
    run_dir, model = folder / "run", folder / "model.onnx"
    train = run_measured(lstm_tf + ["train", "--data", str(csv_path), "--series-column",
                                    "series", "--time-column", "time", "--epochs", "1",
                                    "--batch-size", str(args.batch), "-q", "--out",
                                    str(run_dir)])
    result["train one epoch (whole process)"] = {
        key: train[key] for key in ("seconds", "peak_rss_mib")}
    result["train summary"] = [line for line in train["output"].splitlines()
                               if "series" in line][-2:]
    export = run_measured(lstm_tf + ["export", str(run_dir), "--out", str(model)])
    result["export"] = {"seconds": export["seconds"],
                        "parity": [line for line in export["output"].splitlines()
                                   if "PASSED" in line or "FAILED" in line][:1]}
    # predict, the whole process, three times (median); and whether TensorFlow loaded.
    probe = ("import sys, runpy; sys.argv = ['lstm-tf', 'predict', %r, '--data', %r, '--out', "
             "%r, '--force']; from lstm_tf_cli.main import cli\n"
             "try:\n    cli()\nexcept SystemExit:\n    pass\n"
             "print('TENSORFLOW_IMPORTED', 'tensorflow' in sys.modules)"
             % (str(model), str(csv_path), str(folder / "forecast.csv")))
    times = []
    for _ in range(3):
        measured = run_measured([sys.executable, "-c", probe])
        times.append(measured["seconds"])
    result["predict every series (whole process)"] = {
        "median_seconds": sorted(times)[1], "runs": times,
        "peak_rss_mib": measured["peak_rss_mib"],
        "tensorflow_imported": "TENSORFLOW_IMPORTED True" in measured["output"],
        "forecast_rows": sum(1 for _ in open(folder / "forecast.csv")) - 1}
    result["throughput"] = throughput(min(args.series, 10_000), args.length, args.steps,
                                      args.batch)
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out = Path(args.out) if args.out else HERE / f"panel_scale-{date.today()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
