"""structlog integration: store structlog's final event dicts in capture files.

structlog is an optional extra (``pip install capturelog[structlog]``); the
rest of capturelog imports without it. Three ways in:

* :class:`CaptureLoggerFactory` as ``structlog.configure(logger_factory=...)``:
  the event dict the processor chain ends with is stored as a structured map,
  no rendering needed;
* :class:`CaptureProcessor` in any chain: tees each event into a capture file
  and passes it on unchanged;
* the stdlib route (structlog -> ``ProcessorFormatter.wrap_for_formatter`` ->
  a ``CaptureHandler``): the record's ``msg`` is the event dict, stored as a map.

Events and LogRecords can share one file. ``ReplayReader.event(seq)`` returns
an event dict; ``reader[seq]`` gives a LogRecord standing for it. Exceptions
(``exc_info``) are kept as structured data, in the shape of structlog's
``dict_tracebacks`` (under ``"exception"``), and as text (``"exc_text"``);
the frames' local variables only with ``show_locals=True`` (they hold
passwords as readily as loop counters). An event that reaches us without a
``"timestamp"`` gets one: the time it was logged, in seconds since the epoch,
as ``structlog.processors.TimeStamper()`` would add it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from types import TracebackType
from typing import Any

try:
    from structlog.processors import ExceptionRenderer
    from structlog.tracebacks import ExceptionDictTransformer
except ImportError as exc:  # structlog is an optional extra
    raise ImportError(
        "capturelog.structlog needs structlog: pip install 'capturelog[structlog]'"
    ) from exc

from .handler import CaptureHandler

__all__ = ["CaptureLogger", "CaptureLoggerFactory", "CaptureProcessor"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# structlog's dict_tracebacks with and without each frame's local variables
# (structlog's own shows them).
_TRACEBACKS = {
    show: ExceptionRenderer(ExceptionDictTransformer(show_locals=show)) for show in (False, True)
}


def _exc_info(value: Any) -> ExcInfo | None:
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    if value:
        info = sys.exc_info()
        return info if info[0] is not None else None
    return None


def prepare_event(
    event: dict[str, Any], method: str, show_locals: bool = False
) -> tuple[dict[str, Any], int]:
    """The event to store (a copy, level and time set, exceptions as data and
    text, local variables only with ``show_locals``) and its level."""
    event = dict(event)
    if event.get("timestamp") is None:
        # No TimeStamper in the chain, or one whose output a renderer folded
        # into a string (structlog's default chain): the time it was logged.
        event["timestamp"] = time.time()
    level = str(event.get("level") or ("error" if method == "exception" else method)).lower()
    event.setdefault("level", "info" if level == "msg" else level)
    if method == "exception":
        event.setdefault("exc_info", True)
    info = _exc_info(event.get("exc_info"))
    if info is not None:
        event["exc_text"] = "".join(traceback.format_exception(*info)).rstrip("\n")
        event["exc_info"] = info
        # "exception": [stack dicts], as structlog's dict_tracebacks makes them
        event = dict(_TRACEBACKS[show_locals](None, method, event))
    else:
        event.pop("exc_info", None)
    levelno = _LEVELS.get(level, logging.getLevelName(level.upper()))
    return event, levelno if isinstance(levelno, int) else logging.INFO


class CaptureLogger:
    """What structlog's bound loggers call with the final event dict."""

    def __init__(
        self, handler: CaptureHandler, name: str | None = None, show_locals: bool = False
    ) -> None:
        self._handler = handler
        self.name = name
        self._show_locals = show_locals

    def _store(self, method: str, event: str | None = None, **fields: Any) -> None:
        if event is not None:
            fields = {"event": event, **fields}  # a renderer ran: keep its output
        if self.name and "logger" not in fields:
            fields["logger"] = self.name
        stored, levelno = prepare_event(fields, method, self._show_locals)
        self._handler.emit_event(stored, levelno)

    def msg(self, event: str | None = None, **fields: Any) -> None:
        self._store("msg", event, **fields)

    def debug(self, event: str | None = None, **fields: Any) -> None:
        self._store("debug", event, **fields)

    def info(self, event: str | None = None, **fields: Any) -> None:
        self._store("info", event, **fields)

    def warning(self, event: str | None = None, **fields: Any) -> None:
        self._store("warning", event, **fields)

    warn = warning

    def error(self, event: str | None = None, **fields: Any) -> None:
        self._store("error", event, **fields)

    def exception(self, event: str | None = None, **fields: Any) -> None:
        self._store("exception", event, **fields)

    def critical(self, event: str | None = None, **fields: Any) -> None:
        self._store("critical", event, **fields)

    fatal = critical

    def __repr__(self) -> str:
        return f"<CaptureLogger {self.name or ''} -> {self._handler.baseFilename}>"


class CaptureLoggerFactory:
    """A ``logger_factory`` for ``structlog.configure`` writing to one capture file.

    Args:
        filename: the capture file (``{pid}`` and the other fields of
            :class:`~capturelog.CaptureHandler` work here too).
        show_locals: store each traceback frame's local variables with an
            exception (off by default: they may hold secrets).
        **commit_options: ``commit_every``, ``commit_interval``,
            ``commit_level``, ``durable``, ``delay``, ``compression_level``,
            and ``rotation`` and ``retention`` to write the events as
            segments (see :class:`~capturelog.CaptureHandler`).

    Pending events are committed by :meth:`close`, and at interpreter exit
    (the underlying handler is closed by ``logging.shutdown()``).
    """

    def __init__(
        self, filename: str | os.PathLike[str], *, show_locals: bool = False, **commit_options: Any
    ) -> None:
        self.handler = CaptureHandler(filename, **commit_options)
        self.show_locals = show_locals

    def __call__(self, *args: Any) -> CaptureLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return CaptureLogger(self.handler, name, self.show_locals)

    def flush(self) -> None:
        """Commit every pending event."""
        self.handler.flush()

    def close(self) -> None:
        """Commit and close the file; idempotent."""
        self.handler.close()


class CaptureProcessor:
    """A processor that stores a copy of each event and passes it on unchanged.

    Args:
        target: a file name (a handler is made for it, with ``commit_options``)
            or an existing :class:`~capturelog.CaptureHandler` to share.
        show_locals: store each traceback frame's local variables with an
            exception (off by default: they may hold secrets).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | CaptureHandler,
        *,
        show_locals: bool = False,
        **commit_options: Any,
    ) -> None:
        if isinstance(target, CaptureHandler):
            self.handler = target
        else:
            self.handler = CaptureHandler(target, **commit_options)
        self.show_locals = show_locals

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        stored, levelno = prepare_event(event_dict, method_name, self.show_locals)
        self.handler.emit_event(stored, levelno)
        return event_dict

    def close(self) -> None:
        self.handler.close()
