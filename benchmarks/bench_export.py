"""`capturelog export --parquet` against `capturelog cat -o json > file`, same records.

    python benchmarks/bench_export.py [--records 1000000] [--rounds 5]
    python benchmarks/bench_export.py --memory [N ...]   (default: 1000000 10000000)

Speed (the default): writes the records through CaptureHandler, then runs
both commands as real processes, in interleaved rounds (which goes first
alternates), and reports the median records per second of each, their
ratio, and each command's peak memory (its own ru_maxrss).

Memory (``--memory``): for each N, writes N records and runs one export,
reporting its time and peak memory beside the peak of a process that only
imports what the export imports: a flat peak across sizes is what writing a
row group at a time promises. Writing 10 million records takes a minute or
two (the handler is fed one reused LogRecord, committed every 100,000
records); the capture file takes about 220 MB of disk, the Parquet file 130.
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
from capturelog._zlib import CODEC_NAME

SCRIPT = shutil.which("capturelog") or os.path.join(os.path.dirname(sys.executable), "capturelog")
IMPORTS_ONLY = "import pyarrow.parquet, capturelog.cli, capturelog.export"


def write(path: str, count: int) -> None:
    """``count`` records as ``log.info("request %d from user %s took %d ms", ...,
    extra={"route": "/api"})`` logs them, a millisecond apart, without the
    cost of making each LogRecord: one record is handed to the handler again
    and again with its arguments and times changed."""
    handler = CaptureHandler(path, commit_every=100_000, commit_interval=None)
    log = logging.getLogger("bench.export")
    record = log.makeRecord(
        log.name, logging.INFO, __file__, 42, "request %d from user %s took %d ms",
        (0, "u0", 0), None, "write", {"route": "/api"},
    )  # fmt: skip
    start = record.created
    began = getattr(logging, "_startTime", start)
    handle = handler.handle
    for i in range(count):
        created = start + i / 1000
        record.args = (i, f"u{i % 500}", i % 300)
        record.created = created
        record.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord has it
        record.relativeCreated = (created - began) * 1000
        handle(record)
    handler.close()


def run(argv: list[str], stdout: str | None = None) -> tuple[float, float]:
    """Seconds and peak memory (MB) of one command run as a child process:
    wait4 gives the child's own ru_maxrss, not the largest of all children."""
    with open(stdout or os.devnull, "w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, argv)
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return elapsed, peak


def speed(records: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.capture")
        began = time.perf_counter()
        write(path, records)
        print(f"wrote {records:,} records in {time.perf_counter() - began:.1f} s")
        out = os.path.join(tmp, "out.parquet")
        json_out = os.path.join(tmp, "out.jsonl")
        commands = {
            "export --parquet": ([SCRIPT, "export", path, "--parquet", out, "--force"], None),
            "cat -o json": ([SCRIPT, "cat", path, "-o", "json"], json_out),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
        for i in range(rounds):
            order = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for name in order:
                argv, stdout = commands[name]
                elapsed, peak = run(argv, stdout)
                times[name].append(elapsed)
                peaks[name] = max(peaks[name], peak)
        print(f"{records:,} records, median of {rounds} interleaved rounds; codec: {CODEC_NAME}")
        rates = {name: records / statistics.median(values) for name, values in times.items()}
        for name, rate in rates.items():
            spread = ", ".join(f"{value:.2f}" for value in times[name])
            print(
                f"{name:<18} {rate:>10,.0f} records/s  (runs: {spread} s;"
                f" peak memory {peaks[name]:.0f} MB)"
            )
        print(f"export / cat -o json: {rates['export --parquet'] / rates['cat -o json']:.2f}x")
        print(
            f"sizes: Parquet {os.path.getsize(out) / 1e6:.1f} MB, JSON lines"
            f" {os.path.getsize(json_out) / 1e6:.1f} MB,"
            f" capture file {os.path.getsize(path) / 1e6:.1f} MB"
        )


def memory(sizes: list[int]) -> None:
    _, baseline = run([sys.executable, "-c", IMPORTS_ONLY])
    print(f"peak memory of a process that only imports pyarrow and capturelog: {baseline:.0f} MB")
    for count in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bench.capture")
            began = time.perf_counter()
            write(path, count)
            wrote = time.perf_counter() - began
            out = os.path.join(tmp, "out.parquet")
            elapsed, peak = run([SCRIPT, "export", path, "--parquet", out])
            print(
                f"{count:>11,} records: export peak memory {peak:.0f} MB,"
                f" {elapsed:.1f} s ({count / elapsed:,.0f} records/s);"
                f" capture file {os.path.getsize(path) / 1e6:.0f} MB (written in {wrote:.0f} s),"
                f" Parquet {os.path.getsize(out) / 1e6:.0f} MB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--memory", type=int, nargs="*", metavar="N",
        help="measure the export's peak memory for N records each (default 1M and 10M)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.memory is not None:
        memory(args.memory or [1_000_000, 10_000_000])
    else:
        speed(args.records, args.rounds)


if __name__ == "__main__":
    main()
