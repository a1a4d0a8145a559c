"""A fake collector for the TUI tests: varied Snapshots built from model objects, no /proc.

Every kind is present, with several owners, processes with signals, kernel limits, a leak, and
deterministic mutations between calls (``FakeCollector.auto``): the SysV queue and the POSIX queue
grow by one message per poll, "/fresh" appears on the third poll and "/psm_old" vanishes on the
fourth. Tests can also mutate by hand (``add``, ``remove``, ``replace``) or make the next poll fail.
"""

from __future__ import annotations

import dataclasses
import threading

from ipctop.kinds import (
    Fifo,
    Pipe,
    PosixMq,
    PosixSem,
    PosixShm,
    SharedMapping,
    SysvMsg,
    SysvSem,
    SysvShm,
    UnixSocket,
)
from ipctop.model import IpcObject, Kind, Leak, Limits, Process, Signals, Snapshot, Unreadable, User

T0 = 1_700_000_000.0
"""The fake clock's epoch: 2023-11-14 22:13:20 UTC."""
HOST = "testhost"


class FakeClock:
    """A clock that moves only when told: ``clock()`` -> now."""

    def __init__(self, now: float = T0 + 60) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def base_processes() -> list[Process]:
    return [
        Process(100, 1, "python3", "python3 worker.py --jobs 4", "alice", 1000, ipc_ns=4026531839,
                start_time=T0 - 500, state="S",
                signals=Signals(pending=("SIGUSR1",), blocked=("SIGUSR1",), ignored=("SIGPIPE",),
                                caught=("SIGINT", "SIGTERM"))),
        Process(101, 100, "worker", "worker --child", "alice", 1000, ipc_ns=4026531839,
                start_time=T0 - 400, state="S"),
        Process(200, 1, "redis-server", "redis-server *:6379", "redis", 998, ipc_ns=4026531839,
                start_time=T0 - 9000, state="S", signals=Signals(ignored=("SIGPIPE",))),
        Process(300, 1, "postgres", "postgres -D /var/lib/pg", "postgres", 999,
                ipc_ns=4026531839, start_time=T0 - 90000, state="S"),
    ]


def base_objects() -> list[IpcObject]:
    alice = {"owner": "alice", "uid": 1000}
    return [
        SysvShm(id="32768", key="0x0052e2c1", mode="0600", size=56 * 1024 * 1024,
                ctime=T0 - 3600, nattch=2, cpid=300, lpid=300, atime=T0 - 3600, rss=4 << 20,
                owner="postgres", uid=999, creator="postgres -D /var/lib/pg",
                users=(User(300, "postgres", None, "rw", "map"),
                       User(101, "worker", None, "r", "map"))),
        SysvShm(id="32769", key="0x00000000", mode="0666", size=4096, ctime=T0 - 120, nattch=1,
                cpid=100, lpid=100, dest=True, users=(User(100, "python3", None, "rw", "map"),),
                leak=Leak("marked for removal; kept alive by 100/python3", 0, "pending_removal"),
                **alice),
        SysvShm(id="32770", key="0x0000beef", mode="0644", size=1 << 20, ctime=T0 - 86400 * 3,
                nattch=0, cpid=4242, lpid=4242, dtime=T0 - 86400,
                leak=Leak("no process attached; creator 4242 is gone", 1 << 20, "leak",
                          ("nattch 0", "cpid 4242 not running")), **alice),
        SysvMsg(id="0", key="0x00001234", mode="0660", size=16384, ctime=T0 - 50, messages=3,
                bytes=96, lspid=100, lrpid=101, stime=T0 - 5, rtime=T0 - 10, **alice),
        SysvSem(id="1", key="0x00005678", mode="0600", ctime=T0 - 700, nsems=3, values=(1, 0, 5),
                sempids=(100, 101, 0), ncnt=(0, 1, 0), zcnt=(0, 0, 0), otime=T0 - 3,
                owner="postgres", uid=999),
        PosixShm(id="/psm_old", name="/psm_old", path="/dev/shm/psm_old", mode="0600",
                 size=8 << 20, ctime=T0 - 7200, dev=25, inode=1001, **alice),
        PosixShm(id="/redis-cache", name="/redis-cache", path="/dev/shm/redis-cache",
                 mode="0640", size=64 << 20, ctime=T0 - 9000, dev=25, inode=1002,
                 owner="redis", uid=998, users=(User(200, "redis-server", 7, "rw", "fd"),
                                               User(200, "redis-server", None, "rw", "map"))),
        PosixMq(id="/jobs", name="/jobs", mode="0644", size=80, ctime=T0 - 300, messages=2,
                bytes=40, maxmsg=10, msgsize=8192, users=(User(100, "python3", 3, "w"),
                                                          User(101, "worker", 4, "r")), **alice),
        PosixSem(id="/lock", name="/lock", path="/dev/shm/sem.lock", mode="0600", size=32,
                 ctime=T0 - 400, value=1, dev=25, inode=1003,
                 users=(User(100, "python3", None, "rw", "map"),), **alice),
        Pipe(id="555001", bytes=0, capacity=65536, users=(User(100, "python3", 5, "w"),
                                                          User(101, "worker", 0, "r"))),
        Fifo(id="/tmp/ipctop-fifo", name="/tmp/ipctop-fifo", path="/tmp/ipctop-fifo",
             mode="0644", bytes=12, capacity=65536, ctime=T0 - 30,
             users=(User(101, "worker", 6, "w"),), **alice),
        UnixSocket(id="777001", name="/run/redis.sock", type="stream", state="listen",
                   bytes=0, users=(User(200, "redis-server", 8, "rw"),), owner="redis", uid=998),
        UnixSocket(id="777002", type="stream", state="connected", peer=777003, bytes=0,
                   users=(User(100, "python3", 9, "rw"),)),
        SharedMapping(id="/var/lib/pg/base.map", name="/var/lib/pg/base.map",
                      path="/var/lib/pg/base.map", size=2 << 20, dev=2049, inode=5555,
                      users=(User(300, "postgres", None, "rw", "map"),)),
    ]


