"""Rotation and retention limits as people write them; pure parsing, no I/O.

The words are loguru's, the values plain strings so that they work in
``dictConfig``: sizes ``"64 MB"``, ``"500 KB"``, ``"1.5 GiB"`` or a number of
bytes (units are decimal, KB = 1000, with KiB, MiB, GiB, TiB for powers of
1024); ages ``"1 hour"``, ``"7 days"``, ``"1h30m"`` or a ``timedelta``; a
wall-clock time ``"00:00"`` or ``"23:30:00"`` (local time). A list combines
rules: the first met applies.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._when import span_seconds

__all__ = ["Retention", "Rotation", "parse_age", "parse_retention", "parse_rotation", "parse_size"]

_UNITS = {
    "b": 1, "": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
# No one-letter units: "5m" is five minutes, as in every other time field.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")

Limit = int | float | str | dt.timedelta | dt.time


def parse_size(value: int | float | str) -> int:
    """Bytes from ``"64 MB"``, ``"1.5 GiB"``, ``"100"`` or a number of bytes.

    Raises:
        ValueError: not a size, or not above zero.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        size = value
    else:
        match = _SIZE.fullmatch(str(value).strip().lower())
        if not match or match.group(2) not in _UNITS:
            raise ValueError(
                f"not a size: {value!r} (write it as '64 MB', '500 KB', '1 GiB'"
                " or a number of bytes)"
            )
        size = float(match.group(1)) * _UNITS[match.group(2)]
    if not size > 0:
        raise ValueError(f"a size must be above zero, not {value!r}")
    return int(size)


def parse_age(value: int | float | str | dt.timedelta) -> float:
    """Seconds from ``"1 hour"``, ``"7 days"``, ``"1h30m"``, a ``timedelta``
    or a number of seconds.

    Raises:
        ValueError: not an age, or not above zero.
    """
    if isinstance(value, bool):
        raise ValueError(f"not an age: {value!r}")
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        found = span_seconds(str(value).strip().lower())
        if found is None:
            raise ValueError(
                f"not an age: {value!r} (write it as '1 hour', '7 days', '1h30m' or seconds)"
            )
        seconds = found
    if not seconds > 0:
        raise ValueError(f"an age must be above zero, not {value!r}")
    return seconds


def _parse_clock(value: str | dt.time) -> dt.time | None:
    if isinstance(value, dt.time):
        return value
    match = _CLOCK.fullmatch(value.strip())
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    try:
        return dt.time(hour, minute, second)
    except ValueError:
        raise ValueError(f"not a time of day: {value!r}") from None


@dataclass(frozen=True, slots=True)
class Rotation:
    """When to start a new segment: the first rule met, checked at commits."""

    max_bytes: int | None = None  # committed data in the segment
    max_age: float | None = None  # seconds since the segment was started
    at: tuple[dt.time, ...] = ()  # local wall-clock times

    def __bool__(self) -> bool:
        return bool(self.max_bytes or self.max_age or self.at)

    def next_clock(self, after: float) -> float | None:
        """The first of the ``at`` times strictly after the timestamp ``after``."""
        if not self.at:
            return None
        start = dt.datetime.fromtimestamp(after)
        best: float | None = None
        for day in (0, 1):
            date = start.date() + dt.timedelta(days=day)
            for clock in self.at:
                when = dt.datetime.combine(date, clock).timestamp()
                if when > after and (best is None or when < best):
                    best = when
        return best


@dataclass(frozen=True, slots=True)
class Retention:
    """What a set keeps: every limit given holds at once."""

    max_bytes: int | None = None  # the set's total size on disk
    max_age: float | None = None  # seconds since a segment's last change
    max_files: int | None = None  # segments

    def __bool__(self) -> bool:
        return bool(self.max_bytes or self.max_age or self.max_files)


def _rules(value: object) -> Sequence[object]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return value
    return (value,)


def parse_rotation(value: object) -> Rotation:
    """``rotation=``: a size, an age, a wall-clock time, or a list of them.

    A string with a colon is a time of day, one with a size unit (or a plain
    number) a size, one with a time unit an age; a ``timedelta`` is an age, a
    ``datetime.time`` a time of day, an int or float a size in bytes.

    Raises:
        ValueError: a rule that is none of these.
    """
    sizes: list[int] = []
    ages: list[float] = []
    clocks: list[dt.time] = []
    for rule in _rules(value):
        if isinstance(rule, dt.timedelta):
            ages.append(parse_age(rule))
        elif isinstance(rule, dt.time):
            clocks.append(rule)
        elif isinstance(rule, (int, float)) and not isinstance(rule, bool):
            sizes.append(parse_size(rule))
        elif isinstance(rule, str):
            clock = _parse_clock(rule)
            if clock is not None:
                clocks.append(clock)
            elif _is_size(rule):
                sizes.append(parse_size(rule))
            else:
                ages.append(_age_or_error(rule, "rotation"))
        else:
            raise ValueError(f"not a rotation rule: {rule!r}")
    return Rotation(min(sizes, default=None), min(ages, default=None), tuple(clocks))


def parse_retention(value: object) -> Retention:
    """``retention=``: a total size with its unit (``"10 GB"``), an age
    (``"7 days"``, a ``timedelta``), a number of segments (an int, or a string
    of digits such as ``"5"``), or a list of them. A float is refused: it
    could mean seconds, bytes or segments.

    Raises:
        ValueError: a rule that is none of these.
    """
    sizes: list[int] = []
    ages: list[float] = []
    counts: list[int] = []
    for given in _rules(value):
        if isinstance(given, bool):
            raise ValueError(f"not a retention rule: {given!r}")
        # "5" from an INI file or the environment: 5 segments.
        rule = int(given) if isinstance(given, str) and given.strip().isdigit() else given
        if isinstance(rule, int):
            if rule < 1:
                raise ValueError(f"a number of segments to keep must be 1 or more, not {rule}")
            counts.append(rule)
        elif isinstance(rule, dt.timedelta):
            ages.append(parse_age(rule))
        elif isinstance(rule, str):
            if _has_unit(rule):
                sizes.append(parse_size(rule))
            else:
                ages.append(_age_or_error(rule, "retention"))
        else:
            # A float could be seconds, bytes or a count: ask for words.
            raise ValueError(
                f"not a retention rule: {rule!r} (a number of segments is an int; write a"
                " size as '10 GB' and an age as '7 days')"
            )
    return Retention(min(sizes, default=None), min(ages, default=None), min(counts, default=None))


def _has_unit(text: str) -> bool:
    """A size with a unit ("10 GB"), not a bare number."""
    match = _SIZE.fullmatch(text.strip().lower())
    unit = match.group(2) if match else ""
    return unit in _UNITS and unit != ""


def _is_size(text: str) -> bool:
    match = _SIZE.fullmatch(text.strip().lower())
    return bool(match) and match.group(2) in _UNITS  # type: ignore[union-attr]


def _age_or_error(text: str, what: str) -> float:
    try:
        return parse_age(text)
    except ValueError:
        raise ValueError(
            f"not a {what} rule: {text!r} (a size such as '64 MB', an age such as"
            f" '1 day'{', a time of day such as 00:00' if what == 'rotation' else ''})"
        ) from None
