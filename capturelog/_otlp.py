"""Replayed records as OpenTelemetry log records (OTLP protobuf messages).

Pure translation, no I/O: ``ship.py`` reads, sends and keeps the cursor. The
messages are the official ones (``opentelemetry-proto``); the mapping follows
OpenTelemetry's logs data model and semantic conventions, and agrees with
the SDK's own ``LoggingHandler`` where both say something:

=====================  ======================================================
OTLP field             from the record
=====================  ======================================================
time, observed time    ``created`` (the capture handler saw the record then)
severity_number        ``levelno`` as the SDK maps it (10 -> 5 DEBUG, 20 -> 9
                       INFO, 30 -> 13 WARN, 40 -> 17 ERROR, 50 -> 21 FATAL,
                       and up to 3 steps between; below 10 unspecified)
severity_text          ``levelname`` (WARNING as WARN, CRITICAL as FATAL)
body                   the rendered message
scope name             the logger's name
trace_id, span_id,     ``otelTraceID`` / ``otelSpanID`` / ``otelTraceSampled``
flags                  (what opentelemetry's logging instrumentation adds), or
                       ``trace_id`` / ``span_id`` holding hex ids
attributes             ``code.file.path``, ``code.function.name``,
                       ``code.line.number``, ``code.stacktrace`` (stack_info),
                       ``exception.type`` / ``.message`` / ``.stacktrace``
                       (from the stored traceback text), ``thread.id``,
                       ``thread.name``, ``process.pid``; the template and
                       arguments as ``capturelog.template`` and
                       ``capturelog.args`` when there were arguments;
                       ``capturelog.seq``; then every extra by its own name
resource               from the writer's metadata: ``service.name``,
                       ``host.name``, ``process.pid``,
                       ``process.command_line``,
                       ``process.runtime.version``; ``capturelog.stream``
                       and ``capturelog.file``
=====================  ======================================================

Extras keep their types where OTLP has one (text, bool, int64, double,
bytes, arrays, maps); others are text as ``capturelog cat -o json`` writes
them (datetimes in ISO 8601, Decimals as text...).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from ._codec import event_of, robust_repr
from ._jsonout import plain_value
from .replay import extras

__all__ = [
    "RequestBuilder",
    "Translator",
    "any_value",
    "resource_attributes",
    "severity",
]

_MAX_CACHED = 4096  # call sites and threads whose attributes are kept
# Nesting kept as arrays and maps; deeper is text. A map level is three
# protobuf message levels (AnyValue, KeyValueList, KeyValue), and common
# protobuf parsers refuse more than 100 levels in all (the request and the
# record take 6): 30 levels of maps stay well within that.
_MAX_DEPTH = 30
# Extras opentelemetry's logging instrumentation adds: read into the record's
# trace fields (or, for the service, left to the resource), not attributes.
_TRACE_KEYS = frozenset({"otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName"})
# The attributes a record gets from its own fields: an extra of the same
# name is left out (OTLP wants each name once).
_STANDARD_NAMES = frozenset(
    {
        "code.file.path", "code.function.name", "code.line.number", "code.stacktrace",
        "exception.type", "exception.message", "exception.stacktrace", "thread.id",
        "thread.name", "process.pid", "capturelog.template", "capturelog.args", "capturelog.seq",
    }
)  # fmt: skip
# What protobuf raises for a value it will not hold (text that is not UTF-8).
_REFUSED = (UnicodeEncodeError, ValueError, TypeError)
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def severity(levelno: Any) -> int:
    """A logging level as an OTLP SeverityNumber: each of logging's five
    levels starts a band of four (DEBUG 5..8, INFO 9..12, WARN 13..16, ERROR
    17..20, FATAL 21..24); a level a few above one takes the next steps."""
    if type(levelno) is not int or levelno < 10:
        return 0  # SEVERITY_NUMBER_UNSPECIFIED
    if levelno > 53:
        return 24
    band, step = divmod(levelno, 10)
    return 5 + 4 * (band - 1) + min(step, 3)


def _text(value: Any) -> str:
    return value if type(value) is str else robust_repr(value)


def _clean(text: str) -> str:
    """Text protobuf accepts (UTF-8): lone surrogates, from undecodable file
    names or bytes, as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


