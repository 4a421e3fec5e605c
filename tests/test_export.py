"""Parquet export (capturelog.export, ``capturelog export``): the file read
back with pyarrow matches ``capturelog cat -o json`` record for record."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any
from unittest import mock

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")  # in the test extras; the core install stays without it
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from capturelog import (  # noqa: E402
    CaptureFile,
    CaptureHandler,
    InvalidCaptureFile,
    ReplayReader,
    export,
)
from capturelog.export import (  # noqa: E402
    COLUMNS,
    export_parquet,
    record_batches,
    schema,
    to_arrow,
)

SCRIPT = shutil.which("capturelog") or "capturelog"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120, check=False)


def write_log(path: Path, count: int = 300) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("export.svc")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    for i in range(count):
        log.info("user %s bought %d items for %.2f", f"u{i % 7}", i, i * 1.5, extra={"order": i})
    log.warning(
        "odd values %r",
        float("nan"),
        extra={"when": dt.datetime(2026, 1, 2, 3, 4, 5), "tags": {"b", "a"}},
    )
    log.error("unicode \u2603 %s", "\u4e2d\u6587")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    logging.getLogger("export.svc.db").debug(
        "%(user)s from %(ip)s", {"user": "bob", "ip": "10.0.0.1"}
    )
    handler.close()


def test_parquet_matches_cat_json_record_for_record(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path)
    out = tmp_path / "out.parquet"
    result = run("export", str(path), "--parquet", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}: 304 records\n"
    table = pq.read_table(out)
    assert table.schema.names == [name for name, _, _ in COLUMNS]
    rows = table.to_pylist()
    cat = run("cat", str(path), "-o", "json")
    assert cat.returncode == 0, cat.stderr
    objects = [json.loads(line) for line in cat.stdout.splitlines()]
    assert len(rows) == len(objects) == 304
    for row, obj in zip(rows, objects, strict=True):
        assert row["seq"] == obj["seq"]
        assert row["message"] == obj["message"]
        assert row["level_name"] == obj["level"] and row["level"] == obj["levelno"]
        assert row["logger"] == obj["logger"]
        assert row["time"].utcoffset() == dt.timedelta(0)  # a UTC timestamp column
        assert abs(row["time"].timestamp() - obj["created"]) < 1e-5  # to the microsecond
        assert row["template"] == obj["msg"]
        assert row["file"] == obj["capture_file"] and row["stream"] == obj["capture_stream"]
        assert row["traceback"] == obj["exc_text"]
        assert row["lineno"] == obj["lineno"] and row["function"] == obj["funcName"]
        args = obj["args"]
        assert (json.loads(row["args"]) if row["args"] else None) == (args or None)
        for key, value in (json.loads(row["extra"]) if row["extra"] else {}).items():
            assert obj[key] == value
    assert json.loads(rows[0]["extra"]) == {"order": 0}
    assert json.loads(rows[300]["args"]) == ["NaN"]  # strict JSON, as cat writes it
    assert json.loads(rows[300]["extra"]) == {"when": "2026-01-02T03:04:05", "tags": ["a", "b"]}
    assert "KeyError: 'missing'" in rows[302]["traceback"]
    assert json.loads(rows[303]["args"]) == {"user": "bob", "ip": "10.0.0.1"}
    assert rows[0]["host"] and rows[0]["writer_pid"] and rows[0]["program"]


def test_filters_streams_and_batches(tmp_path: Path) -> None:
    name = tmp_path / "set.capture"
    handler = CaptureHandler(name, rotation=1, commit_every=25, commit_interval=None)
    log = logging.getLogger("export.set")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    for i in range(200):
        (log.warning if i % 10 == 0 else log.info)("step %d", i)
    handler.close()
    with ReplayReader(name) as reader:
        table = to_arrow(reader, level="WARNING")
        assert table.column("seq").to_pylist() == list(range(1, 201, 10))
        assert set(table.column("stream").to_pylist()) == {"set.capture"}
        assert len(set(table.column("file").to_pylist())) == 8  # 25 records a segment
        written = export_parquet(reader, tmp_path / "all.parquet", row_group_size=64)
    assert written == 200
    parquet = pq.ParquetFile(tmp_path / "all.parquet")
    assert parquet.metadata.num_row_groups == 4  # streamed in bounded batches
    result = run(
        "export", str(name), "--parquet", str(tmp_path / "all.parquet"), "--grep", "step 1[0-9]$"
    )
    assert result.returncode == 1 and "exists" in result.stderr
    result = run(
        "export", str(name), "--parquet", str(tmp_path / "all.parquet"), "--force",
        "--grep", "step 1[0-9]$",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "all.parquet").column("seq").to_pylist() == list(range(11, 21))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_without_pyarrow_the_command_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, count=3)
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"  # as where pyarrow is not installed
        "from capturelog.cli import main\n"
        "sys.exit(main(['export', sys.argv[1], '--parquet', sys.argv[2]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "x.parquet")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'capturelog[parquet]'" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "x.parquet").exists()


# --------------------------------------------------- the fast route and records()
#
# Usual log maps become rows straight from the stored map; everything else
# (events, plain records, odd values) is built as records() builds it. The
# tests below compare the two routes: ``match=""`` matches every record but
# makes the export take records() for all of them.

T0 = 1_800_000_000.0


def both_routes(reader: ReplayReader, **filters: Any) -> tuple[Any, Any]:
    """The export as the fast route makes it, and as records() does."""
    return to_arrow(reader, **filters), to_arrow(reader, match="", **filters)


class Unrepr:
    """An argument stored as its repr (and the message with it)."""

    def __repr__(self) -> str:
        return "<Unrepr>"


def write_varied(path: Path) -> int:
    """Records of every shape the fast route must tell apart from the usual
    one; returns how many need a built record (events, and extras named like
    a reader's own attributes)."""
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("export.varied")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(1)
    log.info("plain text")
    log.info(
        "user %s bought %d", "ann", 3,
        extra={"when": dt.datetime(2026, 1, 2, 3, 4, 5), "tags": {"b", "a"}, "price":
               Decimal("1.10"), "id": uuid.UUID(int=7), "where": PurePosixPath("/x"),
               "nested": {"a": [1, (2, 3)]}, "none": None, "nan": math.nan, "big": 2**70},
    )  # fmt: skip
    log.warning("%(user)s from %(ip)s", {"user": "bob", "ip": "10.0.0.1"})
    log.info("%d items", "many")  # malformed calls: getMessage says what failed
    log.info("%(user)s", {"other": 1})
    log.info("%s and %s", "only one")  # noqa: PLE1206 - on purpose
    log.info(42)
    log.info({"a": 1})
    log.info("object %s", Unrepr())  # stored with its rendered message
    log.info("tuple %s", (1, 2))
    log.info("unicode \u2603 %s", "\u4e2d\u6587")
    log.info("lone surrogate %s", "\udcff.txt")
    log.log(35, "an unnamed level")
    log.log(5, "%s", "below DEBUG")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    log.info("with its stack", stack_info=True)
    for i in range(3):
        log.info(f"f-string {i}")
    log.handle(log.makeRecord(log.name, logging.INFO, "x.py", 1, "no args", None, None))
    worker = threading.Thread(target=log.info, args=("from %s", "a thread"), name="worker-1")
    worker.start()
    worker.join()
    log.info("reader-like extra", extra={"capture_note": 1})
    log.info("hijacked", extra={"_capture_message": "a message from the extras"})
    log.info({"event": "dressed up"}, extra={"_capture_kind": "event"})
    handler.emit_event({"event": "cart.updated", "items": 3, "level": "warning"}, 30)
    handler.emit_event({"message": "renamed", "logger": "shop", "level": "error"}, 40)
    handler.close()
    return 5


def test_the_fast_route_gives_the_rows_records_gives(tmp_path: Path) -> None:
    path = tmp_path / "varied.capture"
    built = write_varied(path)
    with ReplayReader(path) as reader, mock.patch.object(export, "_row", wraps=export._row) as row:
        fast = to_arrow(reader)
        assert row.call_count == built  # the usual maps took the fast route
        slow = to_arrow(reader, match="")
        assert fast.num_rows == len(reader) == 26
    assert fast.equals(slow), fast.to_pylist() != slow.to_pylist()
    rows = fast.to_pylist()
    messages = [row["message"] for row in rows]
    assert messages[3] == (
        "'%d items' % ('many',) (formatting failed:"
        " TypeError('%d format: a real number is required, not str'))"
    )
    assert messages[6:11] == ["42", "{'a': 1}", "object <Unrepr>", "tuple (1, 2)",
                              "unicode \u2603 \u4e2d\u6587"]  # fmt: skip
    assert messages[11] == "lone surrogate \\udcff.txt"  # Parquet holds UTF-8: escaped, as cat
    assert [row["level_name"] for row in rows[12:14]] == ["Level 35", "Level 5"]
    assert "KeyError: 'missing'" in rows[14]["traceback"] and rows[15]["stack"]
    assert rows[19]["args"] is None and rows[20]["thread_name"] == "worker-1"
    assert messages[22] == "a message from the extras"
    assert json.loads(rows[1]["extra"])["tags"] == ["a", "b"]
    assert rows[24]["template"] is None and messages[24] == "cart.updated items=3"
    assert rows[25]["logger"] == "shop" and rows[25]["level"] == 40 and messages[25] == "renamed"
    # And the same messages, levels and loggers as cat -o json prints.
    cat = run("cat", str(path), "-o", "json")
    objects = [json.loads(line) for line in cat.stdout.splitlines()]
    assert [(r["seq"], r["level_name"], r["logger"]) for r in rows] == [
        (o["seq"], o["level"], o["logger"]) for o in objects
    ]
    escaped = [o["message"].encode("utf-8", "backslashreplace").decode() for o in objects]
    # The LogRecords' (for events, cat's "message" is the event's text alone,
    # export's the rendered line, as getMessage() gives it).
    assert messages[:23] == escaped[:23]


ODD_VALUES = [
    None, True, False, 0, -1, 2**31, 2**63 - 1, 2**64 - 1, 1.5, -0.0, math.nan, math.inf, 1e300,
    "", "text", "%s", "%(x)s", "\udc80 lone", "WARNING", b"bytes", [], [1, "a"], {}, {"x": 1},
    {1: 2}, msgpack.ExtType(1, b"\x92\x01\x02"), msgpack.ExtType(99, b"?"),
]  # fmt: skip
USUAL: dict[str, Any] = {
    "c": T0, "k": "log", "v": 1, "n": "svc.db", "m": "%s-%s", "l": 20, "p": "/app/x.py",
    "ln": 3, "fn": "f", "ms": 1.0, "t": 1, "tn": "MainThread", "P": 2, "pn": "MainProcess",
    "st": T0 - 1, "a": ["a", 1],
}  # fmt: skip


@st.composite
def stored_maps(draw: st.DrawFn) -> bytes:
    """A log map as the handler writes it, with some fields of odd types,
    missing or added (extras, a level name, a stored message), or an event."""
    if draw(st.integers(0, 9)) == 0:
        event = draw(st.dictionaries(st.sampled_from(["event", "level", "logger", "x"]),
                                     st.sampled_from(ODD_VALUES)))  # fmt: skip
        return packb({"c": T0, "k": "event", "v": 1, "ev": event})
    data = dict(USUAL, c=T0 + draw(st.integers(0, 50)))
    odd = st.sampled_from(ODD_VALUES)
    for key in draw(st.lists(st.sampled_from([*USUAL, "L", "txt", "x", "s", "e"]), max_size=4)):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            data.pop(key, None)
        elif choice == 1 and key == "e":
            data["e"] = draw(st.dictionaries(
                st.sampled_from(["order", "name", "capture_x", "_capture_message", "taskName"])
                | st.sampled_from([1, b"k"]), odd, max_size=3))  # fmt: skip
        else:
            data[key] = draw(odd)
    return packb(data)


def packb(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True, unicode_errors="surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(st.lists(stored_maps(), max_size=12))
def test_any_stored_value_gives_the_row_records_gives(maps: list[bytes]) -> None:
    """Whatever the stored maps hold, both routes agree, row for row (or
    fail alike on a record that is not a capturelog record)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odd.capture"
        usual = packb(USUAL)  # so that the file reads as log records
        with CaptureFile(path, to_write=True, encoding=None) as cf:
            cf.add_records([usual, *maps])
            cf.commit()
        with ReplayReader(path) as reader:
            results = []
            for filters in ({}, {"match": ""}):
                try:
                    results.append(to_arrow(reader, **filters))
                except Exception as exc:  # both must fail alike
                    results.append((type(exc), str(exc)))
    fast, slow = results
    assert type(fast) is type(slow)
    assert fast == slow if isinstance(fast, tuple) else fast.equals(slow)


def test_each_field_of_each_odd_type_gives_the_row_records_gives(tmp_path: Path) -> None:
    """Every stored field, in turn, missing or of each odd type."""
    maps = [dict(USUAL)]
    for key in [*USUAL, "L", "txt", "x", "s", "e", "tk", "r", "f", "mo"]:
        maps.append({k: v for k, v in USUAL.items() if k != key})
        maps.extend(dict(USUAL, **{key: value}) for value in ODD_VALUES)
    maps.extend(dict(USUAL, e={key: 1}) for key in ["capture_x", "_capture_message", "msg", 2])
    path = tmp_path / "odd.capture"
    with CaptureFile(path, to_write=True, encoding=None) as cf:
        cf.add_records([packb(data) for data in maps])
        cf.commit()
    with ReplayReader(path) as reader:
        fast, slow = both_routes(reader)
        # Alone in its batch, each odd value is the only one of its column.
        alone = pa.Table.from_batches(list(record_batches(reader, batch_size=1)))
    assert fast.num_rows == len(maps) > 700
    assert fast.equals(slow)
    assert alone.equals(slow)


def write_streams(directory: Path) -> list[str]:
    """A log set of two streams cut in segments, a file whose clock steps
    back (within the skew and beyond it, and once to NaN), and a file of
    plain records; events among the records. Returns the paths to read."""
    paths = []
    for name, offset in (("set.capture", 0.0), ("set.4242.capture", 0.2)):
        handler = CaptureHandler(directory / name, rotation=1, commit_every=7,
                                 commit_interval=None)  # fmt: skip
        for i in range(40):
            logger = ("svc.db", "svc", "other")[i % 3]
            level = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)[i % 4]
            record = logging.LogRecord(logger, level, "x.py", i, "step %d of %s", (i, name), None)
            record.created = T0 + offset + i * 0.5
            handler.handle(record)
            if i % 9 == 0:
                handler.emit_event({"event": f"event {i}", "level": "warning", "logger": "svc"}, 30)
        handler.close()
    paths.append(str(directory / "set.capture"))
    handler = CaptureHandler(directory / "clock.capture", commit_interval=None)
    for i, created in enumerate(CLOCK):
        record = logging.LogRecord("svc.db", logging.INFO, "y.py", i, "tick %d", (i,), None)
        record.created = created
        handler.handle(record)
    handler.close()
    paths.append(str(directory / "clock.capture"))
    with CaptureFile(directory / "plain.capture", to_write=True) as cf:
        cf.add_records([f"plain line {i}" for i in range(5)])
        cf.commit()
    paths.append(str(directory / "plain.capture"))
    return paths


# The times of clock.capture: 0.7 s apart, but record 10 is 0.05 s older
# than record 9 (within the skew), records from 20 on are 2 s back (beyond
# it), and record 25 has no time (NaN).
CLOCK = [T0 + 0.1 + i * 0.7 - (2.0 if i >= 20 else 0) for i in range(30)]
CLOCK[10] = CLOCK[9] - 0.05
CLOCK[25] = math.nan

FILTERS: list[dict[str, Any]] = [
    {"until": CLOCK[9] - 0.02}, {"since": CLOCK[9] - 0.02, "until": CLOCK[12]},
    {"since": CLOCK[21], "until": CLOCK[19] + 0.01, "skew": 0},
    {}, {"level": "WARNING"}, {"level": "INFO..WARNING"}, {"level": logging.ERROR},
    {"logger": "svc.db"}, {"logger": "svc", "level": "INFO"}, {"since": T0 + 5},
    {"until": T0 + 10}, {"since": T0 + 3, "until": T0 + 12, "skew": 0},
    {"since": T0 + 4.3, "until": T0 + 9.1, "skew": 3}, {"since": T0 + 12, "level": "ERROR"},
    {"start": 5}, {"stop": -3}, {"start": -4}, {"start": 3, "stop": 9, "level": "WARNING"},
    {"start": 2, "since": T0 + 2, "logger": "svc"}, {"since": T0 + 100}, {"start": 1000},
]  # fmt: skip


@pytest.mark.parametrize("filters", FILTERS, ids=[repr(f) for f in FILTERS])
def test_filters_and_merge_order_are_those_of_records(
    tmp_path: Path, filters: dict[str, Any]
) -> None:
    with ReplayReader(write_streams(tmp_path)) as reader:
        assert len(reader.streams) == 4
        fast, slow = both_routes(reader, **filters)
        assert fast.equals(slow)
        expected = [(r.capture_stream, r.capture_seq) for r in reader.records(**filters)]  # type: ignore[attr-defined]
    assert list(zip(fast.column("stream").to_pylist(), fast.column("seq").to_pylist(),
                    strict=True)) == expected  # fmt: skip


def test_batches_cut_anywhere_give_the_same_rows(tmp_path: Path) -> None:
    """Runs of rows sharing a file (a segment) cross batch boundaries."""
    with ReplayReader(write_streams(tmp_path)) as reader:
        whole = to_arrow(reader)
        for size in (1, 3, 7, 50):
            batches = list(record_batches(reader, batch_size=size))
            assert {batch.num_rows for batch in batches[:-1]} == {size}
            assert pa.Table.from_batches(batches).equals(whole)
        segments = {f for f in whole.column("file").to_pylist() if "@" in f}
        assert len(segments) > 8  # every seven records a segment, in each stream
        plain = whole.filter(pc.equal(whole.column("stream"), "plain.capture"))
    assert plain.column("message").to_pylist() == [f"plain line {i}" for i in range(5)]
    assert plain.column("time").null_count == 5 and plain.column("host").null_count == 5


def test_filters_are_checked_as_records_checks_them(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, count=3)
    with ReplayReader(path) as reader:
        for filters, error in (
            ({"skew": -1}, "skew must be 0 or more seconds, not -1"),
            ({"level": "LOUD"}, "LOUD"),
            ({"since": "not a time"}, "not a time"),
        ):
            with pytest.raises(ValueError, match=error):
                to_arrow(reader, **filters)
        with pytest.raises(TypeError):
            to_arrow(reader, colour="red")
        with pytest.raises(ValueError, match="batch_size"):
            next(record_batches(reader, batch_size=0))
        assert to_arrow(reader, reverse=True).column("seq").to_pylist() == [7, 6, 5, 4, 3, 2, 1]


def test_reader_methods(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, count=20)
    with ReplayReader(path) as reader:
        assert reader.to_arrow().equals(to_arrow(reader))
        assert reader.to_arrow(level="ERROR").column("seq").to_pylist() == [22, 23]
        batches = list(reader.record_batches(batch_size=10, logger="export.svc.db"))
        assert [b.num_rows for b in batches] == [1]
        assert batches[0].schema == schema()
        assert [b.num_rows for b in reader.record_batches(8)] == [8, 8, 8]


def test_the_core_imports_without_pyarrow() -> None:
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "import capturelog, capturelog.replay, capturelog.export\n"
        "reader = capturelog.ReplayReader(sys.argv[1])\n"
        "try:\n"
        "    reader.to_arrow()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.capture"
        write_log(path, count=1)
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                                text=True, timeout=60, check=True)  # fmt: skip
    assert "pip install 'capturelog[parquet]'" in result.stdout


def test_command_start_stop_and_skew(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, count=20)
    out = tmp_path / "out.parquet"
    result = run("export", str(path), "--parquet", str(out), "--start", "3", "--stop", "-2")
    assert result.returncode == 0, result.stderr
    assert pq.read_table(out).column("seq").to_pylist() == list(range(3, 23))
    result = run("export", str(path), "--parquet", str(out), "--force", "--start", "-2",
                 "--skew", "0", "--since", "2000-01-01")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pq.read_table(out).column("seq").to_pylist() == [23, 24]


def test_an_unreadable_record_leaves_no_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "damaged.capture"
    with CaptureFile(path, to_write=True, encoding=None) as cf:
        cf.add_records([packb(dict(USUAL, c=T0 + i)) for i in range(40_000)])
        cf.add_record(b"\xc1 not msgpack")
        cf.commit()
    out = tmp_path / "out.parquet"
    with ReplayReader(path) as reader, pytest.raises(InvalidCaptureFile, match="record 40001"):
        export_parquet(reader, out, row_group_size=1000)  # batches written before it fails
    assert list(tmp_path.iterdir()) == [path]
    result = run("export", str(path), "--parquet", str(out))
    assert result.returncode == 1 and "record 40001 is not a capturelog record" in result.stderr
    assert list(tmp_path.iterdir()) == [path]
