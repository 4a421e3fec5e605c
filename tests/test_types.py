"""Common Python types through a capture file and back, and as strict JSON in ``cat --json``."""

from __future__ import annotations

import enum
import json
import logging
import math
import subprocess
import sys
import uuid
import zoneinfo
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import msgpack
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from capturelog import CaptureHandler, ReplayReader
from capturelog._codec import RecordDecoder, RecordEncoder, unpack_data
from capturelog._jsonout import json_line
from capturelog.structlog import CaptureLoggerFactory

SCRIPT = str(Path(sys.executable).parent / "capturelog")


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip(f"no time zone data for {name} here")


def strict_json(line: str) -> Any:
    """json.loads that refuses what strict parsers refuse (NaN, Infinity)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def cat_json(path: Path, *options: str) -> list[Any]:
    """`capturelog cat --json PATH`, run as the installed console script, parsed strictly."""
    result = subprocess.run(
        [SCRIPT, "cat", "--json", *options, str(path)],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # strict: every line encodes as UTF-8
    return [strict_json(line) for line in text.splitlines()]


@pytest.fixture
def log(path: Path) -> Iterator[logging.Logger]:
    """A logger writing to a fresh capture file (``path``), closed after the test."""
    handler = CaptureHandler(path, commit_interval=None)
    logger = logging.getLogger(f"tests.types.{id(handler)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    handler.close()


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def zone_of(value: datetime | time) -> object:
    """What identifies a value's zone: a ZoneInfo's key, a fixed zone's offset."""
    tz = value.tzinfo
    if isinstance(tz, zoneinfo.ZoneInfo):
        return ("zone", tz.key)
    return ("fixed", value.utcoffset()) if tz is not None else None


def assert_same(copy: Any, original: Any) -> None:
    """``copy`` is ``original`` brought back: same type and value, and for
    times the same wall clock, fold, UTC offset and zone."""
    assert type(copy) is type(original), (copy, original)
    if isinstance(original, (datetime, time)):
        assert copy.replace(tzinfo=None) == original.replace(tzinfo=None), (copy, original)
        assert copy.fold == original.fold, (copy, original)
        assert copy.utcoffset() == original.utcoffset(), (copy, original)
        assert zone_of(copy) == zone_of(original), (copy, original)
    elif isinstance(original, Decimal):
        assert str(copy) == str(original)  # NaN, -0 and the exponent too
    else:
        assert copy == original


def values() -> list[Any]:
    paris = zone("Europe/Paris")
    return [
        datetime(2026, 1, 2, 3, 4, 5, 678901),  # naive stays naive
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2026, 7, 1, 12, 0, tzinfo=paris),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=paris),  # the second 02:30 that night
        datetime(2026, 3, 29, 2, 30, tzinfo=paris),  # a wall time that did not happen
        datetime.min,
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-23))),
        date(2026, 1, 2),
        time(3, 4, 5, 6),
        time(23, 59, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        timedelta(days=-3, seconds=5, microseconds=7),
        timedelta.max,
        Decimal("1.10"),
        Decimal("-0"),
        Decimal("NaN"),
        Decimal("1E+400"),
        uuid.UUID("6f1c0f3e-2b6a-4d7e-9a51-0c3f1b2d4e5f"),
        Path("/srv/app/data.csv"),
        PurePosixPath("relative/x"),
        PureWindowsPath(r"C:\Users\ann\report.txt"),
        {1, 2, 3},
        frozenset({"a", "b"}),
        {(1, date(2020, 1, 1)), (2, None)},
        (datetime(2026, 1, 2), {frozenset({1})}),
        {"nested": [Decimal("2.5"), {"when": date(2026, 5, 6)}]},
    ]


def test_common_types_come_back_as_themselves_from_a_file(path: Path, log: logging.Logger) -> None:
    """datetime, date, time, timedelta, Decimal, UUID, paths, sets and
    frozensets, in arguments and extras, read back with their type and value,
    and getMessage() gives the original text."""
    originals = values()
    messages = []
    for value in originals:
        log.info("value %s and %r", value, value, extra={"field": value})
        record = logging.LogRecord(
            "x", logging.INFO, "", 0, "value %s and %r", (value, value), None
        )
        messages.append(record.getMessage())
    log.handlers[0].close()
    with ReplayReader(path) as reader:
        for seq, (value, message) in enumerate(zip(originals, messages, strict=True), 1):
            record = reader[seq]
            assert_same(record.args[0], value)  # type: ignore[index]
            assert_same(record.field, value)  # type: ignore[attr-defined]
            assert record.getMessage() == message


