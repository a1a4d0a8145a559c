"""IPC inside other namespaces, on real ones: a forked child unshares its IPC and mount namespaces
(ctypes), mounts a private tmpfs on /dev/shm and its own mqueue, and creates objects there whose
SysV keys and POSIX names collide with objects made outside. Each object must be listed once, in
the right namespace, with the users of that namespace only; a leak inside is found.

The namespaces live as long as their member processes: the ``spawn`` fixture kills the member at
teardown (also on failure), and every process the member forks dies with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import signal
import subprocess
from collections.abc import Callable

import posix_ipc
import pytest
import sysv_ipc
from conftest import Cleanup, Spawn, ipctop_argv, unique_key, unique_name

from ipctop import nsenter
from ipctop.collect.procfs import ns_inode
from ipctop.leaks import LEAK, is_removable
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.snapshot import take

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building namespaces needs root")

PR_SET_PDEATHSIG = 1
_keep: list[object] = []


def ns_of(pid: int | str, kind: str) -> int:
    inode = ns_inode(os.readlink(f"/proc/{pid}/ns/{kind}"))
    assert inode is not None
    return inode


def private_namespaces() -> None:
    """In a forked child: new IPC and mount namespaces, a private tmpfs on /dev/shm and the new
    IPC namespace's mqueue on /dev/mqueue."""
    nsenter.unshare(nsenter.CLONE_NEWIPC | nsenter.CLONE_NEWNS)
    nsenter.mount(None, "/", None, nsenter.MS_REC | nsenter.MS_PRIVATE)
    nsenter.mount("tmpfs", "/dev/shm", "tmpfs", 0)
    nsenter.mount("mqueue", "/dev/mqueue", "mqueue", 0)


