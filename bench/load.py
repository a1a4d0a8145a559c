"""A synthetic IPC load for the benchmarks: ~500 processes holding pipes, FIFOs, shm and sockets.

``with Load(LoadSpec(processes=500)) as load:`` forks that many children, each in one of a few
shapes (see :data:`SHAPES`), waits until every child holds its objects, and on exit tears it all
down: children are released, reaped (SIGKILL after a grace period), and every object the load made
is removed (SysV segments, the message queue and semaphore set, /dev/shm files, POSIX queues, the
FIFO directory). Teardown runs on an exception or Ctrl-C too, with SIGINT/SIGTERM held back until
it is done.

Why it looks like this:

- Every child blocks in ``read()`` on one shared *release pipe*; only the parent holds its write
  end, so closing it (or the parent dying in any way) wakes every child with EOF and they exit.
  Children also set PR_SET_PDEATHSIG=SIGKILL and an ``alarm()`` of ``max_seconds``, so no child
  outlives a forgotten or crashed benchmark. The count is capped at :data:`MAX_PROCESSES`.
- A child closes every inherited fd it does not need, so child N does not hold the ends meant for
  children 0..N-1: the load is what a real system looks like, not an O(n^2) fd explosion.
- SysV segments are made by the parent without attaching (ctypes ``shmget``) so only the children
  that attach show up as users; a handful of segments is shared by many children.
- The children are forked Python processes (after ``gc.freeze()``, so copy-on-write keeps them
  cheap, ~1 MB private each); like real programs they map a few dozen shared libraries, which is
  what lsof and ipctop both have to wade through.

Run ``python bench/load.py --processes 500 --hold 30`` to build the load by hand and look at it
with ``ipctop`` or ``lsof`` from another terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import mmap
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from loadkit import (
    FAILED,
    READY,
    MqAttr,
    StartStop,
    alive,
    check,
    child_setup,
    libc,
    reap,
    remove_objects,
    remove_sysv,
    signals_as_exit,
    sysv_objects,
    wait_ready,
)

MAX_PROCESSES = 4000
"""Hard cap on children, whatever the caller asks."""

SHAPES: tuple[str, ...] = (
    "pipe-parent",  # a pipe to the parent: the child writes, the parent holds the read end
    "pipe-sibling",  # a pipe between two children: one holds the write end, the next the read end
    "fifo",  # opens one of a few shared FIFOs (read-only or read-write)
    "sysv-shm",  # attaches one of a handful of SysV segments (shmat)
    "posix-shm",  # maps one of a few /dev/shm files MAP_SHARED; every other one keeps the fd
    "socketpair",  # one end of a UNIX socketpair, the other end in the next such child
    "mqueue",  # holds a POSIX message queue open
)
"""The shapes children take, assigned round-robin; every child also holds the release pipe."""

_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_SEM_PERMS = 0o600


@dataclass(frozen=True)
class LoadSpec:
    """How big the load is. The defaults give ~500 processes and ~330 IPC objects."""

    processes: int = 500
    """Children to fork (capped at MAX_PROCESSES)."""
    sysv_segments: int = 4
    """SysV shm segments, each attached by processes/len(SHAPES)/sysv_segments children."""
    segment_bytes: int = 1 << 20
    posix_shm_files: int = 4
    """Files in /dev/shm, each mapped by several children."""
    shm_file_bytes: int = 1 << 20
    fifos: int = 8
    mqueues: int = 2
    light: bool = False
    """Children whose objects are plain fds (pipes, FIFOs, socketpairs) exec ``cat``: a load of
    processes with few mappings, closer to small daemons than to Python programs."""
    fifo_parent: str = "/tmp"
    """Where the FIFO directory goes (not /dev/shm: a directory there is not a POSIX object)."""
    max_seconds: int = 1800
    """Children kill themselves (SIGALRM) after this long, whatever happens to the parent."""
    ready_timeout: float = 60.0
    """Seconds to wait for every child to report ready before giving up (and tearing down)."""


@dataclass
class _Child:
    pid: int
    shape: str


@dataclass
class Load(StartStop):
    """The load, as a context manager. Attributes describe what it made (for sanity checks)."""

    spec: LoadSpec = field(default_factory=LoadSpec)
    prefix: str = ""
    """Every named object carries this: /dev/shm/PREFIX-shm-K, /PREFIX-mq-K, .../PREFIX-fifo-K."""
    children: list[_Child] = field(default_factory=list)
    shm_ids: list[int] = field(default_factory=list)
    msg_ids: list[int] = field(default_factory=list)
    sem_ids: list[int] = field(default_factory=list)
    shm_paths: list[str] = field(default_factory=list)
    mq_names: list[str] = field(default_factory=list)
    fifo_paths: list[str] = field(default_factory=list)
    fifo_dir: str | None = None
    build_seconds: float = 0.0
    swept: list[str] = field(default_factory=list)
    """Leftovers of dead earlier loads removed before this one was built (see sweep_stale)."""
    _parent_fds: list[int] = field(default_factory=list)
    _release_w: int | None = None

    def __post_init__(self) -> None:
        if not self.prefix:
            self.prefix = f"ipctop-bench-{os.getpid()}"

    # ---- context manager -------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    def describe(self) -> str:
        shapes = Counter(c.shape for c in self.children)
        parts = ", ".join(f"{n} {s}" for s, n in shapes.items())
        swept = (f" (first removed {len(self.swept)} leftovers of killed loads)"
                 if self.swept else "")
        if self.spec.light:
            light = sum(1 for c in self.children if c.shape in _EXEC_SHAPES)
            parts += f"; light: {light} of them exec'd cat"
        return (
            f"{len(self.children)} processes ({parts}); {len(self.shm_ids)} SysV segments, "
            f"{len(self.shm_paths)} /dev/shm files, {len(self.fifo_paths)} FIFOs, "
            f"{len(self.mq_names)} POSIX queues, {len(self.msg_ids)} SysV msg queue, "
            f"{len(self.sem_ids)} SysV sem set; built in {self.build_seconds:.1f} s{swept}"
        )

    # ---- build -----------------------------------------------------------------------------

    def start(self) -> None:
        n = self.spec.processes
        if not 1 <= n <= MAX_PROCESSES:
            raise ValueError(f"processes must be 1..{MAX_PROCESSES}, not {n}")
        t0 = time.perf_counter()
        self.swept = sweep_stale()
        self._make_objects()
        release_r, self._release_w = os.pipe()
        ready_r, ready_w = os.pipe()
        os.set_blocking(ready_r, False)
        try:
            gc.collect()
            gc.freeze()  # children share the parent's heap pages instead of copying them
            pending: dict[str, int] = {}  # shape -> the fd kept for the next child of that shape
            for i in range(n):
                shape = SHAPES[i % len(SHAPES)]
                keep, later = self._fds_for(shape, i, pending)
                pid = os.fork()
                if pid == 0:
                    _child_main(  # never returns
                        shape, i, self, [*keep, release_r, ready_w], release_r, ready_w
                    )
                self.children.append(_Child(pid, shape))
                for fd in keep:
                    if fd not in later and fd not in self._parent_fds:
                        os.close(fd)
        finally:
            gc.unfreeze()
            os.close(release_r)
            os.close(ready_w)
            for fd in pending.values():  # the odd child out: close its partner's end
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            self._wait_ready(ready_r)
        finally:
            os.close(ready_r)
        self.build_seconds = time.perf_counter() - t0

    def _fds_for(
        self, shape: str, i: int, pending: dict[str, int]
    ) -> tuple[list[int], set[int]]:
        """Fds the child of this shape inherits and keeps; the second set stays open in the parent
        for a later child (the other end of a sibling pipe or socketpair)."""
        if shape == "pipe-parent":
            r, w = os.pipe()
            self._parent_fds.append(r)
            return [w], set()
        if shape in ("pipe-sibling", "socketpair"):
            if shape in pending:
                return [pending.pop(shape)], set()
            if shape == "pipe-sibling":
                a, b = os.pipe()
                give, keep_for_next = b, a  # this child writes, the next one reads
            else:
                s1, s2 = socket.socketpair()
                give, keep_for_next = s1.detach(), s2.detach()
            pending[shape] = keep_for_next
            return [give], {keep_for_next}
        return [], set()

    def _make_objects(self) -> None:
        spec = self.spec
        size = ctypes.c_size_t(spec.segment_bytes)

        def shmget(key: int, flags: int) -> int:
            return int(libc.shmget(key, size, flags))

        for k in range(spec.sysv_segments):
            self.shm_ids.append(_sysv_create(shmget, k, "shmget"))
        self.msg_ids.append(_sysv_create(
            lambda key, flags: int(libc.msgget(key, flags)), 14, "msgget"))
        self.sem_ids.append(_sysv_create(
            lambda key, flags: int(libc.semget(key, 3, flags)), 15, "semget"))
        for k in range(spec.posix_shm_files):
            path = f"/dev/shm/{self.prefix}-shm-{k}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self.shm_paths.append(path)
            try:
                os.ftruncate(fd, spec.shm_file_bytes)
            finally:
                os.close(fd)
        # Small queues: RLIMIT_MSGQUEUE (800 KiB per user by default, shared with every other
        # root process here) fails mq_open with EMFILE once default-sized queues use it up.
        attr = MqAttr(0, 1, 64, 0)
        for k in range(spec.mqueues):
            name = f"/{self.prefix}-mq-{k}"
            mqd = check(libc.mq_open(name.encode(), os.O_RDWR | os.O_CREAT | os.O_EXCL,
                                       0o600, ctypes.byref(attr)), f"mq_open {name}")
            self.mq_names.append(name)
            os.close(mqd)
        self.fifo_dir = tempfile.mkdtemp(prefix=f"{self.prefix}-", dir=spec.fifo_parent)
        for k in range(spec.fifos):
            path = os.path.join(self.fifo_dir, f"{self.prefix}-fifo-{k}")
            os.mkfifo(path, 0o600)
            self.fifo_paths.append(path)

    def _wait_ready(self, ready_r: int) -> None:
        wait_ready(ready_r, len(self.children), self.spec.ready_timeout)

    # ---- teardown --------------------------------------------------------------------------

    def stop(self) -> None:
        """Release and reap every child, remove every object. Idempotent; never raises OSError."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            if self._release_w is not None:
                with contextlib.suppress(OSError):
                    os.close(self._release_w)
                self._release_w = None
            for fd in self._parent_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._parent_fds.clear()
            self._reap()
            remove_objects(self.shm_ids, self.msg_ids, self.sem_ids, self.shm_paths,
                           self.mq_names)
            if self.fifo_dir is not None:
                shutil.rmtree(self.fifo_dir, ignore_errors=True)
                self.fifo_dir = None
            self.fifo_paths.clear()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _reap(self) -> None:
        reap([c.pid for c in self.children])
        self.children.clear()