# Messages are given to protobuf as dicts, which it turns into messages in C:
# a message object passed into another is copied, which costs twice as much.
Value = dict[str, Any]  # an AnyValue, as a dict
Field = dict[str, Any]  # a KeyValue, as a dict


def any_value(  # noqa: PLR0911 - one exit per OTLP type, the common ones first
    value: Any, depth: int = 0, clean: bool = False
) -> Value:
    """``value`` as an OTLP AnyValue (a dict of its fields): OTLP's own types
    as themselves, containers as arrays and maps, anything else as ``cat -o
    json``'s text."""
    kind = type(value)
    if kind is str:
        return {"string_value": _clean(value) if clean else value}
    if kind is int:
        if -(2**63) <= value < 2**63:
            return {"int_value": value}
        return {"string_value": str(value)}
    if kind is float:
        return {"double_value": value}
    if kind is bool:
        return {"bool_value": value}
    if value is None:
        return {}  # OTLP's empty value
    if depth < _MAX_DEPTH and (kind is list or kind is tuple):
        return {"array_value": {"values": [any_value(v, depth + 1, clean) for v in value]}}
    if depth < _MAX_DEPTH and kind is dict:
        return _map(value, depth, clean)
    if kind is bytes:
        return {"bytes_value": value}
    return _other(value, depth, clean)


def _map(value: Mapping[Any, Any], depth: int, clean: bool) -> Value:
    return {
        "kvlist_value": {
            "values": [
                {
                    "key": _clean(_text(key)) if clean else _text(key),
                    "value": any_value(item, depth + 1, clean),
                }
                for key, item in value.items()
            ]
        }
    }


def _other(value: Any, depth: int, clean: bool) -> Value:
    """A value of none of the plain types: a subclass of one as that type,
    another mapping or set as a map or array, else its ``cat -o json`` text."""
    if not isinstance(value, Enum):
        for plain_type in (str, int, float):
            if isinstance(value, plain_type):
                return any_value(plain_type(value), depth, clean)
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return _map(value, depth, clean)
        if isinstance(value, (list, tuple, set, frozenset)):
            return {"array_value": {"values": [any_value(v, depth + 1, clean) for v in value]}}
        plain = plain_value(value)  # an Enum's value, a datetime's text...
        if plain is not value:
            return any_value(plain, depth + 1, True)
    return {"string_value": _clean(robust_repr(value))}


def _exception(text: str) -> tuple[str, str | None]:
    """The type and message of the last exception a formatted traceback
    shows: the first line after its last frame that does not start with a
    space is "pkg.Error: why", and the lines after it belong to the message
    (one of several lines, and the exception's notes). Without frames, the
    last such line."""
    lines = text.splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    start = frames[-1] + 1 if frames else 0
    heads = [i for i in range(start, len(lines)) if lines[i] and not lines[i][0].isspace()]
    if not heads:
        return "", None
    head = heads[0] if frames else heads[-1]
    kind, colon, message = lines[head].partition(": ")
    rest = "\n".join(lines[head + 1 :]).rstrip("\n")
    if not colon:
        return kind.strip(":"), (rest or None)
    return kind, message + ("\n" + rest if rest else "")


def _hex_id(value: Any, length: int) -> bytes | None:
    """A trace or span id written as hex, as bytes; None if it is not one
    (or is all zeros, which OTLP reads as no id)."""
    if type(value) is int:
        value = f"{value:0{length * 2}x}"
    if type(value) is not str or len(value) != length * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if any(raw) else None


