"""A helper that enters a container's mount namespace sees the container's files: a directory
on ipctop's sys.path is, inside, whatever the container put there. An unprivileged user inside
plants a module at that path; the helper refuses to import it, so it never runs as root.
The container is a forked child with its own IPC and mount namespaces (tests/test_namespaces.py);
the ``spawn`` fixture kills it, and with it the namespaces, at teardown."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import Cleanup, Spawn
from test_namespaces import private_namespaces

from ipctop import nsenter


def planted(spawn: Spawn, cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[int, Path, str, str]:
    site = Path(tempfile.mkdtemp(prefix="ipctop-site-"))
    cleanup(lambda: shutil.rmtree(site))
    site.chmod(0o755)
    monkeypatch.syspath_prepend(str(site))
    module = f"ipctop_planted_{os.getpid()}"
    marker = f"/dev/shm/{module}.ran"  # inside: the container's own /dev/shm

    def body() -> None:
        private_namespaces()
        nsenter.mount("tmpfs", str(site), "tmpfs", 0)
        os.chmod(site, 0o1777)
        pid = os.fork()
        if pid == 0:  # the attacker: nobody, inside the container
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                (site / f"{module}.py").write_text(
                    f"open({marker!r}, 'w').close()\nVALUE = 'planted'\n")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0

    member = spawn(body)
    assert Path(f"/proc/{member.pid}/root{site}/{module}.py").exists()
    return member.pid, site, module, marker


def test_run_inside_loads_no_module_from_the_containers_files(
        spawn: Spawn, cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch) -> None:
    pid, _, module, marker = planted(spawn, cleanup, monkeypatch)
    with pytest.raises(nsenter.NsError, match=f"module {module} was not loaded before entering"):
        nsenter.run_inside(pid, lambda: importlib.import_module(module).VALUE, mnt=True)
    assert not Path(f"/proc/{pid}/root{marker}").exists()

    # The same helper without the seal would have run it: the test can fail.
    saved = list(sys.meta_path)

    def unsealed() -> str:
        sys.meta_path[:] = saved
        return str(importlib.import_module(module).VALUE)

    assert nsenter.run_inside(pid, unsealed, mnt=True) == "planted"
    assert Path(f"/proc/{pid}/root{marker}").exists()


def test_act_inside_loads_no_module_from_the_containers_files(
        spawn: Spawn, cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--ns PID`` on the command line goes through act_inside: sealed the same way."""
    pid, _, module, marker = planted(spawn, cleanup, monkeypatch)

    def body() -> int:
        try:
            importlib.import_module(module)
        except ImportError:
            return 7
        return 0

    assert nsenter.act_inside(pid, body) == 7
    assert not Path(f"/proc/{pid}/root{marker}").exists()
