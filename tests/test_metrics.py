"""ipctop.metrics: which series a Snapshot becomes, checked by parsing the text format back with
prometheus_client's own parser (the format a scraper reads), on hand-made snapshots."""

from __future__ import annotations

import math

import pytest
from fakes import T0, base_objects
from prometheus_client.parser import text_string_to_metric_families

from ipctop.kinds import Pipe, PosixMq, PosixShm, SysvMsg, SysvShm
from ipctop.meters import meters
from ipctop.metrics import QUEUED_BYTES_KINDS, families, label_text, largest, render
from ipctop.model import Kind, Leak, Limits, Snapshot, Unreadable, User

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: bytes) -> Samples:
    """name -> {sorted labels: value}, through prometheus_client.parser."""
    out: Samples = {}
    for fam in text_string_to_metric_families(text.decode("utf-8")):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def by_kind(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["kind"]: v for labels, v in samples.get(name, {}).items()}


LIMITS = Limits(page_size=4096, shmall=1 << 63, shmmni=4096, msgmni=32000, semmni=None,
                mq_queues_max=256, devshm_size=1 << 30, devshm_used=900 << 20)


def shm(id_: str, size: int, **kw: object) -> SysvShm:
    return SysvShm(id=id_, key=f"0x{int(id_):08x}", owner="alice", uid=1000, size=size,
                   nattch=0, cpid=1, lpid=1, **kw)  # type: ignore[arg-type]


def snap(*objects: object, unreadable: int = 0) -> Snapshot:
    return Snapshot(taken_at=T0, hostname="h", objects=tuple(objects),  # type: ignore[arg-type]
                    unreadable=Unreadable(count=unreadable), limits=LIMITS)


def test_per_kind_series_count_sum_and_cover_every_kind() -> None:
    s = snap(
        shm("1", 4096), shm("2", 8192, leak=Leak("gone", reclaim_bytes=8192)),
        SysvMsg(id="3", size=16384, messages=4, bytes=40, lspid=0, lrpid=0),
        PosixMq(id="/q", name="/q", size=8192, messages=2, bytes=10),
        Pipe(id="77", bytes=5, leak=Leak("?", status="unknown")),
        unreadable=3,
    )
    m = parse(render(s, top=20, duration=0.25))
    assert by_kind(m, "ipctop_objects") == {
        k.value: {"sysv_shm": 2, "sysv_msg": 1, "posix_mq": 1, "pipe": 1}.get(k.value, 0)
        for k in Kind}
    sizes = by_kind(m, "ipctop_object_bytes")
    assert sizes["sysv_shm"] == 12288 and sizes["sysv_msg"] == 16384 and sizes["pipe"] == 0
    assert by_kind(m, "ipctop_queue_messages") == {"sysv_msg": 4, "posix_mq": 2}
    queued = by_kind(m, "ipctop_queue_bytes")
    assert queued == {k.value: {"sysv_msg": 40, "posix_mq": 10, "pipe": 5}.get(k.value, 0)
                      for k in QUEUED_BYTES_KINDS}
    assert {"sysv_msg", "posix_mq", "pipe", "fifo", "unix_socket"} <= queued.keys()
    assert "sysv_shm" not in queued
    leaks = {(dict(k)["kind"], dict(k)["status"]): v for k, v in m["ipctop_leaks"].items()}
    assert len(leaks) == len(Kind) * 3  # zeros too: an alert never meets a missing series
    assert leaks[("sysv_shm", "leak")] == 1 and leaks[("pipe", "unknown")] == 1
    assert sum(leaks.values()) == 2
    assert m["ipctop_leak_reclaimable_bytes"][()] == 8192
    assert m["ipctop_unreadable_processes"][()] == 3
    assert m["ipctop_scrape_duration_seconds"][()] == 0.25


def test_limits_are_the_tui_meters_with_unlimited_as_inf() -> None:
    s = snap(shm("1", 4096), shm("2", 4096))
    m = parse(render(s, top=0, duration=0))
    used = {dict(k)["limit"]: v for k, v in m["ipctop_limit_used"].items()}
    most = {dict(k)["limit"]: v for k, v in m["ipctop_limit_max"].items()}
    assert used == {mt.key: mt.used for mt in meters(s)}  # the very figures the header shows
    assert used["sysv_shm_bytes"] == 8192 and used["sysv_shm_segments"] == 2
    assert used["dev_shm_bytes"] == 900 << 20 and most["dev_shm_bytes"] == 1 << 30
    assert math.isinf(most["sysv_shm_bytes"])  # shmall: the kernel's "no limit"
    assert "sysv_sem_sets" not in most  # semmni unreadable: no series rather than a guess
    assert most["posix_mq_queues"] == 256


def test_kinds_not_asked_for_have_no_series_and_no_limit_use() -> None:
    s = snap(shm("1", 4096))
    m = parse(render(s, kinds={Kind.SYSV_SHM}, top=20, duration=0))
    assert by_kind(m, "ipctop_objects") == {"sysv_shm": 1}
    assert "ipctop_queue_messages" not in m
    used = {dict(k)["limit"] for k in m["ipctop_limit_used"]}
    assert used == {"sysv_shm_bytes", "sysv_shm_segments", "dev_shm_bytes"}


