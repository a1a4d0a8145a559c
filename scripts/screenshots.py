#!/usr/bin/env python3
"""Make screenshots/*.svg of the TUI's main views from a REAL session.

It creates a small set of real IPC objects (every SysV and POSIX kind, a FIFO, a pipe) held by a
child process named "ipctop-demo", runs the app with the real collector (ipctop.snapshot.take)
and real inotify at a fixed size through Textual's run_test, saves one SVG per view, and removes
everything it created, also on failure. Run it as root to see every user:

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 140x40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import mmap
import os
import random
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import posix_ipc
import sysv_ipc
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from ipctop.ui.app import IpcTopApp

PREFIX = f"ipctop-demo-{os.getpid()}"


@dataclass
class Demo:
    """Everything the demo made, so cleanup removes exactly that."""

    tmpdir: Path
    posix_names: list[str] = field(default_factory=list)
    sysv: list[object] = field(default_factory=list)
    child: int | None = None
    queue: sysv_ipc.MessageQueue | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def cleanup(self) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.child, 0)
        for fn in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                fn()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _set_comm(name: str) -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def make_objects(demo: Demo) -> dict[str, str]:
    """Create the objects; return the row keys the screenshots select."""
    shm = posix_ipc.SharedMemory(f"/{PREFIX}-frames", posix_ipc.O_CREX, size=1 << 20)
    demo.cleanups.append(shm.unlink)
    with mmap.mmap(shm.fd, 1 << 20) as m:
        m[:48] = b"FRAME 0001 width=640 height=480 fmt=rgb24\x00\x00\x00\x00\x00\x00\x00"
    mq = posix_ipc.MessageQueue(f"/{PREFIX}-jobs", posix_ipc.O_CREX, max_messages=10,
                                max_message_size=256)
    demo.cleanups.append(mq.unlink)
    for i in range(3):
        mq.send(f"job {i}".encode(), priority=i)
    sem = posix_ipc.Semaphore(f"/{PREFIX}-lock", posix_ipc.O_CREX, initial_value=1)
    demo.cleanups.append(sem.unlink)

    key = random.randrange(0x1DE00000, 0x1DEFFFFF)
    sshm = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4 << 20, mode=0o600)
    demo.cleanups.append(sshm.remove)
    sshm.write(b"ipctop demo: shared state v3\x00counter=0042\x00")
    sshm.detach()
    smsg = sysv_ipc.MessageQueue(key + 1, sysv_ipc.IPC_CREX, mode=0o600)
    demo.cleanups.append(smsg.remove)
    demo.queue = smsg
    for i in range(5):
        smsg.send(f"event {i}".encode(), type=i + 1)
    ssem = sysv_ipc.Semaphore(key + 2, sysv_ipc.IPC_CREX, mode=0o600, initial_value=1)
    demo.cleanups.append(ssem.remove)

    fifo = demo.tmpdir / "ipctop-demo.fifo"
    os.mkfifo(fifo, 0o600)

    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the demo process: holds everything until killed
        try:
            _set_comm("ipctop-demo")
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            os.kill(os.getpid(), signal.SIGUSR1)  # stays pending: shows in the pivot
            held = sysv_ipc.SharedMemory(key)
            held_mq = posix_ipc.MessageQueue(f"/{PREFIX}-jobs")
            held_shm = posix_ipc.SharedMemory(f"/{PREFIX}-frames")
            mapped = mmap.mmap(held_shm.fd, 1 << 20)
            fifo_fd = os.open(fifo, os.O_RDWR)
            os.write(fifo_fd, b"queued in the fifo\n")
            pr, pw = os.pipe()
            os.write(pw, b"x" * 300)
            os.write(ready_w, b"1")
            _keep = (held, held_mq, mapped, fifo_fd, pr, pw)
            while True:
                signal.pause()
        finally:
            os._exit(0)
    demo.child = pid
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    return {"sysv_shm": f"sysv_shm:{sshm.id}", "sysv_sem": f"sysv_sem:{ssem.id}",
            "sysv_msg": f"sysv_msg:{smsg.id}", "posix_shm": f"posix_shm:/{PREFIX}-frames"}


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def shoot(out: Path, size: tuple[int, int], keys: dict[str, str], demo: Demo) -> list[str]:
    app = IpcTopApp(interval=3600, filter_text="ipctop-demo")
    saved: list[str] = []

    def save(name: str) -> None:
        app.save_screenshot(filename=f"{name}.svg", path=str(out))
        saved.append(name)

    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        if app.snapshot is None:
            raise SystemExit("the real collector failed; see the notices")
        save("all")

        # changes while watching: a new POSIX segment (inotify), a SysV message (poll)
        extra = posix_ipc.SharedMemory(f"/{PREFIX}-scratch", posix_ipc.O_CREX, size=4096)
        demo.cleanups.append(lambda: posix_ipc.unlink_shared_memory(f"/{PREFIX}-scratch"))
        extra.close_fd()
        assert demo.queue is not None
        demo.queue.send(b"late event", type=9)
        for _ in range(40):
            await pilot.pause(0.05)
            await settle(pilot)
            if f"posix_shm:/{PREFIX}-scratch" in app.table.rows:
                break  # the poll inotify triggered also saw the SysV message
        save("new-row")

        await pilot.press("escape", "2")
        await settle(pilot)
        app.table.select_key(keys["sysv_shm"])
        await pilot.pause()
        save("sysv-shm")

        await pilot.press("4")
        app.table.select_key(keys["sysv_sem"])
        await pilot.press("enter")
        await settle(pilot)
        save("detail-sem")
        await pilot.press("escape")

        await pilot.press("2")
        app.table.select_key(keys["sysv_shm"])
        await pilot.press("enter")
        await settle(pilot)
        save("detail-shm")
        await pilot.press("enter")  # the first user: the demo process
        await settle(pilot)
        save("process")
        await pilot.press("escape", "escape")

        await pilot.press("l")
        await settle(pilot)
        save("events")

        await pilot.press("question_mark")
        await settle(pilot)
        save("help")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--size", default="140x40", help="COLSxROWS (default 140x40)")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TZ", "UTC")
    demo = Demo(Path(tempfile.mkdtemp(prefix="ipctop-demo-")))
    try:
        keys = make_objects(demo)
        saved = asyncio.run(shoot(args.out, (cols, rows), keys, demo))
    finally:
        demo.cleanup()
    for name in saved:
        print(args.out / f"{name}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
