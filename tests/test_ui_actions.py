"""Pilot tests of the object actions in the real app: the forms, the confirm box, the attach view.

The app polls the kernel's real lists (/proc/sysvipc, /dev/shm, /dev/mqueue) through the
collectors and keeps only the objects this test made, so other people's objects never appear and
nothing else can be touched. Every object is removed at teardown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import posix_ipc
import pytest
from conftest import Spawn, unique_key, unique_name
from test_actions import exists, force_remove, msg_count
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Checkbox, Input, Select, Static

from ipctop import actions
from ipctop.collect import limits as collect_limits
from ipctop.collect import posix, sysv
from ipctop.errors import IpcError
from ipctop.model import Kind, Snapshot
from ipctop.ui import app as app_module
from ipctop.ui.app import IpcTopApp
from ipctop.ui.screens.attach import AttachScreen, parse_write
from ipctop.ui.screens.confirm import ConfirmScreen
from ipctop.ui.screens.create_form import CreateForm
from ipctop.ui.screens.received import ReceivedScreen
from ipctop.ui.screens.recv_form import RecvForm
from ipctop.ui.screens.sem_edit import SemEditForm
from ipctop.ui.screens.send_form import SendForm


def sync(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(func(*args, **kwargs))

    return wrapper


class Mine:
    """The objects a test made (kind, id): what the collector shows and teardown removes."""

    def __init__(self) -> None:
        self.objects: set[tuple[Kind, str]] = set()

    def make(self, kind: Kind, **options: Any) -> str:
        if kind is Kind.POSIX_MQ:  # small: RLIMIT_MSGQUEUE is shared by every root process here
            options.setdefault("maxmsg", 4)
            options.setdefault("msgsize", 64)
        if kind in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
            name = hex(unique_key())
        else:
            name = "/" + unique_name()
        ident = actions.create(kind, name, exclusive=True, **options).id
        self.objects.add((kind, ident))
        return ident

    def collect(self) -> Snapshot:
        """The real kernel lists, without the /proc scan (users are left empty)."""
        objs = [*sysv.read_shm(), *sysv.read_msg(), *sysv.read_sem(), *posix.read_dev_shm(),
                *posix.read_mqueue()]
        return Snapshot(time.time(), "test",
                        tuple(o for o in objs if (o.kind, o.id) in self.objects),
                        limits=collect_limits.read_limits())


@pytest.fixture
def mine() -> Iterator[Mine]:
    m = Mine()
    try:
        yield m
    finally:
        for kind, ident in m.objects:
            force_remove(kind, ident)


class RecordingApp(IpcTopApp):
    """The real app, remembering its notifications for the assertions."""

    CSS_PATH = str(Path(app_module.__file__).with_name("ipctop.tcss"))  # not relative to tests/

    def __init__(self, collector: Callable[[], Snapshot]) -> None:
        super().__init__(collector, watch=False, interval=3600)
        self.notes: list[tuple[str, str]] = []

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override,unused-ignore]
        self.notes.append((str(kwargs.get("severity", "information")), message))
        super().notify(message, **kwargs)


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@asynccontextmanager
async def running(collector: Callable[[], Snapshot]) -> AsyncIterator[Pilot[int]]:
    app = RecordingApp(collector)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        yield pilot


async def select(pilot: Pilot[int], kind: Kind, ident: str) -> None:
    app = pilot.app
    assert isinstance(app, IpcTopApp)
    app.request_poll()
    await settle(pilot)
    assert app.table.select_key(f"{kind.value}:{ident}"), f"{kind} {ident} not in the table"
    await pilot.pause()
    obj = app.selected_object
    assert obj is not None and (obj.kind, obj.id) == (kind, ident)


async def click(pilot: Pilot[int], selector: str) -> None:
    """Click once the layout has caught up (an error line above may have moved the buttons)."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    assert await pilot.click(selector), f"the click on {selector} hit nothing"
    await pilot.pause()


ScreenT = TypeVar("ScreenT", bound=Screen[Any])


async def press_for(pilot: Pilot[int], key: str, screen_type: type[ScreenT]) -> ScreenT:
    """Press ``key``, let the app settle, and return the screen it opened (a ``screen_type``)."""
    await pilot.press(key)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, screen_type), f"{key!r} opened {screen!r}, not a {screen_type}"
    return screen


def form_error(form: Screen[Any]) -> str:
    """The text of a form's error line."""
    return static_text(form.query_one("#form-error", Static))


def notes(pilot: Pilot[int]) -> list[tuple[str, str]]:
    app = pilot.app
    assert isinstance(app, RecordingApp)
    return app.notes


def static_text(widget: Static) -> str:
    return str(widget.render())


