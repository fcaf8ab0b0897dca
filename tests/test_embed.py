"""Exported models outside Python: the Node.js consumer and the browser page give Python's forecast.

Needs `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in exported/ and Debian's `chromium`
(.ci/run installs both); a missing one is a failure, not a skip.
"""

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from helpers import ctrl_c_works
from lstm_tf import contract, demo, runtime
from lstm_tf.data import read_csv
from lstm_tf.parity import run_step_model
from lstm_tf.predict import predict_csv
from lstm_tf_cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ROOT / "exported"
FORECAST_JS = EXPORTED / "node" / "forecast.js"
LIB_JS = EXPORTED / "lib" / "lstm_tf.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "embed"
TINY = ["--window", "8", "--units", "6", "--layers", "2", "--horizon", "3", "--epochs", "1", "-q"]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--hide-scrollbars", "--window-size=1100,1000",
    # Only our localhost server resolves: a page that needed a CDN would fail here.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=60000",  # dump the DOM once the page's work is done
]


@pytest.fixture(scope="module", autouse=True)
def tools():
    """Node with the npm packages, and Chromium; fail (never skip) without them."""
    assert shutil.which("node"), "node is not on PATH"
    for package in ("onnxruntime-node", "onnxruntime-web"):
        assert (EXPORTED / "node_modules" / package).is_dir(), \
            f"{package} missing: run `cd exported && ONNXRUNTIME_NODE_INSTALL=skip npm ci`"
    assert shutil.which("chromium"), "chromium missing: apt-get install -y chromium"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny lstm and rnn runs on the real El Niño data, exported with --step, a default
    (anchored) lstm run's window model; a CSV tail. Exported --no-check: the tests here
    compare Node.js and the browser with Python's onnxruntime on the same file, never with
    Keras (export's parity check is test_export's; the bundled reference model, exported
    with it, shows its report on the page)."""
    root = tmp_path_factory.mktemp("embed")
    for kind in ("lstm", "rnn"):  # without an anchor, so that they have step models
        result = CliRunner().invoke(cli, ["train", "--dataset", "elnino", "--model", kind,
                                          "--anchor", "none", "--out", str(root / f"run-{kind}"),
                                          *TINY])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(cli, ["export", str(root / f"run-{kind}"), "--step",
                                          "--no-check", "--out", str(root / f"{kind}.onnx")])
        assert result.exit_code == 0, result.output
    # The default: an LSTM that corrects its anchor (a window model only).
    result = CliRunner().invoke(cli, ["train", "--dataset", "elnino", "--out",
                                      str(root / "run-anchored"), *TINY])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", str(root / "run-anchored"), "--no-check",
                                      "--out", str(root / "anchored.onnx")])
    assert result.exit_code == 0, result.output
    # A quantile model (anchored, 80% interval and the median).
    result = CliRunner().invoke(cli, ["train", "--dataset", "elnino", "--quantiles", "0.1,0.9",
                                      "--out", str(root / "run-quantiles"), *TINY])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", str(root / "run-quantiles"), "--no-check",
                                      "--out", str(root / "quantiles.onnx")])
    assert result.exit_code == 0, result.output
    # The last 40 months, in a form both CSV readers must agree on: CRLF line ends, a
    # quoted extra column with commas, the target not in the first column.
    lines = (ROOT / "lstm_tf" / "datasets" / "elnino.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[-40:]]
    text = 'note,month,sst\r\n' + "".join(f'"a, {i}",{month},{sst}\r\n'
                                          for i, (month, sst) in enumerate(rows))
    (root / "tail.csv").write_text(text, newline="")
    return root


def node(*args, check=True):
    result = subprocess.run(["node", *map(str, args)], capture_output=True, text=True,
                            timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def node_forecast(model: Path, csv: Path) -> np.ndarray:
    out = json.loads(node(FORECAST_JS, model, csv, "--json").stdout)
    return np.asarray(out["forecast"], np.float64)


def target_std(model: Path) -> np.ndarray:
    meta = contract.read_metadata(onnx.load(model), str(model))
    return np.asarray(meta["scaler"]["std"][:len(meta["targets"])])


def quantiles_after_csv(model: Path, csv: Path) -> np.ndarray:
    """Python onnxruntime's quantiles [horizon, targets, Q] after the CSV's last row."""
    from lstm_tf.predict import quantiles_after

    session = runtime.session(model)
    meta = runtime.metadata(session, str(model))
    series = read_csv(csv, meta["targets"], meta["columns"][len(meta["targets"]):])
    return quantiles_after(session, meta, series.values)


def python_step_forecast(step_model: Path, csv: Path) -> np.ndarray:
    session = runtime.session(step_model)
    meta = runtime.metadata(session, str(step_model))
    series = read_csv(csv, meta["targets"], meta["columns"][len(meta["targets"]):])
    window = series.values[-meta["window"]:][None].astype(np.float32)
    return run_step_model(session, window, meta["kind"], meta["layers"], meta["units"])[0]


# ------------------------------------------------------------------ Node.js


@pytest.mark.parametrize("kind", ["lstm", "rnn", "anchored", "quantiles"])
def test_node_window_forecast_equals_python_onnxruntime(models, kind):
    model, csv = models / f"{kind}.onnx", models / "tail.csv"
    _, expected = predict_csv(model, csv)
    got = node_forecast(model, csv)
    assert got.shape == expected.shape == (3, 1)
    assert np.max(np.abs(got - expected) / target_std(model)) < 1e-6
    # The default output is `lstm-tf predict`'s CSV.
    python_csv = CliRunner().invoke(cli, ["predict", str(model), "--data", str(csv)]).output
    assert node(FORECAST_JS, model, csv).stdout == python_csv
    # The tail ends in December 2010: the month column continues into 2011, written as
    # the file writes its months.
    assert [line.split(",")[:2] for line in python_csv.splitlines()[1:]] == [
        ["2011-01", "1"], ["2011-02", "2"], ["2011-03", "3"]]
    if kind == "quantiles":  # with a column per level, and the quantiles in the JSON
        assert python_csv.splitlines()[0] == "month,step,sst,sst_q0.1,sst_q0.5,sst_q0.9"
        out = json.loads(node(FORECAST_JS, model, csv, "--json").stdout)
        expected = quantiles_after_csv(model, csv)
        assert out["levels"] == [0.1, 0.5, 0.9]
        assert np.max(np.abs(np.asarray(out["quantiles"]) - expected) / target_std(model)) < 1e-6


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_node_step_model_equals_python_onnxruntime(models, kind):
    step, csv = models / f"{kind}.step.onnx", models / "tail.csv"
    expected = python_step_forecast(step, csv)
    got = node_forecast(step, csv)
    assert got.shape == expected.shape == (3, 1)
    assert np.max(np.abs(got - expected) / target_std(step)) < 1e-6
    # Fed one observation at a time, it gives the window model's forecast.
    _, window_forecast = predict_csv(models / f"{kind}.onnx", csv)
    assert np.max(np.abs(got - window_forecast) / target_std(step)) < 1e-5
    each = node(FORECAST_JS, step, csv, "--each")
    assert len(each.stderr.strip().splitlines()) == 8  # one line per observation of the window


def test_js_metadata_reader_matches_onnx(models, tmp_path):
    model = onnx.load(models / "lstm.onnx")
    entries = {"first": "1", "unicode": "Niño 1+2 °C ✓", "big": "x" * 200_000, "": "empty key"}
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    path = tmp_path / "many.onnx"
    onnx.save(model, path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x0b\x01\x02")  # field 1 with wire type 3 (a group): not ONNX
    code = (f"import {{ readMetadataProps }} from {LIB_JS.as_uri()!r};\n"
            "import { readFileSync } from 'node:fs';\n"
            "const props = readMetadataProps(readFileSync(process.argv[1]), 'm');\n"
            "console.log(JSON.stringify([...props]));\n"
            "try { readMetadataProps(readFileSync(process.argv[2]), 'g.onnx'); }"
            " catch (e) { console.log(e.message); }")
    out = node("--input-type=module", "-e", code, path, garbage).stdout.splitlines()
    expected = [[p.key, p.value] for p in onnx.load(path).metadata_props]
    assert json.loads(out[0]) == expected and len(expected) == 5
    assert out[1] == "g.onnx is not a valid ONNX model (wire type 3)"


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@pytest.mark.parametrize("name, label, future", [
    ("date", lambda month: month, ["2011-01", "2011-02", "2011-03"]),
    ("period", lambda month: f"{month[:4]} {MONTHS[int(month[5:7]) - 1]}",
     ["2011 Jan", "2011 Feb", "2011 Mar"])])
def test_node_continues_the_files_own_time_column_as_predict_does(models, tmp_path, name,
                                                                  label, future):
    # The model's time column is `month`; a file that names it otherwise (and writes
    # month names) is forecast under its own name and in its own style, in Node as in
    # `lstm-tf predict`.
    model = models / "lstm.onnx"
    lines = (models / "tail.csv").read_text().splitlines()
    rows = [line.rsplit(",", 2) for line in lines[1:]]
    csv = tmp_path / f"{name}.csv"
    csv.write_text(f"note,{name},sst\n" + "".join(f"{note},{label(month)},{sst}\n"
                                                  for note, month, sst in rows))
    python_csv = CliRunner().invoke(cli, ["predict", str(model), "--data", str(csv)]).output
    assert python_csv.splitlines()[0] == f"{name},step,sst"
    assert [line.split(",")[0] for line in python_csv.splitlines()[1:]] == future
    assert node(FORECAST_JS, model, csv).stdout == python_csv


PERIOD_COLUMNS = [["1990Q3", "1990Q4"], ["1990 Q3", "1990 Q4"], ["1990-q3", "1990-q4"],
                  ["2020 W51", "2020 W52", "2020 W53"], ["2010-W01", "2010-W02"],
                  ["1949 Nov", "1949 Dec"], ["1949 NOVEMBER", "1949 DECEMBER"],
                  ["1949 nov", "1949 dec"], ["2010-12-31", "2011-01-31"]]


def test_js_future_times_of_period_labels_are_predicts():
    # Quarters, ISO weeks (2020 has 53) and month names continue in the file's own style,
    # in Node as in `lstm-tf predict` (lstm_tf/data/timeaxis.py).
    from lstm_tf.data import timeaxis

    code = (f"import {{ futureTimes }} from {LIB_JS.as_uri()!r};\n"
            "for (const time of JSON.parse(process.argv[1]))"
            " console.log(JSON.stringify(futureTimes(time, 3)));")
    out = node("--input-type=module", "-e", code, json.dumps(PERIOD_COLUMNS)).stdout
    expected = []
    for time in PERIOD_COLUMNS:
        dates = np.array([timeaxis.iso_period(text) for text in time], dtype="datetime64[s]")
        expected.append([str(label) for label in timeaxis.format_time(
            timeaxis.continue_time(dates, 3), like=time[-1])])
    assert [json.loads(line) for line in out.splitlines()] == expected
    assert expected[0] == ["1991Q1", "1991Q2", "1991Q3"]
    assert expected[3] == ["2021 W01", "2021 W02", "2021 W03"]
    assert expected[5] == ["1950 Jan", "1950 Feb", "1950 Mar"]


def test_node_errors_are_one_line(models, tmp_path):
    bare = tmp_path / "bare.onnx"
    model = onnx.load(models / "lstm.onnx")
    del model.metadata_props[:]
    onnx.save(model, bare)
    short = tmp_path / "short.csv"
    short.write_text("sst\n1\n2\n")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("other\n1\n")
    missing = tmp_path / "missing.csv"
    missing.write_text("sst\n" + "1\n" * 5 + "NA\n" + "1\n" * 5)
    cases = [
        ([bare, short], "has no lstm-tf metadata"),
        ([models / "lstm.onnx", wrong], "no column 'sst'; available: other"),
        ([models / "lstm.onnx", short], "need at least 8 rows (the model's window), got 2"),
        ([models / "lstm.onnx", missing], "column 'sst' has a missing value at line 7"),
        ([models / "lstm.onnx", tmp_path / "nope.csv"], "does not exist"),
    ]
    for args, message in cases:
        result = node(FORECAST_JS, *args, check=False)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ browser


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attributes) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag and all(
            attributes[k] in (attrs.get(k.rstrip("_").replace("_", "-")) or "").split()
            for k in attributes)]


def render(url: str, screenshot: Path, profile: Path) -> str:
    """The page's DOM once its work is done, and a screenshot, from headless Chromium."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--screenshot={screenshot}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def server(models):
    log = []
    httpd = demo.make_server(0, models=models, log=log)
    demo.serve_in_background(httpd)
    yield httpd, log
    httpd.shutdown()
    httpd.server_close()


