"""The views of the main table: "All", one per kind, and any a later feature registers.

A :class:`View` is a named filter over the snapshot's objects plus the columns to show. The app
builds its tab bar from ``all_views()`` when it starts, so a feature adds a view by calling
:func:`register_view` at import time of its module (the leaks engineer's ``leak_actions.py`` is
imported by app.py, so registering there is enough)::

    from ipctop.columns import columns_for
    from ipctop.ui.views import View, register_view

    register_view(View("leaks", "Leaks", lambda o: o.leak is not None, columns_for(None)))

Views keep the order of registration after the built-in ones. The "Events" log is not a View (it
shows events, not objects) and always comes last in the tab bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ipctop.columns import Column, columns_for
from ipctop.model import IpcObject, Kind


@dataclass(frozen=True)
class View:
    id: str
    """Stable identifier, used in widget ids: lowercase letters, digits, "-" and "_"."""
    title: str
    """Tab label (the count of matching objects is added to it)."""
    match: Callable[[IpcObject], bool]
    """Which objects the view lists."""
    columns: Sequence[Column]
    """Columns from ipctop.columns (the first one decides the default sort)."""
    kind: Kind | None = None
    """The kind this view is about, if only one (used by actions such as "new")."""
    short: str = ""
    """Tab label on a narrow terminal (default: the title)."""

    @property
    def short_title(self) -> str:
        return self.short or self.title


SHORT_TITLES: dict[str, str] = {
    "sysv_shm": "shm", "sysv_msg": "msg", "sysv_sem": "sem", "posix_shm": "pshm",
    "posix_mq": "pmq", "posix_sem": "psem", "pipe": "pipe", "fifo": "fifo",
    "unix_socket": "sock", "shared_mapping": "map", "anon_shm": "anon", "memfd": "memfd",
    "eventfd": "evfd", "inet_socket": "inet",
}
"""Kind value -> tab label on a narrow terminal (a kind not named keeps its label)."""


def _kind_view(kind: Kind) -> View:
    return View(kind.value.replace("_", "-"), kind.label, lambda o: o.kind is kind,
                columns_for(kind), kind, SHORT_TITLES.get(kind.value, ""))


BASE_VIEWS: tuple[View, ...] = (
    View("all", "All", lambda o: True, columns_for(None)),
    *(_kind_view(k) for k in Kind),
)

EXTRA_VIEWS: list[View] = []
"""Views registered by other features, in order."""


def register_view(view: View) -> None:
    """Add a view after the built-in ones (replacing one registered earlier with the same id)."""
    for i, existing in enumerate(EXTRA_VIEWS):
        if existing.id == view.id:
            EXTRA_VIEWS[i] = view
            return
    EXTRA_VIEWS.append(view)


def all_views() -> list[View]:
    return [*BASE_VIEWS, *EXTRA_VIEWS]
