"""Reaching a SysV segment through a process that has it attached, without attaching. No Textual.

Attaching (shmat) changes the segment's nattch, lpid, atime and dtime: what ipctop shows and what
the leak rules judge by. A process that has it attached maps it; as root (or CAP_SYS_ADMIN)
/proc/PID/map_files/START-END opens that mapping's file, and reading it changes nothing. The
preview (TUI detail pane) and ``ipctop read`` / the attach view both come here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path


def ipc_namespace(pid: int | str = "self", proc: Path = Path("/proc")) -> int | None:
    """The inode of a process's IPC namespace, or None when it cannot be read."""
    try:
        return os.stat(proc / str(pid) / "ns" / "ipc").st_ino
    except OSError:
        return None


def open_attached(shmid: int, pids: Iterable[int], proc: Path = Path("/proc"),
                  tried: list[str] | None = None,
                  ipc_ns: int | None = None) -> tuple[int, int] | None:
    """(fd, pid): a read-only fd on the first of ``pids`` whose mapping of segment ``shmid`` can
    be opened; None when none can. The caller closes the fd. Reasons a pid failed ("1234:
    Permission denied") are appended to ``tried`` when given.

    Only processes in the IPC namespace ``ipc_ns`` (default: ours) count: shmids repeat across
    namespaces, and every namespace's segments live on the same internal filesystem, so a
    container's segment 5 looks like ours. The mapping must be named /SYSV... (only the kernel
    names a file at / so) with the shmid in the inode column, and the opened file must be a
    regular file whose inode is the shmid on the device the maps line names: a file someone else
    made cannot pass for the segment."""
    wanted = str(shmid).encode()
    marker = b" " + wanted + b" "
    namespace = ipc_namespace("self", proc) if ipc_ns is None else ipc_ns
    for pid in pids:
        if namespace is None or ipc_namespace(pid, proc) != namespace:
            continue
        try:
            with open(proc / str(pid) / "maps", "rb") as f:
                maps = f.read()
        except OSError as err:
            if tried is not None:
                tried.append(f"{pid}: {err.strerror}")
            continue  # gone, or not ours to read
        for line in maps.splitlines():
            if b"/SYSV" not in line or marker not in line:
                continue
            parts = line.split(None, 5)
            if len(parts) < 6 or parts[4] != wanted or not parts[5].startswith(b"/SYSV"):
                continue
            try:
                major, minor = (int(n, 16) for n in parts[3].split(b":"))
                fd = os.open(proc / str(pid) / "map_files" / parts[0].decode(),
                             os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except ValueError:
                continue
            except OSError as err:
                if tried is not None:
                    tried.append(f"{pid}: {err.strerror}")
                continue
            st = os.fstat(fd)
            if (stat.S_ISREG(st.st_mode) and st.st_ino == shmid
                    and (os.major(st.st_dev), os.minor(st.st_dev)) == (major, minor)):
                return fd, pid
            os.close(fd)
    return None
