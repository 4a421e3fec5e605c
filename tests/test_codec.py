"""LogRecord <-> msgpack map: lossless for data, repr for the rest, never fails."""

from __future__ import annotations

import enum
import logging
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from capturelog._codec import RecordDecoder, RecordEncoder, expand, unpack_data

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
    """An object in args or extra is stored as repr(); getMessage() is unchanged."""
    obj = object()
    record = make(
        "got %s and %r and %s", (obj, Colour.RED, Broken()), thing=Colour.RED, other={1, 2}
    )
    copy = round_trip(record)
    assert copy.getMessage() == record.getMessage()
    assert copy.args == (repr(obj), repr(Colour.RED), copy.args[2])  # type: ignore[index]
    assert "repr() failed" in copy.args[2]  # type: ignore[index]
    assert copy.thing == repr(Colour.RED)  # type: ignore[attr-defined]
    assert copy.other == repr({1, 2})  # type: ignore[attr-defined]


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
    from capturelog._codec import record_time

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
        assert list(unpack_data(fast))[0] == "c"
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
    from capturelog._codec import _MAX_CACHED

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
