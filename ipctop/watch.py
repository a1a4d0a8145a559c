"""Instant news of POSIX objects: inotify on /dev/shm and /dev/mqueue, in a thread, no Textual.

The kernel reports creating and deleting files in these two tmpfs-like mounts through inotify, so
POSIX shared memory, named semaphores and message queues appear and vanish at once instead of on
the next poll. Nothing reports mq_send or anything SysV: those stay with the poll (DESIGN.md).

:class:`Watcher` runs pyinotify's ThreadedNotifier and calls ``callback(WatchEvent)`` *in that
thread*; a UI hands it over with a thread-safe call (Textual: ``post_message``). Start it when the
screen mounts and stop it when it unmounts. When pyinotify or a directory is unavailable, the
watcher degrades to nothing (the poll still sees every change) and says why in ``notices``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipctop.model import Kind

DEFAULT_DIRS = (Path("/dev/shm"), Path("/dev/mqueue"))

CREATED = "created"
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A file appeared in or vanished from a watched directory."""

    path: str
    action: str
    """CREATED or REMOVED."""
    kind: Kind | None
    """The IPC kind the file stands for; None for files that are not IPC objects."""
    id: str | None
    """The object's id as the snapshot spells it ("/name"), or None."""
    at: float = 0.0


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
    """Watch ``dirs`` for created and removed files; call ``callback`` from a worker thread."""

    def __init__(
        self,
        callback: Callable[[WatchEvent], None],
        dirs: Sequence[Path] = DEFAULT_DIRS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self._callback = callback
        self._dirs = tuple(dirs)
        self._clock = clock or time.time
        self._notifier: Any = None
        self._lock = threading.Lock()
        self.watching: tuple[Path, ...] = ()
        """The directories actually watched after start()."""
        self.notices: list[str] = []
        """Why the watcher degraded to polling, one line each."""

    @property
    def running(self) -> bool:
        return self._notifier is not None

    def start(self) -> list[str]:
        """Start the thread; return the notices (empty when every directory is watched)."""
        with self._lock:
            if self._notifier is not None:
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
            outer = self

            class Handler(pyinotify.ProcessEvent):  # type: ignore[misc]
                def process_default(self, event: Any) -> None:
                    outer._deliver(event)

            mask = (pyinotify.IN_CREATE | pyinotify.IN_DELETE | pyinotify.IN_MOVED_TO
                    | pyinotify.IN_MOVED_FROM)
            try:
                wm = pyinotify.WatchManager()
                notifier = pyinotify.ThreadedNotifier(wm, Handler())
                watched = []
                for d in dirs:
                    result = wm.add_watch(str(d), mask, quiet=True)
                    if result.get(str(d), -1) >= 0:
                        watched.append(d)
                    else:
                        self.notices.append(f"cannot watch {d} (inotify limit or permission): "
                                            "its changes appear with each poll")
                if not watched:
                    return self.notices
                notifier.daemon = True
                notifier.start()
            except Exception as err:  # inotify limits, EMFILE: degrade, never crash the UI
                self.notices.append(f"inotify failed ({err}): changes appear with each poll")
                return self.notices
            self._notifier = notifier
            self.watching = tuple(watched)
            return self.notices

    def _deliver(self, event: Any) -> None:
        if getattr(event, "dir", False):
            return
        created = bool(event.mask & (0x100 | 0x80))  # IN_CREATE | IN_MOVED_TO
        path = str(event.pathname)
        kind, ident = classify(path)
        # A consumer's bug must not kill the watcher thread.
        with contextlib.suppress(Exception):
            self._callback(WatchEvent(path, CREATED if created else REMOVED, kind, ident,
                                      self._clock()))

    def stop(self) -> None:
        """Stop and join the thread. Safe to call twice or without start()."""
        with self._lock:
            notifier, self._notifier = self._notifier, None
            self.watching = ()
        if notifier is not None:
            with contextlib.suppress(Exception):
                notifier.stop()
