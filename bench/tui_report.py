"""The Markdown tables of bench_tui.py: figures against the aims (median / aim), and a summary of
a py-spy profile (collapsed stacks) by thread, by function (self) and by function (inclusive)."""

from __future__ import annotations

import argparse
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchutil import markdown_table

if TYPE_CHECKING:
    from bench_tui import TmuxRun


@dataclass(frozen=True)
class Aims:
    first_screen_s: float
    idle_pct: float
    rss_mb: float
    key_s: float


def _med(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _row(what: str, values: Sequence[float | None], fmt: str, aim: float | None = None,
         aim_text: str = "", worst: bool = False) -> list[str]:
    """One line: runs, median, min, max, aim, median/aim and met (``worst``: met means the
    maximum is under the aim, as for a peak; a missing value is a timeout and never meets)."""
    vals = [v for v in values if v is not None]
    med = _med(values)
    missing = len(values) - len(vals)
    runs = str(len(vals)) + (f" (+{missing} timed out)" if missing else "")
    ratio = "-" if aim is None or med is None else f"{med / aim:.2f}"
    if aim is None or not vals:
        met = "-"
    else:
        judged = max(vals) if worst else med
        met = "yes" if judged < aim and not missing else "NO"
    return [what, runs, _cell(med, fmt), _cell(min(vals) if vals else None, fmt),
            _cell(max(vals) if vals else None, fmt),
            aim_text or ("" if aim is None else f"< {aim:g}"), ratio, met]


def report(runs: Sequence[TmuxRun], headless: Sequence[dict[str, float]],
           args: argparse.Namespace, aims: Aims) -> str:
    rows = [
        _row("tmux: first paint (s)", [r.first_paint for r in runs], ".2f"),
        _row('tmux: status bar shows "N objects" (s)', [r.first_status for r in runs], ".2f"),
        _row("tmux: first screen with objects (s)", [r.first_objects for r in runs], ".2f",
             aims.first_screen_s),
        _row(f"idle CPU, % of one core ({args.idle:g} s at {args.interval:g} s interval)",
             [r.idle_cpu_pct for r in runs if r.idle_cpu_pct is not None], ".1f", aims.idle_pct),
        _row("waiting for a CPU meanwhile, % of the window (schedstat)",
             [r.cpu_wait_pct for r in runs if r.cpu_wait_pct is not None], ".1f"),
        _row("CPU per poll interval (ms)",
             [r.polls_cpu_ms for r in runs if r.polls_cpu_ms is not None], ".0f"),
        _row("/dev/shm+mqueue events in the idle window",
             [r.churn for r in runs if r.churn is not None], ".0f", aim_text="0"),
        _row("VmRSS at first screen (MB)",
             [r.rss_first_mb for r in runs if r.rss_first_mb is not None], ".0f"),
        _row("VmRSS after idle and keys (MB)", [r.rss_mb for r in runs if r.rss_mb is not None],
             ".0f", aims.rss_mb),
        _row("VmHWM (MB)", [r.hwm_mb for r in runs if r.hwm_mb is not None], ".0f",
             aims.rss_mb, worst=True),
    ]
    for r in runs:
        for name, values in (r.keys or {}).items():
            rows.append(_row(f"key {name} (s)", values, ".2f", aims.key_s, worst=True))
    if headless:
        rows += [
            _row("headless run_test: spawn to rows (s)",
                 [h["spawn_to_rows"] for h in headless], ".2f"),
            _row("headless: import ipctop.ui.app (s)", [h["import"] for h in headless], ".2f"),
            _row("headless: app start to rows (s)", [h["app_to_rows"] for h in headless], ".2f"),
        ]
    table = markdown_table(
        ["what", "runs", "median", "min", "max", "aim", "median/aim", "met"], rows)
    split = next((h for h in headless if "process_cpu" in h), None)
    if split is not None and split["idle_wall"] > 0:
        table += "\n\n" + _idle_split(split, args.interval)
    return table


def _idle_split(split: dict[str, float], interval: float) -> str:
    total = 100 * split["process_cpu"] / split["idle_wall"]
    coll = 100 * split["collector_cpu"] / split["idle_wall"]
    per_poll = 1000 * split["collector_cpu"] / max(split["polls"], 1)
    text = (
        f"headless idle split over {split['idle_wall']:.0f} s: {total:.1f}% of a core in "
        f"all; the collector (LiveTake, {int(split['polls'])} polls, {per_poll:.0f} ms CPU "
        f"each) {coll:.1f}%, the rest (Textual: diff, table updates, rendering) "
        f"{total - coll:.1f}%"
    )
    if "main_thread_cpu" in split:
        main = 100 * split["main_thread_cpu"] / split["idle_wall"]
        gcp = 100 * split["gc_cpu"] / split["idle_wall"]
        text += (f"; by thread: the UI (main) thread {main:.1f}%, of which the cyclic "
                 f"garbage collector {gcp:.1f}%")
    expected = split["idle_wall"] / interval
    if split["polls"] > 1.5 * expected:
        text += (
            f"\n\nnote: {int(split['polls'])} polls where the interval alone gives "
            f"~{expected:.0f}: something else made ipctop poll (inotify events from "
            f"/dev/shm or /dev/mqueue churn trigger a poll each), so this was not idle"
        )
    return text


# ---- py-spy ------------------------------------------------------------------------------------

_LINENO = re.compile(r":\d+\)$")
_SITE = re.compile(r"\(.*?(?:site-packages|lib/python3\.\d+)/")


def _frame(frame: str) -> str:
    """``func (path/to/mod.py:12)`` -> ``func (mod path relative to site-packages or repo)``."""
    frame = _LINENO.sub(")", frame.strip())
    frame = _SITE.sub("(", frame)
    return re.sub(r"\(/[^()]*?/(ipctop|bench)/", r"(\1/", frame).replace("(ipctop)", "(-m ipctop)")


def profile_summary(path: str, seconds: float, rate: int = 200, top: int = 25) -> str:
    """Tables of a py-spy raw (collapsed) profile: share of samples and % of one core."""
    threads: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            n = int(count_text)
            frames = stack.split(";")
            thread, frames = frames[0], [_frame(x) for x in frames[1:]]
            total += n
            threads[re.sub(r"\s*\(0x[0-9a-f]+\)", "", thread)] += n
            if frames:
                self_[frames[-1]] += n
            for fr in set(frames):
                incl[fr] += n
    if not total:
        return "py-spy: no samples"
    core = rate * seconds

    def table(title: str, counts: Counter[str]) -> str:
        rows = [[name, f"{100 * n / total:.1f}", f"{100 * n / core:.2f}"]
                for name, n in counts.most_common(top)]
        return f"{title}\n\n" + markdown_table(["where", "% of samples", "% of a core"], rows)

    ours = Counter({k: v for k, v in incl.items()
                    if "(ipctop/" in k and not any(b in k for b in _BOILERPLATE)})
    widgets = Counter({k: v for k, v in incl.items() if "(textual/widgets/" in k})
    return "\n\n".join([
        f"py-spy: {total} samples of busy threads in {seconds:g} s at {rate} Hz "
        f"({100 * total / core:.1f}% of a core; asyncio_0 is the poll worker, MainThread the "
        "UI)",
        table("by thread", threads),
        table("self time (the innermost frame)", self_),
        table("inclusive, ipctop's functions (anywhere on the stack)", ours),
        table("inclusive, Textual's widgets", widgets),
    ])


_BOILERPLATE = ("(ipctop/cli.py)", "run (ipctop/ui/app.py)")
