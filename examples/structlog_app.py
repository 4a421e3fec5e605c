"""structlog events stored as structured maps, then read back as dicts.

    python examples/structlog_app.py [PATH]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import structlog

from capturelog import ReplayReader
from capturelog.structlog import CaptureLoggerFactory


def main(path: Path) -> None:
    factory = CaptureLoggerFactory(path, commit_every=100)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
        ],
        logger_factory=factory,  # the final event dict is stored as is
    )
    log = structlog.get_logger("checkout").bind(session="s-81")
    log.info("cart.updated", items=3, total=42.5)
    try:
        raise TimeoutError("payment gateway did not answer")
    except TimeoutError:
        log.exception("payment.failed", provider="acme")
    factory.close()

    with ReplayReader(path) as reader:
        for seq in range(1, len(reader) + 1):
            event = reader.event(seq)  # the event dict, fields intact
            print(seq, event["level"], event["event"], {k: event[k] for k in ("session",)})
        failure = reader.event(2)
        print("exception type:", failure["exception"][0]["exc_type"])
        print("rendered:", reader[1].getMessage())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "events.capture")
