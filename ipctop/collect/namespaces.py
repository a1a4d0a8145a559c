"""IPC in every namespace: the SysV objects and POSIX queues of each IPC namespace a process is
in, and the /dev/shm of each mount namespace.

/proc/sysvipc and /dev/mqueue show the reader's own IPC namespace only, and /dev/shm its own
mount namespace's, so containers' IPC is invisible from the host unless one looks inside:

- The namespaces in use are the distinct /proc/PID/ns/ipc and ns/mnt inodes the /proc scan read
  (``Process.ipc_ns``, ``mnt_ns``). When every process shares ipctop's own, nothing more is done:
  no helper, no extra open.
- Each other IPC namespace is read by a forked helper that ``setns``es into it (nsenter.py):
  /proc/sysvipc/* and semctl, exactly as for the host (collect/sysv.py), and its queues through a
  private mqueue mount of that namespace, made inside the helper after unsharing the mount
  namespace. The rows come back as plain data.
- Each other mount namespace's /dev/shm is reached without entering it, through
  ``/proc/PID/root`` of a member: "dev" and "shm" are opened one at a time without following a
  link (a container's root is its own to shape), the result must be a tmpfs, and a tmpfs already
  listed (the host's, bind-mounted; one shared by several containers) is skipped: files are told
  apart by (dev, inode), never by name.

Which container a namespace belongs to is asked of its topmost member (whose parent is outside)
by collect/containers.py. No Textual, no printing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ipctop.collect.common import TMPFS_MAGIC
from ipctop.collect.containers import container_of
from ipctop.collect.procfs import ns_inode
from ipctop.errors import IpcError
from ipctop.kinds import KIND_CLASSES, PosixMq, PosixSem, PosixShm, SysvMsg, SysvSem, SysvShm
from ipctop.model import SYSV_KINDS, IpcObject, Kind, Namespace, Process, evolve

if TYPE_CHECKING:
    from ipctop.collect.poll_memo import PollMemo
    from ipctop.join import Join

ObjT = TypeVar("ObjT", bound=IpcObject)

IPC_KINDS = SYSV_KINDS | {Kind.POSIX_MQ}
SHM_KINDS = frozenset({Kind.POSIX_SHM, Kind.POSIX_SEM, Kind.SHARED_MAPPING})


@dataclass
class Survey:
    """Who is in which namespace, from one /proc scan."""

    own_ipc: int | None
    own_mnt: int | None
    ipc: dict[int, list[int]]
    """IPC namespace inode -> member pids, ascending."""
    mnt: dict[int, list[int]]
    unknown: int
    """Processes whose namespaces could not be read."""
    containers: dict[tuple[str, int], str | None] = field(default_factory=dict)
    """("ipc" | "mnt", inode) -> container name, for the namespaces not ipctop's own."""

    def foreign(self, kind: str) -> dict[int, list[int]]:
        own, groups = (self.own_ipc, self.ipc) if kind == "ipc" else (self.own_mnt, self.mnt)
        return {ns: pids for ns, pids in groups.items() if ns != own}


def own_namespaces(proc: Path) -> tuple[int | None, int | None]:
    """(IPC, mount) namespace inodes of this process, None where unreadable."""
    out: list[int | None] = []
    for kind in ("ipc", "mnt"):
        try:
            out.append(ns_inode(os.readlink(f"{proc}/self/ns/{kind}")))
        except OSError:
            out.append(None)
    return out[0], out[1]


def survey(proc: Path, processes: Mapping[int, Process]) -> Survey:
    """Group the scanned processes by namespace; name the containers of the foreign ones."""
    own_ipc, own_mnt = own_namespaces(proc)
    ipc: dict[int, list[int]] = defaultdict(list)
    mnt: dict[int, list[int]] = defaultdict(list)
    unknown = 0
    for pid in sorted(processes):
        p = processes[pid]
        if (pid == 2 or p.ppid == 2) and not p.cmdline:
            continue  # kernel threads (kdevtmpfs has a mount namespace of its own): no IPC
        if p.ipc_ns is None and p.state not in ("Z", "X"):
            unknown += 1
        if p.ipc_ns is not None:
            ipc[p.ipc_ns].append(pid)
        if p.mnt_ns is not None:
            mnt[p.mnt_ns].append(pid)
    found = Survey(own_ipc, own_mnt, dict(ipc), dict(mnt), unknown)
    for kind in ("ipc", "mnt"):
        for ns, pids in found.foreign(kind).items():
            top = topmost(pids, processes)
            found.containers[(kind, ns)] = container_of(str(proc), top, processes)
    return found


