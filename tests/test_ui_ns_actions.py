"""The TUI acts on a container's object inside its namespaces, without asking for a pid: send,
receive, attach (read, write, find), semaphore edit, create and remove, on real namespaces.

A forked member unshares its IPC and mount namespaces, mounts a private tmpfs on /dev/shm and its
own mqueue, and makes objects there whose SysV keys and POSIX names collide with objects the
test makes outside. After each action the test looks from inside, not through ipctop
(``nsenter -t PID -i cat /proc/sysvipc/...``, ``sysv_ipc`` run by ``nsenter``, the files under
/proc/PID/root/dev/shm and /dev/mqueue), and checks the host's object of the same key or name is
untouched. The member (and so its namespaces) is killed at teardown by the ``spawn`` fixture; the
host's objects are removed by ``cleanup``, also when a test fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import posix_ipc
import pytest
import sysv_ipc
from conftest import Cleanup, Spawn, unique_key, unique_name
from test_namespaces import ns_of, nsenter_shm, private_namespaces
from test_ui_actions import click, form_error, notes, press_for, running, settle, static_text
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, Static

from ipctop import nsenter
from ipctop.model import Kind, Snapshot
from ipctop.snapshot import take
from ipctop.ui.app import IpcTopApp
from ipctop.ui.screens.attach import AttachScreen
from ipctop.ui.screens.confirm import ConfirmScreen
from ipctop.ui.screens.create_form import CreateForm
from ipctop.ui.screens.received import ReceivedScreen
from ipctop.ui.screens.recv_form import RecvForm
from ipctop.ui.screens.sem_edit import SemEditForm
from ipctop.ui.screens.send_form import SendForm

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building namespaces needs root")

_keep: list[object] = []


@dataclasses.dataclass
class Box:
    """A member process in namespaces of its own, and the names used inside and outside."""

    pid: int
    key: int
    shm: str
    mq: str
    ids: dict[str, str]
    """Ids of the SysV objects inside: "shm", "msg", "sem"."""

    @property
    def hexkey(self) -> str:
        return f"0x{self.key:08x}"

    @property
    def label(self) -> str:
        return f"ns {ns_of(self.pid, 'ipc')}"

    def inside(self, *argv: str) -> str:
        """A command run inside the member's IPC and mount namespaces (not through ipctop)."""
        return subprocess.run(["nsenter", "-t", str(self.pid), "-i", "-m", *argv],
                              capture_output=True, text=True, check=True, timeout=60).stdout

    def py_inside(self, code: str) -> str:
        return self.inside(sys.executable, "-c", code)

    def sysvipc(self, what: str) -> dict[str, dict[str, str]]:
        """/proc/sysvipc/WHAT as read inside: key (0x%08x) -> row."""
        lines = self.inside("cat", f"/proc/sysvipc/{what}").splitlines()
        head = lines[0].split()
        rows = [dict(zip(head, line.split(), strict=False)) for line in lines[1:]]
        return {f"0x{int(r['key']) & 0xFFFFFFFF:08x}": r for r in rows}

    def root(self, path: str) -> Path:
        return Path(f"/proc/{self.pid}/root{path}")



async def refused(pilot: Pilot[int], form: Any, **fields: str) -> str:
    """Fill ``fields`` (input id -> text), press OK, and return the form's error line: the form
    must still be open (the action was refused)."""
    for name, value in fields.items():
        form.query_one(f"#{name}", Input).value = value
    await click(pilot, "#ok")
    await settle(pilot)
    assert pilot.app.screen is form
    return form_error(form)