def page_results(dom: str) -> tuple[dict, Elements]:
    elements = Elements(dom)
    body = elements.find("body")[0]
    status = re.search(r'<p id="status"[^>]*>(.*?)</p>', dom, re.S).group(1)
    assert body["data-status"] == "done", html.unescape(status)
    result = json.loads(html.unescape(
        re.search(r'<pre id="forecast-json">(.*?)</pre>', dom, re.S).group(1)))
    return result, elements


def check_chart(elements: Elements, rows: int, horizon: int, title_words: list[str], dom: str):
    assert len(elements.find("svg", class_="chart")) == 1
    assert [p["data-points"] for p in elements.find("path", class_="history")] == [str(rows)]
    assert [p["data-points"] for p in elements.find("path", class_="forecast")] == [str(horizon)]
    assert len(elements.find("circle", class_="forecast-point")) == horizon
    assert len(elements.find("g", class_="tick")) >= 6  # both axes are labelled
    title = re.search(r'<text class="title"[^>]*>(.*?)</text>', dom).group(1)
    assert all(word in html.unescape(title) for word in title_words), title


@pytest.mark.parametrize("model_name", ["lstm.onnx", "rnn.step.onnx", "anchored.onnx",
                                        "quantiles.onnx"])
def test_web_page_forecast_equals_python_and_draws_chart(models, server, model_name, tmp_path):
    httpd, log = server
    log.clear()
    url = demo.page_url(httpd, {"model": f"/models/{model_name}", "csv": "/models/tail.csv"})
    shot = ARTIFACTS / f"web-{model_name.replace('.onnx', '')}.png"
    dom = render(url, shot, tmp_path / "profile")
    result, elements = page_results(dom)
    model = models / model_name
    if ".step" in model_name:
        expected = python_step_forecast(model, models / "tail.csv")
    else:
        _, expected = predict_csv(model, models / "tail.csv")
    got = np.asarray(result["forecast"], np.float64)
    assert got.shape == expected.shape == (3, 1)
    assert np.max(np.abs(got - expected) / target_std(model)) < 1e-5
    assert result["last_time"] == "2010-12" and result["rows"] == 40
    check_chart(elements, rows=40, horizon=3, title_words=["sst", "original units"], dom=dom)
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
    bands = elements.find("path", class_="quantile-band")
    if model_name == "quantiles.onnx":  # the 80% band around the median, every step
        assert [band["data-points"] for band in bands] == ["3"]
        assert result["levels"] == [0.1, 0.5, 0.9]
        expected_q = quantiles_after_csv(model, models / "tail.csv")
        assert np.max(np.abs(np.asarray(result["quantiles"]) - expected_q)
                      / target_std(model)) < 1e-5
        assert "80% interval" in dom
    else:
        assert bands == []
    # Everything came from our server, including onnxruntime-web's own wasm; nothing failed.
    paths = {path for path, _ in log}
    assert "/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm" in paths
    assert f"/models/{model_name}" in paths
    assert [entry for entry in log if entry[1] != 200] == []


