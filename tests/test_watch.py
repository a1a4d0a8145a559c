"""watch.Watcher: real inotify on a temporary directory standing in for /dev/shm, degradation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ipctop.model import Kind
from ipctop.watch import CREATED, MISSED, REMOVED, Watcher, WatchEvent, classify


def test_classify() -> None:
    assert classify("/dev/shm/psm_1") == (Kind.POSIX_SHM, "/psm_1")
    assert classify("/dev/shm/sem.lock") == (Kind.POSIX_SEM, "/lock")
    assert classify("/dev/mqueue/jobs") == (Kind.POSIX_MQ, "/jobs")
    assert classify("/tmp/other") == (None, None)


class Collect:
    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: WatchEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[WatchEvent]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= count, timeout=10), self.events
            return list(self.events)


def test_reports_create_and_delete(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    got = Collect()
    watcher = Watcher(got, dirs=[shm], clock=lambda: 42.0)
    try:
        assert watcher.start() == []
        assert watcher.running and watcher.watching == (shm,)
        (shm / "sem.test").write_bytes(b"x")
        os.unlink(shm / "sem.test")
        events = got.wait_for(2)
    finally:
        watcher.stop()
    assert [(e.action, e.kind, e.id, e.at) for e in events[:2]] == [
        (CREATED, Kind.POSIX_SEM, "/test", 42.0), (REMOVED, Kind.POSIX_SEM, "/test", 42.0)]
    assert not watcher.running


def test_real_dev_shm_if_present() -> None:
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm on this machine")
    got = Collect()
    name = f"ipctop-test-watch-{os.getpid()}"
    watcher = Watcher(got, dirs=[Path("/dev/shm")])
    try:
        watcher.start()
        fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.close(fd)
        os.unlink(f"/dev/shm/{name}")
        mine = [e for e in got.wait_for(1) if e.id == "/" + name]
        with got.cond:
            got.cond.wait_for(lambda: sum(e.id == "/" + name for e in got.events) >= 2, 10)
            mine = [e for e in got.events if e.id == "/" + name]
    finally:
        watcher.stop()
        if os.path.exists(f"/dev/shm/{name}"):
            os.unlink(f"/dev/shm/{name}")
    assert [e.action for e in mine] == [CREATED, REMOVED]


def test_missing_directory_degrades_with_a_notice(tmp_path: Path) -> None:
    watcher = Watcher(lambda e: None, dirs=[tmp_path / "nope"])
    notices = watcher.start()
    assert not watcher.running
    assert len(notices) == 1 and "nope" in notices[0] and "poll" in notices[0]
    watcher.stop()  # harmless


def fail_import(monkeypatch: pytest.MonkeyPatch, err: Exception) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyinotify":
            raise err
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_no_pyinotify_degrades(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fail_import(monkeypatch, ModuleNotFoundError("No module named 'pyinotify'", name="pyinotify"))
    watcher = Watcher(lambda e: None, dirs=[tmp_path])
    notices = watcher.start()
    assert not watcher.running
    assert len(notices) == 1 and notices[0].startswith("pyinotify is not installed")


def test_broken_pyinotify_is_not_called_missing(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    fail_import(monkeypatch, OSError("libc has no inotify_init"))
    notices = Watcher(lambda e: None, dirs=[tmp_path]).start()
    assert len(notices) == 1 and "not installed" not in notices[0]
    assert "installed but failed to import" in notices[0] and "inotify_init" in notices[0]


def test_pyinotify_without_asyncore_says_so() -> None:
    """Python 3.12+ without pyasyncore: the real pyinotify import fails on asyncore, and the
    notice names the cause and the fix instead of claiming pyinotify is missing."""
    code = (
        "import sys, pathlib\n"
        "sys.modules['asyncore'] = None  # as on Python 3.12+ without pyasyncore\n"
        "from ipctop.watch import Watcher\n"
        "print(Watcher(lambda e: None, dirs=[pathlib.Path('.')]).start())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert "asyncore" in done.stdout and "pyasyncore" in done.stdout
    assert "not installed" not in done.stdout


def test_pyinotify_imports_on_this_python() -> None:
    """The dependency pins keep the live watch working on every supported Python (3.12+
    needs pyasyncore): the real import, in a fresh interpreter, must succeed."""
    done = subprocess.run([sys.executable, "-c", "import pyinotify"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_stop_twice_and_callback_errors_do_not_kill_thread(tmp_path: Path) -> None:
    got = Collect()
    calls = 0

    def flaky(event: WatchEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("consumer bug")
        got(event)

    watcher = Watcher(flaky, dirs=[tmp_path])
    try:
        watcher.start()
        (tmp_path / "a").write_text("")
        (tmp_path / "b").write_text("")
        events = got.wait_for(1)
    finally:
        watcher.stop()
        watcher.stop()
    assert events[0].path.endswith("/b")


def test_a_flood_is_reported_in_bounded_bursts(tmp_path: Path) -> None:
    """500 files at once: at most max_burst told one by one per burst, the rest counted in one
    MISSED event per burst; nothing lost from the count (the kernel's queue did not overflow)."""
    got = Collect()
    watcher = Watcher(got, dirs=[tmp_path], min_gap=0.2, max_burst=10)
    try:
        watcher.start()
        for i in range(500):
            (tmp_path / f"f{i}").write_bytes(b"")
        deadline = time.monotonic() + 10
        while sum(e.count for e in got.events) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    events = list(got.events)
    told = [e for e in events if e.action == CREATED]
    missed = [e for e in events if e.action == MISSED]
    assert len(told) + sum(e.count for e in missed) == 500
    assert missed and all(e.count > 0 and e.kind is None for e in missed)
    # a burst's events share its time: none tells more than max_burst, or misses twice
    bursts = Counter((e.at, e.action == MISSED) for e in events)
    assert all(n <= (1 if is_missed else 10) for (_, is_missed), n in bursts.items())
    assert not watcher.running
