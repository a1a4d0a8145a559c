"""Instant news of POSIX objects: inotify on /dev/shm and /dev/mqueue, in a thread, no Textual.

The kernel reports creating and deleting files in these two tmpfs-like mounts through inotify, so
POSIX shared memory, named semaphores and message queues appear and vanish at once instead of on
the next poll. Nothing reports mq_send or anything SysV: those stay with the poll (DESIGN.md).

:class:`Watcher` reads inotify in a thread of its own and calls ``callback(WatchEvent)`` *in that
thread*, in bursts at most a few times a second however fast files come and go; a UI hands
them over with a thread-safe call (Textual: ``post_message``). Start it when the
screen mounts and stop it when it unmounts. When pyinotify or a directory is unavailable, the
watcher degrades to nothing (the poll still sees every change) and says why in ``notices``.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipctop.model import Kind

DEFAULT_DIRS = (Path("/dev/shm"), Path("/dev/mqueue"))

CREATED = "created"
REMOVED = "removed"
MISSED = "missed"
"""Changes not reported one by one (too many at once); WatchEvent.count says how many."""

_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_Q_OVERFLOW, _IN_ISDIR = 0x4000, 0x40000000
_MASK = _IN_CREATE | _IN_DELETE | _IN_MOVED_TO | _IN_MOVED_FROM
_HEADER = struct.Struct("iIII")
"""struct inotify_event: wd, mask, cookie, len; then len bytes of NUL-padded name."""


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A file appeared in or vanished from a watched directory."""

    path: str
    action: str
    """CREATED, REMOVED, or MISSED (many changes at once; path names the directories)."""
    kind: Kind | None
    """The IPC kind the file stands for; None for files that are not IPC objects."""
    id: str | None
    """The object's id as the snapshot spells it ("/name"), or None."""
    at: float = 0.0
    count: int = 1
    """For MISSED: how many changes it stands for; 0 when unknown (the kernel's queue
    overflowed and dropped some)."""


def classify(path: str | Path) -> tuple[Kind | None, str | None]:
    """Map /dev/shm/NAME, /dev/shm/sem.NAME and /dev/mqueue/NAME to (kind, "/NAME")."""
    p = Path(path)
    parent = p.parent.name
    name = p.name
    if parent == "mqueue":
        return Kind.POSIX_MQ, "/" + name
    if parent == "shm":
        if name.startswith("sem."):
            return Kind.POSIX_SEM, "/" + name[4:]
        return Kind.POSIX_SHM, "/" + name
    return None, None


def import_failure(err: BaseException) -> str:
    """One honest line on why ``import pyinotify`` failed: missing, or present but broken.

    pyinotify 0.9.6 imports asyncore, which left the standard library in Python 3.12; the
    ``pyasyncore`` package puts it back. Telling "not installed" from "installed but its import
    fails" points a user at the right fix.
    """
    tail = "/dev/shm and /dev/mqueue changes appear with each poll instead of at once"
    if isinstance(err, ModuleNotFoundError) and err.name == "pyinotify":
        return f"pyinotify is not installed: {tail}"
    if isinstance(err, ModuleNotFoundError) and err.name == "asyncore":
        return ("pyinotify cannot start: Python 3.12+ lacks the asyncore module it needs "
                f"(pip install pyasyncore): {tail}")
    return f"pyinotify is installed but failed to import ({type(err).__name__}: {err}): {tail}"


