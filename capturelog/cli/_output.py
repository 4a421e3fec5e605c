"""How the command writes records: text lines (coloured on a terminal), JSON
Lines, and the fallbacks for records that cannot be formatted."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from typing import Any, TextIO

from .._codec import limited_repr, robust_repr
from .._jsonout import json_line, record_as_json, time_text
from ..replay import level_value, time_value

DEFAULT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
COLOURS = {
    logging.DEBUG: "\x1b[2m",  # dim
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
RESET = "\x1b[0m"


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--format", help=f"a logging format string (default {DEFAULT_FORMAT!r})")
    group.add_argument("--json", action="store_true", help="JSON Lines, every field")
    parser.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="colour by level"
    )


# ----------------------------------------------------------------- output


class Printer:
    """Writes records as text lines (coloured on a terminal) or JSON Lines.

    A record that cannot be formatted never stops the output. Its standard
    fields are first made the types logging gives them (a record from a
    crafted file may hold a string ``levelno`` or an unformattable time) and
    it is formatted again; if that fails too (a ``--format`` field the record
    lacks), a fallback line gives its number, what is known and the error.
    """

    def __init__(self, args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.json = getattr(args, "json", False)
        fmt = getattr(args, "format", None) or DEFAULT_FORMAT
        self.formatter = logging.Formatter(fmt)
        self.careful = _CarefulFormatter(fmt)
        choice = getattr(args, "color", "auto")
        self.colour = choice == "always" or (
            choice == "auto" and out.isatty() and not os.environ.get("NO_COLOR")
        )

    def write(self, record: logging.LogRecord) -> None:
        try:
            text = self._text(record, self.formatter)
        except Exception:
            try:
                text = self._text(normalised(record), self.careful)
            except Exception as exc:
                text = self._fallback(record, exc)
        self.out.write(text + "\n")

    def _text(self, record: logging.LogRecord, formatter: logging.Formatter) -> str:
        if self.json:
            return json_line(record_as_json(record))
        text = formatter.format(record)
        colour = self.colour and COLOURS.get(record.levelno)
        if colour:
            text = f"{colour}{text}{RESET}"
        return text

    def _fallback(self, record: logging.LogRecord, exc: Exception) -> str:
        known = known_fields(record)
        error = f"{type(exc).__name__}: {limited_repr(exc)}"
        if self.json:
            return json.dumps({**known, "error": f"the record cannot be formatted: {error}"})
        return (
            f"record {known['seq']}: {known['time']} {known['level']} {known['logger']}:"
            f" {known['message']} (the record cannot be formatted: {error})"
        )


class _CarefulFormatter(logging.Formatter):
    """A Formatter whose time never fails (1e300, infinity, NaN)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        try:
            return super().formatTime(record, datefmt)
        except Exception:
            return time_text(record.created)


# The standard attributes by the type logging gives them (see normalised()).
_STRINGS = ("name", "levelname", "pathname", "filename", "module")
_OPTIONAL_STRINGS = ("funcName", "threadName", "processName", "taskName", "exc_text", "stack_info")
_OPTIONAL_INTS = ("thread", "process")


def normalised(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of ``record`` whose standard attributes have logging's types:
    text as str (an odd value as its repr), levels, lines and ids as ints,
    times as floats (a value that is not a number as 0)."""
    out = copy.copy(record)
    attrs = out.__dict__
    for key in _STRINGS:
        if type(attrs.get(key)) is not str:
            attrs[key] = robust_repr(attrs.get(key))
    for key in _OPTIONAL_STRINGS:
        value = attrs.get(key)
        if value is not None and type(value) is not str:
            attrs[key] = robust_repr(value)
    for key in _OPTIONAL_INTS:
        value = attrs.get(key)
        if value is not None and type(value) is not int:
            attrs[key] = _whole(value)
    attrs["levelno"] = _whole(level_value(attrs.get("levelno")))
    attrs["lineno"] = _whole(attrs.get("lineno"))
    for key in ("created", "msecs", "relativeCreated"):
        attrs[key] = time_value(attrs.get(key))
    return out


def _whole(value: Any) -> int:
    """An int from a stored number (0 for anything else, NaN or infinity)."""
    if type(value) is int:
        return value
    try:
        return int(value) if isinstance(value, (int, float)) else 0
    except (ValueError, OverflowError):
        return 0


def known_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What can always be said about a record, as text: its number, time,
    level, logger and message."""
    attrs = record.__dict__
    return {
        "seq": attrs.get("capture_seq", "?"),
        "time": time_text(attrs.get("created")),
        "level": text_of(attrs.get("levelname")),
        "logger": text_of(attrs.get("name")),
        "message": text_of(_message(record)),
    }


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()  # a replayed record's never fails
    except Exception as exc:
        return f"(no message: {type(exc).__name__})"


def text_of(value: object) -> str:
    return value if type(value) is str else robust_repr(value)


class Progress:
    """A one-line progress display on stderr, only on a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        share = f" ({100 * done // total}%)" if total else ""
        sys.stderr.write(f"\r{self.label}: {done:,} of {total:,} records{share}\x1b[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
