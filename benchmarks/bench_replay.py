"""Replay speed on a file of 1,000,000 records written by CaptureHandler.

    python benchmarks/bench_replay.py [--records 1000000]

Reports: `capturelog cat` throughput to /dev/null, against `grep` over the same
records exported as text and against the engine's raw iteration; a
--since/--until window of 100 records deep in the file against fetching the
same 100 by sequence number (a search, not a scan, should be within 2x); and
random `reader[seq]` access.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from capturelog import CaptureFile, CaptureHandler, ReplayReader

T0 = 1_800_000_000.0


def build(path: str, text_path: str, count: int) -> None:
    """Write ``count`` records, one per millisecond of made-up time, and the same
    records as text lines in the default `capturelog cat` format."""
    handler = CaptureHandler(path, commit_interval=None)
    text = logging.FileHandler(text_path, mode="w")
    text.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    rng = random.Random(5)
    names = ["svc.api", "svc.db", "svc.db.pool", "svc.auth"]
    levels = [logging.INFO] * 8 + [logging.DEBUG, logging.WARNING]
    for i in range(count):
        record = logging.LogRecord(
            rng.choice(names), rng.choice(levels), "/srv/app/handlers.py", 120 + i % 40,
            "request %s from user %s took %d ms", (f"{rng.getrandbits(40):010x}", f"u{i % 5000}", i % 977),
            None, "handle",
        )  # fmt: skip
        record.created = T0 + i / 1000
        record.msecs = float(i % 1000)
        handler.handle(record)
        text.handle(record)
    handler.close()
    text.close()


def timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.records
    script = shutil.which("capturelog") or os.path.join(os.path.dirname(sys.executable), "capturelog")
    with tempfile.TemporaryDirectory() as tmp:
        path, text_path = os.path.join(tmp, "big.capture"), os.path.join(tmp, "big.log")
        build_time = timed(lambda: build(path, text_path, n))
        print(f"{n:,} records written in {build_time:.1f} s ({os.path.getsize(path) / 1e6:.1f} MB capture,"
              f" {os.path.getsize(text_path) / 1e6:.1f} MB as text)")  # fmt: skip
        with open(os.devnull, "w") as null:
            cat = min(timed(lambda: subprocess.run([script, "cat", path], stdout=null, check=True)) for _ in range(2))
            # GNU grep stops at the first match when its output is /dev/null, so
            # it writes into a pipe here, read and thrown away.
            grep = min(timed(lambda: subprocess.run(["grep", "request", text_path], stdout=subprocess.PIPE, check=True)) for _ in range(2))

        def raw() -> None:
            with CaptureFile(path, encoding=None) as cf:
                for _ in cf:
                    pass

        raw_time = min(timed(raw) for _ in range(2))
        print(f"{'capturelog cat > /dev/null':<34} {n / cat:>12,.0f} records/s")
        print(f"{'grep over the text export':<34} {n / grep:>12,.0f} records/s ({cat / grep:.0f}x faster than cat)")
        print(f"{'engine iteration (raw bytes)':<34} {n / raw_time:>12,.0f} records/s")

        with ReplayReader(path) as reader:
            first = int(n * 0.73)
            since, until = T0 + (first - 1) / 1000, T0 + (first - 1 + 100) / 1000

            def by_time() -> int:
                return len(list(reader.records(since=since, until=until)))

            def by_number() -> int:
                return len(reader[first : first + 100])

            assert by_time() == by_number() == 100
            window = min(timed(by_time) for _ in range(20))
            numbered = min(timed(by_number) for _ in range(20))
            print(f"{'100 records by --since/--until':<34} {window * 1e3:>9.2f} ms")
            print(f"{'the same 100 by sequence number':<34} {numbered * 1e3:>9.2f} ms  (ratio {window / numbered:.2f}x)")
            rng = random.Random(9)
            picks = [rng.randint(1, n) for _ in range(2000)]
            random_time = timed(lambda: [reader[seq] for seq in picks])
            print(f"{'reader[seq], 2,000 random':<34} {random_time / len(picks) * 1e6:>9.0f} us each")


if __name__ == "__main__":
    main()
