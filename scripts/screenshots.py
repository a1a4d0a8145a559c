#!/usr/bin/env python3
"""Make screenshots/*.svg of the TUI from a real, scripted scene, at 80x24 and 160x48.

The scene is a small system at work, every object real: a producer and a slow consumer on a
POSIX queue that fills up, a SysV queue of events, a pipeline of two processes with bytes in the
pipe, a UNIX socket server and its client, a FIFO, semaphores, a POSIX segment mapped by a worker,
a SysV segment whose creator died without removing it (a leak, as ipctop judges it), and a
"container": a process in an IPC namespace of its own holding a segment there.

Nothing is staged: the app runs with the real collector and inotify, at the default 2 s interval,
with no filter. So that the screenshots show the scene and nothing else of the machine (nor the
objects of test suites running at the same time), the script re-runs itself in fresh IPC, mount,
PID and network namespaces (``unshare``), mounts a private /proc, /dev/shm and /dev/mqueue there,
and builds the scene inside: ipctop then sees only the scene's processes, sockets and objects,
exactly as it would on a quiet machine. Everything ends with the namespaces. Run it as root:

    .venv/bin/python scripts/screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import mmap
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

INSIDE = "IPCTOP_SCREENSHOT_SCENE"
SIZES = ((80, 24), (160, 48))
CLONE_NEWIPC = 0x08000000


def reexec_in_namespaces(argv: list[str]) -> int:
    """Run this script again in fresh IPC, mount, PID and network namespaces."""
    if os.geteuid() != 0:
        print("screenshots: run as root (the scene lives in namespaces of its own)",
              file=sys.stderr)
        return 2
    env = dict(os.environ, **{INSIDE: "1"})
    cmd = ["unshare", "--ipc", "--mount", "--pid", "--net", "--fork", "--mount-proc",
           "--propagation", "private", sys.executable, *argv]
    return subprocess.run(cmd, env=env, check=False).returncode


def private_mounts() -> None:
    """The scene's own /dev/shm and /dev/mqueue (this mount namespace only)."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=1777", "tmpfs", "/dev/shm"],
                   check=True)
    Path("/dev/mqueue").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "mqueue", "mqueue", "/dev/mqueue"], check=True)


def set_comm(name: str) -> None:
    ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


class Scene:
    """The scene's processes; each runs ``body`` until the scene ends."""

    def __init__(self) -> None:
        self.children: list[int] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="scene-"))

    def run(self, name: str, body: Callable[[], None], *, wait: bool = False) -> int:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(ready_r)
                quiet = os.open(os.devnull, os.O_RDWR)  # not the script's output or tty
                for fd in (0, 1, 2):
                    os.dup2(quiet, fd)
                set_comm(name)
                body_ready = lambda: (os.write(ready_w, b"1"), os.close(ready_w))  # noqa: E731
                globals()["ready"] = body_ready
                body()
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        os.close(ready_w)
        os.read(ready_r, 1)  # the body said it is set up (or died)
        os.close(ready_r)
        if wait:
            os.waitpid(pid, 0)
        else:
            self.children.append(pid)
        return pid

    def end(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        shutil.rmtree(self.tmp, ignore_errors=True)


def ready() -> None:
    """Replaced in each child by the function that tells the parent it is set up."""


def hold() -> None:
    ready()
    while True:
        signal.pause()


def build(scene: Scene) -> None:
    import posix_ipc
    import sysv_ipc

    # A leak: a segment whose creator filled it and died without IPC_RMID.
    def leaker() -> None:
        seg = sysv_ipc.SharedMemory(0x5CE0E001, sysv_ipc.IPC_CREX, size=8 << 20, mode=0o600)
        seg.write(b"render cache v2\x00" + bytes(range(32)))
        seg.detach()
        ready()

    scene.run("cache-builder", leaker, wait=True)

    # A busy POSIX queue: a producer faster than its consumer; it fills and stays near full.
    jobs = posix_ipc.MessageQueue("/jobs", posix_ipc.O_CREX, max_messages=10,
                                  max_message_size=512)

    def producer() -> None:
        q = posix_ipc.MessageQueue("/jobs")
        ready()
        n = 0
        while True:
            with contextlib.suppress(posix_ipc.BusyError):
                q.send(f"job {n}: resize image {n % 97}.png".encode(), timeout=1)
                n += 1
            time.sleep(0.3)

    def consumer() -> None:
        q = posix_ipc.MessageQueue("/jobs")
        ready()
        while True:
            time.sleep(2.5)
            for _ in range(3):
                with contextlib.suppress(posix_ipc.BusyError):
                    q.receive(timeout=0)

    scene.run("job-producer", producer)
    scene.run("job-worker", consumer)
    jobs.close()

    # A SysV event queue with a few messages waiting, and a semaphore set.
    events = sysv_ipc.MessageQueue(0x5CE0E002, sysv_ipc.IPC_CREX, mode=0o660)
    for i in range(4):
        events.send(f"event {i}".encode(), type=i + 1)
    sem = sysv_ipc.Semaphore(0x5CE0E003, sysv_ipc.IPC_CREX, mode=0o600, initial_value=2)
    del sem

    # Shared memory in use: a POSIX segment mapped by a worker, a named semaphore it holds.
    def renderer() -> None:
        shm = posix_ipc.SharedMemory("/frames", posix_ipc.O_CREX, size=2 << 20)
        view = mmap.mmap(shm.fd, 2 << 20)
        view[:48] = b"FRAME 0042 width=640 height=480 fmt=rgb24\x00\x00\x00\x00\x00\x00\x00"
        lock = posix_ipc.Semaphore("/frames-lock", posix_ipc.O_CREX, initial_value=1)
        seg = sysv_ipc.SharedMemory(0x5CE0E004, sysv_ipc.IPC_CREX, size=1 << 20, mode=0o640)
        seg.write(b"shared state v3\x00counter=0042\x00")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        os.kill(os.getpid(), signal.SIGUSR1)  # pending and blocked: the pivot shows it
        _keep = (view, lock, seg)
        hold()

    scene.run("renderer", renderer)

    # A pipeline: a writer faster than its reader, bytes waiting in the pipe.
    r, w = os.pipe()

    def pipe_writer() -> None:
        os.close(r)
        ready()
        while True:
            os.write(w, b"log line: request served in 12 ms\n" * 20)
            time.sleep(0.2)

    def pipe_reader() -> None:
        os.close(w)
        ready()
        while True:
            time.sleep(1.0)
            os.read(r, 2048)

    scene.run("log-writer", pipe_writer)
    scene.run("log-shipper", pipe_reader)
    os.close(r)
    os.close(w)

    # A UNIX socket server and a client; a FIFO a process keeps open.
    path = str(scene.tmp / "api.sock")

    def server() -> None:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(8)
        ready()
        conn, _ = srv.accept()
        _keep = (srv, conn)
        while True:
            conn.recv(4096)

    scene.run("api-server", server)

    def client() -> None:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        fifo = scene.tmp / "control.fifo"
        os.mkfifo(fifo, 0o620)
        fd = os.open(fifo, os.O_RDWR)
        os.write(fd, b"reload\n")
        _keep = (c, fd)
        hold()

    scene.run("api-client", client)

    # A container: a process in an IPC namespace of its own, with a segment there.
    def contained() -> None:
        if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWIPC) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC)")
        seg = sysv_ipc.SharedMemory(0x5CE0E005, sysv_ipc.IPC_CREX, size=16 << 20, mode=0o600)
        seg.write(b"in a container\x00")
        _keep = seg
        hold()

    scene.run("sandboxed-db", contained)


