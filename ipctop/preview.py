"""The first bytes of a shared memory object, read without attaching. No Textual.

Attaching a SysV segment changes what ipctop reports (nattch, lpid, atime), so a preview never
attaches. POSIX shm is a file in /dev/shm: read it read-only, opened through ipctop.safepath
(another user may have swapped it for a FIFO or a link). A SysV segment that some process
already has attached is reachable as /proc/PID/map_files/START-END of that mapping (root, or
CAP_SYS_ADMIN); otherwise the preview says how to look (attach explicitly with `a`). Shared
anonymous memory and memfds are read through a holder's fd or mapping (actions/memory.py).
"""

from __future__ import annotations

import dataclasses
import os
import string
from dataclasses import dataclass
from pathlib import Path

from ipctop import safepath
from ipctop.kinds import AnonShm, Memfd, PosixShm, SysvShm
from ipctop.model import IpcObject
from ipctop.shm_mapping import open_attached

PREVIEW_BYTES = 256
PREVIEWED = (PosixShm, SysvShm, AnonShm, Memfd)
"""The kinds whose contents :func:`preview` reads."""
_PRINTABLE = frozenset(string.printable.encode()) - frozenset(b"\t\n\r\x0b\x0c")


@dataclass(frozen=True, slots=True)
class Preview:
    data: bytes | None
    """The bytes read, or None when they could not be read without attaching."""
    note: str
    """Where they came from, or why there are none."""


def _sysv_via_map_files(obj: SysvShm, proc: Path, length: int) -> Preview | None:
    tried: list[str] = []
    found = open_attached(int(obj.id), sorted(obj.pids), proc, tried, ipc_ns=obj.ipc_ns)
    if found is not None:
        fd, pid = found
        try:
            return Preview(os.pread(fd, length, 0), f"via {pid}'s mapping (not attached)")
        except OSError as err:
            tried.append(f"{pid}: {err.strerror}")
        finally:
            os.close(fd)
    if tried:
        return Preview(None, "cannot read an existing mapping (" + "; ".join(tried[:2])
                       + "): attach with `a` to view")
    return None


def _posix_preview(obj: PosixShm, length: int) -> Preview:
    """Read the file as hostile: any user can put a FIFO (an open would hang) or a link to a
    root-only file where the listing saw their shm file. So: opened relative to its directory
    without following links, never blocking, and read only if it is still a regular file on the
    same tmpfs and the same inode that was listed."""
    where = obj.path  # the detail pane escapes notes
    head, name = safepath.split(obj.path)
    try:
        dirfd = safepath.open_dir(head)
        try:
            expect = dataclasses.replace(safepath.SHM_FILE, dev=obj.dev or os.fstat(dirfd).st_dev)
            with safepath.opened(name, expect, os.O_RDONLY, dirfd=dirfd, shown=where) as fd:
                if obj.inode is not None and os.fstat(fd).st_ino != obj.inode:
                    return Preview(None, f"{where} was replaced by another file meanwhile")
                return Preview(os.pread(fd, length, 0), f"read-only from {where}")
        finally:
            os.close(dirfd)
    except safepath.UnsafePath as err:
        return Preview(None, f"cannot read: {err}")
    except OSError as err:
        return Preview(None, f"cannot read {where}: {err.strerror}")


def preview(obj: IpcObject, proc: Path = Path("/proc"), length: int = PREVIEW_BYTES) -> Preview:
    """Read the first ``length`` bytes of ``obj`` without attaching, or say why not."""
    if isinstance(obj, PosixShm):
        return _posix_preview(obj, length)
    if isinstance(obj, SysvShm):
        found = _sysv_via_map_files(obj, proc, length)
        if found is not None:
            return found
        return Preview(None, "no process has it attached: attach with `a` to view")
    if isinstance(obj, AnonShm | Memfd):
        from ipctop.actions import memory
        from ipctop.errors import IpcError

        try:
            got = memory.read_shm(obj.kind, obj.id, 0, min(length, obj.size or 0) or None, proc)
        except IpcError as err:
            return Preview(None, str(err))
        return Preview(got.data[:length], got.how)
    return Preview(None, "")


def hexdump(data: bytes, width: int = 16) -> list[str]:
    """Lines like "0000  48 65 6c 6c 6f ..  |Hello...|"."""
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off:off + width]
        hexes = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if b in _PRINTABLE else "." for b in chunk)
        lines.append(f"{off:04x}  {hexes}  |{text}|")
    return lines
