"""ipctop.table: the command line's one table renderer and its util-linux options, on built
rows and objects (no /proc)."""

from __future__ import annotations

import argparse

import pytest

from ipctop.columns import CTIME, all_columns, cli_columns
from ipctop.errors import UsageError
from ipctop.kinds import SysvShm
from ipctop.model import Kind
from ipctop.output_options import Style, add_output_options, style_from_args
from ipctop.table import Header, cell_width, render, render_cells, select_columns

HEADERS = [Header("ID", right=True), Header("NAME"), Header("COMMAND", trunc=True),
           Header("USERS", trunc=True)]
ROWS = [[7, "/frames", "python3 -m worker --queue=frames --threads=8 --verbose", "12/a,13/b"],
        [1234, "/x", None, "1/init,2/kthreadd,3/rcu_gp,4/rcu_par_gp,5/slub"]]


def test_readable_table_aligns_and_pads_with_two_spaces() -> None:
    text = render_cells(HEADERS, ROWS)
    lines = text.splitlines()
    pad = " " * (len(str(ROWS[0][2])) - len("COMMAND") + 2)
    assert lines[0] == "  ID  NAME     COMMAND" + pad + "USERS"
    assert lines[1].startswith("   7  /frames  python3 -m worker")
    assert lines[2].startswith("1234  /x       -  ")  # None shows as "-"
    assert text.endswith("\n") and all(line == line.rstrip() for line in lines)


def test_width_cuts_only_trunc_columns_widest_first() -> None:
    text = render_cells(HEADERS, ROWS, Style(width=60))
    lines = text.splitlines()
    assert max(cell_width(line) for line in lines) <= 60
    assert "/frames" in lines[1] and lines[2].startswith("1234  /x")  # identifiers whole
    assert "…" in lines[1]
    # Piped (no width): nothing is cut.
    assert "--verbose" in render_cells(HEADERS, ROWS) and "…" not in render_cells(HEADERS, ROWS)


def test_a_table_too_wide_even_cut_keeps_identifiers() -> None:
    headers = [Header("PATH"), Header("WHAT", trunc=True)]
    path = "/tmp/" + "d" * 70
    text = render_cells(headers, [[path, "x" * 40]], Style(width=40))
    row = text.splitlines()[1]
    assert row.startswith(path) and row.endswith("xxxxxxx…")  # WHAT down to its minimum, 8


def test_noheadings_and_raw() -> None:
    assert render_cells(HEADERS, ROWS, Style(headings=False)).splitlines()[0].startswith("   7")
    raw = render_cells(HEADERS, ROWS, Style(raw=True)).splitlines()
    assert raw[0] == "ID NAME COMMAND USERS"
    assert raw[1] == ("7 /frames python3\\x20-m\\x20worker\\x20--queue=frames\\x20--threads=8"
                      "\\x20--verbose 12/a,13/b")
    assert all(len(line.split(" ")) == 4 for line in raw)
    assert render_cells(HEADERS, ROWS, Style(raw=True, headings=False)).startswith("7 /frames")


def test_every_cell_is_escaped() -> None:
    hostile = "/evil\x1b]2;owned\x07\u202etxt.exe"
    text = render_cells([Header("NAME"), Header("X", trunc=True)], [[hostile, "a\\b\nc"]],
                        Style(width=30))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]2;owned\\x07\\u202etxt.exe" in text  # the name whole: never cut
    raw = render_cells([Header("NAME")], [["a b\\c\x1b"]], Style(raw=True, headings=False))
    assert raw == "a\\x20b\\x5cc\\x1b\n"  # escaped once, as lsfd --raw


def test_wide_characters_count_two_columns() -> None:
    assert cell_width("日本") == 4 and cell_width("e\u0301") == 1
    text = render_cells([Header("NAME"), Header("N", right=True)], [["/日本", 1], ["/abcd", 22]])
    assert text.splitlines()[1] == "/日本   1"


def test_render_objects_bytes_and_columns() -> None:
    seg = SysvShm(id="7", key="0x0000002a", owner="alice", uid=1000, mode="0600", size=8192,
                  nattch=0, cpid=10, lpid=11, ctime=1_700_000_000.0)
    cols, unknown = select_columns("id,SIZE,ctime,uid", all_columns(Kind.SYSV_SHM),
                                   cli_columns(Kind.SYSV_SHM))
    assert unknown == [] and [c.name for c in cols] == ["ID", "SIZE", "CTIME", "UID"]
    now = 1_700_000_000.0 + 60
    assert render(cols, [seg], now).splitlines()[1].split() == ["7", "8.0K",
                                                                CTIME.text(seg, now), "1000"]
    assert render(cols, [seg], now, Style(bytes=True)).splitlines()[1].split()[1] == "8192"


def test_select_columns_plus_adds_to_the_defaults() -> None:
    every, defaults = all_columns(Kind.SYSV_SHM), cli_columns(Kind.SYSV_SHM)
    cols, _ = select_columns("+RSS,used_by", every, defaults)
    assert cols == [*defaults, *[c for c in every if c.name == "RSS"]]  # USED-BY already there
    cols, unknown = select_columns("ID,bogus,usedby", every, defaults)
    assert [c.name for c in cols] == ["ID", "USED-BY"] and unknown == ["bogus"]
    assert select_columns(None, every, defaults) == (list(defaults), [])


