"""Reading shared memory that has no name: shared anonymous memory (anon-shm) and memfds.

Neither can be opened by a name, and neither is ever attached or mapped here: the bytes are read
with ``pread`` from the shmem file itself, reached through a holder's fd link
(/proc/PID/fd/N, memfds) or a mapper's /proc/PID/map_files/START-END entry (both kinds; root or
CAP_SYS_ADMIN). The fd is opened read-only and non-blocking, and :func:`ipctop.safepath.check`
refuses it unless it is a regular file; its inode must be the object's id, so a process that
exits and a pid that is reused meanwhile cannot make us read something else. Nothing about the
object changes. Only reading is offered: these objects belong to the programs that hold them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ipctop import safepath
from ipctop.actions.common import ShmBytes, check_span, kind_name, object_name
from ipctop.collect.shmem import ANON_HUGE, ANON_NAMED, ANON_ZERO, MEMFD_PREFIX
from ipctop.errors import NotFound, UsageError
from ipctop.model import Kind

MEMORY_KINDS = (Kind.ANON_SHM, Kind.MEMFD)
_O_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_EXPECT = {
    Kind.ANON_SHM: safepath.Expect("shared anonymous memory"),
    Kind.MEMFD: safepath.Expect("a memfd"),
}


def _inode(kind: Kind, ident: str) -> int:
    if not ident.isdigit():
        raise UsageError(f"a {kind_name(kind)} is named by its inode (a number, the ID "
                         f"`ipctop snapshot --kind {kind_name(kind)}` shows): got {ident!r}")
    return int(ident)


def _is_anon(name: bytes) -> bool:
    return name.startswith(ANON_NAMED.encode()) or name in (
        f"{ANON_ZERO} (deleted)".encode(), f"{ANON_HUGE} (deleted)".encode())


def _candidates(kind: Kind, inode: int, proc: Path) -> Iterator[str]:
    """Paths under ``proc`` that may lead to the object: memfd fd links first (cheap to tell
    by name), then the map_files entries of shared mappings with that inode."""
    pids = [entry for entry in _listdir(proc) if entry.isdigit()]
    if kind is Kind.MEMFD:
        for pid in pids:
            for fd in _listdir(proc / pid / "fd"):
                try:
                    target = os.readlink(proc / pid / "fd" / fd)
                except OSError:
                    continue
                if target.startswith(MEMFD_PREFIX):
                    yield str(proc / pid / "fd" / fd)
    marker = f" {inode} ".encode()
    for pid in pids:
        try:
            with open(proc / pid / "maps", "rb") as f:
                maps = f.read()
        except OSError:
            continue
        for line in maps.splitlines():
            if marker not in line:
                continue
            parts = line.split(None, 5)
            if len(parts) < 6 or parts[1][3:4] != b"s" or parts[4] != str(inode).encode():
                continue
            name = parts[5].strip()
            wanted = name.startswith(MEMFD_PREFIX.encode()) if kind is Kind.MEMFD \
                else _is_anon(name)
            if wanted:
                yield str(proc / pid / "map_files" / parts[0].decode())


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _open(kind: Kind, ident: str, proc: Path) -> tuple[int, os.stat_result, str]:
    """(read-only fd, its stat, the path it was opened through) of the object; NotFound when no
    holder's fd or mapping of it can be opened."""
    inode = _inode(kind, ident)
    name = object_name(kind, ident)
    refused = ""
    for path in _candidates(kind, inode, proc):
        try:
            fd = os.open(path, _O_READ)
        except OSError as err:
            refused = refused or f"{path}: {err.strerror}"
            continue
        try:
            st = safepath.check(fd, _EXPECT[kind], name)
            if st.st_ino == inode:
                return fd, st, path
        except (OSError, safepath.UnsafePath):
            pass
        os.close(fd)
    if refused:
        hint = f" (tried {refused}; reading through another process needs root)"
    elif os.geteuid() != 0:
        hint = " (as a normal user only your own processes can be looked through: run as root)"
    else:
        hint = ""
    raise NotFound(f"no process holds {name} where it can be read{hint}")


def shm_size(kind: Kind, ident: str, proc: Path = Path("/proc")) -> int:
    """The object's size in bytes (fstat of the file behind it)."""
    fd, st, _ = _open(kind, ident, proc)
    os.close(fd)
    return st.st_size


def read_shm(kind: Kind, ident: str, offset: int, length: int | None,
             proc: Path = Path("/proc")) -> ShmBytes:
    """Bytes ``offset``.. of the object, read with pread through a holder (nothing changes)."""
    fd, st, path = _open(kind, ident, proc)
    try:
        n = st.st_size - offset if length is None else length
        check_span(object_name(kind, ident), st.st_size, offset, n, "read")
        data = os.pread(fd, n, offset) if n else b""
    finally:
        os.close(fd)
    pid = path.split("/")[-3]
    return ShmBytes(data, f"read through process {pid}'s "
                          + ("fd" if "/fd/" in path else "mapping") + " (read-only)")
