"""ipctop.actions on real kernel objects: round trips, and bad input that changes nothing.

Each test makes its own uniquely named objects through the ``made`` fixture, which removes them at
teardown (also when the test fails) and never touches anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import posix_ipc
import pytest
from conftest import Spawn, unique_key, unique_name

from ipctop import actions
from ipctop.actions import Message
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.model import Kind

# ---------------------------------------------------------------- helpers and fixtures


def sysv_ids(kind: Kind) -> set[int]:
    fname = {Kind.SYSV_SHM: "shm", Kind.SYSV_MSG: "msg", Kind.SYSV_SEM: "sem"}[kind]
    lines = Path(f"/proc/sysvipc/{fname}").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


def sysv_keys(kind: Kind) -> set[int]:
    fname = {Kind.SYSV_SHM: "shm", Kind.SYSV_MSG: "msg", Kind.SYSV_SEM: "sem"}[kind]
    lines = Path(f"/proc/sysvipc/{fname}").read_text().splitlines()[1:]
    return {int(line.split()[0]) & 0xFFFFFFFF for line in lines}


def exists(kind: Kind, ident: str) -> bool:
    """Is the object in the kernel's own lists?"""
    if kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
        return int(ident) in sysv_ids(kind)
    if kind is Kind.POSIX_SHM:
        return os.path.exists(f"/dev/shm/{ident[1:]}")
    if kind is Kind.POSIX_SEM:
        return os.path.exists(f"/dev/shm/sem.{ident[1:]}")
    if kind is Kind.POSIX_MQ:
        return os.path.exists(f"/dev/mqueue/{ident[1:]}")
    return os.path.lexists(ident)


def force_remove(kind: Kind, ident: str) -> None:
    """Teardown: remove one object we made, whatever state the test left it in."""
    libc = ctypes.CDLL(None, use_errno=True)
    with contextlib.suppress(Exception):
        if kind is Kind.SYSV_SHM:
            libc.shmctl(int(ident), 0, None)
        elif kind is Kind.SYSV_MSG:
            libc.msgctl(int(ident), 0, None)
        elif kind is Kind.SYSV_SEM:
            libc.semctl(int(ident), 0, 0)
        elif kind is Kind.POSIX_SHM:
            posix_ipc.unlink_shared_memory(ident)
        elif kind is Kind.POSIX_MQ:
            posix_ipc.unlink_message_queue(ident)
        elif kind is Kind.POSIX_SEM:
            posix_ipc.unlink_semaphore(ident)
        else:
            os.unlink(ident)


Make = Callable[..., str]


@pytest.fixture
def made(tmp_path: Path) -> Iterator[Make]:
    """``made(kind, **create_options) -> ident``: create a unique object; removed at teardown."""
    mine: list[tuple[Kind, str]] = []

    def make(kind: Kind, **options: object) -> str:
        if kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
            name = hex(unique_key())
        elif kind is Kind.FIFO:
            name = str(tmp_path / unique_name())
        else:
            name = "/" + unique_name()
        if kind is Kind.POSIX_MQ:  # small: RLIMIT_MSGQUEUE is shared by every root process here
            options.setdefault("maxmsg", 4)
            options.setdefault("msgsize", 64)
        result = actions.create(kind, name, exclusive=True, **options)  # type: ignore[arg-type]
        mine.append((kind, result.id))
        assert result.created
        return result.id

    try:
        yield make
    finally:
        for kind, ident in mine:
            force_remove(kind, ident)


def msg_count(ident: str) -> int:
    row = actions.sysv_row(Kind.SYSV_MSG, int(ident))
    assert row is not None
    return row["qnum"]


# ---------------------------------------------------------------- create


@pytest.mark.parametrize("kind", [Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM])
def test_create_sysv_with_key_appears_in_proc(kind: Kind) -> None:
    key = unique_key()
    opts: dict[str, Any] = {"size": 4096} if kind is Kind.SYSV_SHM else {}
    result = actions.create(kind, hex(key), mode="0640", exclusive=True, **opts)
    try:
        assert result.created and result.key == f"0x{key:08x}"
        row = actions.sysv_row(kind, int(result.id))
        assert row is not None and row["key"] & 0xFFFFFFFF == key
        assert row["perms"] & 0o777 == 0o640
        again = actions.create(kind, str(key), **opts)  # decimal spelling, not exclusive
        assert again.id == result.id and not again.created
        with pytest.raises(UsageError, match="already exists"):
            actions.create(kind, hex(key), exclusive=True, **opts)
        assert int(result.id) in sysv_ids(kind)
    finally:
        force_remove(kind, result.id)


