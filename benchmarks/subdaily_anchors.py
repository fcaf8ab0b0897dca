"""The anchors alone on the sub-daily and weekly cases of m4_protocol.py, by window length:
no network is trained (seconds per case), so window lengths and anchor candidates can
be compared on the competition protocol's held-out block before any training run.

    python benchmarks/subdaily_anchors.py [--windows 25,49,73,...] [--only NAME,...]
                                          [--anchor auto] [--out FILE]

For each case and window: the anchor `auto` chooses (its parts), its validation MAE (in
z-scores, what `auto` ranks by) and its MASE on the held-out block (m4_protocol's MASE),
and every candidate's held-out MASE. The same split as `lstm-tf train --horizon h
--test-size h`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import m4_protocol


def anchor_scores(csv: Path, case, window: int | None, anchor: str = "auto") -> dict:
    from lstm_tf import anchors as anchors_lib
    from lstm_tf.config import DataConfig
    from lstm_tf.data.prepare import load_series, prepare

    config = DataConfig(dataset=None, path=str(csv), time_column="time", horizon=case.horizon,
                        test_size=case.horizon, window=window, anchor=anchor)
    series = load_series(config)
    prepared = prepare(series, config)
    values = series.values[:, 0]
    history, actual = values[:-case.horizon], values[-case.horizon:]
    scale = m4_protocol.mase_scale(history, case.season)
    test = prepared.starts["test"]

    def mase(anchor):
        forecast = replace(prepared, anchor=anchor).forecast(None, test, config.window,
                                                             config.horizon)[0, :, 0]
        return float(np.mean(np.abs(forecast - actual)) / scale)

    _, report = anchors_lib.choose(prepared.scaled, prepared.starts["train"],
                                   prepared.starts["val"], config.horizon, 1, config.season,
                                   config.window, "auto")
    options = anchors_lib.fit_candidates(prepared.scaled[:, 0], prepared.starts["train"],
                                         prepared.starts["val"], config.horizon, config.season,
                                         config.window)
    candidates = {name: mase(anchors_lib.Anchor(w[None], b[None], [[name]]))
                  for name, (w, b, _) in options.items()
                  if name.split("/")[0] not in ("drift", "theta")}
    return {"window": config.window, "season": config.season,
            "train_windows": len(prepared.starts["train"]),
            "chosen": prepared.anchor.describe(), "mase": mase(prepared.anchor),
            "validation": {k: round(v, 4) for k, v in report["target 0"].items()},
            "candidates_mase": candidates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="", help="comma-separated; empty: the default")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--anchor", default="auto")
    parser.add_argument("--combine", default="",
                        help="comma-separated COMBINED:CLOSE pairs of auto's averaging to "
                        "compare (e.g. 3:1.1,5:2); empty: the library's")
    parser.add_argument("--no-ar-season", action="store_true",
                        help="auto without the ar-season candidate (as before it)")
    parser.add_argument("--out")
    args = parser.parse_args()
    from lstm_tf import anchors as anchors_lib

    anchors_lib.AR_SEASON = not args.no_ar_season
    combines = [tuple(float(x) for x in pair.split(":")) for pair in args.combine.split(",")
                if pair] or [(anchors_lib.COMBINED, anchors_lib.CLOSE)]
    windows = [int(w) for w in args.windows.split(",") if w] or [None]
    cases = [c for c in m4_protocol.CASES if c.name in m4_protocol.SUBDAILY
             and (not args.only or c.name in args.only.split(","))]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases:
            csv = Path(scratch) / f"{case.name}.csv"
            m4_protocol.write_csv(case, m4_protocol.load(case.name), csv)
            for window, (combined, close) in [(w, c) for w in windows for c in combines]:
                anchors_lib.COMBINED, anchors_lib.CLOSE = int(combined), close
                r = {"case": case.name, "combine": [int(combined), close],
                     **anchor_scores(csv, case, window, args.anchor)}
                results.append(r)
                print(f"{case.name} window {r['window']} combine {int(combined)}:{close}: "
                      f"{r['mase']:.3f} ({r['chosen']}); "
                      + ", ".join(f"{k} {v:.3f}" for k, v in r["candidates_mase"].items()),
                      flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    for window, (combined, close) in [(w, c) for w in windows for c in combines]:
        found = [r["mase"] for r in results if r["combine"] == [int(combined), close]
                 and (window is None or r["window"] == window)]
        print(f"window {window or 'default'} combine {int(combined)}:{close}: geometric-mean "
              f"MASE {np.exp(np.mean(np.log(found))):.3f} over {len(found)} cases")


if __name__ == "__main__":
    main()
