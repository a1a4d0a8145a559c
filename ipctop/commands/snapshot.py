"""`ipctop snapshot`: every IPC object and its users, once, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from ipctop.errors import EXIT_OK, UsageError
from ipctop.model import Kind, Snapshot, kind_words, parse_kind

if TYPE_CHECKING:
    from ipctop.output_options import Style


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from ipctop.output_options import add_output_options

    p = sub.add_parser(
        "snapshot",
        help="print every IPC object and the processes using it",
        description="Print every IPC object on this machine with the processes that use it: a "
        "table per kind, or JSON (schema ipctop.snapshot/1) with --json. On a terminal the "
        "tables fit its width (long command lines and user lists are cut, ids and names "
        "never); piped, nothing is cut. Exit status 0, or 2 on error.",
    )
    add_output_options(p, "print JSON (schema ipctop.snapshot/1: every field, for scripts)")
    p.add_argument(
        "--kind", action="append", default=[], metavar="KIND",
        help="only these kinds (repeat, or comma-separated): " + kind_words(Kind),
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
    from ipctop.output_options import check_spec, style_from_args, wants_column_list

    kinds = parse_kinds(args.kind)
    if wants_column_list(args):
        sys.stdout.write(list_columns(kinds))
        return EXIT_OK
    style = style_from_args(args)  # --json with -o is refused here: it takes no columns
    check_spec(args.output)
    # Bad -o fails before the scan; --json draws no table, so it never imports the renderer
    # and its columns (a tenth of its run).
    columns = {} if args.json else choose_columns(args.output, kinds)

    from ipctop.collect.scan_split import scan_workers
    from ipctop.snapshot import take

    snap = take(kinds=kinds, workers=scan_workers())
    if args.json:
        sys.stdout.write(to_json(snap))
        return EXIT_OK
    custom = columns if args.output is not None else None
    sys.stdout.write(render_tables(snap, kinds, style=style, columns=custom))
    if not readable(style):  # output for scripts: keep the notes out of the rows
        for note in notes(snap):
            print(f"ipctop: {note}", file=sys.stderr)
    return EXIT_OK


def choose_columns(spec: str | None, kinds: set[Kind] | None) -> dict[Kind, list[Any]]:
    """The columns of each kind's table for ``-o spec``: those of the list the kind has (a kind
    with none of them is left out). A name no chosen kind has is a usage error."""
    from ipctop.columns import all_columns, cli_columns
    from ipctop.table import select_columns

    chosen: dict[Kind, list[Any]] = {}
    unknown: set[str] | None = None
    for kind in Kind:
        if kinds is not None and kind not in kinds:
            continue
        cols, missing = select_columns(spec, all_columns(kind), cli_columns(kind))
        unknown = set(missing) if unknown is None else unknown & set(missing)
        if cols:
            chosen[kind] = cols
    if unknown:
        what = f" for {kind_words(sorted(kinds, key=list(Kind).index))}" if kinds else ""
        raise UsageError(f"-o/--output: unknown column {sorted(unknown)[0]!r}{what} "
                         "(see --list-columns)")
    return chosen


def list_columns(kinds: set[Kind] | None) -> str:
    """--list-columns: per kind, every column -o takes (* marks the default ones)."""
    from ipctop.columns import all_columns, cli_columns
    from ipctop.table import column_list

    out = []
    for kind in Kind:
        if kinds is None or kind in kinds:
            out.append(f"{kind.word}:\n{column_list(all_columns(kind), cli_columns(kind))}")
    return "\n".join(out) + "\n* shown by default; -o LIST picks columns, -o +LIST adds them.\n"


def unreadable_note(snap: Snapshot) -> str:
    """"3 processes could not be fully read (/proc/1/fd: Permission denied): ..." and what to do."""
    n = snap.unreadable.count
    what = f"{n} process{'es' if n != 1 else ''} could not be fully read"
    if snap.unreadable.sample:
        what += f" ({snap.unreadable.sample[0]})"
    from ipctop.snapshot import unreadable_advice

    return f"{what}; {unreadable_advice(os.geteuid() == 0)}"


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


def notes(snap: Snapshot) -> list[str]:
    """What the reader should know about the scan: notices, processes that could not be read."""
    from ipctop.display import shown

    out = [f"note: {shown(notice)}" for notice in snap.notices]
    if snap.unreadable.count:
        out.append(f"note: {shown(unreadable_note(snap))}")
    return out


_SIGNAL_HEADERS = {"PID": 0, "COMMAND": 1, "USER": 2, "PENDING": 0, "BLOCKED": 3}
"""The pending-signals table's columns and how soon each is hidden to fit (0: never)."""


def readable(style: Style) -> bool:
    """Output for people (a heading per kind, notes), not only rows for a script."""
    return style.headings and not style.raw


def render_tables(snap: Snapshot, kinds: set[Kind] | None = None, now: float | None = None, *,
                  style: Style | None = None,
                  columns: dict[Kind, list[Any]] | None = None) -> str:
    """The tables: readable (the default), a heading and a table per kind, then processes with
    pending signals (unless -o chose columns) and the notes; with --noheadings or --raw only the
    rows of the object tables (with --raw, each kind's header line first), for scripts."""
    from ipctop.columns import cli_columns, with_container
    from ipctop.output_options import Style
    from ipctop.table import Header, render, render_cells

    style = Style() if style is None else style
    now = time.time() if now is None else now
    plain = readable(style)
    out: list[str] = []
    for kind in Kind:
        if kinds is not None and kind not in kinds:
            continue
        objs = snap.of_kind(kind)
        cols = with_container(cli_columns(kind), objs) if columns is None else columns.get(kind)
        if plain:
            out.append(f"{kind.label} ({len(objs)})\n")
        if cols and objs:
            out.append(render(cols, objs, now, style))
        if plain:
            out.append("\n")
    pending = [p for p in snap.processes if p.signals.pending]
    if plain and pending and kinds is None and columns is None:
        out.append(f"Pending signals ({len(pending)})\n")
        out.append(render_cells(
            [Header(h, right=h == "PID", trunc=h in ("PENDING", "BLOCKED"), priority=rank)
             for h, rank in _SIGNAL_HEADERS.items()],
            [[p.pid, p.comm, p.user, ",".join(p.signals.pending), ",".join(p.signals.blocked)]
             for p in pending], style))
        out.append("\n")
    if plain:
        out.extend(f"{line}\n" for line in notes(snap))
    text = "".join(out)
    return text.rstrip("\n") + "\n" if plain else text
