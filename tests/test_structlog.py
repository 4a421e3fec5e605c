"""structlog integration: the logger factory, the tee processor, the stdlib route."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from capturelog import CaptureFile, CaptureHandler, ReplayReader
from capturelog.structlog import CaptureLoggerFactory, CaptureProcessor


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_factory_stores_the_final_event_dict(tmp_path: Path) -> None:
    """Events come back as the dicts the processor chain produced, no rendering."""
    path = tmp_path / "events.capture"
    factory = CaptureLoggerFactory(path, commit_every=10)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
        ],
        logger_factory=factory,
    )
    log = structlog.get_logger("shop").bind(user="ann")
    log.info("cart.add", item="book", qty=2, tags=("a", "b"))
    log.warning("stock.low", item="book", left=1)
    factory.close()
    factory.close()  # idempotent
    with ReplayReader(path) as reader:
        first = reader.event(1)
        assert first["event"] == "cart.add"
        assert first["user"] == "ann" and first["qty"] == 2 and first["tags"] == ("a", "b")
        assert first["level"] == "info" and first["logger"] == "shop"
        assert "timestamp" in first
        record = reader[2]
        assert record.levelname == "WARNING" and record.name == "shop"
        assert record.getMessage() == "stock.low user='ann' item='book' left=1"
        assert record.msg == reader.event(2)


def test_exceptions_are_kept_as_data_and_text(tmp_path: Path) -> None:
    """log.exception keeps the dict_tracebacks shape and the formatted text."""
    path = tmp_path / "exc.capture"
    factory = CaptureLoggerFactory(path)
    structlog.configure(processors=[structlog.processors.add_log_level], logger_factory=factory)
    try:
        {}["key"]
    except KeyError:
        structlog.get_logger().exception("lookup.failed", key="key")
    factory.close()
    with ReplayReader(path) as reader:
        event = reader.event(1)
        assert event["exception"][0]["exc_type"] == "KeyError"
        frames = event["exception"][0]["frames"]
        assert frames[-1]["name"] == "test_exceptions_are_kept_as_data_and_text"
        assert event["exc_text"].endswith("KeyError: 'key'")
        assert reader[1].exc_text == event["exc_text"]
        assert reader[1].levelno == logging.ERROR


def test_error_events_commit_at_once(tmp_path: Path) -> None:
    """An error event is committed immediately, like an ERROR LogRecord."""
    path = tmp_path / "now.capture"
    factory = CaptureLoggerFactory(path, commit_interval=None)
    structlog.configure(processors=[], logger_factory=factory)
    structlog.get_logger().info("pending")
    with ReplayReader(path) as reader:
        assert len(reader) == 0
    structlog.get_logger().error("boom")
    with ReplayReader(path) as reader:
        assert [r.getMessage() for r in reader] == ["pending", "boom"]
    factory.close()


def test_tee_processor_and_stdlib_records_share_a_file(tmp_path: Path) -> None:
    """A processor tees events into a file that a CaptureHandler also writes."""
    path = tmp_path / "shared.capture"
    handler = CaptureHandler(path, commit_interval=None)
    downstream = structlog.testing.CapturingLoggerFactory()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            CaptureProcessor(handler),
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        logger_factory=downstream,
    )
    structlog.get_logger().info("tee.me", n=1)
    std = logging.getLogger("plain.stdlib")
    std.handlers = [handler]
    std.propagate = False
    std.warning("a stdlib record %d", 2)
    handler.close()
    with ReplayReader(path) as reader:
        event = reader.event(1)
        assert isinstance(event.pop("timestamp"), float)
        assert event == {"event": "tee.me", "n": 1, "level": "info"}
        assert reader[2].getMessage() == "a stdlib record 2"
    # The event went on down the chain unchanged.
    assert downstream.logger.calls[0].args == ("event='tee.me' n=1 level='info'",)


def test_stdlib_route_keeps_the_event_dict(tmp_path: Path) -> None:
    """structlog -> ProcessorFormatter.wrap_for_formatter -> CaptureHandler stores a map."""
    path = tmp_path / "stdlib.capture"
    handler = CaptureHandler(path, commit_interval=None)
    std = logging.getLogger("via.stdlib")
    std.handlers = [handler]
    std.propagate = False
    std.setLevel(logging.INFO)
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    structlog.get_logger("via.stdlib").info("routed", user="bob")
    handler.close()
    with ReplayReader(path) as reader:
        record = reader[1]
        assert record.msg == {"event": "routed", "user": "bob", "level": "info"}
        assert record.name == "via.stdlib" and record.levelno == logging.INFO


def test_capturelog_imports_without_structlog() -> None:
    """structlog is optional: capturelog and its handler work when it is missing."""
    code = (
        "import sys\n"
        "sys.modules['structlog'] = None\n"
        "import capturelog, capturelog.cli\n"
        "try:\n"
        "    import capturelog.structlog\n"
        "except ImportError as exc:\n"
        "    print('optional' if 'capturelog[structlog]' in str(exc) else exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "optional", result.stderr


@pytest.mark.parametrize("chain", ["default", "none", "iso", "clock"])
def test_every_event_keeps_the_time_it_was_logged(tmp_path: Path, chain: str) -> None:
    """With structlog's default chain (its renderer folds the time into a
    string), with no processor at all, with a TimeStamper, and with one whose
    format no reader can turn into a time (``%H:%M:%S``), each stored event
    carries the time it was logged (and the time search finds it); a
    chain's own timestamp is kept."""
    path = tmp_path / "times.capture"
    factory = CaptureLoggerFactory(path)
    if chain == "default":
        structlog.configure(logger_factory=factory)
    elif chain == "none":
        structlog.configure(processors=[], logger_factory=factory)
    else:
        fmt = "iso" if chain == "iso" else "%H:%M:%S"
        structlog.configure(
            processors=[structlog.processors.TimeStamper(fmt=fmt)], logger_factory=factory
        )
    before = time.time()
    structlog.get_logger().info("tick", n=1)
    after = time.time()
    factory.close()
    with ReplayReader(path) as reader:
        record = reader[1]
        assert before - 0.001 <= record.created <= after + 0.001
        stamp = reader.event(1)["timestamp"]
        assert isinstance(stamp, str) if chain in ("iso", "clock") else before <= stamp <= after
        assert [r.capture_seq for r in reader.records(since=before - 1)] == [1]