def die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def fork_holding(body: Callable[[], None]) -> int:
    """From a namespace member: fork a process that runs ``body`` and then waits forever; it
    dies with the member. Returns its pid once ``body`` has run."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the grandchild
        try:
            die_with_parent()
            os.closerange(3, w)  # the test's pipes: its parent reads them until EOF
            os.closerange(w + 1, 4096)
            body()
            os.write(w, b"+")
            signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"+"
    os.close(r)
    return pid


def fork_and_exit(body: Callable[[], None]) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the grandchild
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def find(snap: Snapshot, kind: Kind, pred: Callable[[IpcObject], bool]) -> list[IpcObject]:
    return [o for o in snap.objects if o.kind is kind and pred(o)]


def test_objects_inside_are_listed_once_in_their_namespace_with_their_users(
        spawn: Spawn, cleanup: Cleanup) -> None:
    key, leak_key = unique_key(), unique_key()
    shm_name, mq_name = f"/{unique_name()}", f"/{unique_name()}"

    # Outside: the same SysV key and the same POSIX names, held by a process of ours.
    def outside() -> bytes:
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        shm = posix_ipc.SharedMemory(shm_name, posix_ipc.O_CREX, size=4096)
        _keep.append(mmap.mmap(shm.fd, 4096))
        _keep.append(posix_ipc.MessageQueue(mq_name, posix_ipc.O_CREX))
        _keep.append(seg)
        return str(seg.id).encode()

    host = spawn(outside)
    host_shmid = host.report.decode()
    cleanup(lambda: sysv_ipc.remove_shared_memory(int(host_shmid)))
    cleanup(lambda: posix_ipc.unlink_shared_memory(shm_name))
    cleanup(lambda: posix_ipc.unlink_message_queue(mq_name))

    def inside() -> bytes:
        private_namespaces()
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=8192)
        queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
        queue.send(b"inside")
        sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, initial_value=2)
        shm = posix_ipc.SharedMemory(shm_name, posix_ipc.O_CREX, size=8192)
        mapped = mmap.mmap(shm.fd, 8192)
        shm.close_fd()
        _keep.extend([seg, mapped, posix_ipc.MessageQueue(mq_name, posix_ipc.O_CREX)])

        def second_mapper() -> None:  # a file mapped by two processes in there
            s = posix_ipc.SharedMemory(shm_name)
            _keep.append(mmap.mmap(s.fd, 8192))
            s.close_fd()

        other = fork_holding(second_mapper)

        def leaker() -> None:  # a segment whose creator is gone, inside
            m = sysv_ipc.SharedMemory(leak_key, sysv_ipc.IPC_CREX, size=4096)
            m.detach()

        fork_and_exit(leaker)
        return json.dumps({"shmid": seg.id, "other": other}).encode()

    member = spawn(inside)
    got = json.loads(member.report)
    ipc_ns, mnt_ns = ns_of(member.pid, "ipc"), ns_of(member.pid, "mnt")
    own_ipc, own_mnt = ns_of("self", "ipc"), ns_of("self", "mnt")
    assert ipc_ns != own_ipc and mnt_ns != own_mnt

    snap = take()
    ours = {f"0x{key:08x}", f"0x{leak_key:08x}", shm_name, mq_name}
    identities = [o.identity for o in snap.objects if o.key in ours or o.id in ours]
    assert len(identities) == len(set(identities)) == 9  # every object of ours once

    segs = find(snap, Kind.SYSV_SHM, lambda o: o.key == f"0x{key:08x}")
    assert sorted((o.ipc_ns, o.id, tuple(sorted(o.pids))) for o in segs) == sorted([
        (own_ipc, host_shmid, (host.pid,)),
        (ipc_ns, str(got["shmid"]), tuple(sorted((member.pid, got["other"])))),  # forks inherit
    ])
    inner = next(o for o in segs if o.ipc_ns == ipc_ns)
    assert inner.ns_pid is not None and ns_of(inner.ns_pid, "ipc") == ipc_ns
    assert inner.where == ipc_ns and inner.size == 8192

    for kind in (Kind.SYSV_MSG, Kind.SYSV_SEM):
        assert [o.ipc_ns for o in find(snap, kind, lambda o: o.key == f"0x{key:08x}")] == [
            ipc_ns]
    msg = find(snap, Kind.SYSV_MSG, lambda o: o.ipc_ns == ipc_ns and o.key == f"0x{key:08x}")
    assert msg[0].messages == 1  # type: ignore[attr-defined]

    files = find(snap, Kind.POSIX_SHM, lambda o: o.id == shm_name)
    assert sorted((o.mnt_ns, tuple(sorted(o.pids)), o.size) for o in files) == sorted([
        (own_mnt, (host.pid,), 4096),
        (mnt_ns, tuple(sorted((member.pid, got["other"]))), 8192),
    ])
    assert not find(snap, Kind.SHARED_MAPPING, lambda o: shm_name[1:] in o.id)

    queues = find(snap, Kind.POSIX_MQ, lambda o: o.id == mq_name)
    assert sorted((o.ipc_ns, tuple(sorted(o.pids))) for o in queues) == sorted([
        (own_ipc, (host.pid,)), (ipc_ns, (member.pid,))])

    (leaked,) = find(snap, Kind.SYSV_SHM, lambda o: o.key == f"0x{leak_key:08x}")
    assert leaked.ipc_ns == ipc_ns and leaked.leak is not None and leaked.leak.status == LEAK
    assert "creator" in leaked.leak.reason
    assert not is_removable(leaked)  # `leaks --clean` acts in its own namespaces only

    spaces = {(n.type, n.inode): n for n in snap.namespaces}
    assert spaces[("ipc", ipc_ns)].read and not spaces[("ipc", ipc_ns)].own
    assert spaces[("mnt", mnt_ns)].read and spaces[("ipc", own_ipc)].own
    assert spaces[("ipc", ipc_ns)].processes == 2  # the member and its second mapper


def test_no_helper_when_everything_is_in_our_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a fixture tree (every process in one namespace), nothing is entered or opened."""
    from ipctop.collect import namespaces

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("a helper was started")

    monkeypatch.setattr(nsenter, "run_inside", boom)
    monkeypatch.setattr(namespaces, "open_dev_shm", boom)
    own_ipc, own_mnt = ns_of("self", "ipc"), ns_of("self", "mnt")
    from ipctop.model import Process

    procs = {p: Process(p, 1, "x", "x", "root", 0, ipc_ns=own_ipc, mnt_ns=own_mnt)
             for p in (10, 11)}
    from pathlib import Path

    found = namespaces.survey(Path("/proc"), procs)
    assert found.foreign("ipc") == {} and found.foreign("mnt") == {}
    assert found.containers == {}


