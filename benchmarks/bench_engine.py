"""capturelog.CaptureFile against the reference CaptureFile==1.2.0, same records, same run.

    python benchmarks/bench_engine.py [--records 300000] [--rounds 5]

Each round times every operation with both libraries, one after the other, so
that a slow patch of the machine hits both alike. Prints one row per
operation: the median time for each library and the median of the rounds'
ratios ours/reference (lower is better), and which codec capturelog ran
with. Both libraries run with their default settings (the reference's OS
locking is off by default; ours is on).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import CaptureFile as reference

import capturelog
from capturelog._zlib import CODEC_NAME

LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR"]
WORDS = "request user cache miss hit db query took ms retry upstream timeout ok".split()


def log_like_records(count: int, seed: int = 7) -> list[str]:
    """Text lines of 100-400 bytes shaped like application log lines."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 50)))
        records.append(
            f"2026-11-26T14:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"
            f" {rng.choice(LEVELS)} svc.{rng.choice(['db', 'api', 'auth'])}"
            f" pid={4000 + i % 7} req={rng.getrandbits(64):016x} {words}"
            f" latency_ms={rng.random() * 300:.2f}"
        )
    return records


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def write_all(cls: Any, path: str, records: list[str], every: int) -> None:
    cf = cls(path, to_write=True, force_new_empty_file=True)
    add, commit = cf.add_record, cf.commit
    for i, record in enumerate(records, 1):
        add(record)
        if i % every == 0:
            commit()
    commit()
    cf.close()


def iterate_all(cls: Any, path: str) -> int:
    with cls(path) as cf:
        return sum(1 for _ in cf)


def reads(cls: Any, path: str, numbers: list[int] | range) -> None:
    with cls(path) as cf:
        record_at = cf.record_at
        for n in numbers:
            record_at(n)


def single_commits(cls: Any, path: str, records: list[str], **options: Any) -> None:
    cf = cls(path, to_write=True, force_new_empty_file=True, **options)
    for record in records:
        cf.add_record(record)
        cf.commit()
    cf.close()


def data_size(name: str, path: str) -> int:
    """Bytes up to the end of the committed data: the file size less what both
    libraries allocate ahead of it."""
    if name == "capturelog":
        with capturelog.CaptureFile(path) as cf:
            return cf._view.limit + len(cf._view.pending)
    cf = reference.CaptureFile(path)
    try:
        node = cf._current_master_node
        return int(node.file_limit + len(node.compression_block_contents))
    finally:
        cf.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--commits", type=int, default=3_000)
    args = parser.parse_args()

    records = log_like_records(args.records)
    size = sum(len(r) for r in records)
    print(
        f"{args.records:,} records, {size / len(records):.0f} bytes on average,"
        f" median of {args.rounds} rounds; capturelog codec: {CODEC_NAME}"
    )
    numbers = random.Random(3).choices(range(1, args.records + 1), k=args.reads)
    in_order = range(1, min(args.reads * 5, args.records) + 1)
    few = records[: args.commits]
    libs = {"capturelog": capturelog.CaptureFile, "reference": reference.CaptureFile}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in libs}
    sizes: dict[str, dict[str, float]] = {name: {} for name in libs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, cls in libs.items():
                path = os.path.join(tmp, f"{name}.capture")
                single = os.path.join(tmp, f"{name}-single.capture")
                ops = {
                    "add_record, commit every 1,000": partial(write_all, cls, path, records, 1000),
                    "iterate all records": partial(iterate_all, cls, path),
                    f"record_at, {len(numbers):,} random": partial(reads, cls, path, numbers),
                    f"record_at, {len(in_order):,} in order": partial(reads, cls, path, in_order),
                    f"one-record commit x {len(few):,}": partial(single_commits, cls, single, few),
                }
                for op, run in ops.items():
                    times[name].setdefault(op, []).append(timed(run))
                sizes[name]["file size (MB)"] = os.path.getsize(path) / 1e6
                sizes[name]["data size (MB)"] = data_size(name, path) / 1e6
        few = records[: min(args.commits, 500)]
        durable_path = os.path.join(tmp, "durable.capture")
        durable = timed(lambda: single_commits(libs["capturelog"], durable_path, few, durable=True))
        plain = timed(lambda: single_commits(libs["capturelog"], durable_path, few))

    print(f"{'operation':<36} {'capturelog':>12} {'reference':>12} {'ratio':>7}")
    for op, ours in times["capturelog"].items():
        ref = times["reference"][op]
        ratio = statistics.median(a / b for a, b in zip(ours, ref, strict=True))
        print(
            f"{op:<36} {statistics.median(ours):>10.3f} s {statistics.median(ref):>10.3f} s"
            f" {ratio:>7.2f}"
        )
    for op, ours_size in sizes["capturelog"].items():
        ref_size = sizes["reference"][op]
        print(f"{op:<36} {ours_size:>10.3f}   {ref_size:>10.3f}   {ours_size / ref_size:>7.2f}")
    print(
        f"durable=True commit: {durable / len(few) * 1e6:.0f} us each"
        f" (default durability: {plain / len(few) * 1e6:.0f} us each)"
    )


if __name__ == "__main__":
    main()
