"""ReplayReader: lookups, filters, time windows by binary search, replay, follow, merging."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgpack
import pytest

from capturelog import CaptureFile, CaptureHandler, InvalidCaptureFile, ReplayReader
from capturelog.replay import to_timestamp

T0 = 1_800_000_000.0  # a fixed epoch second for made-up records


def write_records(path: Path, specs: list[tuple[float, int, str, str]]) -> None:
    """Log records with chosen times, levels, loggers and messages."""
    handler = CaptureHandler(path, commit_interval=None)
    for created, level, name, message in specs:
        record = logging.LogRecord(name, level, "/app/mod.py", 1, message, None, None)
        record.created = created
        record.msecs = 0.0
        handler.handle(record)
    handler.close()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "s.capture"
    names = ["svc", "svc.db", "svc.db.pool", "svc.dbx", "other"]
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    write_records(
        path,
        [(T0 + i, levels[i % 4], names[i % 5], f"event {i}") for i in range(1000)],
    )
    return path


def test_lookup_by_number_slices_and_events(sample: Path) -> None:
    """reader[n], reader[a:b], reader.record(n) and reader.event(n) agree."""
    with ReplayReader(sample) as reader:
        assert len(reader) == 1000
        assert reader[1].getMessage() == "event 0"
        assert reader[-1].getMessage() == "event 999"
        assert reader.record(10).capture_seq == 10  # type: ignore[attr-defined]
        assert reader[10].capture_file == str(sample)  # type: ignore[attr-defined]
        assert [r.getMessage() for r in reader[5:8]] == ["event 4", "event 5", "event 6"]
        assert [r.capture_seq for r in reader[1:10:4]] == [1, 5, 9]  # type: ignore[attr-defined]
        assert reader.event(3)["msg"] == "event 2"
        with pytest.raises(IndexError):
            reader[1001]


def test_filters(sample: Path) -> None:
    """level, logger (with children only), match and start/stop combine."""
    with ReplayReader(sample) as reader:
        errors = list(reader.records(level="ERROR"))
        assert len(errors) == 250 and all(r.levelno == logging.ERROR for r in errors)
        db = list(reader.records(logger="svc.db"))
        assert {r.name for r in db} == {"svc.db", "svc.db.pool"}  # not svc.dbx
        assert [r.getMessage() for r in reader.records(match=r"event 99\d")] == [
            f"event {i}" for i in range(990, 1000)
        ]
        window = list(reader.records(100, 110, level=logging.WARNING))
        assert [r.capture_seq for r in window] == [100, 103, 104, 107, 108]  # type: ignore[attr-defined]


def test_time_window_by_binary_search(sample: Path) -> None:
    """since/until take datetimes, ISO strings or epoch seconds; since <= t < until."""
    since = datetime.fromtimestamp(T0 + 500, tz=timezone.utc)
    with ReplayReader(sample) as reader:
        by_datetime = [r.getMessage() for r in reader.records(since=since, until=T0 + 503)]
        assert by_datetime == ["event 500", "event 501", "event 502"]
        iso = since.isoformat()
        assert [r.getMessage() for r in reader.records(since=iso, until=T0 + 501)] == ["event 500"]
        assert list(reader.records(since=T0 + 5000)) == []
        assert len(list(reader.records(until=T0 + 10))) == 10


def test_time_search_reads_few_records(sample: Path) -> None:
    """Finding a window deep in the file reads O(log n) records, not all of them."""
    with ReplayReader(sample) as reader:
        source = reader._sources[0]
        calls = 0
        original = source.created

        def counting(seq: int) -> float:
            nonlocal calls
            calls += 1
            return original(seq)

        source.created = counting  # type: ignore[method-assign]
        assert len(list(reader.records(since=T0 + 900, until=T0 + 905))) == 5
        assert calls <= 12


def test_small_clock_steps_backwards_are_tolerated(tmp_path: Path) -> None:
    """Records a little out of time order at both edges of a window are still found."""
    path = tmp_path / "skew.capture"
    times = [T0 + i for i in range(100)]
    times[49] = T0 + 50.1  # the clock ran ahead, then stepped back 0.1 s
    times[52] = T0 + 50.9  # stepped back 0.1 s after m51 (at T0 + 51)
    write_records(path, [(t, logging.INFO, "x", f"m{i}") for i, t in enumerate(times)])
    with ReplayReader(path) as reader:
        got = [r.getMessage() for r in reader.records(since=T0 + 50, until=T0 + 51)]
        assert got == ["m49", "m50", "m52"]
        # With no margin the search trusts the order and misses the late one.
        strict = [r.getMessage() for r in reader.records(since=T0 + 50, until=T0 + 51, skew=0)]
        assert strict == ["m49", "m50"]


def test_replay_into_a_handler_and_a_logger(sample: Path) -> None:
    """replay() re-renders records through any handler or logger, with filters."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    with ReplayReader(sample) as reader:
        assert reader.replay(handler, level="ERROR", logger="svc.db.pool") == 50
        assert lines[0] == "ERROR svc.db.pool event 7"
        lines.clear()
        logger = logging.getLogger("replay.target")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        sent = reader.replay(logger, 1, 11)
    assert sent == 4 and lines[0] == "WARNING svc.db.pool event 2"


