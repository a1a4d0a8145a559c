"""`read` of anon-shm and memfd: through a holder's fd or mapping, read-only, nothing changed; the
TUI preview reads the same way; an unprivileged user gets nothing of anyone else's."""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

import pytest
from attacker import become_attacker
from conftest import Spawn, run_and_exit, unique_name
from test_kinds_live import libc, shmem_inode

from ipctop import actions
from ipctop.cli import main
from ipctop.errors import NotFound, UsageError
from ipctop.kinds import AnonShm, Memfd
from ipctop.model import Kind
from ipctop.preview import preview
from ipctop.snapshot import take

ROOT = os.geteuid() == 0
_keep: list[object] = []


def test_read_anon_shm_through_a_mapping(spawn: Spawn,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    if not ROOT:
        pytest.skip("reading through /proc/PID/map_files needs root")
    m = mmap.mmap(-1, 3 * mmap.PAGESIZE, mmap.MAP_SHARED)
    try:
        m[100:111] = b"hello anons"
        spawn(lambda: None)  # a second holder, sleeping
        import ctypes

        inode = shmem_inode(ctypes.addressof(ctypes.c_char.from_buffer(m)))
        got = actions.read_shm_report(Kind.ANON_SHM, str(inode), 100, 11)
        assert got.data == b"hello anons" and "read-only" in got.how
        assert actions.shm_size(Kind.ANON_SHM, str(inode)) == 3 * mmap.PAGESIZE
        assert main(["read", "anon-shm", str(inode), "--offset", "96", "--length", "32"]) == 0
        out = capsys.readouterr().out
        assert "|....hello anons." in out
        obj = next(o for o in take(kinds={Kind.ANON_SHM}).objects if o.id == str(inode))
        assert isinstance(obj, AnonShm)
        shown = preview(obj)
        assert shown.data is not None and shown.data[100:111] == b"hello anons"
        assert len(shown.data) == 256
    finally:
        m.close()


def test_read_memfd_by_fd_and_only_mapped() -> None:
    name = unique_name()
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING)
    try:
        os.write(fd, b"memfd bytes")
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
        ino = str(os.fstat(fd).st_ino)
        got = actions.read_shm_report(Kind.MEMFD, ino)
        assert got.data == b"memfd bytes" and f"process {os.getpid()}'s fd" in got.how
        obj = next(o for o in take(kinds={Kind.MEMFD}).objects if o.id == ino)
        assert isinstance(obj, Memfd) and obj.seals == ("write",)
        assert preview(obj).data == b"memfd bytes"
        assert os.fstat(fd).st_size == 11  # nothing changed
    finally:
        os.close(fd)
    if not ROOT:
        return
    fd = os.memfd_create(name)
    os.write(fd, b"x" * 100)
    ino = str(os.fstat(fd).st_ino)
    addr = libc.mmap(None, 100, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    os.close(fd)
    try:
        got = actions.read_shm_report(Kind.MEMFD, ino, 90)
        assert got.data == b"x" * 10 and "mapping" in got.how
    finally:
        libc.munmap(addr, 100)


def test_read_memory_kinds_refuse_bad_ids(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="named by its inode"):
        actions.read_shm(Kind.MEMFD, "/name")
    with pytest.raises(NotFound, match="no process holds memfd 1 "):
        actions.read_shm(Kind.MEMFD, "1")
    assert main(["read", "anon-shm", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ipctop: no process holds anon-shm 1") and err.count("\n") == 1
    with pytest.raises(UsageError, match="cannot write a memfd"):
        actions.write_shm(Kind.MEMFD, "1", b"x")


def test_unprivileged_user_reads_no_one_elses_memfd() -> None:
    """nobody runs ipctop's read against a memfd root holds: refused, nothing leaks out."""
    if not ROOT:
        pytest.skip("needs root to drop to nobody")
    fd = os.memfd_create(unique_name())
    try:
        os.write(fd, b"root's secret")
        ino = str(os.fstat(fd).st_ino)

        def as_nobody() -> bytes:
            os.close(fd)  # the fork's copy: the attacker holds nothing of it
            become_attacker()
            try:
                actions.read_shm(Kind.MEMFD, ino)
            except NotFound as err:
                return str(err).encode()
            return b"READ IT"

        said = run_and_exit(as_nobody).decode()
        assert said.startswith(f"no process holds memfd {ino} where it can be read")
        assert "run as root" in said
    finally:
        os.close(fd)


def test_a_fifo_where_a_memfd_was_is_refused(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A path that leads to a FIFO (a hostile process's fd swapped for one) is opened
    non-blocking and refused by its type: never read, never waited on."""
    from ipctop.actions import memory

    fifo = tmp_path / "bait"
    os.mkfifo(fifo)
    ino = os.stat(fifo).st_ino
    monkeypatch.setattr(memory, "_candidates", lambda kind, inode, proc: iter([str(fifo)]))
    with pytest.raises(NotFound, match=f"no process holds memfd {ino}"):
        memory.read_shm(Kind.MEMFD, str(ino), 0, None)
