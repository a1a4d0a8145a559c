"""events.diff: created, removed, changed (with fields), matched by (kind, id)."""

from __future__ import annotations

import dataclasses
import itertools

from fakes import FakeCollector

from ipctop.events import CHANGED, CREATED, REMOVED, diff
from ipctop.kinds import PosixShm, SysvMsg, SysvShm
from ipctop.model import Kind, Snapshot, User


def _snap(*objects: object, at: float = 10.0) -> Snapshot:
    return Snapshot(taken_at=at, hostname="h", objects=tuple(objects))  # type: ignore[arg-type]


SHM = SysvShm(id="5", key="0x00000001", nattch=1, cpid=1, lpid=1,
              users=(User(1, "a", via="map"),))
MSG = SysvMsg(id="5", key="0x00000002", messages=1, bytes=8, lspid=1, lrpid=0)


def test_first_snapshot_has_no_events() -> None:
    assert diff(None, _snap(SHM, MSG)) == []


def test_identical_snapshots_have_no_events() -> None:
    assert diff(_snap(SHM, MSG), _snap(SHM, MSG, at=12)) == []


def test_same_id_different_kind_is_a_different_object() -> None:
    events = diff(_snap(SHM), _snap(MSG, at=11))
    assert [(e.action, e.kind, e.id) for e in events] == [
        (REMOVED, Kind.SYSV_SHM, "5"), (CREATED, Kind.SYSV_MSG, "5")]
    assert all(e.at == 11 for e in events)


def test_changed_names_each_field_and_summarises() -> None:
    new = dataclasses.replace(MSG, messages=4, bytes=2048)
    (event,) = diff(_snap(MSG), _snap(new))
    assert event.action == CHANGED
    assert event.fields == ("messages", "bytes")
    assert "messages 1→4" in event.detail
    assert "bytes 8B→2.0K" in event.detail


def test_users_compared_as_pid_sets() -> None:
    reordered = dataclasses.replace(SHM, users=(User(1, "a", via="map"), User(1, "a", fd=3)))
    assert diff(_snap(SHM), _snap(reordered)) == []
    more = dataclasses.replace(SHM, nattch=2, users=(*SHM.users, User(2, "b", via="map")))
    (event,) = diff(_snap(SHM), _snap(more))
    assert event.fields == ("users", "nattch")
    assert "users 1→2" in event.detail and "nattch 1→2" in event.detail


def test_times_are_named_without_values() -> None:
    new = dataclasses.replace(MSG, stime=1_700_000_000.0)
    (event,) = diff(_snap(MSG), _snap(new))
    assert event.fields == ("stime",)
    assert event.detail == "stime"


def test_label_prefers_name() -> None:
    shm = PosixShm(id="/x", name="/x", path="/dev/shm/x")
    (event,) = diff(_snap(), _snap(shm))
    assert event.label == "/x"
    (event,) = diff(_snap(), _snap(SHM))
    assert event.label == "SysV shm 5"


def test_fake_collector_sequence() -> None:
    fake = FakeCollector()
    snaps = [fake() for _ in range(5)]
    got = [[(e.action, e.kind, e.id) for e in diff(a, b)] for a, b in itertools.pairwise(snaps)]
    assert (CREATED, Kind.POSIX_SHM, "/fresh") in got[1]
    assert (REMOVED, Kind.POSIX_SHM, "/psm_old") in got[2]
    assert all((CHANGED, Kind.SYSV_MSG, "0") in step for step in got)
