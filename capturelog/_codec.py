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

``msg`` and ``args`` are stored as data, and so are values of the common
types msgpack has no type for: tuples, sets and frozensets (``%s`` renders a
tuple and a list differently), ``datetime``, ``date``, ``time``,
``timedelta``, ``Decimal``, ``UUID`` and ``pathlib`` paths, each as one of
our extension types (see "Values msgpack has no type for" below), decoded
back to the same type. An ``Enum`` member is stored as its value (its class
may not exist where the file is read), a subclass of the types above (not
of tuple: a named tuple is stored as its repr) or of str, int, float, bytes,
list and dict as its base type, and anything else as its ``repr()`` (never
pickled). Whenever a record holds such a value
(other than a tuple) it also stores the rendered ``message``, so a replayed
``getMessage()`` returns exactly the original text: a replaced value, a set
(its order depends on the process's hash seed) and a reader older than
these types (it decodes the record and sees each such value as
``msgpack.ExtType(code, payload)``) all give the message the writer saw.
Decoding never runs code from the file: extension types other than ours
come back as ``msgpack.ExtType`` values.

Nesting is bounded on both sides (see ``MAX_TUPLE_DEPTH``; sets and
frozensets count as tuples there). The encoder stores tuples nested deeper
than the bound as text (a repr cut only in depth) and the rendered message
with them; the decoder refuses deeper tuples, and msgpack itself refuses
containers nested more than 1024 deep in one value, both with
``DecodeError``. No stored value makes encoding or decoding
recurse without bound.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import reprlib
import struct
import sys
import uuid
import zoneinfo
from collections.abc import Callable, Collection
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path, PosixPath, PurePath, PurePosixPath, PureWindowsPath, WindowsPath
from time import time as _now  # datetime.time is "time" here
from typing import Any

import msgpack

__all__ = [
    "EVENT_KIND",
    "KEYS",
    "LOGGING_KIND",
    "MAX_TUPLE_DEPTH",
    "SCHEMA",
    "DecodeError",
    "RecordDecoder",
    "RecordEncoder",
    "event_of",
    "event_text_key",
    "expand",
    "limited_repr",
    "pack_data",
    "record_time",
    "render_failure",
    "robust_repr",
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
# msgpack extension codes (msgpack keeps the negative ones for itself, -1
# being its Timestamp). Readers older than codes 2 to 10 know only _TUPLE
# and return the others as msgpack.ExtType(code, payload): the record
# decodes, and its message is stored as text for them (module docstring).
_TUPLE = 1  # payload: a msgpack array of the items
_SET = 2  # as _TUPLE
_FROZENSET = 3  # as _TUPLE
_DATETIME = 4
_DATE = 5
_TIME = 6
_TIMEDELTA = 7
_DECIMAL = 8
_UUID = 9
_PATH = 10

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


# How deep tuples may nest in a stored value. A tuple is a msgpack extension
# whose payload is packed on its own, so each level is one more encode (a
# Packer and a Python call) and one more decode, and it is the decode that
# costs C stack: msgpack.unpackb keeps its unpack context (a 1024-entry stack
# of 40-byte entries) on the C stack, about 43 KiB a call. Measured here
# (x86-64 Linux, CPython 3.11, msgpack 1.2) with unpackb at every level,
# tuples nested 194 deep overflowed the main thread's 8 MiB stack (SIGSEGV),
# 23 deep a 1 MiB thread stack (what musl builds of Python use; glibc threads
# get 8 MiB, musl's own default is 128 KiB, and threading.stack_size() goes
# down to 32 KiB), 1 deep a 128 KiB one. So only the record itself and a tuple
# directly in it (the usual case) use unpackb; payloads inside a tuple are
# decoded by a msgpack.Unpacker, which keeps the context on the heap: about
# 1.1 KiB of C stack a level, but 0.5 us slower to make. A decode in a thread
# then needs about 47 KiB of stack for a record without tuples, 90 KiB with
# one tuple, 99 KiB with tuples 8 deep, 107 KiB at this bound, and a hostile
# record nested 400 deep is refused within 110 KiB (measured as the smallest
# threading.stack_size() that decodes). Logged values nest a few tuples deep.
MAX_TUPLE_DEPTH = 16
# How deep the careful fallback (_plain, for values msgpack refused) keeps
# containers before it stores the rest as text; msgpack's Packer refuses
# more than 511 levels and its unpacker more than 1024 in one value.
_MAX_PLAIN_DEPTH = 100


class DecodeError(ValueError):
    """A stored value that is not one capturelog wrote (or could have)."""


class _TextRepr(reprlib.Repr):
    """repr() cut only in depth: no limit on sizes, and no call that can fail."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = MAX_TUPLE_DEPTH
        for name in (
            "maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset",
            "maxdeque", "maxstring", "maxlong", "maxother",
        ):  # fmt: skip
            setattr(self, name, sys.maxsize)

    def repr_int(self, x: int, level: int) -> str:
        try:
            return repr(x)
        except ValueError:  # more digits than int-to-str conversion allows
            return f"<int of {x.bit_length()} bits>"

    def repr_instance(self, x: object, level: int) -> str:
        return _safe_repr(x)


_TEXT_REPR = _TextRepr()


def limited_repr(value: object) -> str:
    """repr(value) with containers nested deeper than ``MAX_TUPLE_DEPTH`` cut to
    ``(...)``; bounded recursion, and never raises."""
    try:
        return _TEXT_REPR.repr(value)
    except Exception:  # a class named like a builtin type, or recursion from deep inside
        return f"<{type(value).__qualname__} object>"


def render_failure(msg: object, args: object, exc: BaseException) -> str:
    """The text standing for a message whose ``msg % args`` failed: the
    template, the arguments and the error (what logging's own handlers report)."""
    return f"{limited_repr(msg)} % {limited_repr(args)} (formatting failed: {limited_repr(exc)})"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the record
        return f"<{type(value).__qualname__} object; repr() failed: {exc!r}>"


class _Packing:
    """One reusable msgpack Packer plus ``needs_message``, a flag that says
    the record must store its rendered message as well: a value was replaced
    (a repr, a subclass's or an Enum's plain value), or stored as one of our
    types other than a tuple (a set's order differs in another process, and
    older readers see our newer types as ExtType; see the module docstring).

    ``depth`` is how many tuples or sets enclose what this Packer packs: each
    is packed by the next Packer in a chain (one per depth, made when first
    needed), and stored as text beyond ``MAX_TUPLE_DEPTH``.
    """

    def __init__(self, depth: int = 0) -> None:
        self.needs_message = False
        self._depth = depth
        self._inner: _Packing | None = None
        self.packer = msgpack.Packer(
            use_bin_type=True,
            strict_types=True,  # so tuples, and subclasses of str/int/dict, reach default
            unicode_errors="surrogatepass",
            default=self._default,
            buf_size=256 * 1024 if depth == 0 else 4096,  # it grows as needed
        )

    def _default(self, value: object) -> object:
        kind = type(value)
        if kind is tuple:
            return self._container(_TUPLE, value)  # type: ignore[arg-type]
        self.needs_message = True
        if kind is set:
            return self._container(_SET, value)  # type: ignore[arg-type]
        if kind is frozenset:
            return self._container(_FROZENSET, value)  # type: ignore[arg-type]
        try:
            ext = _value_ext(value)
            return ext if ext is not None else self._replacement(value)
        except Exception:  # a broken tzinfo, __str__ or property: keep the record
            return _safe_repr(value)

    def _replacement(self, value: object) -> object:
        """What stands for a value of a type not stored as itself."""
        if isinstance(value, enum.Enum):
            # Its value, as msgpack holds it or as one of our types (a
            # default's result is not passed to default again).
            return self._default(_enum_value(value))
        code = _container_code(value)
        if code is not None:
            return self._container(code, value)  # type: ignore[arg-type]
        # A subclass (a lazy string, a markup string): keep the plain value;
        # its own rendering may differ, so the message is stored as well.
        for base in _PLAIN_BASES:
            if isinstance(value, base):
                return base(value)
        return _safe_repr(value)

    def _container(self, code: int, value: Collection[Any]) -> object:
        """A tuple, set or frozenset as our extension, packed by the next
        Packer in the chain (a Packer cannot be re-entered from its own
        default; the one a level deeper is free here, as only deeper levels
        are in use), or as text beyond ``MAX_TUPLE_DEPTH``."""
        if self._depth >= MAX_TUPLE_DEPTH:
            self.needs_message = True
            return limited_repr(value)
        inner = self._inner
        if inner is None:
            inner = self._inner = _Packing(self._depth + 1)
        inner.needs_message = False
        packed = inner.packer.pack(list(value))
        if inner.needs_message:
            self.needs_message = True
        return msgpack.ExtType(code, packed)


# Types msgpack holds whose subclasses are stored as them (bool has none).
_PLAIN_BASES: tuple[type[Any], ...] = (str, int, float, bytes, dict, list)


def _enum_value(member: enum.Enum) -> object:
    """What an Enum member is stored as: its value (the value's value, for
    an Enum of Enum members), or its repr when that value cannot be hashed
    (the member can: it may be a set item or a dict key, which must decode)."""
    value: object = member
    for _ in range(100):
        if not isinstance(value, enum.Enum):
            try:
                hash(value)
            except Exception:
                return _safe_repr(member)
            return value
        value = value.value
    return _safe_repr(member)


def pack_data(value: object) -> bytes:
    """Pack plain data with the same rules as records (our types kept, others repr'd)."""
    return bytes(_Packing().packer.pack(value))


# ------------------------------------------------- values msgpack has no type for
#
# Each is one extension type whose payload has a fixed layout (struct), so
# decoding one needs no msgpack call and no recursion. A payload that does not
# fit its layout is a DecodeError, like any other undecodable value.
#
# datetime (ext 4):
#   0: nanoseconds (uint32; whole microseconds) and 4: seconds (int64) since
#      1970-01-01T00:00 -- msgpack's 96-bit Timestamp layout -- of the UTC
#      instant of an aware datetime, or of the wall clock of a naive one,
#      counted as if it were UTC;
#  12: flags (uint8): 1 fold, 2 aware;
#  13: when aware, the UTC offset in microseconds (int64);
#  then to the end: the zone's IANA name (ASCII), when it has one (a
#      zoneinfo.ZoneInfo's key, a pytz zone's name).
# A reader restores that zone when it knows it and the zone gives the stored
# offset at that time (with the stored fold, or else the other one); else a
# fixed-offset datetime.timezone: the instant and the offset always survive.
_DATETIME_HEAD = struct.Struct(">IqB")
_OFFSET = struct.Struct(">q")
_FOLD = 1
_AWARE = 2
# date (ext 5): 0: its proleptic Gregorian ordinal (int32), date.toordinal().
_DATE_LAYOUT = struct.Struct(">i")
# time (ext 6): 0: hour, 1: minute, 2: second (uint8 each), 3: microsecond
# (uint32), 7: flags as datetime's; then, as datetime's, the offset when
# aware and the zone's name (a time's zone gives an offset only when fixed).
_TIME_HEAD = struct.Struct(">BBBIB")
# timedelta (ext 7): 0: days, 4: seconds, 8: microseconds (int32 each), as
# timedelta keeps them.
_TIMEDELTA_LAYOUT = struct.Struct(">iii")
# Decimal (ext 8): str(value), ASCII (every Decimal, NaN and infinities too).
# UUID (ext 9): its 16 bytes.
# path (ext 10): 0: kind (uint8): 0 PurePosixPath, 1 PureWindowsPath,
#   2 PosixPath, 3 WindowsPath; then to the end str(path), UTF-8 (lone
#   surrogates kept, as os.fsdecode makes them). A concrete path of the other
#   system's kind comes back as the pure one (it cannot be made there).
_PATH_CLASSES: tuple[type[PurePath], ...] = (
    PurePosixPath,
    PureWindowsPath,
    PurePosixPath if os.name == "nt" else PosixPath,
    WindowsPath if os.name == "nt" else PureWindowsPath,
)

_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MICRO = 1_000_000
_MAX_ZONE_NAME = 255  # bytes; IANA names are under 40


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * _MICRO + delta.microseconds


def _zone_name(zone: tzinfo | None) -> bytes:
    """The IANA name a zone is known by, or b"" (fixed offsets have none)."""
    if zone is None or isinstance(zone, timezone):
        return b""
    name = zone.key if isinstance(zone, zoneinfo.ZoneInfo) else getattr(zone, "zone", None)
    if type(name) is not str or not name.isascii() or not 0 < len(name) <= _MAX_ZONE_NAME:
        return b""
    return name.encode("ascii")


def _encode_datetime(value: datetime) -> msgpack.ExtType:
    offset = value.utcoffset()
    wall = (value.toordinal() - _EPOCH_ORDINAL) * 86400
    wall += value.hour * 3600 + value.minute * 60 + value.second
    micros = wall * _MICRO + value.microsecond
    flags = _FOLD if value.fold else 0
    tail = b""
    if offset is not None:
        offset_micros = _micros(offset)
        micros -= offset_micros
        flags |= _AWARE
        tail = _OFFSET.pack(offset_micros)
    seconds, micro = divmod(micros, _MICRO)
    head = _DATETIME_HEAD.pack(micro * 1000, seconds, flags)
    return msgpack.ExtType(_DATETIME, head + tail + _zone_name(value.tzinfo))


def _encode_date(value: date) -> msgpack.ExtType:
    return msgpack.ExtType(_DATE, _DATE_LAYOUT.pack(value.toordinal()))


def _encode_time(value: time) -> msgpack.ExtType:
    offset = value.utcoffset()
    flags = _FOLD if value.fold else 0
    tail = b""
    if offset is not None:
        flags |= _AWARE
        tail = _OFFSET.pack(_micros(offset))
    head = _TIME_HEAD.pack(value.hour, value.minute, value.second, value.microsecond, flags)
    return msgpack.ExtType(_TIME, head + tail + _zone_name(value.tzinfo))


def _encode_timedelta(value: timedelta) -> msgpack.ExtType:
    return msgpack.ExtType(
        _TIMEDELTA, _TIMEDELTA_LAYOUT.pack(value.days, value.seconds, value.microseconds)
    )


def _encode_decimal(value: Decimal) -> msgpack.ExtType:
    return msgpack.ExtType(_DECIMAL, Decimal.__str__(value).encode("ascii"))


def _encode_uuid(value: uuid.UUID) -> msgpack.ExtType:
    return msgpack.ExtType(_UUID, value.bytes)


def _encode_path(value: PurePath) -> msgpack.ExtType:
    kind = (2 if isinstance(value, Path) else 0) + isinstance(value, PureWindowsPath)
    text = PurePath.__str__(value).encode("utf-8", "surrogatepass")
    return msgpack.ExtType(_PATH, bytes((kind,)) + text)


# By base class, most derived first (a datetime is a date).
_VALUE_BASES: tuple[tuple[type, Callable[[Any], msgpack.ExtType]], ...] = (
    (datetime, _encode_datetime),
    (date, _encode_date),
    (time, _encode_time),
    (timedelta, _encode_timedelta),
    (Decimal, _encode_decimal),
    (uuid.UUID, _encode_uuid),
    (PurePath, _encode_path),
)
_VALUE_ENCODERS: dict[type, Callable[[Any], msgpack.ExtType]] = {
    **dict(_VALUE_BASES),
    PurePosixPath: _encode_path,
    PureWindowsPath: _encode_path,
    PosixPath: _encode_path,
    WindowsPath: _encode_path,
}


def _value_ext(value: object) -> msgpack.ExtType | None:
    """``value`` as one of our value extensions (a subclass as its base
    type), or None when it is of none of their types."""
    encode = _VALUE_ENCODERS.get(type(value))
    if encode is None:
        for base, base_encode in _VALUE_BASES:
            if isinstance(value, base):
                encode = base_encode
                break
        else:
            return None
    return encode(value)


@functools.lru_cache(maxsize=64)
def _zone(name: bytes) -> tzinfo | None:
    """The zone of an IANA name, or None where this reader has none by that name."""
    try:
        return zoneinfo.ZoneInfo(name.decode("ascii"))
    except Exception:  # not known here (no tzdata), or not a zone's name at all
        return None


@functools.lru_cache(maxsize=64)
def _epoch(offset_micros: int | None) -> datetime:
    """1970-01-01T00:00, naive or at a fixed UTC offset: adding the wall
    clock's time since then gives a decoded datetime at once."""
    if offset_micros is None:
        return _EPOCH
    return _EPOCH.replace(tzinfo=timezone(timedelta(microseconds=offset_micros)))


def _decode_datetime(data: bytes) -> datetime:
    nanos, seconds, flags = _DATETIME_HEAD.unpack_from(data)
    if flags & ~(_FOLD | _AWARE) or nanos >= 10**9:
        raise DecodeError("a datetime extension with unknown flags or nanoseconds")
    position = _DATETIME_HEAD.size
    offset_micros: int | None = None
    if flags & _AWARE:
        offset_micros = _OFFSET.unpack_from(data, position)[0]
        position += _OFFSET.size
    # Aware: the stored instant plus the offset is the wall clock.
    wall = _epoch(offset_micros) + timedelta(0, seconds, nanos // 1000 + (offset_micros or 0))
    fold = flags & _FOLD
    name = data[position:]
    if name:
        zone = _zone(name) if len(name) <= _MAX_ZONE_NAME else None
        if zone is not None:
            offset = wall.utcoffset()
            for candidate in (fold, 1 - fold):
                value = wall.replace(tzinfo=zone, fold=candidate)
                if value.utcoffset() == offset:
                    return value
    return wall.replace(fold=1) if fold else wall


def _decode_date(data: bytes) -> date:
    return date.fromordinal(_DATE_LAYOUT.unpack(data)[0])


def _decode_time(data: bytes) -> time:
    hour, minute, second, micro, flags = _TIME_HEAD.unpack_from(data)
    if flags & ~(_FOLD | _AWARE):
        raise DecodeError("a time extension with unknown flags")
    value = time(hour, minute, second, micro, fold=flags & _FOLD)
    position = _TIME_HEAD.size
    offset: timedelta | None = None
    if flags & _AWARE:
        offset = timedelta(microseconds=_OFFSET.unpack_from(data, position)[0])
        position += _OFFSET.size
    name = data[position:]
    if name:
        zone = _zone(name) if len(name) <= _MAX_ZONE_NAME else None
        if zone is not None and value.replace(tzinfo=zone).utcoffset() == offset:
            return value.replace(tzinfo=zone)
    return value if offset is None else value.replace(tzinfo=timezone(offset))


def _decode_timedelta(data: bytes) -> timedelta:
    days, seconds, micros = _TIMEDELTA_LAYOUT.unpack(data)
    return timedelta(days, seconds, micros)


def _decode_decimal(data: bytes) -> Decimal:
    return Decimal(data.decode("ascii"))


def _decode_uuid(data: bytes) -> uuid.UUID:
    if len(data) != 16:
        raise DecodeError("a UUID extension that is not 16 bytes")
    return uuid.UUID(bytes=data)


def _decode_path(data: bytes) -> PurePath:
    if not data or data[0] >= len(_PATH_CLASSES):
        raise DecodeError("a path extension of no known kind")
    return _PATH_CLASSES[data[0]](data[1:].decode("utf-8", "surrogatepass"))


_VALUE_DECODERS: dict[int, Callable[[bytes], object]] = {
    _DATETIME: _decode_datetime,
    _DATE: _decode_date,
    _TIME: _decode_time,
    _TIMEDELTA: _decode_timedelta,
    _DECIMAL: _decode_decimal,
    _UUID: _decode_uuid,
    _PATH: _decode_path,
}
_EXT_NAMES = {
    _TUPLE: "tuple", _SET: "set", _FROZENSET: "frozenset", _DATETIME: "datetime",
    _DATE: "date", _TIME: "time", _TIMEDELTA: "timedelta", _DECIMAL: "Decimal",
    _UUID: "UUID", _PATH: "path",
}  # fmt: skip
_CONTAINERS = frozenset({_TUPLE, _SET, _FROZENSET})


def _value(code: int, data: bytes) -> object:
    """One of our value extensions decoded; any other code as msgpack.ExtType."""
    decode = _VALUE_DECODERS.get(code)
    if decode is None:
        return msgpack.ExtType(code, data)
    try:
        return decode(data)
    except (DecodeError, MemoryError):
        raise
    except Exception as exc:  # struct.error, ValueError, OverflowError, InvalidOperation
        raise DecodeError(
            f"a {_EXT_NAMES[code]} extension capturelog did not write ({describe_error(exc)})"
        ) from exc


def _collection(code: int, items: Any) -> object:
    """A decoded tuple, set or frozenset extension from its payload's value."""
    if type(items) is not list:
        raise DecodeError(f"a {_EXT_NAMES[code]} extension that does not hold an array")
    if code == _TUPLE:
        return tuple(items)
    try:
        return set(items) if code == _SET else frozenset(items)
    except (TypeError, ValueError) as exc:  # an item that cannot be hashed
        raise DecodeError(
            f"a {_EXT_NAMES[code]} extension holding a value a set cannot hold"
        ) from exc


def _container_hook(inner: Callable[[int, bytes], object]) -> Callable[[int, bytes], object]:
    """The ext hook for one depth: a tuple's or set's payload is unpacked with
    ``inner`` as its hook, by an Unpacker (its unpack context lives on the
    heap, see MAX_TUPLE_DEPTH), and must hold exactly one array."""

    def hook(code: int, data: bytes) -> object:
        if code not in _CONTAINERS:
            return _value(code, data)
        unpacker = msgpack.Unpacker(
            raw=False,
            strict_map_key=False,
            ext_hook=inner,
            unicode_errors="surrogatepass",
            max_buffer_size=max(len(data), 1),  # allocations bounded by the payload
        )
        unpacker.feed(data)
        items = unpacker.unpack()
        if type(items) is not list or unpacker.tell() != len(data):
            raise DecodeError(
                f"a {_EXT_NAMES[code]} extension that does not hold exactly one array"
            )
        return _collection(code, items)

    return hook


def _outer_container_hook(
    inner: Callable[[int, bytes], object],
) -> Callable[[int, bytes], object]:
    """The ext hook of the stored record itself: a tuple or set there (the
    usual case, and the only one for most records) is unpacked by unpackb,
    faster than making an Unpacker by about 0.5 us; those inside it use
    ``inner``."""

    def hook(code: int, data: bytes) -> object:
        if code not in _CONTAINERS:
            return _value(code, data)
        items = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            ext_hook=inner,
            unicode_errors="surrogatepass",
        )
        return _collection(code, items)

    return hook


def _too_deep(code: int, data: bytes) -> object:
    if code not in _CONTAINERS:
        return _value(code, data)
    raise DecodeError(f"tuples nested more than {MAX_TUPLE_DEPTH} deep (sets count as tuples)")


def _ext_hooks() -> list[Callable[[int, bytes], object]]:
    """Hooks by remaining depth: [0] refuses a tuple or set, [n] allows n
    more levels. The depth is carried by which hook runs, so a value without
    tuples pays nothing for it."""
    hooks: list[Callable[[int, bytes], object]] = [_too_deep]
    for _ in range(MAX_TUPLE_DEPTH - 1):
        hooks.append(_container_hook(hooks[-1]))
    hooks.append(_outer_container_hook(hooks[-1]))
    return hooks


_ext_hook = _ext_hooks()[MAX_TUPLE_DEPTH]


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
    """Unpack one stored value; allocations are bounded by ``len(data)``.

    Raises:
        DecodeError: ``data`` is not one msgpack value as capturelog writes
            them (whatever msgpack or a hook raised is its ``__cause__``).
    """
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            ext_hook=_ext_hook,
            unicode_errors="surrogatepass",
        )
    except (DecodeError, MemoryError):
        raise
    except Exception as exc:
        raise DecodeError(describe_error(exc)) from exc


# msgpack's errors whose text is empty, or says too little.
_MSGPACK_ERRORS = {
    "StackError": "containers nested more than 1024 deep (msgpack's limit)",
    "FormatError": "not valid msgpack",
    "ExtraData": "bytes after the end of the value",
    "OutOfData": "the value is cut short",
}


def describe_error(exc: BaseException) -> str:
    """An exception as one short line: its type and its text."""
    name = type(exc).__name__
    if isinstance(exc, DecodeError):
        return str(exc)  # says it all, and names its cause
    text = _MSGPACK_ERRORS.get(name) if type(exc).__module__.startswith("msgpack") else None
    if text is None:
        try:
            text = str(exc)
        except Exception:
            text = ""
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{name}: {text}" if text else name


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

    def encode(self, record: logging.LogRecord) -> bytes:  # noqa: PLR0911 - the fast path's exits
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
        packing.needs_message = False
        try:
            packed_args = packing.packer.pack(args)
        except Exception:
            return self._encode_careful(record)
        if packing.needs_message:
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
        packing.needs_message = False
        try:
            packed = packing.packer.pack(items)
        except Exception:
            return None
        if packing.needs_message:
            return None
        # Keys made per record (f-string messages) must not grow memory without bound.
        if len(cache) >= _MAX_CACHED:
            cache.clear()
        entries = cache[key] = (len(items) // 2, packed[_array_header_size(len(items)) :])
        return entries

    def _encode_careful(  # noqa: PLR0912 - a branch per optional key, in map order
        self, record: logging.LogRecord
    ) -> bytes:
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
        packing.needs_message = False
        try:
            packed: bytes = packing.packer.pack(data)
            if packing.needs_message:
                data["txt"] = _render(record)
                packed = packing.packer.pack(data)
        except Exception:
            data.pop("txt", None)
            return self._pack(data, record)  # the slow, careful way
        return packed

    def encode_event(self, event: dict[str, Any]) -> bytes:
        """A structlog event dict (already processed) as one ``event`` map,
        with the time it is stored first (as a ``log`` map's), so every event
        has a time the reader and the time search can read, whatever the
        processor chain made of ``timestamp``."""
        data = {"c": _now(), "k": EVENT_KIND, "v": SCHEMA, "ev": event}
        return self._pack(data, None)

    def _pack(self, data: dict[str, Any], record: logging.LogRecord | None) -> bytes:
        packing = self._packing
        packing.needs_message = False
        try:
            packed: bytes = packing.packer.pack(data)
        except Exception:
            # Something msgpack rejects outright (a dict with non-string-like
            # keys it cannot order, a value its default returned badly): store
            # every value as plain data or text instead.
            packing.packer.reset()
            data = _plain(data)
            packing.needs_message = True
            packed = packing.packer.pack(data)
        if packing.needs_message and record is not None:
            data["txt"] = _render(record)
            packed = packing.packer.pack(data)
        return packed


def _fits_msgpack(value: int) -> bool:
    """Whether msgpack can hold the int (64 bits, signed or not)."""
    return -(2**63) <= value < 2**64


def _plain(value: Any, depth: int = 0, tuples: int = 0) -> Any:
    """``value`` with everything msgpack cannot hold made storable: tuples and
    sets as our extensions (pre-packed), our value types as theirs, Enum
    members as their values, other values as their repr(), and containers
    nested deeper than ``_MAX_PLAIN_DEPTH`` (tuples and sets deeper than
    ``MAX_TUPLE_DEPTH``) as text, so it recurses a bounded number of times."""
    kind = type(value)
    if value is None or kind in (bool, float, str, bytes) or (kind is int and _fits_msgpack(value)):
        return value
    if isinstance(value, enum.Enum):
        return _plain(_enum_value(value), depth, tuples)
    code = _TUPLE if kind is tuple else _container_code(value)
    if code is not None or isinstance(value, (list, dict)):
        return _plain_container(value, code, depth, tuples)
    if kind is int or isinstance(value, tuple):  # past 64 bits; a named tuple, as the Packer
        return limited_repr(value)
    try:
        ext = _value_ext(value)
    except Exception:  # a broken tzinfo or __str__
        ext = None
    return ext if ext is not None else _safe_repr(value)


def _plain_container(value: Any, code: int | None, depth: int, tuples: int) -> Any:
    """A list or dict (``code`` None), tuple or set made plain by ``_plain``."""
    if depth >= _MAX_PLAIN_DEPTH or (code is not None and tuples >= MAX_TUPLE_DEPTH):
        return limited_repr(value)
    depth += 1
    if isinstance(value, dict):
        return {
            (k if type(k) is str else limited_repr(k)): _plain(v, depth, tuples)
            for k, v in value.items()
        }
    if code is None:
        return [_plain(item, depth, tuples) for item in value]
    items = [_plain(item, depth, tuples + 1) for item in value]
    if code != _TUPLE:
        # Set items must decode hashable: a list or map made here (from a
        # subclass that could be hashed) is stored as text instead.
        items = [
            limited_repr(original) if isinstance(item, (list, dict)) else item
            for original, item in zip(value, items, strict=True)
        ]
    packed = msgpack.packb(
        items, use_bin_type=True, strict_types=True, unicode_errors="surrogatepass"
    )
    return msgpack.ExtType(code, packed)


def _container_code(value: object) -> int | None:
    if isinstance(value, frozenset):
        return _FROZENSET
    if isinstance(value, set):
        return _SET
    return None


def _render(record: logging.LogRecord) -> str:
    """The record's message, or the text saying why it could not be rendered."""
    try:
        return record.getMessage()
    except Exception as exc:  # a malformed call, or a value too deep to render
        return render_failure(record.msg, record.args, exc)


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

    ``getMessage()`` never raises. A record whose ``msg % args`` fails (a
    malformed logging call, such as ``"%(user)s"`` with a mapping that lacks
    ``user`` or ``"%d"`` with a string, which logging stores without
    complaint) gives text naming the template, the arguments and the error,
    as logging's own handlers report such a call: ``'%d' % ('x',)
    (formatting failed: TypeError(...))``. Searches (``match=``, ``--grep``)
    look in that text.
    """

    capture_seq: int

    def getMessage(self) -> str:
        message = self.__dict__.get("_capture_message")
        if message is not None:
            return message if type(message) is str else limited_repr(message)
        msg = self.msg
        try:
            text = msg if type(msg) is str else str(msg)
            args = self.args
            if args:
                text = text % args
            return text
        except Exception as exc:
            return render_failure(msg, self.args, exc)


class RecordDecoder:
    """Turns stored bytes back into LogRecords or plain dicts.

    Stored values are passed through as they are, whatever their type: a
    record that carried an odd value (``lineno`` a float, ``name`` a number,
    ``created`` 1e300 or NaN) comes back with it, as does a crafted file's
    (``levelno`` a string, ``msg`` a dict, ``exc_text`` a number...). Only
    what the decoder derives has logging's type: ``levelname`` (when not
    stored) is a str, ``filename`` and ``module`` follow from ``pathname``
    as LogRecord derives them, ``msecs`` (when not stored) and
    ``relativeCreated`` (when computed from the start time) are floats, 0.0
    when they cannot be computed. Building a record never raises, and every
    consumer in capturelog (filters, merging, replay(), the command) copes
    with any type; code of your own reading files it did not write should
    expect the same.
    """

    def __init__(self) -> None:
        self._paths: dict[str, tuple[str, str]] = {}
        self._has_task = sys.version_info >= (3, 12)

    def data(self, payload: bytes) -> Any:
        return unpack_data(payload)

    def record(self, data: dict[str, Any], seq: int) -> logging.LogRecord:
        """A LogRecord from a decoded ``log`` map (or an ``event`` map); never raises."""
        get = data.get
        if get("k") == EVENT_KIND:
            return self._event_record(data, seq)
        pathname = get("p", "")
        if type(pathname) is str:
            derived = self._paths.get(pathname)
            if derived is None:
                derived = self._paths[pathname] = _file_and_module(pathname)
        else:  # not cached: 1 == 1.0 == True would share an entry
            derived = _file_and_module(pathname)
        created = get("c", 0.0)
        levelno = get("l", logging.NOTSET)
        try:
            levelname = get("L") or _STANDARD_LEVELS.get(levelno) or logging.getLevelName(levelno)
        except TypeError:  # an unhashable level, from a file capturelog did not write
            levelname = f"Level {limited_repr(levelno)}"
        msecs = get("ms", _MISSING)
        if msecs is _MISSING:
            msecs = _msecs(created)
        args = get("a", ())
        attrs: dict[str, Any] = {
            "name": get("n", "root"),
            "msg": get("m", ""),
            "args": tuple(args) if type(args) is list else args,
            "levelname": levelname,
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
            "msecs": msecs,
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
        level = _text(event.get("level", "info")).upper()
        levelno = logging.getLevelName(level)
        if not isinstance(levelno, int):
            levelno = logging.INFO
        created = data.get("c")
        if type(created) is not float:  # stored before events carried a time
            created = _timestamp(event.get("timestamp"))
        attrs: dict[str, Any] = {
            "name": _text(event.get("logger", event.get("logger_name", "structlog"))),
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
            "msecs": _msecs(created),
            "relativeCreated": 0.0,
            "thread": None,
            "threadName": None,
            "processName": None,
            "process": None,
            "taskName": None,
            "_capture_message": _event_message(event),
            "_capture_kind": EVENT_KIND,
            "capture_seq": seq,
        }
        record = ReplayedRecord.__new__(ReplayedRecord)
        record.__dict__.update(attrs)
        return record


_MISSING: Any = object()


def _text(value: object) -> str:
    """A str as it is; anything else as its (depth-limited) repr."""
    return value if type(value) is str else limited_repr(value)


def robust_repr(value: object) -> str:
    """repr(), or the depth-limited one when repr() fails (a value nested too deep)."""
    try:
        return repr(value)
    except Exception:
        return limited_repr(value)


def _msecs(created: Any) -> float:
    """msecs as LogRecord computes it from ``created`` (0.0 for odd values)."""
    try:
        return int((created - int(created)) * 1000) + 0.0
    except (TypeError, ValueError, ArithmeticError):  # not a number, NaN, infinite
        return 0.0


_EVENT_QUIET = frozenset(
    {"event", "level", "timestamp", "logger", "logger_name", "exception", "exc_text"}
)


def event_of(record: logging.LogRecord) -> dict[str, Any] | None:
    """The event dict a replayed record stands for (a stored structlog
    event), or None for a record that was a LogRecord."""
    attrs = record.__dict__
    if attrs.get("_capture_kind") == EVENT_KIND and isinstance(attrs.get("msg"), dict):
        return attrs["msg"]  # type: ignore[no-any-return]
    return None


def event_text_key(event: dict[str, Any]) -> str | None:
    """The key of an event's message: ``"event"``, or when it has none the
    key structlog's ``EventRenamer`` usually moves it to (``"message"`` or
    ``"msg"``, when that holds text); None when it has none of them."""
    if "event" in event:
        return "event"
    for key in ("message", "msg"):
        if type(event.get(key)) is str:
            return key
    return None


def _event_message(event: dict[str, Any]) -> str:
    """An event as one line: its message, then its other fields as key=value."""
    text_key = event_text_key(event)
    fields = " ".join(
        f"{_text(key)}={robust_repr(value)}"
        for key, value in event.items()
        if key not in _EVENT_QUIET and key != text_key
    )
    text = _text(event.get(text_key, "")) if text_key is not None else ""
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
    except (TypeError, ArithmeticError):
        return 0.0


def _timestamp(value: object) -> float:
    """Epoch seconds from a structlog timestamp (a number, an ISO string or a
    datetime; naive means local time)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        try:
            return value.timestamp()
        except (ValueError, OverflowError, OSError):
            return 0.0
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            return 0.0
    return 0.0
