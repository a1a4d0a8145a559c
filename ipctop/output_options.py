"""The util-linux output options every table command shares (``--json``, ``-o/--output``,
``--list-columns``, ``--raw``, ``--noheadings``, ``--bytes``, ``--notruncate``, ``--width``,
``--time-format``) and the :class:`Style` they ask for.

Apart from :mod:`ipctop.table` (the renderer) so that a command parses and checks its options
without importing the renderer and every column: ``ipctop snapshot --json`` never draws a table,
and those imports were a tenth of its run.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from ipctop.cli import whole_number
from ipctop.errors import UsageError


@dataclass(frozen=True, slots=True)
class Style:
    """How a table is printed; built from the command line by :func:`style_from_args`."""

    raw: bool = False
    headings: bool = True
    bytes: bool = False
    """Sizes as whole numbers of bytes instead of "4.0K"."""
    width: int | None = None
    """Fit the table in this many columns by truncating ``trunc`` columns; None: never cut."""
    hide: bool = False
    """When cutting is not enough to fit ``width``, hide columns, the least important first
    (:attr:`Header.priority`); off when the columns were chosen with ``-o``."""
    time_format: str = "short"
    """How points in time (CTIME) show: "short", "full" or "iso", as lsipc's --time-format."""



def add_output_options(p: argparse.ArgumentParser, json_help: str) -> None:
    """Add ``--json`` and the util-linux table options to a table command's parser."""
    p.add_argument("-J", "--json", action="store_true", help=json_help)
    p.add_argument("-o", "--output", metavar="LIST",
                   help="columns to print, comma-separated; +LIST adds them to the default "
                   "columns; `-o help` lists them (as --list-columns)")
    p.add_argument("-H", "--list-columns", action="store_true",
                   help="list the columns -o takes, with what each shows, and exit")
    p.add_argument("-r", "--raw", action="store_true",
                   help="raw output: one space between columns, no padding; every byte "
                   "that is not printable ASCII (spaces, backslashes, controls, non-ASCII) "
                   "as \\xHH, as lsfd --raw")
    p.add_argument("-n", "--noheadings", action="store_true", help="do not print headings")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes rather than in a human-readable form")
    p.add_argument("-u", "--notruncate", action="store_true",
                   help="never cut or hide columns to fit the terminal")
    p.add_argument("--time-format", choices=("short", "full", "iso"), default="short",
                   metavar="FORMAT",
                   help="how CTIME shows: short (10:22 today, Nov28 this year, 2025-Nov "
                   "before; the default), full (Sat Nov 28 10:22:38 2026) or iso "
                   "(2026-11-28T10:22:38+00:00), as lsipc's")
    p.add_argument("-w", "--width", type=whole_number(1), metavar="N",
                   help="fit the table in N columns (default: the terminal's width when "
                   "output is a terminal; piped, nothing is cut): long free text is cut, "
                   "then the least important columns are hidden (not those -o names)")


def stdout_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or replaced by a test's capture
        return False


def terminal_width() -> int | None:
    """The width to fit tables in when nobody said: the terminal's, when stdout is one."""
    if not stdout_is_terminal():
        return None
    import shutil  # only on a terminal: COLUMNS if set, else the terminal's size

    return shutil.get_terminal_size().columns


def style_from_args(args: argparse.Namespace) -> Style:
    """The Style the options ask for; a UsageError for options that do not go together."""
    if args.json and (args.raw or args.output or args.noheadings or args.width):
        raise UsageError("--json prints every field: it does not go with -o, --raw, "
                         "--noheadings or --width (pick fields with jq)")
    width = args.width
    if width is None and not (args.notruncate or args.raw):
        width = terminal_width()
    return Style(raw=args.raw, headings=not args.noheadings, bytes=args.bytes,
                 width=None if args.notruncate else width, time_format=args.time_format,
                 hide=args.output is None)


def wants_column_list(args: argparse.Namespace) -> bool:
    return bool(args.list_columns) or (args.output or "").strip().lower() == "help"


def check_spec(spec: str | None) -> None:
    """-o must name at least one column."""
    if spec is not None and not any(n.strip() for n in spec.lstrip("+ ").split(",")):
        raise UsageError("-o/--output: no column named (see --list-columns)")
