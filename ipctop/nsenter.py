"""Run a function inside the IPC (and mount) namespace of another process, in a forked helper.

/proc/sysvipc, semctl, msgctl, shmget and mq_open all act on the IPC namespace of the calling
process, and the mount namespace decides what /dev/shm and /dev/mqueue are. Entering another
namespace (``setns``, CAP_SYS_ADMIN) cannot be undone for a whole program, and a mount namespace
cannot be entered by a process with threads at all, so ipctop forks a short-lived child, which
enters the namespaces, runs the function and sends the result back through a pipe (marshal:
plain data only), then exits. Python 3.11 has no ``os.setns``, so it is called through ctypes.

A mount of the mqueue filesystem lists the queues of the IPC namespace of whoever mounts it, so a
helper that needs a namespace's queues can make its own: ``private_mqueue`` unshares the mount
namespace (the mount is seen by the helper alone and disappears with it) and mounts one.

A helper that enters another mount namespace sees that namespace's files, which the people in
the container control: from then on it loads no module from files (:func:`seal_imports`), so a
module planted at ipctop's own path inside a container is never run as root on the host. What an
action needs is imported before the fork (:func:`preload`).

:class:`Inside` is where the TUI acts on an object of another namespace: the namespaces to enter,
and a member process to enter them through, found again if the one seen last has exited.

No Textual, no printing. Failures are :class:`IpcError` with one line fit for a user.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import importlib.abc
import importlib.machinery
import marshal
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ipctop.collect.common import load_libc
from ipctop.collect.procfs import drain
from ipctop.errors import IpcError
from ipctop.model import IpcObject, Kind

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_libc = load_libc()
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]


class NsError(IpcError):
    """A namespace could not be entered, or the helper inside it failed."""


class NsGone(NsError):
    """The process named is gone, or no longer in the namespace expected: nothing was run."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags, None), f"mount {target}")


