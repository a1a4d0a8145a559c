"""POSIX collectors: real shm / semaphores / queues made with posix_ipc, fixture /dev trees."""

from __future__ import annotations

import itertools
import os
import random
import signal
import struct
from pathlib import Path

import posix_ipc
import pytest
from conftest import Cleanup
from fixtures_proc import qsize_text, write_file

from ipctop.collect import posix
from ipctop.collect.common import DEV
from ipctop.errors import IpcError, ParseError
from ipctop.kinds import PosixMq, PosixSem, PosixShm

_counter = itertools.count()


def _name() -> str:
    return f"/ipctop_t{os.getpid()}_{next(_counter)}_{random.randrange(1 << 30):x}"


def _shm_objects() -> dict[str, PosixShm | PosixSem]:
    return {o.id: o for o in posix.read_dev_shm()}


def test_posix_shm_listed_with_stat_fields(cleanup: Cleanup) -> None:
    name = _name()
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o640, size=12345)
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    assert shm.size == 12345
    shm.close_fd()
    obj = _shm_objects()[name]
    st = os.stat(f"/dev/shm{name}")
    assert isinstance(obj, PosixShm)
    assert obj.name == name and obj.path == f"/dev/shm{name}"
    assert obj.size == 12345
    assert (obj.dev, obj.inode) == (st.st_dev, st.st_ino)
    assert obj.uid == os.getuid() and obj.owner == "root"
    assert obj.mode == f"{st.st_mode & 0o777:04o}"
    assert obj.ctime == st.st_ctime
    shm.unlink()
    assert name not in _shm_objects()


def test_posix_sem_value_follows_the_semaphore(cleanup: Cleanup) -> None:
    name = _name()
    sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, initial_value=3)
    cleanup(lambda: posix_ipc.unlink_semaphore(name))
    cleanup(sem.close)
    obj = _shm_objects()[name]
    assert isinstance(obj, PosixSem)
    assert obj.path == f"/dev/shm/sem.{name[1:]}" and obj.name == name
    assert obj.value == sem.value == 3
    assert obj.inode == os.stat(obj.path).st_ino
    sem.acquire()
    sem.acquire()
    got = _shm_objects()[name]
    assert isinstance(got, PosixSem)
    assert got.value == sem.value == 1
    for _ in range(5):
        sem.release()
    got = _shm_objects()[name]
    assert isinstance(got, PosixSem)
    assert got.value == sem.value == 6


def test_dev_shm_fixture_kinds_and_skips(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    write_file(shm / "plain", b"\0" * 100)
    write_file(shm / "sem.ready", struct.pack("=QII", (2 << 32) | 5, 0, 0) + b"\0" * 16)
    write_file(shm / "sem.short", b"\1\0\0")
    write_file(shm / "subdir" / "inner", b"x")
    os.mkfifo(shm / "fifo")
    os.symlink(shm / "plain", shm / "link")
    objs = {o.id: o for o in posix.read_dev_shm(tmp_path)}
    assert set(objs) == {"/plain", "/ready", "/short"}
    plain, ready, short = objs["/plain"], objs["/ready"], objs["/short"]
    assert isinstance(plain, PosixShm) and plain.size == 100
    assert plain.path == str(shm / "plain")
    assert isinstance(ready, PosixSem) and ready.value == 5  # waiters (high word) not counted
    assert ready.path == str(shm / "sem.ready") and ready.size == 32
    assert isinstance(short, PosixSem) and short.value is None


def test_dev_shm_missing_is_empty(tmp_path: Path) -> None:
    assert posix.read_dev_shm(tmp_path) == []


def test_sem_value_unreadable_is_none(tmp_path: Path) -> None:
    assert posix.sem_value(tmp_path / "nope") is None


# --- message queues --------------------------------------------------------------------------

@pytest.fixture
def mounted() -> None:
    assert posix.mqueue_mounted(DEV), f"{DEV}/mqueue is not mounted: {posix.MOUNT_FIX}"


def _queue(cleanup: Cleanup, **kw: int) -> tuple[str, posix_ipc.MessageQueue]:
    name = _name()
    q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, **kw)
    cleanup(lambda: posix_ipc.unlink_message_queue(name))
    cleanup(q.close)
    return name, q


