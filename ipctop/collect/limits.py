"""Kernel IPC limits, for usage-versus-limit meters.

Each limit is one small file under /proc/sys; a missing or unreadable one (another kernel, a
container that hides it) leaves its field None, while a file that does not hold a number is a
ParseError naming it. /dev/shm's size and use come from statvfs.
"""

from __future__ import annotations

import os
from pathlib import Path

from ipctop.collect.common import DEV, PROC
from ipctop.errors import ParseError
from ipctop.model import Limits


def _read_ints(path: Path, count: int) -> tuple[int, ...] | None:
    """The ``count`` whitespace-separated integers in ``path``; None if it cannot be read."""
    try:
        text = path.read_text()
    except OSError:
        return None
    fields = text.split()
    if len(fields) != count:
        raise ParseError(path, 1, f"expected {count} number(s), got {len(fields)} field(s)")
    try:
        return tuple(int(f) for f in fields)
    except ValueError:
        raise ParseError(path, 1, f"not a number: {text.strip()!r}") from None


def _one(path: Path) -> int | None:
    values = _read_ints(path, 1)
    return None if values is None else values[0]


def _devshm(dev: Path) -> tuple[int | None, int | None]:
    try:
        st = os.statvfs(dev / "shm")
    except OSError:
        return None, None
    return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize


def read_limits(proc: Path = PROC, dev: Path = DEV) -> Limits:
    """The limits in /proc/sys/kernel and /proc/sys/fs/mqueue, the page size, /dev/shm's fill."""
    kernel = proc / "sys" / "kernel"
    mqueue = proc / "sys" / "fs" / "mqueue"
    sem = _read_ints(kernel / "sem", 4)
    semmsl, semmns, semopm, semmni = sem if sem is not None else (None, None, None, None)
    size, used = _devshm(dev)
    return Limits(
        page_size=os.sysconf("SC_PAGE_SIZE"),
        shmmax=_one(kernel / "shmmax"),
        shmall=_one(kernel / "shmall"),
        shmmni=_one(kernel / "shmmni"),
        msgmax=_one(kernel / "msgmax"),
        msgmnb=_one(kernel / "msgmnb"),
        msgmni=_one(kernel / "msgmni"),
        semmsl=semmsl,
        semmns=semmns,
        semopm=semopm,
        semmni=semmni,
        mq_queues_max=_one(mqueue / "queues_max"),
        mq_msg_max=_one(mqueue / "msg_max"),
        mq_msgsize_max=_one(mqueue / "msgsize_max"),
        mq_msg_default=_one(mqueue / "msg_default"),
        mq_msgsize_default=_one(mqueue / "msgsize_default"),
        devshm_size=size,
        devshm_used=used,
    )
