"""Shared memory with no name in any filesystem: shared anonymous memory and memfds.

Neither has a list of its own anywhere; both are found by the /proc scan, as the kernel shows
the shmem file behind them:

- **anon_shm**: ``mmap(MAP_SHARED|MAP_ANONYMOUS)`` (or a MAP_SHARED map of /dev/zero) is backed by
  a shmem file that maps shows as "/dev/zero (deleted)", or "[anon_shmem:NAME]" once named with
  ``prctl(PR_SET_VMA_ANON_NAME)`` (kernels built with CONFIG_ANON_VMA_NAME), or
  "/anon_hugepage (deleted)" with MAP_HUGETLB. The inode column is the shmem inode, the same in
  every process that inherited the mapping across fork, so the users are every process mapping
  that inode. (SysV segments live on the same device, 00:01, but are "/SYSV%08x"; they are
  told apart by that prefix, never by the device.)
- **memfd**: fds link to "/memfd:NAME (deleted)" and maps name it the same way. The users are the
  fd holders (``via: fd``, with access) and the mappers (``via: map``).

Sizes come from fstat of the shmem file itself, once per object: through a holder's fd link, or
through /proc/PID/map_files/START-END (root only); otherwise the largest offset + length mapped.
An object's ``rss``/``swap`` come from smaps of one holder, for only the mappings of these
objects, and each holder's smaps is read at most once per scan.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from ipctop.collect.common import mode_str, user_name
from ipctop.collect.procfs import FdUse, MapUse
from ipctop.kinds import MEMFD_SEALS, AnonShm, Memfd
from ipctop.model import IpcObject, User

if TYPE_CHECKING:
    from ipctop.join import Join

F_GET_SEALS = 1034
"""fcntl F_GET_SEALS (F_LINUX_SPECIFIC_BASE + 10)."""

MEMFD_PREFIX = "/memfd:"
ANON_ZERO = "/dev/zero"
ANON_HUGE = "/anon_hugepage"
ANON_NAMED = "[anon_shmem:"
_O_PEEK = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def anon_shm_name(m: MapUse) -> tuple[bool, str | None]:
    """(is it shared anonymous memory, its anon_shmem name or None) for one shared map."""
    path = m.path
    if path.startswith(ANON_NAMED) and path.endswith("]"):
        return True, path[len(ANON_NAMED) : -1]
    if m.deleted and path in (ANON_ZERO, ANON_HUGE):
        return True, None
    return False, None


def _extent(maps: Iterable[MapUse]) -> int | None:
    """The largest offset + length mapped: the object's size when nothing better is known."""
    return max((m.offset + m.end - m.start for m in maps), default=None) or None


def _user_order(u: User) -> tuple[int, int, int]:
    return (u.pid, 0 if u.via == "fd" else 1, -1 if u.fd is None else u.fd)


# --------------------------------------------------------------------------- anon_shm


def join_anon_shm(join: Join) -> list[IpcObject]:
    """One AnonShm per shmem inode mapped shared anonymously, with every process mapping it."""
    found: list[tuple[tuple[int, int], str | None, list[MapUse]]] = []
    for key, maps in join.maps_by_file.items():
        anon, name = anon_shm_name(maps[0])
        if anon:
            found.append((key, name, maps))
    usage = _smaps_usage(join, [maps for _, _, maps in found]) if join.live else {}
    out: list[IpcObject] = []
    for i, ((dev, inode), name, maps) in enumerate(found):
        st = _map_file_stat(join, maps) if join.live else None
        rss, swap, rss_pid = usage.get(i, (None, None, None))
        out.append(AnonShm(
            id=str(inode), name=name, dev=dev, inode=inode,
            size=st.st_size if st is not None else _extent(maps),
            uid=st.st_uid if st else None, owner=user_name(st.st_uid) if st else None,
            mode=mode_str(st.st_mode) if st else None, ctime=st.st_ctime if st else None,
            rss=rss, swap=swap, rss_pid=rss_pid,
            hugetlb=maps[0].path == ANON_HUGE,
            allocated=st.st_blocks * 512 if st is not None else None,
            users=join.map_users(maps),
        ))
    return out


def _map_file_stat(join: Join, maps: Sequence[MapUse]) -> os.stat_result | None:
    """stat of the shmem file behind ``maps``, through /proc/PID/map_files (root only)."""
    for m in maps:
        try:
            return os.stat(f"{join.proc}/{m.pid}/map_files/{m.range_name}")
        except PermissionError:
            return None  # not root: no holder's map_files will open either
        except OSError:
            continue  # that process or mapping is gone: try the next
    return None


def _smaps_usage(join: Join, objects: list[list[MapUse]]
                 ) -> dict[int, tuple[int | None, int | None, int]]:
    """Per object index: (rss, swap, pid) summed over one holder's mappings of it.

    smaps costs the kernel a walk of the whole address space, so each holder's is read at most
    once: every object takes the holder that maps the most of these objects (the parent that
    created them, typically), ties to the lowest pid. In an incremental scan a holder that has
    not run keeps its MapUse instances, and its figures are taken from the previous scan.
    """
    count: dict[int, int] = defaultdict(int)
    for maps in objects:
        for pid in {m.pid for m in maps}:
            count[pid] += 1
    chosen: dict[int, list[tuple[int, list[MapUse]]]] = defaultdict(list)
    for i, maps in enumerate(objects):
        pid = min({m.pid for m in maps}, key=lambda p: (-count[p], p))
        chosen[pid].append((i, [m for m in maps if m.pid == pid]))
    out: dict[int, tuple[int | None, int | None, int]] = {}
    for pid, wanted in chosen.items():
        ranges = [m for _, maps in wanted for m in maps]
        figures = join.remembered("smaps", ranges, partial(_read_smaps, join.proc, pid))
        for i, maps in wanted:
            rss = swap = 0
            known = False
            for m in maps:
                got = figures.get((m.start, m.end))
                if got is not None:
                    known = True
                    rss += got[0]
                    swap += got[1]
            if known:
                out[i] = (rss, swap, pid)
    return out


