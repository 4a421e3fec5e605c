"""What the reading commands share: one-line usage errors, the filter
options, and opening the paths a user named."""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any

from .._when import TIME_FORMS, parse_time
from ..replay import ReplayReader


class UsageError(Exception):
    """A bad argument value, reported as one line (exit status 2)."""


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a count of records, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="capture files, directories (the capture files in them) or quoted globs;"
        " records of several files are merged in time order",
    )  # fmt: skip


def add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument(
        "-p", "--level", metavar="LEVEL",
        help="this level and above: a name (DEBUG .. CRITICAL, warn, err, or a custom level a"
        " record has), a number, or a range such as WARNING..ERROR (both included)",
    )  # fmt: skip
    group.add_argument("--logger", metavar="NAME", help="a logger name; its children included")
    group.add_argument(
        "-S", "--since", metavar="TIME", help=f"records at or after TIME; TIME is {TIME_FORMS}"
    )
    group.add_argument("-U", "--until", metavar="TIME", help="records before TIME")
    group.add_argument(
        "-g", "--grep", metavar="REGEX",
        help="a regular expression searched in the message, traceback, stack and extras;"
        " case-insensitive unless it has a capital letter (smart case)",
    )  # fmt: skip
    case = group.add_mutually_exclusive_group()
    case.add_argument("-i", "--ignore-case", action="store_true", help="--grep ignores case")
    case.add_argument("-s", "--case-sensitive", action="store_true", help="--grep minds case")
    group.add_argument(
        "--start", type=int, metavar="SEQ",
        help="first sequence number, in each file (negative: from the end, -1 is the last)",
    )  # fmt: skip
    group.add_argument(
        "--stop",
        type=int,
        metavar="SEQ",
        help="sequence number to stop before (negative: from the end)",
    )
    group.add_argument(
        "--skew", type=seconds, default=0.1, metavar="SECONDS",
        help="how far a clock may have stepped back inside a time window (default 0.1)",
    )  # fmt: skip


def open_reader(paths: list[str]) -> ReplayReader:
    # Text from a file may hold lone surrogates (stored as logged): escape
    # them rather than stop the output at the first one.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return ReplayReader(paths)


def filters(args: argparse.Namespace, reader: ReplayReader) -> dict[str, Any]:
    """The filter options as ``records()`` arguments, each checked: a bad
    value is a UsageError naming the option."""
    try:
        levels = reader.level_range(args.level)
    except ValueError as exc:
        raise UsageError(f"--level: {exc}") from None
    return {
        "level": levels,
        "logger": args.logger,
        "since": _time("--since", args.since),
        "until": _time("--until", args.until),
        "match": pattern(args.grep, args.ignore_case, args.case_sensitive),
    }


def _time(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def pattern(text: str | None, ignore_case: bool, case_sensitive: bool) -> re.Pattern[str] | None:
    """``--grep``'s pattern, compiled with smart case: case-insensitive when
    it has no capital letter, unless ``-s``; always with ``-i``."""
    if text is None:
        return None
    insensitive = ignore_case or (not case_sensitive and text == text.lower())
    try:
        return re.compile(text, re.IGNORECASE if insensitive else 0)
    except re.error as exc:
        raise UsageError(f"--grep: not a regular expression: {text!r} ({exc})") from None