def test_enum_members_are_stored_as_their_values(path: Path, log: logging.Logger) -> None:
    """An Enum member comes back as its value (its class may not exist where
    the file is read); a value that cannot be hashed as the member's repr,
    so a set or dict key holding it still decodes."""

    class Colour(enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    class Mode(str, enum.Enum):
        FAST = "fast"

    class When(enum.Enum):
        EPOCH = datetime(1970, 1, 1)

    class Listed(enum.Enum):
        PAIR = [1, 2]  # noqa: RUF012 - an unhashable value, on purpose

    log.info(
        "%s %s %s %s",
        Colour.RED, Level.HIGH, Mode.FAST, When.EPOCH,
        extra={"keys": {Colour.RED: 1}, "members": {Listed.PAIR}, "listed": Listed.PAIR},
    )  # fmt: skip
    log.handlers[0].close()
    with ReplayReader(path) as reader:
        record = reader[1]
        assert record.args == ("red", 3, "fast", datetime(1970, 1, 1))
        assert type(record.args[1]) is int  # type: ignore[index]
        assert record.getMessage() == "Colour.RED 3 Mode.FAST When.EPOCH"
        assert record.keys == {"red": 1}  # type: ignore[attr-defined]
        assert record.members == {repr(Listed.PAIR)}  # type: ignore[attr-defined]
        assert record.listed == repr(Listed.PAIR)  # type: ignore[attr-defined]


def test_structlog_events_keep_the_types(path: Path) -> None:
    """An event logged through CaptureLoggerFactory keeps its fields' types."""
    factory = CaptureLoggerFactory(path, commit_interval=None)
    structlog.configure(processors=[structlog.processors.add_log_level], logger_factory=factory)
    originals = {f"v{i}": value for i, value in enumerate(values())}
    structlog.get_logger("shop").info("all.types", **originals)
    factory.close()
    with ReplayReader(path) as reader:
        event = reader.event(1)
    for key, value in originals.items():
        assert_same(event[key], value)


def test_a_zone_unknown_to_the_reader_keeps_instant_and_offset() -> None:
    """A zone name the reader has no data for, or whose rules give another
    offset than the writer's, comes back as a fixed offset: the instant and
    the offset always survive."""
    paris = zone("Europe/Paris")
    value = datetime(2026, 7, 1, 12, 0, tzinfo=paris)
    record = logging.LogRecord("x", logging.INFO, "", 0, "%s", (value,), None)
    payload = RecordEncoder().encode(record)
    renamed = payload.replace(b"Europe/Paris", b"Europe/Nowhr")  # same length: still one value
    copy = RecordDecoder().record(unpack_data(renamed), 1).args[0]  # type: ignore[index]
    assert copy == value and copy.utcoffset() == timedelta(hours=2)
    assert copy.tzinfo == timezone(timedelta(hours=2))
    moved = payload.replace(b"Europe/Paris", b"Asia/Kolkata")  # +05:30 there, +02:00 stored
    copy = RecordDecoder().record(unpack_data(moved), 1).args[0]  # type: ignore[index]
    assert copy == value and copy.tzinfo == timezone(timedelta(hours=2))


def old_reader_hook(code: int, data: bytes) -> object:
    """The ext hook of capturelog before these types: tuples, and any other
    code as msgpack.ExtType."""
    if code != 1:
        return msgpack.ExtType(code, data)
    items = msgpack.unpackb(
        data, raw=False, strict_map_key=False, ext_hook=old_reader_hook,
        unicode_errors="surrogatepass",
    )  # fmt: skip
    return tuple(items)


def test_an_older_reader_decodes_the_record_and_renders_its_message() -> None:
    """A reader that knows only the tuple extension decodes records holding
    the new types, sees them as msgpack.ExtType, and its getMessage() gives
    the original text (the record stores it)."""
    encoder = RecordEncoder()
    for value in values():
        record = logging.LogRecord("x", logging.INFO, "", 0, "got %s %s", (value, 0), None)
        record.field = value
        data = msgpack.unpackb(
            encoder.encode(record), raw=False, strict_map_key=False, ext_hook=old_reader_hook
        )
        copy = RecordDecoder().record(data, 1)
        assert copy.getMessage() == record.getMessage()
        stored = copy.args[0]  # type: ignore[index]
        if type(value) is not tuple and not isinstance(value, dict):
            assert isinstance(stored, msgpack.ExtType) and 2 <= stored.code <= 10, value


def test_files_written_before_read_as_they_did() -> None:
    """A record as earlier writers stored such values (their repr, with the
    rendered message) and msgpack's own Timestamp read back unchanged."""
    old = msgpack.packb(
        {
            "c": 1.5, "k": "log", "v": 1, "n": "x", "m": "at %s", "l": 20,
            "a": ["datetime.datetime(2026, 1, 2, 3, 4, 5)"],
            "e": {
                "stamp": msgpack.Timestamp(5, 6),
                "ids": [msgpack.ExtType(1, msgpack.packb([1]))],
            },
            "txt": "at 2026-01-02 03:04:05",
        },
        use_bin_type=True,
    )  # fmt: skip
    record = RecordDecoder().record(unpack_data(old), 1)
    assert record.args == ("datetime.datetime(2026, 1, 2, 3, 4, 5)",)
    assert record.getMessage() == "at 2026-01-02 03:04:05"
    assert record.stamp == msgpack.Timestamp(5, 6)  # type: ignore[attr-defined]
    assert record.ids == [(1,)]  # type: ignore[attr-defined]


fixed_zones = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
simple = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5) | st.none()
typed = (
    st.datetimes(timezones=st.none() | fixed_zones | st.timezones())
    | st.dates()
    | st.times(timezones=st.none() | fixed_zones)
    | st.timedeltas()
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.uuids()
    | st.sets(simple, max_size=4)
    | st.frozensets(simple | st.dates(), max_size=4)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(typed, min_size=1, max_size=3))
