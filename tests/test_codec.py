"""LogRecord <-> msgpack map: lossless for data, repr for the rest, never fails."""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import os
import subprocess
import sys
from collections import namedtuple
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

import capturelog
from capturelog._codec import (
    _MAX_CACHED,
    MAX_TUPLE_DEPTH,
    DecodeError,
    RecordDecoder,
    RecordEncoder,
    _render,
    expand,
    record_time,
    unpack_data,
)

COMPARED = [
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
    "thread", "threadName", "processName", "process",
]  # fmt: skip


def round_trip(record: logging.LogRecord) -> logging.LogRecord:
    payload = RecordEncoder().encode(record)
    return RecordDecoder().record(unpack_data(payload), 7)


def make(msg: object, args: Any = (), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "svc.db", logging.WARNING, "/srv/app/db.py", 42, msg, args, None, "query"
    )
    record.__dict__.update(extra)
    return record


def assert_same(original: logging.LogRecord, copy: logging.LogRecord) -> None:
    for name in COMPARED:
        assert getattr(copy, name) == getattr(original, name), name
    assert copy.getMessage() == original.getMessage()
    assert copy.capture_seq == 7  # type: ignore[attr-defined]


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.lists(plain, max_size=5),
    st.dictionaries(st.from_regex(r"x_[a-z]{1,6}", fullmatch=True), plain, max_size=3),
)
def test_plain_data_round_trips_exactly(args: list[Any], extra: dict[str, Any]) -> None:
    """Arguments and extras made of plain data come back equal, types and all."""
    template = " ".join(["%r"] * len(args))
    record = make(template, tuple(args), **extra)
    copy = round_trip(record)
    assert_same(record, copy)
    for key, value in extra.items():
        assert getattr(copy, key) == value
    assert "_capture_message" not in copy.__dict__  # stored as data, not as text


class Colour(enum.Enum):
    RED = 1


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        return "broken-str"


def test_objects_msgpack_cannot_hold_are_kept_as_repr_with_the_message() -> None:
    """An object in args or extra is stored as repr() (an Enum member as its
    value, a set as a set); getMessage() is unchanged."""
    obj = object()
    record = make(
        "got %s and %r and %s", (obj, Colour.RED, Broken()), thing=Colour.RED, other={1, 2}
    )
    copy = round_trip(record)
    assert copy.getMessage() == record.getMessage()
    assert copy.args == (repr(obj), 1, copy.args[2])  # type: ignore[index]
    assert "repr() failed" in copy.args[2]  # type: ignore[index]
    assert copy.thing == 1  # type: ignore[attr-defined]
    assert copy.other == {1, 2}  # type: ignore[attr-defined]


def test_mapping_args_dict_messages_and_odd_levels() -> None:
    """A mapping argument, a dict msg (structlog's stdlib mode) and a custom level."""
    record = make("%(user)s logged in", ({"user": "ann"},))
    assert_same(record, round_trip(record))
    record = make({"event": "login", "user": "ann"})
    copy = round_trip(record)
    assert copy.msg == {"event": "login", "user": "ann"}
    logging.addLevelName(25, "NOTICE")
    record = logging.LogRecord("x", 25, "/a.py", 1, "notice me", (), None)
    assert round_trip(record).levelname == "NOTICE"


def test_exceptions_and_stacks_are_kept_as_text() -> None:
    """exc_info becomes exc_text (the formatted traceback); stack_info is kept."""
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord(
            "x",
            40,
            "/a.py",
            1,
            "failed",
            (),
            sys.exc_info(),
            sinfo="Stack (most recent call last):\n  here",
        )
    copy = round_trip(record)
    assert copy.exc_text is not None and "ValueError: bad value" in copy.exc_text
    assert copy.exc_text == record.exc_text
    assert copy.stack_info == record.stack_info
    assert copy.exc_info is None
    assert logging.Formatter().format(copy) == logging.Formatter().format(record)


def test_unusual_values_never_fail() -> None:
    """Huge ints, surrogates, non-string dict keys and a failing __str__ still store."""
    record = make("%s %s %s", (2**200, "\udc80 lone", {(1, 2): "tuple key", 3: "int key"}))
    copy = round_trip(record)
    assert copy.getMessage() == record.getMessage()
    record = make(Broken())
    copy = round_trip(record)
    assert copy.getMessage() == "broken-str"