def _read_smaps(proc: str, pid: int, maps: Sequence[MapUse]
                ) -> dict[tuple[int, int], tuple[int, int]]:
    """(start, end) -> (Rss, Swap) in bytes for ``maps``, from /proc/PID/smaps; {} when it
    cannot be read."""
    try:
        with open(f"{proc}/{pid}/smaps", "rb") as f:
            data = f.read()
    except OSError:
        return {}
    return parse_smaps(data, [(m.start, m.end) for m in maps])


def parse_smaps(data: bytes, ranges: Iterable[tuple[int, int]]
                ) -> dict[tuple[int, int], tuple[int, int]]:
    """(start, end) -> (Rss, Swap) in bytes for the VMAs of ``ranges`` found in smaps ``data``.

    Each VMA's block starts with its maps line ("start-end perms ..."); only the wanted blocks
    are looked at, with bytes.find, so the cost is the read, not the parse."""
    out: dict[tuple[int, int], tuple[int, int]] = {}
    for start, end in ranges:
        head_line = f"{start:x}-{end:x} ".encode()
        head = 0 if data.startswith(head_line) else data.find(b"\n" + head_line) + 1
        if head <= 0 and not data.startswith(head_line):
            continue
        stop = data.find(b"\nVmFlags:", head)
        block = data[head : stop if stop >= 0 else None]  # one VMA's lines, not the file
        out[(start, end)] = (_kb(block, b"\nRss:"), _kb(block, b"\nSwap:"))
    return out


def _kb(block: bytes, key: bytes) -> int:
    """The "Key:   123 kB" value of one smaps block, in bytes (0 when absent)."""
    pos = block.find(key)
    if pos < 0:
        return 0
    fields = block[pos + len(key) : block.find(b"\n", pos + 1)].split()
    try:
        return int(fields[0]) * 1024
    except (IndexError, ValueError):
        return 0


# --------------------------------------------------------------------------- memfd


def join_memfd(join: Join) -> list[IpcObject]:
    """One Memfd per inode that a process holds by fd or maps, with both kinds of users."""
    maps_by_ino: dict[int, list[MapUse]] = defaultdict(list)
    for (_, inode), maps in join.maps_by_file.items():
        if maps[0].path.startswith(MEMFD_PREFIX):
            maps_by_ino[inode].extend(maps)
    out: list[IpcObject] = []
    for inode in join.memfd_fds.keys() | maps_by_ino.keys():
        fds = join.memfd_fds.get(inode, [])
        maps = maps_by_ino.get(inode, [])
        users = join.fd_users(fds) + join.map_users(maps)
        path = fds[0].path if fds else maps[0].path
        deleted = fds[0].target.endswith(" (deleted)") if fds else maps[0].deleted
        st, seals = _memfd_stat(join, fds, maps) if join.live else (None, None)
        first = fds[0] if fds else None
        uid = st.st_uid if st else (first.uid if first else None)
        fmode = st.st_mode if st else (first.mode if first else None)
        size = st.st_size if st else (first.size if first else None)
        out.append(Memfd(
            id=str(inode), name=path[len(MEMFD_PREFIX):], inode=inode,
            dev=st.st_dev if st else (first.dev if first else maps[0].dev if maps else None),
            size=size if size is not None else _extent(maps),
            uid=uid, owner=user_name(uid) if uid is not None else None,
            mode=mode_str(fmode) if fmode is not None else None,
            ctime=st.st_ctime if st else (first.ctime if first else None),
            seals=seals, deleted=deleted, allocated=st.st_blocks * 512 if st else None,
            users=tuple(sorted(users, key=_user_order)),
        ))
    return out


def _memfd_stat(join: Join, fds: Sequence[FdUse], maps: Sequence[MapUse]
                ) -> tuple[os.stat_result | None, tuple[str, ...] | None]:
    """fstat and F_GET_SEALS of one memfd, once: opened read-only through a holder's fd link,
    else through a mapper's /proc/PID/map_files entry (root only). (None, None) when neither
    opens; seals None when the file is not a regular file or refuses F_GET_SEALS."""
    paths = [f"{join.proc}/{f.pid}/fd/{f.fd}" for f in fds] + \
        [f"{join.proc}/{m.pid}/map_files/{m.range_name}" for m in maps]
    for path in paths:
        try:
            fd = os.open(path, _O_PEEK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None, None
            try:
                bits = fcntl.fcntl(fd, F_GET_SEALS)
            except OSError:
                return st, None
            return st, seal_names(bits)
        finally:
            os.close(fd)
    return None, None


def seal_names(bits: int) -> tuple[str, ...]:
    """F_GET_SEALS bits as names, in bit order; an unknown bit as its hex value."""
    names = [name for bit, name in MEMFD_SEALS.items() if bits & bit]
    rest = bits & ~sum(MEMFD_SEALS)
    if rest:
        names.append(hex(rest))
    return tuple(names)
