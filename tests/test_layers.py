"""The shape of the package: imports only go down the layers (function-level imports included), no
import circles, and no SQL outside ``store.py`` and ``queries/`` (docs/architecture.md draws it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mm_jupyter"

# bottom first; a module may import modules of its own layer or of a layer below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "items", "checks", "kernels", "processes", "textfmt", "hashing", "svgplots",
                    "secrets", "downsample", "imagefiles", "kernel_session",
                    "codebases", "tracking_url", "metric_columns", "artifact_root", "warm_kernels")),
    ("store", ("store",)),
    ("state", ("executions", "metrics", "shapes", "notebooks", "queries.dql", "kernel_pool")),
    ("writes", ("tracker", "http_tracker", "evaluation")),
    ("adapters", ("adapter", "adapters", "registry", "predictor")),
    ("runners", ("runners", "services")),
    ("reads", ("queries",)),
    ("commands", ("datasets", "scheduler", "api", "attempt", "remote_attempt", "runner_api", "deployment", "serving",
                  "pretrained")),
    ("faces", ("cli", "demo", "widgets", "server", "runtime", "introspect", "labextension", "serve")),
]
SQL = re.compile(r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIRTUAL)|"
                 r"ALTER\s+TABLE|PRAGMA\s|BEGIN\s+IMMEDIATE)|\w+\s*(=|<|>|LIKE|IN)\s*\(?\?")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer index of ``mm_jupyter.x.y`` (the most specific prefix wins)."""
    rel = module.removeprefix("mm_jupyter").lstrip(".")
    best, rank = -1, None
    for i, (_, members) in enumerate(LAYERS):
        for member in members:
            if (rel == member or rel.startswith(member + ".")) and len(member) > best:
                best, rank = len(member), i
    if rank is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)")
    return rank


def imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Every mm_jupyter module imported by ``path`` (also inside functions), with its line."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    known = modules()
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            targets = [f"{root}.{a.name}" for a in node.names] + [root]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            # a package's __init__ (which may import its own modules) is no dependency of those modules
            if target and target != module and not module.startswith(target + "."):
                out.append((target, node.lineno))
    return out


def test_every_module_has_a_layer_and_imports_only_go_down():
    upward = []
    for module, path in modules().items():
        if module == "mm_jupyter":
            continue
        mine = layer_of(module)
        for target, line in imports(path, module):
            if layer_of(target) > mine:
                upward.append(f"{module}:{line} imports {target} ({LAYERS[mine][0]} -> {LAYERS[layer_of(target)][0]})")
    assert upward == [], "\n".join(upward)


def test_no_import_circles():
    graph = {m: {t for t, _ in imports(p, m)} for m, p in modules().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert circles == []


def _strings(tree: ast.AST) -> list[tuple[str, int]]:
    """String constants and f-string parts that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.value, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_sql_outside_the_store_and_the_read_layer():
    found = []
    for module, path in modules().items():
        rel = module.removeprefix("mm_jupyter.")
        if rel == "store" or rel.startswith("queries"):
            continue
        for text, line in _strings(ast.parse(path.read_text())):
            if SQL.search(text):
                found.append(f"{module}:{line}: {text[:80]!r}")
    assert found == [], "\n".join(found)


def test_the_sql_check_sees_sql():
    assert SQL.search("SELECT id FROM executions") and SQL.search("status = ?") and SQL.search("name LIKE ?")
    assert not SQL.search("select a dataset") and not SQL.search("the train subset is empty")
