"""A hex + ASCII dump in the layout of ``hexdump -C``, shared by ``ipctop read`` and the TUI.

The TUI's attach view highlights bytes that changed between two reads, so besides whole lines
this module says where each byte sits in a line (:func:`byte_columns`) and which bytes differ
(:func:`changed_offsets`). Pure functions, no I/O.

    00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 0a              |hello world.|
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

WIDTH = 16
"""Bytes per line."""
_OFFSET_COLS = 10  # "00000000" and two spaces


def ascii_char(byte: int) -> str:
    """The byte as a printable ASCII character, or "." when it has none."""
    return chr(byte) if 0x20 <= byte < 0x7F else "."


def _hex_col(index: int, width: int) -> int:
    # A second space after each group of eight, as hexdump -C does.
    return _OFFSET_COLS + 3 * index + index // 8


def _ascii_start(width: int) -> int:
    return _hex_col(width, width) + 1  # after the padded hex area and the "|"


def byte_columns(index: int, width: int = WIDTH) -> tuple[int, int]:
    """Where byte ``index`` (0 <= index < width) of a line is drawn: (hex column, ASCII column).

    The hex cell is two characters wide starting at the first value, the ASCII cell one.
    """
    if not 0 <= index < width:
        raise ValueError(f"index {index} outside a line of {width} bytes")
    return _hex_col(index, width), _ascii_start(width) + index


def format_line(chunk: bytes, offset: int, width: int = WIDTH) -> str:
    """One line: the offset, up to ``width`` bytes in hex (padded), then |ASCII|."""
    if len(chunk) > width:
        raise ValueError(f"a line holds at most {width} bytes, got {len(chunk)}")
    hex_area = [" "] * (_hex_col(width, width) - _OFFSET_COLS)
    for i, byte in enumerate(chunk):
        col = _hex_col(i, width) - _OFFSET_COLS
        hex_area[col:col + 2] = f"{byte:02x}"
    text = "".join(ascii_char(b) for b in chunk)
    return f"{offset:08x}  {''.join(hex_area)}|{text}|"


def hexdump_lines(data: bytes, offset: int = 0, width: int = WIDTH) -> list[str]:
    """Every line of the dump; offsets start at ``offset`` (the position ``data`` was read from)."""
    return [format_line(data[i:i + width], offset + i, width) for i in range(0, len(data), width)]


def hexdump(data: bytes, offset: int = 0, width: int = WIDTH) -> str:
    """The whole dump as text, ending with the offset after the last byte (like hexdump -C)."""
    lines = hexdump_lines(data, offset, width)
    lines.append(f"{offset + len(data):08x}")
    return "\n".join(lines) + "\n"


def dump_lines(pieces: Iterable[tuple[int, bytes]], end: int, squeeze: bool = True,
               width: int = WIDTH) -> Iterator[str]:
    """The dump of consecutive ``pieces`` (offset, bytes; each a whole number of lines but the
    last), line by line, ending with the offset ``end``: a big object is dumped as it is read,
    never held whole. With ``squeeze``, a run of lines identical to the one before shows as one
    "*", as ``hexdump -C`` does unless ``-v`` (a mostly empty segment takes three lines)."""
    previous: bytes | None = None
    starred = False
    for offset, data in pieces:
        for i in range(0, len(data), width):
            line = data[i:i + width]
            if squeeze and line == previous:
                if not starred:
                    starred = True
                    yield "*"
                continue
            previous, starred = line, False
            yield format_line(line, offset + i, width)
    yield f"{end:08x}"


def changed_offsets(old: bytes, new: bytes) -> frozenset[int]:
    """Positions whose byte differs between two reads; bytes only one read has count as changed."""
    changed = {i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b}
    changed.update(range(min(len(old), len(new)), max(len(old), len(new))))
    return frozenset(changed)
