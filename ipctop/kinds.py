"""One frozen dataclass per IPC kind, with the fields only that kind has.

They all derive from :class:`ipctop.model.IpcObject` (the common fields, ``to_dict``, and one
``__eq__``, ``__hash__`` and ``__repr__`` for all), are made dataclasses by
:func:`ipctop.model.kind_class` (frozen, keyword-only, with an ``__init__`` that is not compiled
at every start), and are registered in ``KIND_CLASSES``, which the snapshot reader and the tests
use to build an object of any kind by name.
"""

from __future__ import annotations

from typing import ClassVar

from ipctop.model import IpcObject, Kind, kind_class


@kind_class
class SysvShm(IpcObject):
    """A SysV shared memory segment (/proc/sysvipc/shm)."""

    kind: ClassVar[Kind] = Kind.SYSV_SHM
    nattch: int
    cpid: int
    lpid: int
    dest: bool = False
    """Marked for removal (IPC_RMID) but still attached."""
    locked: bool = False
    rss: int | None = None
    swap: int | None = None
    atime: float | None = None
    """Last attach, epoch seconds; None for never."""
    dtime: float | None = None
    """Last detach, epoch seconds; None for never."""
    creator: str | None = None
    """Command line (or comm) of the creator, cpid, while it still runs; None when it is gone or
    the pid now belongs to a process started after the segment was created."""


@kind_class
class SysvMsg(IpcObject):
    """A SysV message queue (/proc/sysvipc/msg, msgctl for its capacity)."""

    kind: ClassVar[Kind] = Kind.SYSV_MSG
    messages: int
    bytes: int
    lspid: int
    lrpid: int
    stime: float | None = None
    rtime: float | None = None


@kind_class
class SysvSem(IpcObject):
    """A SysV semaphore set (/proc/sysvipc/sem, semctl for the values)."""

    kind: ClassVar[Kind] = Kind.SYSV_SEM
    nsems: int
    values: tuple[int, ...] | None = None
    """semctl GETALL; None when it could not be read."""
    sempids: tuple[int, ...] | None = None
    """Per semaphore: pid of the last operation (GETPID)."""
    ncnt: tuple[int, ...] | None = None
    """Per semaphore: processes waiting for the value to increase (GETNCNT)."""
    zcnt: tuple[int, ...] | None = None
    """Per semaphore: processes waiting for zero (GETZCNT)."""
    otime: float | None = None


@kind_class
class LeaseProbed(IpcObject):
    """A file under /dev/shm or the mqueue filesystem: the kernel can say whether any process
    holds it, whoever could be read (collect/posix.probe_unused)."""

    in_use: bool | None = None
    """The kernel's word on whether any process has the file open or mapped (a write-lease
    probe, see safepath.probe), taken only when /proc shows no user: True, False, or None when not
    asked or it could not tell (then ``in_use_why`` says why)."""
    in_use_why: str | None = None


@kind_class
class PosixShm(LeaseProbed):
    """A POSIX shared memory object: a file in /dev/shm."""

    kind: ClassVar[Kind] = Kind.POSIX_SHM
    path: str
    """The backing file, /dev/shm/NAME."""
    dev: int | None = None
    """st_dev of the file: users are matched by (dev, inode), never by name."""
    inode: int | None = None


@kind_class
class PosixMq(LeaseProbed):
    """A POSIX message queue: a file of the mqueue filesystem, mq_getattr for counts."""

    kind: ClassVar[Kind] = Kind.POSIX_MQ
    messages: int | None = None
    bytes: int | None = None
    """QSIZE from /dev/mqueue/NAME: bytes queued."""
    maxmsg: int | None = None
    msgsize: int | None = None
    notify_pid: int | None = None
    mtime: float | None = None
    """Last send or receive (the queue file's mtime). Its ctime also moves whenever anyone
    reads /dev/mqueue/NAME, so ctime is no measure of activity."""


@kind_class
class PosixSem(LeaseProbed):
    """A named POSIX semaphore: the file sem.NAME in /dev/shm."""

    kind: ClassVar[Kind] = Kind.POSIX_SEM
    path: str
    """The backing file, /dev/shm/sem.NAME."""
    dev: int | None = None
    inode: int | None = None
    value: int | None = None


@kind_class
class AnonShm(IpcObject):
    """Shared anonymous memory (``mmap(MAP_SHARED|MAP_ANONYMOUS)``, or a MAP_SHARED map of
    /dev/zero), which processes share by inheriting it across fork.

    The kernel backs it with a shmem file that has no name in any filesystem: maps shows
    "/dev/zero (deleted)", "[anon_shmem:NAME]" when named with PR_SET_VMA_ANON_NAME, or
    "/anon_hugepage (deleted)" for huge pages. ``id`` is its inode (the maps inode column);
    ``name`` is the anon_shmem name, else None; ``size`` is the shmem file's size (fstat through
    /proc/PID/map_files as root, else the largest offset + length mapped)."""

    kind: ClassVar[Kind] = Kind.ANON_SHM
    dev: int | None = None
    """The maps device column (os.makedev): the kernel's internal shmem mount, or hugetlbfs."""
    inode: int
    rss: int | None = None
    """Bytes of it resident in the memory of ``rss_pid`` (smaps "Rss" of its mappings)."""
    swap: int | None = None
    """Bytes of it swapped out (smaps "Swap" of ``rss_pid``'s mappings: for shared memory the
    kernel counts the object's swapped pages in the mapped range, whoever touched them)."""
    rss_pid: int | None = None
    """The one holder whose smaps gave ``rss`` and ``swap`` (reading every holder's would cost
    too much on a machine with hundreds of them); None when not read."""
    hugetlb: bool = False
    """Backed by huge pages (hugetlbfs: "/anon_hugepage")."""
    allocated: int | None = None
    """Bytes of it the kernel has pages for, in memory or swapped out, whoever touched them
    (st_blocks of the shmem file; root only): the segment's real footprint."""


