"""The headless half of bench_tui.py: a fresh interpreter runs ``IpcTopApp`` via ``run_test()``
and reports when the table first holds rows (and, with an idle window, how the idle CPU splits
between the collector and Textual). Run by bench_tui.py as ``python bench/tui_headless.py W H
IDLE SETTLE``: the idle window starts SETTLE seconds (bench_tui's --settle) after the rows."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any


def headless_child(width: int, height: int, idle: float, timeout: float = 60.0,
                   settle: float = 2.0) -> int:
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

    class TimedTake:
        """The collector, timed; it passes on what LiveTake says changed, as the app reads it
        (without it the app would look at every kind at each poll)."""

        changed: Any = None

        def __call__(self) -> Any:
            c0 = time.thread_time()
            snap = collect()
            with lock:
                collector_cpu.append(time.thread_time() - c0)
            self.changed = getattr(collect, "changed", None)
            return snap

    timed_take = TimedTake()

    async def go() -> None:
        app = IpcTopApp(collector=timed_take, freeze_gc=True)  # as `ipctop` runs it
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
                await pilot.pause(settle)
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
        [sys.executable, __file__, str(args.width), str(args.height), str(idle),
         str(args.settle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        wall = time.perf_counter() - t0
        if idle > 0 and line:
            more = proc.stdout.readline()
            if more:
                line = json.dumps({**json.loads(line), **json.loads(more)})
        proc.wait(timeout=args.timeout + args.settle + idle)
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




if __name__ == "__main__":
    sys.exit(headless_child(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                            settle=float(sys.argv[4]) if len(sys.argv) > 4 else 2.0))
