"""Follow a live capture file, like tail -f, while another thread logs into it.

    python examples/follow.py [PATH]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

from capturelog import CaptureHandler, ReplayReader


def service(path: Path, done: threading.Event) -> None:
    handler = CaptureHandler(path, commit_interval=0.1)  # commits within 0.1 s
    log = logging.getLogger("service")
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    for i in range(5):
        log.info("heartbeat %d", i)
        time.sleep(0.05)
    log.error("lost connection to %s", "db-1")
    handler.close()
    done.set()


def main(path: Path) -> None:
    done = threading.Event()
    CaptureHandler(path).close()  # make sure the file exists before following it
    writer = threading.Thread(target=service, args=(path, done))
    writer.start()
    with ReplayReader(path) as reader:
        # Ends once the service is done and its last commit has been read.
        for record in reader.follow(1, poll_interval=0.05, stop_event=done):
            print(f"{record.capture_seq} {record.levelname} {record.getMessage()}")
    writer.join()
    with ReplayReader(path) as reader:
        print(f"{len(reader)} records in all")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "live.capture")
