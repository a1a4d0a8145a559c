"""The exporter under load: how long a scrape of `ipctop serve` takes, how much memory the server
holds, and what a whole `ipctop metrics` process costs, with bench/load.py's processes running.

    .venv/bin/python bench/bench_exporter.py                 # 500 processes, 30 scrapes
    .venv/bin/python bench/bench_exporter.py --processes 1000 --scrapes 60 --interval 0.5

Scrapes are sequential, ``--interval`` apart (as Prometheus would), each timed by the client
(the HTTP round trip) and by the exporter itself (ipctop_scrape_duration_seconds: the scan).
The first scrape is reported apart: it reads every process; later ones read again only those
that ran since (ScanCache), and every 2 minutes everything. Memory is the server's VmRSS after
the scrapes and its peak (VmHWM). Then one burst of concurrent scrapes checks they share scans.
Run it as root, by hand; it prints Markdown for docs/bench.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from benchutil import (
    Stats,
    bench_env,
    ipctop_argv,
    machine_line,
    markdown_table,
    peak_rss_kb,
    proc_cpu_seconds,
    proc_status_kb,
    run_timed,
    stats_table,
)
from load import Load, LoadSpec
from loadkit import signals_as_exit

SERIES = re.compile(rb"^ipctop_scrape_duration_seconds (\S+)$", re.M)


def scrape(url: str) -> tuple[float, float, int]:
    """(round trip seconds, the exporter's own scan seconds, body bytes)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        body = resp.read()
    wall = time.perf_counter() - t0
    match = SERIES.search(body)
    return wall, float(match.group(1)) if match else float("nan"), len(body)


def start_server(ipctop: list[str], top: int) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([*ipctop, "serve", "--listen", "127.0.0.1:0", "--top", str(top)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=bench_env())
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    match = re.search(r"(http://\S+/metrics)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"ipctop serve did not start: {line!r}")
    return proc, match.group(1)


def burst(url: str, n: int) -> list[float]:
    out: list[float] = []
    threads = [threading.Thread(target=lambda: out.append(scrape(url)[0])) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5, help="runs of `ipctop metrics`")
    ap.add_argument("--burst", type=int, default=8, help="concurrent scrapes at the end")
    ap.add_argument("--ipctop", help="the ipctop command (default: beside this Python)")
    args = ap.parse_args(argv)
    ipctop = ipctop_argv(args.ipctop)

    print(f"machine: {machine_line()}")
    with signals_as_exit(), Load(LoadSpec(processes=args.processes)) as load:
        print(f"load: {load.describe()}", flush=True)
        metrics_cmd = [*ipctop, "metrics", "--top", str(args.top)]
        run_timed(metrics_cmd, bench_env())  # warm-up: page cache, .pyc files
        runs = [run_timed(metrics_cmd, bench_env()) for _ in range(args.runs)]
        metrics_rss = peak_rss_kb(metrics_cmd, bench_env())

        server, url = start_server(ipctop, args.top)
        try:
            first = scrape(url)
            walls, scans, sizes = [], [], []
            cpu0 = proc_cpu_seconds(server.pid)
            t0 = time.monotonic()
            for _ in range(args.scrapes):
                time.sleep(args.interval)
                wall, scan, size = scrape(url)
                walls.append(wall)
                scans.append(scan)
                sizes.append(size)
            elapsed = time.monotonic() - t0
            cpu = proc_cpu_seconds(server.pid) - cpu0
            mem = proc_status_kb(server.pid, "VmRSS", "VmHWM")
            together = burst(url, args.burst)
        finally:
            server.terminate()
            server.wait(30)

    print()
    print(stats_table([
        Stats.of_runs("ipctop metrics (whole process)", runs, metrics_rss),
        Stats.of_seconds("serve: first scrape, round trip", [first[0]],
                         note=f"scan {first[1] * 1000:.0f} ms"),
        Stats.of_seconds("serve: later scrapes, round trip", walls,
                         note=f"every {args.interval:g} s"),
        Stats.of_seconds("serve: later scrapes, scan (ipctop_scrape_duration_seconds)", scans),
        Stats.of_seconds(f"serve: {args.burst} concurrent scrapes, round trip", together,
                         note="they share scans"),
    ]))
    print()
    print(markdown_table(["serve", "value"], [
        ["VmRSS after the scrapes", f"{mem.get('VmRSS', 0) / 1024:.1f} MB"],
        ["VmHWM (peak RSS)", f"{mem.get('VmHWM', 0) / 1024:.1f} MB"],
        ["CPU over the scrapes", f"{cpu:.2f} s in {elapsed:.1f} s "
                                 f"({100 * cpu / elapsed:.1f}% of a core)"],
        ["body size (median)", f"{statistics.median(sizes) / 1024:.1f} KiB"],
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