def test_typed_values_round_trip_through_the_codec(args: list[Any]) -> None:
    """Any value of the kept types comes back the same, type, zone and fold
    included, and getMessage() gives the original text."""
    template = " ".join(["%s"] * len(args))
    record = logging.LogRecord("x", logging.INFO, "", 0, template, tuple(args), None)
    record.extra_values = args
    copy = RecordDecoder().record(unpack_data(RecordEncoder().encode(record)), 1)
    for stored, original in zip(copy.args, args, strict=True):  # type: ignore[arg-type]
        assert_same(stored, original)
    for stored, original in zip(copy.extra_values, args, strict=True):  # type: ignore[attr-defined]
        assert_same(stored, original)
    assert copy.getMessage() == record.getMessage()


# ----------------------------------------------------------------- cat --json


def test_cat_json_is_strict_json_with_the_types_as_iso_text(
    path: Path, log: logging.Logger
) -> None:
    """NaN and the infinities, stored anywhere, are written as strings; the
    kept types as ISO 8601 text and plain values, never a Python repr."""
    paris = zone("Europe/Paris")
    log.warning(
        "ratio %s of %s", math.nan, math.inf,
        extra={
            "bounds": [-math.inf, 0.5], "when": datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=paris),
            "naive": datetime(2026, 1, 2, 3, 4, 5), "day": date(2026, 1, 2),
            "at": time(7, 30, 15, 250000), "took": timedelta(days=1, hours=2, seconds=4.5),
            "back": timedelta(seconds=-0.25), "price": Decimal("19.90"),
            "id": uuid.UUID(int=1), "file": Path("/srv/data.csv"), "tags": {"b", "a", "c"},
            "by_day": {date(2026, 1, 2): 3, 7: "seven", None: 0},
        },
    )  # fmt: skip
    record = logging.LogRecord("x", logging.INFO, "", 0, "odd time", (), None)
    record.created = math.nan
    log.handle(record)
    log.handlers[0].close()
    first, second = cat_json(path)
    assert first["args"] == ["NaN", "Infinity"] and first["message"] == "ratio nan of inf"
    assert first["bounds"] == ["-Infinity", 0.5]
    assert first["when"] == "2026-01-02T03:04:05.120000+01:00"
    assert first["naive"] == "2026-01-02T03:04:05" and first["day"] == "2026-01-02"
    assert first["at"] == "07:30:15.250000"
    assert first["took"] == "P1DT2H4.5S" and first["back"] == "-PT0.25S"
    assert first["price"] == "19.90" and first["id"] == "00000000-0000-0000-0000-000000000001"
    assert first["file"] == "/srv/data.csv" and first["tags"] == ["a", "b", "c"]
    assert first["by_day"] == {"2026-01-02": 3, "7": "seven", "null": 0}
    assert first["time"][-6] in "+-" and first["time"][-3] == ":"  # RFC 3339 offset
    assert second["created"] == "NaN" and second["time"] == "nan (not a time)"


