"""Reclaiming leaks on real objects, through `ipctop leaks` and ipctop.reclaim.

Every `--clean --yes` here is narrowed with ``--filter`` to this test's own random tag, which is in
the SysV keys ("0x<tag>NN") and the POSIX names ("/ipctop5-0x<tag>NN-..."), so nothing another
test or program made can match. Objects are removed at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import posix_ipc
import pytest
import sysv_ipc
from conftest import Cleanup, Spawn, Tag, ipctop_argv, on_terminal, run_and_exit

from ipctop.leaks import LEAK, find_leaks, judge
from ipctop.model import IpcObject, Kind
from ipctop.reclaim import REMOVED, SKIPPED, candidates, reclaim, reclaim_one
from ipctop.snapshot import take

# ------------------------------------------------------------------------------ object makers


def leaked_sysv_shm(tag: Tag) -> str:
    key = tag.key()

    def body() -> bytes:
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        m.write(b"leak")
        m.detach()
        return str(m.id).encode()

    shmid = int(run_and_exit(body))
    tag.undo(lambda: sysv_ipc.remove_shared_memory(shmid))
    return str(shmid)


def leaked_sysv_msg(tag: Tag) -> str:
    key = tag.key()

    def body() -> bytes:
        q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
        q.send(b"orphan")
        return str(q.id).encode()

    msqid = int(run_and_exit(body))
    tag.undo(lambda: sysv_ipc.remove_message_queue(msqid))
    return str(msqid)


def leaked_posix_shm(tag: Tag, what: str = "leak") -> str:
    name = tag.name(what)
    tag.undo(lambda: posix_ipc.unlink_shared_memory(name))
    run_and_exit(lambda: posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=8192).close_fd())
    return name


def leaked_posix_mq(tag: Tag) -> str:
    name = tag.name("mq")
    tag.undo(lambda: posix_ipc.unlink_message_queue(name))

    def body() -> None:
        q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=2, max_message_size=32)
        q.send(b"stale")
        q.close()

    run_and_exit(body)
    return name


_held: list[object] = []


def held_posix_shm(tag: Tag, spawn: Spawn) -> tuple[str, int]:
    name = tag.name("used")
    tag.undo(lambda: posix_ipc.unlink_shared_memory(name))

    def body() -> None:
        _held.append(posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096))

    return name, spawn(body).pid


def held_sysv_shm(tag: Tag, spawn: Spawn) -> tuple[str, int]:
    key = tag.key()

    def body() -> bytes:
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        m.detach()
        _held.append(sysv_ipc.SharedMemory(key))  # attached again: nattch 1
        return str(m.id).encode()

    child = spawn(body)
    shmid = int(child.report)
    tag.undo(lambda: sysv_ipc.remove_shared_memory(shmid))
    return str(shmid), child.pid


def exists(kind: Kind, ident: str) -> bool:
    return any(o.kind is kind and o.id == ident for o in take(kinds={kind}).objects)


NOBODY = 65534


def ipctop(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a script would: no terminal on stdin; as ``user`` (a uid) if given."""
    return subprocess.run([*ipctop_argv(user), *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


# ------------------------------------------------------------------------------ the command


def test_clean_dry_run_removes_nothing(tag: Tag) -> None:
    shmid = leaked_sysv_shm(tag)
    name = leaked_posix_shm(tag)
    out = ipctop("leaks", "--clean", "--filter", tag.text, "--ignore-unreadable", "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert {(e["kind"], e["id"]) for e in doc["leaks"]} == {("sysv_shm", shmid),
                                                            ("posix_shm", name)}
    assert doc["clean"]["dry_run"] is True
    assert {e["id"] for e in doc["clean"]["would_remove"]} == {shmid, name}
    assert doc["clean"]["removed"] == []
    assert exists(Kind.SYSV_SHM, shmid) and exists(Kind.POSIX_SHM, name)

    text = ipctop("leaks", "--clean", "--filter", tag.text, "--ignore-unreadable")
    assert text.returncode == 1
    assert "Would remove 2 objects" in text.stdout and "Dry run: nothing removed" in text.stdout
    assert exists(Kind.SYSV_SHM, shmid) and exists(Kind.POSIX_SHM, name)


def test_clean_yes_removes_only_the_leaks(tag: Tag, spawn: Spawn, cleanup: Cleanup) -> None:
    leaks = {
        ("sysv_shm", leaked_sysv_shm(tag)),
        ("sysv_msg", leaked_sysv_msg(tag)),
        ("posix_shm", leaked_posix_shm(tag)),
        ("posix_mq", leaked_posix_mq(tag)),
    }
    used_posix, _ = held_posix_shm(tag, spawn)
    used_sysv, _ = held_sysv_shm(tag, spawn)
    other = Tag(cleanup)  # a leak this test made, outside the filter: must survive
    outside = leaked_posix_shm(other, "outside")
    out = ipctop("leaks", "--clean", "--yes", "--filter", tag.text, "--ignore-unreadable",
                 "--json")
    assert out.returncode == 0, out.stderr  # every leak found was removed
    clean = json.loads(out.stdout)["clean"]
    assert {(r["kind"], r["id"]) for r in clean["removed"]} == leaks
    # The message says what removing did; "name" says what was removed (once).
    assert all(not r["message"].startswith("removed") and r["name"] not in r["message"]
               for r in clean["removed"]), clean["removed"]
    assert clean["failed"] == [] and clean["skipped"] == []
    for kind, ident in leaks:
        assert not exists(Kind(kind), ident)
    assert exists(Kind.POSIX_SHM, used_posix)
    assert exists(Kind.SYSV_SHM, used_sysv)
    assert exists(Kind.POSIX_SHM, outside)
    # Nothing left to find: exit 0.
    again = ipctop("leaks", "--filter", tag.text, "--ignore-unreadable")
    assert again.returncode == 0 and "No leaks found." in again.stdout


def test_clean_yes_exits_1_while_leaks_remain(tag: Tag, tmp_path: Path) -> None:
    """A FIFO written with no reader is a leak --clean does not remove (ending the writer fixes
    it): the removable leak goes, the exit status says one remains."""
    name = leaked_posix_shm(tag)
    fifo = tmp_path / f"fifo-{tag.text}"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.close(rfd)
    try:
        out = ipctop("leaks", "--clean", "--yes", "--filter", tag.text, "--ignore-unreadable")
    finally:
        os.close(wfd)
    assert out.returncode == 1, out.stdout + out.stderr
    assert not exists(Kind.POSIX_SHM, name)
    # One line per removal, the object named once: "removed: KIND NAME: consequence".
    [line] = [x for x in out.stdout.splitlines() if x.startswith("removed")]
    assert line.startswith(f"removed: posix-shm {name}: ") and line.count(name) == 1, line
    assert "destroyed now" in line and "removed posix-shm" not in line
    assert "Removed 1, skipped 0, failed 0" in out.stdout
    assert "LEAK    fifo" in out.stdout


def test_min_age_keeps_young_leaks(tag: Tag) -> None:
    name = leaked_posix_shm(tag)
    out = ipctop("leaks", "--clean", "--yes", "--min-age", "1h", "--filter", tag.text,
                 "--ignore-unreadable", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["leaks"] == [] and doc["clean"]["removed"] == []
    assert exists(Kind.POSIX_SHM, name)


def test_json_entry_fields(tag: Tag) -> None:
    shmid = leaked_sysv_shm(tag)
    out = ipctop("leaks", "--filter", tag.text, "--json")
    assert out.returncode == 1
    [entry] = json.loads(out.stdout)["leaks"]
    assert entry["kind"] == "sysv_shm" and entry["id"] == shmid
    assert entry["key"].startswith(tag.text) and entry["name"] is None
    assert entry["status"] == "leak" and "creator" in entry["reason"]
    assert entry["reclaim_bytes"] > 0 and entry["size"] == 4096 and entry["owner"] == "root"
    assert entry["evidence"] and entry["age"] >= 0 and entry["removable"] is True


def test_snapshot_json_carries_the_verdict(tag: Tag) -> None:
    shmid = leaked_sysv_shm(tag)
    out = ipctop("snapshot", "--json", "--kind", "sysv-shm")
    assert out.returncode == 0
    [obj] = [o for o in json.loads(out.stdout)["objects"] if o["id"] == shmid]
    assert obj["leak"]["status"] == "leak" and obj["leak"]["reclaim_bytes"] > 0
    assert "creator" in obj["leak"]["reason"]


@pytest.mark.parametrize("args", [
    ("--min-age", "soon"), ("--min-age", "-5m"), ("--yes",),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    out = ipctop("leaks", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipctop") and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_no_leaks_exit_0(tag: Tag) -> None:
    out = ipctop("leaks", "--filter", tag.text + "-nothing")
    assert out.returncode == 0 and out.stdout.strip() == "No leaks found."


# ------------------------------------------------------------------------------ re-check


def _listed(kind: Kind, ident: str, tag: Tag) -> IpcObject:
    snap = judge(take(kinds={kind}), ignore_unreadable=True)
    [obj] = [o for o in find_leaks(snap, filter_text=tag.text) if o.id == ident]
    assert obj.leak is not None and obj.leak.status == LEAK
    return obj


def test_back_in_use_since_listing_is_skipped(tag: Tag, spawn: Spawn) -> None:
    shmid = leaked_sysv_shm(tag)
    name = leaked_posix_shm(tag)
    listed = [_listed(Kind.SYSV_SHM, shmid, tag), _listed(Kind.POSIX_SHM, name, tag)]
    key = int(listed[0].key or "0", 16)

    def reuse() -> None:
        _held.append(sysv_ipc.SharedMemory(key))  # attaches
        _held.append(posix_ipc.SharedMemory(name))  # opens
    user = spawn(reuse)
    outcomes = reclaim(listed, filter_text=tag.text, ignore_unreadable=True)
    assert [o.result for o in outcomes] == [SKIPPED, SKIPPED]
    assert all(f"{user.pid}/" in o.message for o in outcomes), outcomes
    assert exists(Kind.SYSV_SHM, shmid) and exists(Kind.POSIX_SHM, name)


def test_reclaim_honours_the_filter_strictly(tag: Tag) -> None:
    name = leaked_posix_shm(tag)
    obj = _listed(Kind.POSIX_SHM, name, tag)
    out = reclaim_one(obj, filter_text=tag.text + "-other", ignore_unreadable=True)
    assert out.result == SKIPPED and exists(Kind.POSIX_SHM, name)
    out = reclaim_one(obj, filter_text=tag.text, ignore_unreadable=True)
    assert out.result == REMOVED and out.reclaim_bytes == 8192
    assert not exists(Kind.POSIX_SHM, name)


def test_candidates_are_removable_leaks_only(tag: Tag, spawn: Spawn) -> None:
    leaked = leaked_posix_shm(tag)
    used, _ = held_posix_shm(tag, spawn)
    snap = judge(take(kinds={Kind.POSIX_SHM}), ignore_unreadable=True)
    assert [o.id for o in candidates(snap, filter_text=tag.text)] == [leaked]
    # Strict, with a process hidden: the kernel's lease probe still says nobody holds it.
    strict = judge(take(kinds={Kind.POSIX_SHM}, hide={os.getpid()}), ignore_unreadable=False)
    assert strict.unreadable.count >= 1
    assert [o.id for o in candidates(strict, filter_text=tag.text)] == [leaked]
    assert exists(Kind.POSIX_SHM, used)
    assert os.path.exists(f"/dev/shm{leaked}")


def test_unknown_is_counted_not_listed_unless_all(tag: Tag) -> None:
    # As a normal user, root's orphan cannot be judged: nobody's processes are all it can read,
    # and the kernel grants the lease probe only to the owner. Its own orphan is a leak.
    theirs, mine = leaked_posix_shm(tag, "root"), leaked_posix_shm(tag, "mine")
    os.chmod(f"/dev/shm{theirs}", 0o644)
    os.chown(f"/dev/shm{mine}", NOBODY, NOBODY)
    strict = ipctop("leaks", "--filter", tag.text, "--json", user=NOBODY)
    doc = json.loads(strict.stdout)
    assert doc["unreadable"] > 0
    assert strict.returncode == 1 and [e["id"] for e in doc["leaks"]] == [mine]
    assert doc["counts"]["unknown"] == 1 and doc["counts"]["leak"] == 1
    listed = json.loads(ipctop("leaks", "--all", "--filter", tag.text, "--json",
                               user=NOBODY).stdout)
    by_id = {e["id"]: e for e in listed["leaks"]}
    assert (by_id[theirs]["status"], by_id[theirs]["removable"]) == ("unknown", False)
    assert "the kernel would not say (a write lease is only granted to the file's owner" \
        in by_id[theirs]["reason"]
    text = ipctop("leaks", "--filter", tag.text, user=NOBODY)
    assert "1 unknown not listed" in text.stdout


def test_clean_on_a_terminal_is_a_dry_run_that_never_asks(tag: Tag) -> None:
    name = leaked_posix_shm(tag)
    args = ["leaks", "--clean", "--filter", tag.text, "--ignore-unreadable"]
    dry = on_terminal(args)
    assert "[y/N]" not in dry and "?" not in dry.split("Would remove")[1]
    assert "Would remove 1 object" in dry and "Dry run: nothing removed" in dry
    assert exists(Kind.POSIX_SHM, name)
    done = on_terminal([*args, "--yes"])
    [line] = [x for x in done.splitlines() if x.startswith("removed")]
    assert line.startswith(f"removed: posix-shm {name}: ") and line.count(name) == 1, line
    assert not exists(Kind.POSIX_SHM, name)
