"""The server's modules depend one way: what reports on the runtime is not needed by it."""

from __future__ import annotations

import ast
from pathlib import Path

import reactor_runtime.server as server

SERVER_DIR = Path(server.__file__).parent


def imported_modules(name: str) -> set[str]:
    """The sibling modules `server/<name>.py` imports (relative imports, any depth)."""
    tree = ast.parse((SERVER_DIR / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_runtime_and_what_it_uses_do_not_import_metrics() -> None:
    for name in ("runtime", "table", "connections", "counters", "limits", "requests"):
        assert "metrics" not in imported_modules(name), name
