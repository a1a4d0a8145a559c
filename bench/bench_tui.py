"""The TUI under load: time to first screen, idle CPU, memory.

Builds the load of bench/load.py (~500 processes), then, for each of --runs runs:

- **real terminal**: starts ``ipctop`` in a private tmux server (``tmux -L ipctop-bench-PID``, a
  ``--width`` x ``--height`` pane) and polls ``capture-pane`` every --poll seconds. It reports the
  time from launch to the first painted frame and to the first frame that shows a known object of
  the load (its first POSIX queue, ``/PREFIX-mq-0``: a row in the table). In the first
  --idle-runs runs it then lets the app settle (--settle s) and samples /proc/PID/stat
  (utime+stime, every thread) over --idle s at the default interval: idle CPU as % of one core.
  VmRSS and VmHWM come from /proc/PID/status after the idle window.
- **headless** (unless --no-headless): a fresh ``python`` runs ``IpcTopApp`` via ``run_test()``
  and reports when the table first holds rows, with its import time, so the two are comparable.

    .venv/bin/python bench/bench_tui.py                    # 500 processes, 5 runs, 3 x 30 s idle
    .venv/bin/python bench/bench_tui.py --runs 3 --idle-runs 1 --idle 60

The tmux server is ours alone and is killed at the end (also on Ctrl-C), with the ipctop in it.
Aims: first screen < 1 s, idle CPU < 2% of a core, RSS < 100 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchutil import (
    REPO,
    DirChurn,
    bench_env,
    ipctop_argv,
    machine_line,
    proc_cpu_seconds,
    proc_status_kb,
)
from bigload import BigLoad, scaled
from load import Load, LoadSpec
from loadkit import signals_as_exit
from tui_headless import one_headless_run
from tui_keys import key_latencies, view_shown
from tui_report import Aims, profile_summary, report


@dataclass
class TmuxRun:
    first_paint: float
    first_objects: float
    """To the frame that shows the load's objects (a marker row, or the status bar's count)."""
    first_status: float
    """To the frame whose status bar counts objects."""
    idle_cpu_pct: float | None = None
    polls_cpu_ms: float | None = None
    cpu_wait_pct: float | None = None
    """Time its threads waited for a CPU (schedstat run_delay), % of the idle window: how far a
    saturated machine held it back (idle CPU then understates what it would use)."""
    """CPU per poll interval (idle CPU seconds / intervals in the window)."""
    rss_mb: float | None = None
    hwm_mb: float | None = None
    rss_first_mb: float | None = None
    churn: int | None = None
    """/dev/shm and /dev/mqueue create/delete events in the idle window (each makes a poll)."""
    keys: dict[str, list[float | None]] | None = None
    """Key latencies (tui_keys.key_latencies), first run only."""
    uid: int | None = None
    """The real uid ipctop ran as (--user)."""

    def one_line(self) -> str:
        text = (f"uid {self.uid}: first paint {self.first_paint:.2f} s, "
                f"objects {self.first_objects:.2f} s")
        if self.idle_cpu_pct is not None:
            text += (f", idle CPU {self.idle_cpu_pct:.1f}% (waited for a CPU "
                     f"{self.cpu_wait_pct or 0:.1f}%), RSS {self.rss_mb:.0f} MB, "
                     f"{self.churn} /dev/shm+mqueue events meanwhile")
        for name, values in (self.keys or {}).items():
            text += f"; {name.split(' until')[0]} " + "/".join(
                "-" if v is None else f"{v:.2f}" for v in values)
        return text


class Tmux:
    """A private tmux server (its own socket), killed on exit with everything in it."""

    def __init__(self, width: int, height: int, env: dict[str, str]) -> None:
        self.socket = f"ipctop-bench-{os.getpid()}"
        self.socket_path = ""
        self.width, self.height, self.env = width, height, env

    def cmd(self, *args: str, check: bool = True) -> str:
        res = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                             capture_output=True, text=True, env=self.env, timeout=30,
                             check=False)
        if check and res.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    def __enter__(self) -> Tmux:
        # A placeholder pane, so the server's own start-up is not timed.
        self.cmd("new-session", "-d", "-s", "bench", "-x", str(self.width), "-y",
                 str(self.height), "sleep 3600")
        self.cmd("set-option", "-t", "bench", "remain-on-exit", "on")
        self.socket_path = self.cmd("display-message", "-p", "#{socket_path}").strip()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cmd("kill-server", check=False)
        if self.socket_path:  # tmux leaves the socket file behind
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)

    def respawn(self, command: str) -> None:
        self.cmd("respawn-pane", "-k", "-t", "bench", command)

    def pane_pid(self) -> int:
        return int(self.cmd("display-message", "-p", "-t", "bench", "#{pane_pid}").strip())

    def capture(self) -> str:
        return self.cmd("capture-pane", "-p", "-t", "bench", check=False)

    def capture_styled(self) -> str:
        return self.cmd("capture-pane", "-p", "-e", "-t", "bench", check=False)

    def send(self, *keys: str) -> None:
        self.cmd("send-keys", "-t", "bench", *keys)


STATUS_OBJECTS = re.compile(r"\b(\d+) objects\b")
"""The status bar's object count: the first snapshot has been applied (table rows included)."""


