"""`ipctop snapshot`: every IPC object and its users, once, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ipctop.errors import EXIT_OK, UsageError
from ipctop.model import Kind, Snapshot, parse_kind


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "snapshot",
        help="print every IPC object and the processes using it",
        description="Print every IPC object on this machine with the processes that use it: a "
        "table grouped by kind, or JSON (schema ipctop.snapshot/1) with --json.",
    )
    p.add_argument("--json", action="store_true", help="print JSON (schema ipctop.snapshot/1)")
    p.add_argument(
        "--kind", action="append", default=[], metavar="KIND",
        help="only these kinds (repeat, or comma-separated): "
        + ", ".join(k.value.replace("_", "-") for k in Kind),
    )
    p.set_defaults(func=run)


def parse_kinds(values: list[str]) -> set[Kind] | None:
    """["sysv-shm,pipe", "fifo"] -> {Kind...}; [] -> None (all kinds)."""
    kinds: set[Kind] = set()
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    kinds.add(parse_kind(part))
                except ValueError as err:
                    raise UsageError(str(err)) from None
    return kinds or None


def run(args: argparse.Namespace) -> int:
    from ipctop.collect.scan_split import scan_workers
    from ipctop.snapshot import take

    kinds = parse_kinds(args.kind)
    snap = take(kinds=kinds, workers=scan_workers())
    if args.json:
        sys.stdout.write(to_json(snap))
    else:
        sys.stdout.write(render_tables(snap, kinds))
    return EXIT_OK


def unreadable_note(snap: Snapshot) -> str:
    """"3 processes could not be fully read (/proc/1/fd: Permission denied): ..." and what to do."""
    n = snap.unreadable.count
    what = f"{n} process{'es' if n != 1 else ''} could not be fully read"
    if snap.unreadable.sample:
        what += f" ({snap.unreadable.sample[0]})"
    if os.geteuid() == 0:
        return what + "; even root is refused there (a container or a security module)"
    return what + "; run as root to see which objects they use"


def to_json(snap: Snapshot) -> str:
    """The snapshot as JSON, one object or process per line.

    Readable and diffable, and fast: ``json.dumps(indent=...)`` falls back to the pure-Python
    encoder, which cost more than the whole /proc scan on a busy machine.
    """
    doc = snap.to_dict()
    parts = ["{"]
    for i, (name, value) in enumerate(doc.items()):
        comma = "," if i < len(doc) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = ",\n".join("    " + json.dumps(v) for v in value)
            parts.append(f'  "{name}": [\n{rows}\n  ]{comma}')
        else:
            parts.append(f'  "{name}": {json.dumps(value)}{comma}')
    parts.append("}")
    return "\n".join(parts) + "\n"


def render_tables(snap: Snapshot, kinds: set[Kind] | None = None, now: float | None = None) -> str:
    """The readable form: a heading and a table per kind, then processes with pending signals."""
    from ipctop.columns import columns_for
    from ipctop.display import shown
    from ipctop.fmt import format_table

    now = time.time() if now is None else now
    out: list[str] = []
    for kind in Kind:
        if kinds is not None and kind not in kinds:
            continue
        objs = snap.of_kind(kind)
        out.append(f"{kind.label} ({len(objs)})")
        if objs:
            cols = columns_for(kind)
            rows = [[c.text(o, now) for c in cols] for o in objs]
            titles = [c.title for c in cols]
            out.append(format_table(titles, rows, right=[c.title for c in cols if c.right]))
        out.append("")
    pending = [p for p in snap.processes if p.signals.pending]
    if pending and kinds is None:
        out.append(f"Pending signals ({len(pending)})")
        out.append(format_table(
            ["PID", "COMMAND", "USER", "PENDING", "BLOCKED"],
            [[p.pid, p.comm, p.user, ",".join(p.signals.pending), ",".join(p.signals.blocked)]
             for p in pending],
            right=["PID"],
        ))
        out.append("")
    for notice in snap.notices:
        out.append(f"note: {shown(notice)}")
    if snap.unreadable.count:
        out.append(f"note: {shown(unreadable_note(snap))}")
    return "\n".join(out).rstrip("\n") + "\n"
