"""A fuzz test of the command line (hypothesis, a bounded number of examples).

Whatever the arguments: the exit status is 0, 1 or 2; stderr has at most one line starting
``ipctop:``; never a traceback or "internal error"; and a command that fails changes nothing.

The machine is shared, so commands can only reach objects this test owns: POSIX names and FIFO
paths are drawn from this test's own namespace (a random tag), and SysV ids are always ones no
object can have (not ASCII digits, or beyond 2**31), so a fuzzed `rm` or `recv` cannot touch
another program's segment or queue. The namespace's objects are compared before and after each
command that failed.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from collections.abc import Iterator

import posix_ipc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ipctop.cli import main

TAG = f"ipctop-fuzz-{os.getpid()}-{random.randrange(1 << 30):x}"
FIFO_DIR = f"/tmp/{TAG}"

KINDS = ["sysv-shm", "sysv-msg", "sysv-sem", "posix-shm", "posix-mq", "posix-sem", "fifo", "pipe",
         "unix-socket", "shm", "", "posix_shm", "SYSV-SHM", "x"]
COMMANDS = ["create", "send", "recv", "write", "read", "sem", "rm", "leaks", "snapshot"]
NUMBERS = ["0", "1", "-1", "7", "0x10", "9223372036854775807", "9223372036854775808",
           str(2**64), "-9223372036854775809", "\u00b2", "\u2460", "\u0661", "9" * 5000, "1e3",
           "nan", "inf", "-inf", "1.5", "", " ", "0b101", "1_000", "2147483647", "2147483648"]
DURATIONS = ["0", "0.01", "nan", "inf", "-1", "1e999", "99999999999999999999", "\u0661s", "x",
             "1m"]
NAMES = ["a", "b", "sem.a", "new", "x\udcff", "x\x1b[2J", "", ".", "..", "a/b", "sem."]
OPTIONS = ["--type", "--priority", "--count", "--offset", "--length", "--op", "--set",
           "--index", "--size", "--maxmsg", "--msgsize", "--nsems", "--value", "--mode"]
FLAGS = ["--hex", "--peek", "--json", "--raw", "--exclusive", "--reuse", "--force-attached",
         "--all", "--ignore-unreadable", "--help"]


def _ident(draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["posix", "fifo", "sysv-junk", "text"]))
    if how == "posix":
        return f"/{TAG}-{draw(st.sampled_from(NAMES))}"
    if how == "fifo":
        return f"{FIFO_DIR}/{draw(st.sampled_from(NAMES))}"
    if how == "sysv-junk":  # never an id an object can have
        return draw(st.sampled_from(["\u00b2", "\u2460", "9" * 5000, "-1", "2147483648",
                                     str(2**64), "0x10", "1.0", ""]))
    text = draw(st.text(max_size=12))
    # text that is a plain SysV id could name another program's object: keep it out of reach
    return text if not (text.strip().isascii() and text.strip().isdigit()) else "x" + text


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    args = [command]
    if command not in ("leaks", "snapshot"):
        args += [draw(st.sampled_from(KINDS)), _ident(draw)]
    if command in ("send", "write"):
        args.append(draw(st.sampled_from(["x", "", "de ad", "zz", "\udcff"])))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["opt", "flag", "timeout", "key", "leaks"]))
        if kind == "opt":
            args += [draw(st.sampled_from(OPTIONS)), draw(st.sampled_from(NUMBERS))]
        elif kind == "flag":
            args.append(draw(st.sampled_from(FLAGS)))
        elif kind == "timeout":
            args.append(f"--timeout={draw(st.sampled_from(DURATIONS))}")
        elif kind == "key":  # a key only in our namespace range would still be shared: junk only
            args += ["--key", draw(st.sampled_from(["\u0661", "0xzz", "-0x80000001", "9" * 40]))]
        else:
            args.append(draw(st.sampled_from(
                [f"--min-age={d}" for d in DURATIONS] + ["--kind", "--filter=" + TAG])))
    if command == "rm":
        # rm only ever gets a confirmation for our own namespace
        pass
    return args


def _state() -> dict[str, object]:
    """Everything in this test's namespace: /dev/shm and /dev/mqueue files, the FIFO dir."""
    out: dict[str, object] = {}
    for d in ("/dev/shm", "/dev/mqueue"):
        with contextlib.suppress(OSError):
            for name in os.listdir(d):
                if TAG in name:
                    st_ = os.lstat(os.path.join(d, name))
                    out[f"{d}/{name}"] = (st_.st_ino, st_.st_mode, st_.st_size, st_.st_mtime_ns)
    for name in os.listdir(FIFO_DIR):
        st_ = os.lstat(os.path.join(FIFO_DIR, name))
        out[f"{FIFO_DIR}/{name}"] = (st_.st_ino, st_.st_mode)
    return out


@pytest.fixture(scope="module")
def namespace() -> Iterator[None]:
    os.mkdir(FIFO_DIR, 0o700)
    os.mkfifo(f"{FIFO_DIR}/a")
    shm = posix_ipc.SharedMemory(f"/{TAG}-a", posix_ipc.O_CREX, size=64)
    shm.close_fd()
    posix_ipc.MessageQueue(f"/{TAG}-a", posix_ipc.O_CREX, max_messages=2).close()
    posix_ipc.Semaphore(f"/{TAG}-a", posix_ipc.O_CREX, initial_value=1).close()
    try:
        yield
    finally:
        for d in ("/dev/shm", "/dev/mqueue"):
            for name in os.listdir(d):
                if TAG in name:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(d, name))
        for name in os.listdir(FIFO_DIR):
            os.unlink(os.path.join(FIFO_DIR, name))
        os.rmdir(FIFO_DIR)


def _run(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=argv())
@example(args=["recv", "sysv-msg", "9" * 5000])  # the findings that were internal errors
@example(args=["rm", "sysv-shm", "\u00b2", "--yes"])
@example(args=["read", "sysv-shm", "\u2460"])
@example(args=["recv", "posix-mq", f"/{TAG}-a", "--timeout=1e300"])
def test_any_arguments_fail_cleanly(namespace: None, monkeypatch: pytest.MonkeyPatch,
                                    args: list[str]) -> None:
    monkeypatch.delenv("IPCTOP_DEBUG", raising=False)
    before = _state()
    code, err = _run(args)
    assert code in (0, 1, 2), (args, code, err)
    assert "Traceback" not in err and "internal error" not in err, (args, err)
    assert sum(line.startswith("ipctop:") for line in err.splitlines()) <= 1, (args, err)
    if code == 2:
        assert _state() == before, ("a refused command changed something", args, err)
