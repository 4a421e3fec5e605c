"""What the reading commands share: one-line usage errors, the filter
options, and opening the paths a user named."""

from __future__ import annotations

import argparse
import os
import sys

from ..replay import ReplayReader


class UsageError(Exception):
    """A bad argument value, reported as one line."""


def add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--start", type=int, help="first sequence number shown")
    group.add_argument("--stop", type=int, help="sequence number to stop before")
    group.add_argument("--level", help="minimum level (name or number)")
    group.add_argument("--logger", help="logger name, children included")
    group.add_argument("--since", help="time (ISO 8601 or epoch seconds), inclusive")
    group.add_argument("--until", help="time (ISO 8601 or epoch seconds), exclusive")
    group.add_argument("--grep", help="regular expression searched in the message")
    group.add_argument(
        "--skew", type=float, default=0.1,
        help="seconds a clock may have stepped back inside a time window (default 0.1)",
    )  # fmt: skip


def open_reader(paths: list[str]) -> ReplayReader:
    # Text from a file may hold lone surrogates (stored as logged): escape
    # them rather than stop the output at the first one.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file")
    return ReplayReader(paths)
