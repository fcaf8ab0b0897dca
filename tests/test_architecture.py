"""The import graph of lstm_tf/: imports run one way, with no circle.

Every `import` and `from ... import` counts, at module level or inside a function (a
lazy import is still a dependency). An import of a package's name counts as an edge to
that package's __init__; the implicit import of a module's parent package does not.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "lstm_tf"


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (anywhere in its code)."""
    known = modules(root)

    def resolve(name: str | None, level: int, module: str, package: bool) -> str:
        if level == 0:
            return name or ""
        base = module.split(".")[:None if package else -1]
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    graph = {}
    for module, (path, package) in known.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(node.module, node.level, module, package)
                # `from pkg import sub` imports the submodule; `from mod import name` the module.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_inside_lstm_tf():
    graph = import_graph(ROOT)
    assert "lstm_tf.data.prepare" in graph and len(graph) > 40  # the tree was read
    assert "lstm_tf.data.timeaxis" in graph["lstm_tf.data.covariates"]  # lazy imports seen
    assert cycles(graph) == []


def test_the_check_finds_a_circle_made_of_lazy_imports(tmp_path):
    package = tmp_path / "lstm_tf"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("")
    (package / "data" / "a.py").write_text("from . import b\n")
    (package / "data" / "b.py").write_text("def f():\n    from .c import g\n")
    (package / "data" / "c.py").write_text("def g():\n    from lstm_tf.data.a import b\n")
    (package / "top.py").write_text("from .data import a\n")
    graph = import_graph(package)
    assert graph["lstm_tf.top"] == {"lstm_tf.data.a"}
    assert cycles(graph) == [["lstm_tf.data.a", "lstm_tf.data.b", "lstm_tf.data.c"]]


# A function longer than this says why in its docstring, in a sentence starting "Long because".
LONGEST_FUNCTION = 80
REASON = "Long because"


def long_functions(root: Path) -> list[tuple[str, int, bool]]:
    """(file:line name, lines, whether its docstring gives the reason) of every function or
    method of `root` longer than LONGEST_FUNCTION lines (decorators not counted)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    docstring = " ".join((ast.get_docstring(node) or "").split())
                    found.append((f"{path.relative_to(root.parent)}:{node.lineno} {node.name}",
                                  lines, REASON in docstring))
    return found


def test_no_function_over_80_lines_without_a_reason_in_its_docstring():
    assert len(list(ROOT.rglob("*.py"))) > 40  # the tree was read
    unexplained = [(name, lines) for name, lines, reason in long_functions(ROOT) if not reason]
    assert unexplained == []


def test_the_length_check_counts_lines_and_reads_the_reason(tmp_path):
    package = tmp_path / "lstm_tf"
    package.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(LONGEST_FUNCTION - 2))
    (package / "a.py").write_text(
        'def short():\n    """Fits."""\n' + body                       # 80 lines: fine
        + 'def long():\n    """Too long."""\n' + body + "    return 1\n"  # 81 lines
        + 'class C:\n    async def method(self):\n        """Long because\n        the steps'
        ' share state."""\n' + body.replace("    ", "        ") + "        return 1\n")
    assert long_functions(package) == [("lstm_tf/a.py:81 long", 81, False),
                                       ("lstm_tf/a.py:163 method", 82, True)]


def test_the_library_never_imports_the_cli_or_the_lab():
    outside = {"lstm_tf_cli", "lstm_tf_lab", "cli", "lab"}
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in outside]
    assert len(list(ROOT.rglob("*.py"))) > 40 and found == []
    lab = ROOT.parent / "lab"
    assert any("from lstm_tf." in path.read_text(encoding="utf-8") for path in lab.rglob("*.py"))
