"""Quickstart: log through CaptureHandler, then replay the records.

    python examples/quickstart.py [PATH]
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from capturelog import CaptureHandler, ReplayReader


def main(path: Path) -> None:
    # 1. Log as usual; the handler keeps every record whole, committed in batches.
    handler = CaptureHandler(path)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    log = logging.getLogger("shop.orders")
    log.info("order %s placed by %s", 1042, "ann", extra={"total": 59.9})
    log.warning("stock low for %s: %d left", "book", 2)
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("could not price order %s", 1042)  # ERROR: committed at once
    logging.shutdown()  # commits what is pending (also happens at exit)

    # 2. Read them back: by sequence number, filtered, or re-rendered.
    with ReplayReader(path) as reader:
        print(f"{len(reader)} records")
        first = reader[1]
        print(first.capture_seq, first.levelname, first.name, first.getMessage(), first.total)
        for record in reader.records(level="WARNING"):
            print(record.capture_seq, record.levelname, record.getMessage())
        print(reader[3].exc_text.splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "app.capture")
