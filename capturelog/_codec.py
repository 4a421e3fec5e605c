"""LogRecords and event dicts to msgpack maps and back: the one module that imports msgpack.

A stored record is one msgpack map. ``"k"`` names its kind (``"log"`` for a
``logging.LogRecord``, ``"event"`` for a structlog event dict) and ``"v"`` the
schema version, so kinds can share a file and later versions can add fields.
A LogRecord map holds its attributes under the short keys of ``KEYS`` (every
byte of every record is compressed, and compressing is the biggest cost of a
logging call after Python's own), leaves out what is derivable (``filename``
and ``module`` from ``pathname``, ``levelname`` for the standard levels) or
empty (``None``), and keeps ``extra`` attributes in a sub-map.
``expand()`` turns a stored map back into the attribute names.

``msg`` and ``args`` are stored as data. A value msgpack cannot hold is stored
as its ``repr()`` (never pickled); the record then also stores the rendered
``message``, so a replayed ``getMessage()`` returns exactly the original text.
Tuples nested in arguments keep their type (an extension type), since ``%s``
renders a tuple and a list differently. Decoding never runs code from the
file: extension types other than ours come back as ``msgpack.ExtType`` values.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgpack

__all__ = [
    "EVENT_KIND",
    "KEYS",
    "LOGGING_KIND",
    "SCHEMA",
    "RecordDecoder",
    "RecordEncoder",
    "expand",
    "pack_data",
    "record_time",
    "unpack_data",
]

SCHEMA = 1
LOGGING_KIND = "log"
EVENT_KIND = "event"

# Schema 1: stored key -> LogRecord attribute (or meaning).
KEYS = {
    "k": "kind", "v": "schema", "n": "name", "m": "msg", "a": "args", "l": "levelno",
    "L": "levelname", "p": "pathname", "f": "filename", "mo": "module", "ln": "lineno",
    "fn": "funcName", "c": "created", "ms": "msecs", "r": "relativeCreated", "t": "thread",
    "tn": "threadName", "P": "process", "pn": "processName", "tk": "taskName",
    "x": "exc_text", "s": "stack_info", "e": "extra", "txt": "message", "ev": "event",
    "st": "startTime",
}  # fmt: skip
_TUPLE = 1  # msgpack extension code for a tuple

# Attributes every LogRecord has (and the two a Formatter adds); anything else
# in a record's __dict__ came from ``extra`` or a filter.
STANDARD_ATTRIBUTES = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
        "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
        "relativeCreated", "thread", "threadName", "processName", "process", "taskName",
        "message", "asctime",
    }
)  # fmt: skip
_STANDARD_LEVELS = {
    logging.CRITICAL: "CRITICAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARNING",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
    logging.NOTSET: "NOTSET",
}


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the record
        return f"<{type(value).__qualname__} object; repr() failed: {exc!r}>"


class _Packing:
    """One reusable msgpack Packer plus a flag that says a value was replaced."""

    def __init__(self) -> None:
        self.lossy = False
        self.packer = msgpack.Packer(
            use_bin_type=True,
            strict_types=True,  # so tuples, and subclasses of str/int/dict, reach default
            unicode_errors="surrogatepass",
            default=self._default,
        )

    def _default(self, value: object) -> object:
        if type(value) is tuple:
            inner = _Packing()  # a Packer cannot be re-entered from its own default
            packed = inner.packer.pack(list(value))
            self.lossy = self.lossy or inner.lossy
            return msgpack.ExtType(_TUPLE, packed)
        # A subclass (an IntEnum, a lazy string): keep the plain value; its own
        # rendering may differ, so the message is stored as well.
        if isinstance(value, str):
            self.lossy = True
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            self.lossy = True
            return int(value)
        if isinstance(value, float):
            self.lossy = True
            return float(value)
        if isinstance(value, bytes):
            self.lossy = True
            return bytes(value)
        if isinstance(value, dict):
            self.lossy = True
            return dict(value)
        if isinstance(value, list):
            self.lossy = True
            return list(value)
        self.lossy = True
        return _safe_repr(value)


def pack_data(value: object) -> bytes:
    """Pack plain data with the same rules as records (tuples kept, others repr'd)."""
    return bytes(_Packing().packer.pack(value))


def _ext_hook(code: int, data: bytes) -> object:
    if code == _TUPLE:
        return tuple(unpack_data(data))
    return msgpack.ExtType(code, data)


_TIME_FIRST = b"\xa1c\xcb"  # after a map header: key "c", then a float64
_FLOAT = struct.Struct(">d")
# The three times of a record as map entries, each a float64: "c", "ms" and
# "r", or "c", "ms" and "st" when relativeCreated follows from the start time.
_TIMES = struct.Struct(">3sd4sd3sd")
_TIMES_START = struct.Struct(">3sd4sd4sd")
_ID_TYPES = frozenset({int, type(None)})  # thread and process ids (None when not collected)
_MAX_CACHED = 4096
_MAX_CACHED_MESSAGE = 1024  # characters of a message template kept in the cache


# msgpack map16 headers, used even for small maps, so the time sits at offset 3.
_MAP16 = tuple(b"\xde" + entries.to_bytes(2, "big") for entries in range(32))


def _array_header_size(items: int) -> int:
    return 1 if items < 16 else 3 if items < 2**16 else 5


def record_time(payload: bytes) -> float | None:
    """The time of a stored ``log`` record read straight from its bytes (the
    encoder puts it first), or None when the record is not laid out that way."""
    if not payload:
        return None
    head = payload[0]
    start = 1 if head & 0xF0 == 0x80 else 3 if head == 0xDE else 0  # fixmap, map16
    if start and payload[start : start + 3] == _TIME_FIRST and len(payload) >= start + 11:
        return float(_FLOAT.unpack_from(payload, start + 3)[0])
    return None


def unpack_data(data: bytes) -> Any:
    """Unpack one stored value; allocations are bounded by ``len(data)``."""
    return msgpack.unpackb(
        data,
        raw=False,
        strict_map_key=False,
        ext_hook=_ext_hook,
        unicode_errors="surrogatepass",
    )


class RecordEncoder:
    """Turns LogRecords into stored bytes; one per handler (it reuses a Packer).

    Not thread-safe on its own: the handler calls it under its lock.
    """

    def __init__(self, format_exception: Callable[[Any], str] | None = None) -> None:
        self._packing = _Packing()
        self._format_exception = format_exception or logging.Formatter().formatException
        self._paths: dict[str, tuple[str, str]] = {}
        # How many attributes a LogRecord made by this Python has without extras.
        self._plain_size = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
        # logging's start time, when LogRecords compute relativeCreated from it
        # as (created - start) * 1000 (up to Python 3.12; 3.13 counts in
        # nanoseconds). A record whose relativeCreated is exactly that stores
        # the start time instead: the same bytes in every record, so they cost
        # next to nothing compressed, unlike a changing float.
        start = getattr(logging, "_startTime", None)
        self._start: float | None = start if type(start) is float else None
        # Packed map entries per call site and per thread (see encode).
        self._sites: dict[tuple[Any, ...], tuple[int, bytes]] = {}
        self._threads: dict[tuple[Any, ...], tuple[int, bytes]] = {}

    def encode(self, record: logging.LogRecord) -> bytes:
        """The record as one msgpack map (see the module docstring)."""
        # The fast path, for the usual record: no extras, no traceback, a str
        # template. What one call site always logs (logger, template, level,
        # place) and what one thread always has (its ids and names) are packed
        # once and kept as ready-made map entries; only the times and the
        # arguments are packed per record. Anything unusual, or a value that
        # would be stored other than as itself, takes the careful path below,
        # which gives the same map.
        attrs = record.__dict__
        msg = attrs["msg"]
        levelno = attrs["levelno"]
        lineno = attrs["lineno"]
        created = attrs["created"]
        msecs = attrs["msecs"]
        relative = attrs["relativeCreated"]
        thread = attrs["thread"]
        process = attrs["process"]
        if (
            type(msg) is not str
            or type(levelno) is not int
            or type(lineno) is not int
            or type(created) is not float
            or type(msecs) is not float
            or type(relative) is not float
            or type(thread) not in _ID_TYPES
            or type(process) not in _ID_TYPES
            or len(attrs) != self._plain_size
            or attrs["exc_info"]
            or attrs["exc_text"]
            or attrs["stack_info"]
        ):
            return self._encode_careful(record)
        site_key = (
            attrs["name"], msg, levelno, attrs["levelname"], attrs["pathname"],
            attrs["filename"], attrs["module"], lineno, attrs["funcName"],
        )  # fmt: skip
        site = self._sites.get(site_key)
        if site is None:
            site = self._site_entries(site_key)
            if site is None:
                return self._encode_careful(record)
        thread_key = (
            thread,
            attrs["threadName"],
            process,
            attrs["processName"],
            attrs.get("taskName"),
        )
        ids = self._threads.get(thread_key)
        if ids is None:
            ids = self._thread_entries(thread_key)
            if ids is None:
                return self._encode_careful(record)
        start = self._start
        if start is not None and relative and relative == (created - start) * 1000:
            times = _TIMES_START.pack(
                b"\xa1c\xcb", created, b"\xa2ms\xcb", msecs, b"\xa2st\xcb", start
            )
        else:
            times = _TIMES.pack(b"\xa1c\xcb", created, b"\xa2ms\xcb", msecs, b"\xa1r\xcb", relative)
        args = attrs["args"]
        if type(args) is tuple:
            if not args:
                return b"".join(
                    (
                        _MAP16[3 + site[0] + ids[0]],
                        times,
                        site[1],
                        ids[1],
                    )
                )
            args = list(args)  # top level: the decoder makes it a tuple again
        packing = self._packing
        packing.lossy = False
        try:
            packed_args = packing.packer.pack(args)
        except Exception:
            return self._encode_careful(record)
        if packing.lossy:
            return self._encode_careful(record)
        return b"".join(
            (
                _MAP16[4 + site[0] + ids[0]],
                times,
                site[1],
                ids[1],
                b"\xa1a",
                packed_args,
            )
        )

    def _site_entries(self, key: tuple[Any, ...]) -> tuple[int, bytes] | None:
        """The map entries of one call site, packed (None if they would not be
        stored as they are)."""
        name, msg, levelno, levelname, pathname, filename, module, lineno, func = key
        # Entries are shared by every record whose key is equal, and 1 == True
        # == 1.0: only plain strings (checked here, once) may stand in a key
        # beside the ints checked per record. Long messages are not kept, so
        # the cache stays small in bytes as well as in entries.
        if len(msg) > _MAX_CACHED_MESSAGE or not all(
            type(value) is str for value in (name, levelname, pathname, filename, module)
        ):
            return None
        if func is not None and type(func) is not str:
            return None
        items: list[Any] = ["k", LOGGING_KIND, "v", SCHEMA, "n", name, "m", msg, "l", levelno,
                            "p", pathname, "ln", lineno, "fn", func]  # fmt: skip
        if _STANDARD_LEVELS.get(levelno) != levelname:
            items += ("L", levelname)
        if _file_and_module(pathname) != (filename, module):
            items += ("f", filename, "mo", module)
        return self._entries(self._sites, key, items)

    def _thread_entries(self, key: tuple[Any, ...]) -> tuple[int, bytes] | None:
        """The map entries of one thread (and task), packed."""
        thread, thread_name, process, process_name, task = key
        if not all(
            value is None or type(value) is str for value in (thread_name, process_name, task)
        ):
            return None  # see _site_entries
        items: list[Any] = ["t", thread, "tn", thread_name, "P", process, "pn", process_name]
        if task is not None:
            items += ("tk", task)
        return self._entries(self._threads, key, items)

    def _entries(
        self,
        cache: dict[tuple[Any, ...], tuple[int, bytes]],
        key: tuple[Any, ...],
        items: list[Any],
    ) -> tuple[int, bytes] | None:
        packing = self._packing
        packing.lossy = False
        try:
            packed = packing.packer.pack(items)
        except Exception:
            return None
        if packing.lossy:
            return None
        # Keys made per record (f-string messages) must not grow memory without bound.
        if len(cache) >= _MAX_CACHED:
            cache.clear()
        entries = cache[key] = (len(items) // 2, packed[_array_header_size(len(items)) :])
        return entries

    def _encode_careful(self, record: logging.LogRecord) -> bytes:
        """Any record, with every check; the same map as the fast path."""
        attrs = record.__dict__
        levelno = attrs["levelno"]
        data: dict[str, Any] = {
            # The time goes first, so a time search can read it at a fixed
            # offset without unpacking the record (see record_time).
            "c": attrs["created"],
            "k": LOGGING_KIND,
            "v": SCHEMA,
            "n": attrs["name"],
            "m": attrs["msg"],
            "l": levelno,
            "p": attrs["pathname"],
            "ln": attrs["lineno"],
            "fn": attrs["funcName"],
            # msecs is stored, not derived: Python versions compute it differently.
            "ms": attrs["msecs"],
            "t": attrs["thread"],
            "tn": attrs["threadName"],
            "P": attrs["process"],
            "pn": attrs["processName"],
        }
        relative = attrs["relativeCreated"]
        start = self._start
        if (
            start is not None
            and type(relative) is float
            and relative  # a zero is stored as it is, to keep the sign of -0.0
            and relative == _relative(attrs["created"], start)
        ):
            data["st"] = start
        else:
            data["r"] = relative
        args = attrs["args"]
        if type(args) is tuple:
            if args:
                data["a"] = list(args)  # top level: the decoder makes it a tuple again
        else:
            data["a"] = args  # a mapping, or None for a pre-rendered message
        if attrs["exc_info"] or attrs["exc_text"] or attrs["stack_info"]:
            if attrs["exc_info"] and not attrs["exc_text"]:
                # As logging.Formatter does: format once, keep it on the record.
                record.exc_text = self._format_exception(attrs["exc_info"])
            if attrs["exc_text"]:
                data["x"] = attrs["exc_text"]
            if attrs["stack_info"]:
                data["s"] = attrs["stack_info"]
        if _STANDARD_LEVELS.get(levelno) != attrs["levelname"]:
            data["L"] = attrs["levelname"]
        derived = self._paths.get(attrs["pathname"])
        if derived is None:
            derived = self._paths[attrs["pathname"]] = _file_and_module(attrs["pathname"])
        if derived[0] != attrs["filename"] or derived[1] != attrs["module"]:
            data["f"] = attrs["filename"]
            data["mo"] = attrs["module"]
        task = attrs.get("taskName")
        if task is not None:
            data["tk"] = task
        if len(attrs) != self._plain_size:
            # Something beyond a plain LogRecord's attributes: extras, or what
            # a Formatter added (message, asctime).
            extra = attrs.keys() - STANDARD_ATTRIBUTES
            if extra:
                data["e"] = {key: attrs[key] for key in extra}
        packing = self._packing
        packing.lossy = False
        try:
            packed: bytes = packing.packer.pack(data)
        except Exception:
            return self._pack(data, record)  # the slow, careful way
        if packing.lossy:
            return self._pack(data, record)
        return packed

    def encode_event(self, event: dict[str, Any]) -> bytes:
        """A structlog event dict (already processed) as one ``event`` map."""
        data = {"k": EVENT_KIND, "v": SCHEMA, "ev": event}
        return self._pack(data, None)

    def _pack(self, data: dict[str, Any], record: logging.LogRecord | None) -> bytes:
        packing = self._packing
        packing.lossy = False
        try:
            packed: bytes = packing.packer.pack(data)
        except Exception:
            # Something msgpack rejects outright (a dict with non-string-like
            # keys it cannot order, a value its default returned badly): store
            # every value as plain data or text instead.
            packing.packer.reset()
            data = _plain(data)
            packing.lossy = True
            packed = packing.packer.pack(data)
        if packing.lossy and record is not None:
            data["txt"] = _render(record)
            packed = packing.packer.pack(data)
        return packed


def _plain(value: Any) -> Any:
    """``value`` with everything msgpack cannot hold turned into text."""
    if value is None or type(value) in (bool, float, str, bytes):
        return value
    if type(value) is int:
        return value if -(2**63) <= value < 2**64 else _safe_repr(value)
    if type(value) is tuple:
        return msgpack.ExtType(_TUPLE, pack_data([_plain(item) for item in value]))
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {(k if type(k) is str else _safe_repr(k)): _plain(v) for k, v in value.items()}
    return _safe_repr(value)


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as exc:
        return f"{record.msg!r} % {record.args!r} (formatting failed: {exc!r})"


def _file_and_module(pathname: str) -> tuple[str, str]:
    """What LogRecord.__init__ derives from a pathname."""
    try:
        filename = os.path.basename(pathname)
        return filename, os.path.splitext(filename)[0]
    except (TypeError, ValueError, AttributeError):
        return pathname, "Unknown module"


class ReplayedRecord(logging.LogRecord):
    """A LogRecord rebuilt from a capture file.

    ``capture_seq`` is its record number in the file. When the stored record
    kept its rendered message (an argument could not be stored as data),
    ``getMessage()`` returns that text, exactly as the original rendered.
    """

    capture_seq: int

    def getMessage(self) -> str:  # noqa: N802 - the logging API's name
        message = self.__dict__.get("_capture_message")
        if message is not None:
            return str(message)
        return super().getMessage()


class RecordDecoder:
    """Turns stored bytes back into LogRecords or plain dicts."""

    def __init__(self) -> None:
        self._paths: dict[str, tuple[str, str]] = {}
        self._has_task = sys.version_info >= (3, 12)

    def data(self, payload: bytes) -> Any:
        return unpack_data(payload)

    def record(self, data: dict[str, Any], seq: int) -> logging.LogRecord:
        """A LogRecord from a decoded ``log`` map (or an ``event`` map)."""
        if data.get("k") == EVENT_KIND:
            return self._event_record(data, seq)
        get = data.get
        pathname = get("p", "")
        derived = self._paths.get(pathname)
        if derived is None:
            derived = self._paths[pathname] = _file_and_module(pathname)
        created = get("c", 0.0)
        levelno = get("l", logging.NOTSET)
        args = get("a", ())
        attrs: dict[str, Any] = {
            "name": get("n", "root"),
            "msg": get("m", ""),
            "args": tuple(args) if type(args) is list else args,
            "levelname": get("L") or _STANDARD_LEVELS.get(levelno) or logging.getLevelName(levelno),
            "levelno": levelno,
            "pathname": pathname,
            "filename": get("f", derived[0]),
            "module": get("mo", derived[1]),
            "exc_info": None,
            "exc_text": get("x"),
            "stack_info": get("s"),
            "lineno": get("ln", 0),
            "funcName": get("fn"),
            "created": created,
            "msecs": get("ms", int((created - int(created)) * 1000) + 0.0),
            "relativeCreated": get("r", 0.0) if "r" in data else _relative(created, get("st")),
            "thread": get("t"),
            "threadName": get("tn"),
            "processName": get("pn"),
            "process": get("P"),
        }
        if self._has_task or "tk" in data:
            attrs["taskName"] = get("tk")
        extra = get("e")
        if isinstance(extra, dict):
            for key, value in extra.items():
                if isinstance(key, str) and key not in attrs:
                    attrs[key] = value
        if "txt" in data:
            attrs["_capture_message"] = data["txt"]
        attrs["capture_seq"] = seq
        record = ReplayedRecord.__new__(ReplayedRecord)
        record.__dict__.update(attrs)
        return record

    def _event_record(self, data: dict[str, Any], seq: int) -> logging.LogRecord:
        """A LogRecord standing for a structlog event dict."""
        event = data.get("ev")
        if not isinstance(event, dict):
            event = {"event": event}
        level = str(event.get("level", "info")).upper()
        levelno = logging.getLevelName(level)
        if not isinstance(levelno, int):
            levelno = logging.INFO
        created = _timestamp(event.get("timestamp"))
        attrs: dict[str, Any] = {
            "name": str(event.get("logger", event.get("logger_name", "structlog"))),
            "msg": event,
            "args": None,
            "levelname": level,
            "levelno": levelno,
            "pathname": "",
            "filename": "",
            "module": "",
            "exc_info": None,
            "exc_text": _event_exc_text(event),
            "stack_info": event.get("stack") if isinstance(event.get("stack"), str) else None,
            "lineno": 0,
            "funcName": None,
            "created": created,
            "msecs": int((created - int(created)) * 1000) + 0.0,
            "relativeCreated": 0.0,
            "thread": None,
            "threadName": None,
            "processName": None,
            "process": None,
            "taskName": None,
            "_capture_message": _event_message(event),
            "capture_seq": seq,
        }
        record = ReplayedRecord.__new__(ReplayedRecord)
        record.__dict__.update(attrs)
        return record


_EVENT_QUIET = frozenset(
    {"event", "level", "timestamp", "logger", "logger_name", "exception", "exc_text"}
)


def _event_message(event: dict[str, Any]) -> str:
    """An event as one line: its message, then its other fields as key=value."""
    fields = " ".join(f"{key}={value!r}" for key, value in event.items() if key not in _EVENT_QUIET)
    text = str(event.get("event", ""))
    return f"{text} {fields}" if fields else text


def _event_exc_text(event: dict[str, Any]) -> str | None:
    """The traceback text of an event: ours (exc_text) or format_exc_info's."""
    for key in ("exc_text", "exception"):
        value = event.get(key)
        if isinstance(value, str):
            return value
    return None


def expand(data: dict[str, Any]) -> dict[str, Any]:
    """A stored map with its short keys spelled out as attribute names
    (relativeCreated computed when the start time was stored instead)."""
    out = {KEYS.get(key, key): value for key, value in data.items() if key != "st"}
    if "st" in data and "r" not in data:
        out["relativeCreated"] = _relative(data.get("c"), data["st"])
    return out


def _relative(created: Any, start: Any) -> Any:
    """relativeCreated as Python up to 3.12 computes it (0.0 for odd values)."""
    try:
        return (created - start) * 1000
    except TypeError:
        return 0.0


def _timestamp(value: object) -> float:
    """Epoch seconds from a structlog timestamp (a number or an ISO string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0