def topmost(pids: list[int], processes: Mapping[int, Process]) -> int:
    """The first member whose parent is not a member: the namespace's creator or init."""
    members = set(pids)
    for pid in pids:
        p = processes.get(pid)
        if p is None or p.ppid not in members:
            return pid
    return pids[0]


def container_for(found: Survey, p: Process) -> str | None:
    """The container of a process outside ipctop's own namespaces (IPC first, then mount)."""
    if p.ipc_ns is not None and p.ipc_ns != found.own_ipc:
        name = found.containers.get(("ipc", p.ipc_ns))
        if name:
            return name
    if p.mnt_ns is not None and p.mnt_ns != found.own_mnt:
        return found.containers.get(("mnt", p.mnt_ns))
    return None


# --------------------------------------------------------------------------- IPC namespaces


def _rows(objs: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Objects as marshal-able rows (kind, fields): users and verdicts are added later."""
    return [(o.kind.value, {k: v for k, v in o.__dict__.items() if k not in ("users", "leak")})
            for o in objs]


def _unrow(row: Any) -> IpcObject:
    kind, fields = row
    return KIND_CLASSES[Kind(kind)](**fields)


def _inside(kinds: frozenset[Kind]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """What the helper does inside an IPC namespace: list its objects of ``kinds``."""
    from ipctop.collect import posix, sysv

    proc = Path("/proc")  # the helper's own view: /proc/sysvipc is per IPC namespace of the reader
    objs: list[Any] = []
    notes: list[str] = []
    if Kind.SYSV_SHM in kinds:
        objs += sysv.read_shm(proc)
    if Kind.SYSV_MSG in kinds:
        objs += sysv.read_msg(proc, live=True)
    if Kind.SYSV_SEM in kinds:
        objs += sysv.read_sem(proc, live=True)
    if Kind.POSIX_MQ in kinds:
        from ipctop import nsenter

        try:
            where = nsenter.private_mqueue_mount()
        except OSError as err:
            notes.append(f"its POSIX queues: {err.strerror}")
        else:
            queues = posix.read_mqueue_dir(Path(where), live=True)
            objs += posix.probe_unused(queues, where)  # the kernel's word, asked from inside
    return _rows(objs), notes


NS_REFRESH = 30.0
"""Seconds a polling program keeps what it read inside another IPC namespace while none of its
members has run: SysV objects and queues change only by system calls of processes inside it."""


def _ipc_objects(proc: Path, pids: list[int], ns: int, kinds: frozenset[Kind],
                 memo: PollMemo | None) -> tuple[list[IpcObject], list[str]]:
    """:func:`read_ipc_namespace`, or (``memo``: a polling program's) what it gave at a previous
    poll when the namespace has the same members and none of them has run since (``memo.ran``:
    a process ipctop cannot read counts as having run), nor has ipctop itself acted inside it
    (:func:`ipctop.nsenter.acted_in`), for at most NS_REFRESH seconds. Each
    read forks a helper (~25 ms, more from a threaded program)."""
    if memo is None or memo.ran is None:
        return read_ipc_namespace(proc, pids[0], ns, kinds)
    from ipctop import nsenter

    kept = memo.kept(memo.rows, f"ipc namespace {ns} {sorted(kinds & IPC_KINDS)}")
    hit = kept.get("read")
    now = time.monotonic()
    members = tuple(pids)
    acted = nsenter.acted_in(ns)  # the TUI's own helper sent, wrote or removed something there
    if hit is not None and hit[0] == members and now - hit[1] < NS_REFRESH and \
            memo.ran.isdisjoint(members) and not acted:
        kept.put("read", hit)
        return hit[2], hit[3]
    objs, notes = read_ipc_namespace(proc, pids[0], ns, kinds)
    kept.put("read", (members, now, objs, notes))
    return objs, notes


def read_ipc_namespace(proc: Path, pid: int, ns: int,
                       kinds: Collection[Kind]) -> tuple[list[IpcObject], list[str]]:
    """The objects of ``kinds`` (SysV, POSIX mq) in IPC namespace ``ns``, entered through its
    member ``pid``, each marked with ``ipc_ns``; and notes on what could not be read.

    Raises :class:`~ipctop.nsenter.NsError` when the namespace cannot be entered.
    """
    from ipctop import nsenter

    wanted = frozenset(kinds) & IPC_KINDS
    rows, notes = nsenter.run_inside(pid, lambda: _inside(wanted), proc=str(proc),
                                     expect_ipc=ns)
    return [evolve(_unrow(row), ipc_ns=ns) for row in rows], list(notes)


# --------------------------------------------------------------------------- mount namespaces


def open_dev_shm(proc: Path, pid: int) -> int:
    """A directory fd on /dev/shm as process ``pid`` sees it (its mount namespace and root),
    opened through /proc/PID/root one component at a time without following a link; it must
    be a tmpfs. Raises OSError or IpcError."""
    from ipctop.safepath import fs_type

    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    root = os.open(f"{proc}/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev = os.open("dev", flags, dir_fd=root)
    finally:
        os.close(root)
    try:
        shm = os.open("shm", flags, dir_fd=dev)
    finally:
        os.close(dev)
    if fs_type(shm) != TMPFS_MAGIC:
        os.close(shm)
        raise IpcError(f"/dev/shm of process {pid} is not a tmpfs")
    return shm


@dataclass
class ShmDir:
    """One more /dev/shm: a directory fd (the caller closes it) and its files."""

    mnt_ns: int
    fd: int
    files: list[PosixShm | PosixSem]


def read_mnt_namespace(proc: Path, pids: list[int], ns: int, seen: set[int],
                       memo: PollMemo | None = None) -> ShmDir | None:
    """The /dev/shm of mount namespace ``ns`` through the first member that can be read, or
    None when its tmpfs (st_dev) is in ``seen`` (already listed; then adds it to ``seen``) or
    it has no /dev/shm.
    Raises OSError or IpcError when no member's /dev/shm can be opened."""
    from ipctop.collect import posix

    error: OSError | IpcError | None = None
    for pid in pids[:8]:
        try:
            fd = open_dev_shm(proc, pid)
        except FileNotFoundError:
            if _still_in(proc, pid, ns):
                return None  # this namespace has no /dev/shm: nothing to list, nothing missed
            continue
        except (OSError, IpcError) as err:
            error = err
            continue
        try:
            st = os.fstat(fd)
            if not _still_in(proc, pid, ns):
                raise IpcError(f"process {pid} left mount namespace {ns}")
        except (OSError, IpcError) as err:
            os.close(fd)
            error = err
            continue
        if st.st_dev in seen:
            os.close(fd)
            return None
        seen.add(st.st_dev)
        files = posix.read_dev_shm(dir_fd=fd, memo=memo, memo_name=f"mount namespace {ns}",
                                   mnt_ns=ns)
        return ShmDir(ns, fd, files)
    raise error if error is not None else IpcError(f"no process left in mount namespace {ns}")


def _still_in(proc: Path, pid: int, ns: int) -> bool:
    """``pid`` is still in mount namespace ``ns`` (it did not exit and get reused meanwhile)."""
    with contextlib.suppress(OSError):
        return ns_inode(os.readlink(f"{proc}/{pid}/ns/mnt")) == ns
    return False


# --------------------------------------------------------------------------- the records


def records(found: Survey, unread: Mapping[tuple[str, int], str]) -> tuple[Namespace, ...]:
    """A Namespace per IPC and mount namespace in use; ``unread`` says why one was not read."""
    out: list[Namespace] = []
    for kind, own, groups in (("ipc", found.own_ipc, found.ipc), ("mnt", found.own_mnt,
                                                                   found.mnt)):
        for ns in sorted(groups, key=lambda n: (n != own, n)):
            pids = groups[ns]
            why = unread.get((kind, ns))
            out.append(Namespace(
                type=kind, inode=ns, own=ns == own, pid=pids[0], processes=len(pids),
                container=found.containers.get((kind, ns)), read=why is None, error=why))
    return tuple(out)


def blind_notice(found: Survey, unread: Mapping[tuple[str, int], str],
                 root: bool | None = None) -> str | None:
    """One line on what ipctop could not look into, or None when it saw every namespace.

    Not as root, the namespaces of other users' processes cannot even be read (``unknown``):
    their objects are not listed, and the line says how many processes that is.
    """
    root = os.geteuid() == 0 if root is None else root
    hidden = "" if root or not found.unknown else (
        f"the namespaces of {found.unknown} other process"
        f"{'es' if found.unknown != 1 else ''} could not be read (not root), so IPC in "
        "namespaces of their own is not listed")
    if not unread:
        return hidden or None
    pids = {pid for (kind, ns) in unread
            for pid in (found.ipc if kind == "ipc" else found.mnt).get(ns, ())}
    kinds = sorted({kind for kind, _ in unread})
    label = {"ipc": "IPC", "mnt": "mount"}
    what = " and ".join(label[k] for k in kinds)
    reasons = sorted(set(unread.values()))
    return (f"could not look into {len(unread)} {what} namespace"
            f"{'s' if len(unread) != 1 else ''} of {len(pids)} process"
            f"{'es' if len(pids) != 1 else ''}: {reasons[0]}"
            + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else "")
            + (f"; {hidden}" if hidden else ""))


# --------------------------------------------------------------------------- all of them


def read_foreign(
    found: Survey,
    join: Join,
    proc: Path,
    kinds: Collection[Kind],
    listed_shm: list[PosixShm | PosixSem],
    unread: dict[tuple[str, int], str],
    memo: PollMemo | None = None,
) -> tuple[list[IpcObject], list[PosixShm | PosixSem]]:
    """The objects of ``kinds`` in every namespace that is not ipctop's own, joined with their
    users (those in the same namespace only) and marked with the namespace, its container and
    the member read through: (all of them, the /dev/shm files among them).

    ``listed_shm`` are the /dev/shm files already listed (their tmpfs is not read again);
    ``unread`` gets ("ipc" | "mnt", inode) -> why for each namespace that could not be read.
    ``memo``: what a polling program keeps between polls (its lease probes, what it read in
    namespaces whose members have not run).
    """
    from ipctop.collect import posix, sysv

    out: list[IpcObject] = []
    shm_files: list[PosixShm | PosixSem] = []
    want = frozenset(kinds)
    if want & IPC_KINDS:
        for ns, pids in found.foreign("ipc").items():
            try:
                objs, notes = _ipc_objects(proc, pids, ns, want, memo)
            except (IpcError, OSError) as err:
                unread[("ipc", ns)] = _why(err)
                continue
            mark = _marker(join, found.containers.get(("ipc", ns)), pids[0])
            out += [mark(o) for o in sysv.join_shm(
                join, [o for o in objs if isinstance(o, SysvShm)])]
            out += [mark(o) for o in objs if isinstance(o, SysvMsg | SysvSem)]
            queues = [o for o in objs if isinstance(o, PosixMq)]
            # join_mq also lists queues only seen as fds: not when queues were not asked for.
            for q in posix.join_mq(join, queues, None, ns) if Kind.POSIX_MQ in want else ():
                if q.users:  # the probe was taken inside for every queue: /proc answers here
                    q = evolve(q, in_use=None, in_use_why=None)
                out.append(mark(q))
            if notes:
                unread.setdefault(("ipc", ns), "; ".join(notes))
    if want & SHM_KINDS:
        seen = {o.dev for o in listed_shm if o.dev is not None}
        with contextlib.suppress(OSError):
            seen.add(os.stat("/dev/shm").st_dev)
        for ns, pids in found.foreign("mnt").items():
            try:
                shm_dir = read_mnt_namespace(proc, pids, ns, seen, memo)
            except (IpcError, OSError) as err:
                unread[("mnt", ns)] = _why(err)
                continue
            if shm_dir is None:
                continue  # the same tmpfs as one listed already
            try:
                marked = _marker(join, found.containers.get(("mnt", ns)), pids[0])
                files = [marked(o) for o in shm_dir.files if o.kind in want]
                files = posix.probe_unused(posix.join_dev_shm(join, files), shm_dir.fd,
                                           memo.probes if memo is not None else None)
            finally:
                os.close(shm_dir.fd)
            shm_files += files
            out += files
    return out, shm_files


def _marker(join: Join, container: str | None, pid: int) -> Callable[[ObjT], ObjT]:
    """Marks an object with its container and the member it was read through; an object the
    same instance as at the previous poll gets the marked instance of then."""
    kind = f"mark {container} {pid}"

    def mark(o: ObjT) -> ObjT:
        marked: ObjT = join.remembered(kind, (o,), lambda _: evolve(o, container=container,
                                                                    ns_pid=pid))
        return marked

    return mark


def _why(err: IpcError | OSError) -> str:
    """Why a namespace could not be read, in words."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    if "Operation not permitted" in text or "Permission denied" in text:
        return f"{text} (entering another namespace needs root: CAP_SYS_ADMIN)"
    return text