LIMITS = Limits(page_size=4096, shmmax=1 << 40, shmall=1 << 20, shmmni=4096, msgmax=8192,
                msgmnb=16384, msgmni=32000, semmsl=32000, semmns=1 << 30, semopm=500,
                semmni=32000, mq_queues_max=256, mq_msg_max=10, mq_msgsize_max=8192,
                mq_msg_default=10, mq_msgsize_default=8192, devshm_size=1 << 30,
                devshm_used=900 << 20)


class FakeCollector:
    """Call it like ``ipctop.snapshot.take``; each call returns the next Snapshot."""

    def __init__(self, *, auto: bool = True, unreadable: int = 0,
                 notices: tuple[str, ...] = ()) -> None:
        self.auto = auto
        self.calls = 0
        self.objects: list[IpcObject] = base_objects()
        self.processes: list[Process] = base_processes()
        self.unreadable = unreadable
        self.notices = notices
        self.fail_next: Exception | None = None
        self.lock = threading.Lock()

    def add(self, obj: IpcObject) -> None:
        with self.lock:
            self.objects.append(obj)

    def remove(self, kind: Kind, ident: str) -> None:
        with self.lock:
            self.objects = [o for o in self.objects if not (o.kind is kind and o.id == ident)]

    def replace(self, kind: Kind, ident: str, **changes: object) -> None:
        with self.lock:
            self.objects = [dataclasses.replace(o, **changes)  # type: ignore[arg-type]
                            if o.kind is kind and o.id == ident else o for o in self.objects]

    def get(self, kind: Kind, ident: str) -> IpcObject:
        return next(o for o in self.objects if o.kind is kind and o.id == ident)

    def _mutate(self, n: int) -> None:
        if n > 0:
            msg = self.get(Kind.SYSV_MSG, "0")
            assert isinstance(msg, SysvMsg)
            self.replace(Kind.SYSV_MSG, "0", messages=msg.messages + 1, bytes=msg.bytes + 32,
                         stime=T0 + n)
            mq = self.get(Kind.POSIX_MQ, "/jobs")
            assert isinstance(mq, PosixMq)
            self.replace(Kind.POSIX_MQ, "/jobs", messages=(mq.messages or 0) + 1)
        if n == 2:
            self.add(PosixShm(id="/fresh", name="/fresh", path="/dev/shm/fresh", mode="0600",
                              size=4096, ctime=T0 + n, owner="alice", uid=1000, dev=25,
                              inode=1010))
        if n == 3:
            self.remove(Kind.POSIX_SHM, "/psm_old")

    def __call__(self) -> Snapshot:
        n = self.calls
        self.calls += 1
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        if self.auto:
            self._mutate(n)
        with self.lock:
            unreadable = Unreadable(self.unreadable, ("/proc/1/fd: Permission denied",)
                                    if self.unreadable else ())
            return Snapshot(taken_at=T0 + 2 * n, hostname=HOST, objects=tuple(self.objects),
                            processes=tuple(self.processes), unreadable=unreadable,
                            notices=self.notices, limits=LIMITS)