MEMFD_SEALS = {1: "seal", 2: "shrink", 4: "grow", 8: "write", 16: "future_write", 32: "exec"}
"""F_SEAL_* bits (linux/fcntl.h) and the names ``Memfd.seals`` uses for them."""


@kind_class
class Memfd(IpcObject):
    """A memfd (``memfd_create``): a file in memory with no path, shared by passing its fd
    (fork, SCM_RIGHTS) or by mapping it.

    Fds link to "/memfd:NAME (deleted)" and maps name it the same way. ``id`` is its inode;
    ``name`` is NAME (after "memfd:"); ``size``, owner and mode from fstat of the file."""

    kind: ClassVar[Kind] = Kind.MEMFD
    dev: int | None = None
    inode: int
    seals: tuple[str, ...] | None = None
    """F_GET_SEALS as names ("seal", "shrink", "grow", "write", "future_write", "exec"); ()
    when none is set; None when no fd of it could be opened to ask."""
    deleted: bool = True
    """The kernel names every memfd "(deleted)": it has no link in any directory."""
    allocated: int | None = None
    """Bytes of it the kernel has pages for, in memory or swapped out (st_blocks): less than
    ``size`` for a sparse memfd."""


@kind_class
class Eventfd(IpcObject):
    """An eventfd (``eventfd()``) that two or more processes hold: a counter one process adds
    to and another waits on. ``id`` is fdinfo's ``eventfd-id`` (every anon inode fd links to the
    same inode, so the link cannot tell one eventfd from another)."""

    kind: ClassVar[Kind] = Kind.EVENTFD
    count: int | None = None
    """fdinfo ``eventfd-count``: the counter now (a read takes it, or 1 with ``semaphore``)."""
    semaphore: bool | None = None
    """Created with EFD_SEMAPHORE (fdinfo ``eventfd-semaphore``); None on kernels before 6.7."""


@kind_class
class Pipe(IpcObject):
    """An anonymous pipe, found through the fds that hold it."""

    kind: ClassVar[Kind] = Kind.PIPE
    bytes: int | None = None
    """Bytes queued (FIONREAD), where readable."""
    capacity: int | None = None
    """Buffer size (F_GETPIPE_SZ)."""


@kind_class
class Fifo(IpcObject):
    """A named pipe (FIFO) some process holds open."""

    kind: ClassVar[Kind] = Kind.FIFO
    path: str
    dev: int | None = None
    inode: int | None = None
    bytes: int | None = None
    capacity: int | None = None


@kind_class
class UnixSocket(IpcObject):
    """A UNIX domain socket (/proc/net/unix, sock_diag for peers)."""

    kind: ClassVar[Kind] = Kind.UNIX_SOCKET
    type: str
    """"stream", "dgram" or "seqpacket"."""
    state: str
    """"listen", "connected" or "unconnected"."""
    peer: int | None = None
    """Inode of the other end, from sock_diag."""
    bytes: int | None = None
    """Bytes queued for reading (listen: pending connections), from sock_diag."""


@kind_class
class InetSocket(IpcObject):
    """A TCP or UDP socket (IPv4 or IPv6) whose other end is a process on this machine, or a
    listener with a client on this machine. ``id`` is the socket's inode."""

    kind: ClassVar[Kind] = Kind.INET_SOCKET
    proto: str
    """"tcp" or "udp"."""
    family: str
    """"ipv4" or "ipv6"."""
    state: str
    """TCP: "established", "listen", "syn-sent", "close-wait"... as ``ss`` names them;
    UDP: "connected" or "unconnected"."""
    local: str
    """"127.0.0.1:5432", "[::1]:5432"."""
    remote: str | None = None
    """The address connected to; None for a listener or an unconnected UDP socket."""
    peer: int | None = None
    """Inode of the socket at the other end, when that end is on this machine; for a
    connected socket whose other end has no fd yet (not accepted), None."""
    bytes: int | None = None
    """Receive queue (``ss`` Recv-Q): bytes not read yet; a listener: connections waiting."""
    send_bytes: int | None = None
    """Send queue (``ss`` Send-Q): bytes not acknowledged yet; a listener: its backlog."""


@kind_class
class SharedMapping(IpcObject):
    """A file two or more processes map shared."""

    kind: ClassVar[Kind] = Kind.SHARED_MAPPING
    path: str
    dev: int | None = None
    inode: int | None = None
    deleted: bool = False
    """The file was unlinked (maps shows "(deleted)")."""


KIND_CLASSES: dict[Kind, type[IpcObject]] = {
    cls.kind: cls
    for cls in (
        SysvShm, SysvMsg, SysvSem, PosixShm, PosixMq, PosixSem, Pipe, Fifo, UnixSocket,
        SharedMapping, AnonShm, Memfd, Eventfd, InetSocket,
    )
}
