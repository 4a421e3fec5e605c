"""Ship a service's log set to an OpenTelemetry collector from a sidecar thread.

    pip install 'capturelog[otlp]'
    python examples/ship_to_collector.py [COLLECTOR_URL] [DIRECTORY]

COLLECTOR_URL defaults to http://localhost:4318, an OpenTelemetry Collector
with the OTLP receiver's HTTP endpoint on. The same job as a separate
process, which survives the service: capturelog ship DIRECTORY/app.capture
--otlp COLLECTOR_URL.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

from capturelog import CaptureHandler
from capturelog.ship import ship


def main(url: str, directory: Path) -> None:
    handler = CaptureHandler(directory / "app.capture", rotation="64 KB", retention="50 MB")
    log = logging.getLogger("checkout")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    # The sidecar: ships what the handler commits, keeping its place in
    # directory/.app.capture.ship-cursor, until told to stop.
    stop = threading.Event()
    results = []
    sidecar = threading.Thread(
        target=lambda: results.append(
            ship(directory / "app.capture", url, stop_event=stop, poll_interval=0.2)
        ),
        name="capturelog-ship",
    )
    sidecar.start()

    for order in range(1, 2001):
        log.info("order %d placed", order, extra={"customer": f"c{order % 17}"})
        if order % 500 == 0:
            try:
                raise TimeoutError("payment gateway did not answer")
            except TimeoutError:
                log.exception("order %d not paid", order)
    handler.close()  # commits the last records

    # Stop the sidecar: it finishes the batch in flight and saves the cursor.
    stop.set()
    sidecar.join()
    # Before exiting, ship what is left, for at most 10 seconds (if the
    # collector is down, the rest goes with the next run, from the cursor).
    deadline = threading.Timer(10.0, stop.set)
    stop.clear()
    deadline.start()
    results.append(ship(directory / "app.capture", url, follow=False, stop_event=stop))
    deadline.cancel()
    shipped = sum(report.shipped for report in results)
    print(f"shipped {shipped:,} records to {results[0].endpoint}")


if __name__ == "__main__":
    collector = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:4318"
    if len(sys.argv) > 2:
        main(collector, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(collector, Path(tmp))
