"""The TUI with objects of other namespaces (fake collector): the CONTAINER column only while
some are listed, the same id twice as two rows, the filter and the palette by container, the
container in the detail pane and the process pivot."""

from __future__ import annotations

import dataclasses

from fakes import T0, FakeCollector
from test_ui_app import make_app, plain, poll, running, sync

from ipctop.kinds import SysvShm
from ipctop.model import Kind, Process, User
from ipctop.ui.palette import palette_commands
from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.widgets.detail_pane import DetailPane

NS = 4026532178
WEB = "docker web (3f1a9c2b7d4e)"


def in_container(fake: FakeCollector) -> None:
    """A segment with the same id as the host's 32768, inside a container, held by pid 900."""
    fake.add(SysvShm(id="32768", key="0x0052e2c1", mode="0600", size=8192, ctime=T0 - 60,
                     nattch=1, cpid=900, lpid=900, owner="root", uid=0, ipc_ns=NS,
                     container=WEB, ns_pid=900, users=(User(900, "nginx", None, "rw", "map"),)))
    fake.processes.append(Process(900, 880, "nginx", "nginx: master", "root", 0, ipc_ns=NS,
                                  mnt_ns=NS - 1, container=WEB))


@sync
async def test_container_column_only_while_containers_are_listed() -> None:
    fake = FakeCollector(auto=False)
    app = make_app(fake)
    async with running(app, size=(160, 48)) as pilot:
        assert all(c.key != "container" for c in app.table.columns_spec)
        in_container(fake)
        await poll(pilot)
        keys = [c.key for c in app.table.columns_spec]
        assert keys[keys.index("container") - 1] == "ident"  # right after the id
        host, inside = "sysv_shm:32768", f"sysv_shm:32768@{NS}"
        assert host in app.table.rows and inside in app.table.rows
        column = keys.index("container") + 1  # after the marker column
        assert str(app.table.get_row(inside)[column]) == WEB
        assert str(app.table.get_row(host)[column]) == "-"

        app.set_filter("docker web")  # what the palette's "Filter: container ..." does
        await pilot.pause()
        assert app.table.row_count == 1 and app.table.current_key == inside
        names = [c.title for c in palette_commands(app)]
        assert f"Filter: container {WEB}" in names

        pane = app.query_one("#detail", DetailPane)
        assert app.table.select_key(inside)
        await pilot.pause()
        details = plain(pane.query_one("#detail-fields"))
        assert WEB in details and str(NS) in details and "ns_pid" in details

        app.open_process(900)
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        info = plain(app.screen.query_one("#proc-info"))
        assert "container" in info and WEB in info

        app.pop_screen()
        fake.objects = [o for o in fake.objects if o.container is None]
        app.set_filter("")
        await poll(pilot, 2)  # gone, then its faded row too
        assert all(c.key != "container" for c in app.table.columns_spec)


@sync
async def test_a_namespace_nothing_names_is_filtered_by_its_column_text() -> None:
    """No container name (a bare `unshare --ipc`): the CONTAINER column says "ns INODE", and
    that is what the filter and the palette's entry match."""
    fake = FakeCollector(auto=False)
    fake.add(SysvShm(id="32768", key="0x0052e2c1", mode="0600", size=8192, ctime=T0 - 60,
                     nattch=0, cpid=900, lpid=900, owner="root", uid=0, ipc_ns=NS,
                     container=None, ns_pid=900))
    app = make_app(fake)
    async with running(app, size=(160, 48)) as pilot:
        await poll(pilot)
        inside = f"sysv_shm:32768@{NS}"
        names = [c.title for c in palette_commands(app)]
        assert f"Filter: container ns {NS}" in names
        app.set_filter(f"ns {NS}")
        await pilot.pause()
        assert app.table.row_count == 1 and app.table.current_key == inside


def test_fake_objects_are_what_take_would_give() -> None:
    """The fake's foreign object has the identity the real one has (tests/test_namespaces.py)."""
    fake = FakeCollector(auto=False)
    in_container(fake)
    inner = fake.objects[-1]
    assert inner.identity == (Kind.SYSV_SHM, "32768", NS)
    assert dataclasses.replace(inner, ns_pid=None).identity == (Kind.SYSV_SHM, "32768", None)
