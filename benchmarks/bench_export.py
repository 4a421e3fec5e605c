"""`capturelog export --parquet` against `capturelog cat -o json > file`, same records.

    python benchmarks/bench_export.py [--records 1000000] [--rounds 3]

Writes the records through CaptureHandler, then runs both commands as real
processes (interleaved rounds, medians) and reports records per second and
each process's peak memory (ru_maxrss), for the whole file and for half of
it (a flat peak is what streaming in row groups promises).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from capturelog import CaptureHandler
from capturelog._zlib import CODEC_NAME

SCRIPT = shutil.which("capturelog") or os.path.join(os.path.dirname(sys.executable), "capturelog")


def write(path: str, count: int) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("bench.export")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    for i in range(count):
        log.info(
            "request %d from user %s took %d ms", i, f"u{i % 500}", i % 300, extra={"route": "/api"}
        )
    handler.close()


def run(argv: list[str], stdout: str | None = None) -> tuple[float, int]:
    """Seconds and peak kilobytes of one command run as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with open(stdout or os.devnull, "w") as out:
        subprocess.run(argv, stdout=out, check=True)
    elapsed = time.perf_counter() - start
    # ru_maxrss of children is the largest of any child so far: run the
    # smaller export first, so each reading is its own.
    return elapsed, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.capture")
        write(path, args.records)
        half = os.path.join(tmp, "half.capture")
        write(half, args.records // 2)
        out = os.path.join(tmp, "out.parquet")
        json_out = os.path.join(tmp, "out.jsonl")
        _, half_peak = run([SCRIPT, "export", half, "--parquet", out, "--force"])
        times: dict[str, list[float]] = {"export --parquet": [], "cat -o json": []}
        peak = 0
        for _ in range(args.rounds):
            elapsed, peak = run([SCRIPT, "export", path, "--parquet", out, "--force"])
            times["export --parquet"].append(elapsed)
            times["cat -o json"].append(run([SCRIPT, "cat", path, "-o", "json"], json_out)[0])
        print(f"{args.records:,} records, median of {args.rounds} rounds; codec: {CODEC_NAME}")
        rates = {name: args.records / statistics.median(values) for name, values in times.items()}
        for name, rate in rates.items():
            print(f"{name:<18} {rate:>10,.0f} records/s")
        print(f"export / cat -o json: {rates['export --parquet'] / rates['cat -o json']:.2f}x")
        print(
            f"peak memory of export: {half_peak / 1024:.0f} MB for {args.records // 2:,} records,"
            f" {peak / 1024:.0f} MB for {args.records:,}"
        )
        print(
            f"sizes: Parquet {os.path.getsize(out) / 1e6:.1f} MB, JSON lines"
            f" {os.path.getsize(json_out) / 1e6:.1f} MB,"
            f" capture file {os.path.getsize(path) / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
