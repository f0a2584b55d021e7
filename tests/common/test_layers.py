"""The shared package's two layers: the edge never imports serving, the gateway uses only the
edge, and serving's modules import each other without a loop (a loop is what tied `service.py`
and `reloading.py` together)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "common" / "recognition_common"


def runtime_imports(path: Path) -> set[str]:
    """Modules `path` imports when it runs: `if TYPE_CHECKING:` blocks left out (names for the
    type checker only never execute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(layer: str) -> dict[str, Path]:
    return {f"recognition_common.{layer}.{path.stem}": path for path in (PACKAGE / layer).glob("*.py")}


def test_the_edge_imports_nothing_from_serving() -> None:
    edge = modules("edge")
    assert set(edge) >= {f"recognition_common.edge.{name}" for name in ("errors", "intake", "imaging")}
    for name, path in edge.items():
        serving = sorted(m for m in runtime_imports(path) if m.startswith("recognition_common.serving"))
        assert not serving, f"{name} imports {serving}"


def test_the_gateway_uses_only_the_edge_layer() -> None:
    gateway = Path(__file__).resolve().parents[2] / "gateway" / "gateway"
    shared = {
        f"{path.relative_to(gateway.parent)}": sorted(
            m
            for m in runtime_imports(path)
            if m.startswith("recognition_common") and not m.startswith("recognition_common.edge")
        )
        for path in gateway.rglob("*.py")
    }
    assert len(shared) > 10, "the gateway's modules were read"
    assert not {name: found for name, found in shared.items() if found}


def test_serving_modules_import_each_other_without_a_loop() -> None:
    serving = {name: path for name, path in modules("serving").items() if not name.endswith("__init__")}
    graph = {
        name: {m for m in runtime_imports(path) if m in serving and m != name}
        for name, path in serving.items()
    }
    assert graph["recognition_common.serving.reloading"], "the graph is read (reloading imports registry)"
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import loop: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for imported in graph[name]:
            visit(imported, [*trail, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_no_flat_modules_are_left_behind() -> None:
    moved = {
        "errors",
        "intake",
        "imaging",
        "timeouts",
        "metrics",
        "batching",
        "model_card",
        "models",
        "preprocessing",
        "recognizer",
        "reloading",
        "settings",
        "service",
    }
    assert not sorted(name for name in moved if (PACKAGE / f"{name}.py").exists())
