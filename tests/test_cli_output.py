"""util-linux output options of the table commands (`snapshot`, `leaks`), run as a user runs
them: a real process, on real objects, piped or on a pseudo-terminal of a known width.

As lsipc and lsfd: a readable table by default that fits the terminal (long free text cut, ids
and names never), nothing cut when piped; `-o LIST` / `-o +LIST`, `--list-columns`, `--raw`,
`--noheadings`, `--bytes`, `--json` for scripts; exit 0 / 1 / 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Tag, on_terminal, run_and_exit, unique_key

HOLDER = """
import sys, sysv_ipc
seg = sysv_ipc.SharedMemory(int(sys.argv[1]), sysv_ipc.IPC_CREX, size=12288)
print(seg.id, flush=True)
sys.stdin.read()
seg.detach()
seg.remove()
"""
LONG_ARG = "--a-long-option-to-make-the-command-line-of-this-creator-wide=" + "x" * 60


def ipctop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def segment(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A SysV segment attached by a process whose command line is ~200 characters:
    (shmid, key)."""
    key = unique_key()
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(key), LONG_ARG],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        shmid = proc.stdout.readline().strip()
        assert shmid.isdigit()
        yield shmid, f"0x{key:08x}"
    finally:
        proc.communicate("", timeout=30)


DEFAULTS = "ID,KEY,OWNER,MODE,SIZE,NATTCH,CPID,LPID,STATUS,ATTACHED,CREATOR,USED-BY,CTIME,LEAK"
"""sysv-shm's default columns, spelled out: a CONTAINER column joins them when another engineer's
container holds a segment meanwhile, and the table could not fit then."""


def test_table_fits_the_terminal_and_is_whole_when_piped(segment: tuple[str, str]) -> None:
    shmid, key = segment
    text = on_terminal(["snapshot", "--kind", "sysv-shm", "-o", DEFAULTS], columns=120)
    lines = text.splitlines()
    ours = next(line for line in lines if line.split()[:2] == [shmid, key])
    assert all(len(line) <= 120 for line in lines if not line.startswith("note:"))
    assert "…" in ours and LONG_ARG not in ours  # CREATOR cut, the id and key whole
    piped = ipctop("snapshot", "--kind", "sysv-shm", "-o", DEFAULTS)  # no CONTAINER column
    assert piped.returncode == 0
    assert LONG_ARG in next(line for line in piped.stdout.splitlines()
                            if line.split()[:2] == [shmid, key])
    # --notruncate on a terminal, --width when piped.
    assert LONG_ARG in on_terminal(["snapshot", "--kind", "sysv-shm", "--notruncate"],
                                 columns=120)
    cut = ipctop("snapshot", "--kind", "sysv-shm", "-o", DEFAULTS,
                 "--width", "120").stdout.splitlines()
    assert LONG_ARG not in "\n".join(cut)
    assert all(len(line) <= 120 for line in cut if not line.startswith("note:"))
    narrow = ipctop("snapshot", "--kind", "sysv-shm", "-w", "60", "-o", "ID,KEY,CREATOR")
    row = next(line for line in narrow.stdout.splitlines() if line.split()[:1] == [shmid])
    assert row.split()[1] == key and len(row) <= 60 and row.endswith("…")
    # Narrower than the ids and numbers need: free text at its minimum (8 columns), the rest
    # whole; the line runs over, as util-linux's do, rather than hide a column -o asked for.
    tiny = ipctop("snapshot", "--kind", "sysv-shm", "-w", "20", "-o", "ID,KEY,CREATOR")
    row = next(line for line in tiny.stdout.splitlines() if line.split()[:1] == [shmid])
    assert row.split()[1] == key and len(row.split()[2]) == 8 and row.endswith("…")


