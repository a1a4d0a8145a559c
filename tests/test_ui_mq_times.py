"""A POSIX queue's times in the detail pane: its ctime moves whenever anyone reads
/dev/mqueue/NAME (ipctop's own poll too), so it always looked like "0s ago"; the last send or
receive is the file's mtime. The pane shows mtime first, and says which time is which."""

from __future__ import annotations

import os
import time
import uuid

import posix_ipc
from fakes import T0, FakeCollector
from test_ui_app import make_app, plain, poll, running, sync

from ipctop.collect.posix import read_mqueue
from ipctop.kinds import PosixMq
from ipctop.model import Kind
from ipctop.ui.widgets.detail_pane import DetailPane


def detail_lines(app: object) -> list[str]:
    from ipctop.ui.app import IpcTopApp

    assert isinstance(app, IpcTopApp)
    return plain(app.query_one("#detail", DetailPane).query_one("#detail-fields")).splitlines()


@sync
async def test_queue_detail_shows_last_send_or_receive_and_names_each_time() -> None:
    fake = FakeCollector(auto=False)
    fake.replace(Kind.POSIX_MQ, "/jobs", ctime=T0 + 59, mtime=T0 - 300)
    app = make_app(fake)
    async with running(app, size=(160, 48)) as pilot:
        await poll(pilot)
        assert app.table.select_key("posix_mq:/jobs")
        await pilot.pause()
        lines = detail_lines(app)
        mtime = next(i for i, line in enumerate(lines) if line.startswith("mtime"))
        ctime = next(i for i, line in enumerate(lines) if line.startswith("ctime"))
        assert mtime < ctime, lines  # the time that says something first
        assert "last send or receive" in lines[mtime]
        assert "6m ago" in lines[mtime] or "5m ago" in lines[mtime], lines[mtime]
        assert "every read" in lines[ctime], lines[ctime]


def test_reading_a_queue_moves_its_ctime_not_its_mtime() -> None:
    """The fact the pane explains, on a real queue: a poll moves ctime (the next poll sees it),
    only send and receive move mtime."""
    name = f"/ipctop-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    queue = posix_ipc.MessageQueue(name, posix_ipc.O_CREX)
    try:
        queue.send(b"x")
        sent = os.stat(f"/dev/mqueue{name}").st_mtime
        time.sleep(1.1)
        read_mqueue()  # a poll; the next one sees the ctime it moved
        objs = [o for o in read_mqueue() if o.id == name]
        assert len(objs) == 1 and isinstance(objs[0], PosixMq)
        assert objs[0].mtime == sent
        assert objs[0].ctime is not None and objs[0].ctime >= sent + 1  # whole seconds on mqueue
    finally:
        queue.close()
        queue.unlink()
