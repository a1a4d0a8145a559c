"""The main table stays right when thousands of objects change between two polls.

A fake collector lists 12,000 objects; each poll then removes 3,000, adds 3,000 and changes
4,000 (their size, which the table is sorted by, and their owner): 10,000 changes a poll. After
each poll every row is checked against what the snapshot says, computed here from the objects
alone: which rows are listed (with the new ones marked "+" and the gone ones "-" for a poll),
their order, the text of their cells, the tab counts, and that the cursor is still on the object
it was on. Then the same under a filter, 10,000 changes with nothing added or removed, the
cursor's own object removed, a sort by another column, and a view shown again after a poll.
Timings are measured in bench/, never asserted here.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

from fakes import HOST, LIMITS, T0, base_processes
from test_ui_app import make_app, poll, running, sync
from textual.coordinate import Coordinate
from textual.widgets import Tab

from ipctop.columns import columns_for
from ipctop.fmt import human_bytes
from ipctop.kinds import PosixShm, SysvShm
from ipctop.model import IpcObject, Leak, Snapshot, Unreadable
from ipctop.ui.app import IpcTopApp
from ipctop.ui.widgets.object_table import row_key_of

START = 12_000
REMOVED = ADDED = 3_000
CHANGED = 4_000  # 10,000 changes a poll in all
OWNERS = ("alice", "bob", "carol")


class BigCollector:
    """Snapshots of many objects; ``churn()`` makes the next one differ by 10,000 changes."""

    def __init__(self) -> None:
        self.random = random.Random(10)
        self._sizes: Iterator[int] = iter(self.random.sample(range(1, 50_000_000), 200_000))
        self._serial = 0
        self.objects: dict[str, IpcObject] = {}
        for _ in range(START):
            self._add()
        self.calls = 0
        self.removed: set[str] = set()
        self.added: set[str] = set()
        self.changed: set[str] = set()

    def _add(self) -> str:
        n = self._serial
        self._serial += 1
        owner = OWNERS[n % 3]
        leak = Leak("nobody attached", 4096) if n % 7 == 0 else None
        obj: IpcObject
        if n % 2:
            obj = PosixShm(id=f"/big-{n}", name=f"/big-{n}", path=f"/dev/shm/big-{n}",
                           mode="0600", size=next(self._sizes) * 8, ctime=T0 - n, dev=25,
                           inode=100_000 + n, owner=owner, uid=1000, leak=leak)
        else:
            obj = SysvShm(id=str(1_000_000 + n), key=f"0x{n:08x}", mode="0600",
                          size=next(self._sizes) * 8, ctime=T0 - n, nattch=0, cpid=1, lpid=1,
                          owner=owner, uid=1000, leak=leak)
        key = row_key_of(obj)
        self.objects[key] = obj
        return key

    def churn(self, keep: str, removed: int = REMOVED, added: int = ADDED,
              changed: int = CHANGED) -> None:
        """Remove, add and change objects (never remove ``keep``, whose size changes)."""
        keys = [k for k in self.objects if k != keep]
        picked = self.random.sample(keys, removed + changed - 1)
        self.removed = set(picked[:removed])
        self.changed = {*picked[removed:], keep}
        for key in self.removed:
            del self.objects[key]
        for key in self.changed:
            obj = self.objects[key]
            owner = OWNERS[(OWNERS.index(obj.owner or "alice") + 1) % 3]
            self.objects[key] = dataclasses.replace(obj, size=next(self._sizes) * 8,
                                                    owner=owner)
        self.added = {self._add() for _ in range(added)}

    def __call__(self) -> Snapshot:
        self.calls += 1
        return Snapshot(taken_at=T0 + 2 * self.calls, hostname=HOST,
                        objects=tuple(self.objects.values()), processes=tuple(base_processes()),
                        unreadable=Unreadable(0, ()), notices=(), limits=LIMITS)


def tab_counts(app: IpcTopApp) -> dict[str, str]:
    return {str(tab.id): str(tab.label).rsplit(" ", 1)[-1] for tab in app.query(Tab)}


def check_table(app: IpcTopApp, objects: dict[str, IpcObject], fresh: set[str],
                ghosts: dict[str, IpcObject], needle: str = "") -> None:
    """The table lists exactly ``objects`` and ``ghosts`` passing the filter ``needle`` (an
    owner here), largest size first, with the right marks and cells; the tabs count them."""
    table = app.table
    listed = {k: o for k, o in objects.items() if needle in (o.owner or "")}
    fading = {k: o for k, o in ghosts.items() if needle in (o.owner or "")}
    shown = {**listed, **fading}
    order = sorted(shown, key=lambda k: shown[k].size or 0, reverse=True)
    assert table.row_count == len(order)
    assert table.row_keys_in_order() == order
    drawn = [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
             for i in range(0, len(order), 97)]  # what DataTable draws at those lines
    assert drawn == order[::97]
    for key, obj in shown.items():
        row = table.get_row(key)
        cells = dict(zip((str(c.value) for c in table.columns), (str(c) for c in row),
                         strict=True))
        assert cells["mark"] == ("-" if key in fading else "+" if key in fresh else " "), key
        assert cells["size"] == human_bytes(obj.size or 0), key
        assert cells["owner"] == obj.owner, key
        assert cells["ident"] == obj.id if obj.name is None else obj.name, key
    counts = tab_counts(app)
    assert counts["view-all"] == str(len(listed))
    assert counts["view-sysv-shm"] == str(sum(1 for o in listed.values()
                                              if isinstance(o, SysvShm)))
    assert counts["view-posix-shm"] == str(sum(1 for o in listed.values()
                                               if isinstance(o, PosixShm)))


@sync
async def test_ten_thousand_changes_between_polls_keep_rows_counts_and_cursor() -> None:
    fake = BigCollector()
    app = make_app(fake)  # type: ignore[arg-type]
    async with running(app, size=(160, 48)) as pilot:
        app.set_sort("size")  # largest first: every changed size moves its row
        assert {"size", "owner", "ident"} <= set(app.table.widths)
        check_table(app, fake.objects, set(), {})
        # the cursor on an object in the middle, whose size is about to change
        keep = app.table.row_keys_in_order()[START // 2]
        assert app.table.select_key(keep)
        for _ in range(2):
            before = dict(fake.objects)
            fake.churn(keep)
            await poll(pilot)
            ghosts = {k: before[k] for k in fake.removed}
            check_table(app, fake.objects, fake.added, ghosts)
            assert app.table.current_key == keep
            assert app.table.cursor_row == app.table.row_keys_in_order().index(keep)
            assert app.selected_object is fake.objects[keep]
        # a filter as typed, then a poll under it: the rows and the counts follow it
        app.set_filter("bob")
        await pilot.pause()
        check_table(app, fake.objects, fake.added, ghosts, "bob")
        before = dict(fake.objects)
        fake.churn(keep)
        await poll(pilot)
        check_table(app, fake.objects, fake.added, {k: before[k] for k in fake.removed}, "bob")
        # the filter cleared: every row is back, none lost or doubled
        app.set_filter("")
        await pilot.pause()
        check_table(app, fake.objects, fake.added, {k: before[k] for k in fake.removed})
        # 10,000 changed cells, nothing added or removed: the rows move to their new places
        assert app.table.select_key(keep)  # (the filter may have hidden it)
        fake.churn(keep, removed=0, added=0, changed=10_000)
        await poll(pilot)
        check_table(app, fake.objects, set(), {})
        assert app.table.current_key == keep
        # the cursor's object removed: the cursor stays on a row, in the table's range
        row = app.table.cursor_row
        gone = app.table.current_key
        assert gone is not None
        del fake.objects[gone]
        await poll(pilot, 2)  # one poll fades it, the next removes it
        assert gone not in app.table.rows
        assert 0 <= app.table.cursor_row < app.table.row_count
        assert abs(app.table.cursor_row - row) <= 1
        # another sort: ids of the SysV view, smallest first, through the same rows
        app.action_view(1)
        await pilot.pause()
        app.set_sort("id")
        ids = [int(k.split(":")[1]) for k in app.table.row_keys_in_order()]
        assert ids == sorted(int(o.id) for o in fake.objects.values() if isinstance(o, SysvShm))
        assert all(c.key in {col.key for col in columns_for(SysvShm.kind)}
                   for c in app.table.columns_spec)
        # a poll while another view is shown, then back to All: its rows (kept aside while
        # the SysV view was shown) follow the 10,000 changes they missed, its sort came back
        before = dict(fake.objects)
        fake.churn(next(iter(fake.objects)))  # (``keep`` was the cursor's object removed)
        await poll(pilot)
        app.action_view(0)
        await pilot.pause()
        assert app.table.sort_column == "size"
        check_table(app, fake.objects, fake.added, {k: before[k] for k in fake.removed})
        assert app.table.current_key is not None
