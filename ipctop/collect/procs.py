"""The per-process scan: which fds each process holds, what it maps shared, its signal sets.

Everything ``snapshot.take`` needs to join users onto IPC objects comes from one pass over
/proc/PID/*, and each file is read at most once: status, stat, cmdline, the ns/ipc link, the fd/
links, fdinfo/N only for fds whose access matters (pipes, FIFOs, POSIX mq, /dev/shm files) and the
shared lines of maps. The pass is the hot path of ``ipctop snapshot`` (it must beat ``lsof -n``), so
it reads with os.open/os.read relative to a directory fd on each /proc/PID, parses with compiled
regular expressions or bytes.find over whole files, and calls ``stat`` only on fd targets that
might be an IPC object.

Processes come and go while we read: a vanished process or a /proc entry we may not read (root gets
EACCES on some too) is skipped and counted in :class:`~ipctop.model.Unreadable`, never raised.
A file that does not look as the kernel writes it raises :class:`~ipctop.errors.ParseError` from
the parser functions; ``scan`` records it the same way, naming the file and line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import marshal
import os
import re
import signal
import stat as stat_mod
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ipctop.collect.common import MQUEUE_MAGIC, PROC, statfs_type, user_name
from ipctop.errors import ParseError
from ipctop.model import Process, Signals, Unreadable

SAMPLE_MAX = 10
"""At most this many "path: reason" strings are kept in Unreadable.sample."""

MIN_PIDS_PER_WORKER = 128
"""A forked scan helper pays off only with at least this many processes to read each."""

SIGRTMIN = 34
"""The first real-time signal as glibc (and ``kill -l``) numbers it; 32 and 33 are glibc's own."""


@dataclass(frozen=True, slots=True)
class FdUse:
    """One open fd that may be an IPC object (pipes, sockets, /dev/shm files, mq, FIFOs).

    Fds on anything else (regular files, ttys, anon inodes) are not recorded.
    """

    pid: int
    fd: int
    target: str
    """The link text: "pipe:[123]", "socket:[456]", "/dev/shm/name", "/queue", "/tmp/fifo"."""
    access: str | None = None
    """"r", "w" or "rw" from fdinfo flags; None where not read (sockets) or unreadable."""
    dev: int | None = None
    """st_dev of the open file (stat through the fd), for paths only and only when live."""
    ino: int | None = None
    mode: int | None = None
    """st_mode of the open file, as ``dev``."""
    uid: int | None = None
    """st_uid of the open file, as ``dev``."""
    ctime: float | None = None
    """st_ctime of the open file, as ``dev``."""
    mqueue: bool = False
    """The fd is a POSIX message queue (statfs of the fd is mqueue; live only)."""

    @property
    def path(self) -> str:
        """The target without the kernel's " (deleted)" suffix."""
        return self.target.removesuffix(" (deleted)")

    @property
    def inode_ref(self) -> int | None:
        """The inode in "pipe:[N]" / "socket:[N]", else None."""
        if self.target.endswith("]") and (
            self.target.startswith("pipe:[") or self.target.startswith("socket:[")
        ):
            digits = self.target[self.target.index("[") + 1 : -1]
            return int(digits) if digits.isdigit() else None
        return None


@dataclass(frozen=True, slots=True)
class MapUse:
    """One MAP_SHARED line of /proc/PID/maps (perms with "s" in the fourth place)."""

    pid: int
    path: str
    """The mapped path without " (deleted)"; "/SYSV0000abcd", "/dev/shm/x", "/memfd:name"."""
    perms: str
    """As maps prints it, e.g. "rw-s"."""
    dev: int
    """The device column ("fd:01", hex major:minor) as os.makedev."""
    inode: int
    shmid: int | None = None
    """For /SYSV lines: the SysV shmid (the inode column), else None."""
    deleted: bool = False

    @property
    def access(self) -> str | None:
        """"rw", "r", "w" from the perms, None for a mapping without either."""
        acc = ("r" if self.perms[0] == "r" else "") + ("w" if self.perms[1] == "w" else "")
        return acc or None


@dataclass(frozen=True, slots=True)
class ProcScan:
    """The result of one pass over /proc."""

    processes: dict[int, Process]
    """Every process read, by pid (thread group leaders only, no threads)."""
    fds: tuple[FdUse, ...]
    maps: tuple[MapUse, ...]
    unreadable: Unreadable
    self_ipc_ns: int | None = None
    """The IPC namespace inode of the scanning process (/proc/self/ns/ipc), None if unknown."""


WORKERS_ENV = "IPCTOP_SCAN_WORKERS"
"""Environment variable capping the processes a one-shot scan uses (1: no forked helpers)."""
MAX_WORKERS = 4