class Translator:
    """Turns replayed records into the fields of OTLP LogRecords (see the
    module docstring). The attributes of a call site (file, function, line)
    and of a thread are made once: most records of a log come from a few
    hundred of each."""

    def __init__(self) -> None:
        self._sites: dict[tuple[Any, ...], list[Field]] = {}
        self._threads: dict[tuple[Any, ...], list[Field]] = {}

    def __call__(self, record: logging.LogRecord, clean: bool = False) -> dict[str, Any]:
        """One record as the fields of an OTLP LogRecord, for
        ``LogRecord(**fields)``. With ``clean``, text protobuf would refuse
        (lone surrogates, from undecodable names) is escaped: for a record
        whose fields protobuf refused."""
        attrs = record.__dict__
        levelname = attrs.get("levelname")
        if type(levelname) is str:
            level_text = _SEVERITY_TEXT.get(levelname, levelname)
        else:  # None, or an odd type from a crafted file
            level_text = "" if levelname is None else _text(levelname)
        site = (attrs.get("pathname"), attrs.get("funcName"), attrs.get("lineno"))
        thread = (attrs.get("thread"), attrs.get("threadName"), attrs.get("process"))
        fields = self._cached(self._sites, site, _site_fields, clean)
        fields += self._cached(self._threads, thread, _thread_fields, clean)
        fields += _failure_fields(attrs, clean)
        args = attrs.get("args")
        if args and event_of(record) is None:
            fields.append(_field("capturelog.template", attrs.get("msg"), clean))
            fields.append(_field("capturelog.args", args, clean))
        seq = attrs.get("capture_seq")
        if type(seq) is int:
            fields.append({"key": "capturelog.seq", "value": {"int_value": seq}})
        trace_id, span_id, flags = _extra_fields(extras(record), fields, clean)
        nanos = _nanos(attrs.get("created"))
        return {
            "time_unix_nano": nanos,
            "observed_time_unix_nano": nanos,
            "severity_number": severity(attrs.get("levelno")),
            "severity_text": _clean(level_text) if clean else level_text,
            "body": any_value(_message(record), 0, clean),
            "attributes": fields,
            "trace_id": trace_id,
            "span_id": span_id,
            "flags": flags,
        }

    @staticmethod
    def _cached(
        cache: dict[tuple[Any, ...], list[Field]],
        key: tuple[Any, ...],
        build: Callable[[tuple[Any, ...], bool], list[Field]],
        clean: bool,
    ) -> list[Field]:
        """A new list of the attributes ``build`` makes of ``key``, made once
        per key (not kept when escaped, or when the key cannot be hashed)."""
        try:
            found = cache.get(key)
        except TypeError:  # an unhashable value, from a crafted file
            return build(key, clean)
        if found is None:
            found = build(key, clean)
            if not clean:
                if len(cache) >= _MAX_CACHED:
                    cache.clear()
                cache[key] = found
        return list(found)


def _field(key: str, value: Any, clean: bool) -> Field:
    return {"key": key, "value": any_value(value, 0, clean)}


def _nanos(created: Any) -> int:
    """A record's time in nanoseconds since 1970; 0 (unknown, to OTLP) for a
    time that is not one, before 1970, or beyond what 64 bits hold."""
    if type(created) in (int, float) and math.isfinite(created) and 0 <= created < 9.2e9:
        return int(created * 1e9)
    return 0


def _message(record: logging.LogRecord) -> Any:
    try:
        return record.getMessage()
    except Exception:  # a crafted event: what is known of it
        return robust_repr(record.msg)


def _site_fields(site: tuple[Any, ...], clean: bool) -> list[Field]:
    pathname, function, lineno = site
    fields = []
    if type(pathname) is str and pathname:
        fields.append(_field("code.file.path", pathname, clean))
    if type(function) is str:
        fields.append(_field("code.function.name", function, clean))
    if type(lineno) is int and lineno > 0:
        fields.append(_field("code.line.number", lineno, clean))
    return fields


def _thread_fields(ids: tuple[Any, ...], clean: bool) -> list[Field]:
    thread, thread_name, process = ids
    fields = []
    if type(thread) is int:
        fields.append(_field("thread.id", thread, clean))
    if type(thread_name) is str:
        fields.append(_field("thread.name", thread_name, clean))
    if type(process) is int:
        fields.append(_field("process.pid", process, clean))
    return fields


def _failure_fields(attrs: dict[str, Any], clean: bool) -> list[Field]:
    """The stack (``code.stacktrace``) and the exception, from the stored
    traceback's text."""
    fields = []
    stack = attrs.get("stack_info")
    if stack:
        fields.append(_field("code.stacktrace", _text(stack), clean))
    traceback = attrs.get("exc_text")
    if traceback:
        traceback = _text(traceback)
        kind, reason = _exception(traceback)
        fields.append(_field("exception.type", kind, clean))
        if reason is not None:
            fields.append(_field("exception.message", reason, clean))
        fields.append(_field("exception.stacktrace", traceback, clean))
    return fields


