"""capturelog.CaptureFile against the reference CaptureFile==1.2.0, same records, same run.

    python benchmarks/bench_engine.py [--records 300000] [--repeat 3]

Prints one row per operation: best-of-N time for each library and the ratio
ours/reference (lower is better). Both libraries run with their default
settings (the reference's OS locking is off by default; ours is on).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

import CaptureFile as reference

import capturelog

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


def best(repeat: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


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


def random_reads(cls: Any, path: str, numbers: list[int]) -> None:
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--commits", type=int, default=3_000)
    args = parser.parse_args()

    records = log_like_records(args.records)
    size = sum(len(r) for r in records)
    print(f"{args.records:,} records, {size / len(records):.0f} bytes on average, best of {args.repeat}")
    numbers = random.Random(3).choices(range(1, args.records + 1), k=args.reads)
    libs = {"capturelog": capturelog.CaptureFile, "reference": reference.CaptureFile}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: os.path.join(tmp, f"{name}.capture") for name in libs}
        times: dict[str, dict[str, float]] = {name: {} for name in libs}
        for name, cls in libs.items():
            path = paths[name]
            times[name]["add_record, commit every 1,000"] = best(
                args.repeat, lambda: write_all(cls, path, records, 1000)
            )
            times[name]["iterate all records"] = best(args.repeat, lambda: iterate_all(cls, path))
            times[name][f"record_at, {args.reads:,} random"] = best(
                args.repeat, lambda: random_reads(cls, path, numbers)
            )
            few = records[: args.commits]
            single = os.path.join(tmp, f"{name}-single.capture")
            times[name][f"one-record commit x {args.commits:,}"] = best(
                args.repeat, lambda: single_commits(cls, single, few)
            )
            times[name]["file size (MB)"] = os.path.getsize(path) / 1e6
            times[name]["data size (MB)"] = data_size(name, path) / 1e6
        for op in times["capturelog"]:
            ours, ref = times["capturelog"][op], times["reference"][op]
            rows.append((op, ours, ref, ours / ref))
        few = records[: min(args.commits, 500)]
        durable_path = os.path.join(tmp, "durable.capture")
        durable = best(1, lambda: single_commits(libs["capturelog"], durable_path, few, durable=True))
        plain = best(1, lambda: single_commits(libs["capturelog"], durable_path, few))

    print(f"{'operation':<36} {'capturelog':>12} {'reference':>12} {'ratio':>7}")
    for op, ours, ref, ratio in rows:
        unit = "" if "MB" in op else " s"
        print(f"{op:<36} {ours:>10.3f}{unit:2} {ref:>10.3f}{unit:2} {ratio:>7.2f}")
    print(
        f"durable=True commit: {durable / len(few) * 1e6:.0f} us each"
        f" (default durability: {plain / len(few) * 1e6:.0f} us each)"
    )


if __name__ == "__main__":
    main()
