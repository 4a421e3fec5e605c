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

from .._codec import event_of, limited_repr, robust_repr
from .._jsonout import json_line, record_as_json, time_text
from ..replay import extras, extras_text, level_value, time_value

DEFAULT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
COLOURS = {
    logging.DEBUG: "\x1b[2m",  # dim
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
RESET = "\x1b[0m"


OUTPUT_MODES = ("short", "json", "json-pretty", "cat", "verbose")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "-o", "--output", choices=OUTPUT_MODES, default="short", metavar="MODE",
        help="short: a line per record with its extras as key=value (the default); json: JSON"
        " Lines; json-pretty: indented JSON; cat: the message only; verbose: every field",
    )  # fmt: skip
    choice.add_argument(
        "--format", metavar="FMT",
        # argparse expands %-fields in help texts: the default's must be escaped.
        help=f"a logging format string (default {DEFAULT_FORMAT!r}); a field a record lacks"
        " prints empty".replace("%", "%%"),
    )  # fmt: skip
    choice.add_argument("--json", action="store_true", help="the same as -o json")
    group.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto",
        help="colour by level (auto: on a terminal, unless NO_COLOR is set)",
    )  # fmt: skip


class Printer:
    """Writes records in one of the ``OUTPUT_MODES`` or a ``--format``.

    A record that cannot be formatted never stops the output. Its standard
    fields are first made the types logging gives them (a record from a
    crafted file may hold a string ``levelno`` or an unformattable time) and
    it is formatted again; if that fails too (a ``--format`` field that
    needs a number), a fallback line gives its number, what is known and the
    error.
    """

    def __init__(self, args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
        self.out = out
        mode = getattr(args, "output", None) or "short"
        if getattr(args, "json", False):
            mode = "json"
        self.mode = mode
        fmt = getattr(args, "format", None)
        with_extras = fmt is None  # a format of one's own says what it shows
        self.formatter = _LineFormatter(fmt or DEFAULT_FORMAT, with_extras)
        self.careful = _CarefulFormatter(fmt or DEFAULT_FORMAT, with_extras)
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
        mode = self.mode
        plain = record.__dict__.get("capture_plain", False)
        if mode in ("json", "json-pretty"):
            data = plain_as_json(record) if plain else record_as_json(record)
            return json_line(data, pretty=mode == "json-pretty")
        if mode == "cat" or plain:
            text = record.getMessage()
            if plain and mode != "cat":
                text = f"{record.capture_seq} {text}"  # type: ignore[attr-defined]
            return text
        if mode == "verbose":
            return f"record {record.capture_seq} in {record.capture_file}\n" + details(record)  # type: ignore[attr-defined]
        text = formatter.format(record)
        colour = self.colour and COLOURS.get(record.levelno)
        if colour:
            text = f"{colour}{text}{RESET}"
        return text

    def _fallback(self, record: logging.LogRecord, exc: Exception) -> str:
        known = known_fields(record)
        error = f"{type(exc).__name__}: {limited_repr(exc)}"
        if self.mode in ("json", "json-pretty"):
            return json.dumps({**known, "error": f"the record cannot be formatted: {error}"})
        return (
            f"record {known['seq']}: {known['time']} {known['level']} {known['logger']}:"
            f" {known['message']} (the record cannot be formatted: {error})"
        )


def plain_as_json(record: logging.LogRecord) -> dict[str, Any]:
    """A record of a plain file (not a log record) as JSON: number, file, text."""
    attrs = record.__dict__
    return {"seq": attrs["capture_seq"], "file": attrs["capture_file"], "text": record.msg}


class _Fields(dict[str, Any]):
    """A record's attributes for a format string: a field the record lacks
    is empty rather than an error."""

    def __missing__(self, key: str) -> str:
        return ""


class _LineFormatter(logging.Formatter):
    """A logging Formatter for the command's lines: a field the record lacks
    prints empty; with ``with_extras``, the record's extras follow the message
    as ``key=value`` (a structlog event's are in its message already)."""

    def __init__(self, fmt: str, with_extras: bool) -> None:
        super().__init__(fmt)
        self.with_extras = with_extras

    def formatMessage(self, record: logging.LogRecord) -> str:
        line: str = self._style._fmt % _Fields(record.__dict__)
        if self.with_extras and not is_event(record):
            pairs = extras_text(record)
            if pairs:
                line = f"{line} {pairs}"
        return line


def is_event(record: logging.LogRecord) -> bool:
    """Whether a replayed record stands for a structlog event dict."""
    return event_of(record) is not None


class _CarefulFormatter(_LineFormatter):
    """A line formatter whose time never fails (1e300, infinity, NaN)."""

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


def details(record: logging.LogRecord) -> str:
    """Every field of a record, one a line, for ``show`` and ``-o verbose``:
    text as it is, any other value as its repr. Fields a record does not have
    (a structlog event has no path or line; a plain record only its text) are
    left out, never shown empty."""
    attrs = record.__dict__
    if attrs.get("capture_plain"):
        return f"  text:    {record.getMessage()}\n"
    lines = [
        f"  time:    {time_text(record.created)}",
        f"  level:   {text_of(record.levelname)} ({text_of(record.levelno)})",
        f"  logger:  {text_of(record.name)}",
        f"  message: {record.getMessage()}",
    ]
    event = is_event(record)
    if not event:
        lines.append(f"  template: {robust_repr(record.msg)}")
        lines.append(f"  args:    {robust_repr(record.args)}")
        for key in (
            "pathname", "lineno", "funcName", "process", "processName", "thread", "threadName",
            "taskName", "relativeCreated",
        ):  # fmt: skip
            value = attrs.get(key)
            if value is not None and value != "":
                lines.append(f"  {key}: {text_of(value)}")
    fields = extras(record)
    if fields:
        lines.append("  fields:" if event else "  extra:")
        for key, value in sorted(fields.items()):
            lines.append(f"    {key}: {text_of(value)}")
    text = "".join(f"{line}\n" for line in lines)
    if record.exc_text:
        text += "  traceback:\n" + _indent(text_of(record.exc_text))
    if record.stack_info:
        text += "  stack:\n" + _indent(text_of(record.stack_info))
    return text


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())
