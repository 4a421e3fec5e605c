"""Post-mortem: find the first ERROR, then re-render the records around it by time.

    python examples/post_mortem.py [PATH]

Without PATH it first writes a small incident log to replay.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from capturelog import CaptureHandler, ReplayReader


def write_incident(path: Path) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("payments")
    log.handlers = [handler]
    log.setLevel(logging.DEBUG)
    start = time.time() - 60
    for i in range(600):
        level = logging.ERROR if i == 400 else logging.INFO
        record = log.makeRecord(log.name, level, __file__, 0, "charge %d status %s", (i, "failed" if i == 400 else "ok"), None)
        record.created = start + i * 0.1  # a record every 100 ms
        log.handle(record)
    handler.close()


def main(path: Path) -> None:
    with ReplayReader(path) as reader:
        first_error = next(reader.records(level="ERROR"), None)
        if first_error is None:
            print("no errors")
            return
        print(f"first error: #{first_error.capture_seq} {first_error.getMessage()}")
        # The second before it and the half second after, found by binary search on time.
        window = dict(since=first_error.created - 0.95, until=first_error.created + 0.45)
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(capture_seq)6d %(levelname)-7s %(name)s: %(message)s"))
        sent = reader.replay(console, **window)
        print(f"{sent} records around the first error")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            incident = Path(tmp) / "incident.capture"
            write_incident(incident)
            main(incident)
