"""Shipping to OpenTelemetry (capturelog.ship, ``capturelog ship``), against a
real OTLP/HTTP receiver decoding the official protobuf messages: one that
refuses, goes down and comes back; shippers killed with SIGKILL and
restarted; every committed record must arrive at least once, in order per
stream, with duplicates bounded by one batch."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import pty
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgpack
import pytest

pytest.importorskip("opentelemetry.proto")  # in the test extras (capturelog[otlp])

from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs._internal import std_to_otel
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import Receiver, attributes

from capturelog import CaptureFile, CaptureHandler, ReplayReader
from capturelog._otlp import RequestBuilder, Translator, severity
from capturelog.ship import Cursor, ShipError, default_cursor, logs_endpoint, ship

SCRIPT = shutil.which("capturelog") or "capturelog"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def write_log(path: Path, count: int, logger: str = "ship.svc", **options: object) -> None:
    handler = CaptureHandler(path, commit_interval=None, **options)  # type: ignore[arg-type]
    log = logging.getLogger(logger)
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    for i in range(count):
        log.info("step %d of %s", i, "job", extra={"order": i})
    handler.close()


def assert_at_least_once(
    streams: dict[str, list[int]], expected: dict[str, int], batch: int
) -> int:
    """Every record 1..N of each stream arrived, none ahead of its turn, and
    each one sent again was at most one batch back; returns the duplicates."""
    assert set(streams) == set(expected)
    duplicates = 0
    for stream, seqs in streams.items():
        highest = 0
        for seq in seqs:
            assert seq <= highest + 1, f"{stream}: {seq} arrived before {highest + 1}"
            if seq <= highest:
                duplicates += 1
                assert highest - seq < batch, f"{stream}: {seq} sent again, {highest} shipped"
            highest = max(highest, seq)
        assert highest == expected[stream]
        assert sorted(set(seqs)) == list(range(1, expected[stream] + 1))
    return duplicates


@contextlib.contextmanager
def warnings_of_ship() -> Iterator[list[str]]:
    """What the shipper warns of, read by a handler on its own logger (so
    that no other test's logging setup can hide it)."""
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("capturelog.ship")
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# --------------------------------------------------------------- the mapping


def test_each_field_arrives_where_opentelemetry_puts_it(  # noqa: PLR0915 - every field
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    handler = CaptureHandler(path)
    log = logging.getLogger("ship.map")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.warning(
        "user %s paid %.2f", "ann", 9.5,
        extra={
            "order": {"id": 7, "items": ["a", "b"], "gift": None},
            "when": dt.datetime(2026, 1, 2, 3, 4, 5),
            "huge": 2**70, "raw": b"\x00\x01", "ok": True, "ratio": 0.5,
            "otelTraceID": "0af7651916cd43dd8448eb211c80319c",
            "otelSpanID": "b7ad6b7169203331", "otelTraceSampled": True,
        },
    )  # fmt: skip
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("lookup failed")
    log.critical("bad name \udcff in text", stack_info=True)
    log.log(25, "between info and warning")
    handler.close()

    report = ship(path, receiver.url, follow=False)
    assert report.shipped == 4
    first, failed, bad, between = receiver.records
    record = first.record
    attrs = attributes(record)
    assert first.body == "user ann paid 9.50"
    assert (record.severity_number, record.severity_text) == (13, "WARN")
    assert first.scope == "ship.map"
    assert attrs["code.function.name"] == "test_each_field_arrives_where_opentelemetry_puts_it"
    assert attrs["code.file.path"] == __file__
    assert type(attrs["code.line.number"]) is int
    assert attrs["capturelog.template"] == "user %s paid %.2f"
    assert attrs["capturelog.args"] == ["ann", 9.5]
    assert attrs["capturelog.seq"] == 1
    assert attrs["order"] == {"id": 7, "items": ["a", "b"], "gift": None}
    assert attrs["when"] == "2026-01-02T03:04:05"
    assert attrs["huge"] == str(2**70)  # beyond int64: as text
    assert (attrs["raw"], attrs["ok"], attrs["ratio"]) == (b"\x00\x01", True, 0.5)
    assert attrs["thread.name"] == "MainThread"
    assert attrs["process.pid"] == os.getpid()
    assert record.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert record.span_id.hex() == "b7ad6b7169203331"
    assert record.flags == 1
    assert not any(key.startswith("otel") for key in attrs)
    with ReplayReader(path) as reader:
        created = reader[1].created
    assert record.time_unix_nano == int(created * 1e9) == record.observed_time_unix_nano

    failed_attrs = attributes(failed.record)
    assert (failed.record.severity_number, failed.record.severity_text) == (17, "ERROR")
    assert failed_attrs["exception.type"] == "KeyError"
    assert failed_attrs["exception.message"] == "'missing'"
    assert failed_attrs["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert "capturelog.template" not in failed_attrs  # no arguments: the body is the template

    assert (bad.record.severity_number, bad.record.severity_text) == (21, "FATAL")
    assert bad.body == "bad name \\udcff in text"  # protobuf takes UTF-8 only: escaped
    assert "Stack (most recent call last)" in attributes(bad.record)["code.stacktrace"]
    assert between.record.severity_number == 12  # INFO4, as the SDK maps 25

    resource = first.resource
    assert resource["host.name"] == reader_origin(path)["host"]
    assert resource["process.pid"] == os.getpid()
    assert resource["service.name"].startswith("unknown_service")
    assert resource["capturelog.stream"] == "app.capture"
    assert resource["capturelog.file"] == str(path)


def reader_origin(path: Path) -> dict[str, object]:
    with ReplayReader(path) as reader:
        origin = reader.origin()
    assert origin is not None
    return origin


def test_trace_ids_from_opentelemetrys_logging_instrumentation(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The real instrumentation puts the current span's ids on each record
    (and "0" outside a span); they arrive in the OTLP record's own fields."""
    path = tmp_path / "app.capture"
    handler = CaptureHandler(path)
    log = logging.getLogger("ship.traced")
    log.handlers = [handler]
    log.propagate = False
    instrumentor = LoggingInstrumentor()
    instrumentor.instrument(inject_trace_context=True, tracer_provider=TracerProvider())
    try:
        tracer = trace.get_tracer("test", tracer_provider=TracerProvider())
        with tracer.start_as_current_span("checkout") as span:
            log.warning("inside the span")
        log.warning("outside any span")
    finally:
        instrumentor.uninstrument()
        handler.close()
    ship(path, receiver.url, follow=False)
    inside, outside = (r.record for r in receiver.records)
    context = span.get_span_context()
    assert inside.trace_id == context.trace_id.to_bytes(16, "big")
    assert inside.span_id == context.span_id.to_bytes(8, "big")
    assert inside.flags == 1
    assert (outside.trace_id, outside.span_id, outside.flags) == (b"", b"", 0)
    assert not any(key.startswith("otel") for key in attributes(inside))


def test_severity_numbers_are_the_sdks() -> None:
    for level in range(70):
        assert severity(level) == std_to_otel(level).value, level


def test_bodies_match_cat_json_record_for_record(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 700)
    result = run("ship", str(path), "--otlp", receiver.url, "--once", "--batch", "128")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("shipped 700 records in 6 batches")
    assert result.stdout == ""
    lines = run("cat", str(path), "-o", "json").stdout.splitlines()
    expected = [(obj["seq"], obj["message"]) for obj in map(json.loads, lines)]
    assert [(r.seq, r.body) for r in receiver.records] == expected


def test_replaying_into_the_sdks_logging_handler_is_the_simple_path(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 5)
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with pytest.warns(DeprecationWarning):
        otel_handler = LoggingHandler(logger_provider=provider)
    with ReplayReader(path) as reader:
        assert reader.replay(otel_handler) == 5
    bodies = [data.log_record.body for data in exporter.get_finished_logs()]
    assert bodies == [f"step {i} of job" for i in range(5)]


# --------------------------------------------------------------- the cursor


def test_a_second_run_ships_only_what_is_new(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 30)
    assert ship(path, receiver.url, follow=False, batch_records=7).shipped == 30
    assert ship(path, receiver.url, follow=False).shipped == 0
    write_log(path, 5)  # the handler appends to the file
    assert ship(path, receiver.url, follow=False).shipped == 5
    assert receiver.by_stream() == {"app.capture": list(range(1, 36))}
    cursor = json.loads((tmp_path / ".app.capture.ship-cursor").read_text())
    assert cursor["positions"] == {"app.capture": 35}
    write_log(path, 4, rotation="1 KB")  # rotation on: a log set beside the old file
    assert ship(path, receiver.url, follow=False).shipped == 4
    cursor = json.loads((tmp_path / ".app.capture.ship-cursor").read_text())
    assert cursor["positions"] == {"app.capture": 35, "stream:app.capture": 4}
    files = [Path(r.resource["capturelog.file"]).name for r in receiver.records[35:]]
    assert files == ["app@000000000001.capture"] * 4
    assert cursor["endpoint"] == f"{receiver.url}/v1/logs"


def test_a_cursor_is_for_one_destination_and_one_shipper(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 3)
    ship(path, receiver.url, follow=False)
    with pytest.raises(ShipError, match="this cursor records shipping to"):
        ship(path, "http://127.0.0.1:1/", follow=False)
    other = tmp_path / "other.cursor"
    ship(path, "http://127.0.0.1:1/x", follow=False, cursor=other, max_backoff=0.01,
         stop_event=stopped_soon())  # fmt: skip
    with Cursor(str(tmp_path / ".app.capture.ship-cursor"), f"{receiver.url}/v1/logs"):
        result = run("ship", str(path), "--otlp", receiver.url, "--once")
        assert result.returncode == 1
        assert "another shipper is using this cursor" in result.stderr
    (tmp_path / ".app.capture.ship-cursor").write_text("{not json")
    with pytest.raises(ShipError, match="cannot read this cursor"):
        ship(path, receiver.url, follow=False)


def stopped_soon(after: float = 0.3) -> threading.Event:
    event = threading.Event()
    threading.Timer(after, event.set).start()
    return event


def test_where_the_cursor_goes(tmp_path: Path) -> None:
    assert default_cursor([str(tmp_path / "app.capture")]) == str(
        tmp_path / ".app.capture.ship-cursor"
    )
    assert default_cursor([str(tmp_path)]) == str(tmp_path / ".capturelog.ship-cursor")
    with pytest.raises(ValueError, match="--cursor"):
        default_cursor([str(tmp_path / "*.capture")])
    assert logs_endpoint("http://c:4318") == "http://c:4318/v1/logs"
    assert logs_endpoint("https://c/otlp/v1/logs") == "https://c/otlp/v1/logs"
    with pytest.raises(ValueError, match="not an http"):
        logs_endpoint("c:4318")


# --------------------------------------------------------------- the collector


def test_a_failing_collector_gets_the_batch_again_until_it_takes_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 50)
    receiver.status = 503
    receiver.retry_after = "0"
    threading.Timer(0.5, lambda: setattr(receiver, "status", 200)).start()
    with warnings_of_ship() as said:
        report = ship(path, receiver.url, follow=False, batch_records=20, max_backoff=0.05)
    assert report.shipped == 50
    assert report.retries >= 1
    # Each cause said once, however many retries, and the recovery too.
    assert said == [
        "127.0.0.1: HTTP 503 Service Unavailable; retrying until it takes the batch",
        f"the collector took the batch after {report.retries} retries",
    ]
    assert receiver.by_stream() == {"app.capture": list(range(1, 51))}


def test_a_collector_that_goes_down_and_comes_back(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("ship.updown")
    log.handlers = [handler]
    log.propagate = False
    stop = threading.Event()
    result: list[object] = []
    shipper = threading.Thread(
        target=lambda: result.append(
            ship(path, receiver.url, stop_event=stop, poll_interval=0.02, max_backoff=0.1)
        )
    )
    try:
        for i in range(40):
            log.warning("before %d", i)
        handler.flush()
        shipper.start()
        wait_for(lambda: len(receiver.records) == 40)
        receiver.down()
        for i in range(40):
            log.warning("while down %d", i)
        handler.flush()
        time.sleep(0.5)  # the shipper finds the records and cannot send them
        assert len(receiver.records) == 40
        receiver.up()  # on the same port
        wait_for(lambda: len(receiver.records) == 80)
    finally:
        stop.set()
        shipper.join(10)
        handler.close()
    assert receiver.by_stream() == {"app.capture": list(range(1, 81))}
    report = result[0]
    assert report.retries >= 1  # type: ignore[attr-defined]


def wait_for(condition: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("status", [400, 401, 404, 413])
def test_a_refusal_not_to_retry_stops_and_skips_nothing(
    tmp_path: Path, receiver: Receiver, status: int
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 10)
    receiver.status = status
    result = run("ship", str(path), "--otlp", receiver.url, "--once")
    assert result.returncode == 1
    assert f"HTTP {status}" in result.stderr
    assert "refused by the test receiver" in result.stderr
    assert not (tmp_path / ".app.capture.ship-cursor").exists()
    receiver.status = 200
    assert run("ship", str(path), "--otlp", receiver.url, "--once").returncode == 0
    assert receiver.by_stream() == {"app.capture": list(range(1, 11))}


def test_records_the_collector_drops_are_counted(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 10)
    receiver.partial = (3, "too old")
    report = ship(path, receiver.url, follow=False)
    assert (report.shipped, report.rejected) == (10, 3)
    assert "3 dropped by the collector" in report.summary()


def test_gzip_and_headers(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 10)
    result = run(
        "ship", str(path), "--otlp", receiver.url, "--once", "--gzip",
        "-H", "Authorization=Bearer s3cret", "--service-name", "billing",
        "--resource", "deployment.environment=prod",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert receiver.headers[0]["Content-Encoding"] == "gzip"
    assert receiver.headers[0]["Authorization"] == "Bearer s3cret"
    resource = receiver.records[0].resource
    assert resource["service.name"] == "billing"
    assert resource["deployment.environment"] == "prod"
    assert len(receiver.records) == 10


def test_without_the_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 3)
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"  # as where the extra is not installed
        "from capturelog.cli import main\n"
        "sys.exit(main(['ship', sys.argv[1], '--otlp', 'http://127.0.0.1:1', '--once']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'capturelog[otlp]'" in result.stderr


# --------------------------------------------------------------- crashes and stops


WRITER = """
import logging, sys, time
from capturelog import CaptureHandler
handler = CaptureHandler(sys.argv[1], commit_interval=None, commit_every=25, **eval(sys.argv[3]))
log = logging.getLogger("writer")
log.addHandler(handler)
log.propagate = False
for i in range(int(sys.argv[2])):
    log.warning("record %d", i)
    if i % 25 == 0:
        time.sleep(0.01)
handler.close()
"""


def test_sigkilled_shippers_lose_nothing_and_repeat_at_most_a_batch(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Two writer processes (a log set of two streams) write while a shipper
    is killed with SIGKILL at random instants and restarted."""
    path = tmp_path / "app.capture"
    batch = 40
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "3000", repr({"rotation": "16 KB"})]
        )
        for _ in range(2)
    ]
    rng = random.Random(1234)
    kills = 0
    received = [0]  # how many records had arrived at each kill
    command = [SCRIPT, "ship", str(path), "--otlp", receiver.url, "--batch", str(batch),
               "--poll", "0.02"]  # fmt: skip
    while any(w.poll() is None for w in writers) or kills < 6:
        shipper = subprocess.Popen(command, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.2, 0.6))
        shipper.send_signal(signal.SIGKILL)
        shipper.wait(10)
        kills += 1
        received.append(len(receiver.records))
    for writer in writers:
        assert writer.wait(60) == 0
    result = run("ship", str(path), "--otlp", receiver.url, "--once", "--batch", str(batch))
    assert result.returncode == 0, result.stderr
    with ReplayReader(path) as reader:
        expected = {
            stream: reader._of_stream(stream).cf.record_count() for stream in reader.streams
        }
    assert sorted(expected.values()) == [3000, 3000]
    duplicates = assert_at_least_once(receiver.by_stream(), expected, batch)
    assert duplicates <= kills * batch * len(expected)
    # The kills landed while shippers were at work, not only before they began.
    assert sum(after > before for before, after in itertools.pairwise(received)) >= 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_cleanly_with_the_cursor_saved(
    tmp_path: Path, receiver: Receiver, sig: signal.Signals
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 100)
    shipper = subprocess.Popen(
        [SCRIPT, "ship", str(path), "--otlp", receiver.url, "--poll", "0.05"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: len(receiver.records) == 100)
    time.sleep(0.2)
    shipper.send_signal(sig)
    _, stderr = shipper.communicate(timeout=20)
    assert shipper.returncode == 0, stderr
    assert stderr.startswith("shipped 100 records in 1 batches")
    assert "cursor" in stderr
    cursor = json.loads((tmp_path / ".app.capture.ship-cursor").read_text())
    assert cursor["positions"] == {"app.capture": 100}  # a plain file: no "stream:"


def test_signals_at_random_instants_always_stop_the_command(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A signal handler that set the stop event while the same thread held
    the event's lock (waiting on it) hung the command for good; shippers
    polling all the time, stopped at random instants, must all end."""
    path = tmp_path / "app.capture"
    write_log(path, 5)
    rng = random.Random(7)
    shippers = []
    for i in range(12):
        command = [SCRIPT, "ship", str(path), "--otlp", receiver.url, "--poll", "0.001",
                   "--cursor", str(tmp_path / f"cursor{i}")]  # fmt: skip
        shippers.append(subprocess.Popen(command, stderr=subprocess.PIPE, text=True))
    wait_for(lambda: len(receiver.records) == 5 * 12)  # all running, polling
    for shipper in shippers:
        time.sleep(rng.uniform(0.0, 0.1))
        shipper.send_signal(rng.choice([signal.SIGTERM, signal.SIGINT]))
    for shipper in shippers:
        _, stderr = shipper.communicate(timeout=30)
        assert shipper.returncode == 0, stderr


def test_a_stop_while_the_collector_is_down_keeps_the_batch_for_later(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 10)
    receiver.down()
    report = ship(path, receiver.url, stop_event=stopped_soon(0.5), max_backoff=0.05)
    assert report.shipped == 0 and report.retries >= 1
    receiver.up()
    assert ship(path, receiver.url, follow=False).shipped == 10


# --------------------------------------------------------------- log sets


def test_a_log_set_with_retention_ships_what_is_left_and_says_what_was_not(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 200, rotation="2 KB", commit_every=20)
    write_log(path, 100, rotation="2 KB", commit_every=20)  # a second run continues it
    assert ship(path, receiver.url, follow=False, batch_records=64).shipped == 300
    assert receiver.by_stream() == {"app.capture": list(range(1, 301))}
    files = {r.resource["capturelog.file"] for r in receiver.records}
    assert len(files) > 3  # each record carries its own segment
    # Records written, then deleted by retention before the shipper saw them;
    # the handler's retention thread may still be deleting while it ships.
    write_log(path, 1500, rotation="2 KB", retention="2", commit_every=20)
    with warnings_of_ship() as said:
        report = ship(path, receiver.url, follow=False, batch_records=64)
    # Each record is either shipped or named as deleted, never both, never neither.
    shipped = receiver.by_stream()["app.capture"][300:]
    assert shipped == sorted(shipped)
    deleted = [
        number
        for low, high in re.findall(r"records (\d+) to (\d+) were deleted", "\n".join(said))
        for number in range(int(low), int(high) + 1)
    ]
    assert sorted(shipped + deleted) == list(range(301, 1801))
    assert (report.shipped, report.skipped) == (len(shipped), len(deleted))
    assert report.skipped > 1000 and deleted[0] == 301


def test_the_sidecar_example_ships_every_record(receiver: Receiver) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "ship_to_collector.py"
    result = subprocess.run(
        [sys.executable, str(example), receiver.url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"shipped 2,004 records to {receiver.url}/v1/logs\n"
    assert receiver.by_stream() == {"app.capture": list(range(1, 2005))}
    errors = [r for r in receiver.records if r.record.severity_text == "ERROR"]
    assert [attributes(r.record)["exception.type"] for r in errors] == ["TimeoutError"] * 4


def test_two_shippers_started_at_once_ship_each_record_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 3000)
    command = [SCRIPT, "ship", str(path), "--otlp", receiver.url, "--once", "--batch", "100"]
    both = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(60), p.communicate()[1]) for p in both]
    assert receiver.by_stream() == {"app.capture": list(range(1, 3001))}  # each once
    refused = [err for status, err in results if status == 1]
    assert all("another shipper is using this cursor" in err for err in refused)
    assert all(status in (0, 1) for status, _ in results)


def test_a_stream_shorter_than_its_cursor_is_shipped_from_its_end(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 50)
    ship(path, receiver.url, follow=False)
    path.unlink()  # replaced by a shorter file of the same name
    write_log(path, 20)
    with warnings_of_ship() as said:
        assert ship(path, receiver.url, follow=False).shipped == 0
    assert "the cursor is at record 50 but the stream ends at 20" in said[0]
    write_log(path, 5)
    assert ship(path, receiver.url, follow=False).shipped == 5
    assert receiver.by_stream()["app.capture"][50:] == [21, 22, 23, 24, 25]


def test_the_files_of_a_batch_are_synced_before_it_is_sent(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wraps the real os.fsync to note what was synced when, beside the
    receiver's note of each request."""
    path = tmp_path / "app.capture"
    write_log(path, 10, rotation="1 KB", commit_every=2)
    events: list[str] = []
    real_fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        events.append(f"sync {os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    real_take = receiver._take

    def noting_take(*args: object) -> None:
        events.append("request")
        real_take(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("capturelog.ship.os.fsync", noting_fsync)
    monkeypatch.setattr(receiver, "_take", noting_take)
    ship(path, receiver.url, follow=False)
    segments = sorted({r.resource["capturelog.file"] for r in receiver.records})
    assert len(segments) > 1
    first_request = events.index("request")
    assert {f"sync {s}" for s in segments} <= set(events[:first_request])
    assert f"sync {tmp_path}" in events[:first_request]  # the names of new segments


def test_a_terminal_gets_a_progress_line(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 300)
    receiver.status = 503  # waiting for the collector shows on the line
    receiver.retry_after = "0.3"
    threading.Timer(1.0, lambda: setattr(receiver, "status", 200)).start()
    leader, follower = pty.openpty()
    shipper = subprocess.Popen(
        [SCRIPT, "ship", str(path), "--otlp", receiver.url, "--once", "--batch", "100"],
        stderr=follower,
    )  # fmt: skip
    os.close(follower)
    assert shipper.wait(30) == 0
    seen = b""
    with contextlib.suppress(OSError):  # EIO once the child's side is closed
        while chunk := os.read(leader, 4096):
            seen += chunk
    os.close(leader)
    text = seen.decode()
    assert "\rshipped 0 records in 0 batches" in text
    assert "waiting: HTTP 503 Service Unavailable; retrying in" in text
    # The line is wiped before the summary is written after it.
    final = text.replace("\r\n", "\n").split("\r")[-1]
    assert final.startswith("shipped 300 records in 3 batches")
    assert final.count("\n") == 1


# --------------------------------------------------------------- hostile input


def crafted(path: Path, payloads: list[bytes]) -> None:
    """A capture file of the given record payloads, written with the engine."""
    with CaptureFile(path, to_write=True, encoding=None, force_new_empty_file=True) as cf:
        for payload in payloads:
            cf.add_record(payload)
        cf.commit()


def log_map(i: int, **fields: object) -> bytes:
    data = {"k": "log", "v": 1, "c": 1_800_000_000.0 + i, "n": "svc", "m": f"record {i}", "l": 20}
    return msgpack.packb({**data, **fields}, use_bin_type=True)  # type: ignore[no-any-return]


def test_odd_and_damaged_records_neither_stop_shipping_nor_go_unsaid(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    odd = {"L": {"a": 1}, "n": ["not", "a", "name"], "l": "20", "c": "noon", "e": {"x": [1, 2]}}
    crafted(path, [log_map(1), log_map(2, **odd), b"\xc1 not msgpack", log_map(4)])
    with warnings_of_ship() as said:
        report = ship(path, receiver.url, follow=False)
    assert (report.shipped, report.unreadable) == (3, 1)
    assert [r.seq for r in receiver.records] == [1, 2, 4]
    assert receiver.records[1].record.severity_text == "{'a': 1}"
    assert receiver.records[1].scope == "['not', 'a', 'name']"
    assert said == [f"{path}: record 3 is not a capturelog record (FormatError: not valid"
                    " msgpack); passed over"]  # fmt: skip
    assert json.loads((tmp_path / ".app.capture.ship-cursor").read_text())["positions"] == {
        "app.capture": 4
    }


def test_maps_nested_deeper_than_protobuf_parsers_take_arrive_as_text(
    tmp_path: Path, receiver: Receiver
) -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(60):
        inner["k"] = {}
        inner = inner["k"]  # type: ignore[assignment]
    path = tmp_path / "app.capture"
    crafted(path, [log_map(1, e={"deep": deep, "list": [[[[[[1]]]]]]})])
    assert ship(path, receiver.url, follow=False, max_backoff=0.05).shipped == 1
    value = attributes(receiver.records[0].record)["deep"]
    depth = 0
    while isinstance(value, dict):
        value, depth = value["k"], depth + 1
    assert isinstance(value, str) and depth < 33  # the rest as its text
    assert attributes(receiver.records[0].record)["list"] == [[[[[[1]]]]]]


def test_exception_type_and_message_from_tracebacks_of_several_lines(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    handler = CaptureHandler(path)
    log = logging.getLogger("ship.exc")
    log.handlers = [handler]
    log.propagate = False
    try:
        raise ValueError("1 validation error for Order\nquantity\n  must be > 0")
    except ValueError:
        log.exception("invalid order")
    try:
        try:
            raise KeyError("sku")
        except KeyError as exc:
            exc.add_note("while saving order 7")
            raise RuntimeError("save failed") from exc
    except RuntimeError:
        log.exception("not saved")
    handler.close()
    ship(path, receiver.url, follow=False)
    found = [attributes(r.record) for r in receiver.records]
    assert (found[0]["exception.type"], found[0]["exception.message"]) == (
        "ValueError", "1 validation error for Order\nquantity\n  must be > 0"
    )  # fmt: skip
    assert (found[1]["exception.type"], found[1]["exception.message"]) == (
        "RuntimeError", "save failed"
    )  # fmt: skip


def test_a_segment_missing_from_the_middle_is_passed_over_and_said(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 200, rotation="1 KB", commit_every=10)
    segments = sorted(tmp_path.glob("app@*.capture"))
    assert len(segments) > 4
    gone = segments[2]
    first = int(gone.name[4:16])
    last = int(segments[3].name[4:16]) - 1
    gone.unlink()
    with warnings_of_ship() as said:
        report = ship(path, receiver.url, follow=False)  # ends: does not wait on the gap
    assert report.skipped == last - first + 1
    assert receiver.by_stream()["app.capture"] == [
        n for n in range(1, 201) if not first <= n <= last
    ]
    assert said == [f"{path}: records {first} to {last} are missing (a segment deleted or"
                    " moved out of the set), passed over"]  # fmt: skip


def test_a_collector_answering_a_byte_at_a_time_is_cut_off(tmp_path: Path) -> None:
    """The timeout bounds the whole request, not each read: a stop comes
    through within about one timeout."""
    path = tmp_path / "app.capture"
    write_log(path, 3)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def trickle() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = server.accept()
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")  # headers that never end
                with contextlib.suppress(OSError):
                    while True:
                        time.sleep(0.2)
                        connection.sendall(b"X-Wait: 1\r\n")

    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    stop = stopped_soon(2.5)
    started = time.monotonic()
    report = ship(path, url, stop_event=stop, timeout=1.0, max_backoff=0.1)
    server.close()
    assert report.shipped == 0 and report.retries >= 1
    assert time.monotonic() - started < 10


def test_retry_after_is_honoured_beyond_the_back_off_cap(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "app.capture"
    write_log(path, 3)
    receiver.status = 429
    receiver.retry_after = "7"
    waits: list[str | None] = []
    stop = threading.Event()

    def seen(report: object) -> None:
        waits.append(report.waiting)  # type: ignore[attr-defined]
        stop.set()

    ship(path, receiver.url, stop_event=stop, max_backoff=0.05, progress=seen)
    assert waits == ["HTTP 429 Too Many Requests; retrying in 7.0s"]


def test_an_ipv6_collector(tmp_path: Path) -> None:
    receiver = Receiver(host="::1")
    try:
        path = tmp_path / "app.capture"
        write_log(path, 3)
        assert ship(path, f"http://[::1]:{receiver.port}", follow=False).shipped == 3
    finally:
        receiver.close()


class _BrokenMapping(Mapping[str, object]):
    """A mapping that cannot be read: no rule of the translation foresees it."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("unreadable mapping")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable mapping")

    def __len__(self) -> int:
        return 1


def test_a_record_that_cannot_be_translated_is_shipped_as_one_saying_so() -> None:
    """Records read from files are plain data, which every rule covers; the
    net under the rules, for what none foresaw, is tried with a real record
    holding a mapping that cannot be read."""
    record = logging.LogRecord("svc", logging.ERROR, "/app.py", 3, "paid", None, None)
    record.capture_seq = 41
    record.order = _BrokenMapping()
    builder = RequestBuilder(Translator(), lambda stream, file: [])
    builder.add("app.capture", "/logs/app.capture", record)
    (sent,) = builder.request.resource_logs[0].scope_logs[0].log_records
    assert sent.body.string_value == (
        "capturelog could not translate this record: RuntimeError: unreadable mapping"
    )
    assert attributes(sent) == {"capturelog.seq": 41}
    assert sent.severity_number == 17
    assert sent.time_unix_nano == int(record.created * 1e9)
