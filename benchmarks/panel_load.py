"""How fast a panel's long CSV loads: the readers side by side on one file, in one run.

The file: `synthetic_panel(10_000, 500)` written by `write_long_csv` (5 million rows of
`series,time,value`, monthly dates). Every reader runs in a fresh Python process (so
its import time counts, as it does for `lstm-tf predict`), `--repeats` times, the
readers interleaved; the JSON holds the median wall and CPU seconds (user + system, all
threads) and the peak RSS of each, and the machine's load average around the runs:

- numpy: `np.loadtxt` with a structured dtype (the fastest NumPy-only way to read
  text and numbers together);
- pyarrow: `pyarrow.csv.read_csv` (multithreaded, typed columns);
- pandas: `pandas.read_csv` (C engine, typed columns);
- polars: `polars.read_csv` (when installed);
- read_long_csv: lstm-tf's reader end to end (pyarrow, then series codes, time
  parsing, the (series, time) order check, duplicate and value checks, the Panel),
  on the file as written (sorted) and with its rows shuffled (the sort runs);
- careful reader: the pure-Python reader that names a bad line (run only when pyarrow
  refuses a file), once, with `--careful`.

The bar (issue 12): read_long_csv loads the 5-million-row file in 15 s or less.

    python benchmarks/panel_load.py [--series 10000] [--length 500] [--repeats 3]
        [--careful] [--out benchmarks/panel_load-<date>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each snippet reads FILE and sets `rows`; the harness times it from the first import.
READERS = {
    "numpy": """
import numpy as np
table = np.loadtxt(FILE, delimiter=",", skiprows=1,
                   dtype=[("series", "U16"), ("time", "U10"), ("value", "f8")])
rows = len(table)
""",
    "pyarrow": """
import pyarrow as pa, pyarrow.csv as pacsv
table = pacsv.read_csv(FILE, convert_options=pacsv.ConvertOptions(column_types={
    "series": pa.string(), "time": pa.string(), "value": pa.float64()}))
rows = table.num_rows
""",
    "pandas": """
import pandas as pd
table = pd.read_csv(FILE, dtype={"series": str, "time": str, "value": "float64"})
rows = len(table)
""",
    "polars": """
import polars as pl
table = pl.read_csv(FILE, schema_overrides={"series": pl.Utf8, "time": pl.Utf8,
                                            "value": pl.Float64})
rows = table.height
""",
    "read_long_csv": """
from lstm_tf.data.panel_csv import read_long_csv
panel = read_long_csv(FILE, "series", time_column="time")
rows = len(panel.values)
""",
    "read_long_csv, shuffled rows": """
from lstm_tf.data.panel_csv import read_long_csv
panel = read_long_csv(FILE.replace(".csv", "-shuffled.csv"), "series", time_column="time")
rows = len(panel.values)
""",
    "careful reader": """
from pathlib import Path
from lstm_tf.data import panel_csv
path = Path(FILE)
table = panel_csv._read_careful(path, FILE, panel_csv._header(path, FILE), ["value"],
                             ["series", "time"], "series")
rows = table.rows
""",
}

# Peak RSS from VmHWM: getrusage's ru_maxrss would keep the parent's high-water mark
# across fork and exec.
HARNESS = """
import os, sys, time
FILE = sys.argv[1]
start, cpu = time.perf_counter(), os.times()
{code}
seconds = time.perf_counter() - start
cpu = sum(os.times()[:2]) - sum(cpu[:2])  # user + system, every thread
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(seconds, cpu, rows, peak)
"""


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode == 0


def run_reader(name: str, path: Path) -> tuple[float, float, int, float]:
    """Wall seconds, CPU seconds, rows and peak RSS (MiB) of one fresh process running
    reader `name`."""
    code = HARNESS.format(code=READERS[name])
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr}")
    seconds, cpu, rows, rss_kib = result.stdout.split()
    return float(seconds), float(cpu), int(rows), int(rss_kib) / 1024


def write_files(folder: Path, series: int, length: int) -> Path:
    import numpy as np
    import pyarrow.csv as pacsv

    from lstm_tf.data.panel_csv import write_long_csv
    from lstm_tf.data.sources import synthetic_panel

    path = folder / "panel.csv"
    panel = synthetic_panel(series, length, seed=0)
    write_long_csv(panel, path)
    table = pacsv.read_csv(path)
    order = np.random.default_rng(0).permutation(table.num_rows)
    pacsv.write_csv(table.take(order), folder / "panel-shuffled.csv",
                    pacsv.WriteOptions(quoting_style="needed"))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--careful", action="store_true",
                        help="also time the careful pure-Python reader (once)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / f"panel_load-{date.today()}.json")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = write_files(Path(folder), args.series, args.length)
        write_seconds = time.perf_counter() - started
        size = path.stat().st_size
        print(f"wrote {args.series} x {args.length} rows ({size / 2**20:.0f} MiB) and a "
              f"shuffled copy in {write_seconds:.1f} s", flush=True)
        names = [name for name in READERS if name != "careful reader"]
        names = [name for name in names if name != "polars" or available("polars")]
        load_before = os.getloadavg()[0]
        runs: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in names}
        for _ in range(args.repeats):  # interleaved: a slow spell on the machine hits all
            for name in names:
                runs[name].append(run_reader(name, path))
        if args.careful:
            runs["careful reader"] = [run_reader("careful reader", path)]
        load_after = os.getloadavg()[0]
        results = {}
        for name, measured in runs.items():
            rows = {row for _, _, row, _ in measured}
            assert rows == {args.series * args.length}, (name, rows)
            results[name] = {
                "median_seconds": round(statistics.median(m[0] for m in measured), 3),
                "median_cpu_seconds": round(statistics.median(m[1] for m in measured), 3),
                "peak_rss_mib": round(max(m[3] for m in measured), 1),
                "repeats": len(measured),
            }
            print(f"{name:30s} {results[name]['median_seconds']:7.2f} s wall "
                  f"{results[name]['median_cpu_seconds']:7.2f} s CPU   "
                  f"peak RSS {results[name]['peak_rss_mib']:7.1f} MiB", flush=True)
    bar = results["read_long_csv"]["median_seconds"]
    report = {
        "what": "median wall and CPU seconds (imports included) and peak RSS of reading a long CSV "
                "of series,time,value in a fresh process",
        "file": {"series": args.series, "length": args.length,
                 "rows": args.series * args.length, "bytes": size},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    # other work on the machine inflates wall seconds (CPU seconds less so)
                    "load_average_1min": [round(load_before, 2), round(load_after, 2)]},
        "versions": versions(),
        "readers": results,
        "bar_seconds": 15,
        "meets_bar": bar <= 15 and results["read_long_csv, shuffled rows"]["median_seconds"] <= 15,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for package in ("numpy", "pyarrow", "pandas", "polars"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    main()
