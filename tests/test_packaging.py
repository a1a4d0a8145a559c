"""What a packaged ipctop brings besides the code: the manual page and shell completion.

The page and the completion scripts are made from the CLI's own parser, so these tests check
they cover every command and option, and that bash really completes with the script."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ipctop import cli
from ipctop.model import Kind

MANPAGE = Path(__file__).resolve().parent.parent / "man" / "ipctop.1"


def every_option_and_command() -> tuple[set[str], set[str]]:
    options: set[str] = set()
    commands: set[str] = set()
    for action in cli._every_action(cli.build_parser()):
        options.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    options.discard("--help")
    return options, commands


def completion(shell: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ipctop", "--print-completion", shell],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def test_manpage_names_every_command_and_option() -> None:
    """Regenerate with scripts/make-manpage.py when this fails after a CLI change."""
    page = MANPAGE.read_text()
    options, commands = every_option_and_command()
    assert set(cli.COMMAND_MODULES) <= commands
    missing = sorted(name for name in options | commands
                     if name.replace("-", "\\-") not in page)
    assert missing == [], f"man/ipctop.1 lacks {missing}: run scripts/make-manpage.py"
    for section in ("EXIT STATUS", "EXAMPLES", "SEE ALSO", "COMMANDS"):
        assert f".SH {section}" in page


def complete_in_bash(script: str, *words: str) -> list[str]:
    """What bash offers for the last of ``words`` (``ipctop`` first), using the script."""
    quoted = " ".join(f"'{w}'" for w in words)
    shell = (f'source /dev/stdin\n'
             f'COMP_WORDS=({quoted}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n'
             'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n'
             '_shtab_ipctop\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", shell], input=script, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return sorted(w for w in done.stdout.split("\n") if w)


def test_bash_completion_completes_commands_options_and_kinds() -> None:
    script = completion("bash")
    assert complete_in_bash(script, "ipctop", "") == sorted(cli.COMMAND_MODULES)
    assert complete_in_bash(script, "ipctop", "le") == ["leaks"]
    kinds = sorted(k.word for k in Kind)
    assert complete_in_bash(script, "ipctop", "snapshot", "--kind", "posix-") == [
        k for k in kinds if k.startswith("posix-")]
    assert complete_in_bash(script, "ipctop", "metrics", "--kind", "") == kinds
    # Each action command offers the kinds it takes, no other (rm never offers pipe).
    for command, takes in COMMAND_KINDS.items():
        assert complete_in_bash(script, "ipctop", command, "") == sorted(takes), command
    assert complete_in_bash(script, "ipctop", "rm", "p") == ["posix-mq", "posix-sem",
                                                             "posix-shm"]
    assert complete_in_bash(script, "ipctop", "send", "sysv-") == ["sysv-msg"]
    assert complete_in_bash(script, "ipctop", "sem", "--index", "1", "") == ["posix-sem",
                                                                             "sysv-sem"]
    assert "--min-age" in complete_in_bash(script, "ipctop", "leaks", "--")
    assert complete_in_bash(script, "ipctop", "--print-completion", "") == ["bash", "zsh"]


ACTIONS = ["sysv-shm", "sysv-msg", "sysv-sem", "posix-shm", "posix-mq", "posix-sem", "fifo"]
COMMAND_KINDS = {
    "create": ACTIONS, "rm": ACTIONS, "send": ["sysv-msg", "posix-mq", "fifo"],
    "recv": ["sysv-msg", "posix-mq", "fifo"], "write": ["sysv-shm", "posix-shm"],
    "read": ["sysv-shm", "posix-shm", "anon-shm", "memfd"], "sem": ["sysv-sem", "posix-sem"],
}
"""The kinds each action command takes, as docs/actions.md lists them."""


def test_bash_registers_the_completion_for_ipctop() -> None:
    """What a shell does with the installed script: ``complete -p`` names its function."""
    done = subprocess.run(["bash", "-c", "source /dev/stdin; complete -p ipctop"],
                          input=completion("bash"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(" ipctop") and "-F _shtab_ipctop" in done.stdout


def test_zsh_completion_names_every_command_and_kind() -> None:
    script = completion("zsh")
    assert script.startswith("#compdef ipctop")
    options, commands = every_option_and_command()
    for name in commands | options:
        assert name in script
    assert " ".join(k.word for k in Kind) in script
    for takes in COMMAND_KINDS.values():  # each command its own list
        assert f"({' '.join(takes)})" in script


def test_unknown_completion_shell_is_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "ipctop", "--print-completion", "fish"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ipctop: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("argv", [["snapshot", "--json"], []])
def test_completion_costs_other_starts_nothing(argv: list[str]) -> None:
    """shtab is imported only by --print-completion: no start-up pays for it."""
    code = ("import sys\nfrom ipctop import cli\n"
            f"cli.build_parser({argv!r}).parse_args({argv!r})\n"
            "print('shtab' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"