class Watcher:
    """Watch ``dirs`` for created and removed files; call ``callback`` from a worker thread.

    pyinotify sets the watches up (and says why it cannot); the reading is ours. pyinotify's
    notifier builds several Python objects per event and logs a warning to stderr when the
    kernel's queue overflows: with a process creating and deleting files as fast as it can
    (tens of thousands of events a second) that is most of a core and garbage on a TUI's screen.
    Here one thread reads every event waiting in one go, at most once per ``min_gap`` seconds
    (the kernel queues the rest meanwhile and drops what does not fit, cheaply), reports the
    first ``max_burst`` one by one, and the rest as one :data:`MISSED` event with their count.
    So the callback runs at most ``max_burst + 1`` times per ``min_gap``, whatever the churn.
    """

    def __init__(
        self,
        callback: Callable[[WatchEvent], None],
        dirs: Sequence[Path] = DEFAULT_DIRS,
        clock: Callable[[], float] | None = None,
        *,
        min_gap: float = 0.25,
        max_burst: int = 100,
    ) -> None:
        import time

        self._callback = callback
        self._dirs = tuple(dirs)
        self._clock = clock or time.time
        self.min_gap = min_gap
        self.max_burst = max_burst
        self._wm: Any = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self.watching: tuple[Path, ...] = ()
        """The directories actually watched after start()."""
        self.notices: list[str] = []
        """Why the watcher degraded to polling, one line each."""

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> list[str]:
        """Start the thread; return the notices (empty when every directory is watched)."""
        with self._lock:
            if self._thread is not None:
                return self.notices
            self.notices = []
            try:
                import pyinotify
            except Exception as err:  # not only ImportError: a broken install raises anything
                self.notices.append(import_failure(err))
                return self.notices
            dirs = [d for d in self._dirs if d.is_dir()]
            for d in self._dirs:
                if d not in dirs:
                    self.notices.append(f"{d} is not available (not mounted?): its changes "
                                        "appear with each poll")
            if not dirs:
                return self.notices
            wm: Any = None
            try:
                wm = pyinotify.WatchManager()
                where: dict[int, str] = {}
                for d in dirs:
                    wd = wm.add_watch(str(d), _MASK, quiet=True).get(str(d), -1)
                    if wd >= 0:
                        where[wd] = str(d)
                    else:
                        self.notices.append(f"cannot watch {d} (inotify limit or permission): "
                                            "its changes appear with each poll")
                if not where:
                    wm.close()
                    return self.notices
                fd = wm.get_fd()
                os.set_blocking(fd, False)
                wake = os.pipe()
                thread = threading.Thread(target=self._run, args=(fd, wake[0], where),
                                          name="ipctop-inotify", daemon=True)
                thread.start()
            except Exception as err:  # inotify limits, EMFILE: degrade, never crash the UI
                if wm is not None:
                    with contextlib.suppress(Exception):
                        wm.close()
                self.notices.append(f"inotify failed ({err}): changes appear with each poll")
                return self.notices
            self._wm, self._thread, self._wake = wm, thread, wake
            self.watching = tuple(Path(p) for p in where.values())
            return self.notices

    def _run(self, fd: int, wake: int, where: dict[int, str]) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(wake, select.POLLIN)
        while True:
            ready = {f for f, _ in poller.poll()}
            if wake in ready:
                return
            self._burst(_drain(fd), where)
            # at most one burst per min_gap: meanwhile the kernel queues (or drops) the rest
            if select.select([wake], [], [], self.min_gap)[0]:
                return

    def _burst(self, data: bytes, where: dict[int, str]) -> None:
        at = self._clock()
        told = missed = 0
        overflow = False
        pos, end = 0, len(data)
        while pos + _HEADER.size <= end:
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            start, pos = pos + _HEADER.size, pos + _HEADER.size + length
            if mask & _IN_Q_OVERFLOW:
                overflow = True
                continue
            if mask & _IN_ISDIR or not mask & _MASK or wd not in where:
                continue
            if told >= self.max_burst:
                missed += 1
                continue
            told += 1
            name = os.fsdecode(data[start:pos].rstrip(b"\0"))
            path = f"{where[wd]}/{name}"
            kind, ident = classify(path)
            created = bool(mask & (_IN_CREATE | _IN_MOVED_TO))
            self._tell(WatchEvent(path, CREATED if created else REMOVED, kind, ident, at))
        if missed or overflow:
            self._tell(WatchEvent(" ".join(sorted(set(where.values()))), MISSED, None, None, at,
                                  count=0 if overflow else missed))

    def _tell(self, event: WatchEvent) -> None:
        # A consumer's bug must not kill the watcher thread.
        with contextlib.suppress(Exception):
            self._callback(event)

    def stop(self) -> None:
        """Stop and join the thread. Safe to call twice or without start()."""
        with self._lock:
            thread, self._thread = self._thread, None
            wm, self._wm = self._wm, None
            wake, self._wake = self._wake, None
            self.watching = ()
        if wake is not None:
            with contextlib.suppress(OSError):
                os.write(wake[1], b"x")
        if thread is not None:
            thread.join(timeout=5)
        if wm is not None:
            with contextlib.suppress(Exception):
                wm.close()
        if wake is not None:
            for fd in wake:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _drain(fd: int, limit: int = 4 << 20) -> bytes:
    """Every event waiting on the inotify fd (whole events: the kernel never splits one)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = os.read(fd, 256 * 1024)
        except (BlockingIOError, InterruptedError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
