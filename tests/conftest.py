"""Shared fixtures: files live under tmp_path; logging state is restored."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturelog import CaptureHandler


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A capture file path in a fresh directory."""
    return tmp_path / "test.capture"


@pytest.fixture
def malformed(tmp_path: Path) -> Path:
    """A file holding two malformed logging calls (logging stores them without
    complaint) and a good record after them."""
    path = tmp_path / "malformed.capture"
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("tests.malformed")
    log.handlers = [handler]
    log.propagate = False
    log.warning("user %(user)s", {"name": "ann"})
    log.warning("%d items", "many")
    log.warning("after them")
    handler.close()
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Give every test the root logger and logger levels it started with, and
    the loggers it found enabled enabled."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    manager = logging.Logger.manager
    loggers = dict(manager.loggerDict)
    # dictConfig disables the loggers that exist (disable_existing_loggers).
    enabled = [lg for lg in loggers.values() if isinstance(lg, logging.Logger) and not lg.disabled]
    disable = manager.disable
    yield
    for logger in enabled:
        logger.disabled = False
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in list(manager.loggerDict):
        if name not in loggers:
            del manager.loggerDict[name]
    logging.disable(disable)
