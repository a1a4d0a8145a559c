"""Leak hunting in the TUI: the Leaks view and the reclaim action (L or c).

Contract with app.py: ``IpcTopApp`` inherits this mixin and appends ``LeakActions.BINDINGS`` to
its own. The app (seen through ipctop.ui.host.Host) provides ``snapshot`` (already judged:
``snapshot.take`` sets every ``leak``), ``current_view``, ``table`` and ``request_poll()``.
Importing this module registers the Leaks view (see ipctop/ui/views.py). The reason of a verdict
is shown by the detail pane, the total reclaimable bytes by the status bar.

Reclaim removes what the current view shows that is judged "leak" and can be removed (honouring
the filter being typed), after one Yes/No box that lists every object. The removal runs in a
thread worker with ipctop.reclaim, the same code as `ipctop leaks --clean --yes`: each object is
judged again on a fresh snapshot just before it is removed, and skipped if it came back in use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

from textual.binding import Binding, BindingType

from ipctop.columns import Column
from ipctop.fmt import human_age, human_bytes
from ipctop.leaks import ident, ignore_unreadable_default, reclaimable_bytes, since
from ipctop.model import IpcObject
from ipctop.reclaim import FAILED, REMOVED, SKIPPED, Outcome, plan, reclaim
from ipctop.ui.host import host_of
from ipctop.ui.views import View, register_view
from ipctop.ui.widgets.object_table import row_key_of

MAX_LISTED = 12
"""Objects named one per line in the confirm box; the rest are counted."""
_STATUS = {"leak": "LEAK", "pending_removal": "rmid", "unknown": "?"}


def _status(o: IpcObject) -> str | None:
    return None if o.leak is None else _STATUS.get(o.leak.status, "?")


def _reclaim(o: IpcObject) -> int | None:
    return None if o.leak is None else o.leak.reclaim_bytes


def _reason(o: IpcObject) -> str | None:
    return None if o.leak is None else o.leak.reason


LEAK_COLUMNS: tuple[Column, ...] = (
    Column("leak", "LEAK", _status),
    Column("kind", "KIND", lambda o: o.kind.label),
    Column("ident", "ID/NAME", ident),
    Column("owner", "OWNER", lambda o: o.owner),
    Column("reclaim", "RECLAIM", _reclaim, lambda v, now: human_bytes(v), right=True),
    Column("since", "IDLE", since, lambda v, now: human_age(v, now), right=True, timed=True),
    Column("reason", "REASON", _reason),
)
"""The Leaks view's columns: verdict, what, how much it frees, idle for how long, why."""

LEAKS_VIEW = View("leaks", "Leaks", lambda o: o.leak is not None, LEAK_COLUMNS)
register_view(LEAKS_VIEW)


def confirm_lines(objects: Sequence[IpcObject]) -> list[str]:
    """The confirm box's body: one line per object (the first few), then what happens."""
    lines = []
    for o in objects[:MAX_LISTED]:
        freed = human_bytes(o.leak.reclaim_bytes if o.leak else 0)
        reason = o.leak.reason if o.leak else ""
        lines.append(f"• {o.kind.label} {ident(o)} ({freed}): {reason}")
    if len(objects) > MAX_LISTED:
        lines.append(f"  … and {len(objects) - MAX_LISTED} more")
    lines += ["", "Each is checked again just before it is removed: anything back in use, "
              "changed or gone is skipped."]
    return lines


def outcome_text(outcomes: Sequence[Outcome]) -> str:
    """"Removed 2 (1.5M freed), skipped 1, failed 0" and the first skip or failure reason."""
    n = {r: sum(1 for o in outcomes if o.result == r) for r in (REMOVED, SKIPPED, FAILED)}
    freed = sum(o.reclaim_bytes for o in outcomes if o.result == REMOVED)
    text = (f"Removed {n[REMOVED]} ({human_bytes(freed)} freed), skipped {n[SKIPPED]}, "
            f"failed {n[FAILED]}.")
    for o in outcomes:
        if o.result != REMOVED:
            text += f"\n{o.result}: {o.kind.label} {o.label}: {o.message}"
    return text


