"""Records as JSON: the mapping ``capturelog cat --json`` prints.

Every line is strict JSON (RFC 8259): no ``NaN`` or ``Infinity``, every key a
string, and text that encodes as UTF-8. A LogRecord and a structlog event
have the same shape: first ``seq`` (the record's number), ``time`` (local
time, RFC 3339 with milliseconds), ``level``, ``logger`` and ``message``, then
the record's own fields at the top level:

* a LogRecord: its other attributes (``name``, ``msg``, ``args``,
  ``levelname``, ``pathname``, ``lineno``, ``exc_text``...) and extras, as
  logging has them (``null`` when empty);
* an event: its own keys, except those the first five hold (``event``, which
  is the ``message``, ``level`` and ``logger``); no LogRecord fields.

Both end with what the reader adds (``capture_file``, the file's path).

A field named like one already written (an extra called ``time``) gets a
``_`` appended. Values are written as follows:

==================  ==========================================================
str, int, bool,     as they are
None
float               a number; NaN and the infinities as the strings ``"NaN"``,
                    ``"Infinity"``, ``"-Infinity"`` (as protobuf's JSON does)
list, tuple         an array
set, frozenset      an array, sorted when the items can be compared
dict                an object; a key that is not a string as its JSON text
                    (``1`` -> ``"1"``, ``None`` -> ``"null"``) or as below
datetime            ISO 8601 (``datetime.isoformat()``):
                    ``"2026-01-02T03:04:05.123456+01:00"``; no offset when naive
date, time          ISO 8601: ``"2026-01-02"``, ``"03:04:05.250000"``
timedelta           an ISO 8601 duration: ``"P1DT2H3M4.5S"``, ``"-PT0.25S"``,
                    ``"PT0S"``
Decimal             a string, so no digit is lost: ``"1.10"``, ``"NaN"``
UUID                its canonical string
pathlib paths       the path as a string
bytes               its repr(): ``"b'\\x00ab'"``
anything else       its repr() (a ``msgpack.ExtType`` of a newer writer's
                    type: ``[code, "b'...'"]``)
==================  ==========================================================
"""

from __future__ import annotations

import enum
import json
import logging
import math
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from ._codec import event_of, event_text_key, limited_repr, robust_repr

__all__ = [
    "COMMON_KEYS",
    "duration_text",
    "json_line",
    "plain_value",
    "record_as_json",
    "time_text",
]

COMMON_KEYS = ("seq", "time", "level", "logger", "message")
# Attributes a replayed LogRecord has that its JSON leaves out: always None
# (exc_info), a Formatter's leftovers, or already written (capture_seq).
_LEFT_OUT = frozenset({"exc_info", "message", "asctime", "capture_seq"})
_FLOAT_NAMES = {math.inf: "Infinity", -math.inf: "-Infinity"}
_MAX_DEPTH = 100  # containers deeper than this are written as text


