"""`ipctop leaks`: list suspected IPC leaks with their reasons, and reclaim them safely.

Exit status, for cron and CI: 0 no leak found, 1 leaks found (listed, or removed with --clean
--yes), 2 bad usage or a removal that failed. Objects judged "pending_removal" or "unknown" are
listed but are not leaks: they do not make the exit status 1 and are never removed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ipctop.display import shown
from ipctop.errors import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, UsageError
from ipctop.model import IpcObject, Snapshot

_TABLE = ("STATUS", "KIND", "ID/NAME", "OWNER", "SIZE", "RECLAIM", "AGE", "REASON")
_RIGHT = ("SIZE", "RECLAIM", "AGE")
_STATUS_TEXT = {"leak": "LEAK", "pending_removal": "pending", "unknown": "unknown"}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "leaks",
        help="list suspected IPC leaks and why; --clean to reclaim them",
        description="List IPC objects that look leaked (nothing uses them and whoever made or "
        "used them is gone), each with its reason and the bytes removing it frees. Also lists "
        "SysV segments pending removal and objects that cannot be judged (unknown). Exit 0 "
        "when no leak is found, 1 when leaks are found, 2 on error.",
    )
    p.add_argument("--json", action="store_true", help='print JSON: {"leaks": [...]}')
    p.add_argument("--filter", default="", metavar="TEXT",
                   help="only objects whose id, key, name or path contains TEXT (any case)")
    p.add_argument("--min-age", default=None, metavar="DURATION",
                   help="only objects unused for at least DURATION (30s, 15m, 2h, 1d)")
    p.add_argument("--clean", action="store_true",
                   help="reclaim the leaks: alone a dry run listing what would be removed "
                   "(asks on a terminal); with --yes removes them, re-checking each first")
    p.add_argument("--yes", action="store_true", help="with --clean: remove without asking")
    p.add_argument("--all", action="store_true",
                   help="also list objects judged unknown (counted, not listed, by default)")
    p.add_argument("--ignore-unreadable", action="store_true",
                   help="judge as if processes ipctop cannot read used no IPC (otherwise objects "
                   "they might use are 'unknown'); also IPCTOP_IGNORE_UNREADABLE=1")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ipctop.fmt import parse_duration
    from ipctop.leaks import ignore_unreadable_default

    min_age: float | None = None
    if args.min_age is not None:
        try:
            min_age = parse_duration(args.min_age)
        except ValueError as err:
            raise UsageError(f"--min-age: {err}") from None
    if args.yes and not args.clean:
        raise UsageError("--yes only goes with --clean")
    ignore = bool(args.ignore_unreadable) or ignore_unreadable_default()
    return Leaks(args.filter or None, min_age, ignore, as_json=args.json,
                 show_unknown=args.all).main(clean=args.clean, yes=args.yes)


class Leaks:
    """One run of the command: list, then maybe clean."""

    def __init__(self, filter_text: str | None, min_age: float | None, ignore_unreadable: bool,
                 *, as_json: bool, show_unknown: bool = False) -> None:
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
            doc["clean"], failed = self.clean(todo, yes)
            if failed:
                status = EXIT_ERROR
        if self.as_json:
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        return status

    def listing(self, snap: Snapshot, found: list[IpcObject], counts: dict[str, int],
                now: float) -> dict[str, Any]:
        from ipctop.fmt import format_table, human_age, human_bytes
        from ipctop.leaks import UNKNOWN, age, ident, leak_dict, reclaimable_bytes, summary

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
            print("No leaks found." + (f" {more[0].upper()}{more[1:]}." if more else ""))
            return doc
        rows = []
        for o in found:
            assert o.leak is not None
            a = age(o, now)
            rows.append([
                _STATUS_TEXT.get(o.leak.status, o.leak.status), o.kind.value, ident(o), o.owner,
                human_bytes(o.size), human_bytes(o.leak.reclaim_bytes),
                None if a is None else human_age(now - a, now), o.leak.reason,
            ])
        print(format_table(_TABLE, rows, right=_RIGHT))
        print(f"\n{summary(found)}" + (f"; {more}" if more else ""))
        return doc

    def clean(self, todo: list[IpcObject], yes: bool) -> tuple[dict[str, Any], bool]:
        """Remove ``todo`` when allowed; (the JSON "clean" section, whether any removal failed)."""
        from ipctop.fmt import human_bytes
        from ipctop.leaks import ident, reclaimable_bytes
        from ipctop.reclaim import FAILED, REMOVED, SKIPPED, Outcome, reclaim

        names = [{"kind": o.kind.value, "id": o.id, "name": ident(o),
                  "reclaim_bytes": o.leak.reclaim_bytes if o.leak else 0} for o in todo]
        total = human_bytes(reclaimable_bytes(todo))
        if not todo:
            if not self.as_json:
                print("Nothing to remove.")
            return {"dry_run": not yes, "would_remove": [], "removed": [], "skipped": [],
                    "failed": []}, False
        if not self.as_json:
            print(f"\nWould remove {len(todo)} object{'s' if len(todo) != 1 else ''} "
                  f"({total}):")
            for o in todo:
                print(f"  {o.kind.value} {shown(ident(o))}")
        go = yes or (not self.as_json and _ask(f"Remove these {len(todo)} ({total})? [y/N] "))
        if not go:
            if not self.as_json:
                print("Dry run: nothing removed (add --yes to remove them).")
            return {"dry_run": True, "would_remove": names, "removed": [], "skipped": [],
                    "failed": []}, False

        def say(outcome: Outcome) -> None:
            if not self.as_json:
                print(f"{outcome.result}: {outcome.kind.value} {shown(outcome.label)}: "
                      f"{shown(outcome.message)}")

        outcomes = reclaim(todo, filter_text=self.filter_text, min_age=self.min_age,
                           ignore_unreadable=self.ignore, on_outcome=say)
        by = {r: [o.to_dict() for o in outcomes if o.result == r]
              for r in (REMOVED, SKIPPED, FAILED)}
        freed = sum(o.reclaim_bytes for o in outcomes if o.result == REMOVED)
        if not self.as_json:
            print(f"Removed {len(by[REMOVED])}, skipped {len(by[SKIPPED])}, failed "
                  f"{len(by[FAILED])}; {human_bytes(freed)} freed.")
        return {"dry_run": False, "would_remove": names, **by, "freed_bytes": freed}, \
            bool(by[FAILED])


def _ask(question: str) -> bool:
    """Ask on the terminal; without one (a script, cron) the answer is no."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
