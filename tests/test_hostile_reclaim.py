"""`leaks --clean` racing a process that starts using a leak between the re-check and the removal.

The attacker (``nobody``) made the objects and left them (leaks); ``take`` is the seam: the fresh
snapshot is taken, and only then does a process of theirs open or attach the object, so the
re-check passes and only the last-moment check (write lease, nattch with mode 0) can save it.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import posix_ipc
import sysv_ipc
from attacker import become_attacker
from conftest import Spawn, Tag, run_and_exit

from ipctop import actions
from ipctop.leaks import LEAK, judge
from ipctop.model import Kind, Snapshot
from ipctop.reclaim import SKIPPED, reclaim_one
from ipctop.snapshot import take

_held: list[object] = []


def _listed(kind: Kind, ident: str) -> object:
    snap = judge(take(kinds={kind}), ignore_unreadable=True)
    obj = next(o for o in snap.objects if o.kind is kind and o.id == ident)
    assert obj.leak is not None and obj.leak.status == LEAK, obj.leak
    return obj


def _then(spawn: Spawn, body: object) -> object:
    """A ``take`` that snapshots, then starts ``body`` (as the attacker) before returning."""
    def take_then(kinds: Collection[Kind]) -> Snapshot:
        snap = take(kinds=kinds)
        spawn(body)  # type: ignore[arg-type]
        return snap
    return take_then


def test_posix_shm_opened_after_the_recheck_is_not_removed(tag: Tag, spawn: Spawn) -> None:
    name = tag.name("race")
    tag.undo(lambda: posix_ipc.unlink_shared_memory(name))

    def make() -> None:
        become_attacker()
        posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600, size=4096).close_fd()

    run_and_exit(make)

    def reopen() -> None:
        become_attacker()
        _held.append(os.open("/dev/shm" + name, os.O_RDWR))

    obj = _listed(Kind.POSIX_SHM, name)
    out = reclaim_one(obj, filter_text=tag.text, ignore_unreadable=True,  # type: ignore[arg-type]
                      take=_then(spawn, reopen))  # type: ignore[arg-type]
    assert out.result == SKIPPED and "came into use" in out.message, out
    assert os.path.exists("/dev/shm" + name)


def test_sysv_shm_attached_after_the_recheck_is_not_removed(tag: Tag, spawn: Spawn) -> None:
    key = tag.key()

    def make() -> bytes:
        become_attacker()
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o600, size=4096)
        m.detach()
        return str(m.id).encode()

    shmid = run_and_exit(make).decode()
    tag.undo(lambda: sysv_ipc.remove_shared_memory(int(shmid)))

    def attach() -> None:
        become_attacker()
        _held.append(sysv_ipc.SharedMemory(key))

    obj = _listed(Kind.SYSV_SHM, shmid)
    out = reclaim_one(obj, filter_text=tag.text, ignore_unreadable=True,  # type: ignore[arg-type]
                      take=_then(spawn, attach))  # type: ignore[arg-type]
    assert out.result == SKIPPED and "attached by 1 process" in out.message, out
    row = actions.sysv_row(Kind.SYSV_SHM, int(shmid))
    assert row is not None and not row["perms"] & 0o1000  # not marked for removal
    assert row["perms"] & 0o777 == 0o600  # its mode is back


def test_rm_of_an_attached_segment_needs_force_attached(tag: Tag, spawn: Spawn) -> None:
    key = tag.key()
    m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o666, size=4096)
    m.detach()
    tag.undo(lambda: sysv_ipc.remove_shared_memory(m.id))

    def attach() -> None:
        become_attacker()
        _held.append(sysv_ipc.SharedMemory(key))

    spawn(attach)
    try:
        actions.remove(Kind.SYSV_SHM, str(m.id))
        raise AssertionError("removed without --force-attached")
    except actions.Attached as err:
        assert "--force-attached" in str(err)
    row = actions.sysv_row(Kind.SYSV_SHM, m.id)
    assert row is not None and not row["perms"] & 0o1000
    assert "removed" in actions.remove(Kind.SYSV_SHM, str(m.id), force_attached=True)
    row = actions.sysv_row(Kind.SYSV_SHM, m.id)
    assert row is not None and row["perms"] & 0o1000  # marked: goes when the attacher detaches
