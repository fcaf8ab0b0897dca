"""Seasonal monthly series of ten years under the competition protocol (h = 18, season 12).

The monthly development series of `m4_protocol.py` are long (150 months and more) or
seasonally adjusted (the US employment sectors); the judging's monthly series are often
seasonal and about ten years long. These 10 are real and do not overlap: the built-in
El Nino sea surface temperatures cut into six pieces of 120 months (1951-2010) and Mauna Loa
co2 as monthly means in four (1962-2001).

    python benchmarks/monthly_seasonal.py [--anchors | --panel] [--out FILE]
    MONTHS=72 python benchmarks/monthly_seasonal.py ...   (pieces of 72 months: 17 series)

As `quarterly_seasonal.py` (its `main`): the default `lstm-tf train --horizon 18
--test-size 18` on each series against statsforecast's methods on the same rows; `--anchors`
the anchor alone (seconds); `--panel` the ten as one panel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quarterly_seasonal  # noqa: E402

HORIZON, SEASON = 18, 12
LENGTH = int(os.environ.get("MONTHS", 120))  # each piece's months


def series() -> dict[str, tuple[list[str], np.ndarray]]:
    """name -> (month start dates, values): the last pieces of LENGTH months of each."""
    import pandas as pd

    from lstm_tf.data import load_builtin

    elnino = load_builtin("elnino")
    co2 = load_builtin("co2")
    weekly = pd.Series(co2.values[:, 0], index=pd.to_datetime(list(co2.time)))
    monthly = weekly.resample("MS").mean().interpolate()
    sources = {"elnino": ([f"{str(t)[:7]}-01" for t in elnino.time], elnino.values[:, 0]),
               "co2": ([str(t.date()) for t in monthly.index], monthly.to_numpy(float))}
    found = {}
    for name, (times, values) in sources.items():
        count = len(values) // LENGTH
        for piece in range(count):
            start = len(values) - (count - piece) * LENGTH
            found[f"{name}-{piece}"] = (list(times[start:start + LENGTH]),
                                        np.asarray(values[start:start + LENGTH], float))
    return found


if __name__ == "__main__":
    quarterly_seasonal.main(series, series, HORIZON, SEASON, "monthly", __doc__)
