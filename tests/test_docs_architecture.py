"""docs/architecture.md stays true: every module of lstm_tf/ is named in it, and its import
layers hold (a module imports only modules of its own layer or of the layers above)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lstm_tf"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def modules() -> dict[str, Path]:
    """'data/prepare.py' -> its path, for every module of the package."""
    return {path.relative_to(PACKAGE).as_posix(): path for path in PACKAGE.rglob("*.py")}


def named(token: str) -> list[str]:
    """The modules a backticked name in the doc stands for: `train.py`, `data/csv.py`,
    `bench/` (every module under it), or a bare `csv.py` unique in the package."""
    every = modules()
    if token.endswith("/"):
        return [name for name in every if name.startswith(token)]
    if token in every:
        return [token]
    matches = [name for name in every if name.rsplit("/", 1)[-1] == token]
    return matches if len(matches) == 1 else []


def imports_of(path: Path) -> set[str]:
    """The package's modules that `path` imports, at module level or inside functions."""
    every, found = modules(), set()
    package = path.parent.relative_to(PACKAGE).parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = list(package[:len(package) - (node.level - 1)])
        elif (node.module or "").startswith("lstm_tf"):
            base = []
            node = ast.ImportFrom(module=node.module.removeprefix("lstm_tf").lstrip(".")
                                  or None, names=node.names, level=1)
        else:
            continue
        parts = base + (node.module.split(".") if node.module else [])
        for alias in node.names:
            for candidate in ("/".join(parts + [alias.name]) + ".py",
                              "/".join(parts + [alias.name, "__init__.py"]),
                              "/".join(parts) + ".py"):
                if candidate in every:
                    found.add(candidate)
                    break
    return found - {path.relative_to(PACKAGE).as_posix()}


def test_every_module_is_named_in_the_architecture_doc():
    tokens = re.findall(r"`([\w/]+(?:\.py|/))`", DOC)
    covered = {name for token in tokens for name in named(token)}
    missing = sorted(set(modules()) - covered)
    assert missing == [], f"docs/architecture.md does not name {missing}"


def test_imports_follow_the_documented_layers():
    section = DOC.split("## The import layers", 1)[1].split("\n## ", 1)[0]
    layer_of = {}
    for number, body in re.findall(r"^(\d+)\. \*\*.*?\*\*(.*?)(?=^\d+\. |\Z)", section,
                                   re.S | re.M):
        for token in re.findall(r"`([\w/]+(?:\.py|/))`", body):
            for name in named(token if "/" in token or number != "2" else f"data/{token}"):
                layer_of.setdefault(name, int(number))
    assert len(layer_of) > 30, layer_of
    upward = [f"{module} (layer {layer_of[module]}) imports {target} "
              f"(layer {layer_of[target]})"
              for module in sorted(layer_of) for target in sorted(imports_of(modules()[module]))
              if target in layer_of and layer_of[target] > layer_of[module]]
    assert upward == [], "\n".join(upward)