def test_nothing_derivable_is_stored() -> None:
    """filename, module and levelname are left out when they follow from the rest."""
    payload = RecordEncoder().encode(make("hello"))
    data = expand(unpack_data(payload))
    assert not {"filename", "module", "levelname", "exc_text", "stack_info", "args"} & data.keys()
    assert data["kind"] == "log" and data["schema"] == 1
    assert data["msg"] == "hello" and data["name"] == "svc.db"


def test_the_time_is_readable_without_unpacking() -> None:
    """record_time reads a record's time from its bytes, with or without args and extras."""
    for record in (make("no args"), make("%s %s", ("a", 1), x_one=1, x_two=[2])):
        payload = RecordEncoder().encode(record)
        assert record_time(payload) == record.created
        assert unpack_data(payload)["c"] == record.created
    assert record_time(b"") is None
    assert record_time(b"\x81\xa1k\xa3log") is None


# One encoder across examples, as in a handler: its caches of packed call-site
# and thread entries fill up, so later records take the cached path.
SHARED_ENCODER = RecordEncoder()
SITES = [
    ("svc.db", logging.WARNING, "/srv/app/db.py", 42, "query took", "query"),
    ("svc.api", logging.INFO, "/srv/app/api.py", 7, "request", "handle"),
    ("", 25, "<stdin>", 0, "odd level", None),
]


@given(
    st.sampled_from(SITES),
    st.lists(plain, max_size=3),
    st.sampled_from(["MainThread", "worker-1", "ünïcode thread"]),
    st.sampled_from([None, "Task-1"]),
)
def test_cached_entries_give_the_same_map_as_the_careful_path(
    site: tuple[Any, ...], args: list[Any], thread_name: str, task: str | None
) -> None:
    """The fast path (packed entries reused per call site and thread) stores
    exactly what the careful path stores, with the time first."""
    name, level, path, line, template, func = site
    template += " %r" * len(args)
    record = logging.LogRecord(name, level, path, line, template, tuple(args), None, func)
    record.threadName = thread_name
    if sys.version_info >= (3, 12):
        record.taskName = task  # type: ignore[attr-defined]
    for _ in range(2):  # the second time through, the entries come from the caches
        fast = SHARED_ENCODER.encode(record)
        careful = SHARED_ENCODER._encode_careful(record)
        assert unpack_data(fast) == unpack_data(careful)
        assert next(iter(unpack_data(fast))) == "c"
        assert_same(record, RecordDecoder().record(unpack_data(fast), 7))


def test_values_equal_to_cached_ones_keep_their_own_type() -> None:
    """True == 1 == 1.0 and -0.0 == 0.0, but a record with one of them where
    another had an equal value must not be stored with the other's from a cache."""
    encoder = RecordEncoder()
    decoder = RecordDecoder()
    odd_values = (
        ("lineno", True), ("lineno", 42.0), ("levelno", 30.0), ("process", True),
        ("funcName", 1), ("funcName", True), ("funcName", 1.0), ("name", 0), ("name", False),
        ("threadName", 1), ("threadName", True), ("processName", 0.0), ("relativeCreated", -0.0),
    )  # fmt: skip
    for attribute, value in odd_values:
        for first in (1, 0, 1.0, 0.0, "same"):  # a cached entry with a value equal to the odd one
            record = make("same site")
            setattr(record, attribute, first)
            encoder.encode(record)
            record = make("same site")
            setattr(record, attribute, value)
            data = unpack_data(encoder.encode(record))
            copy = decoder.record(data, 1)
            assert type(getattr(copy, attribute)) is type(value), (attribute, value, first)
            assert repr(getattr(copy, attribute)) == repr(value), (attribute, value, first)
    renamed = make("same site")
    renamed.threadName = "renamed-thread"
    assert decoder.record(unpack_data(encoder.encode(renamed)), 1).threadName == "renamed-thread"


def test_per_record_messages_do_not_grow_the_caches_without_bound() -> None:
    """f-string messages make a new call-site key per record; memory stays bounded."""
    encoder = RecordEncoder()
    for i in range(_MAX_CACHED + 500):
        payload = encoder.encode(make(f"user {i} logged in"))
    assert unpack_data(payload)["m"] == f"user {_MAX_CACHED + 499} logged in"
    assert len(encoder._sites) <= _MAX_CACHED
    encoder._sites.clear()
    long_message = "x" * 100_000
    assert unpack_data(encoder.encode(make(long_message)))["m"] == long_message
    assert not encoder._sites  # long messages are not kept: the cache stays small in bytes


