"""The README's figure of the gate explorer, made from the page itself.

    python scripts/gate_explorer_screenshot.py            # docs/figures/gate-explorer.png
    python scripts/gate_explorer_screenshot.py --lang zh  # docs/figures/gate-explorer-zh.png

Uses the default El Niño run (runs/elnino-lstm; trained with `lstm-tf train -q` first if it
is missing), writes its page with `lstm-tf inspect RUN --html`, opens it from file:// in
headless Chromium (/usr/bin/chromium) and saves a screenshot. It also prints the page's own
render time of a new window (median and max over 40 windows, `?bench=40`). The Chinese
labels need a CJK font (Debian: fonts-wqy-zenhei).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
         "--force-device-scale-factor=1"]


def lstm_tf(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lstm_tf_cli", *args], check=True, cwd=ROOT)


def chromium(*args: str, profile: Path) -> str:
    result = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}", *args],
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        sys.exit(f"chromium failed: {result.stderr[-1000:]}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/elnino-lstm")
    parser.add_argument("--lang", choices=("en", "zh"), default="en")
    parser.add_argument("--out", help="PNG (default docs/figures/gate-explorer[-zh].png)")
    parser.add_argument("--size", default="1200,1250", help="window width,height in pixels")
    args = parser.parse_args()
    if not shutil.which("chromium"):
        sys.exit("chromium missing: apt-get install -y chromium")
    run = ROOT / args.run
    if not (run / "model.keras").is_file():
        lstm_tf("train", "-q", "--out", str(run))
    suffix = "" if args.lang == "en" else f"-{args.lang}"
    out = Path(args.out) if args.out else ROOT / "docs" / "figures" / f"gate-explorer{suffix}.png"
    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "gates.html"
        lstm_tf("inspect", str(run), "--html", str(page))
        dom = chromium("--dump-dom", page.as_uri() + "?bench=40", profile=Path(work) / "bench")
        median = float(re.search(r'data-bench-median="([^"]+)"', dom).group(1))
        worst = float(re.search(r'data-bench-max="([^"]+)"', dom).group(1))
        print(f"render time of a new window: median {median:.1f} ms, max {worst:.1f} ms "
              "(40 windows, headless Chromium)")
        out.parent.mkdir(parents=True, exist_ok=True)
        chromium(f"--window-size={args.size}", f"--screenshot={out.resolve()}",
                 page.as_uri() + f"?lang={args.lang}", profile=Path(work) / "shot")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