def test_output_columns_raw_noheadings_bytes(segment: tuple[str, str]) -> None:
    shmid, key = segment
    out = ipctop("snapshot", "--kind", "sysv-shm", "-o", "KIND,ID,KEY,SIZE,CREATOR", "--raw",
                 "--noheadings", "--bytes")
    assert out.returncode == 0, out.stderr
    ours = [line.split(" ") for line in out.stdout.splitlines() if f" {shmid} " in line]
    assert len(ours) == 1 and ours[0][:4] == ["sysv-shm", shmid, key, "12288"]
    assert len(ours[0]) == 5 and "\\x20" + LONG_ARG in ours[0][4]  # one field, spaces escaped
    assert "SysV shm (" not in out.stdout and "note:" not in out.stdout  # rows only

    headed = ipctop("snapshot", "--kind", "sysv_shm", "-o", "+ctime,rss").stdout.splitlines()
    header = next(line.split() for line in headed if line.split()[:1] == ["ID"])
    # The defaults first (CTIME is one of them, as in lsipc), then what +LIST adds.
    assert header[:2] == ["ID", "KEY"] and header[-3:] == ["CTIME", "LEAK", "RSS"]
    posix = ipctop("snapshot", "--kind", "posix-shm", "-o", "+CTIME").stdout.splitlines()
    assert next(line.split() for line in posix if line.startswith("NAME"))[-2:] == [
        "LEAK", "CTIME"]


def test_raw_rows_read_as_lsipc_raw_rows(segment: tuple[str, str]) -> None:
    """The same columns in --raw --noheadings --bytes are the same line as util-linux's lsipc
    prints: key, id, owner, size in bytes, and the creator's command line with its spaces as
    \\x20."""
    shmid, key = segment
    cols = "KEY,ID,OWNER,SIZE,NATTCH,CPID,LPID"
    ours = ipctop("snapshot", "--kind", "sysv-shm", "-r", "-n", "-b", "-o", cols + ",CREATOR")
    theirs = subprocess.run(["lsipc", "-m", "-r", "--noheadings", "-b", "-o", cols + ",COMMAND"],
                            capture_output=True, text=True, timeout=60, check=True)
    mine = [line for line in ours.stdout.splitlines() if line.startswith(f"{key} {shmid} ")]
    lsipc = [line for line in theirs.stdout.splitlines() if line.startswith(f"{key} {shmid} ")]
    assert len(mine) == 1 and mine == lsipc
    for how in ("short", "full", "iso"):  # --time-format, as lsipc's
        ours = ipctop("snapshot", "--kind", "sysv-shm", "-r", "-n", "-o", "KEY,ID,CTIME",
                      "--time-format", how)
        theirs = subprocess.run(["lsipc", "-m", "-r", "--noheadings", "-o", "KEY,ID,CTIME",
                                 "--time-format", how], capture_output=True, text=True,
                                timeout=60, check=True)
        mine = [line for line in ours.stdout.splitlines() if line.startswith(f"{key} {shmid} ")]
        assert mine == [line for line in theirs.stdout.splitlines()
                        if line.startswith(f"{key} {shmid} ")], how