def scan_workers() -> int:
    """Processes a one-shot command may scan /proc with: the CPUs this process may run on, at
    most :data:`MAX_WORKERS`, or what ``IPCTOP_SCAN_WORKERS`` says (at least 1)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return max(1, int(text))
    try:
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


# --------------------------------------------------------------------------- signals


def signal_name(num: int) -> str:
    """The name of signal ``num``: "SIGUSR1"; 32/33 -> "SIG32"/"SIG33"; 34.. -> "SIGRTMIN+n"."""
    if num >= SIGRTMIN:
        return "SIGRTMIN" if num == SIGRTMIN else f"SIGRTMIN+{num - SIGRTMIN}"
    if 1 <= num < 32:
        try:
            return signal.Signals(num).name
        except ValueError:
            pass
    return f"SIG{num}"


_NAMES = tuple(signal_name(n) for n in range(1, 65))


@lru_cache(maxsize=4096)
def mask_names(mask: int) -> tuple[str, ...]:
    """Names of the signals in a /proc status mask (bit n-1 = signal n), in number order."""
    out: list[str] = []
    bit = 0
    while mask:
        if mask & 1:
            out.append(_NAMES[bit] if bit < len(_NAMES) else f"SIG{bit + 1}")
        mask >>= 1
        bit += 1
    return tuple(out)


# --------------------------------------------------------------------------- parsers


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """The fields of /proc/PID/status the scan uses."""

    name: str
    ppid: int
    uid: int
    """The effective uid (second column of "Uid:"), as ps and top show."""
    pending: int
    """SigPnd | ShdPnd."""
    blocked: int
    ignored: int
    caught: int
    kthread: bool = False


_STATUS_REQUIRED = ("Name", "PPid", "Uid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
_STATUS_KEYS = tuple((key, b"\n" + key.encode() + b":") for key in (*_STATUS_REQUIRED, "Kthread"))
_HEX16 = re.compile(rb"[0-9a-fA-F]{1,16}")


def _lineno(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


_FAST_KEYS = tuple(b"\n" + key.encode() + b":" for key in _STATUS_REQUIRED[1:])
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def parse_status(data: bytes, path: str | Path) -> StatusInfo:
    """Parse /proc/PID/status; ParseError naming the file and line on a malformed field.

    Finds each wanted "\nKey:" with bytes.find: twice as fast as a regular expression over the
    whole file, and status is read for every process. Status as the kernel writes it takes a
    lean path (:func:`_status_fast`); anything else, errors included, the thorough one.
    """
    info = _status_fast(data)
    return info if info is not None else _status_checked(data, path)


def _status_fast(data: bytes) -> StatusInfo | None:
    """``parse_status`` of a status file in the kernel's own format, or None to take the long way.

    Returns only what :func:`_status_checked` would return for the same bytes (the first
    "\nKey:" line of each key, the same conversions) without its bookkeeping: ~25% faster, and it
    runs once per process. None where that cannot be promised cheaply (a missing key, a signal
    mask that is not "\t" and 16 hex digits, a malformed number): the caller takes the long way.
    """
    if not data.startswith(b"Name:\t"):
        return None
    text = b"\n" + data
    find = text.find
    values: list[bytes] = []
    for marker in _FAST_KEYS:
        pos = find(marker)
        if pos < 0:
            return None
        pos += len(marker)
        eol = find(b"\n", pos)
        values.append(text[pos:eol] if eol >= 0 else text[pos:])
    ppid, uid, *masks = values
    sigs: list[int] = []
    for value in masks:
        if len(value) != 17 or value[0] != 9 or value.translate(None, _HEX_DIGITS) != b"\t":
            return None
        sigs.append(int(value, 16))
    try:
        parts = uid.split()
        uid_num = int(parts[1])
        ppid_num = int(ppid)  # int() rejects what .split() would cut into several parts
    except (ValueError, IndexError):
        return None
    eol = data.find(b"\n")
    kpos = find(b"\nKthread:")
    if kpos >= 0:
        kpos += 9
        keol = find(b"\n", kpos)
        kthread = (text[kpos:keol] if keol >= 0 else text[kpos:]).strip() == b"1"
    else:
        kthread = False
    return StatusInfo(
        name=(data[6:eol] if eol >= 0 else data[6:]).decode(errors="replace"),
        ppid=ppid_num, uid=uid_num, pending=sigs[0] | sigs[1], blocked=sigs[2],
        ignored=sigs[3], caught=sigs[4], kthread=kthread,
    )


def _status_checked(data: bytes, path: str | Path) -> StatusInfo:
    """``parse_status`` of any bytes: the first "\nKey:" line of each key, errors named."""
    found: dict[str, tuple[bytes, int]] = {}
    text = b"\n" + data  # so that the first line (Name:) starts with a newline too
    for key, marker in _STATUS_KEYS:
        pos = text.find(marker)
        if pos < 0:
            continue
        eol = text.find(b"\n", pos + 1)
        found[key] = (text[pos + len(marker) : eol if eol >= 0 else None], pos)
    for key in _STATUS_REQUIRED:
        if key not in found:
            raise ParseError(path, _lineno(data, len(data.rstrip(b"\n"))), f"no {key}: line")

    def number(key: str, *, hexa: bool = False, col: int = 0) -> int:
        value, pos = found[key]
        parts = value.split()
        try:
            if hexa:
                if len(parts) != 1 or not _HEX16.fullmatch(parts[0]):
                    raise ValueError
                return int(parts[0], 16)
            return int(parts[col])
        except (ValueError, IndexError):
            raise ParseError(
                path, _lineno(data, pos), f"bad {key}: {value.strip().decode(errors='replace')!r}"
            ) from None

    kthread = found.get("Kthread", (b"0", 0))[0].strip() == b"1"
    name = found["Name"][0]
    return StatusInfo(
        name=(name[1:] if name[:1] == b"\t" else name).decode(errors="replace"),
        ppid=number("PPid"),
        uid=number("Uid", col=1),
        pending=number("SigPnd", hexa=True) | number("ShdPnd", hexa=True),
        blocked=number("SigBlk", hexa=True),
        ignored=number("SigIgn", hexa=True),
        caught=number("SigCgt", hexa=True),
        kthread=kthread,
    )


def parse_stat(data: bytes, path: str | Path) -> tuple[str, int]:
    """(state letter, starttime in clock ticks since boot) from /proc/PID/stat."""
    end = data.rfind(b")")
    fields = data[end + 1 :].split() if end >= 0 else []
    try:
        state = fields[0].decode()
        start = int(fields[19])
    except (IndexError, ValueError, UnicodeDecodeError):
        raise ParseError(path, 1, "expected 'pid (comm) state ...' with 22+ fields") from None
    return state, start


def parse_btime(data: bytes, path: str | Path) -> float:
    """The boot time (epoch seconds) from /proc/stat."""
    m = re.search(rb"^btime[ \t]+(\S*)", data, re.M)
    if m is None:
        raise ParseError(path, _lineno(data, len(data.rstrip(b"\n"))), "no btime line")
    try:
        return float(int(m.group(1)))
    except ValueError:
        raise ParseError(path, _lineno(data, m.start()), "bad btime value") from None


_FLAGS_RE = re.compile(rb"^flags:[ \t]*(\S*)", re.M)
_ACCESS = ("r", "w", "rw", None)


def parse_fdinfo_access(data: bytes, path: str | Path) -> str | None:
    """"r", "w" or "rw" from the octal ``flags:`` line of /proc/PID/fdinfo/N."""
    m = _FLAGS_RE.search(data)
    if m is None:
        raise ParseError(path, 1, "no flags: line")
    try:
        flags = int(m.group(1), 8)
    except ValueError:
        raise ParseError(path, _lineno(data, m.start()), f"bad flags {m.group(1)!r}") from None
    return _ACCESS[flags & 3]


_MAPS_LINE = re.compile(
    rb"[0-9a-f]+-[0-9a-f]+ ([r-][w-][x-]s) [0-9a-f]+ ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?"
)
_DELETED = " (deleted)"


def parse_maps(data: bytes, path: str | Path, pid: int) -> list[MapUse]:
    """The MAP_SHARED lines of /proc/PID/maps; other lines are not parsed.

    Shared lines are found with bytes.find on "s " (perms such as "rw-s " end so), which is
    several times faster than a regular expression over every line; a hit inside a path is told
    apart by checking that it sits at the perms column. A "/SYSV%08x" line is a SysV attach (its
    inode column is the shmid); a shared line with no path is shared anonymous memory, skipped.
    """
    out: list[MapUse] = []
    pos = data.find(b"s ")
    while pos >= 0:
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        line = data[start:end]
        if line.find(b" ") + 4 != pos - start:  # "s " is inside a path, not the perms
            pos = data.find(b"s ", end)
            continue
        m = _MAPS_LINE.fullmatch(line)
        if m is None:
            raise ParseError(
                path, _lineno(data, start),
                f"unexpected maps line {line[:80].decode(errors='replace')!r}",
            )
        pos = data.find(b"s ", end)
        raw = m.group(5)
        if not raw:
            continue
        name = os.fsdecode(raw)
        deleted = name.endswith(_DELETED)
        if deleted:
            name = name[: -len(_DELETED)]
        inode = int(m.group(4))
        shmid = inode if name.startswith("/SYSV") else None
        out.append(MapUse(
            pid=pid, path=name, perms=m.group(1).decode(),
            dev=os.makedev(int(m.group(2), 16), int(m.group(3), 16)), inode=inode,
            shmid=shmid, deleted=deleted,
        ))
    return out


PROCMAP_QUERY = 0xC0686611
"""_IOWR('f', 17, struct procmap_query): ask /proc/PID/maps for one VMA (Linux 6.11+)."""
_QUERY = struct.Struct("=9Q4I2Q")
"""struct procmap_query (uapi/linux/fs.h), 104 bytes."""
_Q_READ, _Q_WRITE, _Q_EXEC, _Q_SHARED, _Q_COVERING_OR_NEXT = 0x1, 0x2, 0x4, 0x8, 0x10
_NAME_MAX = 4096


class MapsQuery:
    """The shared VMAs of a process through the PROCMAP_QUERY ioctl on /proc/PID/maps.

    The same facts as the shared lines of the maps text (the names are the same d_path strings,
    " (deleted)" included), but the kernel skips private VMAs itself and formats nothing: about
    5x cheaper than reading maps, which is the largest cost of a scan. Kernels before 6.11 answer
    ENOTTY, and so do fixture files: then ``query`` raises :class:`Unsupported` and the caller
    reads the text.
    """

    class Unsupported(Exception):
        pass

    def __init__(self) -> None:
        self.name = ctypes.create_string_buffer(_NAME_MAX)
        self.addr = ctypes.addressof(self.name)

    def query(self, path: str, pid: int, dir_fd: int | None = None) -> list[MapUse]:
        """The shared VMAs of ``path`` (a maps file; relative to ``dir_fd`` when given)."""
        fd = os.open(path, _O_FILE, dir_fd=dir_fd)
        out: list[MapUse] = []
        try:
            addr = 0
            while True:
                buf = bytearray(_QUERY.pack(
                    _QUERY.size, _Q_SHARED | _Q_COVERING_OR_NEXT, addr,
                    0, 0, 0, 0, 0, 0, 0, 0, _NAME_MAX, 0, self.addr, 0))
                try:
                    fcntl.ioctl(fd, PROCMAP_QUERY, buf, True)
                except OSError as err:
                    if err.errno == errno.ENOENT:
                        return out  # no more shared VMAs
                    if err.errno in (errno.ENOTTY, errno.EINVAL, errno.ENAMETOOLONG,
                                     errno.E2BIG, errno.EOPNOTSUPP):
                        raise MapsQuery.Unsupported(str(err)) from None
                    raise
                (_, _, _, _, end, flags, _, _, inode, major, minor, name_size, _, _, _
                 ) = _QUERY.unpack(buf)
                addr = end
                if name_size <= 1:
                    continue  # shared memory without a name
                name = os.fsdecode(ctypes.string_at(self.addr, name_size - 1))
                deleted = name.endswith(_DELETED)
                if deleted:
                    name = name[: -len(_DELETED)]
                perms = ("r" if flags & _Q_READ else "-") + ("w" if flags & _Q_WRITE else "-") \
                    + ("x" if flags & _Q_EXEC else "-") + "s"
                out.append(MapUse(
                    pid=pid, path=name, perms=perms, dev=os.makedev(major, minor), inode=inode,
                    shmid=inode if name.startswith("/SYSV") else None, deleted=deleted,
                ))
        finally:
            os.close(fd)


def ns_inode(link: str) -> int | None:
    """"ipc:[4026531839]" -> 4026531839; None if the link has another shape."""
    start = link.find("[")
    if start < 0 or not link.endswith("]"):
        return None
    try:
        return int(link[start + 1 : -1])
    except ValueError:
        return None


# --------------------------------------------------------------------------- scan


@dataclass(frozen=True, slots=True)
class _Seen:
    """What one scan read of one process, and how to tell next time whether it has changed."""

    stamp: bytes
    """:meth:`_Scanner.run_stamp` before the process was read."""
    threads: int | None
    """The "Threads:" count of its status."""
    status: bytes | None
    """The status it was read with, for a process that a signal can be left pending on
    without it running (it blocks signals, or it is stopped or in uninterruptible sleep);
    None for others, which run when sent a signal."""
    process: Process
    fds: tuple[FdUse, ...]
    maps: tuple[MapUse, ...]
    notes: tuple[str, ...]
    """What could not be read, as ``Unreadable.sample`` words it."""


class ScanCache:
    """What a polling program's scans keep from one to the next (``scan(cache=...)``).

    A process is read again only when it may have changed. Its fds, maps, command line and
    namespace change only when it runs, and /proc/PID/schedstat (time on CPU, time waiting,
    timeslices) changes whenever it runs: a process whose schedstat (every thread's, for one
    with several) is the same as at the previous scan is taken from the cache. Signals are the
    exception: one sent to a process that blocks it, or that is stopped or in uninterruptible
    sleep, stays pending without the process running, so for those the status is compared too.
    A pid reused by another process is told apart by the inode of its schedstat file. On an
    idle machine that is a handful of processes read per poll instead of all of them, and a
    small file read for the rest instead of four.

    Two things change what a process's fds and maps look like without the process running:
    a SysV segment or /dev/shm file removed by someone else (the maps and fd links then say
    "(deleted)"), and anything this reasoning overlooks. For the first, :meth:`begin` is given
    the identities of those objects and starts afresh when they change; for the second, every
    ``full_every`` seconds the cache starts afresh anyway.
    """

    def __init__(self, full_every: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.full_every = full_every
        self.clock = clock
        self.seen: dict[int, _Seen] = {}
        self.identity: object = None
        self.full_at: float | None = None
        self.join_memo: dict[tuple[object, ...], Any] = {}
        """Kept for ``snapshot.take``: the users it joined, by the ids of their fds and maps."""
        self.reused = 0
        """Processes the last scan took from the cache."""
        self.read = 0
        """Processes the last scan read."""

    def begin(self, identity: object = None) -> None:
        """Start a scan; forget everything if ``identity`` (of the objects whose removal shows
        in other processes' fds and maps) changed, or on the periodic full scan."""
        now = self.clock()
        if identity != self.identity or self.full_at is None or \
                now - self.full_at >= self.full_every:
            self.seen = {}
            self.full_at = now
        self.identity = identity
        self.reused = self.read = 0


_SIGNAL_STATES = ("D", "T", "t")
"""Uninterruptible sleep, stopped, traced: a signal sent then stays pending; the process does not
run to take it."""


def _threads(status: bytes) -> int | None:
    """The "Threads:" count of a status file; None when it has none."""
    pos = status.find(b"\nThreads:")
    if pos < 0:
        return None
    end = status.find(b"\n", pos + 1)
    try:
        return int(status[pos + 9 : end if end >= 0 else None])
    except ValueError:
        return None



_BUF = 65536
_O_FILE = os.O_RDONLY | os.O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _read(path: str, dir_fd: int | None = None) -> bytes:
    """The whole file. A short read is the end: /proc files other than maps are generated whole."""
    fd = os.open(path, _O_FILE, dir_fd=dir_fd)
    try:
        chunk = os.read(fd, _BUF)
        if len(chunk) < _BUF:
            return chunk
        chunks = [chunk]
        while chunk:
            chunk = os.read(fd, _BUF)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_all(path: str, dir_fd: int | None = None) -> bytes:
    """The whole file, reading until EOF (maps may come in pieces)."""
    fd = os.open(path, _O_FILE, dir_fd=dir_fd)
    try:
        return _drain(fd)
    finally:
        os.close(fd)


def _drain(fd: int) -> bytes:
    """Everything ``fd`` gives until EOF."""
    chunks: list[bytes] = []
    while chunk := os.read(fd, _BUF):
        chunks.append(chunk)
    return b"".join(chunks)


_NOT_IPC_PREFIXES = ("/proc/", "/sys/", "/dev/pts/", "/dev/null", "/dev/tty", "/dev/ptmx",
                     "/dev/urandom", "/dev/random", "/dev/zero", "/dev/full", "/dev/dri/")
"""Fd targets that are never a FIFO or IPC object: skipped without a stat."""


class _Scanner:
    """State of one scan: the results so far and what could not be read."""

    def __init__(self, proc: Path, live: bool, with_maps: bool = True,
                 use_query: bool = True, use_fdinfo: bool | None = None,
                 cache: ScanCache | None = None) -> None:
        self.proc = str(proc)
        self.cache = cache
        self.seen: dict[int, _Seen] = {}
        """With a cache: what this scan read (or reused) per process, the next scan's cache."""
        self.pid_notes: dict[int, list[str]] = {}
        self.live = live
        self.with_maps = with_maps
        self.query: MapsQuery | None = MapsQuery() if use_query else None
        self.use_fdinfo = not live if use_fdinfo is None else use_fdinfo
        self.processes: dict[int, Process] = {}
        self.fds: list[FdUse] = []
        self.maps: list[MapUse] = []
        self.bad_pids: set[int] = set()
        self.sample: list[str] = []
        self.stat_cache: dict[tuple[int | None, str], os.stat_result | None] = {}
        self.btime: float | None = None
        self.clk_tck = os.sysconf("SC_CLK_TCK") if "SC_CLK_TCK" in os.sysconf_names else 100
        try:
            self.btime = parse_btime(_read(f"{self.proc}/stat"), f"{self.proc}/stat")
        except (OSError, ParseError) as err:
            self.note(0, f"{self.proc}/stat: {_reason(err)}")

    def note(self, pid: int, text: str) -> None:
        if pid:
            self.bad_pids.add(pid)
            if self.cache is not None:
                self.pid_notes.setdefault(pid, []).append(text)
        if len(self.sample) < SAMPLE_MAX:
            self.sample.append(text)

    def run(self, workers: int = 1) -> None:
        """Read every process; with ``workers`` > 1, split the pids among forked helpers."""
        try:
            proc_fd = os.open(self.proc, _O_DIR)
        except OSError as err:
            self.note(0, f"{self.proc}: {_reason(err)}")
            return
        try:
            try:
                entries = os.listdir(self.proc)
            except OSError as err:
                self.note(0, f"{self.proc}: {_reason(err)}")
                return
            pids = [int(entry) for entry in entries if entry.isdigit()]
            workers = min(workers, len(pids) // MIN_PIDS_PER_WORKER) if self.live else 1
            if workers > 1:
                self.run_forked(pids, proc_fd, workers)
            else:
                self.run_pids(pids, proc_fd)
        finally:
            os.close(proc_fd)

    def run_pids(self, pids: Iterable[int], proc_fd: int) -> None:
        for pid in pids:
            self.one(pid, proc_fd)

    def run_forked(self, pids: list[int], proc_fd: int, workers: int) -> None:
        """Scan ``pids`` in ``workers`` processes: this one and forked children.

        Most of a scan is the kernel generating /proc files, and Python threads would serialize
        on the GIL between the many short system calls, so each child scans its share of the
        pids in a process of its own and sends the result back through a pipe (marshal: plain
        tuples, no import). Results are merged in pid-list order, as a single process would
        have found them. A child that cannot be forked, fails or sends a short result costs
        nothing but time: its share is scanned here.
        """
        size = -(-len(pids) // workers)
        shares = [pids[i : i + size] for i in range(0, len(pids), size)]
        children: list[tuple[int, int] | None] = [self.fork_share(s, proc_fd) for s in shares[1:]]
        try:
            self.run_pids(shares[0], proc_fd)
            for i, share in enumerate(shares[1:]):
                data: bytes | None = None
                child = children[i]
                if child is not None:
                    try:
                        data = _read_to_end(child[1])
                    finally:
                        children[i] = None
                        if not _finish_child(*child, done=data is not None):
                            data = None
                if data is None or not self.merge(data):
                    self.run_pids(share, proc_fd)
        finally:
            for child in children:
                if child is not None:
                    _finish_child(*child, done=False)

    def fork_share(self, pids: list[int], proc_fd: int) -> tuple[int, int] | None:
        """Fork a child that scans ``pids`` and writes :meth:`pack` to a pipe: (pid, read fd)."""
        try:
            rfd, wfd = os.pipe()
        except OSError:
            return None
        try:
            child = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            return None
        if child == 0:  # pragma: no cover - runs in the child, checked by the parent's merge
            status = 1
            try:
                os.close(rfd)
                self.processes, self.fds, self.maps = {}, [], []
                self.bad_pids, self.sample = set(), []
                self.run_pids(pids, proc_fd)
                data = memoryview(self.pack())
                while data:
                    data = data[os.write(wfd, data):]
                status = 0
            finally:
                os._exit(status)  # never unwind into the parent's code (atexit, stdio buffers)
        os.close(wfd)
        return child, rfd

    def pack(self) -> bytes:
        """What this scanner found, as marshal data for :meth:`merge`."""
        return marshal.dumps((
            [({name: getattr(p, name) for name in _PROCESS_FIELDS}, _fields(p.signals))
             for p in self.processes.values()],
            [_fields(f) for f in self.fds],
            [_fields(m) for m in self.maps],
            sorted(self.bad_pids),
            self.sample,
        ))

    def merge(self, data: bytes) -> bool:
        """Add a child's :meth:`pack`; False (nothing added) when the data does not unpack."""
        try:
            processes, fds, maps, bad_pids, sample = marshal.loads(data)
            found = {fields["pid"]: Process(**fields, signals=Signals(*signals))
                     for fields, signals in processes}
            fd_uses = [FdUse(*f) for f in fds]
            map_uses = [MapUse(*m) for m in maps]
        except (EOFError, ValueError, TypeError):
            return False
        self.processes.update(found)
        self.fds.extend(fd_uses)
        self.maps.extend(map_uses)
        self.bad_pids.update(bad_pids)
        self.sample.extend(sample[: SAMPLE_MAX - len(self.sample)])
        return True

    def one(self, pid: int, proc_fd: int) -> None:
        """Read process ``pid`` through a directory fd on /proc/PID (``proc_fd`` is /proc's).

        Files are opened relative to it, so the kernel walks one name rather than a whole
        "/proc/PID/..." path, and every read reaches the same process: if ``pid`` exits and the
        number is reused meanwhile, the reads fail (ENOENT/ESRCH) as for any vanished process.
        The "/proc/PID/name" text is built only for an error message.
        """
        cache = self.cache
        stamp: bytes | None = None
        if cache is not None:
            prev = cache.seen.get(pid)
            threaded = prev is not None and prev.threads != 1
            stamp = self.run_stamp(pid, proc_fd, threaded)
            if stamp is not None and prev is not None and self.reuse(pid, proc_fd, prev, stamp):
                cache.reused += 1
                return
            cache.read += 1
        try:
            pid_fd = os.open(str(pid), _O_DIR, dir_fd=proc_fd)
        except OSError as err:
            self.fail(pid, f"{self.proc}/{pid}/status", err)  # as reading status would say
            return
        try:
            first_fd, first_map = len(self.fds), len(self.maps)
            status = self._one(pid, pid_fd)
        finally:
            os.close(pid_fd)
        process = self.processes.get(pid)
        if stamp is None or status is None or process is None:
            return  # never reused: read again next time
        threads = _threads(status)
        if threads != 1 and not threaded:  # first seen with threads: stamp them all from now
            stamp = self.run_stamp(pid, proc_fd, True)
            if stamp is None:
                return
        watch = bool(process.signals.blocked) or process.state in _SIGNAL_STATES
        self.seen[pid] = _Seen(
            stamp=stamp, threads=threads, status=status if watch else None, process=process,
            fds=tuple(self.fds[first_fd:]), maps=tuple(self.maps[first_map:]),
            notes=tuple(self.pid_notes.get(pid, ())),
        )

    def run_stamp(self, pid: int, proc_fd: int, threaded: bool) -> bytes | None:
        """What changes whenever the process runs: the inode of /proc/PID/schedstat (a reused
        pid gets another) and its time on CPU, time waiting and timeslice count; with
        ``threaded``, every thread's. None when it cannot be read whole."""
        try:
            fd = os.open(f"{pid}/schedstat", _O_FILE, dir_fd=proc_fd)
            try:
                stamp = os.fstat(fd).st_ino.to_bytes(8, "little") + os.read(fd, _BUF)
            finally:
                os.close(fd)
            if threaded:
                tids = sorted(os.listdir(f"{self.proc}/{pid}/task"))
                stamp += b"\n".join(tid.encode() + b" " + _read(f"{pid}/task/{tid}/schedstat",
                                                                proc_fd) for tid in tids)
        except OSError:
            return None
        return stamp

    def reuse(self, pid: int, proc_fd: int, prev: _Seen, stamp: bytes) -> bool:
        """Take what the previous scan read of ``pid`` if the process has not run since (its
        :meth:`run_stamp` is unchanged) and cannot have been sent a signal that stays pending
        while it sleeps (or its status is unchanged too); True if so."""
        if stamp != prev.stamp:
            return False
        if prev.status is not None:
            try:
                if _read(f"{pid}/status", proc_fd) != prev.status:
                    return False
            except OSError:
                return False
        self.processes[pid] = prev.process
        self.fds.extend(prev.fds)
        self.maps.extend(prev.maps)
        for text in prev.notes:
            self.note(pid, text)
        self.seen[pid] = prev
        return True

    def _one(self, pid: int, dir_fd: int) -> bytes | None:
        """Read process ``pid`` (``dir_fd`` is its /proc/PID); return its status bytes, None if
        they could not be read."""
        try:
            status_bytes = _read("status", dir_fd)
            status = _status_fast(status_bytes) or parse_status(
                status_bytes, f"{self.proc}/{pid}/status")
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/status", err)
            return None
        self._read_process(pid, dir_fd, status)
        return status_bytes

    def _read_process(self, pid: int, dir_fd: int, status: StatusInfo) -> None:
        """The rest of ``_one``: stat, cmdline, ns/ipc, fds and maps."""
        state, start_time = "", None
        try:
            data = _read("stat", dir_fd)
            state, ticks = parse_stat(data, f"{self.proc}/{pid}/stat")
            if self.btime is not None:
                start_time = self.btime + ticks / self.clk_tck
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/stat", err)
        cmdline = ""
        try:
            cmdline = _read("cmdline", dir_fd).rstrip(b"\0").replace(b"\0", b" ").decode(
                errors="replace")
        except OSError as err:
            self.fail(pid, f"{self.proc}/{pid}/cmdline", err)
        ipc_ns = None
        dead = state in ("Z", "X")  # a zombie has no namespaces, fds or maps left: not an error
        if not dead:
            try:
                ipc_ns = ns_inode(os.readlink("ns/ipc", dir_fd=dir_fd))
            except OSError as err:
                self.fail(pid, f"{self.proc}/{pid}/ns/ipc", err)
        self.processes[pid] = Process(
            pid=pid, ppid=status.ppid, comm=status.name, cmdline=cmdline,
            user=user_name(status.uid), uid=status.uid, ipc_ns=ipc_ns, start_time=start_time,
            state=state,
            signals=Signals(
                pending=mask_names(status.pending), blocked=mask_names(status.blocked),
                ignored=mask_names(status.ignored), caught=mask_names(status.caught),
            ),
        )
        if status.kthread or dead:
            return  # kernel threads and zombies hold no fds and map nothing
        self.scan_fds(pid, dir_fd)
        if not self.with_maps:
            return
        try:
            if self.query is not None:
                try:
                    self.maps.extend(self.query.query("maps", pid, dir_fd))
                    return
                except MapsQuery.Unsupported:
                    self.query = None  # this kernel or tree has no PROCMAP_QUERY: read text
            data = _read_all("maps", dir_fd)
            self.maps.extend(parse_maps(data, f"{self.proc}/{pid}/maps", pid))
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/maps", err)

    def fail(self, pid: int, path: str, err: OSError | ParseError) -> None:
        """Record a failed read; a missing file of a process that has exited is counted too."""
        self.note(pid, str(err) if isinstance(err, ParseError) else f"{path}: {_reason(err)}")

    def scan_fds(self, pid: int, dir_fd: int) -> None:
        """The fds of ``pid`` that may be IPC objects; ``dir_fd`` is a directory fd on /proc/PID.

        The directory is listed by path: os.listdir of a directory fd costs four more system
        calls (dup, two fcntl, lseek), more than "fd/N" relative to /proc/PID saves per link.
        """
        fd_dir = f"{self.proc}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError as err:
            self.fail(pid, fd_dir, err)
            return
        mnt_ns: list[int | None] = []  # read lazily, once: keys the stat cache
        live = self.live
        fds = self.fds
        readlink = os.readlink
        for name in names:
            link = "fd/" + name
            try:
                target = readlink(link, dir_fd=dir_fd)
            except FileNotFoundError:
                continue  # closed since the listing
            except OSError as err:
                self.fail(pid, f"{fd_dir}/{name}", err)
                return  # the rest of this directory will not be readable either
            fd = int(name)
            if target.startswith("socket:["):
                fds.append(FdUse(pid, fd, target))
                continue
            if target.startswith("pipe:["):
                fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name)))
                continue
            if not target.startswith("/"):
                continue  # anon_inode:, memfd:, net:[...] ...
            if not live:
                if target.startswith("/dev/shm/"):
                    fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name)))
                continue
            if target.startswith("/dev/shm/"):
                st = _stat(link, dir_fd)
                if st is not None:
                    fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name),
                                     st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_ctime))
                continue
            if target.find("/", 1) < 0 and \
                    statfs_type(f"{fd_dir}/{name}") == MQUEUE_MAGIC:
                fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name),
                                 mqueue=True))
                continue
            if target.startswith(_NOT_IPC_PREFIXES):
                continue
            if target.endswith(_DELETED):
                st = _stat(link, dir_fd)
            else:
                if not mnt_ns:
                    try:
                        mnt_ns.append(ns_inode(readlink("ns/mnt", dir_fd=dir_fd)))
                    except OSError:
                        mnt_ns.append(None)
                key = (mnt_ns[0], target)
                if key in self.stat_cache:
                    st = self.stat_cache[key]
                else:
                    st = self.stat_cache[key] = _stat(link, dir_fd)
            if st is not None and stat_mod.S_ISFIFO(st.st_mode):
                fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name),
                                 st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_ctime))

    def access(self, pid: int, dir_fd: int, name: str) -> str | None:
        """"r", "w", "rw" for fd ``name``: from the fd link's mode, or fdinfo's flags.

        The kernel gives /proc/PID/fd/N the mode bits of the open file's f_mode (that is what
        ``ls -l`` shows as lr-x/l-wx/lrwx): one lstat instead of open+read+close of fdinfo.
        Fixture trees cannot carry link modes, so they (``live=False``) use fdinfo.
        ``dir_fd`` is a directory fd on /proc/PID.
        """
        if not self.use_fdinfo:
            try:
                return _LINK_ACCESS[os.lstat("fd/" + name, dir_fd=dir_fd).st_mode & 0o600]
            except FileNotFoundError:
                return None
            except OSError as err:
                self.fail(pid, f"{self.proc}/{pid}/fd/{name}", err)
                return None
        try:
            data = _read("fdinfo/" + name, dir_fd)
            return parse_fdinfo_access(data, f"{self.proc}/{pid}/fdinfo/{name}")
        except FileNotFoundError:
            return None  # the fd was closed meanwhile
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/fdinfo/{name}", err)
            return None


