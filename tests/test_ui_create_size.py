# ruff: noqa: F811  (the ``mine`` fixture is imported from test_ui_actions)
"""The TUI's "new object" form reads sizes as the command line does (one parser,
fmt.parse_size): 64K is 65536 bytes; and an existing object with another size is refused there
too, with the reason in the form."""

from __future__ import annotations

import os

from conftest import unique_name
from test_ui_actions import (  # noqa: F401 (mine: fixture)
    Mine,
    click,
    form_error,
    mine,
    notes,
    press_for,
    running,
    settle,
    sync,
)
from textual.pilot import Pilot
from textual.widgets import Input, Select

from ipctop.model import Kind
from ipctop.ui.app import IpcTopApp
from ipctop.ui.screens.create_form import CreateForm


async def new_posix_shm(pilot: Pilot[int], name: str, size: str) -> CreateForm:
    """Open the form (n), fill in a POSIX shm ``name`` of ``size``, press Create."""
    form = await press_for(pilot, "n", CreateForm)
    form.query_one("#kind", Select).value = Kind.POSIX_SHM
    await pilot.pause()
    form.query_one("#name", Input).value = name
    form.query_one("#size", Input).value = size
    await click(pilot, "#ok")
    await settle(pilot)
    return form


@sync
async def test_new_form_takes_64k_and_refuses_another_size_for_an_existing_name(
        mine: Mine) -> None:
    name = "/" + unique_name()
    async with running(mine.collect) as pilot:
        form = await new_posix_shm(pilot, name, "lots")
        assert "size: not a size: 'lots' (like 4096, 64K, 1M)" in form_error(form)
        form.query_one("#size", Input).value = "64K"
        await click(pilot, "#ok")
        await settle(pilot)
        mine.objects.add((Kind.POSIX_SHM, name))
        assert not isinstance(pilot.app.screen, CreateForm)
        assert os.stat(f"/dev/shm/{name[1:]}").st_size == 65536
        assert ("information", f"created posix-shm {name}") in notes(pilot)

        again = await new_posix_shm(pilot, name, "8K")
        assert pilot.app.screen is again
        assert "already exists with size 65536, not 8192: nothing created" in form_error(again)
        assert os.stat(f"/dev/shm/{name[1:]}").st_size == 65536


@sync
async def test_the_name_the_form_filled_in_follows_the_kind_and_a_typed_one_stays(
        mine: Mine) -> None:
    """"private" is a SysV key: switching to a named kind must not leave it as the name."""
    async with running(mine.collect) as pilot:
        form = await press_for(pilot, "n", CreateForm)
        name = form.query_one("#name", Input)
        kinds = form.query_one("#kind", Select)
        assert kinds.value == Kind.SYSV_SHM and name.value == "private"
        for kind, expected in ((Kind.POSIX_SHM, ""), (Kind.SYSV_MSG, "private"),
                               (Kind.SYSV_SEM, "private"),  # SysV to SysV: still its own
                               (Kind.POSIX_MQ, ""), (Kind.FIFO, "")):
            kinds.value = kind
            await pilot.pause()
            assert name.value == expected, kind
        for typed, kind in (("/typed", Kind.SYSV_SEM), ("0x1234", Kind.POSIX_SHM)):
            name.value = typed  # typed over "" (a named kind), then over "private" (SysV)
            kinds.value = kind
            await pilot.pause()
            assert name.value == typed, kind


@sync
async def test_the_form_opened_in_a_posix_view_starts_with_no_name_and_offers_private_for_sysv(
        mine: Mine) -> None:
    async with running(mine.collect) as pilot:
        app = pilot.app
        assert isinstance(app, IpcTopApp)
        app.action_view(next(i for i, v in enumerate(app.views) if v.kind is Kind.POSIX_MQ))
        await pilot.pause()
        form = await press_for(pilot, "n", CreateForm)
        name = form.query_one("#name", Input)
        assert form.kind is Kind.POSIX_MQ
        assert (name.value, name.placeholder) == ("", "/name")
        form.query_one("#kind", Select).value = Kind.SYSV_SHM
        await pilot.pause()
        assert name.value == "private"
