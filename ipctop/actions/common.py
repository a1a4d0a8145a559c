"""What every family of actions shares: the result types, kinds, input parsing and kernel limits.

Nothing here touches an IPC object; the family modules (sysv, posix, fifo) do, and
:mod:`ipctop.actions.verbs` picks the family for a kind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipctop.errors import UsageError
from ipctop.model import Kind, parse_kind

PROC_SYS = Path("/proc/sys")
SYSVIPC = Path("/proc/sysvipc")
DEV_SHM = Path("/dev/shm")

ACTION_KINDS = (
    Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM,
    Kind.POSIX_SHM, Kind.POSIX_MQ, Kind.POSIX_SEM, Kind.FIFO,
)
"""The kinds ipctop can act on (pipes, sockets and mappings belong to their processes)."""

SHM_KINDS = (Kind.SYSV_SHM, Kind.POSIX_SHM)
READ_KINDS = (*SHM_KINDS, Kind.ANON_SHM, Kind.MEMFD)
"""What ``read`` works on: shared memory with a name, and (read only) memory without one."""
QUEUE_KINDS = (Kind.SYSV_MSG, Kind.POSIX_MQ, Kind.FIFO)
SEM_KINDS = (Kind.SYSV_SEM, Kind.POSIX_SEM)

IPC_PRIVATE = 0
"""The SysV key of an object that has none."""
SEMVMX = 32767
"""Largest SysV semaphore value."""
POSIX_SEM_VALUE_MAX = 2**31 - 1
MQ_PRIO_MAX = 32767
NAME_MAX = 255
LONG_MAX = 2**63 - 1

_POLL_START = 0.002
_POLL_MAX = 0.05


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Created:
    """What ``create`` made (or found, without ``exclusive``)."""

    kind: Kind
    id: str
    """The SysV id, the POSIX "/name" or the FIFO's absolute path: what other commands take."""
    key: str | None = None
    """SysV key as "0x%08x"; None for other kinds."""
    created: bool = True
    """False when an object with that key or name already existed and was opened instead."""
    differs: tuple[str, ...] = ()
    """How the existing object differs from what was asked ("size 4096, not 8192"); only with
    ``reuse``, which takes it as it is (otherwise a difference is an error)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "id": self.id, "key": self.key, "created": self.created,
                "differs": list(self.differs)}


def existing(kind: Kind, ident: str, key: str | None, differs: list[str],
             reuse: bool) -> Created:
    """What ``create`` answers when the key or name is taken (and ``exclusive`` was not asked):
    the object as it is, unless it differs from what was asked and ``reuse`` was not given."""
    if differs and not reuse:
        which = f" (key {key})" if key else ""
        raise UsageError(f"{object_name(kind, ident)}{which} already exists with "
                         f"{', '.join(differs)}: nothing created (--reuse takes it as it is)")
    return Created(kind, ident, key, created=False, differs=tuple(differs))


def differ(what: str, have: int, asked: int | None) -> list[str]:
    """["size 4096, not 8192"] when an existing object's ``have`` is not the ``asked`` (None:
    not asked, so anything goes)."""
    return [] if asked is None or have == asked else [f"{what} {have}, not {asked}"]


@dataclass(frozen=True, slots=True)
class ShmBytes:
    """Bytes read from shared memory, and how they were read."""

    data: bytes
    how: str
    """"read through the mapping of process 1234 (not attached)", or what attaching changed;
    "" when there is nothing to say (POSIX shm is read from its file)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message taken from (or peeked at in) a queue or FIFO."""

    data: bytes
    type: int
    """SysV message type, POSIX mq priority, 0 for a FIFO."""


# --------------------------------------------------------------------------- names and input


def kind_name(kind: Kind) -> str:
    """The command-line spelling: "sysv-shm"."""
    return kind.value.replace("_", "-")


def object_name(kind: Kind, ident: str) -> str:
    """How messages name an object: "sysv-shm 32768", "posix-mq /jobs" (raw: what prints a
    message escapes it with ipctop.display.shown)."""
    return f"{kind_name(kind)} {ident}"


def _names(kinds: tuple[Kind, ...]) -> str:
    names = [kind_name(k) for k in kinds]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def as_kind(kind: Kind | str) -> Kind:
    """A Kind, or the text of one ("sysv-shm", "sysv_shm"); UsageError when unknown."""
    if isinstance(kind, Kind):
        return kind
    try:
        return parse_kind(kind)
    except ValueError as err:
        raise UsageError(str(err)) from None


def require_kind(kind: Kind | str, allowed: tuple[Kind, ...], verb: str) -> Kind:
    k = as_kind(kind)
    if k not in allowed:
        raise UsageError(f"cannot {verb} a {kind_name(k)}: {verb} works on {_names(allowed)}")
    return k


def parse_key(text: str) -> int:
    """A SysV key: "0x1234abcd", "4660" or "private" -> int (IPC_PRIVATE is 0)."""
    t = text.strip().lower()
    if t in ("private", "ipc_private"):
        return IPC_PRIVATE
    try:
        if not t.isascii() or len(t) > 24:  # int() also reads "١٢" as 12
            raise ValueError
        value = int(t, 16) if t.startswith(("0x", "-0x")) else int(t, 10)
    except ValueError:
        raise UsageError(
            f"not a SysV key: {_short(text)} (a number like 0x1234abcd or 4660, or `private`)"
        ) from None
    if not -(2**31) <= value <= 0xFFFFFFFF:
        raise UsageError(f"SysV key out of range: {_short(text)} (keys are 32 bits)")
    return value & 0xFFFFFFFF


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse_sysv_id(kind: Kind, ident: str) -> int:
    """A SysV id: ASCII digits only (``str.isdigit`` also takes superscripts and other
    scripts' digits), an int."""
    t = ident.strip()
    if not (t.isascii() and t.isdigit()) or len(t) > 10 or int(t) > 2**31 - 1:
        raise UsageError(f"not a {kind_name(kind)} id: {_short(ident)} (a number like 32768; "
                         "see `ipctop snapshot`)")
    return int(t)


def validate_posix_name(kind: Kind, name: str) -> str:
    """"/name": a leading slash, no other slash, at most NAME_MAX bytes (251 for semaphores)."""
    label = kind_name(kind)
    if not name.startswith("/"):
        raise UsageError(f"a {label} name starts with '/': {name!r} (like /myname)")
    rest = name[1:]
    if not rest:
        raise UsageError(f"a {label} name needs characters after the '/'")
    if "/" in rest:
        raise UsageError(f"a {label} name has no '/' after the first: {name!r}")
    if "\0" in rest:
        raise UsageError(f"a {label} name cannot contain a NUL byte")
    if rest in (".", ".."):
        raise UsageError(f"not a valid {label} name: {name!r}")
    if kind is Kind.POSIX_SHM and rest.startswith("sem."):
        # glibc keeps semaphore /x as /dev/shm/sem.x: as shm it would be that semaphore.
        raise UsageError(f"{name} is not a posix-shm name: /dev/shm/sem.* files are POSIX "
                         f"semaphores (posix-sem /{rest[4:]})")
    limit = NAME_MAX - 4 if kind is Kind.POSIX_SEM else NAME_MAX  # sem.NAME in /dev/shm
    if len(os.fsencode(rest)) > limit:
        raise UsageError(f"{label} name too long: {len(os.fsencode(rest))} bytes (at most {limit})")
    return name


def parse_mode(text: str | int) -> int:
    """"0600" / "600" / 0o600 -> 0o600; permission bits only."""
    if isinstance(text, int):
        value = text
    else:
        try:
            value = int(text.strip(), 8)
        except ValueError:
            raise UsageError(f"not an octal mode: {text!r} (like 0600)") from None
    if not 0 <= value <= 0o777:
        raise UsageError(f"mode out of range: {oct(value)} (permission bits, 0000 to 0777)")
    return value


def parse_hex(text: str) -> bytes:
    """"de ad be ef", "deadbeef" or "0xdeadbeef" -> bytes."""
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise UsageError(f"not hex bytes: {text!r} (like 'de ad be ef')") from None


def check_timeout(timeout: float) -> float:
    """A wait: finite, >= 0 and at most 100 years (select and semtimedop overflow beyond)."""
    from ipctop.numbers import DURATION_MAX

    if not 0 <= timeout <= DURATION_MAX:
        raise UsageError(f"timeout must be a finite number of seconds from 0 to "
                         f"{DURATION_MAX:g}: {timeout!r}")
    return float(timeout)


def check_range(what: str, value: int, low: int, high: int | None, hint: str = "") -> int:
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{what} must be {bound}: got {value}{hint}")
    return value


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# --------------------------------------------------------------------------- kernel limits


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kernel_limit(name: str) -> int | None:
    """One limit from /proc/sys: shmmax, msgmax, msgmnb, semmsl, semopm, mq_msg_max,
    mq_msgsize_max, mq_msg_default, mq_msgsize_default. None when unreadable."""
    if name in ("shmmax", "msgmax", "msgmnb"):
        return _read_int(PROC_SYS / "kernel" / name)
    if name in ("semmsl", "semopm"):
        try:
            fields = (PROC_SYS / "kernel" / "sem").read_text().split()
            return int(fields[0 if name == "semmsl" else 2])
        except (OSError, ValueError, IndexError):
            return None
    if name.startswith("mq_"):
        return _read_int(PROC_SYS / "fs" / "mqueue" / name[3:])
    raise ValueError(f"unknown limit {name!r}")


def devshm_capacity() -> int | None:
    try:
        st = os.statvfs(DEV_SHM)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


@contextmanager
def exact_umask(mask: int = 0) -> Iterator[None]:
    """Create with exactly the mode asked for (shm_open, mq_open and mkfifo apply the umask)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


class Deadline:
    """Time left until a deadline, and a polling sleep that backs off to 50 ms."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout
        self._step = _POLL_START

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def wait(self) -> bool:
        """Sleep a little; False when the deadline has passed."""
        left = self.left()
        if left <= 0:
            return False
        time.sleep(min(self._step, left))
        self._step = min(self._step * 2, _POLL_MAX)
        return True

    def waited(self) -> str:
        return f" after waiting {self.timeout:g}s" if self.timeout else ""


def check_size(size: int | None, kind: Kind, limit: int | None, limit_name: str) -> int:
    if size is None:
        raise UsageError(f"--size is required for {kind_name(kind)} (bytes, like 4096 or 1M)")
    if size <= 0:
        raise UsageError(f"size must be greater than 0: got {size}")
    if size > LONG_MAX:  # size_t and off_t both hold it
        raise UsageError(f"size {size} is too large (at most {LONG_MAX} bytes)")
    if limit is not None and size > limit:
        raise UsageError(f"size {size} is above {limit_name} ({limit} bytes)")
    return size


def check_span(name: str, size: int, offset: int, length: int, verb: str) -> None:
    if offset < 0:
        raise UsageError(f"offset must not be negative: got {offset}")
    if offset > size:
        raise UsageError(f"offset {offset} is past the end of {name}: it has {size} bytes")
    if length < 0:
        raise UsageError(f"length must not be negative: got {length}")
    if offset + length > size:
        raise UsageError(f"cannot {verb} bytes {offset}..{offset + length} of {name}: it has "
                         f"{size} bytes")


_NOT_REMOVABLE = {
    Kind.PIPE: "a pipe goes away when the last process closes it",
    Kind.UNIX_SOCKET: "a socket belongs to the processes that hold it",
    Kind.SHARED_MAPPING: "a mapped file is not an IPC object ipctop removes",
}


def removable_kind(kind: Kind | str) -> Kind:
    k = as_kind(kind)
    if k in _NOT_REMOVABLE:
        raise UsageError(f"cannot remove a {kind_name(k)}: {_NOT_REMOVABLE[k]}")
    return k


def count_holders(kind: Kind, ident: str) -> int | None:
    """How many processes hold a POSIX object or FIFO, from a snapshot; None if unknown."""
    try:
        from ipctop.snapshot import take
    except ImportError:
        return None
    try:
        snap = take(kinds={kind})
    except Exception:  # a failed scan must not stop a removal; the count is advisory
        return None
    for obj in snap.objects:
        if obj.kind is kind and obj.id == ident:
            return len(obj.pids)
    return 0


def n_processes(n: int) -> str:
    return plural(n, "process", "processes")