_PROCESS_FIELDS = tuple(name for name in Process.__slots__ if name != "signals")
"""Process fields but the nested Signals."""


def _fields(obj: Signals | FdUse | MapUse) -> tuple[object, ...]:
    """The fields of a slotted dataclass, in constructor order."""
    return tuple(getattr(obj, name) for name in obj.__slots__)


def _read_to_end(fd: int) -> bytes | None:
    """Everything until EOF on a pipe; None on a read error."""
    try:
        return _drain(fd)
    except OSError:
        return None


def _finish_child(pid: int, rfd: int, *, done: bool) -> bool:
    """Close our end of a scan child's pipe and reap it, SIGKILLed first unless it is ``done``
    (its output was read; after an error or Ctrl-C here it is not). True if it exited 0."""
    with contextlib.suppress(OSError):
        os.close(rfd)
    if not done:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # still ours: a child's pid is not reused until reaped
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return False
    return done and os.waitstatus_to_exitcode(status) == 0


_LINK_ACCESS: dict[int, str | None] = {0o400: "r", 0o200: "w", 0o600: "rw", 0: None}


def _stat(path: str, dir_fd: int | None = None) -> os.stat_result | None:
    """stat ``path`` (following the link: the open file itself), None on any error."""
    try:
        return os.stat(path, dir_fd=dir_fd)
    except OSError:
        return None


