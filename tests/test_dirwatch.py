"""The collector's inotify on /dev/shm (collect/dirwatch.py) and the listing it hands on.

Every change a listing reads from a file's stat is reported, except a write through a shared
mapping (tmpfs moves mtime without a word): that one shows once the listing is old enough.
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

import pytest

from ipctop.collect import posix
from ipctop.collect.dirwatch import DirWatch
from ipctop.collect.poll_memo import PollMemo


def test_every_change_a_listing_reads_is_reported_once(tmp_path: Path) -> None:
    watch = DirWatch(tmp_path)
    assert watch.fd is not None and watch.changed() is False
    f = tmp_path / "a"
    steps = [
        lambda: f.write_bytes(b""),  # created
        lambda: os.truncate(f, 4096),  # size
        lambda: f.write_bytes(b"x"),  # data and times
        lambda: os.chmod(f, 0o640),  # mode
        lambda: os.utime(f, (1, 1)),  # times
        lambda: os.rename(f, tmp_path / "b"),  # renamed
        lambda: os.unlink(tmp_path / "b"),  # removed
    ]
    for step in steps:
        step()
        assert watch.changed() is True
        assert watch.changed() is False  # reported once


def test_a_watch_whose_directory_went_always_says_changed(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    watch = DirWatch(d)
    d.rmdir()
    assert watch.changed() is True and watch.fd is None
    assert watch.changed() is True
    assert DirWatch(tmp_path / "missing").changed() is True  # never set up: always lists


def _dev(tmp_path: Path) -> Path:
    (tmp_path / "dev" / "shm").mkdir(parents=True)
    return tmp_path / "dev"


def _poll(memo: PollMemo, dev: Path) -> list[posix.PosixShm | posix.PosixSem]:
    memo.begin()
    return posix.read_dev_shm(dev, memo=memo)


def test_a_quiet_directory_is_handed_on_and_a_new_file_seen_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = _dev(tmp_path)
    (dev / "shm" / "one").write_bytes(b"1")
    memo = PollMemo()
    first = _poll(memo, dev)

    def no_listing(*args: object) -> object:
        raise AssertionError("listed though nothing changed")

    with monkeypatch.context() as m:
        m.setattr(posix, "_regular_files", no_listing)
        again = _poll(memo, dev)
    assert [o.id for o in again] == ["/one"] and again[0] is first[0]
    (dev / "shm" / "two").write_bytes(b"2")
    assert sorted(o.id for o in _poll(memo, dev)) == ["/one", "/two"]


def test_a_write_through_a_mapping_shows_once_the_listing_is_old_enough(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tmpfs moves the file's times at the write fault, and inotify says nothing."""
    monkeypatch.setattr(posix, "LIST_RECHECK", 0.5)
    dev = _dev(tmp_path)
    path = dev / "shm" / "mapped"
    path.write_bytes(b"\0" * 4096)
    memo = PollMemo()
    before = _poll(memo, dev)[0]
    stamp = os.stat(path).st_ctime_ns
    deadline = time.monotonic() + 5
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 4096) as m:
        while os.stat(path).st_ctime_ns == stamp:  # a later clock tick than the listing's
            assert time.monotonic() < deadline
            time.sleep(0.01)
            m[0:1] = bytes([m[0] ^ 1])
    while (now := _poll(memo, dev)[0]).ctime == before.ctime:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert now.ctime == os.stat(path).st_ctime
