"""The TUI's modules: no module of ipctop.ui imports the app (the mixins and the palette see it
through ipctop.ui.host.Host, so there is no import circle), and app.py stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import ipctop.ui

UI = Path(ipctop.ui.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):  # TYPE_CHECKING blocks included: a circle is a circle
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_ui_module_imports_the_app() -> None:
    offenders = [str(p.relative_to(UI)) for p in UI.rglob("*.py")
                 if p.name != "app.py" and "ipctop.ui.app" in imported_modules(p)]
    assert offenders == []


def test_app_module_stays_small() -> None:
    assert len((UI / "app.py").read_text().splitlines()) <= 600