def test_per_object_series_only_for_the_largest_sized_objects() -> None:
    objs = [shm(str(i), 4096 * i) for i in range(1, 8)] + [Pipe(id="9")]
    s = snap(*objs)
    m = parse(render(s, top=3, duration=0))
    sizes = m["ipctop_object_size_bytes"]
    assert sorted(sizes.values(), reverse=True) == [4096 * 7, 4096 * 6, 4096 * 5]
    ids = {dict(k)["id"] for k in sizes}
    assert ids == {"7", "6", "5"}
    assert set(m["ipctop_object_processes"]) == set(sizes)
    assert "ipctop_object_size_bytes" not in parse(render(s, top=0, duration=0))
    # No size, no place among the largest: pipes never crowd out real memory.
    assert [o.id for o in largest(objs, 100)][-1] == "1"
    assert all(o.kind is Kind.SYSV_SHM for o in largest(objs, 100))


def test_per_object_labels_and_process_count() -> None:
    users = (User(pid=10, comm="a", fd=3), User(pid=10, comm="a", fd=4),
             User(pid=11, comm="b", via="map"))
    s = snap(PosixShm(id="/data", name="/data", owner="bob", uid=7, size=1 << 20,
                      path="/dev/shm/data", users=users))
    m = parse(render(s, top=5, duration=0))
    [(labels, value)] = m["ipctop_object_size_bytes"].items()
    # "" is no label to Prometheus: a POSIX name has no key; the host has no container.
    assert dict(labels) == {"kind": "posix_shm", "id": "/data", "key": "", "name": "/data",
                            "owner": "bob", "container": "", "namespace": ""}
    assert value == 1 << 20
    assert m["ipctop_object_processes"][labels] == 2  # two processes, three uses


def test_names_that_are_not_utf8_or_need_escaping_never_fail_the_scrape() -> None:
    nasty = '/evil"\\\n{x="1"}'
    raw = b"/\xff\xfename".decode("utf-8", "surrogateescape")  # how os.listdir hands it over
    s = snap(PosixShm(id=raw, name=raw, size=100, path="/dev/shm/" + raw),
             PosixShm(id=nasty, name=nasty, size=50, path="/dev/shm/x"),
             PosixShm(id="/lone", name="/lone\ud800", size=10, path="/dev/shm/lone"))
    m = parse(render(s, top=5, duration=0))
    names = {dict(k)["name"] for k in m["ipctop_object_size_bytes"]}
    assert names == {"/\\xff\\xfename", nasty, "/lone\\ud800"}
    assert label_text(b"/a\xffb") == "/a\\xffb"
    assert label_text(None) == "" and label_text(5) == "5"


def test_objects_of_containers_carry_container_and_namespace() -> None:
    box = {"container": "docker 3f1a9c2b7d4e", "ns_pid": 4242}
    s = snap(shm("5", 8192), shm("5", 4096, ipc_ns=4026532451, **box),
             PosixShm(id="/c", name="/c", size=100, path="/dev/shm/c", mnt_ns=4026532450, **box),
             SysvMsg(id="1", size=16, messages=0, bytes=0, lspid=0, lrpid=0, ipc_ns=4026532451,
                     **box))
    m = parse(render(s, top=5, duration=0))
    where = {(dict(k)["kind"], dict(k)["id"], dict(k)["namespace"]): dict(k)["container"]
             for k in m["ipctop_object_size_bytes"]}
    assert where == {  # the same shmid in two IPC namespaces: two series
        ("sysv_shm", "5", ""): "", ("sysv_shm", "5", "ipc:[4026532451]"): "docker 3f1a9c2b7d4e",
        ("posix_shm", "/c", "mnt:[4026532450]"): "docker 3f1a9c2b7d4e",
        ("sysv_msg", "1", "ipc:[4026532451]"): "docker 3f1a9c2b7d4e"}
    per = {(dict(k)["container"], dict(k)["kind"]): v
           for k, v in m["ipctop_container_objects"].items()}
    assert per == {("docker 3f1a9c2b7d4e", "sysv_shm"): 1, ("docker 3f1a9c2b7d4e", "posix_shm"): 1,
                   ("docker 3f1a9c2b7d4e", "sysv_msg"): 1}
    assert by_kind(m, "ipctop_objects")["sysv_shm"] == 2  # per kind: every namespace


def test_same_labels_twice_give_one_series() -> None:
    # SysV ids repeat across IPC namespaces; two identical label sets would make Prometheus
    # refuse the whole scrape.
    s = snap(shm("5", 8192), shm("5", 4096))
    m = parse(render(s, top=5, duration=0))
    assert list(m["ipctop_object_size_bytes"].values()) == [8192]


def test_families_of_fixture_objects_are_all_gauges_with_help() -> None:
    s = Snapshot(taken_at=T0, hostname="h", objects=tuple(base_objects()), limits=LIMITS)
    fams = families(s, top=20, duration=0.1)
    assert {f.type for f in fams} == {"gauge"}
    assert all(f.name.startswith("ipctop_") and f.documentation for f in fams)
    for f in fams:
        if f.name.endswith(("_bytes", "_seconds")):
            assert f.unit in ("bytes", "seconds"), f.name


@pytest.mark.parametrize("top", [0, 1, 1000])
def test_rendered_text_parses_whatever_top(top: int) -> None:
    s = Snapshot(taken_at=T0, hostname="h", objects=tuple(base_objects()), limits=LIMITS)
    parsed = parse(render(s, top=top, duration=0))
    assert sum(parsed["ipctop_objects"].values()) == len(base_objects())
