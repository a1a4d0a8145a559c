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
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchutil import (
    DirChurn,
    bench_env,
    ipctop_argv,
    machine_line,
    markdown_table,
    proc_cpu_seconds,
    proc_status_kb,
)
from load import Load, LoadSpec, signals_as_exit

AIM_FIRST_SCREEN_S = 1.0
AIM_IDLE_CPU_PCT = 2.0
AIM_RSS_MB = 100.0


@dataclass
class TmuxRun:
    first_paint: float
    first_objects: float
    """To the frame that shows the marker object in the table."""
    first_status: float
    """To the frame whose status bar counts objects."""
    idle_cpu_pct: float | None = None
    polls_cpu_ms: float | None = None
    """CPU per poll interval (idle CPU seconds / intervals in the window)."""
    rss_mb: float | None = None
    hwm_mb: float | None = None
    rss_first_mb: float | None = None
    churn: int | None = None
    """/dev/shm and /dev/mqueue create/delete events in the idle window (each makes a poll)."""


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


STATUS_OBJECTS = re.compile(r"\b\d+ objects\b")
"""The status bar's object count: the first snapshot has been applied (table rows included)."""


def wait_for(tmux: Tmux, marker: str, t0: float, poll: float, timeout: float
             ) -> tuple[float, float, float]:
    """Seconds to the first non-blank frame, to the status bar's "N objects", and to the frame
    showing ``marker`` (a row of the table)."""
    first_paint: float | None = None
    status: float | None = None
    while True:
        screen = tmux.capture()
        now = time.perf_counter() - t0
        if first_paint is None and screen.strip():
            first_paint = now
        if status is None and STATUS_OBJECTS.search(screen):
            status = now
        if marker in screen:
            return (first_paint if first_paint is not None else now,
                    status if status is not None else now, now)
        if now > timeout:
            hint = (" (the status bar shows objects: the marker row is off screen? try "
                    "--filter-load or a taller --height)" if status is not None else "")
            raise TimeoutError(f"{marker!r} not on screen after {timeout:.0f} s{hint}; screen:\n"
                               + screen)
        time.sleep(poll)


def one_tmux_run(tmux: Tmux, argv: list[str], marker: str, args: argparse.Namespace,
                 idle: bool) -> TmuxRun:
    command = "exec " + " ".join(_sh_quote(a) for a in argv)
    t0 = time.perf_counter()
    tmux.respawn(command)
    paint, status, objects = wait_for(tmux, marker, t0, args.poll, args.timeout)
    pid = tmux.pane_pid()
    run = TmuxRun(paint, objects, status)
    with contextlib.suppress(OSError):
        run.rss_first_mb = proc_status_kb(pid, "VmRSS")["VmRSS"] / 1024
    if idle:
        time.sleep(args.settle)
        churn = DirChurn()
        try:
            c0, w0 = proc_cpu_seconds(pid), time.perf_counter()
            time.sleep(args.idle)
            c1, w1 = proc_cpu_seconds(pid), time.perf_counter()
            run.churn = churn.count()
        finally:
            churn.close()
        run.idle_cpu_pct = 100 * (c1 - c0) / (w1 - w0)
        run.polls_cpu_ms = 1000 * (c1 - c0) / ((w1 - w0) / args.interval)
        kb = proc_status_kb(pid, "VmRSS", "VmHWM")
        run.rss_mb, run.hwm_mb = kb["VmRSS"] / 1024, kb["VmHWM"] / 1024
    tmux.respawn("sleep 3600")  # ends ipctop (SIGHUP), ready for the next run
    _wait_gone(pid)
    return run


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


# ---- headless ----------------------------------------------------------------------------------


HEADLESS_CHILD = "--headless-child"


