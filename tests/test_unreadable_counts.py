"""Unreadable means "exists and refused": processes that exit during a scan are not counted,
and kernel threads (which hold no IPC) are not counted for a normal user either."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from churn import Churn
from test_collect_procs import make_pid, make_proc

from ipctop.collect import procs
from ipctop.collect.procs import scan, stat_kthread
from tests.attacker import become_attacker
from tests.conftest import run_and_exit, unique_name


def kthread(pid: int) -> bool | None:
    """Whether ``pid`` is a kernel thread now (None: it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return "\nKthread:\t1" in status or pid == 2 or "\nPPid:\t2\n" in status


def test_processes_that_exit_during_scans_are_not_unreadable() -> None:
    quiet = max(scan().unreadable.count for _ in range(2))
    churn = Churn(unique_name()).start(30, ["fork", "pipe"], per_kind=2)
    try:
        seen = [scan().unreadable for _ in range(6)]
        assert churn.alive() == 4, "the churners died early: nothing was measured"
    finally:
        churn.stop()
    samples = [s for u in seen for s in u.sample]
    assert not [s for s in samples if "vanished" in s], samples
    assert max(u.count for u in seen) <= quiet, [u.count for u in seen]


def test_a_refusal_from_a_process_that_exits_meanwhile_is_not_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 200, fds={3: "pipe:[1]"})
    make_pid(proc, 300, fds={3: "pipe:[2]"})
    real_listdir = os.listdir

    def refusing(path: str | os.PathLike[str] = ".") -> list[str]:
        text = str(path)
        if text.endswith(("/200/fd", "/300/fd")):
            if "/300/" in text:  # 300 exits while we are refused
                os.rename(proc / "300", tmp_path / "300-gone")
            raise PermissionError(13, "Permission denied", text)
        return real_listdir(path)

    monkeypatch.setattr(procs.os, "listdir", refusing)
    result = scan(proc, live=False)
    assert result.unreadable.count == 1
    assert list(result.unreadable.sample) == [f"{proc}/200/fd: Permission denied"]


def test_stat_flags_tell_a_kernel_thread() -> None:
    assert stat_kthread(Path("/proc/2/stat").read_bytes())
    assert not stat_kthread(Path("/proc/self/stat").read_bytes())
    assert not stat_kthread(b"1 (a) S")


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to nobody with setuid")
def test_a_normal_user_does_not_count_kernel_threads() -> None:
    def as_nobody() -> bytes:
        become_attacker()
        scanner = procs._Scanner(Path("/proc"), live=True)
        scanner.run()
        return json.dumps(sorted(scanner.bad_pids)).encode()

    bad = json.loads(run_and_exit(as_nobody))
    assert bad, "nobody was refused nothing: the test proves nothing"
    kernel = [pid for pid in bad if kthread(pid)]
    assert not kernel, f"kernel threads counted unreadable: {kernel[:10]}"
