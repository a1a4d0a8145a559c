"""The data ipctop shows: frozen dataclasses, no I/O.

Collectors build these, ``snapshot.take`` joins them, and every presenter (the TUI, ``snapshot
--json``, ``leaks``) reads the same objects, so a fact is computed in exactly one place.

One class per IPC kind keeps the kind-specific fields typed; they all share the common fields of
:class:`IpcObject`. ``to_dict`` flattens an object the way the JSON schema ``ipctop.snapshot/1``
prints it: common fields first, kind-specific fields beside them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, dataclass_transform

SCHEMA = "ipctop.snapshot/1"


class Kind(StrEnum):
    """Every IPC mechanism ipctop knows, spelled three ways, each in its own place:

    - ``value`` ("sysv_shm") in JSON, an interface that never changes;
    - ``word`` ("sysv-shm") wherever a command line is concerned: arguments, ``--help``, the KIND
      column of the tables, so what is printed can be typed back;
    - ``label`` ("SysV shm") in prose: headings, messages, the TUI.

    Input accepts all three (any case): see :func:`parse_kind`.
    """

    SYSV_SHM = "sysv_shm"
    SYSV_MSG = "sysv_msg"
    SYSV_SEM = "sysv_sem"
    POSIX_SHM = "posix_shm"
    POSIX_MQ = "posix_mq"
    POSIX_SEM = "posix_sem"
    PIPE = "pipe"
    FIFO = "fifo"
    UNIX_SOCKET = "unix_socket"
    SHARED_MAPPING = "shared_mapping"
    # Later additions go last, so the kinds before keep their place (and tab number).
    ANON_SHM = "anon_shm"
    MEMFD = "memfd"
    EVENTFD = "eventfd"
    INET_SOCKET = "inet_socket"

    @property
    def label(self) -> str:
        """A short human title, e.g. "SysV shm"."""
        return KIND_LABELS[self]

    @property
    def word(self) -> str:
        """The command-line spelling, e.g. "sysv-shm"."""
        return self.value.replace("_", "-")


KIND_LABELS: dict[Kind, str] = {
    Kind.SYSV_SHM: "SysV shm",
    Kind.SYSV_MSG: "SysV msg",
    Kind.SYSV_SEM: "SysV sem",
    Kind.POSIX_SHM: "POSIX shm",
    Kind.POSIX_MQ: "POSIX mq",
    Kind.POSIX_SEM: "POSIX sem",
    Kind.PIPE: "Pipes",
    Kind.FIFO: "FIFOs",
    Kind.UNIX_SOCKET: "UNIX sockets",
    Kind.SHARED_MAPPING: "Shared maps",
    Kind.ANON_SHM: "Anon shm",
    Kind.MEMFD: "memfd",
    Kind.EVENTFD: "eventfd",
    Kind.INET_SOCKET: "TCP/UDP",
}

SYSV_KINDS = frozenset({Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM})
"""The SysV kinds: known by a key (or IPC_PRIVATE) and an id, in an IPC namespace."""

_BY_SPELLING: dict[str, Kind] = {
    **{"_".join(label.lower().split()): kind for kind, label in KIND_LABELS.items()},
    "pipe": Kind.PIPE, "unix_socket": Kind.UNIX_SOCKET, "shared_map": Kind.SHARED_MAPPING,
    **{kind.value: kind for kind in Kind},
}
"""Every accepted spelling, normalised (lower case, words joined by "_") -> its kind."""


def kind_words(kinds: Iterable[Kind]) -> str:
    """"sysv-msg, posix-mq or fifo": kinds as a command line spells them, for help and errors."""
    words = [k.word for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def parse_kind(text: str, allowed: Iterable[Kind] | None = None, what: str = "") -> Kind:
    """Accept "sysv-shm", "sysv_shm" and "SysV shm" (any case); raise ValueError naming the valid
    kinds: every kind, or ``allowed`` (then ``what``, e.g. "send", says who takes only those)."""
    norm = "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    kind = _BY_SPELLING.get(norm)
    choices = list(Kind) if allowed is None else list(allowed)
    if kind is None:
        raise ValueError(f"unknown kind {text!r} (one of: {kind_words(choices)})")
    if kind not in choices:
        who = f"{what} takes" if what else "expected"
        raise ValueError(f"{who} {kind_words(choices)}, not {kind.word}")
    return kind


@dataclass(frozen=True, slots=True)
class User:
    """One process's use of one object: an open fd or a mapping."""

    pid: int
    comm: str
    fd: int | None = None
    """The fd number, or None for a use through a memory map."""
    access: str | None = None
    """"r", "w" or "rw" where the kernel tells (fdinfo flags, map perms), else None."""
    via: str = "fd"
    """"fd" or "map"."""