def test_events_and_records_have_the_same_shape(path: Path) -> None:
    """A structlog event and a LogRecord share the first keys (seq, time,
    level, logger, message); the event's own keys follow at the top level,
    with no LogRecord fields and no nulls; extras follow a record's fields."""
    factory = CaptureLoggerFactory(path, commit_interval=None)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper()],
        logger_factory=factory,
    )
    structlog.get_logger("shop").warning("order.placed", order=12, total=9.5, when=date(2026, 1, 2))
    stdlib = logging.getLogger("shop.stdlib")
    stdlib.handlers = [factory.handler]
    stdlib.propagate = False
    stdlib.warning("order %d placed", 13, extra={"total": 9.5})
    factory.close()
    event, record = cat_json(path)
    common = ["seq", "time", "level", "logger", "message"]
    assert list(event)[:5] == common and list(record)[:5] == common
    assert event["message"] == "order.placed" and record["message"] == "order 13 placed"
    assert event["level"] == record["level"] == "WARNING"
    assert event["logger"] == "shop" and record["logger"] == "shop.stdlib"
    assert event["order"] == 12 and event["total"] == record["total"] == 9.5
    assert event["when"] == "2026-01-02"
    assert None not in event.values()
    assert not {"msg", "args", "pathname", "lineno", "event"} & event.keys()
    assert record["lineno"] > 0 and record["args"] == [13]


def test_fields_named_like_the_common_keys_are_kept(path: Path, log: logging.Logger) -> None:
    """An extra called time, level or logger is written as time_, level_,
    logger_ instead of being dropped or overwriting the common key."""
    log.info("hello", extra={"time": "lunch", "level": 3, "logger": "mine", "seq": [1]})
    log.handlers[0].close()
    (line,) = cat_json(path)
    assert line["time_"] == "lunch" and line["level_"] == 3 and line["logger_"] == "mine"
    assert line["seq_"] == [1] and line["seq"] == 1 and line["level"] == "INFO"


def test_json_line_pretty_and_odd_text() -> None:
    """pretty indents by 2; keys that are not strings and lone surrogates
    still give strict JSON that encodes as UTF-8."""
    data: dict[str, Any] = {"a": [1, {"b": math.nan}], "name": "caf\u00e9 \udc80"}
    pretty = json_line(data, pretty=True)
    assert pretty.startswith('{\n  "a": [\n    1,\n    {\n      "b": "NaN"')
    text = json_line(data)
    assert "\n" not in text
    text.encode("utf-8")
    assert (
        strict_json(text)
        == strict_json(pretty)
        == {
            "a": [1, {"b": "NaN"}],
            "name": "caf\u00e9 \udc80",
        }
    )
    assert strict_json(json_line({"k": {(1, 2): 1, math.inf: 2, True: 3}})) == {
        "k": {"(1, 2)": 1, "Infinity": 2, "true": 3}
    }


def test_times_in_odd_zones_render_in_json(path: Path, log: logging.Logger) -> None:
    """A zone given by a custom tzinfo class is kept as its offset; the JSON
    shows the offset."""

    class Plus90(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta:
            return timedelta(minutes=90)

        def dst(self, dt: datetime | None) -> timedelta:
            return timedelta(0)

    log.info("at %s", datetime(2026, 1, 2, 3, 4, tzinfo=Plus90()))
    log.handlers[0].close()
    with ReplayReader(path) as reader:
        stored = reader[1].args[0]  # type: ignore[index]
    assert stored.tzinfo == timezone(timedelta(minutes=90))
    assert stored == datetime(2026, 1, 2, 3, 4, tzinfo=Plus90())
    (line,) = cat_json(path)
    assert line["args"] == ["2026-01-02T03:04:00+01:30"]
    assert line["message"] == "at 2026-01-02 03:04:00+01:30"
