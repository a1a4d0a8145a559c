"""`ipctop leaks`: list suspected IPC leaks with their reasons, and reclaim them safely.

Exit status, for cron and CI: 0 no leak found (or, with --clean --yes, every leak found was
removed), 1 leaks found (listed; with --clean --yes: some remain, not removable or skipped on the
re-check), 2 bad usage or a removal that failed. Objects judged "pending_removal" or "unknown" are
listed but are not leaks: they do not make the exit status 1 and are never removed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from ipctop.columns import (
    CONTAINER,
    CTIME,
    KEY,
    MODE,
    NS_PID,
    OWNER,
    SIZE,
    UID,
    USERS,
    Column,
    with_container,
)
from ipctop.display import shown
from ipctop.errors import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, UsageError
from ipctop.fmt import human_age, human_bytes
from ipctop.leaks import ident, is_removable, since
from ipctop.model import IpcObject, Kind, Snapshot

if TYPE_CHECKING:
    from ipctop.output_options import Style

_STATUS_TEXT = {"leak": "LEAK", "pending_removal": "pending", "unknown": "unknown"}


def _leak(get: Any) -> Any:
    return lambda o: None if o.leak is None else get(o.leak)


COLUMNS: tuple[Column, ...] = (
    Column("status", "STATUS", _leak(lambda v: _STATUS_TEXT.get(v.status, v.status)),
           help="LEAK, pending (removed while attached) or unknown", priority=0),
    Column("kind", "KIND", lambda o: o.kind.word,
           help="kind, as commands take it (sysv-shm, posix-mq, ...)"),
    Column("ident", "ID/NAME", ident, help="POSIX name or path; SysV id and key"),
    OWNER,
    SIZE,
    Column("reclaim", "RECLAIM", _leak(lambda v: v.reclaim_bytes),
           lambda v, now: human_bytes(v), right=True, unit="bytes",
           help="bytes of memory removing it frees (a SysV segment never touched holds none)"),
    Column("age", "AGE", since, lambda v, now: human_age(v, now), right=True, timed=True,
           help="time since it was last used or changed (what --min-age measures)"),
    Column("reason", "REASON", _leak(lambda v: v.reason), trunc=True, min_width=24,
           help="why, one sentence"),
)
"""The table's columns by default."""

EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("id", "ID", lambda o: o.id, right=True, help="SysV id, POSIX /name or path"),
    KEY, MODE, UID, CTIME, USERS, CONTAINER, NS_PID,
    Column("removable", "REMOVABLE", lambda o: "yes" if is_removable(o) else "no",
           help="whether --clean removes it (leaks of the SysV and POSIX kinds)"),
    Column("evidence", "EVIDENCE", _leak(lambda v: "; ".join(v.evidence)), trunc=True,
           min_width=24, help="the facts behind the verdict"),
)
"""Columns ``-o`` also takes."""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    from ipctop.output_options import add_output_options

    p = sub.add_parser(
        "leaks",
        help="list suspected IPC leaks and why; --clean to reclaim them",
        description="List IPC objects that look leaked (nothing uses them and whoever made or "
        "used them is gone), each with its reason and the bytes removing it frees. Also lists "
        "SysV segments pending removal and objects that cannot be judged (unknown). Exit 0 "
        "when no leak is found, 1 when leaks are found, 2 on error. With --clean --yes: exit 0 "
        "when every leak found was removed, 1 when some remain.",
    )
    add_output_options(p, 'print JSON: {"leaks": [...], ...} (every field, for scripts)')
    p.add_argument("--filter", default="", metavar="TEXT",
                   help="only objects whose id, key, name or path contains TEXT (any case)")
    p.add_argument("--min-age", default=None, metavar="DURATION",
                   help="only objects unused for at least DURATION (30s, 15m, 2h, 1d)")
    p.add_argument("--clean", action="store_true",
                   help="reclaim the leaks: alone a dry run listing what --yes would remove "
                   "(it never asks); with --yes removes them, re-checking each first")
    p.add_argument("--yes", "-y", action="store_true",
                   help="with --clean: remove them (nothing is ever removed without it)")
    p.add_argument("--all", action="store_true",
                   help="also list objects judged unknown (counted, not listed, by default)")
    p.add_argument("--ignore-unreadable", action="store_true",
                   help="judge as if processes ipctop cannot read used no IPC (otherwise objects "
                   "they might use are 'unknown'); also IPCTOP_IGNORE_UNREADABLE=1")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ipctop.fmt import parse_duration
    from ipctop.leaks import ignore_unreadable_default
    from ipctop.output_options import check_spec, style_from_args, wants_column_list
    from ipctop.table import column_list, select_columns

    if wants_column_list(args):
        sys.stdout.write(column_list((*COLUMNS, *EXTRA_COLUMNS), COLUMNS)
                         + "\n* shown by default; -o LIST picks columns, -o +LIST adds them.\n")
        return EXIT_OK
    style = style_from_args(args)
    check_spec(args.output)
    columns, unknown = select_columns(args.output, (*COLUMNS, *EXTRA_COLUMNS), COLUMNS)
    if unknown:
        raise UsageError(f"-o/--output: unknown column {unknown[0]!r} (see --list-columns)")
    min_age: float | None = None
    if args.min_age is not None:
        try:
            min_age = parse_duration(args.min_age)
        except ValueError as err:
            raise UsageError(f"--min-age: {err}") from None
    if args.yes and not args.clean:
        raise UsageError("--yes only goes with --clean")
    ignore = bool(args.ignore_unreadable) or ignore_unreadable_default()
    leaks = Leaks(args.filter or None, min_age, ignore, as_json=args.json,
                  show_unknown=args.all, style=style, columns=columns)
    return leaks.main(clean=args.clean, yes=args.yes)