def test_web_page_runs_the_bundled_reference_example(server, tmp_path):
    httpd, log = server
    dom = render(demo.page_url(httpd), ARTIFACTS / "web-reference.png", tmp_path / "profile")
    result, elements = page_results(dom)
    reference = EXPORTED / "reference"
    _, expected = predict_csv(reference / "elnino-lstm.onnx", reference / "elnino-tail.csv")
    got = np.asarray(result["forecast"], np.float64)
    assert got.shape == expected.shape == (12, 1)
    assert np.max(np.abs(got - expected) / target_std(reference / "elnino-lstm.onnx")) < 1e-5
    check_chart(elements, rows=120, horizon=12, title_words=["sst", "°C", "12-step"], dom=dom)


# ------------------------------------------------------------------ reference, serve-demo


def test_reference_model_is_made_by_the_pipeline_and_agrees_everywhere():
    reference = EXPORTED / "reference"
    manifest = json.loads((reference / "reference.json").read_text())
    model, step = reference / manifest["model"], reference / manifest["step_model"]
    assert model.stat().st_size + step.stat().st_size < 100_000
    meta = contract.read_metadata(onnx.load(model), str(model))
    assert (meta["kind"], meta["model"], meta["targets"], meta["window"], meta["horizon"]) == \
        ("lstm", "window", ["sst"], 24, 12)
    assert meta["run"] == "elnino-lstm" and meta["parity"]["passed"]
    parity = json.loads((reference / manifest["parity"]).read_text())
    assert parity["window"]["passed"] and parity["step"]["passed"]
    data = (ROOT / "lstm_tf" / "datasets" / "elnino.csv").read_text().splitlines()
    assert (reference / manifest["csv"]).read_text().splitlines() == data[:1] + data[-120:]
    _, expected = predict_csv(model, reference / manifest["csv"])
    std = target_std(model)
    assert np.max(np.abs(node_forecast(model, reference / manifest["csv"]) - expected) / std) < 1e-6
    assert np.max(np.abs(node_forecast(step, reference / manifest["csv"]) - expected) / std) < 1e-5