def make_box(spawn: Spawn) -> Box:
    key = unique_key()
    shm, mq = f"/{unique_name()}", f"/{unique_name()}"

    def body() -> bytes:
        private_namespaces()
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        seg.write(b"inside!")
        seg.detach()
        queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
        sem = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, initial_value=2)
        fd = os.open(f"/dev/shm{shm}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.ftruncate(fd, 4096)
        os.pwrite(fd, b"inside!", 0)
        os.close(fd)
        posix_ipc.MessageQueue(mq, posix_ipc.O_CREX, max_messages=4, max_message_size=64).close()
        return f"{seg.id} {queue.id} {sem.id}".encode()

    member = spawn(body)
    shm_id, msg_id, sem_id = member.report.decode().split()
    return Box(member.pid, key, shm, mq, {"shm": shm_id, "msg": msg_id, "sem": sem_id})


def host_objects(box: Box, cleanup: Cleanup) -> dict[str, Any]:
    """The same key and names outside, with other contents."""
    seg = sysv_ipc.SharedMemory(box.key, sysv_ipc.IPC_CREX, size=8192)
    cleanup(seg.remove)
    cleanup(seg.detach)
    seg.write(b"outside")
    queue = sysv_ipc.MessageQueue(box.key, sysv_ipc.IPC_CREX)
    cleanup(queue.remove)
    sem = sysv_ipc.Semaphore(box.key, sysv_ipc.IPC_CREX, initial_value=7)
    cleanup(sem.remove)
    shm = posix_ipc.SharedMemory(box.shm, posix_ipc.O_CREX, size=8192)
    cleanup(lambda: posix_ipc.unlink_shared_memory(box.shm))
    os.pwrite(shm.fd, b"outside", 0)
    shm.close_fd()
    mq = posix_ipc.MessageQueue(box.mq, posix_ipc.O_CREX, max_messages=4, max_message_size=64)
    cleanup(lambda: posix_ipc.unlink_message_queue(box.mq))
    cleanup(mq.close)
    return {"seg": seg, "queue": queue, "sem": sem, "mq": mq}


def collector_for(box: Box, *names: str) -> Callable[[], Snapshot]:
    """A real snapshot, with only this test's objects (by key or name) listed."""
    mine = {box.hexkey, box.shm, box.mq, *names}

    def collect() -> Snapshot:
        snap = take(kinds={Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM, Kind.POSIX_SHM,
                           Kind.POSIX_MQ})
        return dataclasses.replace(snap, objects=tuple(
            o for o in snap.objects if o.key in mine or o.id in mine))

    return collect


async def select_inside(pilot: Pilot[int], kind: Kind, ident: str, box: Box) -> None:
    app = pilot.app
    assert isinstance(app, IpcTopApp)
    app.request_poll()
    await settle(pilot)
    ns = ns_of(box.pid, "ipc" if kind is not Kind.POSIX_SHM else "mnt")
    assert app.table.select_key(f"{kind.value}:{ident}@{ns}"), sorted(app.table.rows)
    await pilot.pause()
    obj = app.selected_object
    assert obj is not None and obj.ns_pid is not None and obj.id == ident


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def mq_qsize(path: Path) -> int:
    return int(path.read_text().split()[0].partition(":")[2])


# ---------------------------------------------------------------- send / receive


def test_send_and_receive_on_a_containers_queues(spawn: Spawn, cleanup: Cleanup) -> None:
    box = make_box(spawn)
    host = host_objects(box, cleanup)

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            for kind, ident in ((Kind.SYSV_MSG, box.ids["msg"]), (Kind.POSIX_MQ, box.mq)):
                await select_inside(pilot, kind, ident, box)
                form = await press_for(pilot, "s", SendForm)
                where = static_text(form.query_one("#form-where", Static))
                assert where.startswith(f"Inside {box.label} (entered through process ")
                form.query_one("#data", Input).value = "hello inside"
                await click(pilot, "#ok")
                await settle(pilot)
                assert not isinstance(pilot.app.screen, SendForm), form_error(form)
                name = f"{kind.value.replace('_', '-')} {ident}"
                assert ("information", f"sent 12 bytes to {name} (inside {box.label})") \
                    in notes(pilot)

            # Seen from inside: one message on each; the host's queues of the same key and
            # name are empty.
            assert box.sysvipc("msg")[box.hexkey]["qnum"] == "1"
            assert mq_qsize(box.root(f"/dev/mqueue{box.mq}")) == 12
            assert host["queue"].current_messages == 0
            assert host["mq"].current_messages == 0

            for kind, ident in ((Kind.SYSV_MSG, box.ids["msg"]), (Kind.POSIX_MQ, box.mq)):
                await select_inside(pilot, kind, ident, box)
                form2 = await press_for(pilot, "r", RecvForm)
                if kind is Kind.SYSV_MSG:  # peek first: copied, left in place
                    form2.query_one("#peek", Checkbox).value = True
                    await click(pilot, "#ok")
                    await settle(pilot)
                    shown = pilot.app.screen
                    assert isinstance(shown, ReceivedScreen), form_error(form2)
                    assert [m.data for m in shown.messages] == [b"hello inside"]
                    assert box.sysvipc("msg")[box.hexkey]["qnum"] == "1"
                    await pilot.press("escape")
                    await settle(pilot)
                    form2 = await press_for(pilot, "r", RecvForm)
                await click(pilot, "#ok")
                await settle(pilot)
                shown = pilot.app.screen
                assert isinstance(shown, ReceivedScreen), form_error(form2)
                assert [m.data for m in shown.messages] == [b"hello inside"]
                assert f"(inside {box.label})" in shown.title_text
                await pilot.press("escape")
                await settle(pilot)

    run(scenario)
    assert box.sysvipc("msg")[box.hexkey]["qnum"] == "0"
    assert mq_qsize(box.root(f"/dev/mqueue{box.mq}")) == 0


def test_an_error_inside_is_the_hosts_error_line(spawn: Spawn, cleanup: Cleanup) -> None:
    """A full queue inside: the form stays open with the same line the host gives."""
    box = make_box(spawn)
    host_objects(box, cleanup)
    box.py_inside(f"import posix_ipc\nq = posix_ipc.MessageQueue({box.mq!r})\n"
                  "for _ in range(4): q.send(b'x')")

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            await select_inside(pilot, Kind.POSIX_MQ, box.mq, box)
            form = await press_for(pilot, "s", SendForm)
            assert await refused(pilot, form, data="more") == (
                f"posix-mq {box.mq} is full (4 of 4 messages): nothing sent")

    run(scenario)
    assert mq_qsize(box.root(f"/dev/mqueue{box.mq}")) == 4


# ---------------------------------------------------------------- attach


@pytest.mark.parametrize("kind", [Kind.SYSV_SHM, Kind.POSIX_SHM])
def test_attach_reads_writes_and_finds_inside(spawn: Spawn, cleanup: Cleanup, kind: Kind) -> None:
    box = make_box(spawn)
    host = host_objects(box, cleanup)
    ident = box.ids["shm"] if kind is Kind.SYSV_SHM else box.shm

    def inside_bytes() -> bytes:
        if kind is Kind.POSIX_SHM:
            return box.root(f"/dev/shm{box.shm}").read_bytes()[:8]
        return bytes.fromhex(box.py_inside(
            f"import sysv_ipc\nprint(sysv_ipc.SharedMemory({box.key}).read(8).hex())").strip())

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            await select_inside(pilot, kind, ident, box)
            view = await press_for(pilot, "a", AttachScreen)
            await settle(pilot)
            assert view.data[:7] == b"inside!" and view.size_bytes == 4096
            title = static_text(view.query_one("#attach-title", Static))
            label = box.label if kind is Kind.SYSV_SHM else f"ns {ns_of(box.pid, 'mnt')}"
            assert title.startswith(f"{kind.value.replace('_', '-')} {ident} (inside "
                                    f"{label}) · read-only · 4096 bytes")

            await pilot.press("w")
            await settle(pilot)
            assert isinstance(pilot.app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
            await pilot.press(*"0 hex:41 42", "enter")
            await settle(pilot)
            assert any(text.startswith("wrote 2 bytes at offset 0") for _, text in notes(pilot))
            assert inside_bytes()[:7] == b"ABside!"
            await settle(pilot)  # the refresh after the write
            assert view.data[:7] == b"ABside!"

            view.action_toggle_write()  # back to read-only (w would be typed in the line)
            await pilot.pause()
            await pilot.press("slash", *"side", "enter")
            await settle(pilot)
            assert view.found == 2 and ("information", "found at offset 0x2 (2)") \
                in notes(pilot)

    run(scenario)
    if kind is Kind.SYSV_SHM:  # the host's segment of the same key is untouched
        assert host["seg"].read(7) == b"outside"
    else:
        with open(f"/dev/shm{box.shm}", "rb") as f:
            assert f.read(7) == b"outside"


# ---------------------------------------------------------------- semaphore


def test_semaphore_edit_inside(spawn: Spawn, cleanup: Cleanup) -> None:
    box = make_box(spawn)
    host = host_objects(box, cleanup)

    def value_inside() -> int:
        return int(box.py_inside(f"import sysv_ipc\nprint(sysv_ipc.Semaphore({box.key}).value)"))

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            await select_inside(pilot, Kind.SYSV_SEM, box.ids["sem"], box)
            form = await press_for(pilot, "e", SemEditForm)
            assert static_text(form.query_one("#form-where", Static)).startswith(
                f"Inside {box.label}")
            form.query_one("#set", Input).value = "5"
            await click(pilot, "#ok")
            await settle(pilot)
            assert ("information", f"sysv-sem {box.ids['sem']}[0]: set to 5 (inside "
                    f"{box.label})") in notes(pilot), form_error(form)
            assert value_inside() == 5

            await select_inside(pilot, Kind.SYSV_SEM, box.ids["sem"], box)
            form = await press_for(pilot, "e", SemEditForm)
            # would block: refused, nothing changed
            assert await refused(pilot, form, op="-6") == (
                f"sysv-sem {box.ids['sem']}[0] is 5, op -6 needs at least 6: nothing changed")

    run(scenario)
    assert value_inside() == 5
    assert host["sem"].value == 7


# ---------------------------------------------------------------- create


def test_create_inside_the_container_the_view_is_filtered_to(
        spawn: Spawn, cleanup: Cleanup) -> None:
    box = make_box(spawn)
    new_key = unique_key()
    new_shm = f"/{unique_name()}"
    outside = sysv_ipc.SharedMemory(new_key, sysv_ipc.IPC_CREX, size=4096)  # the same key
    cleanup(outside.remove)
    cleanup(outside.detach)
    host_made = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(host_made))

    async def create(pilot: Pilot[int], kind: Kind, name: str, where: str) -> CreateForm:
        form = await press_for(pilot, "n", CreateForm)
        assert form.offer is not None and form.offer.label == box.label
        form.query_one("#where", Select).value = where
        form.query_one("#kind", Select).value = kind
        await pilot.pause()
        form.query_one("#name", Input).value = name
        form.query_one("#size", Input).value = "12K"
        await pilot.pause()
        return form

    async def scenario() -> None:
        async with running(collector_for(box, new_shm, host_made)) as pilot:
            app = pilot.app
            assert isinstance(app, IpcTopApp)
            app.set_filter(box.label)  # what the palette's "Filter: container ..." does
            await settle(pilot)
            form = await create(pilot, Kind.SYSV_SHM, f"0x{new_key:08x}", "inside")
            note = static_text(form.query_one("#create-where", Static))
            assert note.startswith(f"Created inside {box.label}: IPC namespace "
                                   f"{ns_of(box.pid, 'ipc')}, entered through process ")
            await click(pilot, "#ok")
            await settle(pilot)
            assert not isinstance(app.screen, CreateForm), form_error(form)
            assert any(text.startswith("created sysv-shm ") and
                       text.endswith(f"(key 0x{new_key:08x}) inside {box.label}")
                       for _, text in notes(pilot))

            form = await create(pilot, Kind.POSIX_SHM, new_shm, "inside")
            note = static_text(form.query_one("#create-where", Static))
            assert f"mount namespace {ns_of(box.pid, 'mnt')}" in note
            await click(pilot, "#ok")
            await settle(pilot)
            assert ("information", f"created posix-shm {new_shm} inside {box.label}") \
                in notes(pilot), form_error(form)

            form = await create(pilot, Kind.POSIX_SHM, host_made, "host")
            assert static_text(form.query_one("#create-where", Static)) == \
                "Created in ipctop's own namespaces."
            await click(pilot, "#ok")
            await settle(pilot)
            assert ("information", f"created posix-shm {host_made}") in notes(pilot)

    run(scenario)
    rows = box.sysvipc("shm")
    assert rows[f"0x{new_key:08x}"]["size"] == str(12 * 1024)  # made inside
    assert sysv_ipc.SharedMemory(new_key).size == 4096  # the host's is the host's
    assert box.root(f"/dev/shm{new_shm}").stat().st_size == 12 * 1024
    assert not Path(f"/dev/shm{new_shm}").exists()
    assert Path(f"/dev/shm{host_made}").stat().st_size == 12 * 1024
    assert not box.root(f"/dev/shm{host_made}").exists()


@pytest.mark.parametrize("how", ["cursor", "none"])
def test_create_offers_the_namespace_of_the_object_under_the_cursor(
        spawn: Spawn, cleanup: Cleanup, how: str) -> None:
    box = make_box(spawn)
    host_objects(box, cleanup)

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            app = pilot.app
            assert isinstance(app, IpcTopApp)
            if how == "cursor":
                await select_inside(pilot, Kind.SYSV_MSG, box.ids["msg"], box)
            else:
                app.request_poll()
                await settle(pilot)
                host_key = next(str(k.value) for k in app.table.rows if "@" not in str(k.value))
                assert app.table.select_key(host_key)
                await pilot.pause()
            form = await press_for(pilot, "n", CreateForm)
            if how == "cursor":
                assert form.offer is not None and form.offer.label == box.label
                assert form.query_one("#where", Select).value == "inside"
            else:
                assert form.offer is None and not form.query("#where")

    run(scenario)


# ---------------------------------------------------------------- remove


def test_remove_a_containers_queue_inside(spawn: Spawn, cleanup: Cleanup) -> None:
    """A POSIX queue: its file is checked under the mqueue of the container's IPC namespace
    (a private mount in the helper), and the host's queue of the same name stays."""
    box = make_box(spawn)
    host = host_objects(box, cleanup)
    host["mq"].send(b"host")

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            await select_inside(pilot, Kind.POSIX_MQ, box.mq, box)
            confirm = await press_for(pilot, "d", ConfirmScreen)
            assert confirm.question == f"Remove posix-mq {box.mq}?"
            assert any(f"Inside {box.label}" in line for line in confirm.details)
            await click(pilot, "#yes")
            await settle(pilot)
            assert any(sev == "information" and text.startswith(f"removed posix-mq {box.mq}")
                       and text.endswith(f"(inside {box.label})") for sev, text in notes(pilot))

    run(scenario)
    assert not box.root(f"/dev/mqueue{box.mq}").exists()
    assert host["mq"].current_messages == 1


def test_an_attached_segment_inside_is_only_removed_when_asked(
        spawn: Spawn, cleanup: Cleanup) -> None:
    """The same rule as on the host: a segment in use inside asks "while attached?"; No keeps
    it."""
    box = make_box(spawn)
    host_objects(box, cleanup)
    holder = subprocess.Popen(
        ["nsenter", "-t", str(box.pid), "-i", sys.executable, "-c",
         f"import sysv_ipc, sys\nm = sysv_ipc.SharedMemory({box.key})\nprint('ok', flush=True)\n"
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    cleanup(holder.wait)
    cleanup(holder.kill)
    assert holder.stdout is not None and holder.stdout.readline() == "ok\n"

    async def scenario() -> None:
        async with running(collector_for(box)) as pilot:
            await select_inside(pilot, Kind.SYSV_SHM, box.ids["shm"], box)
            confirm = await press_for(pilot, "d", ConfirmScreen)
            assert confirm.question.startswith(f"Remove sysv-shm {box.ids['shm']} while "
                                               "attached?")
            await click(pilot, "#no")
            await settle(pilot)
            assert ("information", f"kept sysv-shm {box.ids['shm']}") in notes(pilot)

    run(scenario)
    assert box.hexkey in nsenter_shm(box.pid)


# ---------------------------------------------------------------- the helper itself


def test_a_member_that_exited_is_replaced_by_another_of_the_namespace(spawn: Spawn) -> None:
    """The pid seen last has exited: the helper enters through another process still in the
    namespace; with none left it says so and runs nothing."""
    box = make_box(spawn)
    ipc = ns_of(box.pid, "ipc")
    gone = nsenter.Inside(999_999_999, ipc, None, "the box")
    rows = gone.run(lambda: Path("/proc/sysvipc/shm").read_text())
    assert f"{box.key:10d}".strip() in rows or str(box.key) in rows
    empty = nsenter.Inside(999_999_999, 1, None, "the empty box")  # no process has inode 1
    with pytest.raises(nsenter.NsError, match="no process is left in the empty box: nothing done"):
        empty.run(lambda: 1)
