"""The per-process scan: which fds each process holds, what it maps shared, its signal sets.

Everything ``snapshot.take`` needs to join users onto IPC objects comes from one pass over
/proc/PID/*, and each file is read at most once: status, stat, cmdline, the ns/ipc link, the fd/
links, fdinfo/N only for fds whose access matters (pipes, FIFOs, POSIX mq, /dev/shm files) or
whose facts are only there (an eventfd's id and count), and the shared lines of maps. The pass is
the hot path of ``ipctop snapshot`` (it must beat ``lsof -n``), so it reads with os.open/os.read
relative to a directory fd on each /proc/PID, parses with compiled regular expressions or
bytes.find over whole files, and calls ``stat`` only on fd targets that might be an IPC object.

Processes come and go while we read: a vanished process or a /proc entry we may not read (root gets
EACCES on some too) is skipped and counted in :class:`~ipctop.model.Unreadable`, never raised.
A file that does not look as the kernel writes it raises :class:`~ipctop.errors.ParseError` from
the parser functions; ``scan`` records it the same way, naming the file and line.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_mod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ipctop.collect.common import MQUEUE_MAGIC, PROC, statfs_type, user_name
from ipctop.collect.procfs import (
    BUF,
    DELETED,
    O_DIR,
    O_FILE,
    FdUse,
    MapsQuery,
    MapUse,
    StatusInfo,
    mask_names,
    ns_inode,
    parse_btime,
    parse_fdinfo_access,
    parse_fdinfo_eventfd,
    parse_fdinfo_ino,
    parse_maps,
    parse_stat,
    parse_status,
    read_all,
    read_whole,
    status_fast,
)
from ipctop.collect.scan_cache import SIGNAL_STATES, ScanCache, Seen, threads_of
from ipctop.collect.scan_split import SAMPLE_MAX, SplitScan
from ipctop.errors import ParseError
from ipctop.model import Process, Signals, Unreadable

__all__ = ["FdUse", "MapUse", "ProcScan", "ScanCache", "scan"]

MIN_PIDS_PER_WORKER = 128
"""A forked scan helper pays off only with at least this many processes to read each."""


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


_NOT_IPC_PREFIXES = ("/proc/", "/sys/", "/dev/pts/", "/dev/null", "/dev/tty", "/dev/ptmx",
                     "/dev/urandom", "/dev/random", "/dev/zero", "/dev/full", "/dev/dri/")
"""Fd targets that are never a FIFO or IPC object: skipped without a stat."""


class _Scanner(SplitScan):
    """State of one scan: the results so far and what could not be read."""

    def __init__(self, proc: Path, live: bool, with_maps: bool = True,
                 use_query: bool = True, use_fdinfo: bool | None = None,
                 cache: ScanCache | None = None) -> None:
        self.proc = str(proc)
        self.cache = cache
        self.seen: dict[int, Seen] = {}
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
            self.btime = parse_btime(read_whole(f"{self.proc}/stat"), f"{self.proc}/stat")
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
            proc_fd = os.open(self.proc, O_DIR)
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
            cache.fresh.add(pid)
        try:
            pid_fd = os.open(str(pid), O_DIR, dir_fd=proc_fd)
        except OSError as err:
            self.fail(pid, f"{self.proc}/{pid}/status", err)  # as reading status would say
            if cache is not None and pid in self.bad_pids:
                cache.blind(pid, stamp)
            return
        try:
            first_fd, first_map = len(self.fds), len(self.maps)
            status = self._one(pid, pid_fd)
        finally:
            os.close(pid_fd)
        process = self.processes.get(pid)
        if cache is not None and pid in self.bad_pids:
            cache.blind(pid, stamp)
        if stamp is None or status is None or process is None:
            return  # never reused: read again next time
        threads = threads_of(status)
        if threads != 1 and not threaded:  # first seen with threads: stamp them all from now
            stamp = self.run_stamp(pid, proc_fd, True)
            if stamp is None:
                return
        watch = bool(process.signals.blocked) or process.state in SIGNAL_STATES
        self.seen[pid] = Seen(
            stamp=stamp, threads=threads, status=status if watch else None, process=process,
            fds=tuple(self.fds[first_fd:]), maps=tuple(self.maps[first_map:]),
            notes=tuple(self.pid_notes.get(pid, ())),
        )

    def run_stamp(self, pid: int, proc_fd: int, threaded: bool) -> bytes | None:
        """What changes whenever the process runs: the inode of /proc/PID/schedstat (a reused
        pid gets another) and its time on CPU, time waiting and timeslice count; with
        ``threaded``, every thread's. None when it cannot be read whole."""
        try:
            fd = os.open(f"{pid}/schedstat", O_FILE, dir_fd=proc_fd)
            try:
                stamp = os.fstat(fd).st_ino.to_bytes(8, "little") + os.read(fd, BUF)
            finally:
                os.close(fd)
            if threaded:
                tids = sorted(os.listdir(f"{self.proc}/{pid}/task"))
                stamp += b"\n".join(tid.encode() + b" " + read_whole(
                    f"{pid}/task/{tid}/schedstat", proc_fd) for tid in tids)
        except OSError:
            return None
        return stamp

    def reuse(self, pid: int, proc_fd: int, prev: Seen, stamp: bytes) -> bool:
        """Take what the previous scan read of ``pid`` if the process has not run since (its
        :meth:`run_stamp` is unchanged) and cannot have been sent a signal that stays pending
        while it sleeps (or its status is unchanged too); True if so."""
        if stamp != prev.stamp:
            return False
        if prev.status is not None:
            try:
                if read_whole(f"{pid}/status", proc_fd) != prev.status:
                    return False
            except OSError:
                return False
        self.processes[pid] = prev.process
        self.fds.extend(prev.fds)
        self.maps.extend(prev.maps)
        for text in prev.notes:
            self.note(pid, text)
        if prev.notes and self.cache is not None:
            self.cache.blind(pid, stamp)  # partly unreadable, and it has not run
        self.seen[pid] = prev
        return True

    def _one(self, pid: int, dir_fd: int) -> bytes | None:
        """Read process ``pid`` (``dir_fd`` is its /proc/PID); return its status bytes, None if
        they could not be read."""
        try:
            status_bytes = read_whole("status", dir_fd)
            status = status_fast(status_bytes) or parse_status(
                status_bytes, f"{self.proc}/{pid}/status")
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/status", err)
            return None
        self._read_process(pid, dir_fd, status)
        return status_bytes

    def _read_process(self, pid: int, dir_fd: int, status: StatusInfo) -> None:
        """The rest of ``_one``: stat, cmdline, ns/ipc, fds and maps."""
        state, start_time = "", None
        kthread = status.kthread or pid == 2 or status.ppid == 2
        try:
            data = read_whole("stat", dir_fd)
            state, ticks = parse_stat(data, f"{self.proc}/{pid}/stat")
            kthread = kthread or stat_kthread(data)
            if self.btime is not None:
                start_time = self.btime + ticks / self.clk_tck
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/stat", err)
        cmdline = ""
        try:
            cmdline = read_whole("cmdline", dir_fd).rstrip(b"\0").replace(b"\0", b" ").decode(
                errors="replace")
        except OSError as err:
            self.fail(pid, f"{self.proc}/{pid}/cmdline", err)
        ipc_ns = mnt_ns = None
        dead = state in ("Z", "X")  # a zombie has no namespaces, fds or maps left: not an error
        # A kernel thread holds no IPC; its ns links are refused to other users: not an error.
        if not dead and not kthread:
            try:
                ipc_ns = ns_inode(os.readlink("ns/ipc", dir_fd=dir_fd))
            except OSError as err:
                self.fail(pid, f"{self.proc}/{pid}/ns/ipc", err)
            else:  # readable like ns/ipc (fixture trees may lack it)
                with contextlib.suppress(OSError):
                    mnt_ns = ns_inode(os.readlink("ns/mnt", dir_fd=dir_fd))
        self.processes[pid] = Process(
            pid=pid, ppid=status.ppid, comm=status.name, cmdline=cmdline,
            user=user_name(status.uid), uid=status.uid, ipc_ns=ipc_ns, mnt_ns=mnt_ns,
            start_time=start_time, state=state,
            signals=Signals(
                pending=mask_names(status.pending), blocked=mask_names(status.blocked),
                ignored=mask_names(status.ignored), caught=mask_names(status.caught),
            ),
        )
        if kthread or dead:
            return  # kernel threads and zombies hold no fds and map nothing
        self.scan_fds(pid, dir_fd, mnt_ns)
        if not self.with_maps:
            return
        try:
            if self.query is not None:
                try:
                    self.maps.extend(self.query.query("maps", pid, dir_fd))
                    return
                except MapsQuery.Unsupported:
                    self.query = None  # this kernel or tree has no PROCMAP_QUERY: read text
            data = read_all("maps", dir_fd)
            self.maps.extend(parse_maps(data, f"{self.proc}/{pid}/maps", pid))
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/maps", err)

    def fail(self, pid: int, path: str, err: OSError | ParseError) -> None:
        """Record a failed read of process ``pid``, if it means "exists and refused".

        A file or a process that vanished during the scan (ENOENT, ESRCH: an fd closed, a
        process that exited) is not unreadable, and neither is a refusal from a process whose
        /proc entry is gone by now (it exited while we read it). Under churn, counting those
        told root that dozens of processes refused it and made every POSIX object "unknown".
        A malformed file always counts."""
        if isinstance(err, FileNotFoundError | ProcessLookupError):
            return
        if pid and isinstance(err, OSError) and not os.path.lexists(f"{self.proc}/{pid}"):
            return
        self.note(pid, str(err) if isinstance(err, ParseError) else f"{path}: {_reason(err)}")

    def scan_fds(self, pid: int, dir_fd: int, mnt_ns: int | None = None) -> None:
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
                if target == "anon_inode:[eventfd]":
                    use = self.eventfd(pid, dir_fd, fd, target)
                    if use is not None:
                        fds.append(use)
                continue  # other anon_inode:, net:[...] ...
            if target.startswith("/memfd:"):
                fds.append(self.memfd(pid, dir_fd, fd, target))
                continue
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
            if target.endswith(DELETED):
                st = _stat(link, dir_fd)
            else:
                key = (mnt_ns, target)  # a path means one file per mount namespace
                if key in self.stat_cache:
                    st = self.stat_cache[key]
                else:
                    st = self.stat_cache[key] = _stat(link, dir_fd)
            if st is not None and stat_mod.S_ISFIFO(st.st_mode):
                fds.append(FdUse(pid, fd, target, self.access(pid, dir_fd, name),
                                 st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_ctime))

    def eventfd(self, pid: int, dir_fd: int, fd: int, target: str) -> FdUse | None:
        """An eventfd's FdUse: access, id and count from its fdinfo (the only place they are);
        None when fdinfo gives no id (closed meanwhile, or a kernel without eventfd-id): one
        eventfd cannot then be told from another."""
        name = str(fd)
        try:
            data = read_whole("fdinfo/" + name, dir_fd)
            where = f"{self.proc}/{pid}/fdinfo/{name}"
            info = parse_fdinfo_eventfd(data, where)
            if info.ident is None:
                return None
            return FdUse(pid, fd, target, parse_fdinfo_access(data, where), eventfd=info)
        except FileNotFoundError:
            pass  # closed meanwhile
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/fdinfo/{name}", err)
        return None

    def memfd(self, pid: int, dir_fd: int, fd: int, target: str) -> FdUse:
        """A memfd's FdUse: its inode (the memfd's identity) and, live, the stat of the file
        through the fd link; in a fixture tree, access and inode from fdinfo."""
        name = str(fd)
        if self.live:
            st = _stat("fd/" + name, dir_fd)
            access = self.access(pid, dir_fd, name)
            if st is None:
                return FdUse(pid, fd, target, access)
            return FdUse(pid, fd, target, access, st.st_dev, st.st_ino, st.st_mode, st.st_uid,
                         st.st_ctime, size=st.st_size)
        try:
            data = read_whole("fdinfo/" + name, dir_fd)
            where = f"{self.proc}/{pid}/fdinfo/{name}"
            return FdUse(pid, fd, target, parse_fdinfo_access(data, where),
                         ino=parse_fdinfo_ino(data))
        except FileNotFoundError:
            pass
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/fdinfo/{name}", err)
        return FdUse(pid, fd, target)

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
            data = read_whole("fdinfo/" + name, dir_fd)
            return parse_fdinfo_access(data, f"{self.proc}/{pid}/fdinfo/{name}")
        except FileNotFoundError:
            return None  # the fd was closed meanwhile
        except (OSError, ParseError) as err:
            self.fail(pid, f"{self.proc}/{pid}/fdinfo/{name}", err)
            return None


_LINK_ACCESS: dict[int, str | None] = {0o400: "r", 0o200: "w", 0o600: "rw", 0: None}


def _stat(path: str, dir_fd: int | None = None) -> os.stat_result | None:
    """stat ``path`` (following the link: the open file itself), None on any error."""
    try:
        return os.stat(path, dir_fd=dir_fd)
    except OSError:
        return None


PF_KTHREAD = 0x00200000
"""The flag in /proc/PID/stat (field 9) of a kernel thread: for kernels whose status has no
"Kthread:" line."""


def stat_kthread(data: bytes) -> bool:
    """True if /proc/PID/stat ``data`` has PF_KTHREAD among its flags."""
    fields = data[data.rfind(b")") + 1:].split()
    try:
        return bool(int(fields[6]) & PF_KTHREAD)
    except (IndexError, ValueError):
        return False


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
