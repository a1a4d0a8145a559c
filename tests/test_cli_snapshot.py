"""`ipctop snapshot`: the table and the JSON interface (schema ipctop.snapshot/1), on real objects,
through a real process so what users see (stdout, stderr, exit status) is what is tested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import posix_ipc
import pytest
import sysv_ipc
from conftest import unique_key, unique_name

from ipctop.commands.snapshot import render_tables
from ipctop.kinds import PosixShm, SysvShm
from ipctop.model import Kind, Limits, Process, Signals, Snapshot, Unreadable, User


def ipctop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def objects() -> Iterator[dict[str, Any]]:
    """A SysV segment attached by us and a POSIX shm we hold open, both removed afterwards."""
    seg = sysv_ipc.SharedMemory(unique_key(), sysv_ipc.IPC_CREX, size=12288, mode=0o640)
    name = "/" + unique_name()
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096, mode=0o600)
    try:
        yield {"seg": seg, "shm": shm, "name": name}
    finally:
        seg.detach()
        seg.remove()
        os.close(shm.fd)
        shm.unlink()


def test_json_has_the_documented_top_level_shape(objects: dict[str, Any]) -> None:
    out = ipctop("snapshot", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "ipctop.snapshot/1"
    assert {"taken_at", "hostname", "objects", "processes", "unreadable"} <= doc.keys()
    assert isinstance(doc["unreadable"]["count"], int)
    assert isinstance(doc["unreadable"]["sample"], list)
    common = {"kind", "id", "key", "name", "owner", "uid", "mode", "size", "users", "leak"}
    for obj in doc["objects"]:
        assert common <= obj.keys(), obj
        assert obj["kind"] in {k.value for k in Kind}


def test_json_lists_our_objects_with_us_as_user(objects: dict[str, Any]) -> None:
    doc = json.loads(ipctop("snapshot", "--json").stdout)
    seg = objects["seg"]
    by_id = {(o["kind"], o["id"]): o for o in doc["objects"]}
    shm_row = by_id[("sysv_shm", str(seg.id))]
    assert shm_row["key"] == f"0x{seg.key & 0xFFFFFFFF:08x}"
    assert shm_row["size"] == 12288 and shm_row["mode"] == "0640"
    # The child python that ran the snapshot does not attach; we (the test process) do.
    assert os.getpid() in {u["pid"] for u in shm_row["users"]}
    posix_row = by_id[("posix_shm", objects["name"])]
    ours = [u for u in posix_row["users"] if u["pid"] == os.getpid()]
    assert ours and ours[0]["via"] == "fd" and ours[0]["fd"] == objects["shm"].fd
    assert os.getpid() in {p["pid"] for p in doc["processes"]}


def test_kind_narrows_output(objects: dict[str, Any]) -> None:
    doc = json.loads(ipctop("snapshot", "--json", "--kind", "sysv-shm").stdout)
    assert doc["objects"] and {o["kind"] for o in doc["objects"]} == {"sysv_shm"}
    doc = json.loads(ipctop("snapshot", "--json", "--kind", "posix_shm,sysv-shm").stdout)
    assert {o["kind"] for o in doc["objects"]} == {"sysv_shm", "posix_shm"}


def test_table_groups_by_kind(objects: dict[str, Any]) -> None:
    out = ipctop("snapshot", "--kind", "sysv-shm", "--kind", "posix-shm")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("SysV shm (") for line in lines)
    assert any(line.startswith("POSIX shm (") for line in lines)
    assert not any(line.startswith("Pipes (") for line in lines)
    assert any(objects["name"] in line for line in lines)


@pytest.mark.parametrize("args", [["--kind", "nonsense"], ["--bogus"], ["--kind", ""]])
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    out = ipctop("snapshot", *args)
    if args == ["--kind", ""]:  # empty means every kind: allowed
        assert out.returncode == 0
        return
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_render_tables_from_a_built_snapshot() -> None:
    now = 1_700_000_000.0
    seg = SysvShm(id="7", key="0x0000002a", owner="alice", uid=1000, mode="0600", size=2048,
                  nattch=1, cpid=10, lpid=11, dest=True, atime=now - 120,
                  users=(User(11, "worker", None, "rw", "map"),))
    shm = PosixShm(id="/buf", name="/buf", path="/dev/shm/buf", size=1 << 20, ctime=now - 7200)
    proc = Process(pid=11, ppid=1, comm="worker", cmdline="worker --x", user="alice", uid=1000,
                   signals=Signals(pending=("SIGUSR1",), blocked=("SIGUSR1",)))
    snap = Snapshot(taken_at=now, hostname="h", objects=(seg, shm), processes=(proc,),
                    notices=("/dev/mqueue is not mounted",), limits=Limits(),
                    unreadable=Unreadable(1, ("/proc/1/fd: Permission denied",)))
    text = render_tables(snap, now=now)
    assert "SysV shm (1)" in text and "POSIX shm (1)" in text and "Pipes (0)" in text
    seg_line = next(line for line in text.splitlines() if line.lstrip().startswith("7 "))
    assert "0x0000002a" in seg_line and "dest" in seg_line and "2m" in seg_line
    assert "11/worker" in seg_line
    assert "1.0M" in text and "2h" in text
    assert "Pending signals (1)" in text and "SIGUSR1" in text
    assert "note: /dev/mqueue is not mounted" in text
    assert "note: 1 process could not be fully read (/proc/1/fd: Permission denied)" in text