def test_create_private_makes_a_new_segment_each_time(made: Make) -> None:
    a = made(Kind.SYSV_SHM, size=100)
    b = actions.create(Kind.SYSV_SHM, "private", size=100)
    try:
        assert a != b.id
        row = actions.sysv_row(Kind.SYSV_SHM, int(b.id))
        assert row is not None and row["size"] == 100 and row["key"] == 0
    finally:
        force_remove(Kind.SYSV_SHM, b.id)


def test_create_sysv_sem_sets_initial_values(made: Make) -> None:
    ident = made(Kind.SYSV_SEM, nsems=3, value=5)
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (5, 5, 5)


def test_create_posix_objects_with_exact_mode(made: Make) -> None:
    shm = made(Kind.POSIX_SHM, size=12345, mode="0666")
    st = os.stat(f"/dev/shm/{shm[1:]}")
    assert st.st_size == 12345 and stat.S_IMODE(st.st_mode) == 0o666  # umask not applied
    mq = made(Kind.POSIX_MQ, maxmsg=3, msgsize=64)
    q = posix_ipc.MessageQueue(mq)
    try:
        assert (q.max_messages, q.max_message_size) == (3, 64)
    finally:
        q.close()
    sem = made(Kind.POSIX_SEM, value=4)
    assert actions.sem_values(Kind.POSIX_SEM, sem) == (4,)


def test_create_fifo_and_reuse(made: Make) -> None:
    path = made(Kind.FIFO, mode=0o620)
    st = os.lstat(path)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    again = actions.create(Kind.FIFO, path)
    assert again.id == path and not again.created
    with pytest.raises(UsageError, match="already exists"):
        actions.create(Kind.FIFO, path, exclusive=True)


def test_create_fifo_refuses_existing_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="not a FIFO"):
        actions.create(Kind.FIFO, str(path))
    assert path.read_bytes() == b"keep me"
    with pytest.raises(UsageError, match="does not exist"):
        actions.create(Kind.FIFO, str(tmp_path / "no-dir" / "f"))
    assert not (tmp_path / "no-dir").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("noslash", "starts with '/'"),
        ("/", "needs characters"),
        ("/a/b", "no '/' after the first"),
        ("/..", "not a valid"),
        ("/" + "x" * 256, "too long"),
    ],
)
@pytest.mark.parametrize("kind", [Kind.POSIX_SHM, Kind.POSIX_MQ, Kind.POSIX_SEM])
def test_create_rejects_bad_posix_names(kind: Kind, name: str, message: str) -> None:
    opts = {"size": 10} if kind is Kind.POSIX_SHM else {}
    with pytest.raises(UsageError, match=message):
        actions.create(kind, name, **opts)  # type: ignore[arg-type]
    leaf = name.strip("/").split("/")[-1]
    if leaf and leaf != "..":
        assert leaf not in os.listdir("/dev/shm") and leaf not in os.listdir("/dev/mqueue")
        assert f"sem.{leaf}" not in os.listdir("/dev/shm")


def test_posix_sem_name_limit_is_251() -> None:
    with pytest.raises(UsageError, match="at most 251"):
        actions.create(Kind.POSIX_SEM, "/" + "s" * 252)
    assert not os.path.exists("/dev/shm/sem." + "s" * 252)


