"""``--raw`` escapes each cell once, the way util-linux does (lsfd, lsipc and lsblk ``--raw``):
every byte that is not printable ASCII -- spaces, backslashes, controls, bytes that are not
UTF-8, and the bytes of non-ASCII characters -- as ``\\xHH``. Compared byte for byte with what
lsfd --raw prints for the same open files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import unique_name
from hypothesis import given, settings
from hypothesis import strategies as st

from ipctop.display import shown

NAMES = [b"a b", b"back\\slash", b"esc\x1bx", b"bad\xffbyte", "данные".encode(),
         "bidi\u202eexe".encode(), "c1\u009bx".encode(), b"tab\tx", b"nl\nx", b"plain"]


def unraw(text: str) -> bytes:
    """What ``printf '%b'`` makes of a raw cell: the original bytes."""
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), text.encode("ascii"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_raw_cells_are_plain_ascii_words_that_read_back(value: str | bytes) -> None:
    cell = shown(value, raw=True)
    assert cell.isascii() and cell.isprintable() and " " not in cell
    original = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    assert unraw(cell) == original


def test_each_kind_of_hostile_character_is_escaped_once() -> None:
    assert shown("a b\\c\x1b", raw=True) == "a\\x20b\\x5cc\\x1b"
    assert shown(b"bad\xff", raw=True) == "bad\\xff"
    assert shown("bad\udcff", raw=True) == "bad\\xff"  # the same name, surrogateescaped
    assert shown("\u202e", raw=True) == "\\xe2\\x80\\xae"
    assert shown("plain-name_1.0", raw=True) == "plain-name_1.0"


@pytest.fixture
def hostile_shm() -> Iterator[list[bytes]]:
    """/dev/shm files with hostile names, held open by this process: their names."""
    prefix = unique_name().encode()
    made: list[tuple[bytes, int]] = []
    try:
        for name in NAMES:
            full = prefix + b"-" + name
            fd = os.open(b"/dev/shm/" + full, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            made.append((full, fd))
        yield [full for full, _ in made]
    finally:
        for full, fd in made:
            os.close(fd)
            os.unlink(b"/dev/shm/" + full)


@pytest.mark.skipif(shutil.which("lsfd") is None, reason="lsfd (util-linux >= 2.38) missing")
def test_raw_paths_are_byte_for_byte_those_of_lsfd(hostile_shm: list[bytes]) -> None:
    lsfd = subprocess.run(["lsfd", "--raw", "--noheadings", "-o", "NAME", "-p",
                           str(os.getpid())], capture_output=True, check=True, timeout=60)
    theirs = {line for line in lsfd.stdout.decode("ascii").splitlines()
              if line.startswith("/dev/shm/ipctop-test-")}
    out = subprocess.run([sys.executable, "-m", "ipctop", "snapshot", "--kind", "posix-shm",
                          "-o", "PATH", "--raw", "--noheadings"], capture_output=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    ours = set(out.stdout.decode("ascii").splitlines())  # plain ASCII, or decode fails
    wanted = {shown(b"/dev/shm/" + name, raw=True) for name in hostile_shm}
    assert wanted <= theirs, sorted(wanted - theirs)
    assert wanted <= ours, sorted(wanted - ours)
    assert all(unraw(shown(b"/dev/shm/" + n, raw=True)) == b"/dev/shm/" + n for n in hostile_shm)
    # The readable table escapes once too, display.shown's way: \x1b, \\ for a backslash.
    table = subprocess.run([sys.executable, "-m", "ipctop", "snapshot", "--kind", "posix-shm",
                            "-o", "PATH"], capture_output=True, text=True, timeout=120,
                           check=False).stdout
    assert "esc\\x1bx" in table and "back\\\\slash" in table and "\x1b" not in table


HOLDER = """
import sys, sysv_ipc
seg = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
print(seg.id, flush=True)
sys.stdin.read()
seg.detach()
seg.remove()
"""


@pytest.mark.skipif(shutil.which("lsipc") is None, reason="lsipc (util-linux) missing")
def test_raw_creator_is_byte_for_byte_that_of_lsipc(tmp_path: os.PathLike[str]) -> None:
    """A segment whose creator's command line holds a space, ESC, a backslash, a tab and
    Cyrillic: `snapshot -r -o ID,CREATOR` is the line `lsipc -m -r -o ID,COMMAND` prints."""
    script = os.path.join(tmp_path, "holder.py")
    with open(script, "w") as f:
        f.write(HOLDER)
    argv = [sys.executable.encode(), script.encode(), b"a b", b"esc\x1b[31m", "данные".encode(),
            b"back\\slash", b"tab\tx"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        shmid = proc.stdout.readline().strip().decode()
        assert shmid.isdigit()
        ours = subprocess.run([sys.executable, "-m", "ipctop", "snapshot", "--kind", "sysv-shm",
                               "-r", "-n", "-o", "ID,CREATOR"], capture_output=True,
                              timeout=120, check=True).stdout.decode("ascii")
        theirs = subprocess.run(["lsipc", "-m", "-r", "--noheadings", "-o", "ID,COMMAND"],
                                capture_output=True, timeout=60, check=True).stdout.decode("ascii")
        mine = [line for line in ours.splitlines() if line.split(" ")[0] == shmid]
        assert len(mine) == 1 and "esc\\x1b[31m" in mine[0] and "back\\x5cslash" in mine[0]
        assert mine == [line for line in theirs.splitlines() if line.split(" ")[0] == shmid]
    finally:
        proc.communicate(b"", timeout=30)