def marker_ready(marker: str) -> Callable[[str], bool]:
    """On screen once ``marker`` (a row of the table) shows."""
    return lambda screen: marker in screen


def count_ready(at_least: int) -> Callable[[str], bool]:
    """On screen once the status bar counts at least that many objects and the table has a row
    (the big load: no one row is sure to be on screen, its count is)."""

    def ready(screen: str) -> bool:
        m = STATUS_OBJECTS.search(screen)
        return (m is not None and int(m[1]) >= at_least
                and view_shown(screen, all_view=True))

    return ready


def wait_for(tmux: Tmux, ready: Callable[[str], bool], t0: float, poll: float, timeout: float
             ) -> tuple[float, float, float]:
    """Seconds to the first non-blank frame, to the status bar's "N objects", and to the frame
    that ``ready`` accepts (objects of the load on screen)."""
    first_paint: float | None = None
    status: float | None = None
    while True:
        screen = tmux.capture()
        now = time.perf_counter() - t0
        if first_paint is None and screen.strip():
            first_paint = now
        if status is None and STATUS_OBJECTS.search(screen):
            status = now
        if ready(screen):
            return (first_paint if first_paint is not None else now,
                    status if status is not None else now, now)
        if now > timeout:
            hint = (" (the status bar shows objects: the marker row is off screen? try "
                    "--filter-load or a taller --height)" if status is not None else "")
            raise TimeoutError(f"the load not on screen after {timeout:.0f} s{hint}; screen:\n"
                               + screen)
        time.sleep(poll)


def one_tmux_run(tmux: Tmux, argv: list[str], ready: Callable[[str], bool],
                 args: argparse.Namespace, idle: bool, keys: int, profile: str = ""
                 ) -> TmuxRun:
    command = "exec " + " ".join(_sh_quote(a) for a in argv)
    t0 = time.perf_counter()
    tmux.respawn(command)
    paint, status, objects = wait_for(tmux, ready, t0, args.poll, args.timeout)
    pid = tmux.pane_pid()
    run = TmuxRun(paint, objects, status)
    with contextlib.suppress(OSError):
        run.rss_first_mb = proc_status_kb(pid, "VmRSS")["VmRSS"] / 1024
        run.uid = os.stat(f"/proc/{pid}").st_uid
    if idle:
        time.sleep(args.settle)
        churn = DirChurn()
        try:
            c0, w0, d0 = proc_cpu_seconds(pid), time.perf_counter(), run_delay(pid)
            time.sleep(args.idle)
            c1, w1, d1 = proc_cpu_seconds(pid), time.perf_counter(), run_delay(pid)
            run.churn = churn.count()
        finally:
            churn.close()
        run.idle_cpu_pct = 100 * (c1 - c0) / (w1 - w0)
        run.cpu_wait_pct = 100 * (d1 - d0) / (w1 - w0)
        run.polls_cpu_ms = 1000 * (c1 - c0) / ((w1 - w0) / args.interval)
    if keys:
        run.keys = key_latencies(tmux, keys, args.interval, timeout=args.timeout)
    if idle:
        kb = proc_status_kb(pid, "VmRSS", "VmHWM")
        run.rss_mb, run.hwm_mb = kb["VmRSS"] / 1024, kb["VmHWM"] / 1024
    if profile:
        record_profile(pid, args.profile, profile)
    tmux.respawn("sleep 3600")  # ends ipctop (SIGHUP), ready for the next run
    _wait_gone(pid)
    return run