def test_every_kind_offers_ctime_kind_and_uid_with_a_description() -> None:
    for kind in Kind:
        names = {c.name for c in all_columns(kind)}
        assert {"CTIME", "KIND", "UID"} <= names, kind
        assert all(c.help for c in all_columns(kind)), kind
        assert len(names) == len(all_columns(kind)), kind  # no name twice


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_output_options(p, "json")
    return p.parse_args(list(argv))


def test_style_from_args() -> None:
    # Under pytest stdout is not a terminal: nothing is cut unless --width asks.
    assert style_from_args(_args()) == Style(hide=True)
    assert style_from_args(_args("-r", "-n", "-b", "-w", "50")) == Style(
        raw=True, headings=False, bytes=True, width=50, hide=True)
    assert not style_from_args(_args("-o", "ID", "-w", "50")).hide  # -o: cut, never hidden
    assert style_from_args(_args("-w", "50", "--notruncate")).width is None
    for argv in (["--json", "-o", "ID"], ["-J", "--raw"], ["--json", "-n"]):
        with pytest.raises(UsageError, match="--json prints every field"):
            style_from_args(_args(*argv))


PRIORITIZED = [Header("ID", right=True), Header("NAME"), Header("MODE", priority=5),
               Header("OWNER", priority=3), Header("SIZE", right=True, priority=1),
               Header("COMMAND", trunc=True, priority=7), Header("USERS", trunc=True, priority=2),
               Header("LEAK")]
ROW = [32828, "/a-long-name-never-cut", "0600", "someuser", "8.0K",
       "python3 -m worker --queue=frames --threads=8", "12/a,13/b,14/c", "LEAK"]


def test_columns_hide_by_priority_when_cutting_is_not_enough() -> None:
    def header(width: int) -> list[str]:
        return render_cells(PRIORITIZED, [ROW], Style(width=width, hide=True)).split("\n")[0] \
            .split()

    whole = len(render_cells(PRIORITIZED, [ROW]).split("\n")[0])
    assert header(whole) == [h.name for h in PRIORITIZED]  # it fits: nothing hidden
    # Cutting the free text comes first: a little narrower, everything is still there.
    assert header(whole - 20) == [h.name for h in PRIORITIZED]
    # Then the least important go, one by one: COMMAND (7), MODE (5), OWNER (3), USERS (2)...
    assert header(76) == ["ID", "NAME", "MODE", "OWNER", "SIZE", "USERS", "LEAK"]
    assert header(67) == ["ID", "NAME", "MODE", "OWNER", "SIZE", "USERS", "LEAK"]
    assert header(61) == ["ID", "NAME", "OWNER", "SIZE", "USERS", "LEAK"]
    assert header(53) == ["ID", "NAME", "SIZE", "USERS", "LEAK"]
    assert header(45) == ["ID", "NAME", "SIZE", "LEAK"]
    # ...never the identity or the verdict (priority 0), however narrow: the line runs over.
    assert header(10) == ["ID", "NAME", "LEAK"]
    for width in (76, 67, 61, 53, 45):
        lines = render_cells(PRIORITIZED, [ROW], Style(width=width, hide=True)).splitlines()
        assert all(cell_width(line) <= width for line in lines), width
        assert "/a-long-name-never-cut" in lines[1]
    # A hidden column's free text gives its room back: USERS whole once COMMAND is gone.
    assert "12/a,13/b,14/c" in render_cells(PRIORITIZED, [ROW], Style(width=76, hide=True))


def test_free_text_with_a_minimum_hides_columns_rather_than_say_nothing() -> None:
    """A reason cut to "no proc…" tells nothing: below its min_width, less important columns
    go first; above it, it is cut as any free text."""
    reason = "no process attached and its creator 24093 is gone; last detached 5h ago"
    heads = [Header("ID"), Header("OWNER", priority=3), Header("AGE", priority=2),
             Header("REASON", trunc=True, min_width=24)]
    row = ["1409068", "root", "5h", reason]

    def fitted(width: int) -> list[str]:
        return render_cells(heads, [row], Style(width=width, hide=True)).splitlines()

    whole = cell_width(fitted(200)[1])
    assert fitted(whole - 10)[0].split() == ["ID", "OWNER", "AGE", "REASON"]  # cut, all there
    narrow = fitted(40)
    assert narrow[0].split() == ["ID", "AGE", "REASON"]  # OWNER gave its room to REASON
    assert cell_width(narrow[1]) <= 40 and narrow[1].endswith("…")
    assert len(narrow[1].split("5h", 1)[1].strip()) >= 24
    # Without the minimum the same width cuts REASON to its floor and keeps OWNER.
    bare = [*heads[:3], Header("REASON", trunc=True)]
    assert render_cells(bare, [row], Style(width=40, hide=True)).split()[:4] == \
        ["ID", "OWNER", "AGE", "REASON"]
    # A text shorter than the minimum is never padded to it.
    assert render_cells(heads, [[*row[:3], "gone"]], Style(width=40, hide=True)) \
        .splitlines()[1].endswith("gone")


def test_columns_chosen_with_o_are_never_hidden() -> None:
    """Style.hide is off with -o: cut, never hidden (the line runs over when it must)."""
    text = render_cells(PRIORITIZED, [ROW], Style(width=50))
    assert text.split("\n")[0].split() == [h.name for h in PRIORITIZED]
    parser = argparse.ArgumentParser()
    add_output_options(parser, "json")
    assert style_from_args(parser.parse_args([])).hide
    assert not style_from_args(parser.parse_args(["-o", "ID"])).hide