def headless_child(width: int, height: int, idle: float, timeout: float = 60.0) -> int:
    """Runs in a fresh interpreter: import, start IpcTopApp headless, report when rows appear;
    with ``idle`` > 0, then split the idle CPU between the collector (its thread's CPU time
    inside the app's collector, snapshot.LiveTake) and everything else (Textual: diff, table
    updates, rendering)."""
    import asyncio
    import gc
    import threading

    t0 = time.perf_counter()
    from ipctop.ui.app import IpcTopApp, default_collector

    t_import = time.perf_counter() - t0
    collector_cpu: list[float] = []
    lock = threading.Lock()

    collect = default_collector()  # the app's own: incremental (snapshot.LiveTake)

    def timed_take() -> Any:
        c0 = time.thread_time()
        snap = collect()
        with lock:
            collector_cpu.append(time.thread_time() - c0)
        return snap

    async def go() -> None:
        app = IpcTopApp(collector=timed_take)
        t1 = time.perf_counter()
        async with app.run_test(size=(width, height)) as pilot:
            while not (app.polls >= 1 and app.table.row_count > 0):
                if time.perf_counter() - t1 > timeout:
                    raise TimeoutError("no rows in the table")
                await pilot.pause(0.01)
            t2 = time.perf_counter()
            out: dict[str, float] = {"import": t_import, "app_to_rows": t2 - t1,
                                     "rows": app.table.row_count, "in_process": t2 - t0}
            print(json.dumps(out), flush=True)
            if idle > 0:
                await pilot.pause(2.0)
                with lock:
                    done = len(collector_cpu)
                gc_spent = [0.0, 0.0]

                def on_gc(phase: str, _info: dict[str, int]) -> None:
                    if phase == "start":
                        gc_spent[1] = time.thread_time()
                    else:
                        gc_spent[0] += time.thread_time() - gc_spent[1]

                main_tid = threading.get_native_id()
                m0 = _thread_cpu(main_tid)
                gc.callbacks.append(on_gc)
                p0, w0 = time.process_time(), time.perf_counter()
                await pilot.pause(idle)
                p1, w1 = time.process_time(), time.perf_counter()
                gc.callbacks.remove(on_gc)
                m1 = _thread_cpu(main_tid)
                with lock:
                    polls = collector_cpu[done:]
                print(json.dumps({
                    "idle_wall": w1 - w0, "process_cpu": p1 - p0, "polls": len(polls),
                    "collector_cpu": sum(polls), "main_thread_cpu": m1 - m0,
                    "gc_cpu": gc_spent[0],
                }), flush=True)
            # Measured; the app's shutdown is not (and must not hang or fail the benchmark).
            os._exit(0)

    asyncio.run(go())
    return 1


def _thread_cpu(tid: int) -> float:
    """utime+stime of one thread of this process, seconds."""
    with open(f"/proc/self/task/{tid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_headless_run(env: dict[str, str], args: argparse.Namespace, idle: float = 0.0
                     ) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, HEADLESS_CHILD, str(args.width), str(args.height), str(idle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        wall = time.perf_counter() - t0
        if idle > 0 and line:
            more = proc.stdout.readline()
            if more:
                line = json.dumps({**json.loads(line), **json.loads(more)})
        proc.wait(timeout=args.timeout + idle)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"headless run failed: {err[-2000:]}")
    out: dict[str, float] = json.loads(line)
    out["spawn_to_rows"] = wall
    return out


# ---- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [HEADLESS_CHILD]:
        return headless_child(int(argv[1]), int(argv[2]), float(argv[3]))
    ap = argparse.ArgumentParser(description="ipctop TUI benchmark under load")
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--light", action="store_true",
                    help="load children that hold only fds exec cat (few mappings each)")
    ap.add_argument("--runs", type=int, default=5, help="first-screen runs (default 5)")
    ap.add_argument("--idle-runs", type=int, default=3,
                    help="of those, how many also measure idle CPU and memory (default 3)")
    ap.add_argument("--idle", type=float, default=30.0, help="idle window, seconds (default 30)")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds after the first screen before the idle window (default 5)")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="ipctop's default refresh interval, for CPU per poll (default 2)")
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--height", type=int, default=60)
    ap.add_argument("--poll", type=float, default=0.02, help="capture-pane period (default 0.02)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--ipctop", metavar="CMD", help="the ipctop command (default: console script)")
    ap.add_argument("--marker", help="text whose appearance means objects are on screen "
                    "(default: the load's first POSIX queue name)")
    ap.add_argument("--filter-load", action="store_true",
                    help="start ipctop with --filter PREFIX, so the load's rows are on screen "
                    "whatever else the machine holds")
    ap.add_argument("--no-headless", action="store_true")
    args = ap.parse_args(argv)

    env = bench_env()
    env.setdefault("TERM", "xterm-256color")
    env.pop("NO_COLOR", None)
    ipctop = ipctop_argv(args.ipctop)
    print(f"machine: {machine_line()}")
    print(f"ipctop: {' '.join(ipctop)} in tmux {args.width}x{args.height}")
    tmux_runs: list[TmuxRun] = []
    headless: list[dict[str, float]] = []
    with signals_as_exit(), Load(LoadSpec(processes=args.processes, light=args.light)) as load:
        print(f"load: {load.describe()}", flush=True)
        marker = args.marker or load.mq_names[0].lstrip("/")
        if args.filter_load:
            ipctop = [*ipctop, "--filter", f"{load.prefix}-mq-"]
            print(f"ipctop: {' '.join(ipctop)}")
        subprocess.run([*ipctop, "--version"], env=env, capture_output=True, check=False)
        with Tmux(args.width, args.height, env) as tmux:
            for i in range(args.runs):
                run = one_tmux_run(tmux, ipctop, marker, args, idle=i < args.idle_runs)
                tmux_runs.append(run)
                print(f"  tmux run {i + 1}/{args.runs}: first paint {run.first_paint:.2f} s, "
                      f"objects {run.first_objects:.2f} s"
                      + (f", idle CPU {run.idle_cpu_pct:.1f}%, RSS {run.rss_mb:.0f} MB, "
                         f"{run.churn} /dev/shm+mqueue events meanwhile"
                         if run.idle_cpu_pct is not None else ""), flush=True)
        if not args.no_headless:
            for i in range(args.runs):
                h = one_headless_run(env, args, args.idle if i == 0 else 0.0)
                headless.append(h)
                print(f"  headless run {i + 1}/{args.runs}: rows after {h['spawn_to_rows']:.2f} s"
                      f" (import {h['import']:.2f} s)", flush=True)

    print()
    print(report(tmux_runs, headless, args))
    return 0


