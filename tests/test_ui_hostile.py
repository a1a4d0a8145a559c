"""The TUI shows hostile names literally: escape sequences spelled out, markup not parsed.

A name like ``[@click=app.quit]x`` would, parsed as markup, hide itself and make a click quit
the app; ``\\x1b]2;...\\x07`` would retitle the terminal. Every place the TUI puts a string
from the machine is checked on the screen as Textual composes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from fakes import T0, FakeClock, FakeCollector
from textual.pilot import Pilot
from textual.widgets._toast import Toast
from textual.worker import WorkerFailed

from ipctop.kinds import PosixShm
from ipctop.model import Kind, Process, User
from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp
from ipctop.ui.widgets.object_table import row_key_of

EVIL_NAME = "/\x1b]2;PWNED\x07[@click=app.quit]evil[/]\u202etxt"
EVIL_NAME_SHOWN = "/\\x1b]2;PWNED\\x07[@click=app.quit]evil[/]\\u202etxt"
EVIL_COMM = "[b]x\x1b[2J"
EVIL_COMM_SHOWN = "[b]x\\x1b[2J"
EVIL_PID = 4343


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def screen_text(pilot: Pilot[int]) -> str:
    """Every line of the screen as the compositor renders it (what goes to the terminal), and
    the text of every notification toast (rendered as the toast renders it)."""
    strips = pilot.app.screen._compositor.render_strips()
    toasts = [str(toast.render()) for toast in pilot.app.screen.query(Toast)]
    return "\n".join([*(strip.text for strip in strips), *toasts])


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def hostile_collector() -> FakeCollector:
    fake = FakeCollector(auto=False)
    fake.processes.append(Process(EVIL_PID, 1, EVIL_COMM, f"{EVIL_COMM} --\x1b[31m",
                                  "mallory\x1b", 1001, start_time=T0 - 5, state="S"))
    fake.add(PosixShm(id=EVIL_NAME, name=EVIL_NAME, path="/dev/shm" + EVIL_NAME, mode="0600",
                      size=4096, ctime=T0 - 10, owner="mallory\x1b[1m", uid=1001, dev=25,
                      inode=4242, users=(User(EVIL_PID, EVIL_COMM, 3, "rw", "fd"),)))
    return fake


def make_app(fake: FakeCollector) -> IpcTopApp:
    return IpcTopApp(fake, clock=FakeClock(), watch=False, interval=3600.0,
                     previewer=lambda obj: Preview(None, f"cannot open {obj.id}\x1b[5m"))


def assert_literal(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_main_table_and_detail_pane_show_hostile_names_literally() -> None:
    async def body() -> None:
        fake = hostile_collector()
        app = make_app(fake)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await settle(pilot)
            key = row_key_of(fake.get(Kind.POSIX_SHM, EVIL_NAME))
            assert app.table.select_key(key)
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            assert EVIL_NAME_SHOWN[:30] in text  # the table cell (clipped) and the pane
            assert "[@click=app.quit]" in text
            assert EVIL_COMM_SHOWN in text
            await pilot.click("#objects", offset=(20, 2))
            assert app.is_running

    run(body)


def test_events_log_shows_hostile_names_literally() -> None:
    async def body() -> None:
        fake = FakeCollector(auto=False)
        app = make_app(fake)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await settle(pilot)
            evil = hostile_collector().get(Kind.POSIX_SHM, EVIL_NAME)
            fake.add(dataclasses.replace(evil, users=()))
            for _ in range(2):  # a creation is logged once a second poll sees the object
                app.request_poll()
                await settle(pilot)
            app.action_show_events()
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            assert "[@click=app.quit]evil[/]" in text

    run(body)


def test_process_pivot_notices_and_errors_show_hostile_text_literally() -> None:
    async def body() -> None:
        fake = hostile_collector()
        fake.notices = ("note about [@click=app.quit]n\x1b]2;PWNED\x07",)
        app = make_app(fake)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            assert "note about [@click=app.quit]n\\x1b]2;PWNED\\x07" in text
            # removing the hostile object: the real actions find no such file, and the error
            # quotes its name back in a notification
            assert app.table.select_key(row_key_of(fake.get(Kind.POSIX_SHM, EVIL_NAME)))
            await pilot.press("d")
            await settle(pilot)
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            toasts = [str(t.render()) for t in app.screen.query(Toast)]
            assert any("PWNED\\" in t and "[@click=app.quit]evil[/]" in t for t in toasts)
            app.open_process(EVIL_PID)
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            assert f"{EVIL_PID} {EVIL_COMM_SHOWN}" in text
            assert "mallory\\x1b" in text
            assert "[@click=app.quit]evil[/]" in text  # the IPC it holds

    run(body)


def test_confirm_box_shows_question_and_details_literally() -> None:
    from ipctop.ui.screens.confirm import ConfirmScreen

    async def body() -> None:
        app = make_app(FakeCollector(auto=False))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await settle(pilot)
            app.push_screen(ConfirmScreen(f"Remove {EVIL_NAME}?", [f"used by {EVIL_COMM}"]))
            await settle(pilot)
            text = screen_text(pilot)
            assert_literal(text)
            assert "[@click=app.quit]evil[/]" in text and EVIL_COMM_SHOWN in text

    run(body)


def test_form_title_names_a_hostile_object_literally() -> None:
    from ipctop.kinds import PosixMq
    from ipctop.ui.screens.send_form import SendForm

    async def body() -> None:
        fake = FakeCollector(auto=False)
        name = "/q[@click=app.quit]\x1b]2;PWNED\x07"
        fake.add(PosixMq(id=name, name=name, mode="0600", size=0, ctime=T0, messages=0,
                         maxmsg=10, msgsize=64, owner="mallory", uid=1001))
        app = make_app(fake)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await settle(pilot)
            assert app.table.select_key(row_key_of(fake.get(Kind.POSIX_MQ, name)))
            await pilot.press("s")
            await settle(pilot)
            assert isinstance(app.screen, SendForm)
            text = screen_text(pilot)
            assert_literal(text)
            assert "Send to posix-mq /q[@click=app.quit]\\x1b]2;PWNED\\x07" in text

    run(body)
