"""What leaks.judge keeps between the calls of a polling program (``judge(memo=)``).

A verdict is a function of the object, of a few facts about pids (alive or gone, their command,
their state), of the ages it words ("created 5m ago") and of how many processes could not be
read. Between two polls almost none of those change, so judge keeps, kind by kind, the objects
it was given, the verdicts, and those facts: a kind whose objects are the same, whose facts
still say the same and whose ages still read the same is handed on whole.
"""

from __future__ import annotations

import dataclasses
import math

from ipctop.model import IpcObject, Kind, Leak


class VerdictMemo:
    """Verdicts of the previous ``judge`` call, kind by kind (see ``judge(memo=)``)."""

    def __init__(self) -> None:
        self.previous: dict[Kind, KindVerdicts] = {}
        self.current: dict[Kind, KindVerdicts] = {}
        self.judged = 0
        """Objects judged afresh by the last call."""
        self.walked: set[Kind] = set()
        """Kinds the last call went through object by object (something in them changed)."""

    def turn(self) -> None:
        self.previous, self.current = self.current, {}
        self.judged = 0
        self.walked = set()


Fact = tuple[str, int | float | None, float | None, object]
"""One fact a verdict was drawn from: (what, pid or time, time, what it said)."""

Verdict = tuple[IpcObject, Leak | None, object, tuple[Fact, ...], IpcObject, float, float]
"""An object as judge was given it, its verdict, the context, the facts about pids it was
drawn from, the object with its verdict as judge returned it, and the times between which every
age the verdict words reads the same (see :func:`words_hold`)."""


@dataclasses.dataclass
class KindVerdicts:
    """The verdicts on one kind's objects at one call, and everything they were drawn from."""

    given: tuple[IpcObject, ...]
    """The objects as ``judge`` was given them."""
    judged: tuple[IpcObject, ...]
    """As it returned them (with their verdicts)."""
    context: object
    facts: frozenset[Fact]
    """Every fact about pids any verdict of the kind was drawn from, once."""
    ages_hold: tuple[float, float]
    """While ``now`` is within these times, every age the verdicts word reads the same."""
    each: dict[int, Verdict]
    """Per object (by id), for a call where only some objects of the kind changed."""


def words_hold(then: float | None, now: float) -> tuple[float, float]:
    """The times between which ``age_words(then, now)`` reads as it does at ``now`` (a little
    narrower, for rounding): "less than a minute" holds until a minute after ``then``, "12m"
    for a minute, "3h" for an hour, and so on."""
    if not then:
        return -math.inf, math.inf
    secs = now - then
    if secs < 60:
        return -math.inf, then + 60 - _ROUNDING
    for limit, step in ((3600, 60), (86400, 3600), (math.inf, 86400)):
        if secs < limit:
            start = then + (secs // step) * step
            return start + _ROUNDING, start + step - _ROUNDING
    raise AssertionError("unreachable")


_ROUNDING = 1e-3