def _reason(err: OSError | ParseError) -> str:
    if isinstance(err, ParseError):
        return str(err)
    if isinstance(err, FileNotFoundError | ProcessLookupError):
        return "vanished during the scan"
    return err.strerror or type(err).__name__


def scan(
    proc: Path = PROC, *, live: bool = True, maps: bool = True, maps_ioctl: bool = True,
    fdinfo: bool | None = None, workers: int = 1, cache: ScanCache | None = None,
) -> ProcScan:
    """Read every process under ``proc`` once.

    ``live`` allows looking through the fd links at the files they point to (stat, statfs):
    that is how FIFOs, POSIX message queues and the (dev, inode) of /dev/shm files are known.
    Turn it off for fixture trees, whose links would resolve against the real machine.
    ``maps=False`` skips /proc/PID/maps when no kind asked for needs map users.
    ``maps_ioctl=False`` reads the maps text even where PROCMAP_QUERY works (the two agree;
    the ioctl is faster). ``fdinfo=True`` takes fd access from fdinfo flags rather than the fd
    link's mode (the default when not live; the two agree). ``workers`` > 1 splits a live scan
    of many processes among forked helpers (see :meth:`_Scanner.run_forked`); fork only from a
    process without threads, as the one-shot commands are (the TUI scans in one process).
    ``cache`` makes the scan incremental, for a program that polls (see :class:`ScanCache`);
    it is never split among helpers.
    """
    scanner = _Scanner(proc, live, maps, maps_ioctl, fdinfo, cache)
    scanner.run(workers if cache is None else 1)
    if cache is not None:
        cache.seen = scanner.seen
    self_ns = None
    with contextlib.suppress(OSError):
        self_ns = ns_inode(os.readlink(f"{proc}/self/ns/ipc"))
    return ProcScan(
        processes=scanner.processes,
        fds=tuple(scanner.fds),
        maps=tuple(scanner.maps),
        unreadable=Unreadable(count=len(scanner.bad_pids), sample=tuple(scanner.sample)),
        self_ipc_ns=self_ns,
    )