# Built at run time, so that no source line a traceback quotes holds them.
PASSWORD = "-".join(["hunter", "2"])
API_KEY = "-".join(["sk", "live", "SECRET"])


def login(user: str, password: str) -> None:
    api_key = API_KEY  # noqa: F841 - a local the traceback would show
    raise PermissionError(f"bad password for {user}")


@pytest.mark.parametrize("route", ["factory", "processor"])
def test_exception_locals_are_stored_only_when_asked(tmp_path: Path, route: str) -> None:
    """log.exception() keeps the frames but not their local variables (a
    password, an API key) unless show_locals=True."""
    for show_locals in (False, True):
        path = tmp_path / f"{route}-{show_locals}.capture"
        if route == "factory":
            factory = CaptureLoggerFactory(path, show_locals=show_locals)
            structlog.configure(processors=[], logger_factory=factory)
            handler = factory.handler
        else:
            processor = CaptureProcessor(path, show_locals=show_locals)
            structlog.configure(
                processors=[processor, structlog.processors.KeyValueRenderer()],
                logger_factory=structlog.testing.CapturingLoggerFactory(),
            )
            handler = processor.handler
        try:
            login("ann", PASSWORD)
        except PermissionError:
            structlog.get_logger().exception("login.failed")
        handler.close()
        with CaptureFile(path, encoding=None) as cf:
            raw = b"".join(cf)
        with ReplayReader(path) as reader:
            frames = reader.event(1)["exception"][0]["frames"]
        assert frames[-1]["name"] == "login"
        assert (PASSWORD in str(frames)) is show_locals
        assert (PASSWORD.encode() in raw) is show_locals
        assert (API_KEY.encode() in raw) is show_locals