def run_delay(pid: int) -> float:
    """Seconds the process's threads have waited on a run queue (/proc/PID/task/*/schedstat,
    2nd field, ns); threads that come and go between two reads make it approximate."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    return total / 1e9


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (OSError, IndexError):  # gone (ENOENT, or ESRCH while reading)
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # the ipctop we started in our tmux


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# ---- loads, users, profile -------------------------------------------------------------------


AIMS: dict[str, Aims] = {
    # The aims: first screen < 2 s, idle < 10% of a core on the big load and < 2% on a
    # quiet machine (and on the 500-process load, as the README claimed), RSS < 250 MB, any key
    # answered < 1 s.
    "big": Aims(first_screen_s=2.0, idle_pct=10.0, rss_mb=250.0, key_s=1.0),
    "procs": Aims(first_screen_s=2.0, idle_pct=2.0, rss_mb=250.0, key_s=1.0),
    "none": Aims(first_screen_s=2.0, idle_pct=2.0, rss_mb=250.0, key_s=1.0),
}


def build_load(stack: contextlib.ExitStack, args: argparse.Namespace
               ) -> tuple[str, Callable[[str], bool], str]:
    """Enter the chosen load; returns its description, the first-screen test, and a prefix for
    --filter-load."""
    if args.load == "big":
        # ipctop starts after the load is built, so its first snapshot holds all of it.
        big = stack.enter_context(BigLoad(scaled(args.scale)))
        return big.describe(), count_ready(big.objects), big.prefix + "-bmq-"
    if args.load == "procs":
        load = stack.enter_context(Load(LoadSpec(processes=args.processes, light=args.light)))
        marker = args.marker or load.mq_names[0].lstrip("/")
        return load.describe(), marker_ready(marker), load.prefix + "-mq-"
    return "none (the machine as it is)", count_ready(1), ""


def as_user(user: str, python: str, source: str) -> list[str]:
    """ipctop as another user through setpriv: this venv's packages and the source tree on
    PYTHONPATH (the venv's interpreter lives under /root, which others cannot reach)."""
    pw = pwd.getpwnam(user)
    path = ":".join([source, sysconfig.get_paths()["purelib"]])
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--",
            "env", "-C", source, f"PYTHONPATH={path}", f"HOME={pw.pw_dir}", python, "-m",
            "ipctop"]


def from_source(source: str) -> list[str]:
    """ipctop from another source tree (``git archive REV | tar -x -C DIR``), with this venv's
    packages: run in that directory, so ``-m ipctop`` finds its package first."""
    return ["env", "-C", source, sys.executable, "-m", "ipctop"]


PY_SPY = Path(sys.executable).with_name("py-spy")


def record_profile(pid: int, seconds: float, out: str) -> None:
    """py-spy (sampling, --nonblocking: the process is not paused) over the idle TUI; collapsed
    stacks to ``out``, summarized by report.profile_summary."""
    spy = str(PY_SPY) if PY_SPY.exists() else "py-spy"
    subprocess.run([spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200",
                    "--nonblocking", "--threads", "-f", "raw", "-o", out],
                   capture_output=True, check=False, timeout=seconds + 60)


