"""The big load: ~16,500 IPC objects (many objects, few processes), for the TUI at scale.

``with BigLoad(BigSpec()) as load:`` makes 4,000 SysV segments, 2,000 SysV message queues,
2,000 semaphore sets, 3,000 /dev/shm files and 500 POSIX queues in this process, then forks
200 children that hold 5,000 pipes between them (25 each, the read end in the next child), and
each also attaches 2 of the segments, maps 2 of the /dev/shm files and keeps one POSIX queue
open, so objects have users as on a real machine. On exit (an exception and Ctrl-C included,
SIGINT/SIGTERM held back meanwhile) everything is torn down as in bench/load.py: children
released and reaped, every object removed, raised kernel limits put back.

Why it looks like this:

- Objects are small (4 KiB segments and files, never touched; POSIX queues of 1 x 64 bytes):
  the load is about counts, not memory. ``RLIMIT_MSGQUEUE`` (800 KiB per user) is shared by every
  root process here; 500 small queues take ~75 KiB of it.
- Kernel limits are raised only when the load would not fit (``kernel.shmmni``, ``msgmni``, the
  4th field of ``kernel.sem``, ``fs.mqueue.queues_max`` for a process without CAP_SYS_RESOURCE;
  this process's ``RLIMIT_MSGQUEUE`` and ``RLIMIT_NOFILE``), and put back at teardown if nobody
  changed them meanwhile.
- SysV keys cannot carry a pid and 4,000 indexes in 32 bits, so they are ``0x1C TTT III``: a
  12-bit *tag* and the object's index. A run holds an flock on ``LOCK_DIR/big-TAG.lock`` (which
  also records its pid and the limits it raised) from before its first object until after its
  last is gone. :func:`sweep_big` treats a lock file nobody holds as a dead run's: it removes the
  SysV objects with that tag, the ``ipctop-bench-PID-b*`` names, and restores the limits. The
  kernel drops an flock when its holder dies, SIGKILL included.

    .venv/bin/python bench/bigload.py --hold 120     # build it, hold it, tear it down
    .venv/bin/python bench/bigload.py --sweep        # only remove what killed runs left
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import gc
import json
import mmap
import os
import re
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from load import sweep_stale
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

_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_EXCL = 0o2000
_CAP_SYS_RESOURCE = 24
_KEY_MAGIC = 0x1C
_MAX_INDEX = 1 << 12
"""SysV objects of one kind per run (the key has 12 bits for the index)."""


@dataclass(frozen=True)
class BigSpec:
    """Counts of the big load; the defaults are the issue's (~16,500 objects)."""

    sysv_segments: int = 4000
    sysv_queues: int = 2000
    sem_sets: int = 2000
    shm_files: int = 3000
    mqueues: int = 500
    pipes: int = 5000
    processes: int = 200
    """Children holding the pipes (pipes // processes each, the read ends in the next child)."""
    attach_each: int = 2
    """SysV segments each child attaches."""
    map_each: int = 2
    """/dev/shm files each child maps MAP_SHARED."""
    segment_bytes: int = 4096
    shm_file_bytes: int = 4096
    sems_per_set: int = 4
    max_seconds: int = 1800
    """Children kill themselves (SIGALRM) after this long, whatever happens to the parent."""
    ready_timeout: float = 120.0

    @property
    def objects(self) -> int:
        return (self.sysv_segments + self.sysv_queues + self.sem_sets + self.shm_files
                + self.mqueues + self.pipes)


def lock_dir() -> str:
    """Where runs keep their lock files: /run (root's) or a per-user directory in /tmp."""
    if os.access("/run", os.W_OK):
        return "/run/ipctop-bench"
    return os.path.join(tempfile.gettempdir(), f"ipctop-bench-{os.getuid()}")


@dataclass
class _Limit:
    path: str
    field_index: int | None
    """For multi-value files (kernel.sem): which whitespace-separated field."""
    old: str = ""
    new: str = ""


