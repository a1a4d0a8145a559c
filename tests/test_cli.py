"""ipctop.cli: dispatch to command modules, registering only the one a command needs, and the
console script's exit (gc off, flushed output, os._exit with the command's status)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from ipctop import cli

EVERYTHING = list(dict.fromkeys(cli.COMMAND_MODULES.values()))


def registered(module: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub)
    return set(sub.choices)


def test_command_map_matches_what_modules_register() -> None:
    for module in EVERYTHING:
        assert registered(module) == {
            name for name, owner in cli.COMMAND_MODULES.items() if owner == module}


@pytest.mark.parametrize(("argv", "modules"), [
    (["snapshot", "--json"], ["ipctop.commands.snapshot"]),
    (["--interval", "3", "rm", "pipe", "1"], ["ipctop.commands.actions"]),
    (["--filter", "snapshot", "leaks"], ["ipctop.commands.leaks"]),
    (["--filter=x", "send", "fifo"], ["ipctop.commands.actions"]),
    ([], EVERYTHING),
    (["--filter", "x"], EVERYTHING),
    (["--help", "snapshot"], EVERYTHING),
    (["--version"], EVERYTHING),
    (["bogus"], EVERYTHING),
])
def test_command_modules_registers_only_what_argv_needs(argv: list[str],
                                                        modules: list[str]) -> None:
    assert cli.command_modules(argv) == modules


def test_parser_for_one_command_parses_like_the_full_parser() -> None:
    argv = ["--interval", "5", "snapshot", "--json", "--kind", "pipe"]
    lean = vars(cli.build_parser(argv).parse_args(argv))
    full = vars(cli.build_parser().parse_args(argv))
    assert lean == full


def test_unknown_command_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ipctop: ") and "bogus" in err
    # Assert on the meaning, not argparse's spelling: Python 3.12.8+/3.13.1+ stopped quoting
    # the choices ("choose from a, b" instead of "choose from 'a', 'b'").
    listed = err.split("choose from", 1)[1].split(")", 1)[0]
    assert {name.strip(" '") for name in listed.split(",")} == set(cli.COMMAND_MODULES)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_console_script_exit_status_and_flushed_output() -> None:
    done = run("snapshot", "--json", "--kind", "sysv-msg")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("}") and done.stderr == ""
    bad = run("snapshot", "--kind", "nope")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("ipctop: unknown kind 'nope'") and bad.stderr.count("\n") == 1


def test_console_script_reader_going_away_is_quiet() -> None:
    shell = f"{sys.executable} -m ipctop snapshot --json | head -c 10; echo \" ${{PIPESTATUS[0]}}\""
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.stdout == '{\n  "schem 0\n'
    assert done.stderr == ""
