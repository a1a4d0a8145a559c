"""SysV shared memory by id: read (through an attacher's mapping when there is one), write, and
the removal checks (never a segment in use without an explicit choice)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ipctop import safepath
from ipctop.actions.common import (
    ShmBytes,
    check_span,
    n_processes,
    object_name,
    parse_sysv_id,
)
from ipctop.actions.sysv_libc import (
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    SHM_RDONLY,
    ShmidDs,
    fail,
    last_errno,
    sysv_calls,
    sysv_lookup,
)
from ipctop.model import Kind
from ipctop.shm_mapping import open_attached

# --------------------------------------------------------------------------- shared memory


@contextmanager
def _shm_attached(shmid: int, name: str, readonly: bool) -> Iterator[int]:
    libc = sysv_calls()
    addr = libc.shmat(shmid, None, SHM_RDONLY if readonly else 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise fail(last_errno(), "read" if readonly else "write", name)
    try:
        yield int(addr)
    finally:
        libc.shmdt(ctypes.c_void_p(addr))


def shm_size(ident: str) -> int:
    return sysv_lookup(Kind.SYSV_SHM, ident)[1]["size"]


ATTACH_NOTE = ("attached read-only, which changes its lpid and atime/dtime (no attacher's "
               "mapping to read through)")

_last_attacher: dict[int, int] = {}
"""shmid -> the pid whose mapping was read last time: tried first, so the TUI's live view, which
reads every half second, does not look through every process each time."""


def _attachers(shmid: int, row: dict[str, int], proc: Path) -> Iterator[int]:
    """Pids that may have the segment attached: the one read through last time, the last
    attacher and the creator first (most often one of them still is), then every process."""
    seen: set[int] = set()
    for pid in (_last_attacher.get(shmid, 0), row.get("lpid", 0), row.get("cpid", 0)):
        if pid > 0 and pid not in seen:
            seen.add(pid)
            yield pid
    try:
        names = os.listdir(proc)
    except OSError:
        return
    for entry in names:
        if entry.isdigit() and int(entry) not in seen:
            yield int(entry)


def read_shm(ident: str, offset: int, length: int | None,
             proc: Path = Path("/proc")) -> ShmBytes:
    """Read through an existing attacher's mapping, which leaves the segment as it is; only when
    there is none, attach read-only (SHM_RDONLY) and detach at once, which changes its lpid,
    atime and dtime (evidence the leak rules use), and say so."""
    k = Kind.SYSV_SHM
    name = object_name(k, ident)
    shmid, row = sysv_lookup(k, ident)
    size = row["size"]
    n = size - offset if length is None else length
    check_span(name, size, offset, n, "read")
    if n == 0:
        return ShmBytes(b"", "")
    found = (open_attached(shmid, _attachers(shmid, row, proc), proc)
             if row.get("nattch", 0) > 0 else None)
    if found is not None:
        fd, pid = found
        _last_attacher[shmid] = pid
        try:
            return ShmBytes(os.pread(fd, n, offset),
                            f"read through process {pid}'s mapping (not attached)")
        except OSError:
            pass  # detached meanwhile: attach after all
        finally:
            os.close(fd)
    with _shm_attached(shmid, name, readonly=True) as addr:
        return ShmBytes(ctypes.string_at(addr + offset, n), ATTACH_NOTE)


def write_shm(ident: str, data: bytes, offset: int) -> int:
    k = Kind.SYSV_SHM
    name = object_name(k, ident)
    shmid, row = sysv_lookup(k, ident)
    check_span(name, row["size"], offset, len(data), "write")
    with _shm_attached(shmid, name, readonly=False) as addr:
        ctypes.memmove(addr + offset, data, len(data))
    return len(data)


class Attached(safepath.InUse):
    """A SysV segment that processes have attached, not removed without an explicit choice."""


def _shm_stat(shmid: int, name: str) -> ShmidDs:
    buf = ShmidDs()
    if sysv_calls().shmctl(shmid, IPC_STAT, ctypes.byref(buf)) != 0:
        raise fail(last_errno(), "look at", name)
    return buf


def _attached_error(name: str, nattch: int, only_if_unused: bool) -> Attached:
    if only_if_unused:
        return Attached(f"{name} is attached by {n_processes(nattch)}: not removed")
    return Attached(f"{name} is attached by {n_processes(nattch)}: removing it only marks it, "
                    "and it is destroyed when the last detaches; pass --force-attached to do "
                    "that (nothing changed)")


def refuse_attached(ident: str) -> None:
    """Raise :class:`Attached` if processes have the segment attached."""
    name = object_name(Kind.SYSV_SHM, ident)
    nattch = _shm_stat(parse_sysv_id(Kind.SYSV_SHM, ident), name).nattch
    if nattch:
        raise _attached_error(name, nattch, False)


def remove_shm(shmid: int, name: str, only_if_unused: bool, force_attached: bool) -> None:
    """IPC_RMID, refused while processes are attached unless ``force_attached``.

    With ``only_if_unused`` (reclaim) the segment's mode is first set to 0 (IPC_SET), so no new
    shmat can succeed except with CAP_IPC_OWNER; then IPC_STAT says whether anyone is attached,
    and IPC_RMID follows at once, or the mode is put back. Without it, IPC_STAT right before
    IPC_RMID leaves a window of microseconds in which a process may attach.
    """
    libc = sysv_calls()
    ds = _shm_stat(shmid, name)
    if ds.nattch and not force_attached:
        raise _attached_error(name, ds.nattch, only_if_unused)
    if only_if_unused:
        mode = ds.perm.mode
        ds.perm.mode = mode & ~0o777
        if libc.shmctl(shmid, IPC_SET, ctypes.byref(ds)) != 0:
            raise fail(last_errno(), "remove", name)
        now = _shm_stat(shmid, name)
        if now.nattch:
            ds.perm.mode = mode
            libc.shmctl(shmid, IPC_SET, ctypes.byref(ds))
            raise _attached_error(name, now.nattch, only_if_unused)
    if libc.shmctl(shmid, IPC_RMID, None) != 0:
        raise fail(last_errno(), "remove", name)

