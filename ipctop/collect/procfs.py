"""Readers and parsers of the /proc/PID files the process scan reads, and what it keeps of them.

Each parser is a plain function of the file's bytes and its path (for the error message): a file
that does not look as the kernel writes it raises :class:`~ipctop.errors.ParseError` naming the
file and line. The records (:class:`FdUse`, :class:`MapUse`) are what ``procs.scan`` returns per
fd and per shared mapping; ``snapshot.take`` joins them onto IPC objects.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import signal
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ipctop.errors import ParseError

SIGRTMIN = 34
"""The first real-time signal as glibc (and ``kill -l``) numbers it; 32 and 33 are glibc's own."""


@dataclass(frozen=True, slots=True)
class EventfdInfo:
    """The eventfd lines of /proc/PID/fdinfo/N of an "anon_inode:[eventfd]" fd."""

    ident: int | None
    """``eventfd-id``: tells one eventfd from another (every anon inode fd links to the same
    inode). None on kernels without the line."""
    count: int | None
    """``eventfd-count``, printed in hex: the counter's value."""
    semaphore: bool | None
    """``eventfd-semaphore`` (EFD_SEMAPHORE: each read takes 1); None where not printed."""


@dataclass(frozen=True, slots=True)
class FdUse:
    """One open fd that may be an IPC object (pipes, sockets, /dev/shm files, mq, FIFOs,
    memfds, eventfds).

    Fds on anything else (regular files, ttys, other anon inodes) are not recorded.
    """

    pid: int
    fd: int
    target: str
    """The link text: "pipe:[123]", "socket:[456]", "/dev/shm/name", "/queue", "/tmp/fifo",
    "/memfd:name (deleted)", "anon_inode:[eventfd]"."""
    access: str | None = None
    """"r", "w" or "rw" from fdinfo flags; None where not read (sockets) or unreadable."""
    dev: int | None = None
    """st_dev of the open file (stat through the fd), for paths only and only when live."""
    ino: int | None = None
    """st_ino of the open file, as ``dev``; for a memfd also from fdinfo's ``ino:`` line."""
    mode: int | None = None
    """st_mode of the open file, as ``dev``."""
    uid: int | None = None
    """st_uid of the open file, as ``dev``."""
    ctime: float | None = None
    """st_ctime of the open file, as ``dev``."""
    mqueue: bool = False
    """The fd is a POSIX message queue (statfs of the fd is mqueue; live only)."""
    size: int | None = None
    """st_size of the open file, as ``dev`` (read for memfds)."""
    eventfd: EventfdInfo | None = None
    """For "anon_inode:[eventfd]": what its fdinfo says."""

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
    start: int = 0
    """First address of the mapping (the /proc/PID/map_files/START-END name, with ``end``)."""
    end: int = 0
    """First address after it: ``end - start`` bytes are mapped."""
    offset: int = 0
    """Offset in the file (or shared memory object) of the first byte mapped."""

    @property
    def range_name(self) -> str:
        """The mapping's name under /proc/PID/map_files/: "7f53ddbee000-7f53ddbf1000"."""
        return f"{self.start:x}-{self.end:x}"

    @property
    def access(self) -> str | None:
        """"rw", "r", "w" from the perms, None for a mapping without either."""
        acc = ("r" if self.perms[0] == "r" else "") + ("w" if self.perms[1] == "w" else "")
        return acc or None


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
    lean path (:func:`status_fast`); anything else, errors included, the thorough one.
    """
    info = status_fast(data)
    return info if info is not None else _status_checked(data, path)


def status_fast(data: bytes) -> StatusInfo | None:
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


def parse_fdinfo_eventfd(data: bytes, path: str | Path) -> EventfdInfo:
    """The eventfd lines of an fdinfo file: ``eventfd-count: %16llx``, ``eventfd-id: %d``,
    ``eventfd-semaphore: %d``; a line a kernel does not print gives None."""
    values: dict[bytes, int] = {}
    for key in (b"eventfd-count", b"eventfd-id", b"eventfd-semaphore"):
        pos = data.find(b"\n" + key + b":")
        if pos < 0:
            continue
        pos += len(key) + 2
        eol = data.find(b"\n", pos)
        text = data[pos : eol if eol >= 0 else None].strip()
        try:
            values[key] = int(text, 16 if key == b"eventfd-count" else 10)
        except ValueError:
            raise ParseError(path, _lineno(data, pos), f"bad {key.decode()}: {text!r}") from None
    semaphore = values.get(b"eventfd-semaphore")
    return EventfdInfo(values.get(b"eventfd-id"), values.get(b"eventfd-count"),
                       None if semaphore is None else bool(semaphore))


_INO_RE = re.compile(rb"^ino:[ \t]*(\d+)", re.M)


def parse_fdinfo_ino(data: bytes) -> int | None:
    """The ``ino:`` line of an fdinfo file (Linux 5.14+), None without one."""
    m = _INO_RE.search(data)
    return int(m.group(1)) if m else None


_MAPS_LINE = re.compile(
    rb"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-]s) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?"
)
DELETED = " (deleted)"


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
        start_t, end_t, perms, offset_t, major, minor, inode_t, raw = m.groups()
        if not raw:
            continue
        name = os.fsdecode(raw)
        deleted = name.endswith(DELETED)
        if deleted:
            name = name[: -len(DELETED)]
        inode = int(inode_t)
        shmid = inode if name.startswith("/SYSV") else None
        out.append(MapUse(
            pid=pid, path=name, perms=perms.decode(),
            dev=os.makedev(int(major, 16), int(minor, 16)), inode=inode,
            shmid=shmid, deleted=deleted,
            start=int(start_t, 16), end=int(end_t, 16), offset=int(offset_t, 16),
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
        fd = os.open(path, O_FILE, dir_fd=dir_fd)
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
                (_, _, _, start, end, flags, _, offset, inode, major, minor, name_size, _, _, _
                 ) = _QUERY.unpack(buf)
                addr = end
                if name_size <= 1:
                    continue  # shared memory without a name
                name = os.fsdecode(ctypes.string_at(self.addr, name_size - 1))
                deleted = name.endswith(DELETED)
                if deleted:
                    name = name[: -len(DELETED)]
                perms = ("r" if flags & _Q_READ else "-") + ("w" if flags & _Q_WRITE else "-") \
                    + ("x" if flags & _Q_EXEC else "-") + "s"
                out.append(MapUse(
                    pid=pid, path=name, perms=perms, dev=os.makedev(major, minor), inode=inode,
                    shmid=inode if name.startswith("/SYSV") else None, deleted=deleted,
                    start=start, end=end, offset=offset,
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


BUF = 65536
O_FILE = os.O_RDONLY | os.O_CLOEXEC
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def read_whole(path: str, dir_fd: int | None = None) -> bytes:
    """The whole file. A short read is the end: /proc files other than maps are generated whole."""
    fd = os.open(path, O_FILE, dir_fd=dir_fd)
    try:
        chunk = os.read(fd, BUF)
        if len(chunk) < BUF:
            return chunk
        chunks = [chunk]
        while chunk:
            chunk = os.read(fd, BUF)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_all(path: str, dir_fd: int | None = None) -> bytes:
    """The whole file, reading until EOF (maps may come in pieces)."""
    fd = os.open(path, O_FILE, dir_fd=dir_fd)
    try:
        return drain(fd)
    finally:
        os.close(fd)


def drain(fd: int) -> bytes:
    """Everything ``fd`` gives until EOF."""
    chunks: list[bytes] = []
    while chunk := os.read(fd, BUF):
        chunks.append(chunk)
    return b"".join(chunks)

