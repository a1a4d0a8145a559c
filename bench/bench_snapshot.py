"""Is `ipctop snapshot --json` at least 2x faster than `lsof -n`?

Builds the load of bench/load.py (~500 processes holding pipes, FIFOs, SysV and POSIX shm, queues
and socketpairs), then runs, interleaved and alternating the order, N times each:

- ``ipctop snapshot --json`` as a whole process (console script; stdout to /dev/null),
- ``lsof -n`` (the reference) and ``lsof -n -b -w`` (no blocking kernel calls, no warnings),
- for the breakdown: the same ipctop command scanning /proc in one process
  (``IPCTOP_SCAN_WORKERS=1``; by default it forks one helper per CPU, at most 4),
  ``python -c pass`` (the interpreter floor) and ``python -c "import ..."`` (ipctop's imports),

each timed from spawn to reap, with its own CPU time from wait4() (children included; peak RSS:
one run under GNU time). Then, in-process, ``take()`` in one process and split as the CLI splits
it, and the CLI's JSON encoding of its result. It prints a
Markdown table, the ratio lsof / ipctop (medians of wall time; the CPU-time ratio beside it), and
what each tool saw.

    .venv/bin/python bench/bench_snapshot.py               # 500 processes, 10 runs
    .venv/bin/python bench/bench_snapshot.py --runs 20 --processes 1000
    .venv/bin/python bench/bench_snapshot.py --profile     # + cProfile of take(), -X importtime

Run by hand as root (to see every process, as lsof does); not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchutil import (
    REPO,
    Run,
    Stats,
    bench_env,
    ipctop_argv,
    machine_line,
    markdown_table,
    peak_rss_kb,
    run_timed,
    stats_table,
)
from bigload import BigLoad, scaled
from load import Load, LoadSpec
from loadkit import signals_as_exit

from ipctop.collect.scan_split import WORKERS_ENV, scan_workers
from ipctop.model import Snapshot

LSOF = "/usr/bin/lsof"
TARGET_RATIO = 2.0
IMPORTS = "import ipctop.cli, ipctop.commands.snapshot, ipctop.snapshot"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--load", choices=("procs", "big"), default="procs",
                    help="procs: bench/load.py (--processes); big: bench/bigload.py (~16,500 "
                    "objects, --scale)")
    ap.add_argument("--scale", type=float, default=1.0, help="the big load's size (default 1)")
    ap.add_argument("--processes", type=int, default=500, help="load processes (default 500)")
    ap.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    ap.add_argument("--light", action="store_true",
                    help="load children that hold only fds exec cat (few mappings each)")
    ap.add_argument("--ipctop", metavar="CMD",
                    help="the ipctop command (default: the console script beside this python)")
    ap.add_argument("--no-lsof-variants", action="store_true", help="skip `lsof -n -b -w`")
    ap.add_argument("--no-breakdown", action="store_true",
                    help="skip the python-startup / import runs")
    ap.add_argument("--no-pyc", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE as the environment has it")
    ap.add_argument("--profile", action="store_true",
                    help="also print cProfile of take() and the top of -X importtime")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    env = bench_env(allow_pyc=not args.no_pyc)
    one_process = {**env, WORKERS_ENV: "1"}
    ipctop = [*ipctop_argv(args.ipctop), "snapshot", "--json"]
    py = sys.executable
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        ("ipctop snapshot --json", ipctop, env),
        ("lsof -n", [LSOF, "-n"], env),
    ]
    if not args.no_lsof_variants:
        commands.append(("lsof -n -b -w", [LSOF, "-n", "-b", "-w"], env))
    if not args.no_breakdown:
        commands += [
            (f"  same, {WORKERS_ENV}=1", ipctop, one_process),
            ("python -c pass", [py, "-c", "pass"], env),
            ("python -c 'import ipctop...'", [py, "-c", IMPORTS], env),
        ]

    print(f"machine: {machine_line()}")
    print(f"ipctop: {' '.join(ipctop)} (scans /proc in {scan_workers()} process(es); "
          f"{WORKERS_ENV} sets it)")
    load: Load | BigLoad = (
        BigLoad(scaled(args.scale)) if args.load == "big"
        else Load(LoadSpec(processes=args.processes, light=args.light)))
    with signals_as_exit(), load:
        print(f"load: {load.describe()}", flush=True)
        seen = what_they_see(ipctop, env, load)
        for _name, cmd, cmd_env in commands:  # warm-up: page cache, .pyc files
            run_timed(cmd, cmd_env)
        runs: dict[str, list[Run]] = {name: [] for name, _, _ in commands}
        for i in range(args.runs):
            order = commands if i % 2 == 0 else commands[::-1]
            for name, cmd, cmd_env in order:
                runs[name].append(run_timed(cmd, cmd_env))
            print(f"  run {i + 1}/{args.runs}: " + ", ".join(
                f"{name.split()[0]} {runs[name][-1].wall * 1000:.0f}"
                for name, _, _ in commands[:2]) + " ms", flush=True)
        rss = {name: peak_rss_kb(cmd, cmd_env) for name, cmd, cmd_env in commands}
        inproc = in_process(args.runs)
        if args.profile:
            profile(ipctop, env)

    bad = {name: r.status for name, rr in runs.items() for r in rr if r.status != 0}
    rows = [Stats.of_runs(name, rr, rss[name]) for name, rr in runs.items()]
    rows += inproc
    print()
    print(stats_table(rows))
    print()
    ip = rows[0]
    for ref in rows[1:3]:
        if ref.name.startswith("lsof"):
            cpu = (ref.cpu_ms or 0) / (ip.cpu_ms or 1)
            print(f"ratio {ref.name} / ipctop: {ref.median_ms / ip.median_ms:.2f}x wall "
                  f"(min/min {ref.min_ms / ip.min_ms:.2f}x), {cpu:.2f}x CPU")
    single = next((r for r in rows if r.name.endswith(f"{WORKERS_ENV}=1")), None)
    if single is not None:
        print(f"ratio lsof -n / ipctop scanning in one process: "
              f"{rows[1].median_ms / single.median_ms:.2f}x wall, "
              f"{(rows[1].cpu_ms or 0) / (single.cpu_ms or 1):.2f}x CPU")
    ratio = rows[1].median_ms / ip.median_ms
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"=> ipctop {verdict} the {TARGET_RATIO:.0f}x target against `lsof -n` "
          f"({ratio:.2f}x, medians of {args.runs} interleaved runs)")
    print()
    print("what each saw:")
    for line in seen:
        print(f"  {line}")
    if bad:
        print(f"\nWARNING: non-zero exit status: {bad}")
        return 1
    return 0


def what_they_see(ipctop: list[str], env: dict[str, str], load: Load | BigLoad) -> list[str]:
    """Run each tool once, capturing output, and count what it reports (sanity: it must see the
    load, or the timing means nothing)."""
    out: list[str] = []
    pids = set(load.pids)
    res = subprocess.run(ipctop, capture_output=True, env=env, timeout=120, check=False)
    if res.returncode != 0:
        out.append(f"ipctop exited {res.returncode}: {res.stderr.decode(errors='replace')[:500]}")
    else:
        snap: dict[str, Any] = json.loads(res.stdout)
        objs: list[dict[str, Any]] = snap.get("objects", [])
        kinds = Counter(str(o.get("kind")) for o in objs)
        users = sum(len(o.get("users") or []) for o in objs)
        load_pids_seen = {u["pid"] for o in objs for u in (o.get("users") or [])} & pids
        out.append(
            f"ipctop: {len(objs)} objects ({', '.join(f'{k} {n}' for k, n in kinds.most_common())}"
            f"), {users} users, {len(snap.get('processes', []))} processes, "
            f"{len(res.stdout) / 1024:.0f} KiB of JSON; "
            f"load processes seen as users: {len(load_pids_seen)}/{len(pids)}; "
            f"unreadable: {snap.get('unreadable', {}).get('count')}"
        )
    lsof = subprocess.run([LSOF, "-n"], capture_output=True, timeout=120, check=False)
    lines = lsof.stdout.decode(errors="replace").splitlines()[1:]
    lsof_pids = {int(f[1]) for f in (ln.split() for ln in lines) if len(f) > 1 and f[1].isdigit()}
    types = Counter(f[4] for f in (ln.split() for ln in lines) if len(f) > 4)
    out.append(
        f"lsof -n: {len(lines)} lines, {len(lsof_pids)} processes "
        f"(FIFO {types.get('FIFO', 0)}, unix {types.get('unix', 0)}, REG {types.get('REG', 0)}), "
        f"{len(lsof.stdout) / 1024:.0f} KiB; load processes listed: "
        f"{len(lsof_pids & pids)}/{len(pids)}"
    )
    return out


def in_process(runs: int) -> list[Stats]:
    """take() and its JSON in this process: the collector cost without interpreter start-up."""
    try:
        from ipctop.snapshot import take
    except ImportError as err:
        print(f"(in-process timing skipped: {err})")
        return []
    t0 = time.perf_counter()
    snap = take()
    first = time.perf_counter() - t0
    import ipctop.commands.snapshot as cli

    def cli_json(snap: Snapshot) -> str:
        to_json: Callable[[Snapshot], str] | None = getattr(cli, "to_json", None)
        if to_json is not None:
            return to_json(snap)
        return json.dumps(snap.to_dict(), indent=2)  # the CLI before to_json

    workers = scan_workers()
    takes: list[float] = []
    split: list[float] = []
    dicts: list[float] = []
    clis: list[float] = []
    compact: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        take(workers=workers)
        split.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        snap = take()
        t1 = time.perf_counter()
        data = snap.to_dict()
        t2 = time.perf_counter()
        cli_json(snap)
        t3 = time.perf_counter()
        json.dumps(data, separators=(",", ":"))
        t4 = time.perf_counter()
        takes.append(t1 - t0)
        dicts.append(t2 - t1)
        clis.append(t3 - t2)
        compact.append(t4 - t3)
    return [
        Stats.of_seconds("take() in-process", takes, note=f"first call {first * 1000:.0f} ms"),
        Stats.of_seconds(f"take(workers={workers}) in-process", split,
                         note="the scan split among forked helpers, as the CLI does"),
        Stats.of_seconds("the CLI's JSON text", clis, note="to_dict + encoding, as --json does"),
        Stats.of_seconds("  of which Snapshot.to_dict()", dicts,
                         note=f"{len(snap.objects)} objects, {len(snap.processes)} processes"),
        Stats.of_seconds("  floor: compact json.dumps", compact, note="C encoder, dict given"),
    ]


def profile(ipctop: list[str], env: dict[str, str]) -> None:
    """Where the time goes: cProfile of take(), and the heaviest imports of a whole run."""
    try:
        from ipctop.snapshot import take
    except ImportError:
        return
    prof = cProfile.Profile()
    prof.enable()
    take()
    prof.disable()
    print_profile(prof, "take()")
    from ipctop.snapshot import LiveTake

    live = LiveTake()
    live()
    time.sleep(2.0)
    prof = cProfile.Profile()
    polls = 10
    t0 = time.perf_counter()
    for _ in range(polls):  # as the TUI polls: every 2 s, only what changed is read again
        prof.enable()
        live()
        prof.disable()
        time.sleep(2.0)
    print(f"\n{polls} polls of LiveTake (the TUI's collector) 2 s apart, after a first one; "
          f"{time.perf_counter() - t0 - 2.0 * polls:.2f} s in the polls:")
    print_profile(prof, f"{polls} LiveTake polls")
    print()
    print(importtime_report(ipctop, env))


def print_profile(prof: cProfile.Profile, what: str, top: int = 20) -> None:
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order).print_stats(top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        print(f"\ncProfile of {what}, top {top} by {order}:\n{text[start:].rstrip()}")


def importtime_report(ipctop: list[str], env: dict[str, str], top: int = 15) -> str:
    """Run ipctop under -X importtime; the heaviest modules by self and by cumulative time."""
    if ipctop[0].endswith("/ipctop"):
        cmd = [sys.executable, "-X", "importtime", "-m", "ipctop", *ipctop[1:]]
    else:
        cmd = [ipctop[0], "-X", "importtime", *ipctop[1:]]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
                         check=False)
    rows: list[tuple[int, int, str]] = []
    pat = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
    for line in res.stderr.splitlines():
        m = pat.match(line)
        if m:
            rows.append((int(m[1]), int(m[2]), m[4]))
    total = sum(r[0] for r in rows)
    tops = sorted(rows, key=lambda r: -r[1])
    top_level = [r for r in tops if "." not in r[2]][:top]
    by_self = sorted(rows, key=lambda r: -r[0])[:top]

    def table(sel: list[tuple[int, int, str]]) -> str:
        return markdown_table(["module", "self ms", "cumulative ms"],
                              [[m, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for s, c, m in sel])

    return (f"-X importtime of `{' '.join(cmd[3:])}`: {len(rows)} modules, "
            f"{total / 1000:.0f} ms in imports in all\n\nheaviest top-level imports "
            f"(cumulative):\n{table(top_level)}\n\nheaviest modules (self):\n{table(by_self)}")


if __name__ == "__main__":
    sys.exit(main())
