"""FIFOs that nobody holds open: the scan finds FIFOs only through open fds, so the TUI remembers
those it created (and any path given to its New form) and the live collector lists them; the
paths are reached without following another user's symbolic links."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from test_ui_app import running

from ipctop.collect.pipes import remembered_fifos
from ipctop.kinds import Fifo
from ipctop.model import Kind
from ipctop.snapshot import LiveTake
from ipctop.ui.app import IpcTopApp


def test_remembered_fifos_lists_fifos_only_and_follows_no_link(tmp_path: Path) -> None:
    fifo = tmp_path / "q"
    os.mkfifo(fifo, 0o640)
    plain = tmp_path / "file"
    plain.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(fifo)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    os.mkfifo(real_dir / "inner")
    (tmp_path / "dirlink").symlink_to(real_dir)
    os.lchown(tmp_path / "dirlink", 65534, 65534)  # a link another user (nobody) placed
    os.lchown(link, 65534, 65534)
    paths = [str(fifo), str(plain), str(link), str(tmp_path / "dirlink" / "inner"),
             str(tmp_path / "missing")]
    found = remembered_fifos(paths, seen=())
    assert [o.id for o in found] == [str(fifo)]
    (obj,) = found
    assert isinstance(obj, Fifo) and obj.mode == "0640" and obj.users == ()
    assert remembered_fifos(paths, seen={str(fifo)}) == []  # the scan found it already


def test_remembered_fifo_is_never_opened_for_reading_or_writing(tmp_path: Path) -> None:
    """An O_PATH look: a writer waiting for a reader is not released by ipctop's look."""
    fifo = tmp_path / "w"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"echo hi > {fifo}"])
    try:
        remembered_fifos([str(fifo)], seen=())
        assert writer.poll() is None  # still blocked: nobody opened the read end
    finally:
        writer.kill()
        writer.wait()


def test_fifo_created_in_the_tui_is_listed_and_selectable(tmp_path: Path) -> None:
    async def scenario() -> None:
        collector = LiveTake()
        app = IpcTopApp(collector, interval=3600, watch=False)
        path = str(tmp_path / "made-here")
        async with running(app, size=(120, 40)) as pilot:
            await pilot.press("9")  # the FIFO view: its New form makes a FIFO
            await pilot.press("n")
            await pilot.pause()
            await pilot.press(*path, "enter")
            for _ in range(50):
                await pilot.pause(0.1)
                if f"fifo:{path}" in app.table.rows:
                    break
            assert f"fifo:{path}" in app.table.rows
            assert app.table.select_key(f"fifo:{path}")
            obj = app.selected_object
            assert obj is not None and obj.kind is Kind.FIFO and obj.users == ()

    asyncio.run(scenario())
    assert os.path.exists(tmp_path / "made-here")