def test_follow_yields_new_commits(tmp_path: Path) -> None:
    """follow() yields records as a live writer commits them, and stops on request."""
    path = tmp_path / "live.capture"
    handler = CaptureHandler(path, commit_every=1, commit_interval=None)
    seen: list[str] = []
    stop = threading.Event()

    def consume() -> None:
        with ReplayReader(path) as reader:
            for record in reader.follow(1, poll_interval=0.02, stop_event=stop, level="INFO"):
                seen.append(record.getMessage())
                if len(seen) == 3:
                    break

    thread = threading.Thread(target=consume)
    thread.start()
    log = logging.getLogger("follow.test")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    deadline = time.monotonic() + 20
    i = 0
    while thread.is_alive() and time.monotonic() < deadline:
        log.debug("filtered out %d", i)
        log.info("live %d", i)
        i += 1
        time.sleep(0.01)  # paces the writer; the reader waits on its own
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert seen == ["live 0", "live 1", "live 2"]
    # Setting stop_event ends a follow once what was committed before is out.
    stop.set()
    handler.close()
    with ReplayReader(path) as reader:
        drained = [r.getMessage() for r in reader.follow(1, stop_event=stop, level="INFO")]
    assert drained == [f"live {n}" for n in range(i)]


def test_several_files_merge_in_time_order(tmp_path: Path) -> None:
    """Files from several processes interleave by time; each record names its file."""
    a, b = tmp_path / "a.capture", tmp_path / "b.capture"
    write_records(a, [(T0 + 2 * i, logging.INFO, "a", f"a{i}") for i in range(5)])
    write_records(b, [(T0 + 2 * i + 1, logging.INFO, "b", f"b{i}") for i in range(5)])
    with ReplayReader([a, b]) as reader:
        merged = list(reader.records())
        assert [r.getMessage() for r in merged] == [x for i in range(5) for x in (f"a{i}", f"b{i}")]
        assert {r.capture_file for r in merged} == {str(a), str(b)}  # type: ignore[attr-defined]
        assert len(reader) == 10
        window = [r.getMessage() for r in reader.records(since=T0 + 3, until=T0 + 6)]
        assert window == ["b1", "a2", "b2"]
        with pytest.raises(TypeError, match="several"):
            reader[1]


