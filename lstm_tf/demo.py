"""Serve the browser demo (exported/web) on localhost: static files only, no network.

The page, the shared JS module (exported/lib), the reference model
(exported/reference) and onnxruntime-web's own wasm and .mjs files
(exported/node_modules/onnxruntime-web/dist, installed by `npm ci`) are all served
from the exported/ directory, so nothing is fetched from a CDN. `/models/` can map
to a directory of the user's own models. No TensorFlow, no onnxruntime.

Beside the forecast the page shows the gate explorer (exported/web/gates.js, the module
the standalone `inspect --html` page inlines) for the run given to `serve-demo --run`;
its data (`gate_page.page_data`, computed by the caller) is served at `/gates/data.json`,
and without a run that address answers with a note saying how to give one.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import posixpath
import threading
import urllib.parse
from pathlib import Path

from .errors import UserError

EXPORTED = Path(__file__).resolve().parent.parent / "exported"
PAGE = "/web/"
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
MODELS_PREFIX = "/models/"
GATES_DATA = "/gates/data.json"
NO_GATES = {"format": "lstm-tf-gates/1",
            "missing": "start serve-demo with --run RUN (an lstm or gated run) to see its gates"}

# Browsers refuse a module script or streaming wasm compile under a generic MIME type,
# and the system's mime.types is not always present, so these are explicit.
MIME_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm", ".json": "application/json", ".csv": "text/csv; charset=utf-8",
    ".onnx": "application/octet-stream", ".png": "image/png", ".svg": "image/svg+xml",
    ".map": "application/json", "": "application/octet-stream",
}


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from exported/, `/models/` from an optional directory; GET and HEAD only."""

    extensions_map = MIME_TYPES
    models: Path | None = None
    gates: bytes = json.dumps(NO_GATES).encode()  # the gate explorer's data (JSON)
    requests: list[tuple[str, int]] | None = None  # (path, status) log, for tests

    def translate_path(self, path: str) -> str:
        clean = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        if self.models is not None and clean.startswith(MODELS_PREFIX):
            relative = clean[len(MODELS_PREFIX):]
            if relative and ".." not in Path(relative).parts:
                return str(self.models / relative)
            return str(self.models / "\0missing")
        return super().translate_path(path)

    def send_head(self):  # GET and HEAD: the bare address leads to the page
        if urllib.parse.urlsplit(self.path).path == "/":
            self.send_response(302)
            self.send_header("Location", PAGE)
            self.end_headers()
            return None
        if urllib.parse.urlsplit(self.path).path == GATES_DATA:
            self.send_response(200)
            self.send_header("Content-Type", MIME_TYPES[".json"])
            self.send_header("Content-Length", str(len(self.gates)))
            self.end_headers()
            return io.BytesIO(self.gates)
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a re-exported model is picked up at once
        super().end_headers()

    def log_request(self, code="-", size="-"):
        if self.requests is not None:
            self.requests.append((urllib.parse.urlsplit(self.path).path, int(code)))

    def log_message(self, format, *args):  # quiet: the CLI prints the URL, not every request
        pass


def check_installed(root: Path = EXPORTED) -> None:
    """Raise a UserError unless the page and onnxruntime-web's files are in place."""
    if not (root / "web" / "index.html").is_file():
        raise UserError(f"{root / 'web'} not found: serve-demo needs a source checkout of "
                        "lstm-tf (the exported/ directory)")
    if not (root / ORT_DIST / "ort.wasm.min.mjs").is_file():
        raise UserError(f"onnxruntime-web is not installed in {root}; run "
                        f"`cd {root} && ONNXRUNTIME_NODE_INSTALL=skip npm ci` once")


def make_server(port: int = 0, host: str = "127.0.0.1", models: str | Path | None = None,
                root: Path = EXPORTED, log: list | None = None,
                gates: dict | None = None) -> http.server.ThreadingHTTPServer:
    """A server for exported/ on host:port (0: a free port); `models` is served at /models/,
    `gates` (`gate_page.page_data` of a run) at /gates/data.json."""
    check_installed(root)
    if models is not None:
        models = Path(models).resolve()
        if not models.is_dir():
            raise UserError(f"--models {models} is not a directory")
    attributes = {"models": models, "requests": log}
    if gates is not None:
        attributes["gates"] = json.dumps(gates, separators=(",", ":")).encode()
    handler = type("Handler", (DemoHandler,), attributes)
    try:
        return http.server.ThreadingHTTPServer(
            (host, port), functools.partial(handler, directory=str(root)))
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror})") from None


def page_url(server: http.server.HTTPServer, query: dict[str, str] | None = None) -> str:
    host, port = server.server_address[:2]
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"http://{host}:{port}{PAGE}{suffix}"


def serve_in_background(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