class LeakActions:
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("L,c", "reclaim_leaks", "Reclaim leaks", key_display="L"),
    ]
    FALLBACKS: ClassVar[list[BindingType]] = [
        Binding("L,c", "why_not('reclaim_leaks')", "", show=False),
    ]
    """L with no leak anywhere: hidden from the footer, it says there is nothing to reclaim."""

    def leak_action_check(self, action: str) -> bool | None:
        """The footer offers L only while something is judged a leak."""
        if action != "reclaim_leaks":
            return None
        host, app = host_of(self)
        snap = host.snapshot
        return app.screen is app.screen_stack[0] and snap is not None and any(
            o.leak is not None and o.leak.status == "leak" for o in snap.objects)

    leak_ignore_unreadable: bool | None = None
    """Judge re-checks as if unreadable processes used no IPC; None: IPCTOP_IGNORE_UNREADABLE."""
    last_reclaim: list[Outcome] | None = None
    """What the last reclaim did (for tests and the curious)."""

    def reclaim_targets(self) -> list[IpcObject]:
        """The removable leaks the current view shows (after its filter); all of them on the
        events log."""
        host, _app = host_of(self)
        snap = host.snapshot
        if snap is None:
            return []
        view = host.current_view
        if view is None:
            return plan(snap.objects)
        shown = set(host.table.row_keys_in_order())
        return [o for o in plan(snap.objects) if view.match(o) and row_key_of(o) in shown]

    def action_reclaim_leaks(self) -> None:
        host, app = host_of(self)
        if app.screen is not app.screen_stack[0]:
            return
        if host.snapshot is None:
            app.notify("No snapshot yet.", title="Reclaim", severity="warning")
            return
        todo = self.reclaim_targets()
        if not todo:
            unknown = sum(1 for o in host.snapshot.objects
                          if o.leak is not None and o.leak.status == "unknown")
            hint = (f" {unknown} objects are unknown (processes ipctop cannot read might use "
                    "them); they are never removed.") if unknown else ""
            app.notify(f"Nothing to reclaim here.{hint}", title="Reclaim")
            return
        from ipctop.ui.screens.confirm import ConfirmScreen

        total = human_bytes(reclaimable_bytes(todo))
        count = f"{len(todo)} leaked object{'s' if len(todo) != 1 else ''}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_reclaim(todo)
            else:
                app.notify(f"Kept {count}.", title="Reclaim")

        app.push_screen(ConfirmScreen(f"Remove {count}, freeing {total}?", confirm_lines(todo),
                                      yes_label="Remove"), answered)

    def _start_reclaim(self, todo: list[IpcObject]) -> None:
        _host, app = host_of(self)
        ignore = self.leak_ignore_unreadable
        if ignore is None:
            ignore = ignore_unreadable_default()

        def work() -> None:  # in a thread: one fresh snapshot per object
            try:
                outcomes = reclaim(todo, ignore_unreadable=ignore)
            except Exception as err:  # never let a worker error take the app down
                with contextlib.suppress(RuntimeError):
                    app.call_from_thread(app.notify, f"Reclaim failed: {err}", title="Reclaim",
                                         severity="error")
                return
            with contextlib.suppress(RuntimeError):
                app.call_from_thread(self._reclaim_done, outcomes)

        app.notify(f"Reclaiming {len(todo)}…", title="Reclaim", timeout=3)
        app.run_worker(work, thread=True, exit_on_error=False, group="reclaim",
                       name="reclaim leaks")

    def _reclaim_done(self, outcomes: list[Outcome]) -> None:
        host, app = host_of(self)
        self.last_reclaim = outcomes
        failed = any(o.result == FAILED for o in outcomes)
        app.notify(outcome_text(outcomes), title="Reclaim",
                   severity="error" if failed else "information", timeout=10)
        host.request_poll()
