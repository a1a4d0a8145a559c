"""The base of ipctop's row tables, where Home/End go to the first/last row.

DataTable's own Home/End scroll sideways; in a list of objects or events people expect them to
move along the rows, as in htop. The object table and the events log share that here.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[Text]):
    """A DataTable of styled text whose Home/End keys jump to the first/last row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]