def test_serve_demo_serves_the_page_offline_files_and_nothing_else(models):
    process = subprocess.Popen(
        [sys.executable, "-u", "-c",
         "import sys; from lstm_tf_cli.main import cli\n"
         "sys.argv = ['lstm-tf', 'serve-demo', '--port', '0', '--models', sys.argv[1]]\n"
         "try: cli()\nfinally: print('TF' if 'tensorflow' in sys.modules else 'clean')",
         str(models)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_works)
    try:
        first = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/web/", first).group(1)

        def get(path):
            try:
                with urllib.request.urlopen(url + path, timeout=10) as response:
                    return response.status, response.headers["Content-Type"], response.geturl()
            except urllib.error.HTTPError as error:
                return error.code, None, None

        assert get("/")[0] == 200 and get("/")[2].endswith("/web/")  # redirected to the page
        assert get("/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")[1] == \
            "application/wasm"
        assert get("/web/app.js")[1].startswith("text/javascript")
        assert get("/models/lstm.onnx")[0] == 200
        assert get("/models/..%2f..%2fetc%2fpasswd")[0] == 404
        assert get("/models/%2e%2e/%2e%2e/etc/passwd")[0] == 404
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the command's own way to stop
        out, _ = process.communicate(timeout=10)
    assert out.strip().splitlines()[-1] == "clean"
