"""Every forecast the floor weighs, on runs trained once: what validation sees, what the
held-out block says.

The floor (`lstm_tf.train.floor`) chooses on the validation windows among the model,
naive persistence, seasonal naive, the fitted anchor and the mean of the model and each
of them. To measure a change of that rule without training again, train each case once
without the floor and keep the runs:

    python benchmarks/m4_protocol.py --quick --keep-runs DIR -- --no-floor
    python benchmarks/floor_candidates.py DIR [--out FILE]

For every kept run (DIR/run-<case>) this prints each candidate's validation MAE (a
panel's series in MASE units, as the floor sees them), its MASE on each series' held-out
block (the benchmark's: the run's test window, scaled by the in-sample seasonal naive
MAE; the mean over a panel's series), and which candidate the floor would choose. The
floor's candidates are the library's own (`train.floor_candidates`, `floor_forecasts`).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import m4_protocol  # noqa: E402  (the cases, their data and MASE)


def study(run: Path, case: m4_protocol.Case) -> dict:
    from lstm_tf import metrics as metrics_lib
    from lstm_tf import runs
    from lstm_tf.data.prepare import load_prepared
    from lstm_tf.train import floor_candidates, floor_forecasts

    config = runs.load_config(run)
    model = runs.load_model(run)
    # Prepared again as training prepared it (deterministic): the fallback anchor of
    # anchor `network` is not saved in the run.
    prepared, _ = load_prepared(copy.deepcopy(config.data))
    prepared.series_input = bool(config.model.series_embedding)
    data = config.data
    candidates = floor_candidates(prepared, config)
    val = prepared.starts["val"]
    scale = prepared.error_scale(val)[:, None, None]
    actual = prepared.actual(val, data.window, data.horizon)
    validation = {name: float(metrics_lib.mae(f / scale, actual / scale))
                  for name, f in floor_forecasts(model, prepared, config, candidates,
                                                 val).items()}
    chosen = min(validation, key=validation.get)
    chosen = chosen if validation[chosen] < validation["model"] else "model"

    series = load_case(case)
    names = config.panel["series"] if config.panel else [next(iter(series))]
    test = prepared.starts["test"]
    of = prepared.series_of["test"] if config.panel else np.zeros(len(test), int)
    held_out = {}
    for name, forecast in floor_forecasts(model, prepared, config, candidates, test).items():
        found = {names[s]: forecast[i, :, 0] for i, s in enumerate(of)}
        held_out[name] = m4_protocol.held_out_mase(found, series, case)
    return {"case": case.name, "members": config.model.members, "validation": validation,
            "held_out": held_out, "chosen": chosen}


def load_case(case):
    return m4_protocol.load(case.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="the directory of m4_protocol.py --keep-runs")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args()
    results = []
    for case in m4_protocol.CASES:
        run = Path(args.runs) / f"run-{case.name}"
        if not (run / "metrics.json").exists():
            continue
        r = study(run, case)
        results.append(r)
        names = list(r["validation"])
        print(f"{case.name} (K = {r['members']}): floor chooses {r['chosen']} -> held-out "
              f"{r['held_out'][r['chosen']]:.3f}")
        for name in names:
            print(f"    {name:14s} validation {r['validation'][name]:8.4f}   "
                  f"held-out MASE {r['held_out'][name]:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"runs": args.runs, "results": results},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