@dataclass
class BigLoad(StartStop):
    """The big load, as a context manager. Attributes say what it made."""

    spec: BigSpec = field(default_factory=BigSpec)
    prefix: str = ""
    """/dev/shm/PREFIX-bshm-N and /PREFIX-bmq-N; SysV keys carry ``tag`` instead."""
    tag: int = -1
    children: list[int] = field(default_factory=list)
    shm_ids: list[int] = field(default_factory=list)
    msg_ids: list[int] = field(default_factory=list)
    sem_ids: list[int] = field(default_factory=list)
    shm_paths: list[str] = field(default_factory=list)
    mq_names: list[str] = field(default_factory=list)
    raised: list[_Limit] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    build_seconds: float = 0.0
    _rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    _lock_fd: int | None = None
    _lock_path: str = ""
    _release_w: int | None = None

    def __post_init__(self) -> None:
        if not self.prefix:
            self.prefix = f"ipctop-bench-{os.getpid()}"

    @property
    def pids(self) -> list[int]:
        return list(self.children)

    @property
    def objects(self) -> int:
        return (len(self.shm_ids) + len(self.msg_ids) + len(self.sem_ids) + len(self.shm_paths)
                + len(self.mq_names) + self.spec.pipes)

    def describe(self) -> str:
        raised = "; raised " + ", ".join(f"{lim.path} {lim.old} -> {lim.new}"
                                         for lim in self.raised) if self.raised else ""
        swept = f" (first removed {len(self.swept)} leftovers)" if self.swept else ""
        return (f"{len(self.shm_ids)} SysV segments, {len(self.msg_ids)} SysV queues, "
                f"{len(self.sem_ids)} semaphore sets, {len(self.shm_paths)} /dev/shm files, "
                f"{len(self.mq_names)} POSIX queues, {self.spec.pipes} pipes in "
                f"{len(self.children)} processes: {self.objects} objects; built in "
                f"{self.build_seconds:.1f} s{raised}{swept}")

    # ---- build -----------------------------------------------------------------------------

    def start(self) -> None:
        spec = self.spec
        for n, what in ((spec.sysv_segments, "segments"), (spec.sysv_queues, "queues"),
                        (spec.sem_sets, "semaphore sets")):
            if not 0 <= n <= _MAX_INDEX:
                raise ValueError(f"SysV {what}: 0..{_MAX_INDEX}, not {n}")
        if not 1 <= spec.processes <= 4000 or spec.pipes < 0:
            raise ValueError("processes must be 1..4000 and pipes >= 0")
        t0 = time.perf_counter()
        self.swept = sweep_big()
        self._take_lock()
        self._raise_limits()
        self._make_objects()
        self._fork_children()
        self.build_seconds = time.perf_counter() - t0

    def _take_lock(self) -> None:
        """An flock on big-TAG.lock for a free tag (our pid's low 12 bits if free)."""
        d = lock_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        base = os.getpid() & (_MAX_INDEX - 1)
        for i in range(_MAX_INDEX):
            tag = (base + i) % _MAX_INDEX
            path = os.path.join(d, f"big-{tag:03x}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                st = os.fstat(fd)
                same = os.stat(path, follow_symlinks=False)
                if (st.st_dev, st.st_ino) != (same.st_dev, same.st_ino):
                    raise BlockingIOError  # a sweep unlinked it under us: try the next tag
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            self.tag, self._lock_fd, self._lock_path = tag, fd, path
            self._write_lock()
            return
        raise RuntimeError(f"no free tag in {d}")

    def _write_lock(self) -> None:
        if self._lock_fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "tag": self.tag, "raised": [
            [lim.path, lim.field_index, lim.old, lim.new] for lim in self.raised]}).encode()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, data, 0)

    def _raise_limits(self) -> None:
        spec = self.spec
        wants = [
            ("/proc/sys/kernel/shmmni", None, _rows("/proc/sysvipc/shm"), spec.sysv_segments),
            ("/proc/sys/kernel/msgmni", None, _rows("/proc/sysvipc/msg"), spec.sysv_queues),
            ("/proc/sys/kernel/sem", 3, _rows("/proc/sysvipc/sem"), spec.sem_sets),
        ]
        if not _capable(_CAP_SYS_RESOURCE):  # root with it is not held to queues_max
            used = len(os.listdir("/dev/mqueue")) if os.path.isdir("/dev/mqueue") else 0
            wants.append(("/proc/sys/fs/mqueue/queues_max", None, used, spec.mqueues))
        for path, index, used, ours in wants:
            need = used + ours
            margin = max(16, ours // 8)  # room for what others create meanwhile (their tests)
            with open(path) as f:
                old = f.read().strip()
            fields = old.split()
            have = int(fields[index if index is not None else 0])
            if need + margin <= have:
                continue
            if index is not None:
                fields[index] = str(need + margin)
                new = "\t".join(fields)
            else:
                new = str(need + margin)
            lim = _Limit(path, index, old, new)
            self.raised.append(lim)  # before the write: a crash after it still restores
            self._write_lock()
            with open(path, "w") as f:
                f.write(new)
        # Our own fds: up to 2 x the pipes of two children at once while forking.
        per = -(-spec.pipes // spec.processes)
        self._raise_rlimit(resource.RLIMIT_NOFILE, 4 * per + 256)

    def _raise_rlimit(self, which: int, need: int) -> None:
        soft, hard = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY and soft < need:
            self._rlimits.setdefault(which, (soft, hard))
            new_hard = hard if hard == resource.RLIM_INFINITY or hard >= need else need
            resource.setrlimit(which, (need, new_hard))

    def _make_objects(self) -> None:
        spec = self.spec
        size = ctypes.c_size_t(spec.segment_bytes)
        for k in range(spec.sysv_segments):
            self.shm_ids.append(self._sysv(lambda key, fl: int(libc.shmget(key, size, fl)),
                                           k, "shmget"))
        for k in range(spec.sysv_queues):
            self.msg_ids.append(self._sysv(lambda key, fl: int(libc.msgget(key, fl)),
                                           k, "msgget"))
        for k in range(spec.sem_sets):
            self.sem_ids.append(self._sysv(
                lambda key, fl: int(libc.semget(key, spec.sems_per_set, fl)), k, "semget"))
        for k in range(spec.shm_files):
            path = f"/dev/shm/{self.prefix}-bshm-{k}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            self.shm_paths.append(path)
            try:
                os.ftruncate(fd, spec.shm_file_bytes)
            finally:
                os.close(fd)
        attr = MqAttr(0, 1, 64, 0)
        for k in range(spec.mqueues):
            name = f"/{self.prefix}-bmq-{k}"
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
            mqd = int(libc.mq_open(name.encode(), flags, 0o600, ctypes.byref(attr)))
            if mqd < 0 and ctypes.get_errno() == 24:  # EMFILE: RLIMIT_MSGQUEUE is used up
                self._raise_rlimit(resource.RLIMIT_MSGQUEUE,
                                   resource.getrlimit(resource.RLIMIT_MSGQUEUE)[0]
                                   + 1024 * (spec.mqueues - k))
                mqd = int(libc.mq_open(name.encode(), flags, 0o600, ctypes.byref(attr)))
            check(mqd, f"mq_open {name}")
            self.mq_names.append(name)
            os.close(mqd)

    def _sysv(self, get: Callable[[int, int], int], k: int, what: str) -> int:
        """The run's key for index k; IPC_PRIVATE if someone else has that key."""
        key = (_KEY_MAGIC << 24) | (self.tag << 12) | k
        ident = get(key, _IPC_CREAT | _IPC_EXCL | 0o600)
        if ident >= 0:
            return ident
        return check(get(_IPC_PRIVATE, _IPC_CREAT | 0o600), what)

    def _fork_children(self) -> None:
        spec = self.spec
        release_r, self._release_w = os.pipe()
        ready_r, ready_w = os.pipe()
        os.set_blocking(ready_r, False)
        per, extra = divmod(spec.pipes, spec.processes)
        prev_reads: list[int] = []
        try:
            gc.collect()
            gc.freeze()  # children share the parent's heap pages instead of copying them
            for i in range(spec.processes):
                n = per + (1 if i < extra else 0)
                pairs = [os.pipe() for _ in range(n)]
                writes = [w for _, w in pairs]
                reads = [r for r, _ in pairs]
                last = i == spec.processes - 1
                keep = writes + prev_reads + (reads if last else [])
                pid = os.fork()
                if pid == 0:
                    _child_main(i, self, [*keep, release_r, ready_w], release_r, ready_w)
                self.children.append(pid)
                for fd in writes + prev_reads + (reads if last else []):
                    os.close(fd)
                prev_reads = [] if last else reads
        finally:
            gc.unfreeze()
            for fd in (release_r, ready_w, *prev_reads):
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            wait_ready(ready_r, len(self.children), spec.ready_timeout)
        finally:
            os.close(ready_r)

    # ---- teardown --------------------------------------------------------------------------

    def stop(self) -> None:
        """Release and reap every child, remove every object, restore limits. Idempotent."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            if self._release_w is not None:
                with contextlib.suppress(OSError):
                    os.close(self._release_w)
                self._release_w = None
            reap(self.children)
            self.children.clear()
            remove_objects(self.shm_ids, self.msg_ids, self.sem_ids, self.shm_paths,
                           self.mq_names)
            _restore(self.raised)
            self.raised.clear()
            for which, (soft, hard) in self._rlimits.items():
                with contextlib.suppress(OSError, ValueError):
                    resource.setrlimit(which, (soft, hard))
            self._rlimits.clear()
            if self._lock_fd is not None:  # last: until here a sweep would know our objects
                with contextlib.suppress(OSError):
                    os.unlink(self._lock_path)
                os.close(self._lock_fd)
                self._lock_fd = None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _restore(raised: list[_Limit]) -> None:
    """Put each raised limit back, unless someone changed it since (then theirs stays)."""
    for lim in reversed(raised):
        with contextlib.suppress(OSError):
            with open(lim.path) as f:
                now = f.read().split()
            if now == lim.new.split():
                with open(lim.path, "w") as f:
                    f.write(lim.old)


def _rows(path: str) -> int:
    try:
        with open(path) as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return 0


def _capable(cap: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


# ---- leftovers of killed runs ------------------------------------------------------------------

_BIG_NAMED = re.compile(r"ipctop-bench-(\d+)-b(?:shm|mq)-\d+")


def sweep_big() -> list[str]:
    """Remove what killed runs left: for each lock file nobody holds, the SysV objects with its
    tag and the limits it raised; then every ``ipctop-bench-PID-b*`` name whose pid is gone. Also
    runs bench/load.py's sweep (the 500-process load's leftovers)."""
    removed = sweep_stale()
    d = lock_dir()
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(d)):
            m = re.fullmatch(r"big-([0-9a-f]{3})\.lock", name)
            if m:
                removed += _sweep_lock(os.path.join(d, name), int(m[1], 16))
    for d, unlink in (("/dev/shm", lambda n: os.unlink(f"/dev/shm/{n}")),
                      ("/dev/mqueue", lambda n: libc.mq_unlink(f"/{n}".encode()))):
        with contextlib.suppress(OSError):
            for name in os.listdir(d):
                m = _BIG_NAMED.fullmatch(name)
                if m and not alive(int(m[1])):
                    with contextlib.suppress(FileNotFoundError):
                        unlink(name)
                    removed.append(f"{d}/{name}")
    return removed


def _sweep_lock(path: str, tag: int) -> list[str]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    removed: list[str] = []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # a live run holds it
        try:
            info = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
        except ValueError:
            info = {}
        for kind, key, ident in sysv_objects():
            if key >> 24 == _KEY_MAGIC and (key >> 12) & 0xFFF == tag:
                remove_sysv(kind, ident)
                removed.append(f"SysV {kind} {ident} (key 0x{key:08x})")
        raised = [_Limit(p, i, old, new) for p, i, old, new in info.get("raised", [])]
        _restore(raised)
        removed += [f"limit {lim.path} back to {lim.old}" for lim in raised]
        with contextlib.suppress(OSError):
            os.unlink(path)
        removed.append(path)
    finally:
        os.close(fd)
    return removed


# ---- the child ---------------------------------------------------------------------------------


def _child_main(i: int, load: BigLoad, keep: list[int], release_r: int, ready_w: int
                ) -> NoReturn:
    """In the forked child: attach, map, open a queue; say ready; block until released."""
    status = 1
    try:
        child_setup(load.spec.max_seconds, keep)
        held: list[object] = []
        spec = load.spec
        for j in range(spec.attach_each if load.shm_ids else 0):
            shmid = load.shm_ids[(i * spec.attach_each + j) % len(load.shm_ids)]
            addr = libc.shmat(shmid, None, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                raise OSError(ctypes.get_errno(), "shmat")
            held.append(addr)
        for j in range(spec.map_each if load.shm_paths else 0):
            path = load.shm_paths[(i * spec.map_each + j) % len(load.shm_paths)]
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            held.append(mmap.mmap(fd, spec.shm_file_bytes, mmap.MAP_SHARED))
            os.close(fd)
        if load.mq_names:
            name = load.mq_names[i % len(load.mq_names)]
            held.append(check(libc.mq_open(name.encode(), os.O_RDWR, 0, None), name))
        os.write(ready_w, READY)
        os.close(ready_w)
        while os.read(release_r, 1):
            pass
        del held
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(ready_w, FAILED)
    finally:
        os._exit(status)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the big IPC load (~16,500 objects), hold it.")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds to hold (default 60)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every count (0.01 for a tiny load)")
    ap.add_argument("--sweep", action="store_true",
                    help="only remove what killed runs left behind, and exit")
    args = ap.parse_args(argv)
    if args.sweep:
        for line in sweep_big():
            print(f"removed {line}")
        return 0
    with signals_as_exit(), BigLoad(scaled(args.scale)) as load:
        print(load.describe(), flush=True)
        print(f"holding for {args.hold:.0f} s (Ctrl-C to stop); names start with {load.prefix}, "
              f"SysV keys with 0x1c{load.tag:03x}", flush=True)
        time.sleep(args.hold)
    print("torn down", file=sys.stderr)
    return 0


def scaled(scale: float) -> BigSpec:
    """The default spec with every count multiplied (at least 1 of each, 1 process)."""
    d = BigSpec()

    def s(n: int) -> int:
        return max(1, round(n * scale))

    return BigSpec(sysv_segments=s(d.sysv_segments), sysv_queues=s(d.sysv_queues),
                   sem_sets=s(d.sem_sets), shm_files=s(d.shm_files), mqueues=s(d.mqueues),
                   pipes=s(d.pipes), processes=s(d.processes))


if __name__ == "__main__":
    sys.exit(main())
