"""The gate explorer page: `lstm-tf inspect RUN --html FILE`, one self-contained HTML file.

The page (exported/web/gates.js and the modules it imports, inlined) computes every gate,
state and h of every LSTM layer for any window of the run's data with the tutorial's
equations in plain JavaScript, from the weights embedded as JSON (onnxruntime-web's wasm
would be megabytes in every page; the equations are twenty lines). The run's own
forecaster (`window_arrays`) gives, per window, the network's input, the anchor's
forecast in original units and the slope of the (affine) un-scaling:

    forecast = anchor + slope * (head(h_T of the last layer))

Importing this module does not import TensorFlow; `page_data` does.
"""

from __future__ import annotations

import base64
import json
import re
import time as time_lib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import runs
from .atomic import refuse_overwrite, write_text
from .data.prepare import evaluation_data
from .errors import UserError
from .inspect_gates import _time_labels, check_inspectable, pick_window
from .quantiles import median_index

FORMAT = "lstm-tf-gates/1"
WEB = Path(__file__).resolve().parent.parent / "exported" / "web"
# The page's modules, each after those it imports (gates.js imports the other two).
MODULES = ("gate_labels.js", "gate_math.js", "gates.js")
SIBLING_IMPORT = re.compile(r"^import \{[^}]*\} from '\./[a-z_]+\.js';$")
MAX_WINDOWS = 5000  # windows embedded at most (a page of a long series stays a few MB)
# The page may run inline code and styles and show data: images, and load nothing else.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


@dataclass
class PageResult:
    path: Path
    windows: int
    default: int
    bytes: int
    seconds: float


def check_servable(config, run) -> None:
    """Refuse, in one line, a run whose gates the gate model (`export --gates`) cannot serve."""
    check_inspectable(config.model.kind, run, "show")
    if config.panel:
        raise UserError(f"{run} is a panel run; the gate page, like the gate model "
                        "(export --gates), serves single-series runs only")
    if config.covariates or config.model.series_embedding:
        raise UserError(f"{run} takes more inputs than its window (future-known covariates or "
                        "a series embedding), which the gate page does not feed")


def _b64(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
                            .tobytes()).decode("ascii")


def network_weights(model, quantiles: list[float] | None) -> tuple[list[dict], dict]:
    """(per LSTM layer: units, inputs, kernel, recurrent_kernel, bias; the head's point
    forecast columns: kernel, bias), float32 base64. The model is the run's Sequential
    stack: LSTM (or gate-cell RNN) layers, Dropout between them, the Dense `head`."""
    layers, head = [], None
    for layer in model.layers:
        kind = type(layer).__name__
        cell = getattr(layer, "cell", None)
        if cell is not None and hasattr(cell, "recurrent_kernel") and hasattr(cell, "units") \
                and len(layer.get_weights()) == 3:
            kernel, recurrent, bias = layer.get_weights()
            layers.append({"units": int(cell.units), "inputs": int(kernel.shape[0]),
                           "kernel": _b64(kernel, "f4"), "recurrent_kernel": _b64(recurrent, "f4"),
                           "bias": _b64(bias, "f4")})
        elif layer.name == "head" and kind == "Dense":
            kernel, bias = layer.get_weights()
            if quantiles:  # the point forecast is the median: every Q-th column
                columns = np.arange(median_index(quantiles), kernel.shape[1], len(quantiles))
                kernel, bias = kernel[:, columns], bias[columns]
            head = {"kernel": _b64(kernel, "f4"), "bias": _b64(bias, "f4")}
        elif kind not in ("Dropout", "Reshape", "QuantileHead", "InputLayer"):
            raise UserError(f"the gate page cannot compute layer {layer.name!r} ({kind})")
    if not layers or head is None:
        raise UserError("the gate page needs LSTM layers followed by the Dense head")
    return layers, head


def window_arrays(prepared, starts: np.ndarray, window: int, horizon: int):
    """(network inputs [n, window, columns], anchor forecast [n, horizon, targets] in
    original units, slope [n, horizon, targets]) for the windows at `starts`, by the
    library's own scaling and anchor (what `inspect_run` feeds the gate model)."""
    inputs = []  # what the network is fed

    def unit_network(batch):  # an output of 1: the slope of the (affine) un-scaling
        inputs.append(batch)
        return np.ones((len(batch), horizon, prepared.n_targets), np.float32)

    anchor = prepared.forecast(None, starts, window, horizon)
    slope = prepared.forecast(unit_network, starts, window, horizon) - anchor
    return np.concatenate(inputs), anchor, slope


