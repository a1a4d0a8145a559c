"""The verbs: one public function per action, which checks the kind and input shared by every
family and hands the object to its family module (:mod:`sysv`, :mod:`posix`, :mod:`fifo`)."""

from __future__ import annotations

from dataclasses import dataclass

from ipctop.actions import fifo, memory, posix, sysv
from ipctop.actions.common import (
    ACTION_KINDS,
    QUEUE_KINDS,
    READ_KINDS,
    SEM_KINDS,
    SHM_KINDS,
    Created,
    Message,
    ShmBytes,
    as_kind,
    check_range,
    check_timeout,
    kind_name,
    object_name,
    parse_key,
    parse_mode,
    removable_kind,
    require_kind,
    validate_posix_name,
)
from ipctop.errors import UsageError
from ipctop.model import SYSV_KINDS, Kind
from ipctop.numbers import INT_MAX, LONG_MAX

# --------------------------------------------------------------------------- create


_CREATE_OPTIONS: dict[Kind, frozenset[str]] = {
    Kind.SYSV_SHM: frozenset({"size"}),
    Kind.SYSV_MSG: frozenset(),
    Kind.SYSV_SEM: frozenset({"nsems", "value"}),
    Kind.POSIX_SHM: frozenset({"size"}),
    Kind.POSIX_MQ: frozenset({"maxmsg", "msgsize"}),
    Kind.POSIX_SEM: frozenset({"value"}),
    Kind.FIFO: frozenset(),
}


def create(
    kind: Kind | str,
    name_or_key: str,
    *,
    size: int | None = None,
    mode: int | str = 0o600,
    maxmsg: int | None = None,
    msgsize: int | None = None,
    nsems: int | None = None,
    value: int | None = None,
    exclusive: bool = False,
    reuse: bool = False,
) -> Created:
    """Create an object: SysV takes a key (or "private"), POSIX a "/name", a FIFO a path.

    When an object with that key or name exists: with ``exclusive`` that is an error; otherwise
    it is taken as it is (``created`` False) if it has what was asked (size, nsems, maxmsg,
    msgsize, where given), and is an error if it differs, unless ``reuse`` takes it anyway (its
    ``differs`` says how). A create that fails half-way removes what it made.
    """
    k = require_kind(kind, ACTION_KINDS, "create")
    if exclusive and reuse:
        raise UsageError("--exclusive and --reuse contradict each other: pick one")
    given = {"size": size, "maxmsg": maxmsg, "msgsize": msgsize, "nsems": nsems, "value": value}
    for opt, val in given.items():
        if val is not None and opt not in _CREATE_OPTIONS[k]:
            allowed = ", ".join(f"--{o}" for o in sorted(_CREATE_OPTIONS[k])) or "none"
            raise UsageError(f"--{opt} does not apply to {kind_name(k)} (options: {allowed})")
    perms = parse_mode(mode)
    if k in SYSV_KINDS:
        return sysv.create(k, parse_key(name_or_key), perms, size, nsems, value, exclusive,
                           reuse)
    if k is Kind.FIFO:
        return fifo.create(name_or_key, perms, exclusive)
    return posix.create(k, validate_posix_name(k, name_or_key), perms, size, maxmsg, msgsize,
                        value, exclusive, reuse)


# --------------------------------------------------------------------------- send, receive


def send(
    kind: Kind | str,
    ident: str,
    data: bytes,
    *,
    mtype: int | None = None,
    priority: int | None = None,
    timeout: float = 0.0,
) -> None:
    """Queue one message. ``timeout`` 0 means do not wait when the queue is full (or, for a FIFO,
    has no reader or no room); otherwise wait at most that many seconds."""
    k = require_kind(kind, QUEUE_KINDS, "send to")
    wait = check_timeout(timeout)
    if mtype is not None and k is not Kind.SYSV_MSG:
        raise UsageError(f"--type applies to sysv-msg only, not {kind_name(k)}")
    if priority is not None and k is not Kind.POSIX_MQ:
        raise UsageError(f"--priority applies to posix-mq only, not {kind_name(k)}")
    if k is Kind.SYSV_MSG:
        sysv.send(ident, data, 1 if mtype is None else mtype, wait)
    elif k is Kind.POSIX_MQ:
        posix.send(ident, data, 0 if priority is None else priority, wait)
    else:
        fifo.send(ident, data, wait)


