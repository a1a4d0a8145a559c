"""The ``ipctop`` command: the TUI with no arguments, util-linux style subcommands otherwise.

Each group of subcommands lives in ``ipctop/commands/`` and registers itself with ``register``;
this module only dispatches and turns errors into one line and an exit status. Textual is imported
only when the TUI starts, so ``ipctop snapshot --json`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, cast

from ipctop import __version__
from ipctop.display import shown
from ipctop.errors import EXIT_ERROR, IpcError

COMMAND_MODULES: dict[str, str] = {
    "snapshot": "ipctop.commands.snapshot",
    **dict.fromkeys(("create", "send", "recv", "write", "read", "sem", "rm"),
                    "ipctop.commands.actions"),
    "leaks": "ipctop.commands.leaks",
    **dict.fromkeys(("metrics", "serve"), "ipctop.commands.exporter"),
}
"""Each subcommand and the module whose ``register(sub)`` adds it (tests check the two agree)."""

_VALUE_OPTIONS = ("--interval", "--filter")
"""Global options that take the next word as their value."""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (no usage dump) on bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: {message} (see --help)\n")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, else a one-line error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more: {text!r}")
        return value

    return parse


def positive_float(text: str) -> float:
    from ipctop.numbers import parse_duration

    try:
        value = parse_duration(text, high=86400.0)  # ASCII, finite, at most a day
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


COMPLETION_SHELLS = ("bash", "zsh")


class _PrintCompletion(argparse.Action):
    """``--print-completion SHELL``: print the shell's completion script and exit.

    shtab writes a static script from the parser, so completing costs the shell nothing at
    each tab and ipctop's start-up nothing at all: shtab is imported here only. The parser has
    every command when this runs (``command_modules`` registers all of them for it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        import shtab

        from ipctop.model import Kind

        # KIND arguments complete to the kinds their command takes (a type carries them as
        # ``kinds``: send offers sysv-msg, posix-mq, fifo); --kind to every kind. A bash
        # function per distinct list.
        lists: dict[str, str] = {}
        for action in _every_action(parser):
            if action.dest in ("kind", "kinds") or "--kind" in action.option_strings:
                kinds = " ".join(k.word for k in getattr(action.type, "kinds", Kind))
                command = getattr(action.type, "command", "")
                function = lists.setdefault(kinds, "_shtab_ipctop_kinds"
                                            + (f"_{command}" if command else ""))
                action.complete = {"bash": function,  # type: ignore[attr-defined]
                                   "zsh": f"({kinds})"}
        shell = str(values)
        preamble = "".join(f'{function}() {{ compgen -W "{kinds}" -- "$1"; }}\n'
                           for kinds, function in lists.items()) if shell == "bash" else ""
        sys.stdout.write(shtab.complete(parser, shell=shell, preamble=preamble))
        parser.exit(0)


def _every_action(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's actions and, recursively, those of its subcommands."""
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _every_action(sub)
    return found


def _all_modules() -> list[str]:
    return list(dict.fromkeys(COMMAND_MODULES.values()))


def command_modules(argv: Sequence[str] | None) -> list[str]:
    """The command modules a parser for ``argv`` needs: the one serving its command, or all of
    them (no command, an unknown one, or --help/--version before it), in registration order.

    Registering one module rather than all spares ``ipctop snapshot --json`` the imports and
    the argparse set-up of every other command."""
    everything = _all_modules()
    words = iter(argv or ())
    for word in words:
        if word in ("-h", "--help", "--version", "--print-completion", "--"):
            break
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            module = COMMAND_MODULES.get(word)
            return [module] if module else everything
    return everything


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with every command; given ``argv``, only what parsing ``argv`` needs."""
    parser = _Parser(
        prog="ipctop",
        description="A top for inter-process communication: every IPC object on this machine, "
        "live, with the processes that use it. With no command it opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"ipctop {__version__}")
    parser.add_argument("--print-completion", action=_PrintCompletion, choices=COMPLETION_SHELLS,
                        metavar="SHELL",
                        help="print the completion script for SHELL (bash or zsh) and exit")
    parser.add_argument("--interval", type=positive_float, default=2.0, metavar="SECONDS",
                        help="TUI refresh interval (default 2)")
    parser.add_argument("--filter", default="", metavar="TEXT",
                        help="TUI: start with this filter applied")
    # prog given: argparse would otherwise format a usage line to find it (and import shutil).
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                prog=parser.prog)
    modules = command_modules(argv) if argv is not None else _all_modules()
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def run_tui(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise IpcError("the TUI needs a terminal; for scripts use `ipctop snapshot --json`")
    # The garbage collector stays off (see entry) until the first snapshot is on screen: the
    # app turns it on then (ipctop/ui/gc_pace.py); the TUI runs for hours.
    from ipctop.ui.app import run  # Textual only here

    return run(interval=args.interval, filter_text=args.filter)


class OutputError(IpcError):
    """Writing the output failed (a full disk, /dev/full, EIO): one line, exit 2."""


class _Guarded:
    """A stream whose failed writes raise OutputError, except EPIPE: a reader that went away
    (`ipctop snapshot | head`) stays a BrokenPipeError, which ends the command quietly.
    Everything else passes through to the stream (isatty, fileno, encoding...)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _guard(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise OutputError(f"writing output: {err.strerror or err}") from None

    def write(self, data: Any) -> Any:
        return self._guard("write", data)

    def writelines(self, lines: Any) -> Any:
        return self._guard("writelines", lines)

    def flush(self) -> Any:
        return self._guard("flush")

    @property
    def buffer(self) -> _Guarded:
        return _Guarded(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _drop_output() -> None:
    """Point stdout at /dev/null, so what is still buffered for a reader that is gone (or a
    device that is full) does not fail again at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None) or run_tui
    ns = getattr(args, "ns", None)
    if ns is None:
        return _handled(func, args)

    def inside(a: argparse.Namespace) -> int:
        # The command runs in a child inside the namespaces, with its own error handling.
        from ipctop.nsenter import act_inside

        return act_inside(ns, lambda: _handled(func, a))

    return _handled(inside, args)


def _handled(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``func(args)``, every error turned into one line on stderr and an exit status."""
    real_stdout = sys.stdout
    if func is not run_tui:
        sys.stdout = cast(TextIO, _Guarded(real_stdout))
    try:
        status = int(func(args))
        sys.stdout.flush()
        return status
    except OutputError as err:
        sys.stdout = real_stdout
        _drop_output()
        print(f"ipctop: {err}", file=sys.stderr)
        return err.exit_code
    except IpcError as err:
        print(f"ipctop: {shown(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`ipctop snapshot | head`): not an error worth a word.
        sys.stdout = real_stdout
        _drop_output()
        return 0
    except Exception as err:  # last resort: one line, never a traceback
        if os.environ.get("IPCTOP_DEBUG"):
            raise
        print(f"ipctop: internal error: {type(err).__name__}: {shown(str(err))} "
              "(set IPCTOP_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR
    finally:
        sys.stdout = real_stdout


def entry() -> None:
    """The console script. A one-shot command builds a few hundred thousand objects and then
    exits, so the cyclic garbage collector is off (it would only walk them over and over) and
    the process ends with os._exit once its output is flushed, instead of tearing every object
    and module down one by one: together about a fifth of ``ipctop snapshot --json``."""
    gc.disable()
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away: nothing more to say
    except OSError as err:
        print(f"ipctop: writing output: {err.strerror or err}", file=sys.stderr)
        status = status or EXIT_ERROR
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(status)