# ---- leftovers of killed loads -----------------------------------------------------------------

_KEY_MAGIC = 0x1B
"""SysV keys of the load are 0x1B PPPPP K: magic, the creating pid (20 bits), the object's index.
The pid in the key is what lets a later run tell a dead load's objects from anyone else's."""
_IPC_EXCL = 0o2000


def _sysv_key(pid: int, k: int) -> int:
    if pid >= 1 << 20 or not 0 <= k < 16:
        return _IPC_PRIVATE
    return (_KEY_MAGIC << 24) | (pid << 4) | k


def _sysv_create(get: Callable[[int, int], int], k: int, what: str) -> int:
    """shmget/msgget/semget with the load's key; IPC_PRIVATE if that key is taken."""
    key = _sysv_key(os.getpid(), k)
    if key != _IPC_PRIVATE:
        ident = get(key, _IPC_CREAT | _IPC_EXCL | 0o600)
        if ident >= 0:
            return ident
    return check(get(_IPC_PRIVATE, _IPC_CREAT | 0o600), what)


_NAMED = re.compile(r"ipctop-bench-(\d+)-(?:shm|mq)-\d+")
_FIFO_DIR = re.compile(r"ipctop-bench-(\d+)-[A-Za-z0-9_]{8}")


def sweep_stale(fifo_parent: str = LoadSpec.fifo_parent) -> list[str]:
    """Remove what loads killed with SIGKILL left behind (a teardown cannot run then; their
    children die with them through PR_SET_PDEATHSIG). Only objects that carry a load's mark and
    whose creating pid is gone: SysV ids with a 0x1B.. key, /dev/shm/ipctop-bench-PID-shm-N,
    /dev/mqueue/ipctop-bench-PID-mq-N, and FIFO directories holding only that load's FIFOs."""
    removed: list[str] = []
    for kind, key, ident in sysv_objects():
        if key >> 24 == _KEY_MAGIC and not alive((key >> 4) & 0xFFFFF):
            remove_sysv(kind, ident)
            removed.append(f"SysV {kind} {ident} (key 0x{key:08x})")
    for d in ("/dev/shm", "/dev/mqueue"):
        with contextlib.suppress(OSError):
            for name in os.listdir(d):
                m = _NAMED.fullmatch(name)
                if m and not alive(int(m[1])):
                    if d == "/dev/mqueue":
                        libc.mq_unlink(f"/{name}".encode())
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(os.path.join(d, name))
                    removed.append(f"{d}/{name}")
    with contextlib.suppress(OSError):
        for name in os.listdir(fifo_parent):
            m = _FIFO_DIR.fullmatch(name)
            if not m or alive(int(m[1])):
                continue
            path = os.path.join(fifo_parent, name)
            fifo = re.compile(rf"ipctop-bench-{m[1]}-fifo-\d+")
            try:
                entries = os.listdir(path)
                if all(fifo.fullmatch(e) and stat.S_ISFIFO(os.lstat(os.path.join(path, e)).st_mode)
                       for e in entries):
                    shutil.rmtree(path)
                    removed.append(path)
            except OSError:
                continue
    return removed


