"""`ipctop metrics` and `ipctop serve`: the snapshot as Prometheus metrics, printed once (for
node_exporter's textfile collector) or served over HTTP for Prometheus to scrape.

prometheus_client is imported only when one of these runs, never when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ipctop.cli import whole_number
from ipctop.commands.snapshot import parse_kinds
from ipctop.errors import EXIT_OK, UsageError
from ipctop.model import Kind, kind_words

DEFAULT_PORT = 9863
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
DEFAULT_TOP = 20
"""Per-object series for this many of the largest objects, unless --top says otherwise."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kind", action="append", default=[], metavar="KIND",
        help="only these kinds (repeat, or comma-separated): " + kind_words(Kind),
    )
    p.add_argument("--top", type=whole_number(0), default=DEFAULT_TOP, metavar="N",
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

    p = sub.add_parser(
        "serve",
        help="serve Prometheus metrics over HTTP (/metrics)",
        description="Answer Prometheus scrapes: /metrics takes a fresh snapshot per scrape "
        "(scrapes that arrive together share one), / is a one-line page. Read-only: no action "
        "is ever offered over HTTP. Runs until SIGTERM or Ctrl-C. As root it sees every "
        "process, and the metrics name objects: keep it on localhost (the default) or behind "
        "a firewall.",
    )
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT",
                   help=f"address and port to listen on (default {DEFAULT_LISTEN}; "
                   "[::1]:PORT for IPv6; port 0 picks a free one)")
    _common(p)
    p.set_defaults(func=run_serve)


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:9863" -> ("127.0.0.1", 9863); "[::1]:9863" -> ("::1", 9863)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--listen wants ADDR:PORT, e.g. {DEFAULT_LISTEN}: {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen: write an IPv6 address in brackets, e.g. [::1]:"
                         f"{DEFAULT_PORT}: {text!r}")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--listen: not a port number: {port_text!r}")
    return host, int(port_text)


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


def run_serve(args: argparse.Namespace) -> int:
    from ipctop.serve import serve

    kinds = parse_kinds(args.kind)
    host, port = parse_listen(args.listen)
    return serve(host, port, kinds=kinds, top=args.top)
