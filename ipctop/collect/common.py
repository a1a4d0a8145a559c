"""Small helpers every collector shares: paths, user names, modes, statfs."""

from __future__ import annotations

import ctypes
import math
import os
import pwd
from collections.abc import Sequence
from functools import lru_cache
from operator import is_
from pathlib import Path

PROC = Path("/proc")
DEV = Path("/dev")

MQUEUE_MAGIC = 0x19800202
TMPFS_MAGIC = 0x01021994

RACES = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)
"""What a /proc read may raise when the process exits or hides from us: skip, never crash."""


RACY = 1.0
"""Seconds: a timestamp this close to (or after) the moment we read something may be followed by
another change with the same timestamp (the kernel's clocks for these are coarse: seconds for
SysV, a jiffy for files), so whatever was read with it is not trusted at the next poll."""


@lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    """The login name for ``uid``, or the number as text when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def mode_str(perms: int) -> str:
    """Permission bits (without type and SysV flag bits) as "0600"."""
    return f"{perms & 0o777:04o}"


class _Statfs(ctypes.Structure):
    # struct statfs on 64-bit Linux; only f_type is read.
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def load_libc() -> ctypes.CDLL:
    """A libc handle of the caller's own.

    It is the process's own symbols (libc among them): ctypes.util.find_library would import
    subprocess, tempfile and shutil and run `ldconfig -p`, ~10 ms of every `ipctop` start. Each
    caller gets its own handle because ctypes caches function objects per handle, so argtypes
    one module sets (say on semctl) must not change another module's.
    """
    return ctypes.CDLL(None, use_errno=True)


_libc = load_libc()
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Statfs)]


def statfs_type(path: str | os.PathLike[str]) -> int | None:
    """The filesystem magic of ``path`` (follows /proc/PID/fd links), None on error."""
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    return int(buf.f_type) & 0xFFFFFFFF


def recheck_at(read_at: float, period: float) -> float:
    """When something read at ``read_at`` must be read again by a periodic recheck: the end of
    the ``period`` it was read in, on one grid for everything, so a kind's rechecks fall due
    together in one poll (and the polls between hand the kind on whole) rather than a few at
    every poll. Nothing waits longer than ``period``."""
    return (math.floor(read_at / period) + 1.0) * period


def same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    """Whether two sequences hold the very same objects in the same order (compared in C: a
    polling program's collectors hand out the same instance for what did not change)."""
    return len(a) == len(b) and all(map(is_, a, b))
