"""A log set of 1,000 segments against one big file holding the same records.

    python benchmarks/bench_logsets.py [--segments 1000] [--streams 4]
                                       [--per-segment 2000] [--rounds 5]

Builds a set the way rotating handlers leave it (several streams, numbered
segments, sealed ones carrying their time bounds) and one capture file with
every record in time order, then reports, as medians of interleaved rounds:
opening the set; a 100-record time window deep in the set against the same
window in the big file (issue 11's bar: at most 3x); the last 100 records
(``tail -n 100``) of each; and, once, retention deleting 100 segments.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

from capturelog import CaptureFile, ReplayReader, logset
from capturelog._codec import RecordEncoder, pack_data
from capturelog._limits import Retention
from capturelog._zlib import CODEC_NAME

BASE = 1_795_000_000.0
STEP = 0.001  # seconds between records, across all streams


def payload(encoder: RecordEncoder, stream: int, n: int, created: float) -> bytes:
    record = logging.LogRecord(
        f"svc.worker{stream}", logging.INFO, "/srv/app/jobs.py", 42,
        "job %d step %d done in %d ms", (n // 100, n % 100, n * 7 % 300), None,
    )  # fmt: skip
    record.created = created
    record.msecs = 0.0
    return encoder.encode(record)


def build(directory: str, args: argparse.Namespace) -> tuple[str, str]:
    """The set (its handler name) and the big file (its path)."""
    name = os.path.join(directory, "app.capture")
    big = CaptureFile(os.path.join(directory, "one-big.capture"), to_write=True)
    encoder = RecordEncoder()
    per_stream = args.segments // args.streams
    streams = [name] + [
        os.path.join(directory, f"app.{4000 + s}.capture") for s in range(1, args.streams)
    ]
    for index in range(per_stream):
        # Segment `index` of every stream covers the same stretch of time.
        batch: list[tuple[float, bytes]] = []
        for s, stream_path in enumerate(streams):
            first = 1 + index * args.per_segment
            times = [
                BASE + ((first - 1 + k) * args.streams + s) * STEP for k in range(args.per_segment)
            ]
            records = [payload(encoder, s, first + k, t) for k, t in enumerate(times)]
            origin: dict[str, Any] = {
                "schema": "capturelog/1", "stream": os.path.basename(stream_path),
                "first_seq": first,
            }  # fmt: skip
            if index < per_stream - 1:
                origin["sealed"] = {"count": len(records), "first": times[0], "last": times[-1]}
            path = logset.segment_name(stream_path, first)
            with CaptureFile(path, to_write=True, initial_metadata=pack_data(origin)) as cf:
                cf.add_records(records)
                cf.commit()
            batch += zip(times, records, strict=True)
        batch.sort()
        big.add_records(record for _, record in batch)
        big.commit()
    big.close()
    return name, big.file_name


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def window(reader: ReplayReader, since: float, until: float) -> int:
    return sum(1 for _ in reader.records(since=since, until=until))


def tail(reader: ReplayReader) -> int:
    return len(list(islice(reader.records(reverse=True), 100)))


def opened(path: str, query: Callable[[ReplayReader], int]) -> int:
    with ReplayReader(path) as reader:
        return query(reader)


def vacuum_time(name: str, streams: int) -> float:
    """Time one retention run deleting 100 segments (describing the set included)."""
    start = time.perf_counter()
    found = logset.segments(logset.segment_paths(name))
    logset.vacuum(found, Retention(max_files=max(streams, len(found) - 100)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--per-segment", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    total = args.segments // args.streams * args.streams * args.per_segment
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        name, big = build(directory, args)
        print(
            f"{args.segments:,} segments in {args.streams} streams, {total:,} records"
            f" (built in {time.perf_counter() - started:.0f} s); codec: {CODEC_NAME};"
            f" medians of {args.rounds} rounds"
        )
        # A window of 100 records 70% of the way through.
        since = BASE + int(total * 0.7) * STEP
        until = since + 100 * STEP
        readers = {"set": ReplayReader(name), "big file": ReplayReader(big)}
        paths = {"set": name, "big file": big}
        assert window(readers["set"], since, until) == window(readers["big file"], since, until)
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for which in ("set", "big file"):
                reader, path = readers[which], paths[which]
                runs: dict[str, Callable[[], Any]] = {
                    "open": lambda: ReplayReader(path).close(),  # noqa: B023 - run at once
                    "100-record window": lambda: window(reader, since, until),  # noqa: B023
                    "100-record window, open included": lambda: opened(
                        path, lambda r: window(r, since, until)  # noqa: B023
                    ),
                    "tail -n 100": lambda: tail(reader),  # noqa: B023
                    "tail -n 100, open included": lambda: opened(path, tail),  # noqa: B023
                }
                for label, run in runs.items():
                    times.setdefault(f"{label}, {which}", []).append(timed(run))
        for reader in readers.values():
            reader.close()
        print(f"{'':<36} {'set':>10} {'big file':>10} {'ratio':>7}")
        for label in ("open", "100-record window", "100-record window, open included",
                      "tail -n 100", "tail -n 100, open included"):  # fmt: skip
            ours = statistics.median(times[f"{label}, set"])
            one = statistics.median(times[f"{label}, big file"])
            print(f"{label:<36} {ours * 1e3:>7.2f} ms {one * 1e3:>7.2f} ms {ours / one:>6.2f}x")
        before = len(logset.segment_paths(name))
        elapsed = vacuum_time(name, args.streams)
        deleted = before - len(logset.segment_paths(name))
        print(
            f"retention deleting {deleted} of {before:,} segments (describing them included):"
            f" {elapsed * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
