"""What the benchmark loads (bench/load.py, bench/bigload.py) share: libc calls through ctypes,
the context-manager shape, the children's set-up and their ready reports, reaping, SysV
removal and listing, and turning SIGTERM/SIGHUP into a clean exit."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Self

IPC_RMID = 0
PR_SET_PDEATHSIG = 1
READY = b"+"
"""A child writes this to the ready pipe once it holds its objects."""
FAILED = b"!"
"""... or this if it could not."""


class StartStop:
    """A load as a context manager: ``start()`` on entry (``stop()`` too if it fails half-way),
    ``stop()`` on exit, whatever the exit."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("pad", ctypes.c_long * 4)]


def _loadlibc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmat.restype = ctypes.c_void_p
    libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    libc.msgget.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.msgctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    libc.semget.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
    libc.mq_unlink.argtypes = [ctypes.c_char_p]
    return libc


libc = _loadlibc()


def check(value: int, what: str) -> int:
    if value < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(value)


def wait_ready(ready_r: int, want: int, timeout: float) -> None:
    """Read the children's one-byte reports until ``want`` are in; raise if any failed or too
    few came within ``timeout`` seconds."""
    got = failed = 0
    deadline = time.monotonic() + timeout
    while got + failed < want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"only {got} of {want} load processes became ready")
        readable, _, _ = select.select([ready_r], [], [], left)
        if not readable:
            continue
        try:
            data = os.read(ready_r, 65536)
        except BlockingIOError:
            continue
        if not data:
            break
        got += data.count(READY)
        failed += data.count(FAILED)
    if failed or got < want:
        raise RuntimeError(f"{failed} load processes failed to set up, {got} of {want} ready")


def reap(pids: list[int], grace: float = 10.0) -> None:
    """Wait for the children (released already) to exit; SIGKILL those still there after
    ``grace`` seconds."""
    left = set(pids)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                left.discard(pid)
        if left:
            time.sleep(0.01)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in left:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def remove_sysv(kind: str, ident: int) -> None:
    """IPC_RMID of a SysV object; ``kind`` is shm, msg or sem (as /proc/sysvipc names them)."""
    if kind == "shm":
        libc.shmctl(ident, IPC_RMID, None)
    elif kind == "msg":
        libc.msgctl(ident, IPC_RMID, None)
    else:
        libc.semctl(ident, 0, IPC_RMID)


def remove_objects(shm_ids: list[int], msg_ids: list[int], sem_ids: list[int],
                   shm_paths: list[str], mq_names: list[str]) -> None:
    """Remove a load's objects (those still there) and empty the lists."""
    for kind, ids in (("shm", shm_ids), ("msg", msg_ids), ("sem", sem_ids)):
        for ident in ids:
            remove_sysv(kind, ident)
        ids.clear()
    for path in shm_paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    shm_paths.clear()
    for name in mq_names:
        libc.mq_unlink(name.encode())
    mq_names.clear()


def sysv_objects() -> list[tuple[str, int, int]]:
    """(kind, key as unsigned, id) of every SysV object in this IPC namespace."""
    out: list[tuple[str, int, int]] = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        out += [(kind, int(row[0]) & 0xFFFFFFFF, int(row[1])) for row in rows]
    return out


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a SIGKILLed load may wait a while to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return data[data.rfind(b")") + 2:][:1] != b"Z"


def child_setup(max_seconds: int, keep: list[int]) -> None:
    """In a forked child: only the parent ends it (SIGINT ignored), it dies with its parent and
    after ``max_seconds`` whatever happens, and holds no fd but stdio and ``keep``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.alarm(max_seconds)
    close_all_but({0, 1, 2, *keep})


def close_all_but(keep: set[int]) -> None:
    lo = 0
    for fd in sorted(keep):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)


@contextlib.contextmanager
def signals_as_exit() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit for the duration, so ``with Load()`` cleans up."""

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