@pytest.mark.parametrize("key", ["0xzz", "12ab", "", "0x100000000", "-2147483649", "1.5"])
def test_create_rejects_bad_keys(key: str) -> None:
    with pytest.raises(UsageError, match="SysV key"):
        actions.create(Kind.SYSV_MSG, key)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (Kind.SYSV_SHM, {}, "--size is required"),
        (Kind.SYSV_SHM, {"size": 0}, "greater than 0"),
        (Kind.SYSV_SHM, {"size": -5}, "greater than 0"),
        (Kind.POSIX_SHM, {"size": 0}, "greater than 0"),
        (Kind.POSIX_SHM, {"size": 1 << 62}, "above the size of /dev/shm"),
        (Kind.SYSV_SEM, {"nsems": 0}, "--nsems must be from 1"),
        (Kind.SYSV_SEM, {"value": 40000}, "--value must be from 0 to 32767"),
        (Kind.SYSV_SEM, {"value": -1}, "--value must be from 0"),
        (Kind.POSIX_MQ, {"maxmsg": 0}, "--maxmsg must be from 1"),
        (Kind.POSIX_MQ, {"maxmsg": 10**6}, "fs.mqueue.msg_max"),
        (Kind.POSIX_MQ, {"msgsize": 10**9}, "fs.mqueue.msgsize_max"),
        (Kind.POSIX_SEM, {"value": -3}, "--value must be from 0"),
        (Kind.SYSV_MSG, {"size": 10}, "--size does not apply to sysv-msg"),
        (Kind.FIFO, {"value": 1}, "--value does not apply to fifo"),
        (Kind.POSIX_MQ, {"mode": "999"}, "not an octal mode"),
        (Kind.POSIX_MQ, {"mode": "1777"}, "mode out of range"),
    ],
)
def test_create_rejects_bad_options_and_leaves_nothing(
    kind: Kind, options: dict[str, object], message: str, tmp_path: Path
) -> None:
    if kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
        key = unique_key()
        name = hex(key)
    elif kind is Kind.FIFO:
        name = str(tmp_path / "f")
    else:
        name = "/" + unique_name()
    with pytest.raises(UsageError, match=message):
        actions.create(kind, name, **options)  # type: ignore[arg-type]
    if kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
        assert key not in sysv_keys(kind)
    else:
        assert not exists(kind, name)


def test_create_limits_come_from_proc_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation reads the kernel's limits; a fixture /proc/sys shows the shmmax/msgmax checks."""
    (tmp_path / "kernel").mkdir()
    (tmp_path / "fs" / "mqueue").mkdir(parents=True)
    (tmp_path / "kernel" / "shmmax").write_text("4096\n")
    (tmp_path / "kernel" / "msgmax").write_text("16\n")
    (tmp_path / "kernel" / "sem").write_text("4\t100\t32\t10\n")
    for name, value in (("msg_max", 5), ("msgsize_max", 100), ("msg_default", 5),
                        ("msgsize_default", 100)):
        (tmp_path / "fs" / "mqueue" / name).write_text(f"{value}\n")
    monkeypatch.setattr(actions.common, "PROC_SYS", tmp_path)
    key = unique_key()
    with pytest.raises(UsageError, match=r"above kernel.shmmax \(4096 bytes\)"):
        actions.create(Kind.SYSV_SHM, hex(key), size=4097)
    with pytest.raises(UsageError, match="SEMMSL"):
        actions.create(Kind.SYSV_SEM, hex(key), nsems=5)
    with pytest.raises(UsageError, match="msg_max"):
        actions.create(Kind.POSIX_MQ, "/" + unique_name(), maxmsg=6)
    assert key not in sysv_keys(Kind.SYSV_SHM) and key not in sysv_keys(Kind.SYSV_SEM)


# ---------------------------------------------------------------- SysV messages