def private_mqueue_mount() -> str:
    """In a helper: a mount namespace of its own with the current IPC namespace's mqueue
    filesystem mounted on /dev/mqueue (or /tmp when that does not exist); its path."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates anywhere
    target = "/dev/mqueue" if os.path.isdir("/dev/mqueue") else "/tmp"
    mount("mqueue", target, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return target


def open_ns(proc: str, pid: int, kind: str, expect: int | None = None) -> int:
    """An fd on /proc/PID/ns/KIND ("ipc", "mnt"); NsError when it cannot be opened or (with
    ``expect``) is no longer that namespace (the pid exited and was reused)."""
    try:
        fd = os.open(f"{proc}/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NsGone(f"no process {pid}") from None
    except OSError as err:
        raise NsError(f"cannot open the {kind} namespace of process {pid}: "
                      f"{err.strerror}") from None
    if expect is not None and os.fstat(fd).st_ino != expect:
        os.close(fd)
        raise NsGone(f"process {pid} is no longer in {kind} namespace {expect}")
    return fd


def run_inside(
    pid: int,
    body: Callable[[], Any],
    *,
    ipc: bool = True,
    mnt: bool = False,
    private_mqueue: bool = False,
    proc: str = "/proc",
    expect_ipc: int | None = None,
    expect_mnt: int | None = None,
) -> Any:
    """``body()`` run in a forked child inside the IPC (``ipc``) and mount (``mnt``) namespaces
    of process ``pid``; its result (marshal-able data) returned here.

    ``private_mqueue``: the child first gets a mount namespace of its own with its IPC
    namespace's mqueue filesystem mounted (see :func:`private_mqueue_mount`); ``body`` finds it
    at /dev/mqueue. An IpcError raised by ``body`` comes back as an NsError with its message.
    ``expect_ipc`` / ``expect_mnt``: the namespaces ``pid`` must still be in (NsError if not).
    """
    fds: list[tuple[int, int]] = []
    try:
        if ipc:
            fds.append((open_ns(proc, pid, "ipc", expect_ipc), CLONE_NEWIPC))
        if mnt:
            fds.append((open_ns(proc, pid, "mnt", expect_mnt), CLONE_NEWNS))
            preload()
        rfd, wfd = os.pipe()
        try:
            child = os.fork()
        except OSError as err:
            os.close(rfd)
            os.close(wfd)
            raise NsError(f"cannot fork a helper: {err.strerror}") from None
        if child == 0:  # pragma: no cover - runs in the child; the parent checks what it sends
            _child(wfd, rfd, fds, private_mqueue, body)
    finally:
        for fd, _ in fds:
            os.close(fd)
    os.close(wfd)
    try:
        data = drain(rfd)
    finally:
        os.close(rfd)
        _, status = os.waitpid(child, 0)
    if data.startswith(b"+"):
        try:
            return marshal.loads(data[1:])
        except (EOFError, ValueError, TypeError):
            pass
    message = data[1:].decode(errors="replace") if data.startswith(b"!") else \
        f"the helper in the namespaces of process {pid} failed (status {status})"
    raise NsError(message)


def _child(wfd: int, rfd: int, fds: list[tuple[int, int]], private_mqueue: bool,
           body: Callable[[], Any]) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        os.close(rfd)
        with contextlib.suppress(ValueError):  # Ctrl-C in the parent ends us too
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        out = b"!"
        try:
            for fd, nstype in fds:
                setns(fd, nstype)
                if nstype == CLONE_NEWNS:
                    seal_imports()
            if private_mqueue:
                private_mqueue_mount()
            out = b"+" + marshal.dumps(body())
            code = 0
        except IpcError as err:
            out = b"!" + str(err).encode(errors="replace")
        except OSError as err:
            out = b"!" + (err.strerror or str(err)).encode(errors="replace")
        except BaseException as err:
            out = b"!" + f"{type(err).__name__}: {err}".encode(errors="replace")
        view = memoryview(out)
        with contextlib.suppress(OSError):
            while view:
                view = view[os.write(wfd, view):]
    finally:
        os._exit(code)  # never unwind into the parent's code (atexit, stdio buffers, pytest)


def act_inside(pid: int, body: Callable[[], int], *, proc: str = "/proc") -> int:
    """Run a command (``body`` returns its exit status) in a forked child inside the IPC and
    mount namespaces of process ``pid``, with this process's stdin, stdout and stderr; its exit
    status is returned here. What the command prints comes from the child. Raises NsError when
    the namespaces cannot be opened (no such process, not allowed).

    Both namespaces: the IPC one is where SysV ids, keys and queue names mean something, the
    mount one where /dev/shm, /dev/mqueue and FIFO paths do.
    """
    import sys

    fds = [(open_ns(proc, pid, "ipc"), CLONE_NEWIPC)]
    try:
        fds.append((open_ns(proc, pid, "mnt"), CLONE_NEWNS))
        preload()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        try:
            child = os.fork()
        except OSError as err:
            raise NsError(f"cannot fork a helper: {err.strerror}") from None
        if child == 0:  # pragma: no cover - runs in the child; the tests check what it does
            code = 2
            try:
                try:
                    for fd, nstype in fds:
                        setns(fd, nstype)
                        if nstype == CLONE_NEWNS:
                            seal_imports()
                except OSError as err:
                    print(f"ipctop: cannot enter the namespaces of process {pid}: "
                          f"{err.strerror}", file=sys.stderr)
                else:
                    code = body()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
    finally:
        for fd, _ in fds:
            os.close(fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGINT)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


# --------------------------------------------------------------------------- imports inside


class _NoImports(importlib.abc.MetaPathFinder):
    """Refuses every import that would read a file (see :func:`seal_imports`)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: object = None) -> None:
        raise ImportError(f"module {fullname} was not loaded before entering another mount "
                          "namespace, and is not loaded from that namespace's files")


def seal_imports() -> None:
    """In a helper that entered another mount namespace: load no more modules from files.

    The paths on sys.path now name files in that namespace, which the people in the container
    control (a ``posix_ipc.py`` planted at the path of ipctop's own site-packages would run as
    root on the host); built-in and frozen modules are still allowed, they are in the
    interpreter itself. What the actions need is imported before the fork (:func:`preload`).
    """
    keep = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    sys.meta_path[:] = [*(f for f in sys.meta_path if f in keep), _NoImports()]
    sys.path_importer_cache.clear()


PRELOAD = ("posix_ipc", "sysv_ipc", "resource", "shutil", "gc", "time",
           "encodings.latin_1", "encodings.ascii", "encodings.utf_8")
"""Outside ipctop's own modules, what the actions import lazily."""
NOT_PRELOADED = ("ipctop.ui", "ipctop.__main__", "ipctop.commands.tui", "ipctop.serve",
                 "ipctop.metrics", "ipctop.commands.exporter", "ipctop.watch")
"""ipctop's modules no action inside a namespace runs (the TUI, the exporter, the watch)."""


@functools.cache
def preload() -> None:
    """Import what an action may need inside another mount namespace (see seal_imports): every
    module of ipctop's but the TUI's and the exporter's, and PRELOAD. Once per process."""
    import pkgutil

    import ipctop

    names: list[str] = []
    paths = [(list(ipctop.__path__), "ipctop.")]
    while paths:  # walk_packages would import the packages it skips (the TUI's) to look inside
        path, prefix = paths.pop()
        for module in pkgutil.iter_modules(path, prefix):
            if module.name.startswith(NOT_PRELOADED):
                continue
            names.append(module.name)
            if module.ispkg:
                paths.append(([os.path.join(p, module.name.rsplit(".", 1)[1]) for p in path],
                              module.name + "."))
    for name in (*PRELOAD, *names):
        if name not in sys.modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)


