"""POSIX objects against a hostile user (``nobody``) who plants files in /dev/shm: a FIFO where
shm is expected, an empty sem.NAME, a link to a root-only file, names that are not UTF-8, and
names of one kind used as another. Commands run as a subprocess with a timeout where the old
behaviour was to hang or die of a signal."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import posix_ipc
import pytest
from attacker import become_attacker
from conftest import Cleanup, run_and_exit, unique_name

from ipctop import actions
from ipctop.display import shown
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.kinds import PosixShm
from ipctop.model import Kind
from ipctop.preview import preview

SHM = "/dev/shm"


def ipctop(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def plant(cleanup: Cleanup, make: str, name: str | bytes, target: str = "") -> bytes:
    """As nobody, make /dev/shm/NAME: "fifo", "empty" or "link" (to ``target``)."""
    raw = os.fsencode(name)
    path = os.path.join(os.fsencode(SHM), raw)

    def body() -> None:
        become_attacker()
        if make == "fifo":
            os.mkfifo(path, 0o666)
        elif make == "empty":
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
        else:
            os.symlink(target, path)

    cleanup(lambda: os.unlink(path))
    run_and_exit(body)
    return path


def one_error_line(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipctop: ") and pattern in lines[0], lines
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_a_fifo_in_dev_shm_does_not_hang_read_rm_or_preview(cleanup: Cleanup) -> None:
    name = unique_name()
    path = plant(cleanup, "fifo", name)
    one_error_line(ipctop("read", "posix-shm", "/" + name), "it is a FIFO")
    one_error_line(ipctop("rm", "posix-shm", "/" + name, "--yes"), "it is a FIFO")
    one_error_line(ipctop("write", "posix-shm", "/" + name, "x", "--offset", "0"), "it is a FIFO")
    assert os.path.exists(path)
    got = preview(PosixShm(id="/" + name, path=os.fsdecode(path)))
    assert got.data is None and "FIFO" in got.note


def test_a_link_in_dev_shm_never_shows_roots_file(cleanup: Cleanup, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"root only")
    secret.chmod(0o600)
    name = unique_name()
    path = plant(cleanup, "link", name, str(secret))
    got = preview(PosixShm(id="/" + name, path=os.fsdecode(path)))
    assert got.data is None and "symbolic link" in got.note
    with pytest.raises(UsageError, match="symbolic link"):
        actions.read_shm(Kind.POSIX_SHM, "/" + name)
    proc = ipctop("read", "posix-shm", "/" + name)
    assert "root only" not in proc.stdout
    one_error_line(proc, "symbolic link")


def test_an_empty_sem_file_is_refused_not_sigbus(cleanup: Cleanup) -> None:
    name = unique_name()
    plant(cleanup, "empty", "sem." + name)
    one_error_line(ipctop("sem", "posix-sem", "/" + name, "--op", "1"), "0 bytes")
    one_error_line(ipctop("sem", "posix-sem", "/" + name, "--set", "0"), "0 bytes")
    one_error_line(ipctop("rm", "posix-sem", "/" + name, "--yes"), "0 bytes")


def test_sem_names_belong_to_posix_sem_only(cleanup: Cleanup) -> None:
    name = unique_name()
    sem = posix_ipc.Semaphore("/" + name, posix_ipc.O_CREX, 0o600, 3)
    sem.close()
    cleanup(lambda: posix_ipc.unlink_semaphore("/" + name))
    as_shm = "/sem." + name
    with pytest.raises(UsageError, match="posix-sem /" + name):
        actions.remove(Kind.POSIX_SHM, as_shm)
    with pytest.raises(UsageError, match="not a posix-shm name"):
        actions.write_shm(Kind.POSIX_SHM, as_shm, b"\xff" * 32)
    with pytest.raises(UsageError, match="not a posix-shm name"):
        actions.create(Kind.POSIX_SHM, "/sem." + unique_name(), size=32)
    one_error_line(ipctop("rm", "posix-shm", as_shm, "--yes"), "not a posix-shm name")
    assert actions.sem_values(Kind.POSIX_SEM, "/" + name) == (3,)


def _mq_open_as_attacker(name: bytes) -> None:
    def body() -> None:
        become_attacker()
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.mq_open(ctypes.c_char_p(name), ctypes.c_int(os.O_CREAT | os.O_RDWR),
                          ctypes.c_uint(0o666), None)
        assert fd >= 0, os.strerror(ctypes.get_errno())

    run_and_exit(body)


def test_names_that_are_not_utf8_can_be_acted_on(cleanup: Cleanup) -> None:
    raw = os.fsencode(unique_name()) + b"\xff\x1b[2J"
    plant(cleanup, "empty", raw)
    name = "/" + os.fsdecode(raw)
    assert actions.read_shm(Kind.POSIX_SHM, name) == b""
    said = shown(actions.remove(Kind.POSIX_SHM, name))
    assert "\\xff\\x1b[2J" in said and "\x1b" not in said
    assert not os.path.exists(os.path.join(os.fsencode(SHM), raw))

    qraw = b"/" + os.fsencode(unique_name()) + b"\xfe"
    _mq_open_as_attacker(qraw)
    cleanup(lambda: os.unlink(b"/dev/mqueue" + qraw))
    q = os.fsdecode(qraw)
    actions.send(Kind.POSIX_MQ, q, b"hello")
    assert actions.receive(Kind.POSIX_MQ, q) == [actions.Message(b"hello", 0)]
    proc = subprocess.run([sys.executable, "-m", "ipctop", "rm", "posix-mq", qraw, "--yes"],
                          capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert b"\\xfe" in proc.stdout and b"\xfe" not in proc.stdout
    with pytest.raises(NotFound):
        actions.receive(Kind.POSIX_MQ, q)


def test_reclaim_removes_only_what_nobody_holds(cleanup: Cleanup) -> None:
    name = "/" + unique_name()
    actions.create(Kind.POSIX_SHM, name, size=64, mode=0o666)
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    path = SHM + name
    holder = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(IpcError, match="open or mapped by a process: not removed"):
            actions.remove(Kind.POSIX_SHM, name, holders=0, only_if_unused=True)
        assert os.path.exists(path)
    finally:
        os.close(holder)
    actions.remove(Kind.POSIX_SHM, name, holders=0, only_if_unused=True)
    assert not os.path.exists(path)