def test_sysv_send_receive_round_trip(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    payload = bytes(range(256)) * 3
    actions.send(Kind.SYSV_MSG, q, payload, mtype=42)
    actions.send(Kind.SYSV_MSG, q, b"second", mtype=7)
    assert msg_count(q) == 2
    assert actions.receive(Kind.SYSV_MSG, q) == [Message(payload, 42)]
    assert actions.receive(Kind.SYSV_MSG, q) == [Message(b"second", 7)]
    assert msg_count(q) == 0


def test_sysv_receive_by_type(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    for mtype, data in ((5, b"five"), (2, b"two"), (9, b"nine")):
        actions.send(Kind.SYSV_MSG, q, data, mtype=mtype)
    assert actions.receive(Kind.SYSV_MSG, q, mtype=9) == [Message(b"nine", 9)]
    assert actions.receive(Kind.SYSV_MSG, q, mtype=-5) == [Message(b"two", 2)]
    assert actions.receive(Kind.SYSV_MSG, q, mtype=3) == []
    assert msg_count(q) == 1


def test_sysv_peek_leaves_the_queue_unchanged(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    sent = [Message(b"alpha", 3), Message(b"", 1), Message(b"\x00\xffgamma", 8)]
    for m in sent:
        actions.send(Kind.SYSV_MSG, q, m.data, mtype=m.type)
    assert actions.receive(Kind.SYSV_MSG, q, peek=True, count=10) == sent
    assert actions.receive(Kind.SYSV_MSG, q, peek=True) == sent[:1]
    assert msg_count(q) == 3
    assert actions.receive(Kind.SYSV_MSG, q, count=3) == sent
    assert actions.receive(Kind.SYSV_MSG, q, peek=True) == []


def test_sysv_peek_refuses_type_filter(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    actions.send(Kind.SYSV_MSG, q, b"x")
    with pytest.raises(UsageError, match="--type cannot be combined with --peek"):
        actions.receive(Kind.SYSV_MSG, q, peek=True, mtype=1)
    assert msg_count(q) == 1


def test_sysv_receive_waits_for_a_message_sent_later(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    started = threading.Event()

    def later() -> None:
        started.wait(10)
        actions.send(Kind.SYSV_MSG, q, b"late", mtype=4)

    t = threading.Thread(target=later)
    t.start()
    started.set()
    try:
        assert actions.receive(Kind.SYSV_MSG, q, timeout=20) == [Message(b"late", 4)]
    finally:
        t.join(20)


def test_sysv_full_queue_fails_without_sending(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    limit = actions.kernel_limit("msgmax") or 8192
    qbytes = actions.sysv.msq_stat(int(q), q).qbytes
    chunk = b"f" * min(limit, qbytes)
    while actions.sysv.msq_stat(int(q), q).cbytes + len(chunk) <= qbytes:
        actions.send(Kind.SYSV_MSG, q, chunk)
    before = msg_count(q)
    with pytest.raises(IpcError, match="is full") as err:
        actions.send(Kind.SYSV_MSG, q, chunk)
    assert "nothing sent" in str(err.value)
    with pytest.raises(IpcError, match=r"after waiting 0\.05s"):
        actions.send(Kind.SYSV_MSG, q, chunk, timeout=0.05)
    assert msg_count(q) == before


def test_sysv_message_too_long(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    msgmax = actions.kernel_limit("msgmax")
    assert msgmax is not None
    with pytest.raises(UsageError, match="message too long"):
        actions.send(Kind.SYSV_MSG, q, b"x" * (msgmax + 1))
    assert msg_count(q) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [({"mtype": 0}, "--type must be from 1"), ({"priority": 1}, "--priority applies to posix-mq"),
     ({"timeout": -1}, "timeout must be"), ({"timeout": float("inf")}, "timeout must be")],
)
def test_sysv_send_bad_options(made: Make, options: dict[str, object], message: str) -> None:
    q = made(Kind.SYSV_MSG)
    with pytest.raises(UsageError, match=message):
        actions.send(Kind.SYSV_MSG, q, b"x", **options)  # type: ignore[arg-type]
    assert msg_count(q) == 0


# ---------------------------------------------------------------- POSIX queues


def test_mq_round_trip_by_priority(made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=5, msgsize=128)
    actions.send(Kind.POSIX_MQ, q, b"low", priority=1)
    actions.send(Kind.POSIX_MQ, q, b"\x00high\xff", priority=30)
    actions.send(Kind.POSIX_MQ, q, b"mid")
    assert actions.receive(Kind.POSIX_MQ, q, count=5) == [
        Message(b"\x00high\xff", 30), Message(b"low", 1), Message(b"mid", 0)]
    assert actions.receive(Kind.POSIX_MQ, q, timeout=0.01) == []


def test_mq_cannot_be_peeked(made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=2, msgsize=16)
    actions.send(Kind.POSIX_MQ, q, b"stay")
    with pytest.raises(UsageError, match="cannot be peeked") as err:
        actions.receive(Kind.POSIX_MQ, q, peek=True)
    assert err.value.exit_code == 2
    assert actions.receive(Kind.POSIX_MQ, q) == [Message(b"stay", 0)]


def test_mq_full_and_too_long(made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=1, msgsize=8)
    with pytest.raises(UsageError, match="message too long: 9 bytes"):
        actions.send(Kind.POSIX_MQ, q, b"123456789")
    actions.send(Kind.POSIX_MQ, q, b"one")
    with pytest.raises(IpcError, match=r"is full \(1 of 1 messages\)"):
        actions.send(Kind.POSIX_MQ, q, b"two")
    with pytest.raises(IpcError, match="after waiting"):
        actions.send(Kind.POSIX_MQ, q, b"two", timeout=0.05)
    with pytest.raises(UsageError, match="--priority must be from 0 to 32767"):
        actions.send(Kind.POSIX_MQ, q, b"x", priority=40000)
    with pytest.raises(UsageError, match="--type applies to sysv-msg"):
        actions.send(Kind.POSIX_MQ, q, b"x", mtype=2)
    assert actions.receive(Kind.POSIX_MQ, q, count=5) == [Message(b"one", 0)]


# ---------------------------------------------------------------- FIFOs


def test_fifo_send_without_reader_is_a_clear_error(made: Make) -> None:
    path = made(Kind.FIFO)
    with pytest.raises(IpcError, match=r"no process has .* open for reading"):
        actions.send(Kind.FIFO, path, b"lost")


def test_fifo_send_to_a_reader(made: Make) -> None:
    path = made(Kind.FIFO)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        actions.send(Kind.FIFO, path, b"through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)


def test_fifo_receive(made: Make) -> None:
    path = made(Kind.FIFO)
    assert actions.receive(Kind.FIFO, path, timeout=0.01) == []
    holder = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # keeps the buffer alive between opens
    try:
        os.write(holder, b"queued bytes")
        assert actions.receive(Kind.FIFO, path, timeout=5) == [Message(b"queued bytes", 0)]
    finally:
        os.close(holder)


def test_fifo_refuses_peek_type_and_non_fifos(made: Make, tmp_path: Path) -> None:
    path = made(Kind.FIFO)
    with pytest.raises(UsageError, match="cannot be peeked"):
        actions.receive(Kind.FIFO, path, peek=True)
    with pytest.raises(UsageError, match="--type applies to sysv-msg"):
        actions.receive(Kind.FIFO, path, mtype=1)
    plain = tmp_path / "plain"
    plain.write_bytes(b"data")
    with pytest.raises(UsageError, match="is not a FIFO \\(it is a regular file\\)"):
        actions.send(Kind.FIFO, str(plain), b"x")
    with pytest.raises(UsageError, match="is not a FIFO"):
        actions.remove(Kind.FIFO, str(plain))
    with pytest.raises(UsageError, match="it is a directory"):
        actions.receive(Kind.FIFO, str(tmp_path))
    assert plain.read_bytes() == b"data"
    with pytest.raises(NotFound):
        actions.send(Kind.FIFO, str(tmp_path / "missing"), b"x")


# ---------------------------------------------------------------- shared memory


@pytest.mark.parametrize("kind", [Kind.SYSV_SHM, Kind.POSIX_SHM])
def test_shm_write_then_read(made: Make, kind: Kind) -> None:
    ident = made(kind, size=64)
    assert actions.shm_size(kind, ident) == 64
    assert actions.read_shm(kind, ident) == bytes(64)
    assert actions.write_shm(kind, ident, b"hello\x00world", 10) == 11
    assert actions.read_shm(kind, ident, 10, 11) == b"hello\x00world"
    assert actions.read_shm(kind, ident, 60) == bytes(4)
    whole = actions.read_shm(kind, ident)
    assert whole[:10] == bytes(10) and whole[10:21] == b"hello\x00world" and len(whole) == 64


@pytest.mark.parametrize("kind", [Kind.SYSV_SHM, Kind.POSIX_SHM])
def test_shm_refuses_out_of_bounds(made: Make, kind: Kind) -> None:
    ident = made(kind, size=32)
    actions.write_shm(kind, ident, b"A" * 32, 0)
    with pytest.raises(UsageError, match="it has 32 bytes"):
        actions.write_shm(kind, ident, b"BB", 31)
    with pytest.raises(UsageError, match="it has 32 bytes"):
        actions.read_shm(kind, ident, 30, 5)
    with pytest.raises(UsageError, match="it has 32 bytes"):
        actions.read_shm(kind, ident, 33)
    with pytest.raises(UsageError, match="must not be negative"):
        actions.write_shm(kind, ident, b"B", -1)
    with pytest.raises(UsageError, match="nothing to write"):
        actions.write_shm(kind, ident, b"", 0)
    assert actions.read_shm(kind, ident) == b"A" * 32


def test_sysv_read_detaches_and_is_read_only(made: Make) -> None:
    ident = made(Kind.SYSV_SHM, size=16)
    actions.read_shm(Kind.SYSV_SHM, ident)
    row = actions.sysv_row(Kind.SYSV_SHM, int(ident))
    assert row is not None and row["nattch"] == 0


# ---------------------------------------------------------------- semaphores


def test_sysv_sem_op_and_set(made: Make) -> None:
    ident = made(Kind.SYSV_SEM, nsems=2, value=1)
    assert actions.sem_op(Kind.SYSV_SEM, ident, 4, index=1) == 5
    assert actions.sem_op(Kind.SYSV_SEM, ident, -2, index=1) == 3
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (1, 3)
    assert actions.sem_set(Kind.SYSV_SEM, ident, 7) == 7
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (7, 3)


def test_sysv_sem_would_block_changes_nothing(made: Make) -> None:
    ident = made(Kind.SYSV_SEM, nsems=1, value=1)
    with pytest.raises(IpcError, match=r"is 1, op -2 needs at least 2: nothing changed"):
        actions.sem_op(Kind.SYSV_SEM, ident, -2)
    with pytest.raises(IpcError, match=r"after waiting 0\.05s"):
        actions.sem_op(Kind.SYSV_SEM, ident, -2, timeout=0.05)
    with pytest.raises(IpcError, match="needs zero"):
        actions.sem_op(Kind.SYSV_SEM, ident, 0)
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (1,)


def test_sysv_sem_wait_succeeds_when_posted(made: Make) -> None:
    ident = made(Kind.SYSV_SEM, nsems=1, value=0)
    started = threading.Event()

    def post() -> None:
        started.wait(10)
        actions.sem_op(Kind.SYSV_SEM, ident, 1)

    t = threading.Thread(target=post)
    t.start()
    started.set()
    try:
        assert actions.sem_op(Kind.SYSV_SEM, ident, -1, timeout=20) == 0
    finally:
        t.join(20)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: actions.sem_op(Kind.SYSV_SEM, i, 1, index=2), "--index 2 is out of range"),
        (lambda i: actions.sem_op(Kind.SYSV_SEM, i, 1, index=-1), "out of range"),
        (lambda i: actions.sem_op(Kind.SYSV_SEM, i, 40000), "--op must be from"),
        (lambda i: actions.sem_op(Kind.SYSV_SEM, i, 32767), "would exceed 32767"),
        (lambda i: actions.sem_set(Kind.SYSV_SEM, i, 32768), "--set must be from 0 to 32767"),
        (lambda i: actions.sem_set(Kind.SYSV_SEM, i, -1), "--set must be from 0"),
    ],
)
def test_sysv_sem_bad_input(made: Make, call: Callable[[str], int], message: str) -> None:
    ident = made(Kind.SYSV_SEM, nsems=2, value=3)
    with pytest.raises(UsageError, match=message):
        call(ident)
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (3, 3)


def test_posix_sem_op_and_set(made: Make) -> None:
    ident = made(Kind.POSIX_SEM, value=2)
    assert actions.sem_op(Kind.POSIX_SEM, ident, 3) == 5
    assert actions.sem_op(Kind.POSIX_SEM, ident, -4) == 1
    with pytest.raises(IpcError, match=r"is 1, op -2 needs at least 2 after waiting 0\.05s: "):
        actions.sem_op(Kind.POSIX_SEM, ident, -2, timeout=0.05)
    assert actions.sem_values(Kind.POSIX_SEM, ident) == (1,)
    with pytest.raises(UsageError, match="cannot wait for zero"):
        actions.sem_op(Kind.POSIX_SEM, ident, 0)
    with pytest.raises(UsageError, match="--index applies to sysv-sem"):
        actions.sem_op(Kind.POSIX_SEM, ident, 1, index=1)
    assert actions.sem_set(Kind.POSIX_SEM, ident, 6) == 6
    assert actions.sem_set(Kind.POSIX_SEM, ident, 0) == 0
    assert actions.sem_values(Kind.POSIX_SEM, ident) == (0,)


# ---------------------------------------------------------------- wrong kind, vanished, denied


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: actions.send(Kind.SYSV_SHM, "1", b"x"), "cannot send to a sysv-shm"),
        (lambda: actions.receive(Kind.POSIX_SEM, "/x"), "cannot receive from a posix-sem"),
        (lambda: actions.read_shm(Kind.SYSV_MSG, "1"), "cannot read a sysv-msg"),
        (lambda: actions.write_shm(Kind.FIFO, "/tmp/x", b"x"), "cannot write a fifo"),
        (lambda: actions.sem_op(Kind.POSIX_MQ, "/x", 1), "cannot change a posix-mq"),
        (lambda: actions.remove(Kind.PIPE, "123"), "cannot remove a pipe"),
        (lambda: actions.remove(Kind.UNIX_SOCKET, "123"), "cannot remove a unix-socket"),
        (lambda: actions.create(Kind.SHARED_MAPPING, "/x"), "cannot create a shared-mapping"),
        (lambda: actions.remove("bogus", "1"), "unknown kind 'bogus'"),
        (lambda: actions.read_shm(Kind.SYSV_SHM, "abc"), "not a sysv-shm id"),
        (lambda: actions.read_shm(Kind.SYSV_SHM, "-1"), "not a sysv-shm id"),
    ],
)
def test_wrong_kind_and_bad_ids(call: Callable[[], object], message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        call()
    assert err.value.exit_code == 2


EVERY_KIND = [Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM, Kind.POSIX_SHM, Kind.POSIX_MQ,
              Kind.POSIX_SEM, Kind.FIFO]
"""Every kind the actions work on, spelled out here so a kind dropped from ipctop fails a test."""


def made_small(made: Make, kind: Kind) -> str:
    """A new object of ``kind``; shared memory gets 8 bytes (it needs a size)."""
    return made(kind, **({"size": 8} if kind in (Kind.SYSV_SHM, Kind.POSIX_SHM) else {}))


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_vanished_object_is_not_found(made: Make, kind: Kind) -> None:
    ident = made_small(made, kind)
    force_remove(kind, ident)
    calls: list[Callable[[], object]] = [lambda: actions.remove(kind, ident),
                                         lambda: actions.describe_removal(kind, ident)]
    for call in calls:
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.exit_code == 1
    if kind in (Kind.SYSV_SHM, Kind.POSIX_SHM):
        with pytest.raises(NotFound):
            actions.read_shm(kind, ident)
    elif kind in (Kind.SYSV_SEM, Kind.POSIX_SEM):
        with pytest.raises(NotFound):
            actions.sem_op(kind, ident, 1)
    else:
        with pytest.raises(NotFound):
            actions.send(kind, ident, b"x")


def test_permission_denied_is_one_clear_line(made: Make, spawn: Spawn) -> None:
    shm = made(Kind.SYSV_SHM, size=16, mode="0600")
    mq = made(Kind.POSIX_MQ, maxmsg=2, msgsize=16, mode="0600")
    sem = made(Kind.SYSV_SEM, value=1, mode="0600")

    def as_nobody() -> bytes:
        os.setgid(65534)
        os.setuid(65534)
        out = []
        for call in (lambda: actions.read_shm(Kind.SYSV_SHM, shm),
                     lambda: actions.write_shm(Kind.SYSV_SHM, shm, b"x"),
                     lambda: actions.send(Kind.POSIX_MQ, mq, b"x"),
                     lambda: actions.sem_op(Kind.SYSV_SEM, sem, 1),
                     lambda: actions.remove(Kind.SYSV_SEM, sem)):
            try:
                call()
                out.append("no error")
            except IpcError as err:
                out.append(f"{type(err).__name__}: {err}")
        return "\n".join(out).encode()

    lines = spawn(as_nobody).report.decode().splitlines()
    assert lines == [
        f"IpcError: permission denied: cannot read sysv-shm {shm}",
        f"IpcError: permission denied: cannot write sysv-shm {shm}",
        f"IpcError: permission denied: cannot send to posix-mq {mq}",
        f"IpcError: permission denied: cannot change sysv-sem {sem}",
        f"IpcError: permission denied: cannot remove sysv-sem {sem}",
    ]
    assert actions.read_shm(Kind.SYSV_SHM, shm) == bytes(16)
    assert actions.sem_values(Kind.SYSV_SEM, sem) == (1,)
    assert exists(Kind.SYSV_SEM, sem)


# ---------------------------------------------------------------- remove


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_remove_makes_exactly_that_object_vanish(made: Make, kind: Kind) -> None:
    victim = made_small(made, kind)
    neighbour = made_small(made, kind)
    assert exists(kind, victim) and exists(kind, neighbour)
    result = actions.remove(kind, victim)
    assert result.startswith(f"removed {actions.kind_name(kind)} {victim}: ")
    assert not exists(kind, victim)
    assert exists(kind, neighbour)


def test_describe_removal_of_attached_sysv_shm(made: Make, spawn: Spawn) -> None:
    import sysv_ipc

    ident = made(Kind.SYSV_SHM, size=8192)
    assert actions.describe_removal(Kind.SYSV_SHM, ident) == (
        "no process attached: destroyed now (8.0K, never touched: it held no memory)")
    actions.write_shm(Kind.SYSV_SHM, ident, b"x", 0)  # one page now in memory
    assert actions.describe_removal(Kind.SYSV_SHM, ident) == (
        "no process attached: destroyed now, 4.0K of memory freed")

    def attach() -> None:
        sysv_ipc.attach(int(ident))

    child = spawn(attach)
    spawn(attach)
    assert actions.describe_removal(Kind.SYSV_SHM, ident) == (
        "attached by 2 processes: destroyed when the last detaches")
    with pytest.raises(actions.Attached, match="pass --force-attached"):
        actions.remove(Kind.SYSV_SHM, ident)  # marking an attached segment is its own choice
    assert actions.remove(Kind.SYSV_SHM, ident, force_attached=True) == (
        f"removed sysv-shm {ident}: attached by 2 processes: destroyed when the last detaches")
    row = actions.sysv_row(Kind.SYSV_SHM, int(ident))
    assert row is not None and row["perms"] & 0o1000  # marked, still there
    assert actions.describe_removal(Kind.SYSV_SHM, ident).startswith("already marked")
    child.stop()


def test_describe_removal_counts_posix_holders(made: Make, spawn: Spawn) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=4, msgsize=16)
    actions.send(Kind.POSIX_MQ, q, b"a")
    assert actions.describe_removal(Kind.POSIX_MQ, q) == (
        "1 message queued; no process has it open: destroyed now")

    def hold() -> None:
        posix_ipc.MessageQueue(q)  # stays open while the child lives

    spawn(hold)
    assert actions.describe_removal(Kind.POSIX_MQ, q) == (
        "1 message queued; open in 1 process: the name goes now, the object when the last "
        "closes it")


def test_describe_removal_of_queues_and_semaphores(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    assert actions.describe_removal(Kind.SYSV_MSG, q) == "empty: destroyed now"
    actions.send(Kind.SYSV_MSG, q, b"abc")
    actions.send(Kind.SYSV_MSG, q, b"de")
    assert actions.describe_removal(Kind.SYSV_MSG, q) == (
        "2 messages (5 bytes) queued: destroyed now with its messages")
    s = made(Kind.SYSV_SEM)
    assert actions.describe_removal(Kind.SYSV_SEM, s) == "no process waiting: destroyed now"
    assert exists(Kind.SYSV_MSG, q) and exists(Kind.SYSV_SEM, s)