def test_time_parsing() -> None:
    """Times as numbers, numeric strings, ISO strings with Z or offsets, datetimes."""
    assert to_timestamp(5) == 5.0
    assert to_timestamp("5.5") == 5.5
    assert to_timestamp("2027-01-15T08:00:00Z") == to_timestamp("2027-01-15T09:00:00+01:00")
    assert to_timestamp(datetime(2027, 1, 15, tzinfo=timezone.utc)) == 1799971200.0
    with pytest.raises(ValueError, match="not a time"):
        to_timestamp("the day before")


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(st.floats(-0.09, 2.0), min_size=1, max_size=300),
    window=st.tuples(st.floats(-5, 400), st.floats(0, 50)),
)
def test_time_windows_match_a_scan_when_clocks_step_back_within_skew(
    tmp_path: Path, steps: list[float], window: tuple[float, float]
) -> None:
    """Whatever the times, as long as no step back exceeds the skew (0.1 s), a
    time query returns exactly what a full scan with the same test returns."""
    times, now, latest = [], T0, T0
    for step in steps:
        # Never more than 0.099 s older than the latest time so far: the rule.
        now = max(now + step, latest - 0.099)
        latest = max(latest, now)
        times.append(now)
    path = tmp_path / "h.capture"
    if path.exists():
        path.unlink()
    write_records(path, [(t, logging.INFO, "x", f"m{i}") for i, t in enumerate(times)])
    since, until = T0 + window[0], T0 + window[0] + window[1]
    with ReplayReader(path) as reader:
        found = [r.capture_seq for r in reader.records(since=since, until=until)]  # type: ignore[attr-defined]
        scanned = [r.capture_seq for r in reader.records() if since <= r.created < until]  # type: ignore[attr-defined]
    assert found == scanned


def write_raw(path: Path, payloads: list[bytes]) -> None:
    """Store bytes as records, as a foreign or crafted writer could."""
    with CaptureFile(path, to_write=True, encoding=None) as cf:
        for payload in payloads:
            cf.add_record(payload)
        cf.commit()


def test_records_that_cannot_be_decoded_raise_invalid_capture_file(tmp_path: Path) -> None:
    """Whatever is wrong with a record's bytes (not msgpack, bytes left over,
    cut short, nested too deep, a key that is an array, not a map), reading it
    by number, by iteration or through filters raises InvalidCaptureFile
    naming the file and the record, never msgpack's own exceptions."""
    deep = msgpack.packb([])
    for _ in range(40):
        deep = msgpack.packb([msgpack.ExtType(1, deep)])
    good = msgpack.packb({"c": T0, "k": "log", "m": "fine", "l": 20, "n": "svc"})
    bad = [
        b"\xc1", good + b"\x01", b"\x92\x01", b"\x91" * 1100 + b"\x90", deep,
        b"\x81\x91\x01\x02", msgpack.packb([1, 2]), b"",
    ]  # fmt: skip
    path = tmp_path / "bad.capture"
    write_raw(path, [good, *bad])
    with ReplayReader(path) as reader:
        assert reader[1].getMessage() == "fine"
        for seq in range(2, len(bad) + 2):
            for read in (
                lambda seq=seq: reader[seq],
                lambda seq=seq: reader.event(seq),
                lambda seq=seq: list(reader.records(seq, seq + 1)),
                lambda seq=seq: list(reader.records(seq, level="INFO", logger="svc", match="x")),
                lambda seq=seq: list(reader.records(seq, since=T0 - 1)),
            ):
                with pytest.raises(InvalidCaptureFile, match=rf"bad\.capture: record {seq} "):
                    read()
        with pytest.raises(InvalidCaptureFile, match="record 2 "):
            list(reader)


def test_malformed_logging_calls_are_read_and_searched_as_text(malformed: Path) -> None:
    """A call whose template does not fit its arguments (logging stores it
    without complaint) is read like any other: getMessage() names the
    template, the arguments and the error, match= searches that text, and the
    records after it are read."""
    path = malformed
    with ReplayReader(path) as reader:
        messages = [r.getMessage() for r in reader]
        assert messages == [
            "'user %(user)s' % {'name': 'ann'} (formatting failed: KeyError('user'))",
            "'%d items' % ('many',) (formatting failed: TypeError("
            "'%d format: a real number is required, not str'))",
            "after them",
        ]
        assert [r.capture_seq for r in reader.records(match="KeyError")] == [1]  # type: ignore[attr-defined]
        assert reader[2].msg == "%d items" and reader[2].args == ("many",)


