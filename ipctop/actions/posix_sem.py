"""POSIX named semaphores: the sem_t in /dev/shm/sem.NAME, mapped by us, changed by libc.

Not ``posix_ipc``/sem_open: sem_open maps the file without looking at its size, so any user's
``: > /dev/shm/sem.x`` made root's ipctop die of SIGBUS. Here the file is opened through
:mod:`ipctop.actions.posix_files` (no link followed, regular file on /dev/shm's tmpfs, at least
sizeof(sem_t) bytes), only that much is mapped, and libc's sem_post / sem_trywait /
sem_clockwait / sem_getvalue work on the mapping, exactly as on one sem_open made. (Left: the
file's owner can still truncate it between the check and our access; that kills only this
ipctop command, and only the owner of the semaphore can do it.)

A POSIX semaphore has no "set" and no "add n": both are n single posts or waits. They are
bounded (:data:`STEPS_MAX`, refused beyond with a clear message), and all or nothing: a failure
or an interrupt (Ctrl-C, SIGTERM are held while we change the value) undoes what was done.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ipctop.actions.common import POSIX_SEM_VALUE_MAX, Deadline, check_range, object_name
from ipctop.actions.posix_files import SEM_T_SIZE, open_file
from ipctop.collect.common import load_libc
from ipctop.errors import IpcError, UsageError
from ipctop.model import Kind

STEPS_MAX = 1_000_000
"""Most single posts or waits one command makes (about a second)."""
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_SLICE = 0.05
"""Longest single wait, so a held Ctrl-C is noticed and undone within this."""


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


@lru_cache(maxsize=1)
def _libc() -> Any:
    libc = load_libc()
    p = ctypes.c_void_p
    for fname, argtypes in (("sem_post", [p]), ("sem_trywait", [p]),
                            ("sem_getvalue", [p, ctypes.POINTER(ctypes.c_int)]),
                            ("sem_clockwait", [p, ctypes.c_int, ctypes.POINTER(_Timespec)])):
        func = getattr(libc, fname)
        func.restype = ctypes.c_int
        func.argtypes = argtypes
    return libc


def _label(name: str) -> str:
    return object_name(Kind.POSIX_SEM, name)


@contextmanager
def _mapped(name: str, what: str) -> Iterator[int]:
    """The address of the semaphore, mapped from its checked file; unmapped after."""
    with open_file(Kind.POSIX_SEM, name, os.O_RDWR, what) as fd:
        m = mmap.mmap(fd, SEM_T_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        anchor = ctypes.c_char.from_buffer(m)
        try:
            yield ctypes.addressof(anchor)
        finally:
            del anchor
    finally:
        m.close()


def _value(addr: int) -> int:
    out = ctypes.c_int()
    _libc().sem_getvalue(addr, ctypes.byref(out))
    return int(out.value)


@contextmanager
def _signals_held() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C and SIGTERM until the block ends (they are delivered then); the callable
    says whether one is waiting, so a long wait can stop, undo, and let it through."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield lambda: bool(signal.sigpending() & _HELD)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _bounded(label: str, steps: int, doing: str) -> None:
    if steps > STEPS_MAX:
        raise UsageError(f"{doing} {label} takes {steps} single posts or waits (a POSIX "
                         f"semaphore has no other way); ipctop does at most {STEPS_MAX}: "
                         "nothing changed")


def _post(addr: int, n: int) -> None:
    post = _libc().sem_post
    for _ in range(n):
        post(addr)


def _take(addr: int, n: int, deadline: Deadline | None, interrupted: Callable[[], bool]) -> int:
    """Take up to ``n``, waiting until ``deadline`` (None: not at all); returns how many."""
    libc = _libc()
    taken = 0
    while taken < n:
        if libc.sem_trywait(addr) == 0:
            taken += 1
            continue
        err = ctypes.get_errno()
        if err == errno.EINTR:
            continue
        if err != errno.EAGAIN or deadline is None or interrupted():
            break
        left = deadline.left()
        if left <= 0:
            break
        end = time.clock_gettime(time.CLOCK_MONOTONIC) + min(left, _SLICE)
        ts = _Timespec(int(end), int((end - int(end)) * 1e9))
        if libc.sem_clockwait(addr, time.CLOCK_MONOTONIC, ctypes.byref(ts)) == 0:
            taken += 1
    return taken


def values(name: str) -> tuple[int, ...]:
    with _mapped(name, "read") as addr:
        return (_value(addr),)


def op(name: str, delta: int, index: int, timeout: float) -> int:
    label = _label(name)
    if index != 0:
        raise UsageError(f"--index applies to sysv-sem sets; {label} is one semaphore")
    if delta == 0:
        raise UsageError("POSIX semaphores cannot wait for zero: --op must not be 0")
    check_range("--op", delta, -POSIX_SEM_VALUE_MAX, POSIX_SEM_VALUE_MAX)
    _bounded(label, abs(delta), f"--op {delta:+d} on")
    with _mapped(name, "change") as addr:
        if delta > 0:
            if _value(addr) + delta > POSIX_SEM_VALUE_MAX:
                raise UsageError(f"{label} would exceed {POSIX_SEM_VALUE_MAX}: nothing changed")
            with _signals_held():
                _post(addr, delta)
            return _value(addr)
        deadline = Deadline(timeout)
        with _signals_held() as interrupted:
            taken = _take(addr, -delta, deadline, interrupted)
            if taken < -delta:
                _post(addr, taken)  # all or nothing, like semop
                if interrupted():
                    raise IpcError(f"{label}: interrupted, nothing changed")
                raise IpcError(f"{label} is {_value(addr)}, op {delta:+d} needs at least "
                               f"{-delta}{deadline.waited()}: nothing changed")
        return _value(addr)


def set_value(name: str, value: int, index: int) -> int:
    """Set by posting or taking the difference; someone else changing it meanwhile only moves
    the starting point (the result is ``value`` unless they keep changing it)."""
    label = _label(name)
    if index != 0:
        raise UsageError(f"--index applies to sysv-sem sets; {label} is one semaphore")
    check_range("--set", value, 0, POSIX_SEM_VALUE_MAX)
    with _mapped(name, "set") as addr:
        current = _value(addr)
        _bounded(label, abs(value - current), f"setting {current} -> {value} on")
        with _signals_held():
            if current > value:
                _take(addr, current - value, None, lambda: False)
            now = _value(addr)
            if now < value:
                _post(addr, min(value - now, STEPS_MAX))
        return _value(addr)
