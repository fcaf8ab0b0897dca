"""`lstm-tf inspect RUN --html`: the gate explorer page, opened from file:// in headless
Chromium, shows inspect's own numbers (the NPZ) for the first and the last window.

Needs Debian's `chromium` (.ci/run installs it); a missing one is a failure, not a skip.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lstm_tf import contract
from test_embed import CHROMIUM_FLAGS, Elements

from helpers import copy_run, run

WINDOW, UNITS, LAYERS = 8, 6, 2
TOLERANCE = 1e-5
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "gate_page"
# Real time, not virtual: the page measures its own render time with performance.now().
FLAGS = [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--virtual-time-budget")]


def one_line_error(result, message):
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.fixture(scope="module", autouse=True)
def chromium():
    assert shutil.which("chromium"), "chromium missing: apt-get install -y chromium"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, sine_runs, default_runs):
    """Tiny lstm and gated runs (2 layers, the session's sine runs), a default-sized El Niño
    run (the session's run of the defaults, which test_accuracy benchmarks: linked in, read
    only), and the configs of an rnn run and a panel run (refused before any model is
    loaded)."""
    root = tmp_path_factory.mktemp("gate_page")
    for kind, name in (("lstm", "lstm anchored"), ("gated", "gated")):
        copy_run(sine_runs[name], root / kind)
        config = json.loads((root / kind / "config.json").read_text())
        assert (config["data"]["window"], config["model"]["kind"], config["model"]["units"],
                config["model"]["layers"]) == (WINDOW, kind, UNITS, LAYERS)
    (root / "default").symlink_to(default_runs["elnino"], target_is_directory=True)
    config = json.loads((root / "lstm" / "config.json").read_text())
    for name, change in (("rnn", {"model": {**config["model"], "kind": "rnn"}}),
                         ("panel", {"panel": {"series": ["a", "b"], "skipped": [],
                                              "series_column": "id", "scaling": "window"}})):
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps({**config, **change}))
    return root


def write_page(run_dir: Path, out: Path, *args) -> Path:
    result = run("inspect", run_dir, "--html", out, *args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and len(result.output.strip().splitlines()) == 1
    return out


def npz(run_dir: Path, out: Path, *args) -> dict:
    result = run("inspect", run_dir, "--out", out, *args)
    assert result.exit_code == 0, result.output
    [path] = out.glob("*.npz")
    with np.load(path, allow_pickle=False) as arrays:
        return dict(arrays)


def open_page(page: Path, query: str, profile: Path, shot: Path | None = None):
    """(DOM once the page's work is done, the console's messages) from headless Chromium."""
    args = ["chromium", *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
            "--v=0"]
    if shot:
        shot.parent.mkdir(parents=True, exist_ok=True)
        args.append(f"--screenshot={shot}")
    result = subprocess.run([*args, "--dump-dom", page.as_uri() + query], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def page_values(dom: str) -> dict:
    assert 'data-status="ready"' in dom, dom[-3000:]
    return json.loads(re.search(r'<script type="application/json" id="gx-values">(.*?)</script>',
                                dom, re.S).group(1))


def shown(dom: str) -> str:
    """The explorer's own markup (the page's inline script holds both languages' labels)."""
    return re.search(r"<main.*?</main>", dom, re.S).group(0)


def max_difference(values: dict, arrays: dict) -> float:
    """Largest |page - NPZ| over every layer, quantity, step and unit, and the forecast."""
    worst = 0.0
    layers = len(values["layers"])
    for name in contract.gate_output_names(layers):
        quantity, layer = name.rsplit("_l", 1)
        expected = arrays[name]
        got = np.asarray(values["layers"][int(layer)][quantity]).reshape(expected.shape)
        worst = max(worst, float(np.abs(got - expected).max()))
    forecast = np.asarray(values["forecast"])
    assert forecast.shape == arrays["forecast"].shape
    worst = max(worst, float(np.abs(forecast - arrays["forecast"]).max()))
    np.testing.assert_allclose(np.asarray(values["actual"], float), arrays["actual"])
    np.testing.assert_allclose(np.asarray(values["anchor"]) + np.asarray(values["correction"]),
                               forecast, atol=1e-12)
    return worst


def test_page_equals_inspect_npz_for_the_first_and_last_window(runs_dir, tmp_path):
    from lstm_tf.data import load_builtin

    page = write_page(runs_dir / "lstm", tmp_path / "g.html")
    text = page.read_text()
    # Self-contained: no src or href leads anywhere but inline data.
    links = [value for _, attributes in Elements(text).tags for key, value in attributes.items()
             if key in ("src", "href") and value]
    assert links == ["data:,"], links
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)

    data = json.loads(re.search(r'id="gate-data">(.*?)</script>', text, re.S).group(1))
    windows = data["windows"]
    count = len(windows["starts"])
    first_test = windows["parts"].index("test")
    assert windows["default"] == first_test and windows["parts"][-1] == "test"

    # The default: the test part's first window; then the page's last window (the test
    # part's last) and its very first (a training window: inspect --data on the whole series).
    series = load_builtin("sine")
    csv = tmp_path / "sine.csv"
    csv.write_text("value\n" + "".join(f"{float(v)!r}\n" for v in series.values[:, 0]))
    cases = [("?values", first_test, ["--index", 0]),
             (f"?values&window={count - 1}", count - 1, ["--last"]),
             ("?values&window=0", 0, ["--data", csv, "--index", 0])]
    worst = []
    for k, (query, index, args) in enumerate(cases):
        dom, console = open_page(page, query, tmp_path / f"profile-{k}",
                                 ARTIFACTS / f"lstm-{index}.png" if k == 0 else None)
        assert console == [], console  # opened from file:// with no error (CSP included)
        values = page_values(dom)
        assert values["index"] == index
        arrays = npz(runs_dir / "lstm", tmp_path / f"npz-{k}", *args)
        assert int(arrays["start_row"]) == values["start"] == windows["starts"][index]
        worst.append(max_difference(values, arrays))
    print(f"max |page - NPZ|: {max(worst):.2e}")
    assert max(worst) <= TOLERANCE, worst


