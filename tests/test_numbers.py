# ruff: noqa: F811  (the ``made`` fixture is imported from test_actions)
"""Numbers from the command line: ASCII digits only, within the kernel's C type, finite and
bounded durations; a bad one is one `ipctop:` line and exit 2, and nothing changes."""

from __future__ import annotations

import subprocess
import sys

import posix_ipc
import pytest
from conftest import Cleanup, unique_name
from test_actions import Make, made, msg_count  # noqa: F401 (made: fixture)

from ipctop import actions
from ipctop.cli import main
from ipctop.model import Kind
from ipctop.numbers import parse_duration, parse_int


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        *argv: str) -> tuple[int, str]:
    """Run in-process with IPCTOP_DEBUG=1, so an internal error raises instead of hiding."""
    monkeypatch.setenv("IPCTOP_DEBUG", "1")
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


def one_line(err: str, pattern: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipctop") and pattern in lines[0], lines


@pytest.mark.parametrize("mtype", ["9223372036854775808", str(2**64), "-9223372036854775809",
                                   "\u0661", "1e3", "9" * 5000])
def test_recv_type_outside_long_takes_nothing(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, made: Make,
                                              mtype: str) -> None:
    q = made(Kind.SYSV_MSG)
    actions.send(Kind.SYSV_MSG, q, b"keep", mtype=1)
    code, err = run(capsys, monkeypatch, "recv", "sysv-msg", q, "--type", mtype)
    assert code == 2
    one_line(err, "--type")
    assert msg_count(q) == 1


@pytest.mark.parametrize("ident", ["\u00b2", "\u2460", "\u0661٢", "9" * 5000, "12345678901"])
def test_ids_are_ascii_digits_of_a_bounded_length(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   ident: str) -> None:
    for argv in (["recv", "sysv-msg", ident], ["rm", "sysv-shm", ident, "--yes"],
                 ["read", "sysv-shm", ident], ["sem", "sysv-sem", ident, "--op", "1"]):
        code, err = run(capsys, monkeypatch, *argv)
        assert code == 2, (argv, err)
        one_line(err, "id")
        assert "internal error" not in err


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "NaN", "\u0661s"])
def test_min_age_must_be_a_finite_duration(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    code, err = run(capsys, monkeypatch, "leaks", f"--min-age={text}")
    assert code == 2
    one_line(err, "duration")


@pytest.mark.parametrize("text", ["1e300", "99999999999999999999", "4000000000d"])
def test_a_huge_timeout_is_refused_not_an_overflow(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, made: Make,
                                                   text: str) -> None:
    q = made(Kind.SYSV_MSG)
    code, err = run(capsys, monkeypatch, "recv", "sysv-msg", q, "--timeout", text)
    assert code == 2
    one_line(err, "duration")


def test_posix_sem_set_is_bounded_and_changes_nothing(cleanup: Cleanup) -> None:
    name = "/" + unique_name()
    posix_ipc.Semaphore(name, posix_ipc.O_CREX, 0o600, 5).close()
    cleanup(lambda: posix_ipc.unlink_semaphore(name))
    proc = subprocess.run([sys.executable, "-m", "ipctop", "sem", "posix-sem", name, "--set",
                           "2147483647"], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    one_line(proc.stderr, "at most 1000000")
    assert actions.sem_values(Kind.POSIX_SEM, name) == (5,)
    assert actions.sem_set(Kind.POSIX_SEM, name, 900_005) == 900_005  # within the bound: set
    assert actions.sem_set(Kind.POSIX_SEM, name, 2) == 2


def test_parsers() -> None:
    assert parse_int("0x10") == 16 and parse_int(" -5 ") == -5 and parse_int("1_000") == 1000
    for bad in ("\u0661", "\u00b2", "1.0", "", "0x", "9" * 65, "1e3", "--1"):
        with pytest.raises(ValueError):
            parse_int(bad)
    with pytest.raises(ValueError, match="from 0 to 7"):
        parse_int("8", "x", 0, 7)
    assert parse_duration("1.5m") == 90 and parse_duration(".5") == 0.5
    for bad in ("nan", "inf", "1e3", "-1", "\u0661", "1x", "9" * 20):
        with pytest.raises(ValueError):
            parse_duration(bad)
