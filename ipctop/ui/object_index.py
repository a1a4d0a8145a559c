"""Which objects each view lists and which pass the filter, kept up to date poll by poll.

The tab counts and the rows of the current view come from here. Each poll updates only the
objects it touched (created, changed, removed: ``LiveState.touched``), so with 16,000 objects an
idle poll costs nothing per view; a new filter text is matched once against every object (the
texts searched are cached per object instance), and a count with a filter is a set intersection.
No Textual here: a plain function of the live state, tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ipctop.model import IpcObject
from ipctop.ui.row_text import haystack_text
from ipctop.ui.views import View


class ObjectIndex:
    """View id -> the row keys it lists; the row keys the filter lets through."""

    def __init__(self, views: Sequence[View]) -> None:
        self.views = tuple(views)
        self.members: dict[str, set[str]] = {view.id: set() for view in self.views}
        """View id -> row keys of the objects the view lists (filter aside)."""
        self.needle = ""
        """The filter, stripped and lowercase ("" lets everything through)."""
        self.passed: set[str] = set()
        """Row keys of the objects the filter lets through (unused while it is empty)."""
        self._hay: dict[str, tuple[IpcObject, str]] = {}

    def update(self, objects: Mapping[str, IpcObject], touched: Iterable[str]) -> None:
        """Take in the objects whose keys are ``touched`` (created, changed or gone)."""
        for key in touched:
            obj = objects.get(key)
            for view in self.views:
                members = self.members[view.id]
                if obj is not None and view.match(obj):
                    members.add(key)
                else:
                    members.discard(key)
            if obj is None:
                self._hay.pop(key, None)
                self.passed.discard(key)
            elif self.needle:
                if self.needle in self._haystack(key, obj):
                    self.passed.add(key)
                else:
                    self.passed.discard(key)

    def set_filter(self, text: str, objects: Mapping[str, IpcObject]) -> bool:
        """Filter by ``text`` (case aside); False when it is the filter already."""
        needle = text.strip().lower()
        if needle == self.needle:
            return False
        self.needle = needle
        self.passed = {key for key, obj in objects.items()
                       if needle in self._haystack(key, obj)} if needle else set()
        if not needle:
            self._hay.clear()  # rebuilt as needed by the next filter
        return True

    def _haystack(self, key: str, obj: IpcObject) -> str:
        cached = self._hay.get(key)
        if cached is not None and cached[0] is obj:
            return cached[1]
        hay = haystack_text(obj)
        self._hay[key] = (obj, hay)
        return hay

    def passes(self, key: str) -> bool:
        return not self.needle or key in self.passed

    def listed(self, view_id: str) -> set[str]:
        """Row keys the view lists with the filter applied."""
        members = self.members.get(view_id, set())
        return members & self.passed if self.needle else set(members)

    def count(self, view_id: str) -> int:
        members = self.members.get(view_id, set())
        return len(members & self.passed) if self.needle else len(members)