def choose_windows(prepared, part: str, index: int | None, last: bool = False
                   ) -> tuple[np.ndarray, list[str], int]:
    """Every window of the run's data in time order (train, val, test; or the file's), the
    part of each, and the default one: window `index` of the evaluated part (None: its
    first; `last`: its last)."""
    parts = ["file"] if part == "file" else ["train", "val", "test"]
    starts = np.concatenate([prepared.starts[name] for name in parts])
    labels = [name for name in parts for _ in prepared.starts[name]]
    # pick_window: the same range check and message as inspect
    chosen = pick_window(prepared, part, 1, 1, None if last else (index or 0)).index
    default = sum(len(prepared.starts[name]) for name in parts[:parts.index(part)]) + chosen
    if len(starts) > MAX_WINDOWS:  # keep a contiguous range around the default, late first
        first = max(0, min(default, len(starts) - MAX_WINDOWS))
        starts, labels = starts[first:first + MAX_WINDOWS], labels[first:first + MAX_WINDOWS]
        default -= first
    return starts, labels, default


def page_data(run, data_path: str | None = None, index: int | None = None,
              last: bool = False) -> dict:
    """Everything the page needs for RUN's windows (the JSON embedded in the page)."""
    from .ensemble import member

    config = runs.load_config(run)
    check_servable(config, run)
    prepared, part = evaluation_data(config, data_path)
    window, horizon = config.data.window, config.data.horizon
    starts, parts, default = choose_windows(prepared, part, index, last)
    inputs, anchor, slope = window_arrays(prepared, starts, window, horizon)
    # An ensemble (--ensemble K): member 0's gates, and its forecast.
    layers, head = network_weights(member(runs.load_model(run), 0), config.model.quantiles)
    series = prepared.series
    return {
        "format": FORMAT, "run": Path(run).resolve().name, "kind": config.model.kind,
        "window": window, "horizon": horizon, "columns": list(series.columns),
        "targets": list(series.targets), "source": str(data_path) if data_path else "run",
        "anchor": {"kind": prepared.anchor.kind, "description": prepared.anchor.describe()},
        "series": {"rows": len(series.values),
                   "time": _time_labels(series.time, slice(0, len(series.values))),
                   "values": _b64(series.values[:, :prepared.n_targets], "f8")},
        "windows": {"starts": [int(s) for s in starts], "parts": parts, "default": default,
                    "inputs": _b64(inputs, "f4"), "anchor": _b64(anchor, "f8"),
                    "slope": _b64(slope, "f8")},
        "layers": layers, "head": head,
    }


def asset(name: str) -> str:
    path = WEB / name
    if not path.is_file():
        raise UserError(f"{path} not found: the gate page needs a source checkout of lstm-tf "
                        "(the exported/ directory)")
    return path.read_text(encoding="utf-8")


def inline_modules() -> str:
    """The page's ES modules as one inline module: each sibling's source in dependency order,
    with the imports between them removed (their exports then share one scope)."""
    sources = []
    for name in MODULES:
        kept = [line for line in asset(name).splitlines() if not SIBLING_IMPORT.match(line)]
        if any(line.startswith("import ") for line in kept):
            raise UserError(f"{WEB / name} imports a module the gate page cannot inline")
        sources.append(f"// ---- {name}\n" + "\n".join(kept))
    return "\n".join(sources).replace("</script", "<\\/script")


def render_html(data: dict) -> str:
    """The standalone page: styles, data and the modules inline; nothing fetched."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    script = inline_modules()
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>lstm-tf gates: {data['run']}</title>
<link rel="icon" href="data:,">
<style>
body {{ max-width: 1200px; margin: 1rem auto; padding: 0 1rem; }}
{asset("gates.css")}
</style>
</head>
<body>
<main id="gate-explorer" data-status="loading"></main>
<script type="application/json" id="gate-data">{payload}</script>
<script type="module">
{script}
const data = JSON.parse(document.getElementById('gate-data').textContent);
mountGateExplorer(document.getElementById('gate-explorer'), data, {{ query: location.search }});
</script>
</body>
</html>
"""


def write_page(run, out, data_path: str | None = None, index: int | None = None,
               last: bool = False, force: bool = False) -> PageResult:
    """Write RUN's gate explorer to `out` (atomically; an existing file only with `force`)."""
    started = time_lib.perf_counter()
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--html {out} must end in .html")
    refuse_overwrite(out, force)
    data = page_data(run, data_path, index, last)
    text = render_html(data)
    write_text(out, text)
    return PageResult(out, len(data["windows"]["starts"]), data["windows"]["default"],
                      len(text.encode("utf-8")), time_lib.perf_counter() - started)