# ---- the child ---------------------------------------------------------------------------------


def _child_main(
    shape: str, i: int, load: Load, keep: list[int], release_r: int, ready_w: int
) -> NoReturn:
    """Runs in the forked child: take hold of the shape's objects, say ready, block, exit."""
    status = 1
    try:
        child_setup(load.spec.max_seconds, keep)
        held = _take_hold(shape, i, load)
        os.write(ready_w, READY)
        os.close(ready_w)
        if load.spec.light and shape in _EXEC_SHAPES:
            inherited = [fd for fd in keep if fd not in (release_r, ready_w)]
            _become_cat(release_r, inherited + [h for h in held if isinstance(h, int)])
        while os.read(release_r, 1):
            pass
        del held
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(ready_w, FAILED)
    finally:
        os._exit(status)


_EXEC_SHAPES = frozenset({"pipe-parent", "pipe-sibling", "fifo", "socketpair"})
"""Shapes whose objects are plain fds, which survive exec (mappings do not)."""
_CAT = "/bin/cat"


def _become_cat(release_r: int, fds: list[int]) -> NoReturn:
    """Replace this Python with ``cat`` reading the release pipe: it holds the same fds, maps a
    handful of files instead of ~30 libraries, and exits at EOF like the Python child would.
    The parent-death signal and the pending alarm survive exec."""
    os.dup2(release_r, 0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    for fd in fds:
        os.set_inheritable(fd, True)
    os.execv(_CAT, [_CAT])


def _take_hold(shape: str, i: int, load: Load) -> list[object]:
    """Open/attach/map what this shape holds; returns objects to keep alive."""
    held: list[object] = []
    k = i // len(SHAPES)  # the index of this child among children of its shape
    if shape == "fifo" and load.fifo_paths:
        path = load.fifo_paths[k % len(load.fifo_paths)]
        flags = os.O_RDWR if k % 2 else os.O_RDONLY | os.O_NONBLOCK
        held.append(os.open(path, flags))
    elif shape == "sysv-shm" and load.shm_ids:
        addr = libc.shmat(load.shm_ids[k % len(load.shm_ids)], None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "shmat")
        held.append(addr)
    elif shape == "posix-shm" and load.shm_paths:
        fd = os.open(load.shm_paths[k % len(load.shm_paths)], os.O_RDWR)
        held.append(mmap.mmap(fd, load.spec.shm_file_bytes, mmap.MAP_SHARED))
        if k % 2:
            os.close(fd)  # mapped only
        else:
            held.append(fd)
    elif shape == "mqueue" and load.mq_names:
        name = load.mq_names[k % len(load.mq_names)]
        held.append(check(libc.mq_open(name.encode(), os.O_RDWR, 0, None), f"mq_open {name}"))
    return held


# ---- by hand -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the benchmark IPC load and hold it.")
    ap.add_argument("--processes", type=int, default=LoadSpec.processes)
    ap.add_argument("--hold", type=float, default=60.0, help="seconds to hold (default 60)")
    ap.add_argument("--light", action="store_true",
                    help="children holding only fds exec cat (few mappings each)")
    ap.add_argument("--sweep", action="store_true",
                    help="only remove what killed loads left behind, and exit")
    args = ap.parse_args(argv)
    if args.sweep:
        for line in sweep_stale():
            print(f"removed {line}")
        return 0
    with signals_as_exit(), Load(LoadSpec(processes=args.processes, light=args.light)) as load:
        print(load.describe(), flush=True)
        print(f"holding for {args.hold:.0f} s (Ctrl-C to stop); names start with {load.prefix}",
              flush=True)
        time.sleep(args.hold)
    print("torn down", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
