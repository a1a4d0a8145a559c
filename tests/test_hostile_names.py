"""Names another user chose never reach root's terminal raw: escape sequences, bidi overrides,
bytes that are not UTF-8 and Rich markup are shown spelled out, and nothing is interpreted.

The hostile objects are made by an unprivileged account (nobody), as an attacker would.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.attacker import UID, become_attacker
from tests.conftest import Cleanup, run_and_exit, unique_name

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the attacker is made with setuid")


def hostile_shm(cleanup: Cleanup, payload: bytes) -> tuple[bytes, str]:
    """nobody creates /dev/shm/<unique><payload>; returns (the file name, the unique part)."""
    stem = unique_name()
    name = stem.encode() + payload
    path = b"/dev/shm/" + name

    def make() -> None:
        become_attacker()
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    run_and_exit(make)
    cleanup(lambda: os.unlink(path))
    assert os.stat(path).st_uid == UID
    return name, stem


PAYLOAD = b"\x1b]2;PWNED\x07\x1b[2J\xff[red]x"
"""Retitle the window, clear the screen, a byte that is not UTF-8, and Rich markup."""
SHOWN = "\\x1b]2;PWNED\\x07\\x1b[2J\\xff[red]x"


def ipctop(*args: str, encoding: str = "utf-8:strict") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          timeout=120, env=env)


@needs_root
def test_snapshot_table_shows_a_hostile_name_escaped(cleanup: Cleanup) -> None:
    _, stem = hostile_shm(cleanup, PAYLOAD)
    done = ipctop("snapshot", "--kind", "posix-shm")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("utf-8")  # strict: all of it is UTF-8
    assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout
    assert f"/{stem}{SHOWN}" in out


@needs_root
def test_leaks_table_shows_a_hostile_name_escaped(cleanup: Cleanup) -> None:
    _, stem = hostile_shm(cleanup, PAYLOAD)
    done = ipctop("leaks", "--all", "--filter", stem)
    assert done.returncode in (0, 1), done.stderr
    assert b"\x1b" not in done.stdout + done.stderr
    assert f"/{stem}{SHOWN}" in done.stdout.decode("utf-8")


@needs_root
def test_strict_ascii_c_locale_does_not_fail_on_a_name_that_is_not_utf8(
        cleanup: Cleanup) -> None:
    """LC_ALL=C: Python still writes UTF-8 (PEP 538); the table must not exit 2."""
    _, stem = hostile_shm(cleanup, b"\xff\xfe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env["LC_ALL"] = "C"
    done = subprocess.run([sys.executable, "-m", "ipctop", "snapshot", "--kind", "posix-shm"],
                          capture_output=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert f"/{stem}\\xff\\xfe".encode() in done.stdout


@needs_root
def test_a_name_with_digits_int_refuses_is_listed(cleanup: Cleanup) -> None:
    """"/1²2": "²" is a digit to str.isdigit but not to int(); sorting by natural order must
    not fail on it (it made every take, so snapshot, leaks and the TUI, fail)."""
    name, stem = hostile_shm(cleanup, "1\u00b22".encode())
    done = ipctop("snapshot", "--json", "--kind", "posix-shm")
    assert done.returncode == 0, done.stderr
    ids = [o["id"] for o in json.loads(done.stdout)["objects"]]
    assert f"/{stem}1\u00b22" in ids and name.decode() == f"{stem}1\u00b22"


def test_error_line_escapes_what_it_quotes(tmp_path: Path) -> None:
    """A name quoted back in an error line is escaped like a table cell."""
    done = ipctop("rm", "posix-shm", "/no-such-\x1b]2;PWNED\x07", "--yes")
    assert done.returncode in (1, 2)
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    assert done.stderr.startswith(b"ipctop: ")
    with contextlib.suppress(FileNotFoundError):
        os.unlink("/dev/shm/no-such-\x1b]2;PWNED\x07")