def test_not_root_says_what_it_could_not_look_into(cleanup: Cleanup) -> None:
    """As nobody, a namespace of nobody's own (a user namespace lets it make one) is known but
    cannot be entered; other users' processes' namespaces cannot even be read. One notice."""
    holder = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "unshare", "--user", "--ipc", "sleep", "60"],
        stdin=subprocess.DEVNULL)
    cleanup(holder.wait)
    cleanup(holder.kill)
    out = subprocess.run(
        [*ipctop_argv(65534), "snapshot", "--json", "--kind", "sysv-shm"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (notice,) = [n for n in doc["notices"] if "namespace" in n]
    assert notice.startswith("could not look into 1 IPC namespace of 1 process: ")
    assert "needs root" in notice and "other processes could not be read (not root)" in notice
    (unread,) = [n for n in doc["namespaces"] if not n["read"]]
    assert unread["type"] == "ipc" and unread["pid"] == holder.pid


def test_tui_removes_a_containers_object_in_its_namespace(spawn: Spawn, cleanup: Cleanup) -> None:
    """The TUI lists the object inside beside the host's of the same key, removes the one
    selected in its own namespace without asking for a pid, and leaves the host's alone."""
    import asyncio

    from test_ui_actions import click, notes, press_for, running, settle

    from ipctop.ui.app import IpcTopApp
    from ipctop.ui.screens.confirm import ConfirmScreen

    key = unique_key()
    hexkey = f"0x{key:08x}"
    outside = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
    cleanup(outside.remove)
    cleanup(outside.detach)

    def inside() -> bytes:
        private_namespaces()
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=8192)
        seg.detach()
        return str(seg.id).encode()

    member = spawn(inside)
    inner_id = member.report.decode()
    ipc_ns = ns_of(member.pid, "ipc")

    def collector() -> Snapshot:
        snap = take(kinds={Kind.SYSV_SHM})
        import dataclasses

        return dataclasses.replace(snap, objects=tuple(
            o for o in snap.objects if o.key == hexkey))

    async def scenario() -> None:
        async with running(collector) as pilot:
            app = pilot.app
            assert isinstance(app, IpcTopApp)
            foreign = f"sysv_shm:{inner_id}@{ipc_ns}"
            assert foreign in app.table.rows and f"sysv_shm:{outside.id}" in app.table.rows
            assert app.table.select_key(foreign)
            await pilot.pause()
            box = await press_for(pilot, "d", ConfirmScreen)
            assert box.question == f"Remove sysv-shm {inner_id}?"
            await click(pilot, "#yes")
            await settle(pilot)
            assert ("information", f"removed sysv-shm {inner_id}: no process attached: "
                    f"destroyed now, 8.0K of memory freed (inside ns {ipc_ns})") in notes(pilot)

    asyncio.run(scenario())
    rows = nsenter_shm(member.pid)
    assert hexkey not in rows  # gone inside
    assert sysv_ipc.SharedMemory(key).id == outside.id  # the host's is untouched


def nsenter_shm(pid: int) -> set[str]:
    out = subprocess.run(["nsenter", "-t", str(pid), "-i", "cat", "/proc/sysvipc/shm"],
                         capture_output=True, text=True, check=True).stdout
    return {f"0x{int(r.split()[0]) & 0xFFFFFFFF:08x}" for r in out.splitlines()[1:]}
