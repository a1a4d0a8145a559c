"""Nothing outside ipctop/ui/ may import Textual (DESIGN.md): the CLI stays fast and the
collectors stay reusable. Checked in a fresh interpreter so other tests' imports don't count."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ipctop


def headless_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(ipctop.__path__, "ipctop."):
        if info.name.startswith("ipctop.ui") or info.name == "ipctop.__main__":
            continue
        names.append(info.name)
    return names


def test_headless_modules_do_not_import_textual() -> None:
    modules = headless_modules()
    assert "ipctop.cli" in modules and "ipctop.model" in modules
    assert {"ipctop.metrics", "ipctop.meters", "ipctop.serve"} <= set(modules)  # the exporter
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"textual imported by headless modules: {out.stdout}"


def test_cli_help_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from ipctop.cli import build_parser\n"
        "build_parser()\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_snapshot_json_imports_no_renderer() -> None:
    """`ipctop snapshot --json` is timed against lsof: it parses and checks its options without
    importing the table renderer and its columns, and still prints the whole document."""
    code = (
        "import contextlib, io, json, sys\n"
        "from ipctop.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    status = main(['snapshot', '--json', '--kind', 'sysv-shm'])\n"
        "doc = json.loads(out.getvalue())\n"
        "print(status, doc['schema'], sorted(m for m in sys.modules if m in "
        "('ipctop.table', 'ipctop.columns', 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(maxsplit=2) == ["0", "ipctop.snapshot/1", "[]"], out.stdout
