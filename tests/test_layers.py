"""The layer rule of ../shared/DESIGN.md as a checked contract: a module imports only from its own
layer or below (TYPE_CHECKING imports count too: a type is a dependency).

    L4 server/ cli/ evaluation/          adapters: call dispatch() or the Engine
    L3 engine operations                 composition + the operation table
    L2 faces labels text quality calibration collections/ video/ streams/   never import engine, server or cli
    L1 models/ storage/ policy/ datadir  import only L0
    L0 errors settings params images geometry (and pure data tables)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "clearsight"
LAYERS = {
    4: ("server", "cli", "evaluation"),
    3: ("engine", "operations", "__init__", "__main__"),
    2: ("faces", "labels", "text", "quality", "calibration", "collections", "video", "streams"),
    1: ("models", "storage", "policy", "datadir"),
}


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return next((n for n, tops in LAYERS.items() if top in tops), 0)


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported clearsight module, line) for every import in the file."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(n, node.lineno) for n in names if n.split(".")[0] == "clearsight"]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "prepare" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts).removesuffix(".__init__")
    mine = layer(module)
    upward = [f"line {line}: {target} (L{layer(target)})" for target, line in imports(path) if layer(target) > mine]
    assert not upward, f"{module} (L{mine}) imports upwards: {'; '.join(upward)}"


def test_install_time_code_is_never_imported_at_run_time() -> None:
    for path in MODULES:
        assert not [t for t, _ in imports(path) if ".prepare" in t and "cli" not in path.parts], path