# --------------------------------------------------------------------------- acting inside


def ns_inodes(proc: str, pid: int) -> tuple[int | None, int | None]:
    """The (ipc, mnt) namespace inodes of process ``pid``; None where they cannot be read."""
    out: list[int | None] = []
    for kind in ("ipc", "mnt"):
        try:
            out.append(os.stat(f"{proc}/{pid}/ns/{kind}").st_ino)
        except OSError:
            out.append(None)
    return out[0], out[1]


@dataclass(frozen=True)
class Inside:
    """Namespaces the TUI acts in for an object that is not in ipctop's own: the IPC one
    (``ipc``) and/or the mount one (``mnt``), entered through a member process.

    ``pid`` is the member seen last (the object's ``ns_pid``); when it has exited or moved,
    another process in the same namespaces is found in /proc. Every entry re-checks that the
    process is still in them (a reused pid is refused), so nothing runs anywhere else.
    """

    pid: int
    ipc: int | None
    """IPC namespace inode to enter; None: stay in ipctop's own."""
    mnt: int | None
    """Mount namespace inode to enter; None: stay in ipctop's own."""
    label: str
    """How forms and messages name it: the container, or "ns INODE" as the CONTAINER column."""
    mqueue: bool = False
    """Mount this IPC namespace's mqueue filesystem privately in the helper (POSIX queues: the
    /dev/mqueue of ipctop's own mount namespace lists ipctop's own queues)."""

    @classmethod
    def of(cls, obj: IpcObject) -> Inside | None:
        """Where actions on ``obj`` run: None for ipctop's own namespaces."""
        if obj.ns_pid is None or obj.place is None:
            return None
        return cls(obj.ns_pid, obj.ipc_ns, obj.mnt_ns, obj.place).for_kind(obj.kind)

    def for_kind(self, kind: Kind) -> Inside | None:
        """The namespaces an action on ``kind`` needs (None: none of them, act here).

        SysV objects and POSIX queues live in the IPC namespace alone: the helper stays in
        ipctop's own mount namespace, so it reads ipctop's /proc and never the container's
        files (/proc/sysvipc shows the reader's IPC namespace). Files (/dev/shm, FIFOs) live in
        the mount namespace alone.
        """
        in_ipc = kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM, Kind.POSIX_MQ)
        kept = replace(self, ipc=self.ipc if in_ipc else None,
                       mnt=None if in_ipc else self.mnt, mqueue=kind is Kind.POSIX_MQ)
        return kept if kept.ipc is not None or kept.mnt is not None else None

    def members(self, proc: str = "/proc") -> Iterator[int]:
        """Processes to enter through: ``pid`` first, then every process in /proc that is in
        all the namespaces to enter (as read now; run() checks again on the open fds)."""
        yield self.pid
        try:
            names = os.listdir(proc)
        except OSError:
            return
        for entry in names:
            if not entry.isdigit() or int(entry) == self.pid:
                continue
            ipc, mnt = ns_inodes(proc, int(entry))
            if (self.ipc is None or ipc == self.ipc) and (self.mnt is None or mnt == self.mnt):
                yield int(entry)

    def run(self, body: Callable[[], Any], *, proc: str = "/proc") -> Any:
        """``body()`` in a forked helper inside these namespaces (see :func:`run_inside`); its
        result must be plain data (marshal). An IpcError of ``body`` comes back as NsError
        with the same message."""
        for pid in self.members(proc):
            try:
                return run_inside(pid, body, ipc=self.ipc is not None, mnt=self.mnt is not None,
                                  private_mqueue=self.mqueue, proc=proc,
                                  expect_ipc=self.ipc, expect_mnt=self.mnt)
            except NsGone:
                continue
            finally:  # an action that failed half-way may have changed something too
                if self.ipc is not None:
                    _ACTED.add(self.ipc)
        raise NsError(f"no process is left in {self.label}: nothing done")


_ACTED: set[int] = set()
"""IPC namespaces this process acted in (Inside.run) since a collector last asked."""


def acted_in(ns: int) -> bool:
    """Whether this process acted inside IPC namespace ``ns`` since the last call (which
    forgets it). A polling collector keeps what it read inside a namespace while none of its
    members runs; ipctop's own helper is no member, so what it sent, removed or wrote there
    would otherwise show only at the collector's periodic re-read."""
    try:
        _ACTED.remove(ns)
    except KeyError:
        return False
    return True


def run_where(where: Inside | None, body: Callable[[], Any]) -> Any:
    """``body()`` here (``where`` None) or in a helper inside ``where``: the same plain data."""
    return body() if where is None else where.run(body)
