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
``dict_tracebacks`` (under ``"exception"``), and as text (``"exc_text"``).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType
from typing import Any

try:
    from structlog.processors import dict_tracebacks
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


def _exc_info(value: Any) -> ExcInfo | None:
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    if value:
        info = sys.exc_info()
        return info if info[0] is not None else None
    return None


def prepare_event(event: dict[str, Any], method: str) -> tuple[dict[str, Any], int]:
    """The event to store (a copy, level set, exceptions as data and text) and its level."""
    event = dict(event)
    level = str(event.get("level") or ("error" if method == "exception" else method)).lower()
    event.setdefault("level", "info" if level == "msg" else level)
    if method == "exception":
        event.setdefault("exc_info", True)
    info = _exc_info(event.get("exc_info"))
    if info is not None:
        event["exc_text"] = "".join(traceback.format_exception(*info)).rstrip("\n")
        event["exc_info"] = info
        event = dict(dict_tracebacks(None, method, event))  # "exception": [stack dicts]
    else:
        event.pop("exc_info", None)
    levelno = _LEVELS.get(level, logging.getLevelName(level.upper()))
    return event, levelno if isinstance(levelno, int) else logging.INFO


class CaptureLogger:
    """What structlog's bound loggers call with the final event dict."""

    def __init__(self, handler: CaptureHandler, name: str | None = None) -> None:
        self._handler = handler
        self.name = name

    def _store(self, method: str, event: str | None = None, **fields: Any) -> None:
        if event is not None:
            fields = {"event": event, **fields}  # a renderer ran: keep its output
        if self.name and "logger" not in fields:
            fields["logger"] = self.name
        stored, levelno = prepare_event(fields, method)
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
        **commit_options: ``commit_every``, ``commit_interval``,
            ``commit_level``, ``durable``, ``delay``, ``compression_level``.

    Pending events are committed by :meth:`close`, and at interpreter exit
    (the underlying handler is closed by ``logging.shutdown()``).
    """

    def __init__(self, filename: str | os.PathLike[str], **commit_options: Any) -> None:
        self.handler = CaptureHandler(filename, **commit_options)

    def __call__(self, *args: Any) -> CaptureLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return CaptureLogger(self.handler, name)

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
    """

    def __init__(self, target: str | os.PathLike[str] | CaptureHandler, **commit_options: Any) -> None:
        self.handler = target if isinstance(target, CaptureHandler) else CaptureHandler(target, **commit_options)

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        stored, levelno = prepare_event(event_dict, method_name)
        self.handler.emit_event(stored, levelno)
        return event_dict

    def close(self) -> None:
        self.handler.close()
