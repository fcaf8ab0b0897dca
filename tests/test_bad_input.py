"""Every bad input gets a one-line error that names the problem, and exit status 1 or 2.

`CASES` is the catalogue: each case writes its files into an empty folder, runs one
command there and checks the message. `docs/errors.md` is generated from the same
list (`python tests/test_bad_input.py > docs/errors.md`), and a test keeps the two
in step, so the table always shows what users really get.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from conftest import host_in_fresh_process
from helpers import fill, small_tmpfs
from lstm_tf.atomic import exclusive
from lstm_tf_cli.main import cli

def _zip(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


SINE = "t,value\n" + "".join(f"{i},{(i * 7919) % 97 / 10:.1f}\n" for i in range(60))
TINY = ["--window", "4", "--epochs", "1", "--units", "2", "-q"]
TRAIN = ["train", "--data", "data.csv"] + TINY
# A long CSV of three series of 40 rows (a panel), and one whose series are all short.
PANEL = "id,value\n" + "".join(f"{name},{(i * 7919 + k) % 97 / 10:.1f}\n"
                               for k, name in enumerate("abc") for i in range(40))
SHORT_PANEL = "id,value\n" + "".join(f"{name},{i % 7}\n" for name in "ab" for i in range(5))
PROMO = "t,value,promo\n" + "".join(f"{i},{(i * 7919) % 97 / 10 + 3 * (i % 3 == 0):.1f},"
                                     f"{int(i % 3 == 0)}\n" for i in range(60))


@dataclass
class Case:
    what: str
    args: list[str]
    message: str  # a part of the one-line error
    files: dict[str, str | bytes] = field(default_factory=dict)
    needs: str | None = None  # "run", "onnx", "panel", ...: copied in from a trained/exported fixture
    locked: str | None = None  # a path that another process (this one) is writing
    full_disk: str | None = None  # a folder mounted as a full tmpfs (root only, as CI)
    hidden: tuple[str, ...] = ()  # modules that fail to import (an extra not installed)
    fresh: bool = False  # run in a new process (TensorFlow's devices are fixed when it starts)


CASES = [
    # CSV files
    Case("missing file", ["train", "--data", "nope.csv"], "file nope.csv does not exist"),
    Case("directory instead of file", ["train", "--data", "folder"],
         "folder is a directory, not a CSV file", {"folder/x": ""}),
    Case("empty file", TRAIN, "data.csv is empty", {"data.csv": ""}),
    Case("header only", TRAIN, "data.csv has a header but no data rows", {"data.csv": "t,value\n"}),
    Case("unknown column", TRAIN + ["--target", "price"],
         "no column 'price'; available: t, value", {"data.csv": SINE}),
    Case("duplicate column names", TRAIN, "duplicate column name(s) a", {"data.csv": "a,a\n1,2\n"}),
    Case("non-numeric cell", TRAIN + ["--target", "value"],
         "column 'value', line 4: 'abc' is not a number",
         {"data.csv": "t,value\n1,1\n2,2\n3,abc\n"}),
    Case("thousands separator", TRAIN + ["--target", "value"],
         "'1,234' is not a number (thousands separators and decimal commas are not supported",
         {"data.csv": 't,value\n1,"1,234"\n'}),
    Case("decimal comma", TRAIN + ["--target", "value"],
         "'3,5' is not a number (thousands separators and decimal commas are not supported",
         {"data.csv": 't,value\n1,"3,5"\n'}),
    Case("non-UTF-8 bytes", TRAIN, "data.csv is not UTF-8 text (byte 10)",
         {"data.csv": "t,value\n1,\xe9\n".encode("latin-1")}),
    Case("unparsable time", TRAIN + ["--time-column", "t"],
         "time column 't', line 3: 'tomorrow' is neither a number nor an ISO date",
         {"data.csv": "t,value\n2020-01-01,1\ntomorrow,2\n"}),
    Case("repeated time", TRAIN + ["--time-column", "t"], "line 3: '5' repeats '5'",
         {"data.csv": "t,value\n5,1\n5,2\n"}),
    Case("decreasing time", TRAIN + ["--time-column", "t"],
         "line 3: '2020-01-01' goes back in time from '2020-02-01'",
         {"data.csv": "t,value\n2020-02-01,1\n2020-01-01,2\n"}),
    Case("missing values (NaN)", TRAIN + ["--target", "value"],
         "2 missing value(s), the first at line 3; choose --fill interpolate, ffill or drop",
         {"data.csv": "t,value\n1,1\n2,NaN\n3,\n"}),
    Case("infinite value", TRAIN + ["--target", "value"],
         "column 'value' has an infinite value at line 3", {"data.csv": "t,value\n1,1\n2,inf\n"}),
    Case("too few rows", TRAIN + ["--target", "value"],
         "too few rows (5) for window 4, horizon 1 and the train/validation/test split (val 0.15, test 0.15); need at least 6 rows", {"data.csv": "t,value\n" + "1,1\n" * 5}),
    Case("5 rows with the default window", ["train", "--data", "data.csv", "--epochs", "1", "-q"],
         "too few rows (5) for horizon 1 and the train/validation/test split (val 0.15, test "
         "0.15); need at least 6 rows (a window of 2 rows and 3 training windows)",
         {"data.csv": "t,value\n" + "".join(f"{i},{i % 3}\n" for i in range(5))}),
    Case("too few rows for --test-size", TRAIN + ["--horizon", "12", "--test-size", "12"],
         "too few rows (27) for window 4, horizon 12 and a test part of 12 rows (validation "
         "0.15); need at least 28 rows",
         {"data.csv": "t,value\n" + "".join(f"{i},{i % 5}\n" for i in range(27))}),
    Case("too few rows for --val-size", TRAIN + ["--horizon", "12", "--test-size", "12",
                                                 "--val-size", "12"],
         "too few rows (30) for window 4, horizon 12 and a test part of 12 rows (validation "
         "12 rows); need at least 40 rows",
         {"data.csv": "t,value\n" + "".join(f"{i},{i % 5}\n" for i in range(30))}),
    Case("--val-size below the horizon", TRAIN + ["--horizon", "6", "--val-size", "3"],
         "--val-size 3 is shorter than the horizon (6): the part would hold no forecast",
         {"data.csv": SINE}),
    Case("--test-size below the horizon", TRAIN + ["--horizon", "6", "--test-size", "2"],
         "--test-size 2 is shorter than the horizon (6): the part would hold no forecast",
         {"data.csv": SINE}),
    Case("--scaling for a single series", TRAIN + ["--scaling", "series"],
         "--scaling series applies to a panel (--series-column or --columns-as-series)",
         {"data.csv": SINE}),
    Case("constant column", TRAIN + ["--target", "value", "--features", "flat"],
         "column 'flat' is constant in the training part",
         {"data.csv": "value,flat\n" + "".join(f"{i % 7},3\n" for i in range(60))}),
    Case("constant feature in every series", TRAIN + ["--series-column", "id", "--target", "y",
                                                     "--features", "k"],
         "column 'k' is constant in the training part of every series",
         {"data.csv": "id,y,k\n" + "".join(f"{s},{i % 7 + j},3\n" for j, s in enumerate("ab")
                                           for i in range(60))}),
    # panels: the long (--series-column) and wide (--columns-as-series) readers
    Case("missing series column", TRAIN + ["--series-column", "store"],
         "data.csv: no series column 'store'; available: id, t, y",
         {"data.csv": "id,t,y\na,1,1\nb,1,2\n"}),
    Case("duplicate (series, time)", TRAIN + ["--series-column", "id", "--time-column", "t"],
         "data.csv: series 'a' has time '1' twice, at lines 2 and 5; keep one row per series "
         "and time", {"data.csv": "id,t,y\na,1,1\nb,1,1\na,2,2\na,1,3\n"}),
    Case("duplicate (series, time): a key of two columns", TRAIN + ["--series-column", "id",
                                                                     "--time-column", "t"],
         "data.csv: series 'a' has time '1' twice, at lines 2 and 3; keep one row per series "
         "and time (or name each series by several columns: --series-column id,kind)",
         {"data.csv": "id,kind,t,y\na,x,1,1\na,z,1,2\nb,x,1,3\nb,z,1,4\n"}),
    Case("non-numeric cell in a panel", TRAIN + ["--series-column", "id"],
         "data.csv: series 'b', column 'y', line 4: 'n/a?' is not a number",
         {"data.csv": "id,y\na,1\nb,2\nb,n/a?\n"}),
    Case("empty series name", TRAIN + ["--series-column", "id"],
         "data.csv: line 3: empty series name in column 'id'", {"data.csv": "id,y\na,1\n,2\n"}),
    Case("a single series' file whose `unique_id` names several", TRAIN,
         "data.csv: column 'unique_id' names 2 series; train them as a panel with "
         "--series-column unique_id", {"data.csv": "unique_id,ds,y\na,1,1\nb,1,2\n"}),
    Case("no column left to forecast", TRAIN,
         "data.csv has no column besides the time column to forecast; available: rownames, year",
         {"data.csv": "rownames,year\n1,2000\n2,2001\n"}),
    Case("series column of a file with one series", TRAIN + ["--series-column", "id"],
         "data.csv: the series column 'id' holds one series only ('a'); leave out "
         "--series-column to train on it as a single series", {"data.csv": "id,y\na,1\na,2\n"}),
    Case("missing value in a series", TRAIN + ["--series-column", "id"],
         "data.csv: 1 missing value(s), the first in series 'b', column 'y', line 4; choose "
         "--fill interpolate, ffill or drop", {"data.csv": "id,y\na,1\nb,2\nb,\n"}),
    Case("every series empty", TRAIN + ["--series-column", "id", "--fill", "drop"],
         "data.csv: every series is empty once the rows with missing values are dropped",
         {"data.csv": "id,y\na,NA\nb,\n"}),
    Case("unparsable time in a series", TRAIN + ["--series-column", "id", "--time-column", "t"],
         "data.csv: time column 't', line 3 (series 'b'): 'soon' is neither a number nor an ISO "
         "date", {"data.csv": "id,t,y\na,2020-01-01,1\nb,soon,2\n"}),
    Case("columns as series: time goes back", TRAIN + ["--columns-as-series", "--time-column", "t"],
         "data.csv: time column 't', line 4: '2' goes back in time from '3'; rows must be in "
         "increasing time order", {"data.csv": "t,a,b\n1,1,2\n3,2,3\n2,3,4\n"}),
    Case("columns as series: a gap inside a series", TRAIN + ["--columns-as-series"],
         "data.csv: 1 missing value(s), the first in column 'a', line 3; choose --fill "
         "interpolate, ffill or drop", {"data.csv": "a,b\n1,5\n,6\n3,7\n"}),
    Case("both panel layouts", TRAIN + ["--series-column", "id", "--columns-as-series"],
         "give --series-column (a long CSV) or --columns-as-series (a wide CSV), not both",
         {"data.csv": "id,y\na,1\nb,2\n"}),
    # covariates
    Case("unknown calendar feature", TRAIN + ["--target", "value", "--calendar", "week"],
         "--calendar: unknown feature(s) week; choose from month, dayofweek, dayofmonth, "
         "dayofyear, hour, minute", {"data.csv": SINE}),
    Case("calendar features of a numeric time column",
         TRAIN + ["--target", "value", "--time-column", "t", "--calendar", "month"],
         "--calendar needs a time column of dates; data.csv's time column 't' holds plain numbers",
         {"data.csv": SINE}),
    Case("series embedding for a single series", TRAIN + ["--target", "value",
                                                          "--series-embedding", "2"],
         "--series-embedding learns a vector per series of a panel; this data is a single series",
         {"data.csv": SINE}),
    # options
    Case("window <= 0", TRAIN + ["--window", "0"], "Invalid value for '--window'"),
    Case("horizon <= 0", TRAIN + ["--horizon", "-2"], "Invalid value for '--horizon'"),
    Case("units <= 0", TRAIN + ["--units", "0"], "Invalid value for '--units'"),
    Case("layers <= 0", TRAIN + ["--layers", "0"], "Invalid value for '--layers'"),
    Case("ensemble of 0 networks", TRAIN + ["--ensemble", "0"],
         "--ensemble must be a positive integer (the number of networks), got 0",
         {"data.csv": SINE}),
    Case("ensemble of a negative number of networks", TRAIN + ["--ensemble", "-2"],
         "--ensemble must be a positive integer (the number of networks), got -2",
         {"data.csv": SINE}),
    Case("epochs <= 0", TRAIN + ["--epochs", "0"], "Invalid value for '--epochs'"),
    Case("batch size <= 0", TRAIN + ["--batch-size", "0"], "Invalid value for '--batch-size'"),
    Case("batch size not a multiple of the replicas",
         TRAIN + ["--device", "cpu", "--strategy", "mirrored", "--cpu-devices", "2",
                  "--batch-size", "5"],
         "--batch-size 5 must be a multiple of the 2 replicas, which each get an equal share of "
         "a batch; use 4 or 6", {"data.csv": SINE}, fresh=True),
    Case("split leaves no training data", TRAIN + ["--val-fraction", "0.5", "--test-fraction", "0.5"],
         "split fractions val=0.5 and test=0.5 must be in (0, 1) and leave room for training data",
         {"data.csv": SINE}),
    Case("--steps beyond horizon, multivariate", ["predict", "model.onnx", "--data", "two.csv",
                                                  "--steps", "3"],
         "--steps 3 exceeds the horizon 1; rolling forward needs a univariate model",
         {"two.csv": "a,b\n" + "1,2\n" * 10}, needs="onnx2"),
    # runs and models
    Case("run directory that is not a run", ["evaluate", "folder"],
         "folder is not an lstm-tf run (no config.json)", {"folder/readme.txt": "hi"}),
    Case("corrupt .keras file", ["evaluate", "run"], "cannot load run/model.keras: not a Keras 3 .keras file",
         {"run/model.keras": b"PK\x03\x04 definitely not a zip"}, needs="run"),
    Case(".keras written by another program (HDF5)", ["evaluate", "run"],
         "cannot load run/model.keras: not a Keras 3 .keras file",
         {"run/model.keras": b"\x89HDF\r\n\x1a\n an HDF5 file from elsewhere"}, needs="run"),
    Case(".keras written by another program (zip)", ["evaluate", "run"],
         "cannot load run/model.keras:",
         {"run/model.keras": _zip({"weights.bin": "0000", "notes.txt": "not keras"})},
         needs="run"),
    Case("evaluate --data of a missing file", ["evaluate", "run", "--data", "nope.csv"],
         "file nope.csv does not exist", needs="run"),
    Case("ONNX file that is not ONNX", ["predict", "bad.onnx", "--data", "data.csv"],
         "bad.onnx is not a valid ONNX model", {"bad.onnx": "not a model", "data.csv": SINE}),
    Case("ONNX model without lstm-tf metadata", ["predict", "bare.onnx", "--data", "data.csv"],
         "bare.onnx has no lstm-tf metadata", {"data.csv": SINE}, needs="bare"),
    Case("ONNX model with wrong input rank", ["predict", "rank2.onnx", "--data", "data.csv"],
         "'window' of rank 3 [batch, time, features]", {"data.csv": SINE}, needs="rank2"),
    Case("runtimes: a file that is not ONNX", ["runtimes", "bad.onnx"],
         "bad.onnx is not a valid ONNX model", {"bad.onnx": "not a model"}),
    Case("runtimes: ONNX model without lstm-tf metadata (refused: no window length, "
         "scale or target std to test with)", ["runtimes", "bare.onnx"],
         "bare.onnx has no lstm-tf metadata", needs="bare"),
    Case("runtimes: a model that takes another window length than its RUN",
         ["runtimes", "fixed.onnx", "run"], "fixed.onnx takes windows of 9 rows only, the run "
         "run has windows of 4; is it this run's model?", needs="fixed"),
    Case("runtimes: a panel model scaled by series, without its RUN", ["runtimes", "series.onnx"],
         "series.onnx is a panel model scaled by series: each series' statistics are inside "
         "its graph only, so windows made from the metadata would be at no series' level; "
         "give its run: lstm-tf runtimes series.onnx RUN", needs="series"),
    Case("runtimes: unknown runtime name", ["runtimes", "model.onnx", "--runtimes",
                                            "onnxruntime,tensorrt"],
         "--runtimes: unknown runtime 'tensorrt'; known runtimes: onnxruntime, openvino, "
         "tract, reference, node", needs="onnx"),
    Case("a --known column without future values at predict",
         ["predict", "model.onnx", "--data", "data.csv"],
         "data.csv: known column 'promo' has 0 of the 1 future value(s) the model needs: add 1 "
         "row(s) after the last target value, with the target empty and 'promo' filled",
         {"data.csv": PROMO}, needs="onnx-known"),
    Case("fewer rows than the window", ["predict", "model.onnx", "--data", "short.csv"],
         "short.csv has 2 rows; the model needs at least 4 (its window)", {"short.csv": "value\n1\n2\n"},
         needs="onnx"),
    Case("--out inside a regular file", TRAIN + ["--target", "value", "--out", "afile/run"],
         "cannot write afile/run: afile is a file, not a directory",
         {"data.csv": SINE, "afile": "just a file"}),
    Case("value beyond float32's range", TRAIN + ["--target", "value"],
         "column 'value', line 3: '1e39' is outside float32's finite range (±3.403e+38)",
         {"data.csv": "t,value\n1,1\n2,1e39\n3,2\n"}),
    Case("run directory being written by another train", TRAIN + ["--out", "run", "--force"],
         "run directory run is being written by another process (pid",
         {"data.csv": SINE}, locked="run"),
    Case("model being written by another export", ["export", "run", "--out", "model.onnx"],
         "model model.onnx is being written by another process (pid", needs="run",
         locked="model.onnx"),
    Case("full disk", ["predict", "model.onnx", "--data", "data.csv", "--out", "disk/f.csv"],
         "no space left on the device to write disk/f.csv; nothing was written there",
         {"data.csv": SINE}, needs="onnx", full_disk="disk"),
    Case("bench without a model", ["bench"],
         "bench: give RUN_OR_MODEL (a run directory or a .onnx file), or --train"),
    Case("bench --train with inference options", ["bench", "--train", "--batch", "4"],
         "bench --train takes no RUN_OR_MODEL or --batch"),
    # anchors
    Case("seasonal anchor without a season", TRAIN + ["--target", "value", "--anchor", "season"],
         "--anchor season needs a season (--season) of which the window (4 rows) holds the "
         "anchor's reach", {"data.csv": SINE}),
    Case("unknown anchor", TRAIN + ["--anchor", "networks"],
         "Invalid value for '--anchor': 'networks' is not one of 'auto', 'network', 'none'",
         {"data.csv": SINE}),
    Case("step model of a run with an anchor", ["export", "run", "--step", "--out", "m.onnx"],
         "forecasts relative to each window's last value (its anchor), which a model fed one row "
         "at a time cannot know in advance", needs="run"),
    # backtests (the run: 60 rows, window 4, a test part of 9 rows)
    Case("backtest with more windows than the data holds", ["backtest", "run", "--windows", "100"],
         "--windows 100 --step 1 need the last 100 rows and a window of 4 rows before them",
         {"data.csv": SINE}, needs="run"),
    Case("backtest --step 0", ["backtest", "run", "--step", "0"], "Invalid value for '--step'",
         {"data.csv": SINE}, needs="run"),
    Case("backtest beyond the run's held-out rows, without --refit",
         ["backtest", "run", "--windows", "20"],
         "overlaps the rows the run trained or validated on (before row 51); its test part holds "
         "9 window(s) with step 1; retrain it with --backtest-windows 20 (or a larger "
         "--test-fraction), or pass --refit", {"data.csv": SINE}, needs="run"),
    Case("unknown baseline", ["backtest", "run", "--baselines", "ets,prophet"],
         "unknown baseline 'prophet'; known baselines: ets, arima", {"data.csv": SINE},
         needs="run"),
    Case("baselines without the stats extra", ["backtest", "run", "--baselines", "ets"],
         '--baselines needs statsforecast: pip install "lstm-tf[stats]"', {"data.csv": SINE},
         needs="run", hidden=("statsforecast", "statsforecast.models")),
    # quantiles (probabilistic forecasts)
    Case("quantile level outside (0, 1)", TRAIN + ["--quantiles", "0.1,1.2"],
         "--quantiles: 1.2 is outside (0, 1); a quantile level is a probability strictly "
         "between 0 and 1", {"data.csv": SINE}),
    Case("quantile level 0", TRAIN + ["--quantiles", "0,0.5"], "--quantiles: 0 is outside (0, 1)",
         {"data.csv": SINE}),
    Case("quantile levels not increasing", TRAIN + ["--quantiles", "0.9,0.1"],
         "--quantiles: levels must increase (0.9 then 0.1); e.g. 0.1,0.9", {"data.csv": SINE}),
    Case("repeated quantile level", TRAIN + ["--quantiles", "0.1,0.5,0.5,0.9"],
         "--quantiles: 0.5 is repeated; each level once, in increasing order", {"data.csv": SINE}),
    Case("quantiles with a series embedding", TRAIN + ["--quantiles", "0.1,0.5,0.9",
                                                       "--series-embedding", "4"],
         "--quantiles cannot be combined with --series-embedding yet", {"data.csv": SINE}),
    Case("quantiles with an ensemble", TRAIN + ["--quantiles", "0.1,0.5,0.9", "--ensemble", "3"],
         "--quantiles cannot be combined with --ensemble yet: an ensemble gives point forecasts",
         {"data.csv": SINE}),
    Case("quantile level that is not a number", TRAIN + ["--quantiles", "0.1,high"],
         "--quantiles: 'high' is not a number; give levels such as 0.1,0.5,0.9",
         {"data.csv": SINE}),
    Case("--quantiles with --loss", TRAIN + ["--quantiles", "0.1,0.9", "--loss", "huber"],
         "--quantiles trains with the pinball (quantile) loss; --loss huber is for a point "
         "forecast: leave out --loss", {"data.csv": SINE}),
    # tuning
    Case("tune without the tune extra", ["tune", "--data", "data.csv", "--trials", "1"],
         'lstm-tf tune needs keras-tuner: pip install "lstm-tf[tune]"', {"data.csv": SINE},
         hidden=("keras_tuner",)),
    Case("tune without scikit-learn (the bayesian search)",
         ["tune", "--data", "data.csv", "--trials", "1"],
         'lstm-tf tune --algorithm bayesian needs scikit-learn: pip install "lstm-tf[tune]" '
         "(or --algorithm hyperband)", {"data.csv": SINE}, hidden=("sklearn",)),
    Case("tune --trials 0", ["tune", "--data", "data.csv", "--trials", "0"],
         "Invalid value for '--trials'", {"data.csv": SINE}),
    # panels: training, export, predict
    Case("every series too short", TRAIN + ["--series-column", "id"],
         "every one of the 2 series is too short for window 4 + horizon 1 before its test part "
         "(the longest has 5 rows; one series needs at least 6)",
         {"data.csv": SHORT_PANEL}),
    Case("export --step of a panel run", ["export", "prun", "--step", "--out", "p.onnx"],
         "the run prun is a panel run: export its window model", needs="panel"),
    Case("unknown series under per-series statistics",
         ["predict", "panel.onnx", "--data", "new.csv", "--series-column", "id"],
         "new.csv: no series the model can forecast (zz: not among the series the model was "
         "trained on", {"new.csv": "id,value\n" + "zz,1\n" * 10}, needs="panel"),
    Case("series column for a single-series model",
         ["predict", "model.onnx", "--data", "data.csv", "--series-column", "id"],
         "--series-column: model.onnx was trained on a single series", {"data.csv": SINE},
         needs="onnx"),
    # the gate explorer page (inspect --html)
    Case("gate page of a panel run", ["inspect", "prun", "--html", "g.html"],
         "prun is a panel run; the gate page, like the gate model (export --gates), serves "
         "single-series runs only", needs="panel"),
    Case("gate page not named .html", ["inspect", "run", "--html", "g.txt"],
         "--html g.txt must end in .html", needs="run"),
    Case("gate page with --out", ["inspect", "run", "--html", "g.html", "--out", "gates"],
         "--out is for the NPZ, CSV and figure; --html names its own file", needs="run"),
    Case("gate page over an existing file", ["inspect", "run", "--html", "g.html"],
         "file g.html already exists; pass --force to replace it", {"g.html": "old"},
         needs="run"),
    Case("gate page from a window out of range", ["inspect", "run", "--html", "g.html",
                                                  "--index", "99"],
         "window index 99 is out of range: the test part has 9 window(s), use --index 0..8",
         {"data.csv": SINE}, needs="run"),
]


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    return build_artefacts(tmp_path_factory.mktemp("bad_input"))


def build_artefacts(root: Path) -> Path:
    """A tiny trained run and exported models that the model cases copy from."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    (root / "data.csv").write_text(SINE)
    (root / "promo.csv").write_text(PROMO)
    (root / "two.csv").write_text("a,b\n" + "".join(f"{np.sin(i)},{i % 5}\n" for i in range(60)))
    runner = CliRunner()
    previous = os.getcwd()
    os.chdir(root)
    try:
        for run, data in (("run", ["--data", "data.csv", "--target", "value"]),
                          ("run2", ["--data", "two.csv", "--target", "a", "--features", "b"]),
                          ("run3", ["--data", "promo.csv", "--target", "value",
                                    "--known", "promo"])):
            result = runner.invoke(cli, ["train", "--out", run] + data + TINY)
            assert result.exit_code == 0, result.output
        (root / "panel.csv").write_text(PANEL)
        result = runner.invoke(cli, ["train", "--out", "prun", "--data", "panel.csv",
                                     "--series-column", "id", "--scaling", "series",
                                     "--ensemble", "1", "--anchor", "auto"] + TINY)
        # (one network, not 5; anchor + network: one training, where the default trains a
        # second time when its network alone loses to the fitted anchor)
        assert result.exit_code == 0, result.output
        for run, out in (("run", "model.onnx"), ("run2", "model2.onnx"),
                         ("prun", "panel.onnx"), ("run3", "model3.onnx")):
            result = runner.invoke(cli, ["export", run, "--out", out, "--no-check"])
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(previous)
    bare = onnx.load(root / "model.onnx")
    del bare.metadata_props[:]
    onnx.save(bare, root / "bare.onnx")
    rank2 = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["window"], ["forecast"])], "rank2",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["batch", 4])]))
    rank2.metadata_props.extend(onnx.load(root / "model.onnx").metadata_props)
    onnx.save(rank2, root / "rank2.onnx")
    fixed = onnx.load(root / "model.onnx")  # as an unrolled gate model: one window length
    fixed.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 9
    onnx.save(fixed, root / "fixed.onnx")
    series = onnx.load(root / "model.onnx")  # what a series-scaled panel model's metadata says
    meta = json.loads(series.metadata_props[0].value)
    meta.update(panel={"scaling": "series", "series": ["a", "b"], "series_column": "id"},
                scaler={"per_series": True})
    series.metadata_props[0].value = json.dumps(meta)
    onnx.save(series, root / "series.onnx")
    return root