def test_relative_created_is_stored_only_when_it_does_not_follow_from_the_start_time() -> None:
    """relativeCreated = (created - logging's start) * 1000 up to Python 3.12:
    then the start time (the same in every record) is stored instead, and
    the value comes back exactly. A changed value is stored as it is."""
    encoder = RecordEncoder()
    decoder = RecordDecoder()
    usual = make("usual %s", ("a",))
    changed = make("changed %s", ("a",))
    changed.relativeCreated = 12.5
    for record in (usual, changed):
        for payload in (encoder.encode(record), encoder._encode_careful(record)):
            data = unpack_data(payload)
            assert decoder.record(data, 1).relativeCreated == record.relativeCreated
            assert expand(data)["relativeCreated"] == record.relativeCreated
            assert "startTime" not in expand(data)
    stored = unpack_data(encoder.encode(usual))
    if sys.version_info < (3, 13):
        assert "r" not in stored and stored["st"] == logging._startTime  # type: ignore[attr-defined]
    assert unpack_data(encoder.encode(changed))["r"] == 12.5


def nested_tuple(depth: int) -> tuple[Any, ...]:
    """``depth`` tuples, one in the other, around a string."""
    value: Any = "core"
    for _ in range(depth):
        value = (value,)
    return value  # type: ignore[no-any-return]


def tuple_depth(value: Any) -> int:
    depth = 0
    while type(value) is tuple:
        depth += 1
        value = value[0] if value else None
    return depth


def hand_made_tuples(depth: int) -> bytes:
    """A record map whose argument is the tuple extension nested ``depth`` deep."""
    payload = msgpack.packb([])
    for _ in range(depth - 1):
        payload = msgpack.packb([msgpack.ExtType(1, payload)])
    return msgpack.packb({"c": 1.0, "k": "log", "m": "%s", "a": [msgpack.ExtType(1, payload)]})


def test_tuples_deeper_than_the_bound_are_stored_as_text_with_the_message() -> None:
    """Beyond MAX_TUPLE_DEPTH a tuple is stored as text (a repr cut only in
    depth) and the rendered message is stored too, so getMessage() is exact;
    nested 3,000 deep, encoding neither recurses without bound nor raises."""
    encoder = RecordEncoder()
    for depth in (MAX_TUPLE_DEPTH, 100):
        record = make("state %s", (nested_tuple(depth),))
        copy = RecordDecoder().record(unpack_data(encoder.encode(record)), 7)
        assert copy.getMessage() == record.getMessage()
        stored = copy.args[0]  # type: ignore[index]
        assert tuple_depth(stored) == MAX_TUPLE_DEPTH
        if depth > MAX_TUPLE_DEPTH:
            for _ in range(MAX_TUPLE_DEPTH):
                stored = stored[0]
            assert isinstance(stored, str) and stored.startswith("(((")
    record = make("state %s", (nested_tuple(3000),))
    copy = RecordDecoder().record(unpack_data(encoder.encode(record)), 7)
    message = copy.getMessage()
    assert message.startswith("'state %s' % (((") and "RecursionError" in message


def test_containers_nested_past_msgpacks_limit_are_stored_without_recursing() -> None:
    """Lists and dicts nested 3,000 deep (past the Packer's 511 levels) and
    mixed lists and tuples are stored, never raising out of the encoder."""
    deep_list: Any = []
    deep_dict: Any = {}
    mixed: Any = ()
    for i in range(3000):
        deep_list, deep_dict = [deep_list], {"a": deep_dict}
        mixed = [mixed] if i % 2 else (mixed,)
    encoder = RecordEncoder()
    for value in (deep_list, deep_dict, mixed):
        record = make("value %s %s", (value, 2**100), extra_value=value)
        data = unpack_data(encoder.encode(record))
        copy = RecordDecoder().record(data, 7)
        assert copy.getMessage().startswith("'value %s %s' % ")
        assert "formatting failed: RecursionError" in copy.getMessage()


def test_decoding_refuses_tuples_deeper_than_the_bound() -> None:
    """A stored tuple nested deeper than MAX_TUPLE_DEPTH, containers nested
    past msgpack's 1024 levels, and other undecodable bytes raise DecodeError
    with a message (not msgpack's own, often empty, exceptions)."""
    decoded = unpack_data(hand_made_tuples(MAX_TUPLE_DEPTH))
    assert tuple_depth(decoded["a"][0]) == MAX_TUPLE_DEPTH
    cases = {
        hand_made_tuples(MAX_TUPLE_DEPTH + 1): f"tuples nested more than {MAX_TUPLE_DEPTH} deep",
        b"\x91" * 1024 + b"\x90": "StackError: containers nested more than 1024 deep",
        b"\xc1": "FormatError",
        b"\x01\x02": "ExtraData",
        b"\x92\x01": "incomplete input",
        b"\x81\x91\x01\x02": "unhashable",  # a map whose key is an array
        b"\xd4\x01\x05": "does not hold an array",  # a tuple holding 5
        b"\x91\xc7\x04\x01\x91\xd4\x01\x05": "not hold exactly one array",  # in a tuple
    }
    for payload, text in cases.items():
        with pytest.raises(DecodeError, match=text):
            unpack_data(payload)


