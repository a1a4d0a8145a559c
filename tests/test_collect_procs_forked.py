"""collect.procs: the /proc scan split among forked helpers (``scan(workers=N)``).

The forked scan must find what a single process finds, in the same order, and every way a helper
can fail (no fork, a crash, garbage on the pipe, Ctrl-C in the parent) must end with the same
result or the parent's own exception, and no helper left running or unreaped.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from conftest import Spawn

from ipctop.collect import procs, scan_split
from ipctop.collect.procs import FdUse, MapUse, ProcScan, scan
from ipctop.model import Process

_keep: list[object] = []
"""Objects a forked child must keep alive (it never returns, so this only grows in children)."""


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The pids of the scan helpers forked during the test; every helper forks, whatever the
    number of processes on the machine (at least one pid per share)."""
    monkeypatch.setattr(procs, "MIN_PIDS_PER_WORKER", 1)
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    yield pids
    for pid in pids:  # reaped: a waitpid of our own child that is gone raises
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.fixture
def holders(spawn: Spawn, tmp_path: Path) -> list[int]:
    """Three children holding a pipe end and a shared mapping of a file."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"\0" * 4096)

    def body() -> bytes:
        r, _w = os.pipe()
        f = os.open(path, os.O_RDONLY)
        _keep.append(mmap.mmap(f, 4096, mmap.MAP_SHARED, mmap.PROT_READ))
        _keep.append(r)
        return b""

    return [spawn(body).pid for _ in range(3)]


def view(
    result: ProcScan, pids: list[int],
) -> tuple[list[Process], list[FdUse], list[MapUse]]:
    """What a scan says about ``pids``: processes, fds and maps, in the scan's order."""
    wanted = set(pids)
    return (
        [result.processes[pid] for pid in pids],
        [f for f in result.fds if f.pid in wanted],
        [m for m in result.maps if m.pid in wanted],
    )


def test_forked_scan_finds_what_one_process_finds(holders: list[int], forks: list[int]) -> None:
    single = scan()
    assert forks == []
    forked = scan(workers=3)
    assert len(forks) == 2
    assert view(forked, holders) == view(single, holders)
    _, fds, maps = view(forked, holders)
    assert {f.pid for f in fds if f.target.startswith("pipe:[")} == set(holders)
    assert sorted(m.pid for m in maps if m.path.endswith("/data.bin")) == sorted(holders)
    others = set(single.processes) & set(forked.processes) - {os.getpid()}
    assert len(others) >= len(single.processes) - 5  # a few may come and go between scans
    # The processes come in the same order. Compared per process, not per fd: a busy machine's
    # processes open and close fds between the two scans.
    in_both = others & {f.pid for f in forked.fds} & {f.pid for f in single.fds}
    order = list(dict.fromkeys(f.pid for f in forked.fds if f.pid in in_both))
    assert order == list(dict.fromkeys(f.pid for f in single.fds if f.pid in in_both))
    # The same refusals; processes that vanish between the two scans differ from run to run.
    def refused(scan_: ProcScan) -> set[str]:
        return {line for line in scan_.unreadable.sample if "vanished" not in line}

    assert refused(forked) == refused(single)


def test_forked_scan_without_fork_scans_here(holders: list[int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "MIN_PIDS_PER_WORKER", 1)

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert view(scan(workers=2), holders) == view(scan(), holders)


def test_forked_scan_helper_sending_garbage_is_redone_here(
    holders: list[int], forks: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(procs._Scanner, "pack", lambda self: b"\x00not marshal")
    result = scan(workers=2)
    assert len(forks) == 1
    assert view(result, holders) == view(scan(), holders)


def test_forked_scan_helper_crashing_is_redone_here(
    holders: list[int], forks: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(self: object) -> bytes:
        raise RuntimeError("helper broke")

    monkeypatch.setattr(procs._Scanner, "pack", crash)
    result = scan(workers=4)
    assert len(forks) == 3
    assert view(result, holders) == view(scan(), holders)


def test_forked_scan_interrupted_kills_and_reaps_helpers(
    forks: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = os.getpid()
    real = procs._Scanner.run_pids

    def slow_helpers(self: procs._Scanner, pids: Iterable[int], proc_fd: int) -> None:
        if os.getpid() != parent:
            os.pause()  # a helper that never finishes, until the parent kills it
        real(self, pids, proc_fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(procs._Scanner, "run_pids", slow_helpers)
    with pytest.raises(KeyboardInterrupt):
        scan(workers=2)
    assert len(forks) == 1  # the fixture checks it was reaped


def test_scan_workers_follows_cpus_and_environment(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    quiet = tmp_path / "quiet"
    quiet.write_text("0.00 0.01 0.05 1/120 4242\n")  # runnable: the reader alone
    monkeypatch.delenv(scan_split.WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert scan_split.scan_workers(str(quiet)) == scan_split.MAX_WORKERS
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert scan_split.scan_workers(str(quiet)) == 1
    monkeypatch.setenv(scan_split.WORKERS_ENV, "3")
    assert scan_split.scan_workers(str(quiet)) == 3
    monkeypatch.setenv(scan_split.WORKERS_ENV, "0")
    assert scan_split.scan_workers(str(quiet)) == 1


def test_scan_workers_leave_busy_cpus_alone(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """A helper is forked only onto a CPU no other task is running on: on a busy machine it
    would only add the fork's cost."""
    monkeypatch.delenv(scan_split.WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    loadavg = tmp_path / "loadavg"
    for running, workers in ((1, 4), (2, 3), (4, 1), (9, 1)):
        loadavg.write_text(f"3.10 2.00 1.50 {running}/300 4242\n")
        assert scan_split.scan_workers(str(loadavg)) == workers, running
    for text in ("", "garbage\n", "1 2 3 x/300 4\n"):  # unreadable: every CPU, as before
        loadavg.write_text(text)
        assert scan_split.scan_workers(str(loadavg)) == 4
    assert scan_split.scan_workers(str(tmp_path / "missing")) == 4
    monkeypatch.setenv(scan_split.WORKERS_ENV, "2")  # the environment still decides
    loadavg.write_text("9.00 9.00 9.00 9/300 4242\n")
    assert scan_split.scan_workers(str(loadavg)) == 2


def test_few_processes_are_not_split(forks: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "MIN_PIDS_PER_WORKER", 10**6)
    assert os.getpid() in scan(workers=4).processes
    assert forks == []
