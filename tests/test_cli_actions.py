# ruff: noqa: F811  (the ``made`` fixture is imported from test_actions)
"""The action commands through ``ipctop.cli.main`` (in-process) and a real subprocess.

Exit statuses, what lands on stdout and stderr, and that a refused or failed command changed
nothing. Every object is made here with a unique key or name and removed at teardown.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique_key, unique_name
from test_actions import Make, exists, force_remove, made, msg_count  # noqa: F401 (made: fixture)

from ipctop import actions
from ipctop.cli import main
from ipctop.model import Kind

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """An argparse-level error: exit 2 and one line on stderr."""
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


@pytest.fixture
def cleanup() -> Iterator[list[tuple[Kind, str]]]:
    mine: list[tuple[Kind, str]] = []
    try:
        yield mine
    finally:
        for kind, ident in mine:
            force_remove(kind, ident)


# ---------------------------------------------------------------- create


def test_create_prints_the_id_only(capsys: pytest.CaptureFixture[str],
                                   cleanup: list[tuple[Kind, str]]) -> None:
    key = unique_key()
    code, out, err = run(capsys, "create", "sysv-shm", hex(key), "--size", "8K", "--mode", "0640")
    assert code == 0 and err == ""
    ident = out.strip()
    cleanup.append((Kind.SYSV_SHM, ident))
    assert out == f"{ident}\n" and ident.isdigit()
    row = actions.sysv_row(Kind.SYSV_SHM, int(ident))
    assert row is not None and row["size"] == 8192 and row["perms"] & 0o777 == 0o640
    assert row["key"] & 0xFFFFFFFF == key


def test_create_json(capsys: pytest.CaptureFixture[str], cleanup: list[tuple[Kind, str]]) -> None:
    name = "/" + unique_name()
    code, out, _err = run(capsys, "create", "posix_mq", name, "--maxmsg", "4", "--msgsize",
                          "100", "--json")
    cleanup.append((Kind.POSIX_MQ, name))
    assert code == 0
    assert json.loads(out) == {"kind": "posix_mq", "id": name, "key": None, "created": True,
                               "differs": []}
    assert exists(Kind.POSIX_MQ, name)


def test_create_exclusive_on_existing_key_fails_and_keeps_it(
        capsys: pytest.CaptureFixture[str], made: Make) -> None:
    ident = made(Kind.SYSV_MSG)
    row = actions.sysv_row(Kind.SYSV_MSG, int(ident))
    assert row is not None
    key = hex(row["key"] & 0xFFFFFFFF)
    actions.send(Kind.SYSV_MSG, ident, b"keep")
    code, out, err = run(capsys, "create", "sysv-msg", key, "--exclusive")
    assert code == 2 and out == ""
    assert err == f"ipctop: a sysv-msg with key 0x{int(key, 16):08x} already exists (id {ident})\n"
    assert run(capsys, "create", "sysv-msg", key)[1] == f"{ident}\n"
    assert msg_count(ident) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "posix-shm", "noslash", "--size", "10"], "starts with '/'"),
        (["create", "posix-mq", "/a/b"], "no '/' after the first"),
        (["create", "sysv-shm", "private", "--size", "0"], "size must be greater than 0"),
        (["create", "sysv-shm", "private"], "--size is required"),
        (["create", "sysv-msg", "0xnothex"], "not a SysV key"),
        (["create", "posix-mq", "/x", "--maxmsg", "999999"], "fs.mqueue.msg_max"),
        (["sem", "sysv-sem", "1", "--set", "1", "--timeout", "1"], "--timeout applies to --op"),
        (["send", "sysv-msg", "1", "zz", "--hex"], "not hex bytes"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                          message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("ipctop: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "bogus", "x"], "unknown kind 'bogus'"),
        (["send", "sysv-msg", "1", "x", "--type", "two"], "not a whole number"),
        (["recv", "sysv-msg", "1", "--timeout", "soon"], "not a duration"),
        (["create", "sysv-shm", "private", "--size", "lots"], "not a size"),
        (["sem", "sysv-sem", "1"], "one of the arguments --op --set is required"),
        (["sem", "sysv-sem", "1", "--op", "1", "--set", "2"], "not allowed with argument"),
        (["write", "sysv-shm", "1", "data"], "required: --offset"),
        # Each command takes only its kinds and names exactly those.
        (["create", "pipe", "x"], "create takes sysv-shm, sysv-msg, sysv-sem, posix-shm, "
         "posix-mq, posix-sem or fifo, not pipe"),
        (["send", "sysv-shm", "1", "data"], "send takes sysv-msg, posix-mq or fifo, not sysv-shm"),
        (["recv", "SysV shm", "1"], "recv takes sysv-msg, posix-mq or fifo, not sysv-shm"),
        (["read", "posix-mq", "/x"],
         "read takes sysv-shm, posix-shm, anon-shm or memfd, not posix-mq"),
        (["write", "fifo", "/x", "d", "--offset", "0"], "write takes sysv-shm or posix-shm"),
        (["sem", "posix_shm", "/x", "--op", "1"], "sem takes sysv-sem or posix-sem, not posix-shm"),
        (["rm", "unix-socket", "1", "--yes"], "rm takes sysv-shm, sysv-msg, sysv-sem, "
         "posix-shm, posix-mq, posix-sem or fifo, not unix-socket"),
    ],
)
def test_argument_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                message: str) -> None:
    assert message in usage_error(capsys, *argv)


# ---------------------------------------------------------------- send / recv


def test_send_recv_sysv_round_trip(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    assert run(capsys, "send", "sysv-msg", q, "hello world", "--type", "7") == (0, "", "")
    assert run(capsys, "send", "sysv-msg", q, "00 ff 0a", "--hex") == (0, "", "")
    assert msg_count(q) == 2
    code, out, _ = run(capsys, "recv", "sysv-msg", q, "--peek", "--count", "5")
    assert code == 0 and out == "type 7: hello world\ntype 1: \\x00\\xff\\x0a\n"
    assert msg_count(q) == 2
    code, out, _ = run(capsys, "recv", "sysv-msg", q, "--hex", "--count", "5")
    assert code == 0 and out == "type 7: 68 65 6c 6c 6f 20 77 6f 72 6c 64\ntype 1: 00 ff 0a\n"
    assert msg_count(q) == 0


def test_recv_empty_exits_1(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    code, out, err = run(capsys, "recv", "sysv-msg", q, "--timeout", "0.05")
    assert (code, out) == (1, "")
    assert err == f"ipctop: nothing to receive from sysv-msg {q} within 0.05s\n"


def test_send_recv_mq_with_priority_json(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=4, msgsize=32)
    assert run(capsys, "send", "posix-mq", q, "urgent", "--priority", "9")[0] == 0
    assert run(capsys, "send", "posix-mq", q, "later")[0] == 0
    code, out, _ = run(capsys, "recv", "posix-mq", q, "--count", "2", "--json")
    assert code == 0
    assert [(m["type"], m["text"]) for m in json.loads(out)] == [(9, "urgent"), (0, "later")]


def test_recv_peek_on_mq_says_it_cannot(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=4, msgsize=32)
    actions.send(Kind.POSIX_MQ, q, b"stay")
    code, out, err = run(capsys, "recv", "posix-mq", q, "--peek")
    assert (code, out) == (2, "") and "cannot be peeked" in err
    assert actions.receive(Kind.POSIX_MQ, q) == [actions.Message(b"stay", 0)]


def test_send_full_queue_exit_2_and_unchanged(capsys: pytest.CaptureFixture[str],
                                              made: Make) -> None:
    q = made(Kind.POSIX_MQ, maxmsg=1, msgsize=8)
    assert run(capsys, "send", "posix-mq", q, "a")[0] == 0
    code, _out, err = run(capsys, "send", "posix-mq", q, "b", "--timeout", "0.05")
    assert code == 2 and "is full (1 of 1 messages) after waiting 0.05s: nothing sent" in err
    assert actions.receive(Kind.POSIX_MQ, q, count=3) == [actions.Message(b"a", 0)]


def test_fifo_without_reader(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    path = made(Kind.FIFO)
    code, _out, err = run(capsys, "send", "fifo", path, "x")
    assert code == 2 and err == f"ipctop: no process has {path} open for reading: nothing sent\n"


def test_missing_object_exits_1(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    force_remove(Kind.SYSV_MSG, q)
    code, out, err = run(capsys, "send", "sysv-msg", q, "x")
    assert (code, out) == (1, "")
    assert err == f"ipctop: no sysv-msg with id {q} (see `ipctop snapshot`)\n"
    name = "/" + unique_name()
    code, _out, err = run(capsys, "recv", "posix-mq", name)
    assert code == 1 and err == f"ipctop: posix-mq {name} does not exist (see `ipctop snapshot`)\n"


# ---------------------------------------------------------------- write / read


@pytest.mark.parametrize("kind", ["sysv-shm", "posix-shm"])
def test_write_then_read_dump(capsys: pytest.CaptureFixture[str], made: Make, kind: str) -> None:
    ident = made(Kind(kind.replace("-", "_")), size=40)
    code, out, _ = run(capsys, "write", kind, ident, "hello world", "--offset", "16")
    assert code == 0 and out == "wrote 11 bytes at offset 16\n"
    assert run(capsys, "write", kind, ident, "de ad be ef", "--hex", "--offset", "0x24")[0] == 0
    code, out, _ = run(capsys, "read", kind, ident, "--offset", "16")
    assert code == 0
    assert out == (
        "00000010  68 65 6c 6c 6f 20 77 6f  72 6c 64 00 00 00 00 00  |hello world.....|\n"
        "00000020  00 00 00 00 de ad be ef                           |........|\n"
        "00000028\n")
    assert run(capsys, "read", kind, ident, "--offset", "16", "--length", "5", "--raw")[1] == (
        "hello")


def test_write_past_end_changes_nothing(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    ident = made(Kind.SYSV_SHM, size=8)
    code, _out, err = run(capsys, "write", "sysv-shm", ident, "123456789", "--offset", "0")
    assert code == 2 and f"cannot write bytes 0..9 of sysv-shm {ident}: it has 8 bytes" in err
    assert actions.read_shm(Kind.SYSV_SHM, ident) == bytes(8)


# ---------------------------------------------------------------- sem


def test_sem_op_and_set(capsys: pytest.CaptureFixture[str], made: Make) -> None:
    ident = made(Kind.SYSV_SEM, nsems=2)
    assert run(capsys, "sem", "sysv-sem", ident, "--op", "3", "--index", "1") == (0, "3\n", "")
    assert run(capsys, "sem", "sysv-sem", ident, "--op", "-1", "--index", "1")[1] == "2\n"
    assert run(capsys, "sem", "sysv-sem", ident, "--set", "9")[1] == "9\n"
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (9, 2)
    code, _out, err = run(capsys, "sem", "sysv-sem", ident, "--op", "-5", "--index", "1",
                          "--timeout", "0.05")
    assert code == 2 and "is 2, op -5 needs at least 5 after waiting 0.05s" in err
    assert actions.sem_values(Kind.SYSV_SEM, ident) == (9, 2)


# ---------------------------------------------------------------- rm


def test_rm_without_yes_and_without_terminal_refuses(capsys: pytest.CaptureFixture[str],
                                                     made: Make) -> None:
    ident = made(Kind.SYSV_SHM, size=64)
    code, out, err = run(capsys, "rm", "sysv-shm", ident)
    assert (code, out) == (2, "")
    assert err == (f"ipctop: refusing to remove sysv-shm {ident} without confirmation: "
                   "pass --yes\n")
    assert exists(Kind.SYSV_SHM, ident)


def test_rm_yes_removes_and_says_what_happened(capsys: pytest.CaptureFixture[str],
                                               made: Make) -> None:
    ident = made(Kind.SYSV_MSG)
    code, out, _ = run(capsys, "rm", "sysv-msg", ident, "--yes")
    assert code == 0 and out == f"removed sysv-msg {ident}: empty: destroyed now\n"
    assert not exists(Kind.SYSV_MSG, ident)
    code, _out, err = run(capsys, "rm", "sysv-msg", ident, "--yes")
    assert code == 1 and "no sysv-msg with id" in err


# ---------------------------------------------------------------- real processes


def ipctop(*argv: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *argv], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False, stdin=stdin)


def test_subprocess_errors_have_no_traceback(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    for argv, code in (
        (["recv", "sysv-msg", q], 1),
        (["read", "sysv-shm", "999999999"], 1),
        (["create", "posix-shm", "bad/name", "--size", "1"], 2),
        (["recv", "sysv-msg", q, "--count", "0"], 2),
        (["rm", "sysv-msg", q], 2),
        (["sem", "posix-sem", "/" + unique_name(), "--op", "1"], 1),
        (["create", "nonsense", "x"], 2),
    ):
        proc = ipctop(*argv, stdin=subprocess.DEVNULL)
        assert proc.returncode == code, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("ipctop")
    assert exists(Kind.SYSV_MSG, q)


def test_subprocess_round_trip(made: Make) -> None:
    q = made(Kind.SYSV_MSG)
    assert ipctop("send", "sysv-msg", q, "über", "--type", "3").returncode == 0
    proc = ipctop("recv", "sysv-msg", q)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "type 3: über\n", "")


def _rm_on_a_terminal(kind: str, ident: str, answer: bytes) -> tuple[int, str]:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ipctop", "rm", kind, ident], cwd=ROOT,
                                stdin=slave, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while b"[y/N]" not in seen:
            ready, _w, _x = select.select([master], [], [], 30)
            assert ready, f"no prompt; got {seen!r}"
            seen += os.read(master, 1024)
        os.write(master, answer)
        out, _ = proc.communicate(timeout=30)
        return proc.returncode, seen.decode() + out.decode()
    finally:
        os.close(master)


def test_rm_asks_on_a_terminal(made: Make) -> None:
    ident = made(Kind.SYSV_SEM)
    code, text = _rm_on_a_terminal("sysv-sem", ident, b"n\n")
    assert code == 0 and f"Remove sysv-sem {ident}? [y/N]" in text
    assert "no process waiting: destroyed now" in text
    assert exists(Kind.SYSV_SEM, ident)
    code, text = _rm_on_a_terminal("sysv-sem", ident, b"y\n")
    assert code == 0 and f"removed sysv-sem {ident}" in text
    assert not exists(Kind.SYSV_SEM, ident)
