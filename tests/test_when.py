"""Times and levels as people type them (capturelog._when), against a fixed
clock and a fixed local time zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from capturelog._when import LevelRange, parse_level_range, parse_time

# 2026-11-28 15:30:00 in Europe/Paris (UTC+01:00 in November).
NOW = datetime(2026, 11, 28, 14, 30, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def paris() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_spans_back_from_now() -> None:
    """A bare span, ``-span`` and ``span ago`` are before now; ``+span`` after."""
    for text in ("1h", "-1h", "1 hour ago", "1 hours ago", "60m", "60 min ago", "3600s", " 1H "):
        assert parse_time(text, NOW) == NOW - 3600, text
    assert parse_time("1h30m", NOW) == NOW - 5400
    assert parse_time("2 days ago", NOW) == NOW - 2 * 86400
    assert parse_time("1w", NOW) == NOW - 7 * 86400
    assert parse_time("1.5h", NOW) == NOW - 5400
    assert parse_time("+10m", NOW) == NOW + 600
    assert parse_time("now", NOW) == NOW


def test_days_and_clock_times_are_local(paris: None) -> None:
    """today/yesterday/tomorrow are local midnights; HH:MM is today, local."""
    midnight = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc).timestamp()
    assert parse_time("today", NOW) == midnight
    assert parse_time("yesterday", NOW) == midnight - 86400
    assert parse_time("tomorrow", NOW) == midnight + 86400
    assert parse_time("14:00", NOW) == midnight + 14 * 3600
    assert parse_time("14:00:30.5", NOW) == midnight + 14 * 3600 + 30.5


def test_iso_naive_is_local_and_offsets_are_kept(paris: None) -> None:
    assert parse_time("2026-11-28T15:30", NOW) == NOW
    assert parse_time("2026-11-28 15:30:00", NOW) == NOW
    assert parse_time("2026-11-28T14:30:00Z", NOW) == NOW
    assert parse_time("2026-11-28T16:30:00+02:00", NOW) == NOW
    assert parse_time("1795000000", NOW) == 1795000000.0
    assert parse_time("1795000000.25", NOW) == 1795000000.25


@pytest.mark.parametrize(
    "text", ["", "soon", "1 parsec ago", "25:00", "nan", "inf", "h1", "2026-13-01"]
)
def test_what_is_not_a_time_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="not a time") as error:
        parse_time(text, NOW)
    assert repr(text) in str(error.value)


def test_levels_names_numbers_aliases_custom_and_ranges() -> None:
    assert parse_level_range("WARNING") == LevelRange(30)
    assert parse_level_range("warning") == LevelRange(30)
    assert parse_level_range("30") == LevelRange(30)
    assert parse_level_range("warn") == parse_level_range("WARN") == LevelRange(30)
    assert parse_level_range("err") == LevelRange(40)
    assert parse_level_range("crit") == parse_level_range("fatal") == LevelRange(50)
    assert parse_level_range("notice", {"NOTICE": 25}) == LevelRange(25)
    assert parse_level_range("WARNING..ERROR") == LevelRange(30, 40)
    assert parse_level_range("..INFO") == LevelRange(0, 20)
    assert parse_level_range("ERROR..") == LevelRange(40)
    assert parse_level_range("25..notice", {"NOTICE": 25}) == LevelRange(25, 25)
    window = parse_level_range("WARNING..ERROR")
    assert 30 in window and 40 in window and 35 in window
    assert 20 not in window and 50 not in window


@pytest.mark.parametrize("text", ["BOGUS", "ERROR..WARNING", "CHATTY", "1.5", "INFO..BOGUS"])
def test_bad_levels_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="level"):
        parse_level_range(text)
