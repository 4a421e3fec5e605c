"""The README's Quickstart, word for word: python examples/quickstart.py [PATH]"""

import logging
import sys
from pathlib import Path

from capturelog import CaptureHandler, ReplayReader

path = sys.argv[1] if len(sys.argv) > 1 else "app.capture"
Path(path).unlink(missing_ok=True)  # start afresh each run
handler = CaptureHandler(path)  # created, or appended to
logging.basicConfig(level=logging.INFO, handlers=[handler])
log = logging.getLogger("shop.orders")
log.info("order %s placed by %s", 1042, "ann", extra={"total": 59.9})
log.warning("stock low for %s: %d left", "book", 2)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("could not price order %s", 1042)  # ERROR: committed at once
logging.shutdown()  # commits the rest

with ReplayReader(path) as reader:
    print(f"{len(reader)} records")
    first = reader[1]  # by sequence number, from 1
    print(first.capture_seq, first.levelname, first.getMessage(), first.total)
    for record in reader.records(level="WARNING"):  # filtered
        print(record.capture_seq, record.levelname, record.getMessage())
    print(reader[-1].exc_text.splitlines()[-1])  # the traceback, kept as text
