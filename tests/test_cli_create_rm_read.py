# ruff: noqa: F811  (the ``made`` fixture is imported from test_actions)
"""create with an existing key or name, rm (and the other commands) by SysV key, and read that
leaves a SysV segment as it is when some process has it attached.

Real objects, through ``ipctop.cli.main``; each made with a unique key or name and removed at
teardown.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import sysv_ipc
from conftest import Child, Spawn, unique_key, unique_name
from test_actions import Make, exists, force_remove, made  # noqa: F401 (made: fixture)
from test_cli_actions import cleanup as mine  # noqa: F401 (a fixture: what a test made)
from test_cli_actions import run

from ipctop import actions
from ipctop.model import Kind

# ---------------------------------------------------------------- create, existing


@pytest.mark.parametrize(("kind", "first", "again", "differs"), [
    (Kind.SYSV_SHM, ["--size", "4096"], ["--size", "8K"], "size 4096, not 8192"),
    (Kind.SYSV_SEM, ["--nsems", "2"], ["--nsems", "3"], "nsems 2, not 3"),
    (Kind.POSIX_SHM, ["--size", "4K"], ["--size", "8192"], "size 4096, not 8192"),
    (Kind.POSIX_MQ, ["--maxmsg", "4", "--msgsize", "64"], ["--maxmsg", "5", "--msgsize", "64"],
     "maxmsg 4, not 5"),
    (Kind.POSIX_MQ, ["--maxmsg", "4", "--msgsize", "64"], ["--msgsize", "128"],
     "msgsize 64, not 128"),
])
def test_create_existing_with_other_parameters_fails_unless_reuse(
        capsys: pytest.CaptureFixture[str], mine: list[tuple[Kind, str]], kind: Kind,
        first: list[str], again: list[str], differs: str) -> None:
    name = hex(unique_key()) if kind.value.startswith("sysv") else "/" + unique_name()
    code, out, _ = run(capsys, "create", kind.word, name, *first)
    assert code == 0
    ident = out.strip()
    mine.append((kind, ident))

    code, out, err = run(capsys, "create", kind.word, name, *again)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"ipctop: {kind.word} {ident}")
    assert f"already exists with {differs}: nothing created (--reuse" in err

    code, out, err = run(capsys, "create", kind.word, name, *again, "--reuse", "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["kind"], doc["id"], doc["created"], doc["differs"]) == (
        kind.value, ident, False, [differs])
    assert f"already existed, taken as it is: {differs}" in err

    # The same parameters again: the object is taken as it is, and stderr says it existed.
    code, out, err = run(capsys, "create", kind.word, name, *first)
    assert code == 0 and out.strip() == ident
    assert err.strip().endswith("already existed: taken as it is")


def test_create_existing_sysv_shm_keeps_the_old_segment(capsys: pytest.CaptureFixture[str],
                                                        mine: list[tuple[Kind, str]]) -> None:
    key = hex(unique_key())
    code, out, _ = run(capsys, "create", "sysv-shm", key, "--size", "4096")
    ident = out.strip()
    mine.append((Kind.SYSV_SHM, ident))
    assert run(capsys, "create", "sysv-shm", key, "--size", "8192")[0] == 2
    row = actions.sysv_row(Kind.SYSV_SHM, int(ident))
    assert row is not None and row["size"] == 4096  # nothing changed, nothing new
    code, _, err = run(capsys, "create", "sysv-shm", key, "--size", "1", "--reuse",
                       "--exclusive")
    assert code == 2 and "contradict" in err


# ---------------------------------------------------------------- by key


def test_rm_by_key_removes_exactly_that_object(capsys: pytest.CaptureFixture[str],
                                               made: Make) -> None:
    keep = made(Kind.SYSV_MSG)
    key = unique_key()
    q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
    try:
        code, out, err = run(capsys, "rm", "sysv-msg", "--key", hex(key), "--yes")
        assert code == 0, err
        assert out.startswith(f"removed sysv-msg {q.id}: ")
        assert not exists(Kind.SYSV_MSG, str(q.id)) and exists(Kind.SYSV_MSG, keep)
        code, _, err = run(capsys, "rm", "sysv-msg", "--key", str(key), "--yes")  # decimal
        assert code == 1 and err == f"ipctop: no sysv-msg with key 0x{key:08x} (see `ipctop " \
            "snapshot`)\n"
    finally:
        force_remove(Kind.SYSV_MSG, str(q.id))


@pytest.mark.parametrize(("argv", "message"), [
    (["rm", "sysv-shm", "--yes"], "sysv-shm: give an ID or --key KEY"),
    (["rm", "sysv-shm", "5", "--key", "0x1", "--yes"], "give an ID or --key KEY, not both"),
    (["rm", "posix-shm", "--key", "0x1", "--yes"], "--key is for the SysV kinds"),
    (["rm", "sysv-sem", "--key", "0", "--yes"], "key 0 is IPC_PRIVATE"),
    (["rm", "sysv-sem", "--key", "0xnothex", "--yes"], "not a SysV key"),
])
def test_key_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                        message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("ipctop: ") and message in err and err.count("\n") == 1


def test_other_commands_take_a_key_too(capsys: pytest.CaptureFixture[str],
                                       mine: list[tuple[Kind, str]]) -> None:
    key = hex(unique_key())
    code, out, _ = run(capsys, "create", "sysv-msg", key)
    mine.append((Kind.SYSV_MSG, out.strip()))
    assert run(capsys, "send", "sysv-msg", "--key", key, "hello")[0] == 0
    code, out, _ = run(capsys, "recv", "sysv-msg", "--key", key, "--peek")
    assert code == 0 and out == "type 1: hello\n"


# ---------------------------------------------------------------- read without attaching


def _shm_times(ident: str) -> tuple[int, int, int, int]:
    row = actions.sysv_row(Kind.SYSV_SHM, int(ident))
    assert row is not None
    return row["lpid"], row["atime"], row["dtime"], row["nattch"]


_held: list[object] = []


def held_segment(spawn: Spawn, data: bytes, offset: int) -> tuple[Child, str, int]:
    """A child that made a 4 KiB segment, wrote ``data`` at ``offset`` and stays attached:
    (the child, the shmid, the key). The caller removes the segment."""
    key = unique_key()

    def hold() -> bytes:
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096, init_character=b"\0")
        seg.write(data, offset)
        _held.append(seg)
        return str(seg.id).encode()

    child = spawn(hold)
    return child, child.report.decode(), key


def test_read_through_an_attachers_mapping_changes_nothing(
        capsys: pytest.CaptureFixture[str], spawn: Spawn) -> None:
    child, ident, key = held_segment(spawn, b"held by the child", 100)
    try:
        before = _shm_times(ident)
        code, out, err = run(capsys, "read", "sysv-shm", ident, "--offset", "96",
                             "--length", "32")
        assert code == 0
        assert "|....held by the |" in out and "|child...........|" in out
        assert err == f"ipctop: read through process {child.pid}'s mapping (not attached)\n"
        assert _shm_times(ident) == before  # lpid, atime, dtime, nattch: untouched
        code, out, err = run(capsys, "read", "sysv-shm", "--key", hex(key), "--raw",
                             "--offset", "100", "--length", "17")
        assert out == "held by the child" and _shm_times(ident) == before
    finally:
        child.stop()
        force_remove(Kind.SYSV_SHM, ident)


def test_read_with_no_attacher_attaches_and_says_so(capsys: pytest.CaptureFixture[str],
                                                    made: Make) -> None:
    ident = made(Kind.SYSV_SHM, size=64)
    code, out, err = run(capsys, "read", "sysv-shm", ident, "--length", "16")
    assert code == 0 and out.startswith("00000000  00 00")
    assert err.startswith("ipctop: attached read-only, which changes its lpid and atime/dtime")
    lpid, atime, dtime, nattch = _shm_times(ident)
    assert lpid == os.getpid() and atime > 0 and dtime > 0 and nattch == 0


# ---------------------------------------------------------------- per-command kinds in --help


@pytest.mark.parametrize(("command", "kinds"), [
    ("create", "sysv-shm, sysv-msg, sysv-sem, posix-shm, posix-mq, posix-sem or fifo"),
    ("rm", "sysv-shm, sysv-msg, sysv-sem, posix-shm, posix-mq, posix-sem or fifo"),
    ("send", "sysv-msg, posix-mq or fifo"),
    ("recv", "sysv-msg, posix-mq or fifo"),
    ("write", "sysv-shm or posix-shm"),
    ("read", "sysv-shm, posix-shm, anon-shm or memfd"),
    ("sem", "sysv-sem or posix-sem"),
])
def test_help_lists_exactly_the_kinds_a_command_takes(capsys: pytest.CaptureFixture[str],
                                                      command: str, kinds: str) -> None:
    from ipctop.cli import main

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    # argparse wraps lines, also after a hyphen ("posix-" / "sem")
    text = " ".join(re.sub(r"-\n\s+", "-", capsys.readouterr().out).split())
    assert f"KIND {kinds} " in text
    taken = set(kinds.replace(" or ", ", ").split(", "))
    for kind in Kind:
        if kind.word not in taken:
            assert f" {kind.word}" not in text.split("positional arguments:")[1].split(
                "options:")[0], (command, kind)


def test_a_mapping_that_is_not_the_segment_is_never_read(made: Make, tmp_path: Path) -> None:
    """A fixture /proc whose process "maps" something named like the segment, with the shmid
    in the inode column, but whose map_files entry is an ordinary file: its bytes are not taken
    for the segment's; ipctop attaches and says so."""
    from ipctop.actions import sysv

    ident = made(Kind.SYSV_SHM, size=64)
    proc = tmp_path / "proc"
    (proc / "4242" / "map_files").mkdir(parents=True)
    (proc / "4242" / "maps").write_text(
        f"7f0000000000-7f0000001000 rw-s 00000000 00:01 {ident}   /SYSV0000abcd (deleted)\n"
        f"7f0000002000-7f0000003000 rw-s 00000000 00:01 {ident}   /tmp/SYSVfake\n")
    for name in ("7f0000000000-7f0000001000", "7f0000002000-7f0000003000"):
        (proc / "4242" / "map_files" / name).write_bytes(b"FAKE" * 16)
    read = sysv.read_shm(ident, 0, 16, proc=proc)
    assert read.data == bytes(16) and read.how == sysv.ATTACH_NOTE


