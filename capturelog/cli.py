"""The ``capturelog`` command: read, search, follow and check capture files."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO, cast

from . import __version__
from ._codec import STANDARD_ATTRIBUTES, limited_repr, robust_repr
from ._locking import writer_active
from ._verify import verify
from .exceptions import CaptureFileError
from .replay import ReplayReader, level_value, time_value

__all__ = ["main"]

DEFAULT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
COLOURS = {
    logging.DEBUG: "\x1b[2m",  # dim
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
RESET = "\x1b[0m"


class UsageError(Exception):
    """A bad argument value, reported as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (the console script's entry point).

    The status is 0, 1 for an error (a bad argument, a missing, foreign or
    damaged file, a record that cannot be decoded), reported as one line on
    stderr, or 3 from ``verify`` for a damaged file. A record that decodes but
    cannot be formatted (a template that does not fit its arguments, a time
    out of range, a field of an odd type) is printed all the same, or as a
    fallback line, and does not change the status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Point stdout at
        # /dev/null so the interpreter's final flush does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except (CaptureFileError, OSError, UsageError, ValueError, TypeError, IndexError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror}"
        sys.stderr.write(f"capturelog: error: {message}\n")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capturelog",
        description="Read, search, follow and check capture files.",
    )
    parser.add_argument("--version", action="version", version=f"capturelog {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cat = commands.add_parser("cat", help="print records, filtered")
    cat.add_argument("paths", nargs="+", metavar="PATH")
    _filters(cat)
    _output(cat)
    cat.set_defaults(run=_cat)

    tail = commands.add_parser("tail", help="print the last records, or follow new ones")
    tail.add_argument("paths", nargs=1, metavar="PATH")
    tail.add_argument("-n", type=int, default=10, metavar="N", help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("--interval", type=float, default=0.5, help="seconds between checks with -f")
    _output(tail)
    tail.set_defaults(run=_tail)

    show = commands.add_parser("show", help="one record in full")
    show.add_argument("paths", nargs=1, metavar="PATH")
    show.add_argument("seq", type=int, metavar="SEQ")
    show.set_defaults(run=_show)

    stats = commands.add_parser("stats", help="counts, time span, size and state")
    stats.add_argument("paths", nargs=1, metavar="PATH")
    stats.set_defaults(run=_stats)

    check = commands.add_parser("verify", help="check every part of a file")
    check.add_argument("paths", nargs=1, metavar="PATH")
    check.add_argument("--raw", action="store_true", help="records are not capturelog maps")
    check.set_defaults(run=_verify)
    return parser


def _filters(parser: argparse.ArgumentParser) -> None:
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


def _output(parser: argparse.ArgumentParser) -> None:
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
        "level": _text(attrs.get("levelname")),
        "logger": _text(attrs.get("name")),
        "message": _text(_message(record)),
    }


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()  # a replayed record's never fails
    except Exception as exc:
        return f"(no message: {type(exc).__name__})"


def _text(value: object) -> str:
    return value if type(value) is str else robust_repr(value)


def record_as_json(record: logging.LogRecord) -> dict[str, Any]:
    """Every field of a replayed record, with the rendered message."""
    data: dict[str, Any] = {
        "seq": getattr(record, "capture_seq", None),
        "time": time_text(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key in ("exc_info", "message", "asctime") or key.startswith("_capture"):
            continue
        data.setdefault(key, value)
    return data


def json_line(data: dict[str, Any]) -> str:
    """One JSON object; values JSON cannot hold as their repr(), and, when
    that is not enough (keys that are not strings, nesting deeper than json
    recurses), the whole object made plain first."""
    try:
        return json.dumps(data, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_jsonable(data, 0), default=repr, ensure_ascii=False)


def _jsonable(value: Any, depth: int) -> Any:
    """``value`` with dict keys as text and containers deeper than 100 as text."""
    if isinstance(value, (dict, list, tuple)):
        if depth >= 100:
            return limited_repr(value)
        if isinstance(value, dict):
            return {
                (k if type(k) is str else robust_repr(k)): _jsonable(v, depth + 1)
                for k, v in value.items()
            }
        return [_jsonable(item, depth + 1) for item in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return robust_repr(value)


def time_text(created: Any) -> str:
    """A time as ISO 8601 in local time with milliseconds; a value that is not
    a representable time (1e300, infinity, NaN, not a number) as itself."""
    try:
        local = time.localtime(created)
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", local)
            + f".{int(created % 1 * 1000):03d}"
            + time.strftime("%z", local)
        )
    except Exception:
        return f"{limited_repr(created)} (not a time)"


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


# ----------------------------------------------------------------- commands


def _open(paths: list[str]) -> ReplayReader:
    # Text from a file may hold lone surrogates (stored as logged): escape
    # them rather than stop the output at the first one.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    for path in paths:
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file")
    return ReplayReader(paths)


def _cat(args: argparse.Namespace) -> int:
    with _open(args.paths) as reader:
        printer = Printer(args)
        records = reader.records(
            args.start,
            args.stop,
            level=args.level,
            logger=args.logger,
            since=args.since,
            until=args.until,
            match=args.grep,
            skew=args.skew,
        )
        # An export (--json) can be long: show progress when stderr is a terminal.
        progress = Progress("export") if args.json else None
        total = len(reader)
        for done, record in enumerate(records, 1):
            printer.write(record)
            if progress is not None and done % 5000 == 0:
                progress(record.capture_seq, total)  # type: ignore[attr-defined]
        if progress is not None:
            progress.done()
    return 0


def _tail(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise UsageError(f"-n must be 0 or more, not {args.n}")
    with _open(args.paths) as reader:
        printer = Printer(args)
        count = len(reader)
        for record in reader.records(max(1, count - args.n + 1)):
            printer.write(record)
        if args.follow:
            sys.stdout.flush()
            for record in reader.follow(count + 1, poll_interval=args.interval):
                printer.write(record)
                sys.stdout.flush()
    return 0


def _show(args: argparse.Namespace) -> int:
    with _open(args.paths) as reader:
        count = len(reader)
        if not 1 <= args.seq <= count:
            raise UsageError(f"{args.paths[0]}: no record {args.seq}; records are 1 to {count}")
        record = reader[args.seq]
        out = sys.stdout
        out.write(f"record {args.seq} of {count} in {args.paths[0]}\n")
        try:
            text = _details(record)
        except Exception as exc:  # a value no rule above foresaw: say what is known
            known = known_fields(record)
            error = f"{type(exc).__name__}: {limited_repr(exc)}"
            text = (
                f"  time:    {known['time']}\n  level:   {known['level']}\n"
                f"  logger:  {known['logger']}\n  message: {known['message']}\n"
                f"  (the record cannot be shown in full: {error})\n"
            )
        out.write(text)
    return 0


def _details(record: logging.LogRecord) -> str:
    """Every attribute of a record, one a line; values of any type (text as
    it is, anything else as its repr)."""
    lines = [
        f"  time:    {time_text(record.created)}",
        f"  level:   {_text(record.levelname)} ({_text(record.levelno)})",
        f"  logger:  {_text(record.name)}",
        f"  message: {record.getMessage()}",
        f"  template: {robust_repr(record.msg)}",
        f"  args:    {robust_repr(record.args)}",
    ]
    for key in (
        "pathname", "lineno", "funcName", "process", "processName", "thread", "threadName",
        "taskName", "relativeCreated",
    ):  # fmt: skip
        value = getattr(record, key, None)
        if value is not None:
            lines.append(f"  {key}: {_text(value)}")
    extras = {
        k: v
        for k, v in record.__dict__.items()
        if k not in STANDARD_ATTRIBUTES and not k.startswith(("capture_", "_capture"))
    }
    if extras:
        lines.append("  extra:")
        for key, value in sorted(extras.items()):
            lines.append(f"    {key}: {robust_repr(value)}")
    text = "".join(f"{line}\n" for line in lines)
    if record.exc_text:
        text += "  traceback:\n" + _indent(_text(record.exc_text))
    if record.stack_info:
        text += "  stack:\n" + _indent(_text(record.stack_info))
    return text


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


def _stats(args: argparse.Namespace) -> int:
    path = args.paths[0]
    with _open(args.paths) as reader:
        source = reader._sources[0]
        count = len(reader)
        progress = Progress("stats")
        levels: Counter[str] = Counter()
        loggers: Counter[str] = Counter()
        first = last = None
        raw = 0
        for n, payload in enumerate(source.cf, 1):
            raw += len(payload)
            record = source.decoder.record(source.decode(cast(bytes, payload), n), n)
            levels[_text(record.levelname)] += 1
            loggers[_text(record.name)] += 1
            created = time_value(record.created)
            if not math.isnan(created):  # a NaN time is left out of the span
                first = created if first is None else min(first, created)
                last = created if last is None else max(last, created)
            if n % 5000 == 0:
                progress(n, count)
        progress.done()
        view = source.cf._view
        # Compressed blocks in the file, plus the block not compressed yet
        # (it lives in the master node).
        data_size = view.limit - source.cf._config.data_start + len(view.pending)
        with open(path, "rb") as f:
            writing = writer_active(f.fileno())
    out = sys.stdout
    out.write(f"file:        {path}\n")
    out.write(f"records:     {count:,} committed\n")
    out.write(
        "state:       "
        + (
            "a writer has the file open (its uncommitted records are not counted)\n"
            if writing
            else "no writer has the file open\n"
        )
    )
    if first is not None and last is not None:
        out.write(f"time span:   {time_text(first)} .. {time_text(last)} ({last - first:,.3f} s)\n")
    size = os.path.getsize(path)
    ratio = f"{raw / data_size:.1f}" if data_size > 0 else "-"
    out.write(
        f"size:        {size:,} bytes on disk (grown ahead in steps), {data_size:,} bytes of"
        f" data for {raw:,} bytes of records (compression ratio {ratio})\n"
    )
    out.write("levels:\n")
    for name, n in sorted(levels.items(), key=lambda item: -item[1]):
        out.write(f"  {name:<10} {n:>10,}\n")
    out.write("loggers:\n")
    for name, n in loggers.most_common(20):
        out.write(f"  {name:<30} {n:>10,}\n")
    if len(loggers) > 20:
        out.write(f"  ... and {len(loggers) - 20} more\n")
    return 0


def _verify(args: argparse.Namespace) -> int:
    path = args.paths[0]
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    progress = Progress("verify")
    report = verify(path, decode_records=not args.raw, progress=progress)
    progress.done()
    if report.sound:
        sys.stdout.write(
            f"{path}: sound: {report.records:,} records, {report.blocks:,} blocks,"
            f" {report.index_nodes:,} index nodes\n"
        )
        for note in report.notes:
            sys.stdout.write(f"  note: {note}\n")
        return 0
    sys.stdout.write(f"{path}: DAMAGED: {len(report.problems)} problem(s)\n")
    for problem in report.problems:
        sys.stdout.write(f"  {problem}\n")
    for note in report.notes:
        sys.stdout.write(f"  note: {note}\n")
    return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