# ---------------------------------------------------------------- confirm box / remove


@sync
async def test_remove_asks_no_keeps_yes_removes(mine: Mine) -> None:
    q = mine.make(Kind.SYSV_MSG)
    actions.send(Kind.SYSV_MSG, q, b"hello")
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.SYSV_MSG, q)
        box = await press_for(pilot, "d", ConfirmScreen)
        assert box.question == f"Remove sysv-msg {q}?"
        assert "Used by: no process (that ipctop can see)." in box.details
        assert ("Consequence: 1 message (5 bytes) queued: destroyed now with its messages."
                in box.details)
        await pilot.press("enter")  # No has the focus: Enter keeps it
        await settle(pilot)
        assert not isinstance(pilot.app.screen, ConfirmScreen)
        assert exists(Kind.SYSV_MSG, q) and msg_count(q) == 1
        assert ("information", f"kept sysv-msg {q}") in notes(pilot)

        await press_for(pilot, "delete", ConfirmScreen)
        await click(pilot, "#yes")
        await settle(pilot)
        assert not exists(Kind.SYSV_MSG, q)
        assert ("information", f"removed sysv-msg {q}: 1 message (5 bytes) queued: destroyed "
                "now with its messages") in notes(pilot)
        app = pilot.app
        assert isinstance(app, IpcTopApp) and app.snapshot is not None
        assert all(o.id != q for o in app.snapshot.objects)  # polled after the removal


@sync
async def test_remove_names_the_users_and_the_consequence(mine: Mine, spawn: Spawn) -> None:
    import sysv_ipc

    from ipctop.snapshot import take

    shm = mine.make(Kind.SYSV_SHM, size=4096)
    child = spawn(lambda: sysv_ipc.attach(int(shm)) and None)

    def collect() -> Snapshot:  # the real snapshot, with users from the /proc scan
        snap = take(kinds={Kind.SYSV_SHM})
        return dataclasses.replace(snap, objects=tuple(
            o for o in snap.objects if (o.kind, o.id) in mine.objects))

    async with running(collect) as pilot:
        await select(pilot, Kind.SYSV_SHM, shm)
        box = await press_for(pilot, "d", ConfirmScreen)
        # marking an attached segment is a choice of its own, and the box says so
        assert box.question.startswith(f"Remove sysv-shm {shm} while attached? It is only marked")
        assert "Used by 1 process:" in box.details
        assert any(line.startswith(f"  {child.pid} ") and "(mapped rw)" in line
                   for line in box.details), box.details
        assert ("Consequence: attached by 1 process: destroyed when the last detaches."
                in box.details)
        await pilot.press("y")
        await settle(pilot)
        row = actions.sysv_row(Kind.SYSV_SHM, int(shm))
        assert row is not None and row["perms"] & 0o1000  # marked; the child still holds it
    child.stop()
    assert not exists(Kind.SYSV_SHM, shm)


@sync
async def test_remove_of_vanished_object_is_a_notification(mine: Mine) -> None:
    sem = mine.make(Kind.POSIX_SEM, value=1)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.POSIX_SEM, sem)
        force_remove(Kind.POSIX_SEM, sem)  # gone between listing and action
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, ConfirmScreen)
        assert ("error", f"posix-sem {sem} does not exist (see `ipctop snapshot`)") in \
            notes(pilot)


# ---------------------------------------------------------------- new


@sync
async def test_new_form_has_kernel_defaults_and_creates(mine: Mine) -> None:
    limits = collect_limits.read_limits()
    name = "/" + unique_name()
    async with running(mine.collect) as pilot:
        form = await press_for(pilot, "n", CreateForm)
        form.query_one("#kind", Select).value = Kind.POSIX_MQ
        await pilot.pause()
        assert form.query_one("#row-size").display is False
        assert form.query_one("#row-maxmsg").display is True
        assert form.query_one("#maxmsg", Input).value == str(limits.mq_msg_default)
        assert form.query_one("#msgsize", Input).value == str(limits.mq_msgsize_default)

        form.query_one("#name", Input).value = name[1:]  # forgot the slash
        await click(pilot, "#ok")
        await settle(pilot)
        assert pilot.app.screen is form
        assert "starts with '/'" in form_error(form)
        form.query_one("#maxmsg", Input).value = "many"
        form.query_one("#name", Input).value = name
        await click(pilot, "#ok")
        await settle(pilot)
        assert "maxmsg must be a whole number" in form_error(form)
        form.query_one("#maxmsg", Input).value = str((limits.mq_msg_max or 10) + 1)
        await click(pilot, "#ok")
        await settle(pilot)
        assert "fs.mqueue.msg_max" in form_error(form)
        assert not exists(Kind.POSIX_MQ, name)

        form.query_one("#maxmsg", Input).value = "3"
        form.query_one("#msgsize", Input).value = "256"
        await click(pilot, "#ok")
        await settle(pilot)
        mine.objects.add((Kind.POSIX_MQ, name))
        assert not isinstance(pilot.app.screen, CreateForm)
        assert exists(Kind.POSIX_MQ, name)
        mq = posix_ipc.MessageQueue(name)
        try:
            assert mq.max_messages == 3
            assert mq.max_message_size == 256
        finally:
            mq.close()
        assert ("information", f"created posix-mq {name}") in notes(pilot)