def test_preview_reads_through_the_same_mapping(spawn: Spawn) -> None:
    """The detail pane's preview uses the same way in (ipctop.shm_mapping) as `read`."""
    from ipctop.kinds import SysvShm
    from ipctop.model import User
    from ipctop.preview import preview

    child, ident, _key = held_segment(spawn, b"preview me", 0)
    try:
        before = _shm_times(ident)
        obj = SysvShm(id=ident, nattch=1, cpid=child.pid, lpid=child.pid,
                      users=(User(child.pid, "python", None, "rw", "map"),))
        shown = preview(obj, length=16)
        assert shown.data == b"preview me" + bytes(6)
        assert shown.note == f"via {child.pid}'s mapping (not attached)"
        assert _shm_times(ident) == before
        nobody = preview(SysvShm(id=ident, nattch=1, cpid=child.pid, lpid=child.pid))
        assert nobody.data is None and "attach with `a`" in nobody.note
    finally:
        child.stop()
        force_remove(Kind.SYSV_SHM, ident)


# ---------------------------------------------------------------- recv: escaping, a table


HOSTILE = "\x1b]2;owned\x07 \u009b31m \u202eexe.txt".encode() + b"\xff"


def test_recv_spells_out_what_a_terminal_would_interpret(capsys: pytest.CaptureFixture[str],
                                                         made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    actions.send(Kind.SYSV_MSG, q, HOSTILE)
    code, out, _ = run(capsys, "recv", "sysv-msg", q, "--peek")
    assert code == 0
    assert out == "type 1: \\x1b]2;owned\\x07 \\u009b31m \\u202eexe.txt\\xff\n"


def test_recv_as_a_table(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.POSIX_MQ)
    actions.send(Kind.POSIX_MQ, q, b"hello world", priority=3)
    actions.send(Kind.POSIX_MQ, q, HOSTILE, priority=1)
    code, out, _ = run(capsys, "recv", "posix-mq", q, "--count", "5", "-r", "-n",
                       "-o", "PRIORITY,SIZE,DATA,HEX")
    assert code == 0
    assert out.splitlines() == [
        "3 11 hello\\x20world 68\\x2065\\x206c\\x206c\\x206f\\x2020\\x2077\\x206f\\x2072\\x206c"
        "\\x2064",
        # Escaped once, as lsfd --raw: every byte that is not printable ASCII as \xHH
        # (the C1 CSI and the bidi override as their UTF-8 bytes): nothing a terminal would
        # act on, and the line still splits on spaces.
        "1 28 \\x1b]2;owned\\x07\\x20\\xc2\\x9b31m\\x20\\xe2\\x80\\xaeexe.txt\\xff "
        + HOSTILE.hex("\x00").replace("\x00", "\\x20"),
    ]
    code, out, _ = run(capsys, "recv", "posix-mq", q, "-H")
    assert code == 0 and out.splitlines()[1].startswith("PRIORITY*")


def test_recv_bad_table_options_take_nothing(capsys: pytest.CaptureFixture[str],
                                            made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    actions.send(Kind.SYSV_MSG, q, b"keep me")
    for argv in (["-o", "PRIORITY"], ["--json", "--raw"], ["-o", ""]):
        code, out, err = run(capsys, "recv", "sysv-msg", q, *argv)
        assert code == 2 and out == "" and err.count("\n") == 1, argv
    code, out, _ = run(capsys, "recv", "sysv-msg", q, "-o", "DATA")
    assert code == 0 and out == "DATA\nkeep me\n"  # still there for the last one


def test_only_processes_of_the_segments_ipc_namespace_are_looked_at(tmp_path: Path) -> None:
    """shmids repeat across IPC namespaces and all live on one internal filesystem, so a
    container's segment 5 would pass every other check for ours: a process in another IPC
    namespace is never looked at (fixture /proc: namespaces are files told apart by inode)."""
    from ipctop.shm_mapping import open_attached

    proc = tmp_path / "proc"
    for pid in ("self", "4242", "4343"):
        (proc / pid / "ns").mkdir(parents=True)
    (proc / "self" / "ns" / "ipc").write_text("")
    os.link(proc / "self" / "ns" / "ipc", proc / "4242" / "ns" / "ipc")  # same namespace
    (proc / "4343" / "ns" / "ipc").write_text("")  # another one
    tried: list[str] = []
    assert open_attached(5, [4343, 4242], proc, tried) is None
    assert [t.split(":")[0] for t in tried] == ["4242"]  # 4242's maps were tried, 4343's not
    other = os.stat(proc / "4343" / "ns" / "ipc").st_ino
    tried = []
    assert open_attached(5, [4343, 4242], proc, tried, ipc_ns=other) is None
    assert [t.split(":")[0] for t in tried] == ["4343"]


def test_names_other_users_chose_are_spelled_out(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    fifo = tmp_path / "ctl\x1b[2J\u202e"
    os.mkfifo(fifo)
    code, out, err = run(capsys, "rm", "fifo", str(fifo), "--yes")
    assert code == 0 and not fifo.exists()
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert out.startswith(f"removed fifo {tmp_path}/ctl\\x1b[2J\\u202e: ")