DECODE_IN_A_THREAD = """
import sys, threading
sys.path[:0] = [sys.argv[1]]
from capturelog._codec import unpack_data
payloads = [bytes.fromhex(h) for h in sys.argv[2:]]
threading.stack_size(256 * 1024)
results = []
def run():
    for payload in payloads:
        try:
            unpack_data(payload)
            results.append("ok")
        except ValueError:  # DecodeError
            results.append("refused")
thread = threading.Thread(target=run)
thread.start()
thread.join()
print(" ".join(results))
"""


def test_decoding_in_a_thread_with_a_small_stack_never_crashes() -> None:
    """In a thread with a 256 KiB stack (musl's default is 128 KiB, musl
    builds of Python use 1 MiB), a record at the bound decodes and one nested
    400 deep is refused, instead of overflowing the C stack (SIGSEGV)."""
    root = os.path.dirname(os.path.dirname(capturelog.__file__))
    payloads = [hand_made_tuples(MAX_TUPLE_DEPTH), hand_made_tuples(400)]
    result = subprocess.run(
        [sys.executable, "-c", DECODE_IN_A_THREAD, root, *(p.hex() for p in payloads)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.split() == ["ok", "refused"]


def test_get_message_of_a_malformed_call_names_template_arguments_and_error() -> None:
    """A replayed record's getMessage() never raises: a template that does
    not fit its arguments gives the same text the writer stores for it."""
    for template, args in (
        ("user %(user)s", ({"name": "ann"},)),
        ("%d items", ("many",)),
        ("%s and %s", ("one",)),
        ("%(user)s", ("not a mapping",)),
    ):
        record = make(template, args)
        copy = round_trip(record)
        message = copy.getMessage()
        assert message == _render(record)
        assert message.startswith(repr(template) + " % ")
        assert "(formatting failed: " in message and repr(record.args) in message


def test_odd_stored_values_come_back_as_stored_and_building_never_fails() -> None:
    """Any value under a standard key (a crafted file's) builds a record with
    that value; what the decoder derives (levelname, filename, module, msecs,
    relativeCreated) has logging's type."""
    decoder = RecordDecoder()
    odd_values: list[Any] = [
        None, True, -1, 2**64 - 1, 1.5, float("inf"), float("-inf"), float("nan"), 1e300,
        "text", b"bytes", [1, [2]], {"a": 1}, {1: 2}, (1, 2),
    ]  # fmt: skip
    keys = ["n", "m", "a", "l", "L", "p", "f", "mo", "ln", "fn", "c", "ms", "r", "st", "t",
            "tn", "P", "pn", "tk", "x", "s", "e", "txt"]  # fmt: skip
    for key in keys:
        for value in odd_values:
            record = decoder.record({"k": "log", key: value}, 3)
            assert isinstance(record.getMessage(), str)
            assert isinstance(record.levelname, str) or key == "L"
            assert type(record.msecs) is float or key == "ms"
            assert type(record.relativeCreated) is float or key == "r"
            assert record.capture_seq == 3  # type: ignore[attr-defined]
        for value in odd_values:
            attrs = {"n": "name", "p": "pathname", "c": "created", "l": "levelno",
                     "x": "exc_text", "ln": "lineno"}  # fmt: skip
            if key in attrs and not (isinstance(value, float) and math.isnan(value)):
                assert getattr(decoder.record({key: value}, 1), attrs[key]) == value
    event = decoder.record({"k": "event", "ev": {"level": [1], "logger": {"a": 1},
                                                 "timestamp": float("nan")}}, 1)  # fmt: skip
    assert event.levelname == "[1]" and event.name == "{'a': 1}" and event.msecs == 0.0


# ------------------------------------------------ values msgpack has no type for


def value_record(code: int, payload: bytes) -> bytes:
    """A record map whose one argument is extension ``code`` holding ``payload``."""
    return msgpack.packb({"c": 1.0, "k": "log", "m": "%s", "a": [msgpack.ExtType(code, payload)]})


def test_damaged_value_payloads_are_refused_with_decode_error() -> None:
    """A payload that does not fit its type's layout raises DecodeError
    naming the type, never struct.error, ValueError or OverflowError."""
    cases = {
        (4, b"\x00" * 5): "datetime",  # short
        (4, b"\x00" * 12 + b"\x04"): "datetime",  # an unknown flag
        (4, b"\x00" * 12 + b"\x02"): "datetime",  # aware without its offset
        (4, b"\x00\x00\x00\x00\x7f" + b"\xff" * 7 + b"\x00"): "datetime",  # past year 9999
        (4, b"\x00" * 12 + b"\x02" + (86400 * 10**6).to_bytes(8, "big")): "datetime",  # 24 h
        (5, b"\x00\x00\x00\x00"): "date",  # ordinal 0
        (5, b"\x00"): "date",
        (6, b"\x18\x00\x00\x00\x00\x00\x00\x00"): "time",  # hour 24
        (7, b"\x7f\xff\xff\xff" + b"\x00" * 8): "timedelta",  # too many days
        (8, b"twelve"): "Decimal",
        (8, b"\xff"): "Decimal",
        (9, b"\x00" * 15): "UUID",
        (10, b""): "path",
        (10, b"\x09abc"): "path",
        (10, b"\x00\xff"): "path",
        (2, msgpack.packb([[1]])): "set",  # a list cannot be a set's item
        (3, msgpack.packb(5)): "frozenset",
    }
    for (code, payload), name in cases.items():
        with pytest.raises(DecodeError, match=name):
            unpack_data(value_record(code, payload))


@given(st.sampled_from(range(2, 11)), st.binary(max_size=40))
def test_any_value_payload_decodes_or_raises_decode_error(code: int, payload: bytes) -> None:
    """Arbitrary bytes under each of our codes give a value or DecodeError."""
    with contextlib.suppress(DecodeError):
        unpack_data(value_record(code, payload))


def nested_set(depth: int) -> Any:
    """``depth`` frozensets, one in the other, around a string."""
    value: Any = "core"
    for _ in range(depth):
        value = frozenset({value})
    return value


def test_sets_nest_within_the_tuple_bound() -> None:
    """Sets count as tuples for MAX_TUPLE_DEPTH: deeper ones are stored as
    text with the message; a stored set nested deeper is refused."""
    record = make("state %s", (nested_set(MAX_TUPLE_DEPTH + 5),))
    copy = round_trip(record)
    assert copy.getMessage() == record.getMessage()
    stored = copy.args[0]  # type: ignore[index]
    for _ in range(MAX_TUPLE_DEPTH):
        assert type(stored) is frozenset
        (stored,) = stored
    assert isinstance(stored, str) and stored.startswith("frozenset({")
    payload = msgpack.packb([])
    for _ in range(MAX_TUPLE_DEPTH):
        payload = msgpack.packb([msgpack.ExtType(3, payload)])
    with pytest.raises(DecodeError, match="nested more than"):
        unpack_data(value_record(3, payload))


def test_the_careful_fallback_keeps_the_kept_types() -> None:
    """A record msgpack refuses as it is (an int past 64 bits) is stored value
    by value: the kept types still come back as themselves, a named tuple in
    a set as text, so the set still decodes."""
    Point = namedtuple("Point", "x y")
    when = datetime(2026, 1, 2, 3, 4, 5)
    record = make(
        "%s %s %s %s %s", (2**100, when, {date(2026, 1, 2)}, Colour.RED, {Point(1, 2)}),
        price=Decimal("2.50"),
    )  # fmt: skip
    copy = round_trip(record)
    assert copy.getMessage() == record.getMessage()
    assert copy.args == (str(2**100), when, {date(2026, 1, 2)}, 1, {"Point(x=1, y=2)"})
    assert copy.price == Decimal("2.50")  # type: ignore[attr-defined]


def test_plain_records_take_the_fast_path_and_store_no_message() -> None:
    """A record of plain data stores no rendered message; one holding a kept
    type stores it (older readers render it from there)."""
    encoder = RecordEncoder()
    assert "txt" not in unpack_data(encoder.encode(make("n=%d s=%s", (1, "a"))))
    assert "txt" not in unpack_data(encoder.encode(make("t=%s", ((1, 2),))))
    stored = unpack_data(encoder.encode(make("d=%s", (date(2026, 1, 2),))))
    assert stored["a"] == [date(2026, 1, 2)] and stored["txt"] == "d=2026-01-02"
