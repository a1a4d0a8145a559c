"""One way to put a string from the machine in front of a person: :func:`shown`.

Names of /dev/shm files and queues, FIFO and socket paths, comm and cmdline are chosen by whoever
made them, and ipctop runs as root. Written raw to a terminal, an ESC sequence in a name retitles
the window, moves the cursor or rewrites what the lines above said; a bidi override makes
``evil\\u202eexe.txt`` read as something else; a byte that is not UTF-8 makes a strict UTF-8
stdout raise. So every such string goes through :func:`shown` before it reaches a terminal (a
table cell, a TUI cell, an error line): what cannot be shown as itself is spelled out, the way
Python spells it in a string literal, and nothing is ever interpreted.

The spelling is unambiguous: different names always show differently, so two objects can never
look the same, and a person can type what they see back into a shell's ``$'...'``.

* printable text, any script, is unchanged (``/данные``, ``/日本``);
* a backslash is doubled (so ``\\x1b`` typed by someone is not mistaken for an ESC);
* C0 controls and DEL show as ``\\x1b``, ``\\x7f`` (tab and newline too: ``\\x09``, ``\\x0a``);
* a byte that is not valid UTF-8 (or its surrogateescape stand-in, as ``os.listdir`` returns it)
  shows as ``\\xff``, the byte itself;
* every other code point that is not printable -- C1 controls, bidi overrides and other format
  characters, line and paragraph separators, spaces other than the plain space, surrogates,
  private use and unassigned code points -- shows as ``\\u202e`` or ``\\U000e0001``.

``shown(text, raw=True)`` is the spelling of ``--raw`` tables, util-linux's (lsipc, lsfd, lsblk
``--raw``: libsmartcols' ``fputs_nonblank``): every byte of the UTF-8 name that is not printable
ASCII -- spaces, a backslash, controls, and every byte of a non-ASCII character -- as ``\\xHH``,
so each line splits on spaces, stays plain ASCII, and reads back byte for byte with
``printf '%b'``. One escaping either way: a raw cell is never escaped twice.

Rich and Textual markup (``[red]``, ``[@click=...]``) is a separate matter: ``shown`` leaves
brackets alone, and the TUI never hands a machine string to anything that parses markup (it
builds ``rich.text.Text`` cells, or passes ``markup=False``).
"""

from __future__ import annotations

_SURROGATE_ESCAPES = range(0xDC80, 0xDD00)
"""Where ``surrogateescape`` puts the bytes 0x80..0xff that are not valid UTF-8."""


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code in _SURROGATE_ESCAPES:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _raw_escape(ch: str) -> str:
    code = ord(ch)
    if code in _SURROGATE_ESCAPES:  # a byte that was not UTF-8: the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))


def _raw(text: str) -> str:
    if text.isascii() and text.isprintable() and " " not in text and "\\" not in text:
        return text
    return "".join(ch if "!" <= ch <= "~" and ch != "\\" else _raw_escape(ch) for ch in text)


def shown(text: str | bytes, *, raw: bool = False) -> str:
    """``text`` made safe to print: only printable characters, the rest spelled as escapes.

    Bytes are decoded as UTF-8; bytes that are not UTF-8 show as ``\\xNN``. The result is the
    same for a name as bytes and for the same name decoded with ``surrogateescape``. With
    ``raw``, util-linux's ``--raw`` spelling: only printable ASCII other than the space and the
    backslash stays; every other byte is ``\\xHH``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if raw:
        return _raw(text)
    # The common case, a plain name, costs two C-level scans and no copy.
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(ch if ch.isprintable() and ch != "\\" else _escape(ch) for ch in text)