@dataclass(frozen=True, slots=True)
class Leak:
    """The leak hunter's verdict on one object (see leaks.py)."""

    reason: str
    """One sentence a person understands, e.g. "no process attached; creator 4242 is gone"."""
    reclaim_bytes: int = 0
    """Bytes freed by removing the object."""
    status: str = "leak"
    """"leak", "pending_removal" (a dest segment kept alive by holders) or "unknown"."""
    evidence: tuple[str, ...] = ()
    """Facts behind the verdict, one short phrase each."""


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class IpcObject:
    """Fields common to every kind. Subclasses add the kind-specific ones.

    Equality, hash and repr are written once here over the instance's fields (its ``__dict__``)
    rather than generated for every kind class: generating them cost ~10 ms of every start
    (a function compiled per method and class), and comparing two ``__dict__``s is one C-level
    call where the generated ``__eq__`` built a tuple of every field of each side. The kind
    classes (see :func:`kind_class`) keep these.
    """

    kind: ClassVar[Kind]
    id: str
    """SysV id, POSIX "/name", pipe/socket inode, FIFO or mapped-file path."""
    key: str | None = None
    """SysV key as "0x%08x"; None for other kinds."""
    name: str | None = None
    """A human name: POSIX "/name", FIFO path, socket path or "@abstract"."""
    owner: str | None = None
    """User name of the owner (uid resolved), or the uid as text when it has no name."""
    uid: int | None = None
    mode: str | None = None
    """Permission bits as an octal string such as "0600"."""
    size: int | None = None
    """Bytes the object occupies or can hold, where that means something."""
    ctime: float | None = None
    """Last status change, epoch seconds: SysV ctime, the file's ctime; the best age we know."""
    users: tuple[User, ...] = ()
    leak: Leak | None = None
    ipc_ns: int | None = None
    """The IPC namespace (inode) a SysV object or POSIX queue lives in; None for other kinds."""
    mnt_ns: int | None = None
    """For a file under /dev/shm: the mount namespace (inode) of a process it was found through.
    Files are told apart by (dev, inode), so one tmpfs shared by several namespaces lists each
    file once, with the first namespace it was found in (ipctop's own first)."""
    container: str | None = None
    """The container of that namespace, e.g. "docker 3f1a9c2b7d4e", when its processes' cgroup
    or process tree names one; None on the host or when nothing says."""
    ns_pid: int | None = None
    """For an object in a namespace other than ipctop's own: the member process it was read
    through (what `--ns PID` takes to act on it). None for ipctop's own namespaces."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{self.__class__.__qualname__}({fields})"

    @property
    def where(self) -> int | None:
        """None for an object of ipctop's own namespaces, else its namespace inode: with the
        kind and id, what tells it apart from one with the same id elsewhere."""
        if self.ns_pid is None:
            return None
        return self.ipc_ns if self.ipc_ns is not None else self.mnt_ns

    @property
    def place(self) -> str | None:
        """None for ipctop's own namespaces, else how people are shown the object's namespace:
        its container, or "ns INODE" when nothing names one (the CONTAINER column, forms)."""
        if self.ns_pid is None:
            return None
        return self.container or f"ns {self.where}"

    @property
    def identity(self) -> tuple[Kind, str, int | None]:
        """How the object is recognised across snapshots: kind, id and :attr:`where`."""
        return (self.kind, self.id, self.where)

    @property
    def pids(self) -> frozenset[int]:
        return frozenset(u.pid for u in self.users)

    def holders(self) -> dict[int, str]:
        """pid -> comm of each process using the object, once per process, in users' order."""
        seen: dict[int, str] = {}
        for u in self.users:
            seen.setdefault(u.pid, u.comm)
        return seen

    def holders_text(self, limit: int, sep: str, more: str) -> str:
        """"1234/python<sep>88/redis" for the first ``limit`` holders, then ``more`` with the
        count of the rest put in for {n} (e.g. " +{n}"); "" when there are none."""
        seen = self.holders()
        text = sep.join(f"{pid}/{comm}" for pid, comm in list(seen.items())[:limit])
        extra = len(seen) - limit
        return text + (more.format(n=extra) if extra > 0 else "")

    def pids_with_access(self, letter: str) -> frozenset[int]:
        """Processes that use the object for reading (letter "r") or writing ("w")."""
        return frozenset(u.pid for u in self.users if u.access and letter in u.access)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: {"kind", common fields..., kind-specific fields...}."""
        out: dict[str, Any] = {"kind": self.kind.value}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if name == "users":
                out["users"] = [
                    {"pid": u.pid, "comm": u.comm, "fd": u.fd, "access": u.access, "via": u.via}
                    for u in value
                ]
            elif name == "leak":
                out["leak"] = None if value is None else _leak_dict(value)
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass, computed once per class (to_dict runs per object)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


IpcObjectT = TypeVar("IpcObjectT", bound=IpcObject)


def evolve(obj: IpcObjectT, **changes: Any) -> IpcObjectT:
    """``dataclasses.replace(obj, **changes)`` for an IpcObject, without running ``__init__``
    again: a copy of the instance's fields with ``changes`` applied.

    About ten times faster, and a snapshot replaces every object once or twice (users joined,
    leak verdict set). Right for these classes because their ``__init__`` only assigns: none
    validates or derives a field. An unknown field name is a TypeError, as with replace.
    """
    cls = type(obj)
    names = _field_names(cls)
    for name in changes:
        if name not in names:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
    new = object.__new__(cls)
    fields = new.__dict__  # frozen forbids setattr, not filling in a fresh instance's dict
    fields.update(obj.__dict__)
    fields.update(changes)
    return new


@dataclass_transform(kw_only_default=True, frozen_default=True, eq_default=False)
def kind_class(cls: type[IpcObjectT]) -> type[IpcObjectT]:
    """Make ``cls``, a subclass of IpcObject, a kind class: a frozen, keyword-only dataclass
    (type checkers see exactly that) with IpcObject's ``__eq__``, ``__hash__`` and ``__repr__``.

    Its ``__init__`` is one written here rather than generated by dataclass: dataclass compiles
    an ``__init__`` for every class at every start (a third of a millisecond per kind, the
    largest part of importing ipctop.kinds, and every one-shot command imports it). This one
    fills the instance's dict from the fields' defaults and the arguments, in field order, as
    the generated one would, and refuses unknown and missing arguments with TypeError.
    """
    dataclass(frozen=True, kw_only=True, eq=False, repr=False, init=False)(cls)
    fields = dataclasses.fields(cls)
    template: dict[str, Any] = {}
    required = set()
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: kind classes take plain defaults only")
        template[f.name] = None if f.default is dataclasses.MISSING else f.default
        if f.default is dataclasses.MISSING:
            required.add(f.name)
    names = frozenset(template)
    needed = frozenset(required)

    def __init__(self: IpcObject, **values: Any) -> None:
        if not (values.keys() <= names and needed <= values.keys()):
            unknown = sorted(values.keys() - names)
            missing = sorted(needed - values.keys())
            raise TypeError(f"{cls.__name__}(): " + (
                f"unexpected argument {unknown[0]!r}" if unknown
                else f"missing argument {missing[0]!r}"))
        fill = self.__dict__  # frozen forbids setattr, not filling in a fresh instance's dict
        fill.update(template)
        fill.update(values)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _leak_dict(leak: Leak) -> dict[str, Any]:
    return {
        "reason": leak.reason,
        "reclaim_bytes": leak.reclaim_bytes,
        "status": leak.status,
        "evidence": list(leak.evidence),
    }


@dataclass(frozen=True, slots=True)
class Signals:
    """Signal sets of a process as names ("SIGUSR1", "SIGRTMIN+2")."""

    pending: tuple[str, ...] = ()
    """Thread (SigPnd) and process-wide (ShdPnd) pending signals together."""
    blocked: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    caught: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Process:
    """One process as the /proc scan read it."""

    pid: int
    ppid: int
    comm: str
    cmdline: str
    user: str
    uid: int
    ipc_ns: int | None = None
    """Inode of /proc/PID/ns/ipc; None when unreadable."""
    mnt_ns: int | None = None
    """Inode of /proc/PID/ns/mnt; None when unreadable."""
    container: str | None = None
    """The container the process runs in (see IpcObject.container); set for processes outside
    ipctop's own IPC and mount namespaces."""
    start_time: float | None = None
    """Epoch seconds the process started (guards against PID reuse)."""
    state: str = ""
    """One letter from /proc/PID/stat: R, S, D, T, t, Z..."""
    signals: Signals = field(default_factory=Signals)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _field_names(Process)}
        sig = self.signals
        out["signals"] = {"pending": list(sig.pending), "blocked": list(sig.blocked),
                          "ignored": list(sig.ignored), "caught": list(sig.caught)}
        return out


