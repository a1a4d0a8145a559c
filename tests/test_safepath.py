"""ipctop.safepath on real files: links refused on the way, types checked on the fd, no blocking
on a planted FIFO, the lease probe. Attacks run as ``nobody`` in a forked child."""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterator

import pytest
from attacker import GID, UID, attacker_dir, become_attacker
from conftest import Spawn, run_and_exit

from ipctop import safepath
from ipctop.display import shown
from ipctop.safepath import FIFO, SHM_FILE, Expect, InUse, UnsafePath


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with openat2 and with the component walk (kernels without openat2)."""
    if request.param == "walk":
        monkeypatch.setattr(safepath, "_openat2_works", False)
    return str(request.param)


@pytest.fixture
def adir() -> Iterator[str]:
    with attacker_dir() as d:
        yield d


def test_a_plain_path_opens(tmp_path: os.PathLike[str], resolver: str) -> None:
    f = os.path.join(tmp_path, "f")
    with open(f, "wb") as out:
        out.write(b"data")
    with safepath.opened(f, Expect("a file")) as fd:
        assert os.read(fd, 10) == b"data"


def test_a_link_as_last_component_is_refused(adir: str, resolver: str) -> None:
    secret = os.path.join(adir, "..", "ipctop-secret-never-read")
    link = os.path.join(adir, "q")

    def plant() -> None:
        become_attacker()
        os.symlink("/etc/shadow", link)

    run_and_exit(plant)
    with pytest.raises(UnsafePath, match="symbolic link"), safepath.opened(link, FIFO):
        pass
    with pytest.raises(UnsafePath, match="symbolic link"):
        os.close(safepath.open_path(link, os.O_RDONLY))
    assert not os.path.exists(secret)


def test_an_attackers_directory_swapped_for_a_link_is_refused(adir: str, resolver: str) -> None:
    # nobody owns adir/d; they replace it by a link to /etc: adir/d/passwd must not open.
    def swap() -> None:
        become_attacker()
        os.symlink("/etc", os.path.join(adir, "d"))

    run_and_exit(swap)
    with pytest.raises(UnsafePath, match=r"passes through a symbolic link \(d\)"):
        os.close(safepath.open_path(os.path.join(adir, "d", "passwd"), os.O_RDONLY))
    with pytest.raises(UnsafePath):
        os.close(safepath.open_dir(os.path.join(adir, "d")))


def test_a_link_only_root_could_make_is_followed(tmp_path: os.PathLike[str],
                                                 resolver: str) -> None:
    root_dir = os.path.join(tmp_path, "r")
    os.mkdir(root_dir, 0o755)
    os.mkdir(os.path.join(root_dir, "real"), 0o755)
    os.mkfifo(os.path.join(root_dir, "real", "q"))
    os.symlink("real", os.path.join(root_dir, "alias"))
    with safepath.opened(os.path.join(root_dir, "alias", "q"), FIFO) as fd:
        assert stat.S_ISFIFO(os.fstat(fd).st_mode)


def test_a_fifo_where_a_file_is_expected_is_refused_without_blocking(
        tmp_path: os.PathLike[str], resolver: str) -> None:
    q = os.path.join(tmp_path, "q")
    os.mkfifo(q)
    with pytest.raises(UnsafePath, match="it is a FIFO, not a POSIX shared memory file"), \
            safepath.opened(q, SHM_FILE):
        pass


def test_a_fifo_opened_for_writing_is_the_one_checked(tmp_path: os.PathLike[str]) -> None:
    q = os.path.join(tmp_path, "q")
    os.mkfifo(q)
    reader = os.open(q, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with safepath.opened(q, FIFO, os.O_WRONLY) as fd:
            os.replace(os.path.join(tmp_path, "q"), os.path.join(tmp_path, "moved"))
            with open(q, "wb"):  # a regular file now has the name
                pass
            os.write(fd, b"hi")
        assert os.read(reader, 10) == b"hi"
    finally:
        os.close(reader)


def test_size_and_filesystem_are_checked(tmp_path: os.PathLike[str]) -> None:
    f = os.path.join(tmp_path, "sem.x")
    open(f, "wb").close()
    with pytest.raises(UnsafePath, match="0 bytes"), \
            safepath.opened(f, Expect("a semaphore", min_size=32)):
        pass
    if safepath.fs_type(os.open(tmp_path, os.O_RDONLY)) != safepath.TMPFS_MAGIC:
        with pytest.raises(UnsafePath, match="not on the filesystem"), \
                safepath.opened(f, SHM_FILE):
            pass


def test_names_that_are_not_utf8_open(tmp_path: os.PathLike[str]) -> None:
    name = b"x\xff\x1b[2J"
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = os.open(name, os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=d)
        os.close(fd)
        with safepath.opened(name, Expect("a file"), dirfd=d):
            pass
        assert shown(safepath.show(name)) == "x\\xff\\x1b[2J"
    finally:
        os.close(d)


# --------------------------------------------------------------------------- leases


def test_in_use_sees_an_open_and_a_mapping_of_another_process(
        tmp_path: os.PathLike[str], spawn: Spawn) -> None:
    name = "held"
    path = os.path.join(tmp_path, name)
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert safepath.in_use(d, name) is False

        def hold_open() -> None:
            os.open(path, os.O_RDONLY)

        child = spawn(hold_open)
        assert safepath.in_use(d, name) is True
        child.stop()
        assert safepath.in_use(d, name) is False

        def hold_mapped() -> None:
            fd = os.open(path, os.O_RDWR)
            m = mmap.mmap(fd, 4096)
            os.close(fd)  # only the mapping is left
            globals()["_keep"] = m

        child = spawn(hold_mapped)
        assert safepath.in_use(d, name) is True
        with pytest.raises(InUse), safepath.exclusive_lease(d, name):
            pass
        child.stop()
        with safepath.exclusive_lease(d, name) as fd:
            assert os.fstat(fd).st_size == 4096
        os.mkfifo("fifo", dir_fd=d)
        assert safepath.in_use(d, "fifo") is None  # leases are for regular files only
    finally:
        os.close(d)


def test_in_use_on_an_attackers_file(adir: str, spawn: Spawn) -> None:
    path = os.path.join(adir, "theirs")

    def make_and_hold() -> None:
        become_attacker()
        with open(path, "wb") as f:
            f.write(b"x")
        os.open(path, os.O_RDONLY)

    child = spawn(make_and_hold)
    assert os.stat(path).st_uid == UID and os.stat(path).st_gid == GID
    d = os.open(adir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert safepath.in_use(d, "theirs") is True  # root: CAP_LEASE
        child.stop()
        assert safepath.in_use(d, "theirs") is False
    finally:
        os.close(d)
