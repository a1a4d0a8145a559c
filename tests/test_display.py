"""ipctop.display.shown: machine strings made safe for a terminal, unambiguously."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ipctop.display import shown

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def unshown(text: str) -> str:
    """The inverse of ``shown`` (for str input): every escape back to its code point; ``\\xNN``
    at or above 0x80 is a byte that was not UTF-8, i.e. its surrogateescape stand-in."""

    def back(m: re.Match[str]) -> str:
        body = m.group(1)
        if body == "\\":
            return "\\"
        code = int(body[1:], 16)
        if body[0] == "x" and code >= 0x80:
            return chr(0xDC00 + code)
        return chr(code)

    # every backslash in the output starts an escape: nothing else may be left over
    assert _ESCAPE.sub("", text).count("\\") == 0, text
    return _ESCAPE.sub(back, text)


_SHOWN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
any_name_bytes = st.binary(max_size=40)


def assert_terminal_safe(out: str) -> None:
    for ch in out:
        assert unicodedata.category(ch) not in _SHOWN_CATEGORIES, (out, ch)
        assert ch == " " or unicodedata.category(ch) != "Zs", (out, ch)
    out.encode("utf-8", "strict")  # a strict UTF-8 stdout can always write it


@settings(max_examples=400, deadline=None)
@given(any_text)
@example("\x1b]0;owned\x07")
@example("a\\x1bb")
@example("\udcff\x9b\u202e\u2028\x7f\x00")
def test_text_is_terminal_safe_and_round_trips(text: str) -> None:
    out = shown(text)
    assert_terminal_safe(out)
    assert unshown(out) == text


@settings(max_examples=400, deadline=None)
@given(any_name_bytes)
@example(b"x\xff")
@example(b"\xc2\x9b")
@example(b"\x9b")
def test_bytes_are_terminal_safe_round_trip_and_match_their_surrogateescape(raw: bytes) -> None:
    out = shown(raw)
    assert_terminal_safe(out)
    assert unshown(out).encode("utf-8", "surrogateescape") == raw
    assert out == shown(raw.decode("utf-8", "surrogateescape"))


@settings(max_examples=300, deadline=None)
@given(any_text, any_text)
def test_different_texts_never_look_the_same(a: str, b: str) -> None:
    if a != b:
        assert shown(a) != shown(b)


def test_printable_text_of_any_script_is_unchanged() -> None:
    for name in ("/plain-name_1.2", "/данные", "/日本語", "/café ñ", "/emoji-🎉", "a b",
                 "[red]x[/]", "[@click=app.quit]x"):
        assert shown(name) == name
        assert shown(name.encode()) == name


def test_controls_bytes_and_spoofing_characters_are_spelled_out() -> None:
    assert shown("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert shown("a\nb\tc\rd\x7f") == "a\\x0ab\\x09c\\x0dd\\x7f"
    assert shown(b"x\xff") == "x\\xff"
    assert shown("x\udcff") == "x\\xff"
    # C1 as a code point differs from the raw byte 0x9b (not UTF-8): both visible, distinct
    assert shown("\x9b") == "\\u009b"
    assert shown(b"\x9b") == "\\x9b"
    assert shown("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert shown("a\u200bb\u2028c\u00a0d") == "a\\u200bb\\u2028c\\u00a0d"
    assert shown("\U000e0001") == "\\U000e0001"
    assert shown("back\\slash") == "back\\\\slash"