def run_case(case: Case, folder: Path, artefacts: Path | None,
             hosted=None) -> tuple[int, str]:
    """Lay out the case's files in `folder`, run it there; (exit code, output). A `fresh`
    case runs in a new process: `hosted(case)`'s, if given, else one of its own."""
    if case.needs in ("run", "fixed"):
        shutil.copytree(artefacts / "run", folder / "run")
    elif case.needs in ("onnx", "onnx2", "onnx-known"):
        shutil.copy(artefacts / {"onnx": "model.onnx", "onnx2": "model2.onnx",
                                 "onnx-known": "model3.onnx"}[case.needs],
                    folder / "model.onnx")
    elif case.needs == "panel":  # a series-scaled panel run and its model
        shutil.copytree(artefacts / "prun", folder / "prun")
        shutil.copy(artefacts / "panel.onnx", folder / "panel.onnx")
    if case.needs in ("bare", "rank2", "fixed", "series"):
        shutil.copy(artefacts / f"{case.needs}.onnx", folder / f"{case.needs}.onnx")
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.ExitStack() as stack:
            if case.locked:
                stack.enter_context(exclusive(case.locked))
            if case.full_disk:
                fill(stack.enter_context(small_tmpfs(folder / case.full_disk, "64k")))
            if case.hidden:  # `import statsforecast` fails as if it were not installed
                stack.enter_context(mock.patch.dict(sys.modules, dict.fromkeys(case.hidden)))
            if case.fresh:
                return hosted(case) if hosted else _run_in_new_process(case.args)
            result = CliRunner().invoke(cli, case.args)
    finally:
        os.chdir(previous)
    return result.exit_code, result.output