def _extra_fields(
    own: dict[str, Any], fields: list[Field], clean: bool
) -> tuple[bytes, bytes, int]:
    """Add the extras to ``fields`` (a name the standard attributes took is
    left out); return the trace id, span id and trace flags among them."""
    if not own:
        return b"", b"", 0
    trace_id = _hex_id(own.get("otelTraceID", own.get("trace_id")), 16)
    span_id = _hex_id(own.get("otelSpanID", own.get("span_id")), 8)
    flags = 1 if own.get("otelTraceSampled") is True else 0  # W3C: sampled
    for key, value in own.items():
        if key in _TRACE_KEYS or key in _STANDARD_NAMES:
            continue
        if (key == "trace_id" and trace_id) or (key == "span_id" and span_id):
            continue
        fields.append({"key": _clean(key) if clean else key, "value": any_value(value, 0, clean)})
    return trace_id or b"", span_id or b"", flags


def resource_attributes(
    origin: Mapping[str, Any] | None,
    stream: str,
    file: str | None,
    service_name: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> list[Field]:
    """A resource for the records of one capture file, from what its writer
    wrote of itself (``ReplayReader.origin``)."""
    origin = origin or {}
    fields: dict[str, Any] = {}
    program = origin.get("program")
    if service_name is None:
        # As the SDKs name a service nobody named: by its executable's name.
        words = program.split() if type(program) is str else []
        executable = os.path.basename(words[0]) if words and words[0] != "-c" else ""
        service_name = f"unknown_service:{executable}" if executable else "unknown_service"
    fields["service.name"] = service_name
    for key, name in (
        ("host", "host.name"),
        ("pid", "process.pid"),
        ("program", "process.command_line"),
        ("python", "process.runtime.version"),
    ):
        if origin.get(key) is not None:
            fields[name] = origin[key]
    fields["capturelog.stream"] = stream
    if file is not None:
        fields["capturelog.file"] = os.path.abspath(file)
    fields.update(extra or {})
    return [{"key": _clean(k), "value": any_value(v, 0, True)} for k, v in fields.items()]


class RequestBuilder:
    """One export request, built record by record in place: one ResourceLogs
    per capture file (its resource made by ``resource(stream, file)``), each
    record under a scope named after its logger. Consecutive records of one
    logger share a ScopeLogs, so the records keep their order."""

    def __init__(self, translate: Translator, resource: Callable[[str, str], list[Field]]) -> None:
        self.request = ExportLogsServiceRequest()
        self._translate = translate
        self._resource = resource
        self._files: dict[tuple[str, str], Any] = {}  # -> its ResourceLogs
        self._scopes: dict[tuple[str, str], tuple[Any, Any]] = {}  # -> logger, ScopeLogs

    def add(self, stream: str, file: str, record: logging.LogRecord) -> int:
        """Add one record; return its size in the request, in bytes."""
        key = (stream, file)
        resource_logs = self._files.get(key)
        if resource_logs is None:
            resource_logs = self.request.resource_logs.add(
                resource={"attributes": self._resource(stream, file)}
            )
            self._files[key] = resource_logs
        name = record.name
        scope = self._scopes.get(key)
        if scope is None or scope[0] != name:
            text = _clean(name if type(name) is str else _text(name))
            scope = (name, resource_logs.scope_logs.add(scope={"name": text}))
            self._scopes[key] = scope
        records = scope[1].log_records
        try:
            message = records.add(**self._translate(record))
        except _REFUSED:  # nothing was added; escape what protobuf refused
            try:
                message = records.add(**self._translate(record, clean=True))
            except Exception as exc:
                message = records.add(**_unshippable(record, exc))
        except Exception as exc:  # a value no rule here foresaw: say so, still ship
            message = records.add(**_unshippable(record, exc))
        return int(message.ByteSize())


def _unshippable(record: logging.LogRecord, exc: Exception) -> dict[str, Any]:
    """A record that could not be translated, as a record saying so (with
    its number and time), so that it is not lost without a word."""
    attrs = record.__dict__
    seq = attrs.get("capture_seq")
    nanos = _nanos(attrs.get("created"))
    text = f"capturelog could not translate this record: {type(exc).__name__}: {exc}"
    return {
        "time_unix_nano": nanos,
        "observed_time_unix_nano": nanos,
        "severity_number": severity(attrs.get("levelno")),
        "body": {"string_value": _clean(text)},
        "attributes": [{"key": "capturelog.seq", "value": {"int_value": seq}}]
        if type(seq) is int
        else [],
    }
