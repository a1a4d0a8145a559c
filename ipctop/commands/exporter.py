"""`ipctop metrics`: the snapshot as Prometheus metrics, printed once (for node_exporter's
textfile collector).

prometheus_client is imported only when one of these runs, never when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ipctop.commands.snapshot import parse_kinds
from ipctop.errors import EXIT_OK
from ipctop.model import Kind, kind_words

DEFAULT_TOP = 20
"""Per-object series for this many of the largest objects, unless --top says otherwise."""


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kind", action="append", default=[], metavar="KIND",
        help="only these kinds (repeat, or comma-separated): " + kind_words(Kind),
    )
    p.add_argument("--top", type=_top, default=DEFAULT_TOP, metavar="N",
                   help=f"per-object series for the N largest objects only (default "
                   f"{DEFAULT_TOP}; 0: none)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "metrics",
        help="print one snapshot as Prometheus metrics (text exposition format)",
        description="Print one snapshot in the Prometheus text exposition format, for "
        "node_exporter's textfile collector: ipctop metrics > DIR/ipctop.prom.$$ && mv "
        "DIR/ipctop.prom.$$ DIR/ipctop.prom",
    )
    _common(p)
    p.set_defaults(func=run_metrics)


def run_metrics(args: argparse.Namespace) -> int:
    from ipctop.collect.scan_split import scan_workers
    from ipctop.metrics import render
    from ipctop.snapshot import take

    kinds = parse_kinds(args.kind)
    start = time.monotonic()
    snap = take(kinds=kinds, workers=scan_workers())
    took = time.monotonic() - start
    sys.stdout.buffer.write(render(snap, kinds=kinds, top=args.top, duration=took))
    return EXIT_OK
