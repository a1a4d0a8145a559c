"""The benchmarks' loads leave nothing behind: a tiny load of real objects and processes is built,
checked to exist, and checked to be gone after the ``with`` block, after an exception inside it,
and (for the big load) after its builder is killed with SIGKILL and a sweep runs.

Only the teardown is tested here; the benchmarks themselves are run by hand (docs/bench.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from bigload import BigLoad, BigSpec, lock_dir, sweep_big  # noqa: E402
from load import Load, LoadSpec  # noqa: E402
from loadkit import alive  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the loads are built as root")

TINY = BigSpec(sysv_segments=3, sysv_queues=2, sem_sets=2, shm_files=3, mqueues=1, pipes=6,
               processes=2, ready_timeout=30.0)


def _sysv_ids(kind: str) -> set[int]:
    with open(f"/proc/sysvipc/{kind}") as f:
        return {int(line.split()[1]) for line in f.readlines()[1:]}


def _pipes_held(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                n += 1
        except OSError:
            continue
    return n


def _put_back(load: BigLoad) -> list[tuple[str, str]]:
    """The limits the load raised, as (path, value it set): to check they are back after."""
    return [(lim.path, lim.new) for lim in load.raised]


def _assert_put_back(raised: list[tuple[str, str]]) -> None:
    for path, new in raised:  # back to the old value (or someone else's since): not ours
        with open(path) as f:
            assert f.read().split() != new.split()


def _wait_dead(pids: list[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _made(load: BigLoad) -> dict[str, object]:
    return {"shm": list(load.shm_ids), "msg": list(load.msg_ids), "sem": list(load.sem_ids),
            "files": list(load.shm_paths), "mq": list(load.mq_names), "pids": list(load.pids),
            "lock": load._lock_path}


def _assert_present(made: dict[str, object]) -> None:
    for kind in ("shm", "msg", "sem"):
        ids = made[kind]
        assert isinstance(ids, list) and ids
        assert set(ids) <= _sysv_ids(kind)
    for path in made["files"]:  # type: ignore[attr-defined]
        assert os.path.exists(path)
    for name in made["mq"]:  # type: ignore[attr-defined]
        assert os.path.exists(f"/dev/mqueue{name}")
    pids = made["pids"]
    assert isinstance(pids, list) and len(pids) == TINY.processes
    # Every pipe is held: 6 pipes, write ends in each child, read ends in the next (the last
    # child holds both ends of its own), plus each child's end of the release pipe (and, for a
    # moment after it said ready, of the ready pipe: wait for it to close that one).
    want = 2 * TINY.pipes + len(pids)
    deadline = time.monotonic() + 10
    while sum(_pipes_held(pid) for pid in pids) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sum(_pipes_held(pid) for pid in pids) == want
    assert os.path.exists(str(made["lock"]))


def _assert_gone(made: dict[str, object]) -> None:
    for kind in ("shm", "msg", "sem"):
        assert not set(made[kind]) & _sysv_ids(kind)  # type: ignore[arg-type]
    for path in made["files"]:  # type: ignore[attr-defined]
        assert not os.path.exists(path)
    for name in made["mq"]:  # type: ignore[attr-defined]
        assert not os.path.exists(f"/dev/mqueue{name}")
    for pid in made["pids"]:  # type: ignore[attr-defined]
        assert not alive(pid)
    assert not os.path.exists(str(made["lock"]))


def test_big_load_is_built_and_torn_down() -> None:
    with BigLoad(TINY) as load:
        made, raised = _made(load), _put_back(load)
        _assert_present(made)
        assert load.objects == 3 + 2 + 2 + 3 + 1 + 6
    _assert_gone(made)
    _assert_put_back(raised)


def test_big_load_is_torn_down_after_an_exception() -> None:
    made: dict[str, object] = {}
    raised: list[tuple[str, str]] = []
    with pytest.raises(RuntimeError, match="boom"), BigLoad(TINY) as load:
        made, raised = _made(load), _put_back(load)
        _assert_present(made)
        raise RuntimeError("boom")
    _assert_gone(made)
    _assert_put_back(raised)


def test_sweep_removes_what_a_killed_big_load_left() -> None:
    """The builder is SIGKILLed (no teardown runs); its children die with it (parent-death
    signal) and the next sweep removes its objects and its lock file."""
    code = textwrap.dedent(f"""
        import json, os, signal, sys
        sys.path.insert(0, {str(BENCH)!r})
        from bigload import BigLoad, BigSpec
        load = BigLoad(BigSpec(sysv_segments=3, sysv_queues=2, sem_sets=2, shm_files=3,
                               mqueues=1, pipes=6, processes=2))
        load.start()
        print(json.dumps({{"shm": load.shm_ids, "msg": load.msg_ids, "sem": load.sem_ids,
                          "files": load.shm_paths, "mq": load.mq_names, "pids": load.pids,
                          "lock": load._lock_path}}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == -signal.SIGKILL, res.stderr
    made: dict[str, object] = json.loads(res.stdout)
    for kind in ("shm", "msg", "sem"):
        assert set(made[kind]) <= _sysv_ids(kind)  # type: ignore[arg-type]
    assert os.path.exists(str(made["lock"]))
    assert str(made["lock"]).startswith(lock_dir())
    _wait_dead(made["pids"])  # type: ignore[arg-type]  # killed with their parent
    removed = sweep_big()
    assert str(made["lock"]) in removed
    _assert_gone(made)


def test_process_load_is_torn_down() -> None:
    with Load(LoadSpec(processes=7, sysv_segments=1, posix_shm_files=1, fifos=1, mqueues=1,
                       ready_timeout=30.0)) as load:
        shm, msg, sem = list(load.shm_ids), list(load.msg_ids), list(load.sem_ids)
        files, mqs, pids = list(load.shm_paths), list(load.mq_names), list(load.pids)
        fifo_dir = load.fifo_dir
        assert set(shm) <= _sysv_ids("shm") and set(msg) <= _sysv_ids("msg")
        assert set(sem) <= _sysv_ids("sem")
        assert all(os.path.exists(p) for p in files)
        assert all(os.path.exists(f"/dev/mqueue{n}") for n in mqs)
        assert len(pids) == 7 and all(alive(p) for p in pids)
        assert fifo_dir is not None and os.path.isdir(fifo_dir)
    assert not set(shm) & _sysv_ids("shm") and not set(msg) & _sysv_ids("msg")
    assert not set(sem) & _sysv_ids("sem")
    assert not any(os.path.exists(p) for p in files)
    assert not any(os.path.exists(f"/dev/mqueue{n}") for n in mqs)
    assert not any(alive(p) for p in pids)
    assert not os.path.exists(fifo_dir)
