"""eventfds shared between processes: a counter one process adds to and another waits on.

An eventfd has no name and no list: every fd on one links to "anon_inode:[eventfd]" (all anon
inode files share one inode), and only its fdinfo tells one from another (``eventfd-id``) and
gives the counter (``eventfd-count``, hex) and the EFD_SEMAPHORE flag (``eventfd-semaphore``,
Linux 6.7+). The /proc scan reads fdinfo for these fds only. An eventfd one process holds is
that process's own business (event loops use them by the dozen); it is listed only when two or
more processes hold it, which is when it carries something between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipctop.collect.procfs import FdUse, parse_fdinfo_eventfd, read_whole
from ipctop.kinds import Eventfd
from ipctop.model import IpcObject

if TYPE_CHECKING:
    from ipctop.join import Join

MIN_HOLDERS = 2
"""An eventfd is listed once this many processes hold it."""


def join_eventfd(join: Join) -> list[IpcObject]:
    """Every eventfd held by at least :data:`MIN_HOLDERS` processes, with its holders."""
    out: list[IpcObject] = []
    for ident, fds in join.eventfd_fds.items():
        if len({f.pid for f in fds}) < MIN_HOLDERS:
            continue
        info = fds[0].eventfd
        count = info.count if info else None
        if join.live:
            # A writer changes the count without the holders we read running: in an
            # incremental scan their fdinfo may be old, so read one again now.
            count = _count_now(join.proc, fds, count)
        out.append(Eventfd(
            id=str(ident), count=count, semaphore=info.semaphore if info else None,
            users=join.fd_users(fds),
        ))
    return out


def _count_now(proc: str, fds: list[FdUse], known: int | None) -> int | None:
    """The counter from the fdinfo of the first holder that still has the fd; ``known`` if
    none does."""
    for f in fds:
        where = f"{proc}/{f.pid}/fdinfo/{f.fd}"
        try:
            info = parse_fdinfo_eventfd(read_whole(where), where)
        except (OSError, ValueError):
            continue
        if f.eventfd is not None and info.ident == f.eventfd.ident and info.count is not None:
            return info.count
    return known