@sync
async def test_new_form_takes_the_kind_of_the_view(mine: Mine) -> None:
    key = unique_key()
    async with running(mine.collect) as pilot:
        app = pilot.app
        assert isinstance(app, IpcTopApp)
        index = next(i for i, v in enumerate(app.views) if v.kind is Kind.SYSV_SEM)
        app.action_view(index)
        await settle(pilot)
        form = await press_for(pilot, "n", CreateForm)
        assert form.kind is Kind.SYSV_SEM
        assert form.query_one("#row-nsems").display and form.query_one("#row-value").display
        assert not form.query_one("#row-size").display
        form.query_one("#name", Input).value = hex(key)
        form.query_one("#nsems", Input).value = "2"
        form.query_one("#value", Input).value = "4"
        await pilot.press("enter")
        await settle(pilot)
        ids = [i for i in sysv.read_sem() if int(i.key or "0", 16) == key]
        for obj in ids:
            mine.objects.add((Kind.SYSV_SEM, obj.id))
        assert len(ids) == 1 and ids[0].values == (4, 4)
        assert ("information", f"created sysv-sem {ids[0].id} (key 0x{key:08x})") in notes(pilot)


# ---------------------------------------------------------------- send / receive


@sync
async def test_send_then_peek_then_receive(mine: Mine) -> None:
    q = mine.make(Kind.SYSV_MSG)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.SYSV_MSG, q)
        form = await press_for(pilot, "s", SendForm)
        form.query_one("#hex", Checkbox).focus()
        await pilot.press("d", "n", "a", "space")  # the form's keys, not the table's
        await settle(pilot)
        assert pilot.app.screen is form and form.query_one("#hex", Checkbox).value
        form.query_one("#data", Input).value = "68 69 00"
        form.query_one("#type", Input).value = "5"
        await click(pilot, "#ok")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, SendForm)
        assert ("information", f"sent 3 bytes to sysv-msg {q}") in notes(pilot)
        assert actions.receive(Kind.SYSV_MSG, q, peek=True) == [actions.Message(b"hi\x00", 5)]

        form2 = await press_for(pilot, "r", RecvForm)
        form2.query_one("#peek", Checkbox).value = True
        form2.query_one("#count", Input).value = "5"
        await click(pilot, "#ok")
        await settle(pilot)
        shown = pilot.app.screen
        assert isinstance(shown, ReceivedScreen)
        assert shown.messages == (actions.Message(b"hi\x00", 5),)
        texts = [static_text(s) for s in shown.query(Static).results(Static)]
        assert "#1  type 5 · 3 bytes" in texts and "hi\\x00" in texts
        assert msg_count(q) == 1  # peeked, not taken
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("r")
        await settle(pilot)
        await click(pilot, "#ok")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ReceivedScreen)
        assert msg_count(q) == 0
        await pilot.press("escape")
        await pilot.press("r")
        await settle(pilot)
        await click(pilot, "#ok")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, ReceivedScreen)
        assert ("warning", f"nothing to receive from sysv-msg {q}") in notes(pilot)


@sync
async def test_send_to_a_full_queue_keeps_the_form_open(mine: Mine) -> None:
    q = mine.make(Kind.POSIX_MQ, maxmsg=1, msgsize=16)
    actions.send(Kind.POSIX_MQ, q, b"first")
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.POSIX_MQ, q)
        form = await press_for(pilot, "s", SendForm)
        form.query_one("#data", Input).value = "second"
        form.query_one("#priority", Input).value = "3"
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.screen is form
        assert f"posix-mq {q} is full (1 of 1 messages): nothing sent" in form_error(form)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, SendForm)
    assert actions.receive(Kind.POSIX_MQ, q, count=2) == [actions.Message(b"first", 0)]


