"""Whether a directory's files may have changed since the last look: inotify, read without
blocking and without a thread, once per poll, by a polling program's collector.

Listing /dev/shm costs a stat per file, ~20 ms at 3,000 files, at every poll. The kernel reports
every change the listing reads from a file's stat through inotify on its directory:
a file made, removed or renamed; its size, data or times changed through write(), truncate or
fallocate (IN_MODIFY); its mode, owner or times set (IN_ATTRIB). One thing it does not report
is a write through a shared mapping, which moves the file's mtime on tmpfs: so a listing is
handed on only for a while (posix.LIST_RECHECK), and an mtime moved that way shows within it.

The UI's watcher (ipctop/watch.py) is another thing: a thread, with pyinotify, that tells the
UI at once that a POSIX object came or went. This is the collector's own, plain ctypes.
"""

from __future__ import annotations

import ctypes
import os
import struct
import weakref

from ipctop.collect.common import load_libc

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_IGNORED = 0x400, 0x800, 0x2000, 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC

MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |
        IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
"""The watch itself is gone (or no longer watches what the path names): never trust it again."""
_HEADER = struct.Struct("iIII")
"""struct inotify_event: wd, mask, cookie, len; then len bytes of NUL-padded name."""

_libc = load_libc()
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


class DirWatch:
    """inotify on one directory; :meth:`changed` says whether anything was reported since the
    previous call. When inotify cannot be had (a limit of 128 instances per user, a kernel
    without it, a directory that went), it always says True: the caller then lists every
    time, as without it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.fd: int | None = None
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return
        if _libc.inotify_add_watch(fd, os.fsencode(path), MASK) < 0:
            os.close(fd)
            return
        self.fd = fd
        self._close = weakref.finalize(self, os.close, fd)

    def changed(self) -> bool:
        """Whether the directory may have changed since the previous call (True the first time
        after a failure, and ever after once the watch is gone)."""
        if self.fd is None:
            return True
        seen = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return seen
            except OSError:
                self.close()
                return True
            if not data:
                self.close()
                return True
            seen = True
            if _gone(data):
                self.close()
                return True

    def close(self) -> None:
        if self.fd is not None:
            self.fd = None
            self._close()


def _gone(data: bytes) -> bool:
    """Whether any event in ``data`` says the watch is gone (an overflow only lost events: the
    caller lists again anyway)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        if mask & _GONE:
            return True
        offset += _HEADER.size + length
    return False