def test_gated_run_and_the_language_toggle(runs_dir, tmp_path):
    page = write_page(runs_dir / "gated", tmp_path / "gated.html", "--index", 3)
    dom, console = open_page(page, "?lang=zh&values", tmp_path / "profile")
    assert console == []
    values = page_values(dom)
    arrays = npz(runs_dir / "gated", tmp_path / "npz", "--index", 3)
    assert max_difference(values, arrays) <= TOLERANCE
    # The tutorial's terms in Chinese, and the toggle back to English.
    for term in ("遗忘门", "输入门", "输出门", "候选值", "细胞状态", "隐藏状态", "English"):
        assert term in shown(dom), term
    assert 'lang="zh-CN"' in dom and "forget gate" not in shown(dom)
    english, _ = open_page(page, "", tmp_path / "profile-en")
    assert "forget gate" in shown(english) and "遗忘门" not in shown(english)
    assert "中文" in shown(english)


def test_render_time_of_a_new_window_for_the_default_model(runs_dir, tmp_path):
    page = write_page(runs_dir / "default", tmp_path / "default.html")
    dom, console = open_page(page, "?bench=40", tmp_path / "profile",
                             ARTIFACTS / "default.png")
    assert console == []
    root = Elements(dom).find("main")[0]
    median, worst = float(root["data-bench-median"]), float(root["data-bench-max"])
    print(f"render time of a new window (default model, 40 windows): median {median:.1f} ms, "
          f"max {worst:.1f} ms")
    assert root["data-bench-rounds"] == "40" and 0 < median <= 50, (median, worst)
    assert float(root["data-bench-compute-median"]) < median  # the equations are the cheap part
    dom, console = open_page(page, "?values", tmp_path / "profile-values")
    assert console == []
    values = page_values(dom)
    arrays = npz(runs_dir / "default", tmp_path / "npz", "--index", 0)
    assert max_difference(values, arrays) <= TOLERANCE


def test_page_refusals_are_one_line(runs_dir, tmp_path):
    out = tmp_path / "g.html"
    one_line_error(run("inspect", runs_dir / "rnn", "--html", out), "SimpleRNN has no gates")
    one_line_error(run("inspect", runs_dir / "panel", "--html", out),
                   "serves single-series runs only")
    # serve-demo --run refuses the same runs before it serves anything.
    one_line_error(run("serve-demo", "--port", "0", "--run", runs_dir / "rnn"),
                   "SimpleRNN has no gates")
    one_line_error(run("inspect", runs_dir / "lstm", "--html", tmp_path / "g.txt"),
                   "must end in .html")
    one_line_error(run("inspect", runs_dir / "lstm", "--html", out, "--out", tmp_path),
                   "--html names its own file")
    one_line_error(run("inspect", runs_dir / "lstm", "--html", out, "--index", 10_000),
                   "use --index 0..")
    assert not out.exists()
    out.write_text("old")
    one_line_error(run("inspect", runs_dir / "lstm", "--html", out), "pass --force")
    assert out.read_text() == "old"
    assert run("inspect", runs_dir / "lstm", "--html", out, "--force").exit_code == 0
    assert out.read_text().startswith("<!doctype html>")