def record_as_json(record: logging.LogRecord) -> dict[str, Any]:
    """A replayed record (or event) as the object ``--json`` writes: the
    five common keys, then its own fields (see the module docstring)."""
    data: dict[str, Any] = {
        "seq": getattr(record, "capture_seq", None),
        "time": time_text(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": "",
    }
    event = event_of(record)
    if event is None:
        data["message"] = record.getMessage()
        for key, value in record.__dict__.items():
            if key not in _LEFT_OUT and not key.startswith("_capture"):
                _put(data, key, value)
        return data
    text_key = event_text_key(event)
    if text_key is not None:
        text = event[text_key]
        data["message"] = text if type(text) is str else limited_repr(text)
    moved = {text_key, "level", "logger" if "logger" in event else "logger_name"}
    for key, value in event.items():
        if key not in moved:
            _put(data, key, value)
    for key, value in record.__dict__.items():  # what the reader adds (capture_file)
        if key.startswith("capture_") and key not in _LEFT_OUT:
            _put(data, key, value)
    return data


def _put(data: dict[str, Any], key: object, value: Any) -> None:
    name = key if type(key) is str else robust_repr(key)
    while name in data:
        name += "_"
    data[name] = value


def json_line(data: Any, pretty: bool = False) -> str:
    """``data`` as strict JSON: one line, or indented by 2 when ``pretty``.

    Values are written as the module docstring says. The usual object is written by
    one ``json.dumps``; one it refuses (a NaN, a key that is not a string,
    nesting deeper than it recurses) is first made plain, and text with lone
    surrogates (from undecodable file names) is written with ``\\u``
    escapes, so the result always encodes as UTF-8.
    """
    indent = 2 if pretty else None
    try:
        # An encoder made once: json.dumps with options builds one per call,
        # which costs more than encoding a record.
        text = (_PRETTY if pretty else _COMPACT).encode(data)
    except (TypeError, ValueError, RecursionError):
        data = _jsonable(data, 0)
        text = json.dumps(data, allow_nan=False, ensure_ascii=False, indent=indent)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(data, default=plain_value, allow_nan=False, indent=indent)
    return text


def _encoder(indent: int | None) -> json.JSONEncoder:
    return json.JSONEncoder(default=plain_value, allow_nan=False, ensure_ascii=False, indent=indent)


def plain_value(value: Any) -> Any:
    """What ``json.dumps`` writes for a value of a type it has no rule for."""
    try:
        if isinstance(value, (datetime, date, time_of_day)):
            return value.isoformat()
        if isinstance(value, timedelta):
            return duration_text(value)
        if isinstance(value, (Decimal, uuid.UUID, PurePath)):
            return str(value)
        if isinstance(value, (set, frozenset)):
            return _sorted(value)
        if isinstance(value, enum.Enum):
            return value.value  # dumps passes it to this function again if need be
    except Exception:  # a broken tzinfo or __str__: fall through to the repr
        pass
    return robust_repr(value)


def _sorted(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except Exception:  # items that cannot be compared: in stored order
        return list(items)


def _jsonable(value: Any, depth: int) -> Any:
    """``value`` made of JSON's types only (see the module docstring), so that
    ``json.dumps(allow_nan=False)`` takes it; containers deeper than
    ``_MAX_DEPTH`` as text."""
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if depth >= _MAX_DEPTH:
            return limited_repr(value)
        if isinstance(value, dict):
            return {_key(k): _jsonable(v, depth + 1) for k, v in value.items()}
        items = _sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(item, depth + 1) for item in items]
    if value is None or type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, enum.Enum):
        return _number(value)
    return _jsonable(plain_value(value), depth + 1) if depth < _MAX_DEPTH else robust_repr(value)


def _number(value: float) -> int | float | str:
    """A number as JSON holds it: NaN and the infinities as their names, an
    int too long for Python to print as its text."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _FLOAT_NAMES.get(value, "NaN")
    try:
        str(value)
    except ValueError:
        return limited_repr(value)
    return int(value)


def _key(key: Any) -> str:
    """A dict key as JSON writes it: text as it is, numbers, booleans and
    None as their JSON text, anything else as its mapped text or repr()."""
    if type(key) is str:
        return key
    if key is None or isinstance(key, (bool, int, float)):
        plain = _jsonable(key, _MAX_DEPTH)
        return plain if type(plain) is str else json.dumps(plain)
    mapped = plain_value(key)
    return mapped if type(mapped) is str else robust_repr(key)


def duration_text(value: timedelta) -> str:
    """A timedelta as an ISO 8601 duration in days, hours, minutes and
    seconds (``P1DT2H3M4.5S``; ``-`` before a negative one, as XML Schema
    allows; ``PT0S`` for none)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    days, micros = divmod(abs(micros), 86400 * 1_000_000)
    hours, micros = divmod(micros, 3600 * 1_000_000)
    minutes, micros = divmod(micros, 60 * 1_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if not clock and not days:
        clock = "0S"
    text = f"{sign}P" + (f"{days}D" if days else "")
    return f"{text}T{clock}" if clock else text


def time_text(created: Any) -> str:
    """A time as RFC 3339 (ISO 8601) in local time with milliseconds, as
    logging's ``msecs`` counts them; a value that is not a representable time
    (1e300, infinity, NaN, not a number) as itself."""
    try:
        local = time.localtime(created)
        zone = time.strftime("%z", local)
        if len(zone) == 5:  # +HHMM: RFC 3339 writes +HH:MM
            zone = f"{zone[:3]}:{zone[3:]}"
        return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{int(created % 1 * 1000):03d}" + zone
    except Exception:
        return f"{limited_repr(created)} (not a time)"


_COMPACT = _encoder(None)
_PRETTY = _encoder(2)