def _mq(name: str) -> PosixMq:
    found = [q for q in posix.read_mqueue() if q.id == name]
    assert len(found) == 1
    return found[0]


@pytest.mark.usefixtures("mounted")
def test_mqueue_counts_bytes_and_geometry(cleanup: Cleanup) -> None:
    name, q = _queue(cleanup, max_messages=5, max_message_size=64)
    empty = _mq(name)
    assert (empty.messages, empty.bytes, empty.maxmsg, empty.msgsize) == (0, 0, 5, 64)
    assert empty.size == 5 * 64 and empty.notify_pid is None and empty.name == name
    q.send(b"abc")
    q.send(b"hello!")
    full = _mq(name)
    assert full.messages == q.current_messages == 2
    assert full.bytes == 9
    st = os.stat(f"/dev/mqueue{name}")
    assert full.uid == st.st_uid and full.mode == f"{st.st_mode & 0o777:04o}"
    assert full.ctime == st.st_ctime
    offline = next(x for x in posix.read_mqueue(live=False) if x.id == name)
    assert offline.bytes == 9 and offline.messages is None and offline.maxmsg is None


@pytest.mark.usefixtures("mounted")
def test_mqueue_notify_pid(cleanup: Cleanup) -> None:
    name, q = _queue(cleanup, max_messages=2, max_message_size=16)
    # The queue stays empty (nothing is sent), so the signal is never delivered.
    q.request_notification(signal.SIGUSR2)
    assert _mq(name).notify_pid == os.getpid()
    q.request_notification(None)
    assert _mq(name).notify_pid is None


def test_mq_attrs_reads_and_never_creates(cleanup: Cleanup) -> None:
    name, q = _queue(cleanup, max_messages=3, max_message_size=32)
    q.send(b"x")
    assert posix.mq_attrs(name) == (1, 3, 32)
    assert posix.mq_attrs(name[1:]) == (1, 3, 32)  # the leading slash is optional
    ghost = _name()
    cleanup(lambda: posix_ipc.unlink_message_queue(ghost))  # only if the check below fails
    assert posix.mq_attrs(ghost) is None
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.MessageQueue(ghost)


@pytest.mark.parametrize("plain_dir", [False, True])
def test_mqueue_not_mounted_says_how_to_fix(tmp_path: Path, plain_dir: bool) -> None:
    if plain_dir:
        (tmp_path / "mqueue").mkdir()
    assert not posix.mqueue_mounted(tmp_path)
    with pytest.raises(posix.MqueueNotMounted) as err:
        posix.read_mqueue(tmp_path)
    assert isinstance(err.value, IpcError)
    message = str(err.value)
    assert "\n" not in message
    assert "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue" in message
    assert str(tmp_path / "mqueue") in message


def test_mqueue_dir_fixture(tmp_path: Path) -> None:
    d = tmp_path / "mqueue"
    write_file(d / "jobs", qsize_text(4096, notify=0, signo=10, notify_pid=777))
    write_file(d / "idle", qsize_text(0))
    (d / "not-a-queue").mkdir()
    got = {q.id: q for q in posix.read_mqueue_dir(d, live=False)}
    assert set(got) == {"/jobs", "/idle"}
    assert (got["/jobs"].bytes, got["/jobs"].notify_pid) == (4096, 777)
    assert (got["/idle"].bytes, got["/idle"].notify_pid) == (0, None)
    assert got["/jobs"].messages is None and got["/jobs"].size is None
    assert got["/jobs"].owner == "root" and got["/jobs"].name == "/jobs"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QSIZE:12 NOTIFY:0 SIGNO:0\n", "missing NOTIFY_PID"),
        ("QSIZE:lots NOTIFY:0 SIGNO:0 NOTIFY_PID:0\n", "QSIZE: not a number"),
        ("garbage\n", "expected LABEL:NUMBER"),
    ],
)
def test_mqueue_malformed_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write_file(tmp_path / "mqueue" / "bad", text)
    with pytest.raises(ParseError) as err:
        posix.read_mqueue_dir(tmp_path / "mqueue", live=False)
    assert str(err.value).startswith(f"{path}:1: ") and message in str(err.value)


def test_parse_qsize_kernel_format() -> None:
    assert posix.parse_qsize(qsize_text(123, 1, 12, 4242), "x") == (123, 4242)
