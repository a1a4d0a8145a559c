"""FIFO actions against a hostile user (``nobody``) who owns the directory the FIFO is in and
swaps names for symbolic links: root's files must never be read, written, made or removed."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from attacker import attacker_dir, become_attacker
from conftest import run_and_exit

from ipctop import actions
from ipctop.errors import IpcError
from ipctop.model import Kind

SECRET = b"root's secret\n"


@pytest.fixture
def adir() -> Iterator[str]:
    with attacker_dir() as d:
        yield d


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A root-only file (in root's 0700 tmp dir) the attacker points links at."""
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def _attacker_mkfifo(path: str) -> None:
    def body() -> None:
        become_attacker()
        os.mkfifo(path, 0o666)
        os.chmod(path, 0o666)

    run_and_exit(body)


def test_send_keeps_writing_to_the_fifo_it_checked(adir: str, secret: Path) -> None:
    # root waits for a reader; meanwhile the attacker renames a link to root's file over the FIFO
    q = os.path.join(adir, "q")
    _attacker_mkfifo(q)
    result: list[BaseException | None] = []

    def send() -> None:
        try:
            actions.send(Kind.FIFO, q, b"OVERWRITTEN", timeout=1.5)
            result.append(None)
        except BaseException as err:
            result.append(err)

    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.3)

    def swap() -> None:
        become_attacker()
        os.symlink(str(secret), q + ".new")
        os.rename(q + ".new", q)

    run_and_exit(swap)
    t.join(10)
    assert secret.read_bytes() == SECRET
    assert isinstance(result[0], IpcError) and "open for reading" in str(result[0])


def _start_swapping(adir: str, q: str, target: str) -> int:
    """Fork the attacker: swap ``q`` between a FIFO and a link to ``target`` until killed."""
    fifo = os.path.join(adir, "f")
    pid = os.fork()
    if pid == 0:
        try:
            become_attacker()
            os.mkfifo(fifo, 0o666)
            while True:
                os.link(fifo, q + ".a")
                os.rename(q + ".a", q)
                os.symlink(target, q + ".b")
                os.rename(q + ".b", q)
        finally:
            os._exit(1)
    return pid


def test_fast_swapping_never_reaches_roots_file(adir: str, secret: Path) -> None:
    q = os.path.join(adir, "q")
    pid = _start_swapping(adir, q, str(secret))
    try:
        end = time.monotonic() + 1.0
        tries = 0
        while time.monotonic() < end:
            tries += 1
            try:
                got = actions.receive(Kind.FIFO, q, timeout=0)
            except IpcError:
                got = []
            assert all(SECRET not in m.data for m in got)
            with contextlib.suppress(IpcError):
                actions.send(Kind.FIFO, q, b"OVERWRITTEN")
            assert secret.read_bytes() == SECRET
        assert tries > 50
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_create_and_rm_refuse_a_directory_swapped_for_a_link(adir: str, tmp_path: Path) -> None:
    roots = tmp_path / "roots"
    roots.mkdir(mode=0o700)
    os.mkfifo(roots / "keep")

    def swap() -> None:
        become_attacker()
        os.symlink(str(roots), os.path.join(adir, "d"))

    run_and_exit(swap)
    through = os.path.join(adir, "d")
    with pytest.raises(IpcError, match="symbolic link"):
        actions.create(Kind.FIFO, os.path.join(through, "new"))
    assert not (roots / "new").exists()
    with pytest.raises(IpcError, match="symbolic link"):
        actions.remove(Kind.FIFO, os.path.join(through, "keep"))
    with pytest.raises(IpcError, match="symbolic link"):
        actions.receive(Kind.FIFO, os.path.join(through, "keep"))
    assert (roots / "keep").exists()