async def shoot(out: Path, size: tuple[int, int]) -> list[str]:
    from textual.pilot import Pilot
    from textual.worker import WorkerFailed

    from ipctop.ui.app import IpcTopApp

    cols, rows = size
    app = IpcTopApp()  # the real collector and inotify, every 2 s, no filter
    saved: list[str] = []

    async def settle(pilot: Pilot[int], polls: int = 0) -> None:
        for _ in range(polls):
            before = app.polls
            while app.polls == before:
                await pilot.pause(0.1)
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    def save(name: str) -> None:
        filename = f"{name}-{cols}x{rows}.svg"
        app.save_screenshot(filename=filename, path=str(out))
        saved.append(filename)

    async with app.run_test(size=size) as pilot:
        await settle(pilot, polls=3)
        if app.snapshot is None:
            raise SystemExit("the real collector failed; see the notices")
        app.table.select_key("posix_mq:/jobs")
        await settle(pilot, polls=1)
        save("all")
        leaks = next(i for i, v in enumerate(app.views) if v.id == "leaks")
        app.action_view(leaks)
        await settle(pilot)
        save("leaks")
        await pilot.press("2")
        await settle(pilot, polls=1)
        save("sysv-shm")
        shm = next((k for k, o in app.live.objects.items() if getattr(o, "name", None)
                    == "/frames"), None)
        await pilot.press("1")
        if shm is not None and app.table.select_key(shm):
            await pilot.press("enter")
            await settle(pilot, polls=1)
            save("detail-shm")
            await pilot.press("enter")  # its first user: the renderer
            await settle(pilot)
            save("process")
            await pilot.press("escape", "escape")
        await pilot.press("f5")  # every process with its IPC, as a tree
        await settle(pilot, polls=1)
        save("processes")
        await pilot.press("escape", "f2")  # the column chooser of the All view
        await settle(pilot)
        save("columns")
        await pilot.press("escape", "l")
        await settle(pilot, polls=1)
        save("events")
    return saved


def inside(out: Path) -> int:
    private_mounts()
    os.environ.setdefault("TZ", "UTC")
    scene = Scene()
    try:
        build(scene)
        saved: list[str] = []
        for size in SIZES:
            saved += asyncio.run(shoot(out, size))
    finally:
        scene.end()
    for name in saved:
        print(out / name)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if os.environ.get(INSIDE) != "1":
        return reexec_in_namespaces([str(Path(__file__).resolve()), "--out",
                                     str(args.out.resolve())])
    return inside(args.out)


if __name__ == "__main__":
    sys.exit(main())
