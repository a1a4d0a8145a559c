"""The ``ipctop`` command: the TUI with no arguments, util-linux style subcommands otherwise.

Each group of subcommands lives in ``ipctop/commands/`` and registers itself with ``register``;
this module only dispatches and turns errors into one line and an exit status. Textual is imported
only when the TUI starts, so ``ipctop snapshot --json`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ipctop import __version__
from ipctop.errors import EXIT_ERROR, IpcError

COMMAND_MODULES = (
    "ipctop.commands.snapshot",
    "ipctop.commands.actions",
    "ipctop.commands.leaks",
)


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (no usage dump) on bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: {message} (see --help)\n")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ipctop",
        description="A top for inter-process communication: every IPC object on this machine, "
        "live, with the processes that use it. With no command it opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"ipctop {__version__}")
    parser.add_argument("--interval", type=positive_float, default=2.0, metavar="SECONDS",
                        help="TUI refresh interval (default 2)")
    parser.add_argument("--filter", default="", metavar="TEXT",
                        help="TUI: start with this filter applied")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run_tui(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise IpcError("the TUI needs a terminal; for scripts use `ipctop snapshot --json`")
    from ipctop.ui.app import run  # Textual only here

    return run(interval=args.interval, filter_text=args.filter)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None) or run_tui
    try:
        return int(func(args))
    except IpcError as err:
        print(f"ipctop: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`ipctop snapshot | head`): not an error worth a word.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # last resort: one line, never a traceback
        if os.environ.get("IPCTOP_DEBUG"):
            raise
        print(f"ipctop: internal error: {type(err).__name__}: {err} "
              "(set IPCTOP_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR


def entry() -> None:
    sys.exit(main())
