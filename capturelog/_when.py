"""Times and levels as people type them: ``1h``, ``"1 hour ago"``,
``yesterday``, ``2026-11-28 14:00``, ``WARNING..ERROR``, ``30``.

Pure functions, no I/O: the reader and the command share them, so the
library and the ``capturelog`` command accept the same words.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime, timedelta

__all__ = ["LevelRange", "parse_level_range", "parse_time"]

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
# One or more "<number> <unit>" parts: "1h", "1h30m", "2 days", "1.5 hours".
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_SPAN_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?")

TIME_FORMS = (
    "ISO 8601 (2026-11-28T14:00, 2026-11-28 14:00:05+01:00; without an offset it is local time),"
    " HH:MM[:SS] (today, local), epoch seconds (1795000000), now, today, yesterday, tomorrow,"
    " or a span back from now: 1h, 30m, 2d, 1h30m, -1h, '1 hour ago' (+1h is ahead of now)"
)


def span_seconds(text: str) -> float | None:
    """Seconds in a span such as ``1h30m`` or ``2 days``; None if it is not one."""
    if not _SPAN_WHOLE.fullmatch(text):
        return None
    total = 0.0
    for number, unit in _SPAN.findall(text):
        if unit not in _UNITS:
            return None
        total += float(number) * _UNITS[unit]
    return total


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from the forms in ``TIME_FORMS``.

    Raises:
        ValueError: naming the text and the forms accepted.
    """
    now = time.time() if now is None else now
    word = " ".join(text.strip().lower().split())
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if word == "now":
        return now
    if word in days:
        # Local midnight, counted in calendar days (right across a DST change).
        day = midnight + timedelta(days=days[word])
        return day.replace(hour=0).timestamp()
    try:
        value = float(word)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"not a time: {text!r}")
        return value
    sign = -1.0
    span_text = word
    if word.endswith(" ago"):
        span_text = word[:-4].strip()
    elif word[:1] in ("+", "-"):
        sign = 1.0 if word[0] == "+" else -1.0
        span_text = word[1:].strip()
    seconds = span_seconds(span_text)
    if seconds is not None:
        return now + sign * seconds
    clock = _CLOCK.fullmatch(word)
    if clock:
        hour, minute = int(clock[1]), int(clock[2])
        second = int(clock[3] or 0)
        fraction = float(clock[4] or 0)
        try:
            return midnight.replace(hour=hour, minute=minute, second=second).timestamp() + fraction
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"not a time: {text!r}; use {TIME_FORMS}") from None


class LevelRange:
    """Levels ``low`` to ``high``, both included (``high`` None: no upper bound)."""

    __slots__ = ("high", "low")

    def __init__(self, low: int, high: int | None = None) -> None:
        self.low = low
        self.high = high

    def __contains__(self, levelno: float) -> bool:
        return levelno >= self.low and (self.high is None or levelno <= self.high)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LevelRange) and (self.low, self.high) == (other.low, other.high)

    def __hash__(self) -> int:
        return hash((self.low, self.high))

    def __repr__(self) -> str:
        return f"LevelRange({self.low}, {self.high})"


# The short names journalctl and syslog users type.
_ALIASES = {"WARN": logging.WARNING, "ERR": logging.ERROR, "CRIT": logging.CRITICAL,
            "FATAL": logging.CRITICAL}  # fmt: skip


def level_number(text: str, custom: dict[str, int] | None = None) -> int:
    """A level from a number, a name logging knows (any case), a short name
    (warn, err, crit, fatal) or a name in ``custom`` (levels found in a file).

    Raises:
        ValueError: naming the text.
    """
    word = text.strip()
    try:
        return int(word)
    except ValueError:
        pass
    upper = word.upper()
    number = logging.getLevelName(upper)
    if isinstance(number, int):
        return number
    if upper in _ALIASES:
        return _ALIASES[upper]
    for name, value in (custom or {}).items():
        if name.upper() == upper:
            return value
    raise ValueError(
        f"unknown level {text!r}: use a number, a name (DEBUG, INFO, WARNING, ERROR, CRITICAL,"
        " or one a record in the file has), or a range such as WARNING..ERROR"
    )


def parse_level_range(text: str, custom: dict[str, int] | None = None) -> LevelRange:
    """``WARNING`` (that level and above), ``30``, or a range ``WARNING..ERROR``
    (both ends included; either end may be left out)."""
    if ".." in text:
        low_text, _, high_text = text.partition("..")
        low = level_number(low_text, custom) if low_text.strip() else 0
        high = level_number(high_text, custom) if high_text.strip() else None
        if high is not None and high < low:
            raise ValueError(f"empty level range {text!r}: {low} is above {high}")
        return LevelRange(low, high)
    return LevelRange(level_number(text, custom))


def needs_custom_names(text: str) -> bool:
    """Whether ``text`` names a level only a file's records can tell."""
    for part in text.split("..") if ".." in text else [text]:
        if part.strip():
            try:
                level_number(part)
            except ValueError:
                return True
    return False
