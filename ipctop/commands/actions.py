"""`ipctop create | send | recv | write | read | sem | rm`: act on one IPC object from a script.

Thin wrappers over ipctop.actions (which the TUI uses too): parse the arguments, call one action,
print its result. Each command takes only the kinds it can act on, and its --help lists exactly
those: create and rm take sysv-shm, sysv-msg, sysv-sem, posix-shm, posix-mq, posix-sem and fifo;
send and recv the queues and fifo; write and read shared memory; sem the semaphores. ID is the
SysV id (or --key KEY, as ``ipcrm -M KEY``), the POSIX "/name" or the FIFO path. Exit status: 0
done, 1 nothing to receive or no such object, 2 bad usage or a failure. ``--ns PID`` runs any of
them inside the IPC and mount namespaces of process PID (cli.main forks; see nsenter.act_inside).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ipctop.actions.common import ACTION_KINDS, QUEUE_KINDS, READ_KINDS, SEM_KINDS, SHM_KINDS
from ipctop.errors import EXIT_NOTHING, EXIT_OK, UsageError
from ipctop.model import SYSV_KINDS, Kind, kind_words, parse_kind
from ipctop.output_options import add_output_options

_POSIX = (Kind.POSIX_SHM, Kind.POSIX_MQ, Kind.POSIX_SEM)


class _KindOf:
    """An argparse type: a kind ``command`` takes; the error names exactly those kinds, and
    shell completion (``--print-completion``) offers exactly them (``kinds``)."""

    __name__ = "KIND"  # argparse names the type in some messages

    def __init__(self, kinds: Sequence[Kind], command: str) -> None:
        self.kinds = tuple(kinds)
        self.command = command

    def __call__(self, text: str) -> Kind:
        try:
            return parse_kind(text, self.kinds, self.command)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None


def _int(text: str) -> int:
    """A decimal or 0x hex integer, in ASCII digits (its range is checked by the action, against
    the kernel's type)."""
    from ipctop.numbers import parse_int

    try:
        return parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _size(text: str) -> int:
    """Bytes: "4096", "0x1000", "64K", "1M", "2G" (the parser the TUI's forms use too)."""
    from ipctop.fmt import parse_size

    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _seconds(text: str) -> float:
    from ipctop.fmt import parse_duration

    try:
        return parse_duration(text)  # ASCII digits, finite, bounded
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _pid(text: str) -> int:
    """A process id: a positive whole number."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}")
    return value


def _add_ns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ns", type=_pid, metavar="PID",
                   help="act inside the IPC and mount namespaces of process PID (a container's "
                   "object: its ns_pid in `snapshot --json`); needs root")


def _add_target(p: argparse.ArgumentParser, kinds: Sequence[Kind], command: str) -> None:
    """KIND and ID (or --key for the SysV kinds) of the one object a command acts on, and
    --ns."""
    _add_ns(p)
    p.add_argument("kind", type=_KindOf(kinds, command), metavar="KIND",
                   help=f"{kind_words(kinds)}")
    sysv = any(k in SYSV_KINDS for k in kinds)
    ids = [text for text, wanted in (
        ("the SysV id (or --key KEY)", sysv),
        ("the POSIX /name", any(k in _POSIX for k in kinds)),
        ("the FIFO path", Kind.FIFO in kinds),
        ("the inode (anon-shm, memfd)", Kind.MEMFD in kinds)) if wanted]
    p.add_argument("ident", metavar="ID", nargs="?" if sysv else None, help=" or ".join(ids))
    if sysv:
        p.add_argument("--key", metavar="KEY",
                       help="SysV kinds: the object with this key (0x1234abcd or 4660) instead "
                       "of an ID, as ipcrm -M/-Q/-S KEY")


def _target(args: argparse.Namespace) -> str:
    """The ID a command acts on: given, or found from --key."""
    key = getattr(args, "key", None)
    if key is None:
        if args.ident is None:
            raise UsageError(f"{args.kind.word}: give an ID or --key KEY")
        return str(args.ident)
    if args.ident is not None:
        raise UsageError("give an ID or --key KEY, not both")
    if args.kind not in SYSV_KINDS:
        raise UsageError(f"--key is for the SysV kinds; a {args.kind.word} is named by "
                         + ("its path" if args.kind is Kind.FIFO else "its /name"))
    from ipctop import actions

    return actions.sysv_id(args.kind, key)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add create, send, recv, write, read, sem and rm to ``sub``."""
    p = sub.add_parser(
        "create", help="create an IPC object and print its id",
        description="Create an IPC object and print its id (one line), or its JSON with --json. "
        "SysV kinds take a key (0x hex or decimal) or `private`; POSIX kinds a /name; fifo a path. "
        "If an object with that key or name exists, it is taken as it is when it has the size, "
        "nsems, maxmsg and msgsize given (a note on stderr says it existed), and refused (exit "
        "2, nothing created) when it differs, unless --reuse; --exclusive refuses it always.")
    p.add_argument("kind", type=_KindOf(ACTION_KINDS, "create"), metavar="KIND",
                   help=kind_words(ACTION_KINDS))
    p.add_argument("name_or_key", metavar="NAME_OR_KEY",
                   help="SysV key (0x1234, 4660 or private), POSIX /name, or FIFO path")
    p.add_argument("--size", type=_size, metavar="N",
                   help="bytes, for shared memory (like 4096, 64K, 1M); required there")
    p.add_argument("--mode", default="0600", metavar="MODE",
                   help="permission bits in octal (default 0600)")
    p.add_argument("--maxmsg", type=_int, metavar="N",
                   help="posix-mq: most messages queued (default fs.mqueue.msg_default)")
    p.add_argument("--msgsize", type=_int, metavar="N",
                   help="posix-mq: largest message in bytes (default fs.mqueue.msgsize_default)")
    p.add_argument("--nsems", type=_int, metavar="N",
                   help="sysv-sem: semaphores in the set (default 1)")
    p.add_argument("--value", type=_int, metavar="N",
                   help="semaphores: initial value (default 0)")
    p.add_argument("--exclusive", action="store_true",
                   help="fail if the key or name already exists")
    p.add_argument("--reuse", action="store_true",
                   help="take an existing object with that key or name even when its size, "
                   "nsems, maxmsg or msgsize differ from those given (a note says how)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_ns(p)
    p.set_defaults(func=run_create)

    p = sub.add_parser(
        "send", help="send a message to a queue or FIFO",
        description="Queue one message on a sysv-msg, posix-mq or fifo. Without --timeout a "
        "full queue (or a FIFO without a reader) is an error at once.")
    _add_target(p, QUEUE_KINDS, "send")
    p.add_argument("data", metavar="DATA", help="the message (text, or hex with --hex)")
    p.add_argument("--type", type=_int, metavar="N", help="sysv-msg: message type > 0 (default 1)")
    p.add_argument("--priority", type=_int, metavar="N",
                   help="posix-mq: priority 0..32767 (default 0)")
    p.add_argument("--hex", action="store_true", help="DATA is hex bytes, like 'de ad be ef'")
    p.add_argument("--timeout", type=_seconds, default=0.0, metavar="S",
                   help="wait up to S seconds for room (default: do not wait)")
    p.set_defaults(func=run_send)

    p = sub.add_parser(
        "recv", help="receive (or peek at) messages from a queue or FIFO",
        description="Take messages from a sysv-msg, posix-mq or fifo and print each on one line "
        "with its type or priority (control characters, bidi controls and bytes that are not "
        "UTF-8 spelled out, as \\x0a, \\u202e, \\xff). With -o, --raw or --noheadings "
        "they are a table instead (columns TYPE or PRIORITY, SIZE, DATA, HEX). Exit 1 when "
        "nothing arrived before the timeout.")
    _add_target(p, QUEUE_KINDS, "recv")
    p.add_argument("--type", type=_int, metavar="N",
                   help="sysv-msg: 0 any (default), N only type N, -N the lowest type <= N")
    p.add_argument("--timeout", type=_seconds, default=0.0, metavar="S",
                   help="wait up to S seconds in all (default: do not wait)")
    p.add_argument("--peek", action="store_true",
                   help="sysv-msg: copy messages without taking them (msgrcv MSG_COPY)")
    p.add_argument("--hex", action="store_true", help="print the data as hex")
    p.add_argument("--count", type=_int, default=1, metavar="N",
                   help="take up to N messages (default 1)")
    add_output_options(p, "print the messages as JSON")
    p.set_defaults(func=run_recv)

    p = sub.add_parser(
        "write", help="write bytes into shared memory",
        description="Write DATA into a sysv-shm or posix-shm at --offset (never past its end).")
    _add_target(p, SHM_KINDS, "write")
    p.add_argument("data", metavar="DATA", help="the bytes (text, or hex with --hex)")
    p.add_argument("--offset", type=_size, required=True, metavar="N",
                   help="byte position to write at")
    p.add_argument("--hex", action="store_true", help="DATA is hex bytes, like 'de ad be ef'")
    p.set_defaults(func=run_write)

    p = sub.add_parser(
        "read", help="show shared memory as a hex + ASCII dump",
        description="Show the bytes of a sysv-shm, posix-shm, anon-shm or memfd as a hex + "
        "ASCII dump (like hexdump -C). A SysV segment is read through the mapping of a process "
        "that has it attached, which changes nothing; only when there is none is it attached "
        "read-only and detached at once, which changes its lpid and attach/detach times (the "
        "leak rules' evidence): a note on stderr says which. anon-shm and memfd (ID: the inode "
        "`ipctop snapshot` shows) are read through a holder's fd or /proc/PID/map_files entry "
        "(root), read-only.")
    _add_target(p, READ_KINDS, "read")
    p.add_argument("--offset", type=_size, default=0, metavar="N",
                   help="first byte (default 0)")
    p.add_argument("--length", type=_size, metavar="N",
                   help="bytes to show (default: to the end; on a terminal at most the first "
                   "64K, and a note says how to see the rest)")
    p.add_argument("--raw", action="store_true",
                   help="write the bytes as they are, no dump (to a file or a pipe: refused on "
                   "a terminal, which would interpret them)")
    p.add_argument("-v", "--no-squeezing", action="store_true",
                   help="print every line; by default a run of identical lines shows as one "
                   "'*', as hexdump -C")
    p.set_defaults(func=run_read)

    p = sub.add_parser(
        "sem", help="change or set a semaphore",
        description="--op N adds N to a semaphore (P when negative, V when positive; 0 on "
        "sysv-sem waits for zero); --set N sets it. Prints the new value. Without --timeout an "
        "operation that would block fails at once.")
    _add_target(p, SEM_KINDS, "sem")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--op", type=_int, metavar="N", help="add N (negative waits for room)")
    what.add_argument("--set", type=_int, metavar="N", help="set the value to N")
    p.add_argument("--index", type=_int, default=0, metavar="I",
                   help="sysv-sem: which semaphore of the set (default 0)")
    p.add_argument("--timeout", type=_seconds, default=0.0, metavar="S",
                   help="--op: wait up to S seconds (default: do not wait)")
    p.set_defaults(func=run_sem)

    p = sub.add_parser(
        "rm", help="remove one IPC object",
        description="Remove exactly the object named, after saying what that means (e.g. "
        "\"attached by 3 processes: destroyed when the last detaches\"). Without --yes it asks "
        "on a terminal and refuses when there is none. A SysV object is named by its id or by "
        "--key KEY, like ipcrm -m ID / -M KEY.")
    _add_target(p, ACTION_KINDS, "rm")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.add_argument("--force-attached", action="store_true",
                   help="remove a sysv-shm segment even though processes have it attached (it "
                   "is marked and destroyed when the last detaches)")
    p.set_defaults(func=run_rm)


def _data(args: argparse.Namespace) -> bytes:
    from ipctop.actions import parse_hex

    text: str = args.data
    return parse_hex(text) if args.hex else text.encode("utf-8", "surrogateescape")


def run_create(args: argparse.Namespace) -> int:
    from ipctop import actions

    result = actions.create(
        args.kind, args.name_or_key, size=args.size, mode=args.mode, maxmsg=args.maxmsg,
        msgsize=args.msgsize, nsems=args.nsems, value=args.value, exclusive=args.exclusive,
        reuse=args.reuse)
    if not result.created:
        name = actions.object_name(args.kind, result.id)
        key = f" (key {result.key})" if result.key else ""
        how = (f", taken as it is: {', '.join(result.differs)}" if result.differs
               else ": taken as it is")
        print(f"ipctop: {_shown(name)}{key} already existed{how}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(_shown(result.id))
    return EXIT_OK


def run_send(args: argparse.Namespace) -> int:
    from ipctop import actions

    actions.send(args.kind, _target(args), _data(args), mtype=args.type, priority=args.priority,
                 timeout=args.timeout)
    return EXIT_OK


_MESSAGE_COLUMNS = {
    "TYPE": "the message type (sysv-msg)",
    "PRIORITY": "the message priority (posix-mq)",
    "SIZE": "bytes in the message",
    "DATA": "the message as text, anything unprintable spelled out",
    "HEX": "the message as hex bytes",
}
_MESSAGE_CELLS: dict[str, Callable[[Any], object]] = {
    "TYPE": lambda m: m.type, "PRIORITY": lambda m: m.type, "SIZE": lambda m: len(m.data),
    # The table escapes every cell (display.shown); DATA goes in as the text it is.
    "DATA": lambda m: m.data.decode("utf-8", "surrogateescape"),
    "HEX": lambda m: m.data.hex(" "),
}


def _shown(text: str | bytes) -> str:
    """Names and messages go to the terminal through display.shown, as every string a user
    other than the caller may have chosen (a FIFO path, a message's bytes)."""
    from ipctop.display import shown

    return shown(text)


def _message_names(kind: Kind) -> tuple[list[str], list[str]]:
    """recv's table columns for ``kind`` and the default ones."""
    first = {Kind.SYSV_MSG: ["TYPE"], Kind.POSIX_MQ: ["PRIORITY"]}.get(kind, [])
    return [*first, "SIZE", "DATA", "HEX"], [*first, "SIZE", "DATA"]


def _message_table(args: argparse.Namespace) -> Callable[[Sequence[Any]], str] | None:
    """How to print the messages as a table when a table option asks (-o, --raw,
    --noheadings), else None (one line per message, the default). Bad options fail here,
    before anything is taken off the queue."""
    from ipctop.output_options import check_spec, style_from_args
    from ipctop.table import Header, render_cells, select_names

    style = style_from_args(args)
    if args.json or (args.output is None and style.headings and not style.raw):
        return None
    check_spec(args.output)
    names, defaults = _message_names(args.kind)
    chosen, unknown = select_names(args.output, names, defaults)
    if unknown:
        raise UsageError(f"-o/--output: unknown column {unknown[0]!r} for recv from a "
                         f"{args.kind.word} (one of: {', '.join(names)})")
    headers = [Header(n, right=n in ("TYPE", "PRIORITY", "SIZE"), trunc=n in ("DATA", "HEX"))
               for n in chosen]
    return lambda messages: render_cells(
        headers, [[_MESSAGE_CELLS[n](m) for n in chosen] for m in messages], style)


def _message_column_list(kind: Kind) -> str:
    from ipctop.table import Header, render_cells

    names, defaults = _message_names(kind)
    rows = [[n + ("*" if n in defaults else ""), _MESSAGE_COLUMNS[n]] for n in names]
    return render_cells([Header("COLUMN"), Header("DESCRIPTION")], rows) + \
        "\n* shown by default; -o LIST picks columns, -o +LIST adds them.\n"


def run_recv(args: argparse.Namespace) -> int:
    from ipctop import actions
    from ipctop.output_options import wants_column_list

    if wants_column_list(args):
        sys.stdout.write(_message_column_list(args.kind))
        return EXIT_OK
    ident = _target(args)
    table = _message_table(args)
    messages = actions.receive(args.kind, ident, mtype=args.type, timeout=args.timeout,
                               peek=args.peek, count=args.count)
    label = {Kind.SYSV_MSG: "type", Kind.POSIX_MQ: "priority"}.get(args.kind)
    if args.json:
        print(json.dumps([{"type": m.type, "size": len(m.data), "hex": m.data.hex(),
                           "text": m.data.decode("utf-8", "replace")} for m in messages]))
    elif table is not None:
        sys.stdout.write(table(messages) if messages else "")
    else:
        for m in messages:
            body = m.data.hex(" ") if args.hex else _shown(m.data)
            print(f"{label} {m.type}: {body}" if label else body)
    if not messages:
        waited = f" within {args.timeout:g}s" if args.timeout else ""
        print(f"ipctop: nothing to receive from {_shown(actions.object_name(args.kind, ident))}"
              f"{waited}", file=sys.stderr)
        return EXIT_NOTHING
    return EXIT_OK


def run_write(args: argparse.Namespace) -> int:
    from ipctop import actions

    n = actions.write_shm(args.kind, _target(args), _data(args), args.offset)
    print(f"wrote {n} bytes at offset {args.offset}")
    return EXIT_OK


READ_ON_A_TERMINAL = 64 * 1024
"""Most bytes ``read`` dumps on a terminal when no --length is given (4096 lines at most): a
person peeking at a 1G segment wants its start, not a gigabyte scrolling past. Piped or
redirected, the whole object, as hexdump does."""
_READ_CHUNK = 1 << 20
"""Bytes read at a time (a whole number of dump lines): a big object is never in memory whole."""


def run_read(args: argparse.Namespace) -> int:
    from ipctop import actions
    from ipctop.fmt import human_bytes
    from ipctop.hexdump import dump_lines
    from ipctop.output_options import stdout_is_terminal

    terminal = stdout_is_terminal()
    if args.raw and terminal:
        raise UsageError("read --raw writes the bytes as they are, which a terminal would "
                         "interpret: redirect it to a file or a pipe (without --raw, a dump)")
    target = _target(args)
    length, rest = args.length, 0
    if length is None:
        length = actions.shm_size(args.kind, target) - args.offset
        if length < 0:
            length = None  # past the end: the read below says so
        elif terminal and length > READ_ON_A_TERMINAL:
            length, rest = READ_ON_A_TERMINAL, length
    end = args.offset + (length or 0)

    def pieces() -> Iterator[tuple[int, bytes]]:
        said = False
        at = args.offset
        while True:
            read = actions.read_shm_report(args.kind, target, at,
                                           None if length is None else min(_READ_CHUNK, end - at))
            if read.how and not said:
                print(f"ipctop: {read.how}", file=sys.stderr)
                said = True
            yield at, read.data
            at += len(read.data)
            if at >= end or not read.data:
                return

    if args.raw:
        sys.stdout.flush()
        for _, data in pieces():
            sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        for line in dump_lines(pieces(), end, squeeze=not args.no_squeezing):
            sys.stdout.write(line + "\n")
    if rest:
        sys.stdout.flush()
        print(f"ipctop: showed the first {human_bytes(length)} of {human_bytes(rest)} from "
              f"offset {args.offset}: --offset N --length N for another part, or pipe the "
              "dump for all of it (ipctop read ... | less)", file=sys.stderr)
    return EXIT_OK


def run_sem(args: argparse.Namespace) -> int:
    from ipctop import actions

    if args.op is not None:
        value = actions.sem_op(args.kind, _target(args), args.op, index=args.index,
                               timeout=args.timeout)
    else:
        if args.timeout:
            raise UsageError("--timeout applies to --op only")
        value = actions.sem_set(args.kind, _target(args), args.set, index=args.index)
    print(value)
    return EXIT_OK


def _confirm(question: str) -> bool:
    """Ask on the terminal (stderr for the question, stdin for the answer); EOF means no."""
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def run_rm(args: argparse.Namespace) -> int:
    from ipctop import actions

    ident = _target(args)
    name = actions.object_name(args.kind, ident)
    consequence = actions.describe_removal(args.kind, ident)  # also: does it exist?
    if not args.force_attached:
        actions.refuse_attached(args.kind, ident)  # before asking, not after
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to remove {name} without confirmation: pass --yes")
        shown_name = _shown(name)
        if not _confirm(f"{shown_name}: {_shown(consequence)}\nRemove {shown_name}? [y/N] "):
            print(f"kept {shown_name}", file=sys.stderr)
            return EXIT_OK
    print(_shown(actions.remove(args.kind, ident, force_attached=args.force_attached)))
    return EXIT_OK
