"""Rotation and retention rules as people write them (capturelog._limits)."""

from __future__ import annotations

import datetime as dt

import pytest

from capturelog._limits import (
    Retention,
    Rotation,
    parse_age,
    parse_retention,
    parse_rotation,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64 MB", 64_000_000),
        ("500 KB", 500_000),
        ("500kb", 500_000),
        ("1 GiB", 1 << 30),
        ("1.5 MiB", 3 << 19),
        ("10GB", 10_000_000_000),
        ("2 TB", 2 * 10**12),
        ("100", 100),
        ("100 B", 100),
        (4096, 4096),
    ],
)
def test_sizes_are_decimal_with_binary_units_too(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1 hour", 3600),
        ("7 days", 7 * 86400),
        ("1h30m", 5400),
        ("2 weeks", 14 * 86400),
        ("5m", 300),  # minutes: no one-letter size units, so no clash
        (dt.timedelta(minutes=2), 120),
        (90, 90),
    ],
)
def test_ages(value: str | int | dt.timedelta, seconds: float) -> None:
    assert parse_age(value) == seconds


@pytest.mark.parametrize("bad", ["", "MB", "12 parsecs", "-5 MB", "0 MB", "1,5 MB", True])
def test_bad_sizes_are_refused_by_name(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "soon", "0 days", "-1h", dt.timedelta(0), False])
def test_bad_ages_are_refused_by_name(bad: object) -> None:
    with pytest.raises(ValueError, match="age"):
        parse_age(bad)  # type: ignore[arg-type]


def test_rotation_tells_sizes_ages_and_times_of_day_apart() -> None:
    assert parse_rotation("64 MB") == Rotation(max_bytes=64_000_000)
    assert parse_rotation("1 day") == Rotation(max_age=86400.0)
    assert parse_rotation(dt.timedelta(hours=1)) == Rotation(max_age=3600.0)
    assert parse_rotation("00:00") == Rotation(at=(dt.time(0, 0),))
    assert parse_rotation(dt.time(23, 30)) == Rotation(at=(dt.time(23, 30),))
    assert parse_rotation(1_000_000) == Rotation(max_bytes=1_000_000)
    # A list: several rules, the smallest of a kind wins.
    assert parse_rotation(["10 MB", "1 MB", "1 week", "1 day", "04:00", "16:00"]) == Rotation(
        max_bytes=1_000_000, max_age=86400.0, at=(dt.time(4, 0), dt.time(16, 0))
    )
    assert not parse_rotation(None)
    assert not parse_rotation([])


@pytest.mark.parametrize("bad", ["soon", "25:00", "12:61", "64 parsecs", object()])
def test_bad_rotation_rules_say_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match=r"rotation rule|time of day|not a"):
        parse_rotation(bad)


def test_retention_sizes_ages_and_counts() -> None:
    assert parse_retention("10 GB") == Retention(max_bytes=10_000_000_000)
    assert parse_retention("7 days") == Retention(max_age=7 * 86400.0)
    assert parse_retention(5) == Retention(max_files=5)
    assert parse_retention(["7 days", 5, "1 GB"]) == Retention(
        max_bytes=1_000_000_000, max_age=7 * 86400.0, max_files=5
    )
    assert not parse_retention(None)
    # A string of digits (from an INI file or the environment) is a count,
    # never a number of bytes; a float could mean anything and is refused.
    assert parse_retention("5") == Retention(max_files=5)
    assert parse_retention([3, "3"]) == Retention(max_files=3)
    for bad in (0, -3, True, "someday", object(), 5.0, "1.5", "5 B x"):
        with pytest.raises(ValueError):
            parse_retention(bad)


def test_next_clock_time_is_today_or_tomorrow() -> None:
    rotation = parse_rotation(["06:00", "18:00"])
    morning = dt.datetime(2026, 11, 28, 5, 0).timestamp()
    assert rotation.next_clock(morning) == dt.datetime(2026, 11, 28, 6, 0).timestamp()
    evening = dt.datetime(2026, 11, 28, 19, 0).timestamp()
    assert rotation.next_clock(evening) == dt.datetime(2026, 11, 29, 6, 0).timestamp()
    exactly = dt.datetime(2026, 11, 28, 18, 0).timestamp()  # strictly after
    assert rotation.next_clock(exactly) == dt.datetime(2026, 11, 29, 6, 0).timestamp()
    assert Rotation(max_bytes=1).next_clock(morning) is None
