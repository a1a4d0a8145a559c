"""`ipctop read` on objects of any size, as hexdump users expect: the dump is hexdump -C's, line
for line (runs of identical lines as "*" unless -v); piped, the whole object, read a chunk at a
time; on a terminal without --length, the first 64K and a note saying how to see the rest;
--raw never to a terminal (the bytes are chosen by whoever wrote them).

Real /dev/shm objects; `hexdump -C` on the same file is the reference.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from attacker import UID as NOBODY_UID
from attacker import become_attacker
from conftest import on_terminal, run_and_exit, unique_name

MIB = 1 << 20


def ipctop(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


@pytest.fixture
def shm_file() -> Iterator[tuple[str, Path]]:
    """A /dev/shm file of 1 MiB: (its POSIX name, its path); the test fills it."""
    name = unique_name()
    path = Path("/dev/shm") / name
    path.write_bytes(b"")
    os.truncate(path, MIB)
    try:
        yield "/" + name, path
    finally:
        path.unlink(missing_ok=True)


def hexdump(path: Path, *flags: str) -> bytes:
    return subprocess.run(["hexdump", "-C", *flags, str(path)], capture_output=True,
                          check=True, timeout=60).stdout


def test_piped_dump_is_hexdumps_for_the_whole_object(shm_file: tuple[str, Path]) -> None:
    name, path = shm_file
    # Mostly zeros, a few lines of data and a repeated pattern: squeezing matters.
    data = bytearray(MIB)
    data[100:140] = b"hello, world: " * 2 + b"x" * 12
    data[4096:4096 + 64] = b"ABCDEFGHIJKLMNOP" * 4
    data[MIB - 7:] = b"the end"
    path.write_bytes(bytes(data))
    out = ipctop("read", "posix-shm", name)
    assert out.returncode == 0, out.stderr
    assert out.stdout == hexdump(path)
    assert len(out.stdout.splitlines()) < 20  # a mostly empty megabyte is a few lines
    every = ipctop("read", "posix-shm", name, "-v", "--offset", "4080", "--length", "100")
    assert every.stdout == hexdump(path, "-v", "-s", "4080", "-n", "100")
    # The whole object, piped raw, byte for byte.
    assert ipctop("read", "posix-shm", name, "--raw").stdout == bytes(data)


def test_on_a_terminal_the_first_64k_and_a_note(shm_file: tuple[str, Path]) -> None:
    name, path = shm_file
    path.write_bytes(random.Random(7).randbytes(MIB))  # no two lines alike: nothing squeezed
    text = on_terminal(["read", "posix-shm", name], columns=100)
    lines = text.splitlines()
    dump = [line for line in lines if not line.startswith("ipctop:")]
    assert len(dump) == 64 * 1024 // 16 + 1 and dump[-1] == "00010000"
    assert dump[:-1] == hexdump(path, "-n", str(64 * 1024)).decode().splitlines()[:-1]
    [note] = [line for line in lines if line.startswith("ipctop:")]
    assert "the first 64K of 1.0M" in note and "--length" in note and "| less" in note
    # Asked for with --length, a terminal gets it all; piped, the whole megabyte.
    asked = on_terminal(["read", "posix-shm", name, "--offset", "0x80000", "--length", "128K"])
    assert asked.splitlines()[-1] == "000a0000" and "ipctop:" not in asked
    piped = ipctop("read", "posix-shm", name)
    assert piped.stdout.splitlines()[-1] == b"00100000" and piped.stderr == b""
    assert len(piped.stdout.splitlines()) == MIB // 16 + 1


def test_raw_is_refused_on_a_terminal_whoever_wrote_the_bytes() -> None:
    """An unprivileged user writes terminal escapes into a /dev/shm file; root's `read --raw` on
    a terminal refuses instead of sending them (the dump shows them as dots)."""
    name = unique_name()
    path = Path("/dev/shm") / name
    payload = "\x1b]2;PWNED-TITLE\x07\x1b[2J"

    def attack() -> bytes:
        become_attacker()
        path.write_text(payload)
        return b"ok"

    try:
        assert run_and_exit(attack) == b"ok"
        assert path.stat().st_uid == NOBODY_UID
        raw = on_terminal(["read", "posix-shm", "/" + name, "--raw"])
        assert "PWNED" not in raw and "\x1b" not in raw
        assert raw.startswith("ipctop: read --raw writes the bytes as they are") \
            and raw.count("\n") == 1
        dump = on_terminal(["read", "posix-shm", "/" + name])
        assert "|.]2;PWNED-TITLE.|" in dump and "|.[2J|" in dump and "\x1b" not in dump
    finally:
        path.unlink(missing_ok=True)