class Leaks:
    """One run of the command: list, then maybe clean."""

    def __init__(self, filter_text: str | None, min_age: float | None, ignore_unreadable: bool,
                 *, as_json: bool, show_unknown: bool = False, style: Style | None = None,
                 columns: list[Column] | None = None) -> None:
        from ipctop.output_options import Style

        self.style = Style() if style is None else style
        self.columns = list(COLUMNS) if columns is None else columns
        self.default_columns = self.columns == list(COLUMNS)
        self.readable = self.style.headings and not self.style.raw
        """For people: the summary, the "Would remove" list; otherwise only the rows (notes,
        summaries and outcomes go to stderr) for a script."""
        self.filter_text = filter_text
        self.show_unknown = show_unknown
        self.min_age = min_age
        self.ignore = ignore_unreadable
        self.as_json = as_json

    def main(self, *, clean: bool, yes: bool) -> int:
        from ipctop.collect.scan_split import scan_workers
        from ipctop.leaks import LEAK, STATUSES, UNKNOWN, find_leaks, judge
        from ipctop.reclaim import candidates
        from ipctop.snapshot import take

        snap = judge(take(workers=scan_workers()), ignore_unreadable=self.ignore)
        now = time.time()
        every = find_leaks(snap, min_age=self.min_age, filter_text=self.filter_text, now=now)
        counts = {s: sum(1 for o in every if o.leak and o.leak.status == s) for s in STATUSES}
        found = [o for o in every if self.show_unknown or (o.leak and o.leak.status != UNKNOWN)]
        status = EXIT_NOTHING if counts[LEAK] else EXIT_OK
        doc: dict[str, Any] = self.listing(snap, found, counts, now)
        if clean:
            todo = candidates(snap, min_age=self.min_age, filter_text=self.filter_text, now=now)
            doc["clean"] = self.clean(todo, yes)
            if doc["clean"]["failed"]:
                status = EXIT_ERROR
            elif yes:  # 0 once every leak found is gone; 1 while some remain
                status = EXIT_NOTHING if counts[LEAK] > len(doc["clean"]["removed"]) else EXIT_OK
        if self.as_json:
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        return status

    def say(self, text: str) -> None:
        """A line for the person: stdout in the readable form, stderr when stdout is rows for a
        script; nothing with --json."""
        if not self.as_json:
            print(text, file=sys.stdout if self.readable else sys.stderr)

    def listing(self, snap: Snapshot, found: list[IpcObject], counts: dict[str, int],
                now: float) -> dict[str, Any]:
        from ipctop.leaks import LEAK, UNKNOWN, leak_dict, reclaimable_bytes, summary
        from ipctop.table import render

        doc: dict[str, Any] = {
            "taken_at": snap.taken_at,
            "leaks": [leak_dict(o, now) for o in found],
            "counts": counts,
            "reclaim_bytes": reclaimable_bytes(found),
            "unreadable": snap.unreadable.count,
            "notices": list(snap.notices),
        }
        if self.as_json:
            return doc
        for notice in snap.notices:
            print(f"ipctop: {shown(notice)}", file=sys.stderr)
        hidden = 0 if self.show_unknown else counts[UNKNOWN]
        more = (f"{hidden} unknown not listed (processes ipctop cannot read might use them; "
                "--all lists them)") if hidden else ""
        if not found:
            self.say("No leaks found." + (f" {more[0].upper()}{more[1:]}." if more else ""))
            return doc
        columns = with_container(self.columns, found) if self.default_columns else self.columns
        sys.stdout.write(render(columns, found, now, self.style))
        idle = [o for o in found if _never_touched(o) and o.leak and o.leak.status == LEAK]
        if idle:
            n = len(idle)
            more = (f"{n} SysV segment{'s' if n != 1 else ''} "
                    f"({human_bytes(sum(o.size or 0 for o in idle))}) never touched, so "
                    f"holding no memory" + (f"; {more}" if more else ""))
        self.say(("\n" if self.readable else "") + summary(found) + (f"; {more}" if more else ""))
        return doc

    def clean(self, todo: list[IpcObject], yes: bool) -> dict[str, Any]:
        """Remove ``todo`` with ``yes``, else only say what that would remove; the JSON "clean"
        section."""
        from ipctop.leaks import reclaimable_bytes
        from ipctop.reclaim import FAILED, REMOVED, SKIPPED, Outcome, reclaim

        names = [{"kind": o.kind.value, "id": o.id, "name": ident(o),
                  "reclaim_bytes": o.leak.reclaim_bytes if o.leak else 0} for o in todo]
        if not todo:
            self.say("Nothing to remove.")
            return {"dry_run": not yes, "would_remove": [], "removed": [], "skipped": [],
                    "failed": []}
        total = human_bytes(reclaimable_bytes(todo))
        self.say(f"\n{'Removing' if yes else 'Would remove'} {len(todo)} "
                 f"object{'s' if len(todo) != 1 else ''} ({total} of memory):")
        for o in todo:
            self.say(f"  {o.kind.word} {shown(ident(o))}: {frees(o)}")
        if not yes:
            self.say("Dry run: nothing removed (add --yes to remove them).")
            return {"dry_run": True, "would_remove": names, "removed": [], "skipped": [],
                    "failed": []}

        def report(outcome: Outcome) -> None:
            self.say(f"{outcome.result}: {outcome.kind.word} {shown(outcome.label)}: "
                     f"{shown(outcome.message)}")

        outcomes = reclaim(todo, filter_text=self.filter_text, min_age=self.min_age,
                           ignore_unreadable=self.ignore, on_outcome=report)
        by = {r: [o.to_dict() for o in outcomes if o.result == r]
              for r in (REMOVED, SKIPPED, FAILED)}
        freed = sum(o.reclaim_bytes for o in outcomes if o.result == REMOVED)
        removed = {(o.kind, o.id) for o in outcomes if o.result == REMOVED}
        untouched = sum(o.size or 0 for o in todo
                        if (o.kind, o.id) in removed and _never_touched(o))
        self.say(f"Removed {len(by[REMOVED])}, skipped {len(by[SKIPPED])}, failed "
                 f"{len(by[FAILED])}; {human_bytes(freed)} of memory freed"
                 + (f" (and {human_bytes(untouched)} of SysV segments never touched, which "
                    "held no memory)" if untouched else "") + ".")
        return {"dry_run": False, "would_remove": names, **by, "freed_bytes": freed}


def _never_touched(o: IpcObject) -> bool:
    """A SysV segment whose pages were never written: it holds no memory (RECLAIM 0B) though
    its size counts against shmall until removed."""
    return (o.kind is Kind.SYSV_SHM and bool(o.size) and o.leak is not None
            and o.leak.reclaim_bytes == 0)


def frees(o: IpcObject) -> str:
    """"frees 4.0K", or for a segment never touched "frees 0B of memory (4.0K, never
    touched)"."""
    reclaim = o.leak.reclaim_bytes if o.leak else 0
    if _never_touched(o):
        return f"frees 0B of memory ({human_bytes(o.size)} segment, never touched)"
    return f"frees {human_bytes(reclaim)}"