def _run_in_new_process(args: list[str]) -> tuple[int, str]:
    """`lstm-tf ARGS...` in a new Python process; (exit code, stdout and stderr)."""
    root = Path(__file__).resolve().parent.parent
    path = os.pathsep.join([str(root), str(root / ".dev"), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from lstm_tf_cli.main import cli; "
         "cli(sys.argv[1:], prog_name='lstm-tf')", *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=600)
    return result.returncode, result.stdout + result.stderr


EXIT_MARK = "@@ exit status "  # on stderr, last, in a fresh case's part of the fresh process


def _fresh_case_code(case: Case):
    """The code of `case` (a `fresh` one) as a part of the session's new process
    (tests/conftest.py: `fresh_process`), given that process's folder: `lstm-tf ARGS` run
    as the command line runs it, in a folder of its own holding the case's files."""
    def code(root: Path) -> str:
        folder = root / f"bad-input-{CASES.index(case)}"
        folder.mkdir(exist_ok=True)
        for name, content in case.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return ("import os, sys\nfrom lstm_tf_cli.main import cli\n"
                f"os.chdir({str(folder)!r})\n"
                f"try:\n    cli({case.args!r}, prog_name='lstm-tf')\n"
                "except SystemExit as stop:\n"
                f"    print({EXIT_MARK!r} + str(stop.code), file=sys.stderr, flush=True)\n")
    return code


# (after test_distribute's runs, whose first one splits the CPU in two devices)
for _case in CASES:
    if _case.fresh:
        host_in_fresh_process(f"bad input: {_case.what}", 10, _fresh_case_code(_case))


def _hosted(fresh_process):
    """`run_case`'s runner of a `fresh` case: its part of the session's new process."""
    def output_of(case: Case) -> tuple[int, str]:
        stdout, stderr = fresh_process[1][f"bad input: {case.what}"]
        stderr, code = stderr.rsplit(EXIT_MARK, 1)
        return int(code), stdout + stderr
    return output_of


@pytest.mark.parametrize("case", CASES, ids=[case.what for case in CASES])
def test_bad_input_gets_one_line_error(case, artefacts, tmp_path, request):
    if case.full_disk and os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root and runs this case)")
    hosted = _hosted(request.getfixturevalue("fresh_process")) if case.fresh else None
    code, output = run_case(case, tmp_path, artefacts, hosted)
    lines = output.strip().splitlines()
    assert code in (1, 2), output
    assert "Traceback" not in output
    assert lines[-1].startswith("Error: ") and case.message in lines[-1], output
    if code == 1:  # library errors are exactly one line; click usage errors add a usage hint
        assert len(lines) == 1, output


def table(rows: list[tuple[str, str]]) -> str:
    out = ["# Bad input and the errors it gets", "",
           "Generated by `python tests/test_bad_input.py > docs/errors.md` from the cases that "
           "`tests/test_bad_input.py` runs; a test keeps this table and the cases in step.", "",
           f"{len(rows)} cases.", "", "| bad input | error (exit status 1; 2 for a bad option) |",
           "| --- | --- |"]
    out += ["| {} | `{}` |".format(what, error.replace("|", "\\|")) for what, error in rows]
    return "\n".join(out) + "\n"


def test_docs_table_lists_every_case():
    doc = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    listed = [line for line in doc.splitlines() if line.startswith("| ") and "`" in line]
    assert len(listed) == len(CASES), "regenerate docs/errors.md"
    for case, line in zip(CASES, listed):
        assert line.startswith(f"| {case.what} |") and case.message.replace("|", "\\|") in line


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "artefacts").mkdir()
        built = build_artefacts(root / "artefacts")
        rows = []
        for index, case in enumerate(CASES):
            folder = root / f"case{index}"
            folder.mkdir()
            _, output = run_case(case, folder, built)
            rows.append((case.what, output.strip().splitlines()[-1]))
    sys.stdout.write(table(rows))