def receive(
    kind: Kind | str,
    ident: str,
    *,
    mtype: int | None = None,
    timeout: float = 0.0,
    peek: bool = False,
    count: int = 1,
) -> list[Message]:
    """Take up to ``count`` messages, waiting at most ``timeout`` seconds in all.

    An empty list means nothing arrived in time. ``peek`` (SysV only) copies messages by position
    without taking them (msgrcv MSG_COPY); ``mtype`` filters SysV messages like msgrcv's msgtyp.
    """
    k = require_kind(kind, QUEUE_KINDS, "receive from")
    wait = check_timeout(timeout)
    check_range("--count", count, 1, INT_MAX)
    if mtype is not None:
        # msgrcv's msgtyp is a C long: beyond it ctypes wraps (2**63 became a negative type,
        # which takes the lowest message). -LONG_MAX, not LONG_MIN: the kernel negates it.
        check_range("--type", mtype, -LONG_MAX, LONG_MAX)
    if mtype is not None and k is not Kind.SYSV_MSG:
        raise UsageError(f"--type applies to sysv-msg only, not {kind_name(k)}")
    if peek and k is Kind.POSIX_MQ:
        raise UsageError("a posix-mq cannot be peeked: the kernel has no way to read a POSIX "
                         "message without taking it off the queue")
    if peek and k is Kind.FIFO:
        raise UsageError("a FIFO cannot be peeked: reading takes the bytes out of the pipe")
    if k is Kind.SYSV_MSG:
        if peek and mtype is not None:
            raise UsageError("--type cannot be combined with --peek (peek reads by position)")
        return sysv.receive(ident, mtype or 0, wait, peek, count)
    if k is Kind.POSIX_MQ:
        return posix.receive(ident, wait, count)
    return fifo.receive(ident, wait, count)


# --------------------------------------------------------------------------- shared memory


def shm_size(kind: Kind | str, ident: str) -> int:
    """Bytes in a shared memory object (without attaching to it)."""
    k = require_kind(kind, READ_KINDS, "read")
    if k in memory.MEMORY_KINDS:
        return memory.shm_size(k, ident)
    return sysv.shm_size(ident) if k is Kind.SYSV_SHM else posix.shm_size(ident)


def read_shm(kind: Kind | str, ident: str, offset: int = 0, length: int | None = None) -> bytes:
    """Bytes of a shared memory object; ``length`` None reads to the end (see
    :func:`read_shm_report`)."""
    return read_shm_report(kind, ident, offset, length).data


def read_shm_report(kind: Kind | str, ident: str, offset: int = 0,
                    length: int | None = None) -> ShmBytes:
    """Bytes of a shared memory object, and how they were read.

    SysV is read through an existing attacher's mapping where there is one (nothing about the
    segment changes); otherwise it is attached read-only (SHM_RDONLY) and detached at once, which
    changes its lpid, atime and dtime, and ``how`` says so. POSIX is read with pread, which
    cannot fault the way a mapping does if someone shrinks the object meanwhile. Shared
    anonymous memory and memfds are read with pread through a holder (see actions/memory.py).
    """
    k = require_kind(kind, READ_KINDS, "read")
    if k in memory.MEMORY_KINDS:
        return memory.read_shm(k, ident, offset, length)
    if k is Kind.SYSV_SHM:
        return sysv.read_shm(ident, offset, length)
    return ShmBytes(posix.read_shm(ident, offset, length), "")


def sysv_id(kind: Kind | str, key: str) -> str:
    """The id of the SysV object of ``kind`` with the key ``key`` ("0x1234", "4660"), as
    ``ipcrm -M/-Q/-S KEY`` finds it; NotFound when there is none."""
    k = as_kind(kind)
    if k not in SYSV_KINDS:
        raise UsageError(f"only SysV objects have keys, not a {kind_name(k)}")
    return sysv.id_for_key(k, parse_key(key))


def write_shm(kind: Kind | str, ident: str, data: bytes, offset: int = 0) -> int:
    """Write ``data`` at ``offset`` inside the object, never past its end; returns the count."""
    k = require_kind(kind, SHM_KINDS, "write")
    if not data:
        raise UsageError("nothing to write: DATA is empty")
    if k is Kind.SYSV_SHM:
        return sysv.write_shm(ident, data, offset)
    return posix.write_shm(ident, data, offset)