def _med(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def report(runs: list[TmuxRun], headless: list[dict[str, float]], args: argparse.Namespace
           ) -> str:
    def row(what: str, values: Sequence[float | None], fmt: str, aim: str,
            ok: bool | None) -> list[str]:
        vals = [v for v in values if v is not None]
        med = _med(values)
        return [what, str(len(vals)), _cell(med, fmt), _cell(min(vals) if vals else None, fmt),
                _cell(max(vals) if vals else None, fmt), aim,
                "-" if ok is None else ("yes" if ok else "NO")]

    first = _med([r.first_objects for r in runs])
    idle = _med([r.idle_cpu_pct for r in runs])
    hwm = max((r.hwm_mb for r in runs if r.hwm_mb is not None), default=None)
    rows = [
        row("tmux: first paint (s)", [r.first_paint for r in runs], ".2f", "", None),
        row('tmux: status bar shows "N objects" (s)', [r.first_status for r in runs], ".2f", "",
            None),
        row("tmux: first screen with objects (s)", [r.first_objects for r in runs], ".2f",
            f"< {AIM_FIRST_SCREEN_S:g}", None if first is None else first < AIM_FIRST_SCREEN_S),
        row(f"idle CPU, % of one core ({args.idle:g} s at {args.interval:g} s interval)",
            [r.idle_cpu_pct for r in runs], ".1f", f"< {AIM_IDLE_CPU_PCT:g}",
            None if idle is None else idle < AIM_IDLE_CPU_PCT),
        row("CPU per poll interval (ms)", [r.polls_cpu_ms for r in runs], ".0f", "", None),
        row("/dev/shm+mqueue events in the idle window", [r.churn for r in runs], ".0f", "0",
            None),
        row("VmRSS at first screen (MB)", [r.rss_first_mb for r in runs], ".0f", "", None),
        row("VmRSS after idle (MB)", [r.rss_mb for r in runs], ".0f", f"< {AIM_RSS_MB:g}",
            None if hwm is None else (_med([r.rss_mb for r in runs]) or 0) < AIM_RSS_MB),
        row("VmHWM (MB)", [r.hwm_mb for r in runs], ".0f", f"< {AIM_RSS_MB:g}",
            None if hwm is None else hwm < AIM_RSS_MB),
    ]
    if headless:
        rows += [
            row("headless run_test: spawn to rows (s)",
                [h["spawn_to_rows"] for h in headless], ".2f", "", None),
            row("headless: import ipctop.ui.app (s)", [h["import"] for h in headless], ".2f",
                "", None),
            row("headless: app start to rows (s)", [h["app_to_rows"] for h in headless], ".2f",
                "", None),
        ]
    table = markdown_table(["what", "runs", "median", "min", "max", "aim", "met"], rows)
    split = next((h for h in headless if "process_cpu" in h), None)
    if split is not None and split["idle_wall"] > 0:
        total = 100 * split["process_cpu"] / split["idle_wall"]
        coll = 100 * split["collector_cpu"] / split["idle_wall"]
        per_poll = 1000 * split["collector_cpu"] / max(split["polls"], 1)
        table += (
            f"\n\nheadless idle split over {split['idle_wall']:.0f} s: {total:.1f}% of a core in "
            f"all; the collector (LiveTake, {int(split['polls'])} polls, {per_poll:.0f} ms CPU "
            f"each) {coll:.1f}%, the rest (Textual: diff, table updates, rendering) "
            f"{total - coll:.1f}%"
        )
        if "main_thread_cpu" in split:
            main = 100 * split["main_thread_cpu"] / split["idle_wall"]
            gcp = 100 * split["gc_cpu"] / split["idle_wall"]
            table += (f"; by thread: the UI (main) thread {main:.1f}%, of which the cyclic "
                      f"garbage collector {gcp:.1f}%")
        expected = split["idle_wall"] / args.interval
        if split["polls"] > 1.5 * expected:
            table += (
                f"\n\nnote: {int(split['polls'])} polls where the interval alone gives "
                f"~{expected:.0f}: something else made ipctop poll (inotify events from "
                f"/dev/shm or /dev/mqueue churn trigger a poll each), so this was not idle"
            )
    return table


if __name__ == "__main__":
    sys.exit(main())