def test_serve_demo_shows_the_same_explorer_beside_the_forecast(runs_dir, tmp_path):
    """serve-demo --run: the forecast page imports the same module (gates.js) and shows the
    run's gates, equal to inspect's NPZ; without --run it says how to get them."""
    from lstm_tf import demo
    from lstm_tf.gate_page import page_data
    from test_embed import page_results, render

    for gates in (page_data(runs_dir / "lstm"), None):
        log = []
        server = demo.make_server(0, log=log, gates=gates)
        demo.serve_in_background(server)
        try:
            dom = render(demo.page_url(server, {"values": "1"}), ARTIFACTS / f"serve-demo-{bool(gates)}.png",
                         tmp_path / f"profile-{bool(gates)}")
        finally:
            server.shutdown()
            server.server_close()
        page_results(dom)  # the forecast itself still works
        paths = {path for path, _ in log}
        assert {"/web/gates.js", "/web/gate_math.js", "/web/gate_labels.js", "/web/gates.css",
                "/gates/data.json"} <= paths
        assert [entry for entry in log if entry[1] != 200] == []
        if gates is None:
            assert "start serve-demo with --run RUN" in dom and 'id="gx-values"' not in dom
            continue
        values = page_values(dom)
        assert values["index"] == gates["windows"]["default"]
        arrays = npz(runs_dir / "lstm", tmp_path / "npz", "--index", 0)
        assert max_difference(values, arrays) <= TOLERANCE


def test_two_targets_a_feature_a_horizon_and_quantiles(tmp_path):
    """A run with two targets, an input-only column, horizon 3 and quantiles: the page's
    forecast is the median, every column reaches the first layer, as in inspect's NPZ."""
    rows = 120
    t = np.arange(rows)
    csv = tmp_path / "wide.csv"
    csv.write_text("a,b,c\n" + "".join(f"{np.sin(k / 5):.6f},{np.cos(k / 7) * 3 + 10:.6f},"
                                        f"{k % 4}\n" for k in t))
    result = run("train", "--data", csv, "--target", "a,b", "--features", "c", "--horizon", 3,
                 "--window", 10, "--units", 5, "--epochs", 2, "--quantiles", "0.1,0.9", "-q",
                 "--anchor", "none",
                 "--out", tmp_path / "wide")
    assert result.exit_code == 0, result.output
    page = write_page(tmp_path / "wide", tmp_path / "wide.html", "--last")
    dom, console = open_page(page, "?values", tmp_path / "profile")
    assert console == []
    values = page_values(dom)
    arrays = npz(tmp_path / "wide", tmp_path / "npz", "--last")
    assert arrays["forecast"].shape == (3, 2) and arrays["window"].shape == (10, 3)
    assert max_difference(values, arrays) <= TOLERANCE
    print("largest network correction:", np.abs(values["correction"]).max())
    assert np.abs(values["correction"]).max() > 1e-4  # the head is really exercised


def test_the_page_numbers_module_runs_in_node_too(runs_dir, tmp_path):
    """gate_math.js has no DOM: Node.js computes the same window from the same data."""
    from lstm_tf.gate_page import WEB, page_data

    assert shutil.which("node"), "node is not on PATH"
    data = page_data(runs_dir / "gated")
    (tmp_path / "data.json").write_text(json.dumps(data))
    index = data["windows"]["default"]
    code = (f"import {{ readModel, computeWindow, QUANTITIES }} from {(WEB / 'gate_math.js').as_uri()!r};\n"
            "import { readFileSync } from 'node:fs';\n"
            "const data = JSON.parse(readFileSync(process.argv[1], 'utf8'));\n"
            "const w = computeWindow(data, readModel(data), Number(process.argv[2]));\n"
            "console.log(JSON.stringify({ index: w.index, layers: w.layers.map((trace) =>"
            " Object.fromEntries(QUANTITIES.map((q) => [q, Array.from(trace[q])]))),"
            " anchor: w.anchor, correction: w.correction, forecast: w.forecast, actual: w.actual }));")
    result = subprocess.run(["node", "--input-type=module", "-e", code, tmp_path / "data.json",
                             str(index)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    arrays = npz(runs_dir / "gated", tmp_path / "npz", "--index", 0)
    assert values["index"] == index and max_difference(values, arrays) <= TOLERANCE
