"""The trend candidates (drift, theta) in `auto`, anchors alone: held-out MAE with and without
them on nine real series (anchor_study.py's protocol and rule, without its statistical fits
and pmdarima's series), relative to naive persistence, and their ratio.

    python benchmarks/trend_candidates.py
"""
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lstm_tf import anchors

warnings.filterwarnings("ignore")
TRENDS = anchors.TRENDS  # the candidates measured
def series():
    import statsmodels.api as sm

    from lstm_tf.data import load_builtin
    macro = sm.datasets.macrodata.load_pandas().data
    found = {"realgdp_q": (macro.realgdp.values, 4, 4), "cpi_q": (macro.cpi.values, 4, 4),
             "unemp_q": (macro.unemp.values, 4, 4), "m1_q": (macro.m1.values, 4, 4),
             "infl_q": (macro.infl.values, 4, 4),
             "nile_y": (sm.datasets.nile.load_pandas().data.volume.values, None, 4),
             "elnino": (load_builtin("elnino").values[:, 0], 12, 12),
             "sunspots": (load_builtin("sunspots").values[:, 0], 11, 4),
             "co2": (load_builtin("co2").values[:, 0], 52, 13)}
    return {k: (np.asarray(v, np.float64), m, h) for k, (v, m, h) in found.items()}
ratios = []
for name, (y, season, horizon) in series().items():
    origins = 24 if len(y) > 1000 else 12
    first = len(y) - (origins + horizon - 1)
    window = 3 * season + 1 if season else 24
    window = min(window, int((first * 0.85 - horizon) // 3))  # as anchor_study.py
    mean, std = y[:first].mean(), y[:first].std()
    z = (y - mean) / std
    starts = np.arange(window, first - horizon + 1)
    n_val = max(1, round(0.15 * len(starts)))
    test = np.arange(first, len(y) - horizon + 1)
    actual = y[test[:, None] + np.arange(horizon)]
    windows = z[test[:, None] + np.arange(-window, 0)]
    naive = np.mean(np.abs(y[test - 1][:, None] - actual))
    got = {}
    for label, trends in (("base", ()), ("trend", TRENDS)):
        anchors.TRENDS = trends
        options = anchors.fit_candidates(z, starts[:-n_val], starts[-n_val:], horizon, season, window)
        errors = {n: o[2].mean() for n, o in options.items()}
        ranked = sorted(errors, key=errors.get)
        picked = [n for n in ranked[:anchors.COMBINED] if errors[n] <= anchors.CLOSE * errors[ranked[0]]]
        f = np.mean([windows @ options[n][0].T + options[n][1] for n in picked], axis=0)
        got[label] = (float(np.mean(np.abs(f * std + mean - actual))), picked)
    r = got["trend"][0] / got["base"][0]
    ratios.append(r)
    print(f"{name:18s} window {window:3d} h {horizon:2d}  base/naive {got['base'][0]/naive:.3f} {got['base'][1]}  trend/naive {got['trend'][0]/naive:.3f} {got['trend'][1]}  ratio {r:.3f}", flush=True)
print(f"geometric mean ratio trend/base {np.exp(np.mean(np.log(ratios))):.4f}; worse on {sum(r > 1.0001 for r in ratios)}, better on {sum(r < 0.9999 for r in ratios)} of {len(ratios)}")