def test_kind_narrows_the_objects_of_other_namespaces_too() -> None:
    """A process in its own IPC namespace holding a POSIX queue: `--kind sysv-shm` lists no
    queue (the namespace reader listed queues it saw only as fds whatever was asked)."""
    holder = subprocess.Popen(
        ["unshare", "--ipc", sys.executable, "-c",
         "import posix_ipc, sys; q = posix_ipc.MessageQueue('/ipctop-i15-ns', posix_ipc.O_CREX);"
         " print('ready', flush=True); sys.stdin.read(); q.close(); q.unlink()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        everything = json.loads(ipctop("snapshot", "--json").stdout)["objects"]
        assert any(o["kind"] == "posix_mq" and o["id"] == "/ipctop-i15-ns" for o in everything)
        narrowed = json.loads(ipctop("snapshot", "--json", "--kind", "sysv-shm").stdout)
        assert {o["kind"] for o in narrowed["objects"]} <= {"sysv_shm"}
        # The table says where it lives: a CONTAINER column appears beside the name.
        table = ipctop("snapshot", "--kind", "posix-mq").stdout.splitlines()
        header = next(line.split() for line in table if line.startswith("NAME"))
        assert header[:2] == ["NAME", "CONTAINER"]
        row = next(line.split() for line in table if line.startswith("/ipctop-i15-ns "))
        assert row[1] != "-"
    finally:
        holder.communicate("", timeout=30)


def test_list_columns_and_output_help() -> None:
    listed = ipctop("snapshot", "--list-columns", "--kind", "posix-shm")
    assert listed.returncode == 0 and listed.stdout == ipctop(
        "snapshot", "-o", "help", "--kind", "posix-shm").stdout
    lines = listed.stdout.splitlines()
    assert lines[0] == "posix-shm:" and lines[1].split() == ["COLUMN", "DESCRIPTION"]
    assert any(line.startswith("CTIME ") and "last status change" in line for line in lines)
    assert any(line.startswith("NAME*") for line in lines)  # shown by default
    leaks = ipctop("leaks", "-H")
    assert leaks.returncode == 0 and any(line.startswith("RECLAIM*") for line in
                                         leaks.stdout.splitlines())


@pytest.mark.parametrize(("args", "message"), [
    (["snapshot", "-o", "bogus"], "unknown column 'bogus'"),
    (["snapshot", "--kind", "pipe", "-o", "NATTCH"], "unknown column 'NATTCH' for pipe"),
    (["snapshot", "-o", ""], "no column named"),
    (["snapshot", "--json", "-o", "ID"], "--json prints every field"),
    (["leaks", "--json", "--raw"], "--json prints every field"),
    (["leaks", "-o", "+nope"], "unknown column 'nope'"),
    (["snapshot", "--width", "0"], "must be 1 or more"),
])
def test_bad_output_options_are_one_line_exit_2(args: list[str], message: str) -> None:
    out = ipctop(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("ipctop") and message in out.stderr
    assert out.stderr.count("\n") == 1


def leaked_segment(tag: Tag) -> str:
    key = tag.key()

    def body() -> bytes:
        import sysv_ipc

        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        m.detach()
        return str(m.id).encode()

    shmid = run_and_exit(body).decode()
    tag.undo(lambda: subprocess.run(["ipcrm", "-m", shmid], capture_output=True, check=False))
    return shmid


def test_leaks_table_options_and_kind_spelling(tag: Tag) -> None:
    shmid = leaked_segment(tag)
    table = ipctop("leaks", "--filter", tag.text)
    assert table.returncode == 1
    row = next(line for line in table.stdout.splitlines() if line.startswith("LEAK"))
    assert row.split()[:3] == ["LEAK", "sysv-shm", shmid]  # the command line's spelling
    rows = ipctop("leaks", "--filter", tag.text, "-r", "-n", "-b", "-o", "KIND,ID,SIZE,RECLAIM")
    assert rows.returncode == 1
    assert rows.stdout == f"sysv-shm {shmid} 4096 4096\n"  # sysv_ipc touched every page
    assert rows.stderr.startswith("1 leak (4.0K reclaimable)")  # the summary is not a row
    doc = json.loads(ipctop("leaks", "--filter", tag.text, "--json").stdout)
    assert doc["leaks"][0]["kind"] == "sysv_shm"  # JSON keeps its spelling: an interface


def test_snapshot_accepts_every_spelling_of_a_kind() -> None:
    for spelling in ("sysv-shm", "sysv_shm", "SysV shm", "SYSV-SHM"):
        out = ipctop("snapshot", "--kind", spelling, "--json")
        assert out.returncode == 0, out.stderr
        assert {o["kind"] for o in json.loads(out.stdout)["objects"]} <= {"sysv_shm"}


@pytest.mark.parametrize("args", [["snapshot"], ["snapshot", "--json"], ["leaks"],
                                  ["snapshot", "--list-columns"]])
def test_full_output_device_is_one_line_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "ipctop", *args], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert out.stderr == "ipctop: writing output: No space left on device\n"


def _too_wide(text: str, width: int) -> list[str]:
    """Table lines of ``text`` wider than ``width`` (notes and the leaks summary are prose a
    terminal wraps; they are not table lines)."""
    from ipctop.table import cell_width

    prose = ("note:", "ipctop:", "No leaks", "Nothing to remove")
    return [line for line in text.splitlines()
            if cell_width(line) > width and not line.startswith(prose)
            and "reclaimable)" not in line]


def test_every_table_fits_80_columns_and_is_whole_when_piped(
        segment: tuple[str, str], tag: Tag) -> None:
    """At 80 columns (a real pty) each table command's default table fits: free text cut
    first, then the least important columns hidden; ids, keys and LEAK stay. Piped, every
    default column is there, whatever COLUMNS says (as lsipc)."""
    import sysv_ipc

    shmid, key = segment
    leaked_segment(tag)
    queue = sysv_ipc.MessageQueue(tag.key(), sysv_ipc.IPC_CREX)
    tag.undo(queue.remove)
    queue.send(b"a message long enough to need cutting at eighty columns: " + b"x" * 80)
    for argv in (["snapshot"], ["leaks", "--all"], ["snapshot", "--list-columns"],
                 ["leaks", "--list-columns"],
                 ["recv", "sysv-msg", str(queue.id), "--peek", "-n", "-o", "+HEX"]):
        text = on_terminal(argv, columns=80)
        assert text.strip() and "Traceback" not in text, argv
        assert _too_wide(text, 80) == [], argv
    shm = on_terminal(["snapshot", "--kind", "sysv-shm"], columns=80)
    header = next(line.split() for line in shm.splitlines() if line.split()[:1] == ["ID"])
    row = next(line.split() for line in shm.splitlines() if line.split()[:1] == [shmid])
    if header[1] == "CONTAINER":  # another test's namespace is up: our row says "-" there
        del header[1], row[1]
    assert header[:2] == ["ID", "KEY"] and header[-1] == "LEAK" and row[1] == key
    assert "CREATOR" not in header and set(header) < set(DEFAULTS.split(",")) | {"CONTAINER"}
    # COLUMNS wins over the terminal's own size, as for util-linux (a pty 200 wide here).
    env80 = on_terminal(["snapshot", "--kind", "sysv-shm"], columns=200, env={"COLUMNS": "80"})
    assert _too_wide(env80, 80) == [] and "…" in on_terminal(
        ["snapshot", "--kind", "sysv-shm", "-o", "ID,CREATOR"], columns=200,
        env={"COLUMNS": "80"})
    # -o: the columns asked for are all there (cut, never hidden); -u: nothing cut or hidden.
    chosen = on_terminal(["snapshot", "--kind", "sysv-shm", "-o", DEFAULTS], columns=80)
    assert next(line.split() for line in chosen.splitlines()
                if line.startswith("ID") or line.lstrip().startswith("ID"))[:14] == \
        DEFAULTS.split(",")
    whole = on_terminal(["snapshot", "--kind", "sysv-shm", "-u"], columns=80)
    assert LONG_ARG in whole and "CREATOR" in whole
    # Piped, with or without COLUMNS: every default column, nothing cut.
    for env in ({}, {"COLUMNS": "80"}):
        piped = subprocess.run([sys.executable, "-m", "ipctop", "snapshot", "--kind",
                                "sysv-shm"], capture_output=True, text=True, timeout=120,
                               env={**os.environ, **env}, check=True).stdout
        head = next(line.split() for line in piped.splitlines() if line.split()[:1] == ["ID"])
        assert [h for h in head if h != "CONTAINER"] == DEFAULTS.split(","), env
        assert LONG_ARG in piped