def test_filters_merging_and_replay_cope_with_odd_stored_values(tmp_path: Path) -> None:
    """Standard fields of unexpected types (a crafted file) never crash the
    filters, the time search, merging or replay(): a level that is not a
    number counts as NOTSET, a name that is not a str is matched by its repr,
    a time that is not a number as 0.0, and a NaN time is in no window."""
    maps = [
        {"c": float("nan"), "k": "log", "l": 30, "n": "svc", "m": "nan time"},
        {"c": T0 + 1, "k": "log", "l": "WARNING", "n": ["svc"], "m": {"a": 1}},
        {"c": float("inf"), "k": "log", "l": [40], "n": 7, "m": "inf time", "p": [1]},
        {"c": T0 + 3, "k": "log", "l": 40.5, "n": "svc.db", "m": "%s %s", "a": "ab"},
        {"c": float("-inf"), "k": "log", "l": None, "ln": "x", "m": "-inf time"},
        {"c": "yesterday", "k": "log", "l": 50, "n": "svc", "m": "text time", "ms": None},
        {"c": 1e300, "k": "log", "l": True, "n": "svc", "x": 5, "s": [1], "m": "far"},
        {"c": T0 + 7, "k": "event", "ev": {"event": "e", "level": [1], "timestamp": "bad"}},
    ]
    paths = [tmp_path / "odd1.capture", tmp_path / "odd2.capture"]
    write_raw(paths[0], [msgpack.packb(m) for m in maps])
    write_raw(paths[1], [msgpack.packb(m) for m in reversed(maps)])
    with ReplayReader(paths[0]) as reader:
        assert len(list(reader)) == len(maps)
        assert [r.getMessage() for r in reader.records(level="ERROR")] == [
            "'%s %s' % 'ab' (formatting failed: TypeError('not enough arguments for format"
            " string'))",
            "text time",
        ]
        assert [r.capture_seq for r in reader.records(logger="svc")] == [1, 4, 6, 7]  # type: ignore[attr-defined]
        assert [r.capture_seq for r in reader.records(logger="['svc']")] == [2]  # type: ignore[attr-defined]
        for since, until in ((T0, T0 + 5), (None, T0), (T0 + 100, None), (float("nan"), None)):
            # Out of time order, so a window may miss records; it never fails.
            assert len(list(reader.records(since=since, until=until))) <= len(maps)
        assert len(list(reader.records(match="time"))) == 4
        collected: list[logging.LogRecord] = []
        collect = logging.Handler()
        collect.emit = collected.append  # type: ignore[assignment,method-assign]
        assert reader.replay(collect) == len(maps) == len(collected)
        target = logging.getLogger("replay.odd.target")
        target.setLevel(logging.DEBUG)
        target.propagate = False
        target.addHandler(logging.NullHandler())
        assert reader.replay(target) == 4  # levels 30, 40.5, 50 and the event's (INFO)
        followed = list(reader.follow(1, stop_event=_set_event(), level="INFO"))
        assert [r.capture_seq for r in followed] == [1, 4, 6, 8]  # type: ignore[attr-defined]
    with ReplayReader(paths) as both:
        assert len(list(both)) == 2 * len(maps)
    inf, nan = float("inf"), float("nan")
    times: list[Any] = [-inf, "yesterday", T0 + 1, T0 + 3, nan, 1e300, inf]
    ordered = tmp_path / "ordered.capture"
    write_raw(ordered, [msgpack.packb({"c": t, "k": "log", "m": "m"}) for t in times])
    with ReplayReader(ordered) as reader:
        assert [r.capture_seq for r in reader.records(since=T0, until=T0 + 5)] == [3, 4]  # type: ignore[attr-defined]
        assert [r.capture_seq for r in reader.records(until=T0)] == [1, 2]  # type: ignore[attr-defined]
        assert [r.capture_seq for r in reader.records(since=T0 + 100)] == [6, 7]  # type: ignore[attr-defined]


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def test_a_value_nested_3000_deep_is_logged_and_read(tmp_path: Path) -> None:
    """Logging a tuple nested 3,000 deep raises nothing into the application
    (the encoder recursed without bound) and the record reads back, its
    message naming the template and the error that rendering it raised."""
    value: Any = "core"
    for _ in range(3000):
        value = (value,)
    path = tmp_path / "deep.capture"
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("replay.deep")
    log.handlers = [handler]
    log.propagate = False
    log.warning("state %s", value)
    log.warning("after it")
    handler.close()
    with ReplayReader(path) as reader:
        first, second = list(reader)
        assert first.getMessage().startswith("'state %s' % (((")
        assert "formatting failed: RecursionError" in first.getMessage()
        assert second.getMessage() == "after it"
