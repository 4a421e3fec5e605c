"""`capturelog ship --otlp` against `capturelog cat -o json > file`, same records.

    python benchmarks/bench_ship.py [--records 200000] [--rounds 3] [--batch 1000]

Writes the records through CaptureHandler, starts a real OTLP/HTTP receiver
in a process of its own (tests/otlp_receiver.py: it decodes every request
with the official protobuf messages), then runs `capturelog ship --once` and
`capturelog cat -o json` as real processes, in interleaved rounds, and
reports the medians as records per second and their ratio. Each ship round
starts from an empty cursor, so it ships every record.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from capturelog import CaptureHandler

SCRIPT = shutil.which("capturelog") or os.path.join(os.path.dirname(sys.executable), "capturelog")
RECEIVER = os.path.join(os.path.dirname(__file__), "..", "tests", "otlp_receiver.py")


def write(path: str, count: int) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("bench.ship")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    for i in range(count):
        log.info(
            "request %d from user %s took %d ms", i, f"u{i % 500}", i % 300, extra={"route": "/api"}
        )
    handler.close()


def timed(argv: list[str], stdout: str = os.devnull) -> float:
    start = time.perf_counter()
    with open(stdout, "w") as out:
        subprocess.run(argv, stdout=out, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.capture")
        write(path, args.records)
        receiver = subprocess.Popen([sys.executable, RECEIVER], stdout=subprocess.PIPE, text=True)
        try:
            assert receiver.stdout is not None
            url = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
            ship, cat = [], []
            for round_ in range(args.rounds):
                cursor = os.path.join(tmp, f"cursor{round_}")
                ship.append(timed([SCRIPT, "ship", path, "--otlp", url, "--once",
                                   "--cursor", cursor, "--batch", str(args.batch)]))  # fmt: skip
                cat.append(timed([SCRIPT, "cat", path, "-o", "json"], os.path.join(tmp, "out")))
        finally:
            receiver.terminate()
            receiver.wait()
    n = args.records
    ship_rate = n / statistics.median(ship)
    cat_rate = n / statistics.median(cat)
    print(
        f"{n:,} records, batches of {args.batch}, medians of {args.rounds} rounds (whole processes)"
    )
    print(f"  capturelog ship --otlp (local receiver)  {ship_rate:>10,.0f} records/s")
    print(f"  capturelog cat -o json > file           {cat_rate:>10,.0f} records/s")
    print(f"  ship / cat                              {ship_rate / cat_rate:>10.2f}x")


if __name__ == "__main__":
    main()
