"""The real TUI, in a real terminal (tmux), while processes churn IPC as fast as they can.

Churners create and drop /dev/shm files, pipes and sockets and fork short-lived children
(tests/churn.py) for a bounded time; ``ipctop`` runs in a private tmux server meanwhile. The
status line's clock must keep moving, memory must stay bounded, ``q`` must quit promptly, and a
/dev/shm name made by another user to retitle the terminal must not retitle it. The churners and
the tmux server are always killed at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from churn import Churn

from tests.attacker import become_attacker
from tests.conftest import Cleanup, run_and_exit, unique_name

CHURN_SECONDS = 40.0
"""Upper bound on the churners' life (the test stops them sooner)."""
WATCH_SECONDS = 14
"""How long the clock and memory are sampled under churn."""
MAX_STALE = 5.0
"""The status line's clock may lag the wall clock by this much at most (it ticks each second)."""
MAX_GROWTH_KB = 60 * 1024
"""RSS may grow by this much over the window (the old TUI grew ~3 MB a second without end)."""
QUIT_WITHIN = 10.0
ROOT = Path(__file__).resolve().parent.parent


def tmux_binary() -> str:
    """tmux, installed with apt when missing and we are root (a fresh CI machine)."""
    found = shutil.which("tmux")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600,
                       capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "tmux"], env=env, check=False,
                       timeout=600, capture_output=True)
        found = shutil.which("tmux")
        if found:
            return found
    pytest.skip("tmux is not installed and cannot be installed here (not root)")


@dataclass
class Tmux:
    binary: str
    server: str

    def __call__(self, *args: str) -> str:
        done = subprocess.run([self.binary, "-L", self.server, *args], capture_output=True,
                              text=True, timeout=30, check=False)
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "ipctop")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(tmux_binary(), f"ipctop-test-{os.getpid()}-{unique_name()[-8:]}")
    try:
        yield t
    finally:
        t("kill-server")


@pytest.fixture
def churn() -> Iterator[Churn]:
    c = Churn(unique_name())
    try:
        yield c
    finally:
        c.stop()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def clock_lag(screen: str) -> float | None:
    """Seconds between the wall clock and the clock on the status line (None: not drawn)."""
    first = screen.splitlines()[0] if screen else ""
    m = re.search(r"\b(\d\d):(\d\d):(\d\d)\b", first)
    if not m:
        return None
    now = time.localtime()
    shown = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
    lag = now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec - shown
    return lag + 86400 if lag < -43200 else lag  # across midnight


def plant_title_attack(cleanup: Cleanup) -> str | None:
    """As nobody (when we are root): a /dev/shm name that would retitle the terminal."""
    if os.geteuid() != 0:
        return None
    path = f"/dev/shm/{unique_name()}\x1b]2;PWNED-TITLE\x07"

    def make() -> None:
        become_attacker()
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    run_and_exit(make)
    cleanup(lambda: os.unlink(path))
    return path


def test_tui_stays_live_under_ipc_churn(tmux: Tmux, churn: Churn, cleanup: Cleanup) -> None:
    attack = plant_title_attack(cleanup)
    env = f"cd {ROOT} && exec env PYTHONPATH={ROOT} {sys.executable} -m ipctop --interval 1"
    tmux("new-session", "-d", "-s", "ipctop", "-x", "160", "-y", "45", env)
    pid = int(tmux("list-panes", "-t", "ipctop", "-F", "#{pane_pid}").strip())
    deadline = time.monotonic() + 30
    # The first poll applied (the status counts the objects): with another engineer's load
    # of thousands of objects on the machine, the first frame comes long before the TUI holds
    # them, and the memory they take is not growth under churn.
    while clock_lag(tmux.screen()) is None or not re.search(r"\d objects", tmux.screen()):
        assert time.monotonic() < deadline, f"no first poll shown:\n{tmux.screen()}"
        time.sleep(0.2)

    churn.start(CHURN_SECONDS)
    time.sleep(3)  # the churn is on; the first inotify bursts are in
    start_rss = rss_kb(pid)
    lags: list[float] = []
    peak = start_rss
    for _ in range(WATCH_SECONDS):
        time.sleep(1)
        lag = clock_lag(tmux.screen())
        assert lag is not None, tmux.screen()
        lags.append(lag)
        peak = max(peak, rss_kb(pid))
    assert churn.alive() >= 3, "the churners died early: the test measured nothing"
    print(f"\nclock lag under churn (s): {lags}; RSS {start_rss} -> {peak} kB")
    assert max(lags) <= MAX_STALE, lags
    assert peak - start_rss <= MAX_GROWTH_KB, (start_rss, peak)

    if attack is not None:  # filter down to it, so its row is drawn
        stem = attack.split("/")[-1].split("\x1b")[0]
        tmux("send-keys", "-t", "ipctop", "/", stem, "Enter")
        deadline = time.monotonic() + 10
        while "PWNED-TITLE" not in tmux.screen():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.2)
        assert "\\x1b]2;PWNED-TITLE\\x07" in tmux.screen()
        assert "PWNED" not in tmux("display-message", "-p", "-t", "ipctop", "#{pane_title}")

    t0 = time.monotonic()
    tmux("send-keys", "-t", "ipctop", "q")
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() - t0 < QUIT_WITHIN, "q did not quit under churn"
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    print(f"quit {time.monotonic() - t0:.1f} s after q")
