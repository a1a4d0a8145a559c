"""The write-lease probe (ipctop.safepath.probe) on real files in /dev/shm and the mqueue fs:
who counts as holding a file, what the probe refuses to judge, and that it disturbs nobody."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import time
from collections.abc import Callable

import posix_ipc
from conftest import Cleanup, Spawn, run_and_exit, unique_name

from ipctop.safepath import SHM_FILE, Expect, Probe, exclusive_lease, open_dir
from ipctop.safepath import probe as probe_at

NOBODY = 65534
_keep: list[object] = []


def shm_file(cleanup: Cleanup, size: int = 4096) -> str:
    """A fresh file in /dev/shm that nobody has open; its name."""
    name = unique_name()
    path = f"/dev/shm/{name}"
    cleanup(lambda: os.unlink(path))
    with open(path, "xb") as f:
        f.write(b"\0" * size)
    return name


def probe(name: str, directory: str = "/dev/shm") -> Probe:
    dir_fd = open_dir(directory)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return probe_at(dir_fd, name, Expect("a file", dev=st.st_dev), st.st_ino)
    finally:
        os.close(dir_fd)


def holder(name: str, how: Callable[[str], object]) -> Callable[[], None]:
    def body() -> None:
        _keep.append(how(f"/dev/shm/{name}"))
    return body


def map_and_close(path: str) -> int:
    """Map ``path`` shared and close the fd: the mapping is the only hold left. (Python's mmap
    keeps a dup of the fd, so libc's mmap is called directly.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    finally:
        os.close(fd)
    assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    return int(addr)


def test_nobody_holds_a_fresh_file(cleanup: Cleanup) -> None:
    name = shm_file(cleanup)
    assert probe(name) == Probe(False)


def test_a_reader_elsewhere_holds_it(cleanup: Cleanup, spawn: Spawn) -> None:
    name = shm_file(cleanup)
    child = spawn(holder(name, lambda p: os.open(p, os.O_RDONLY)))
    assert probe(name) == Probe(True)
    child.stop()
    assert probe(name) == Probe(False)


def test_a_mapping_whose_fd_was_closed_still_holds_it(cleanup: Cleanup, spawn: Spawn) -> None:
    name = shm_file(cleanup)

    child = spawn(holder(name, map_and_close))
    proc = f"/proc/{child.pid}"
    with open(f"{proc}/maps") as f:
        maps = f.read()
    links = [os.readlink(f"{proc}/fd/{fd}") for fd in os.listdir(f"{proc}/fd")]
    assert name in maps and not any(name in link for link in links)
    assert probe(name) == Probe(True)


def test_an_open_in_this_process_counts_too(cleanup: Cleanup) -> None:
    name = shm_file(cleanup)
    fd = os.open(f"/dev/shm/{name}", os.O_WRONLY)
    try:
        assert probe(name) == Probe(True)
    finally:
        os.close(fd)


def test_queue_held_by_a_descriptor_elsewhere(cleanup: Cleanup, spawn: Spawn) -> None:
    name = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_message_queue(name))
    posix_ipc.MessageQueue(name, posix_ipc.O_CREX).close()
    assert probe(name[1:], "/dev/mqueue") == Probe(False)
    spawn(lambda: _keep.append(posix_ipc.MessageQueue(name, write=True, read=False)))
    assert probe(name[1:], "/dev/mqueue") == Probe(True)


def test_links_fifos_and_replaced_files_are_not_judged(cleanup: Cleanup) -> None:
    name = shm_file(cleanup)
    link, fifo = unique_name(), unique_name()
    os.symlink(f"/dev/shm/{name}", f"/dev/shm/{link}")
    cleanup(lambda: os.unlink(f"/dev/shm/{link}"))
    os.mkfifo(f"/dev/shm/{fifo}")
    cleanup(lambda: os.unlink(f"/dev/shm/{fifo}"))
    dir_fd = open_dir("/dev/shm")
    try:
        got = probe_at(dir_fd, link, SHM_FILE)
        assert got.in_use is None and "symbolic link" in str(got.why)
        got = probe_at(dir_fd, fifo, SHM_FILE)  # and no blocking on it
        assert got.in_use is None and "it is a FIFO" in str(got.why)
        st = os.stat(f"/dev/shm/{name}")
        assert probe_at(dir_fd, name, SHM_FILE, st.st_ino + 1) == Probe(
            None, "it was replaced by another file meanwhile")
        assert probe_at(dir_fd, unique_name()) == Probe(None, "it was removed meanwhile")
    finally:
        os.close(dir_fd)


def test_the_probe_changes_no_timestamp(cleanup: Cleanup) -> None:
    name = shm_file(cleanup)
    path = f"/dev/shm/{name}"
    before = os.stat(path)
    time.sleep(0.01)
    assert probe(name) == Probe(False)
    after = os.stat(path)
    assert (before.st_atime_ns, before.st_mtime_ns, before.st_ctime_ns) == (
        after.st_atime_ns, after.st_mtime_ns, after.st_ctime_ns)


def test_an_open_racing_the_lease_neither_kills_us_nor_fails_for_long(cleanup: Cleanup) -> None:
    """The kernel signals the lease holder when someone opens the file; by default that signal
    (SIGIO) would kill ipctop. A non-blocking opener is refused while the lease is held, a
    blocking one waits until it is released."""
    name = shm_file(cleanup)
    path = f"/dev/shm/{name}"
    dir_fd = open_dir("/dev/shm")
    try:
        with exclusive_lease(dir_fd, name):
            def open_nonblocking() -> bytes:
                try:
                    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                    return b"opened"
                except BlockingIOError:
                    return b"EAGAIN"

            assert run_and_exit(open_nonblocking) == b"EAGAIN"
            time.sleep(0.05)  # the lease-break signal reaches us here: still alive
        t0 = time.monotonic()
        os.close(os.open(path, os.O_RDONLY))  # released: no wait
        assert time.monotonic() - t0 < 1.0
    finally:
        os.close(dir_fd)


def test_a_normal_user_judges_own_files_only(cleanup: Cleanup) -> None:
    mine, theirs = shm_file(cleanup), shm_file(cleanup)
    os.chown(f"/dev/shm/{mine}", NOBODY, NOBODY)
    os.chmod(f"/dev/shm/{theirs}", 0o644)

    def as_nobody() -> bytes:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return json.dumps([[probe(n).in_use, probe(n).why] for n in (mine, theirs)]).encode()

    got = json.loads(run_and_exit(as_nobody))
    assert got == [[False, None], [None, "a write lease is only granted to the file's owner "
                                         "or with CAP_LEASE"]]