@dataclass(frozen=True, slots=True)
class Limits:
    """Kernel limits, for usage-versus-limit meters. None where unreadable."""

    page_size: int = 4096
    shmmax: int | None = None
    shmall: int | None = None
    """Pages, as the kernel counts it."""
    shmmni: int | None = None
    msgmax: int | None = None
    msgmnb: int | None = None
    msgmni: int | None = None
    semmsl: int | None = None
    semmns: int | None = None
    semopm: int | None = None
    semmni: int | None = None
    mq_queues_max: int | None = None
    mq_msg_max: int | None = None
    mq_msgsize_max: int | None = None
    mq_msg_default: int | None = None
    mq_msgsize_default: int | None = None
    devshm_size: int | None = None
    """Bytes /dev/shm can hold (statvfs)."""
    devshm_used: int | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """What the scan could not read: a count of processes and a sample of paths and reasons."""

    count: int = 0
    sample: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Namespace:
    """One IPC or mount namespace some process is in (see collect/namespaces.py)."""

    type: str
    """"ipc" or "mnt"."""
    inode: int
    own: bool
    """ipctop's own namespace (the host's, unless ipctop itself runs in a container)."""
    pid: int
    """A member process: how ipctop enters the namespace (and how `--ns PID` can name it)."""
    processes: int
    """How many processes are in it."""
    container: str | None = None
    read: bool = True
    """False when ipctop could not look into it; ``error`` says why."""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _field_names(Namespace)}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one ``take()`` found: objects with their users and verdicts, the processes
    involved, what could not be read."""

    taken_at: float
    hostname: str
    objects: tuple[IpcObject, ...] = ()
    processes: tuple[Process, ...] = ()
    unreadable: Unreadable = field(default_factory=Unreadable)
    notices: tuple[str, ...] = ()
    """Things the user should know, e.g. "/dev/mqueue is not mounted: ..."."""
    limits: Limits = field(default_factory=Limits)
    namespaces: tuple[Namespace, ...] = ()
    """Every IPC and mount namespace a process was seen in (empty when not looked at)."""

    def of_kind(self, *kinds: Kind) -> tuple[IpcObject, ...]:
        return tuple(o for o in self.objects if o.kind in kinds)

    def process(self, pid: int) -> Process | None:
        for p in self.processes:
            if p.pid == pid:
                return p
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "taken_at": self.taken_at,
            "hostname": self.hostname,
            "objects": [o.to_dict() for o in self.objects],
            "processes": [p.to_dict() for p in self.processes],
            "unreadable": {"count": self.unreadable.count, "sample": list(self.unreadable.sample)},
            "notices": list(self.notices),
            "limits": dataclasses.asdict(self.limits),
            "namespaces": [n.to_dict() for n in self.namespaces],
        }
