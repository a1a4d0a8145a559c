"""Usage against the kernel's IPC limits: the meters the TUI's header draws and the exporter's
``ipctop_limit_used`` / ``ipctop_limit_max`` series, computed in one place from a Snapshot.

No Textual here: the widget (ui/widgets/limit_meters.py) only draws these.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipctop.kinds import SysvShm
from ipctop.model import Kind, Snapshot

UNLIMITED = 1 << 62
"""Limits at or above this are the kernel's "no limit" (shmall defaults to nearly 2**64 pages)."""


@dataclass(frozen=True, slots=True)
class Meter:
    label: str
    """What the TUI prints, e.g. "shm mem"."""
    used: int
    limit: int | None
    """None when the limit could not be read."""
    bytes: bool = False
    """``used`` and ``limit`` are bytes (else counts)."""
    key: str = ""
    """The exporter's ``limit`` label: what is counted and in which unit, e.g. "sysv_shm_bytes"."""
    kind: Kind | None = None
    """The kind whose objects ``used`` counts; None when ``used`` comes from elsewhere
    (/dev/shm's fill, from statvfs). A snapshot without that kind cannot tell the use."""

    @property
    def unlimited(self) -> bool:
        return self.limit is not None and self.limit >= UNLIMITED

    @property
    def fraction(self) -> float | None:
        """used / limit, at most 1; None when the limit is unknown, 0 or unlimited."""
        if not self.limit or self.unlimited:
            return None
        return min(1.0, self.used / self.limit)


def meters(snapshot: Snapshot) -> list[Meter]:
    """The six meters, from one snapshot: SysV shm bytes and segments, SysV message queues and
    semaphore sets, POSIX queues, and /dev/shm's fill."""
    lim = snapshot.limits
    shm = [o for o in snapshot.objects if isinstance(o, SysvShm)]
    shm_bytes = sum(o.size or 0 for o in shm)
    shmall = lim.shmall * lim.page_size if lim.shmall is not None else None

    def count(kind: Kind) -> int:
        return sum(1 for o in snapshot.objects if o.kind is kind)

    return [
        Meter("shm mem", shm_bytes, shmall, bytes=True, key="sysv_shm_bytes",
              kind=Kind.SYSV_SHM),
        Meter("shm segs", len(shm), lim.shmmni, key="sysv_shm_segments", kind=Kind.SYSV_SHM),
        Meter("msg qs", count(Kind.SYSV_MSG), lim.msgmni, key="sysv_msg_queues",
              kind=Kind.SYSV_MSG),
        Meter("sem sets", count(Kind.SYSV_SEM), lim.semmni, key="sysv_sem_sets",
              kind=Kind.SYSV_SEM),
        Meter("posix mq", count(Kind.POSIX_MQ), lim.mq_queues_max, key="posix_mq_queues",
              kind=Kind.POSIX_MQ),
        Meter("/dev/shm", lim.devshm_used or 0, lim.devshm_size, bytes=True,
              key="dev_shm_bytes"),
    ]