@sync
async def test_actions_on_the_wrong_kind_only_warn(mine: Mine) -> None:
    shm = mine.make(Kind.POSIX_SHM, size=64)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.POSIX_SHM, shm)
        for key in ("s", "r", "e"):
            await pilot.press(key)
            await settle(pilot)
            assert pilot.app.screen is pilot.app.screen_stack[0]
        warned = [text for sev, text in notes(pilot) if sev == "warning"]
        assert warned == [
            "Send works on sysv-msg, posix-mq, fifo, not on a posix-shm.",
            "Receive works on sysv-msg, posix-mq, fifo, not on a posix-shm.",
            "Edit semaphore works on sysv-sem, posix-sem, not on a posix-shm.",
        ]
    assert actions.read_shm(Kind.POSIX_SHM, shm) == bytes(64)


# ---------------------------------------------------------------- semaphores


@sync
async def test_sem_edit_p_v_set_and_would_block(mine: Mine) -> None:
    sem = mine.make(Kind.SYSV_SEM, nsems=2, value=1)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.SYSV_SEM, sem)
        form = await press_for(pilot, "e", SemEditForm)
        assert static_text(form.query_one("#sem-values", Static)) == "values: [0]=1, [1]=1"
        form.query_one("#index", Input).value = "1"
        await click(pilot, "#p-op")
        await settle(pilot)
        assert actions.sem_values(Kind.SYSV_SEM, sem) == (1, 0)
        assert ("information", f"sysv-sem {sem}[1]: op -1, now 0") in notes(pilot)

        form = await press_for(pilot, "e", SemEditForm)
        form.query_one("#index", Input).value = "1"
        form.query_one("#op", Input).value = "-1"
        await click(pilot, "#ok")
        await settle(pilot)
        assert pilot.app.screen is form
        assert f"sysv-sem {sem}[1] is 0, op -1 needs at least 1: nothing changed" in \
            form_error(form)
        form.query_one("#op", Input).value = ""
        form.query_one("#set", Input).value = "7"
        await click(pilot, "#ok")
        await settle(pilot)
        assert actions.sem_values(Kind.SYSV_SEM, sem) == (1, 7)
        assert ("information", f"sysv-sem {sem}[1]: set to 7") in notes(pilot)


# ---------------------------------------------------------------- attach


@pytest.mark.parametrize("kind", [Kind.SYSV_SHM, Kind.POSIX_SHM])
def test_attach_view_highlights_changes_and_writes_after_confirm(mine: Mine, kind: Kind) -> None:
    asyncio.run(_attach(mine, kind))


async def _attach(mine: Mine, kind: Kind) -> None:
    shm = mine.make(kind, size=100)
    async with running(mine.collect) as pilot:
        await select(pilot, kind, shm)
        view = await press_for(pilot, "a", AttachScreen)
        assert view.data == bytes(100) and not view.highlighted
        await pilot.press("d", "n")  # the table's keys do nothing here
        await settle(pilot)
        assert pilot.app.screen_stack[-1] == view and exists(kind, shm)
        title = static_text(view.query_one("#attach-title", Static))
        assert title.startswith(f"{actions.kind_name(kind)} {shm} · read-only · 100 bytes")

        actions.write_shm(kind, shm, b"hello", 20)  # another process writes
        view.refresh_view()  # reads in a thread worker
        await settle(pilot)
        assert view.highlighted == frozenset(range(20, 25))
        dump = view.dump_text()
        assert "00000010  00 00 00 00 68 65 6c 6c  6f 00" in dump.plain
        assert "|....hello.......|" in dump.plain
        styled = {dump.plain[s.start:s.end] for s in dump.spans
                  if s.style == "bold black on yellow"}
        assert styled == {"68", "65", "6c", "6f", "h", "e", "l", "o"}

        await press_for(pilot, "w", ConfirmScreen)  # write mode needs a yes
        await pilot.press("n")
        await settle(pilot)
        assert pilot.app.screen_stack[-1] == view
        assert isinstance(view, AttachScreen) and not view.write_mode
        box = view.query_one("#attach-input", Input)
        assert not box.display or not box.has_class("-visible")

        await pilot.press("w")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert view.write_mode and box.has_class("-visible")
        assert "WRITE MODE" in static_text(view.query_one("#attach-title", Static))
        await pilot.press(*"0x60 hex:41 42", "enter")
        await settle(pilot)
        assert actions.read_shm(kind, shm, 0x60, 4) == b"AB\x00\x00"
        await pilot.press(*"99 toolong", "enter")  # past the end: refused, nothing written
        await settle(pilot)
        assert any(sev == "error" and "it has 100 bytes" in text for sev, text in notes(pilot))
        assert actions.read_shm(kind, shm, 96) == b"AB\x00\x00"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, AttachScreen)


def test_parse_write() -> None:
    assert parse_write("16 hello world") == (16, b"hello world")
    assert parse_write("0x10 hex:de ad") == (16, b"\xde\xad")
    for bad in ("hello", "12", "x12 data"):
        with pytest.raises(IpcError):
            parse_write(bad)
