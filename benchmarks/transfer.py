"""Does a network pretrained on a generated corpus help short series? (`--init RUN`)

Pretrains the default network on a synthetic panel (lstm_tf.data.sources.synthetic_panel,
plain step numbers: no calendar), horizon 6, then trains every short yearly development
series (the m4 protocol: last 6 held out) with and without `--init` of that run and
compares their MASE (in-sample naive scale).

    python benchmarks/transfer.py [--series 400] [--length 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import m4_protocol as protocol  # noqa: E402

HORIZON = 6


def short_series() -> dict[str, tuple[list[str], np.ndarray]]:
    found = {}
    for name in ("nile", "sunspots"):
        found.update(protocol.load(name))
    fertility = protocol.load("fertility")
    for code in ("USA", "IND", "BRA", "JPN", "NGA", "DEU"):
        found[f"fertility-{code}"] = fertility[code]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400)
    parser.add_argument("--length", type=int, default=60)
    args = parser.parse_args()
    from lstm_tf.data.panel_csv import write_long_csv
    from lstm_tf.data.sources import synthetic_panel

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        corpus = scratch / "corpus.csv"
        write_long_csv(synthetic_panel(args.series, args.length, seed=11, frequency=None),
                       corpus)
        pretrained = scratch / "pretrained"
        seconds, metrics, error = protocol.run_lstm_tf(
            ["--data", str(corpus), "--series-column", "series", "--time-column", "time",
             "--horizon", str(HORIZON), "--test-size", str(HORIZON)], pretrained, [])
        if error:
            raise SystemExit(error)
        print(f"pretrained on {args.series} x {args.length} in {seconds:.0f} s, kept "
              f"{metrics['network_kept']}", flush=True)
        case = protocol.Case("short", "series", "yearly", HORIZON, 1, True)
        for name, (times, values) in short_series().items():
            path = scratch / f"{name}.csv"
            options = protocol.write_csv(case, {name: (times, values)}, path) + [
                "--horizon", str(HORIZON), "--test-size", str(HORIZON)]
            row = {}
            for label, extra in (("scratch", []), ("init", ["--init", str(pretrained)])):
                run = scratch / f"{name}-{label}"
                _, metrics, error = protocol.run_lstm_tf(options, run, extra)
                if error:
                    row[label] = error
                    continue
                forecast = protocol.lstm_tf_forecasts(run)["lstm_tf"]["_"]
                actual, history = values[-HORIZON:], values[:-HORIZON]
                row[label] = float(np.mean(np.abs(forecast - actual))
                                   / protocol.mase_scale(history, 1))
                row[f"{label}_kept"] = metrics["network_kept"]
            results[name] = row
            print(name, row, flush=True)
    both = [r for r in results.values() if isinstance(r.get("init"), float)
            and isinstance(r.get("scratch"), float)]
    summary = {"series": len(both),
               "gmean_scratch": protocol.gmean([r["scratch"] for r in both]),
               "gmean_init": protocol.gmean([r["init"] for r in both])}
    print(summary)
    out = Path("benchmarks/transfer-" + __import__("datetime").date.today().isoformat() + ".json")
    out.write_text(json.dumps({"corpus": [args.series, args.length], "results": results,
                               "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