# --------------------------------------------------------------------------- semaphores


def sem_values(kind: Kind | str, ident: str) -> tuple[int, ...]:
    """Every value of a semaphore set (one for POSIX)."""
    k = require_kind(kind, SEM_KINDS, "read")
    return posix.sem_values(ident) if k is Kind.POSIX_SEM else sysv.sem_values(ident)


def sem_op(kind: Kind | str, ident: str, op: int, *, index: int = 0,
           timeout: float = 0.0) -> int:
    """Add ``op`` to a semaphore (P when negative, V when positive; SysV 0 waits for zero).

    Waits at most ``timeout`` seconds for the operation to become possible; returns the new value.
    """
    k = require_kind(kind, SEM_KINDS, "change")
    wait = check_timeout(timeout)
    if k is Kind.POSIX_SEM:
        return posix.sem_op(ident, op, index, wait)
    return sysv.sem_op(ident, op, index, wait)


def sem_set(kind: Kind | str, ident: str, value: int, *, index: int = 0) -> int:
    """Set a semaphore to ``value`` (SysV SETVAL; POSIX by taking or posting); returns it."""
    k = require_kind(kind, SEM_KINDS, "set")
    if k is Kind.POSIX_SEM:
        return posix.sem_set(ident, value, index)
    return sysv.sem_set(ident, value, index)


# --------------------------------------------------------------------------- remove


def describe_removal(kind: Kind | str, ident: str, *, holders: int | None = None) -> str:
    """The consequence of removing the object, one line, without removing anything.

    For POSIX objects and FIFOs the processes holding it are counted from a fresh snapshot, unless
    the caller already knows (``holders``, e.g. the TUI from its latest snapshot).
    """
    k = removable_kind(kind)
    if k in SYSV_KINDS:
        return sysv.describe_removal(k, ident)
    if k is Kind.FIFO:
        return fifo.describe_removal(ident, holders)
    return posix.describe_removal(k, ident, holders)


def refuse_attached(kind: Kind | str, ident: str) -> None:
    """Raise :class:`ipctop.actions.sysv.Attached` when ``kind`` is sysv-shm and processes have
    it attached (removing it then needs ``force_attached``); nothing for other kinds."""
    if removable_kind(kind) is Kind.SYSV_SHM:
        sysv.refuse_attached(ident)


@dataclass(frozen=True)
class Removed:
    """What :func:`remove_object` removed: the object's name ("posix-shm /x") and the
    consequence ("4.0K; no process has it open: destroyed now"), kept apart so a caller that
    names the object itself (leaks --clean: "removed: posix-shm /x: ...") says it once."""

    name: str
    consequence: str

    def __str__(self) -> str:
        return f"removed {self.name}: {self.consequence}"


def remove(kind: Kind | str, ident: str, *, holders: int | None = None,
           only_if_unused: bool = False, force_attached: bool = False) -> str:
    """:func:`remove_object`, as one line: "removed posix-shm /x: destroyed now"."""
    return str(remove_object(kind, ident, holders=holders, only_if_unused=only_if_unused,
                             force_attached=force_attached))


def remove_object(kind: Kind | str, ident: str, *, holders: int | None = None,
                  only_if_unused: bool = False, force_attached: bool = False) -> Removed:
    """Remove exactly the one object named; returns what was removed and what that did.

    ``holders`` is passed to :func:`describe_removal` (the processes holding a POSIX object).
    A SysV segment that processes have attached is only removed with ``force_attached`` (it is
    marked, and destroyed when the last detaches). ``only_if_unused`` (reclaim) removes only what
    the kernel confirms no process holds at that moment: a /dev/shm or queue file is unlinked
    under a write lease, a SysV segment only with no attacher (mode 0 while checking).
    """
    k = removable_kind(kind)
    consequence = describe_removal(k, ident, holders=holders)
    name = object_name(k, ident)
    if k in SYSV_KINDS:
        sysv.remove(k, ident, only_if_unused=only_if_unused, force_attached=force_attached)
    elif k is Kind.FIFO:
        name = fifo.remove(ident)
    else:
        posix.remove(k, ident, only_if_unused=only_if_unused)
    return Removed(name, consequence)