# ---- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ipctop TUI benchmark under load")
    ap.add_argument("--load", choices=("procs", "big", "none"), default="procs",
                    help="procs: bench/load.py (--processes, default 500); big: bench/bigload.py "
                    "(~16,500 objects); none: the machine as it is (default procs)")
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--scale", type=float, default=1.0, help="the big load's size (default 1)")
    ap.add_argument("--light", action="store_true",
                    help="load children that hold only fds exec cat (few mappings each)")
    ap.add_argument("--runs", type=int, default=5, help="first-screen runs (default 5)")
    ap.add_argument("--idle-runs", type=int, default=3,
                    help="of those, how many also measure idle CPU and memory (default 3)")
    ap.add_argument("--idle", type=float, default=30.0, help="idle window, seconds (default 30)")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds after the first screen before the idle window (default 5)")
    ap.add_argument("--keys", type=int, default=3,
                    help="rounds of key-latency probes in the first run (default 3; 0: none)")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="ipctop's default refresh interval, for CPU per poll (default 2)")
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--height", type=int, default=60)
    ap.add_argument("--poll", type=float, default=0.02, help="capture-pane period (default 0.02)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--ipctop", metavar="CMD", help="the ipctop command (default: console script)")
    ap.add_argument("--source", metavar="DIR",
                    help="run ipctop from this source tree (e.g. a `git archive` of the "
                    "baseline commit) with this venv's packages, for before/after figures")
    ap.add_argument("--user", help="run ipctop as this user (setpriv), e.g. nobody")
    ap.add_argument("--user-python", default="/usr/bin/python3",
                    help="the interpreter for --user (default /usr/bin/python3)")
    ap.add_argument("--marker", help="text whose appearance means objects are on screen "
                    "(default: the load's first POSIX queue name)")
    ap.add_argument("--filter-load", action="store_true",
                    help="start ipctop with --filter PREFIX, so the load's rows are on screen "
                    "whatever else the machine holds")
    ap.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                    help="py-spy the first run's TUI for this long after the idle window")
    ap.add_argument("--profile-out", default="/tmp/ipctop-bench-tui.pyspy.txt")
    ap.add_argument("--headless-runs", type=int, default=0,
                    help="headless run_test() runs (the first also splits idle CPU; default 0)")
    args = ap.parse_args(argv)

    env = bench_env()
    env.setdefault("TERM", "xterm-256color")
    env.pop("NO_COLOR", None)
    source = os.path.abspath(args.source) if args.source else str(REPO)
    if args.user:
        ipctop = as_user(args.user, args.user_python, source)
    else:
        ipctop = from_source(source) if args.source else ipctop_argv(args.ipctop)
    aims = AIMS[args.load]
    print(f"machine: {machine_line()}")
    print(f"ipctop: {' '.join(ipctop)} in tmux {args.width}x{args.height}")
    tmux_runs: list[TmuxRun] = []
    headless: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(signals_as_exit())
        described, ready, prefix = build_load(stack, args)
        print(f"load: {described}", flush=True)
        if args.filter_load and prefix:
            ipctop = [*ipctop, "--filter", prefix]
            print(f"ipctop: {' '.join(ipctop)}")
        subprocess.run([*ipctop, "--version"], env=env, capture_output=True, check=False)
        with Tmux(args.width, args.height, env) as tmux:
            for i in range(args.runs):
                run = one_tmux_run(tmux, ipctop, ready, args, idle=i < args.idle_runs,
                                   keys=args.keys if i == 0 else 0,
                                   profile=args.profile_out if i == 0 and args.profile else "")
                tmux_runs.append(run)
                print(f"  tmux run {i + 1}/{args.runs}: {run.one_line()}", flush=True)
        for i in range(args.headless_runs):
            # With --source, the headless interpreter imports that tree's ipctop first.
            h_env = {**env, "PYTHONPATH": source} if args.source else env
            h = one_headless_run(h_env, args, args.idle if i == 0 else 0.0)
            headless.append(h)
            print(f"  headless run {i + 1}: rows after {h['spawn_to_rows']:.2f} s"
                  f" (import {h['import']:.2f} s)", flush=True)
        print(f"machine at the end: {machine_line()}")

    print()
    print(report(tmux_runs, headless, args, aims))
    if args.profile and os.path.exists(args.profile_out):
        print()
        print(profile_summary(args.profile_out, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
