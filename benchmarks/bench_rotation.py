"""Rotation's cost in the logging call: a handler rotating every 1 MB against one that never does.

    python benchmarks/bench_rotation.py [--calls 300000] [--rounds 7] [--rotation "1 MB"]

Each round sends the same ``logger.info("... %s ... %s", a, b)`` calls through
three handlers in turn (alternating, so machine noise hits all of them), each
writing into a fresh directory, timing from the first call to the handler's
close: no rotation (one plain file), a rotation rule that is never met (the
check at each commit only), and rotation every ``--rotation`` of committed
data (new segments made, old ones sealed). Prints the median per-call cost of
each, the median of the rounds' ratios against the non-rotating handler (the
bar of issue 11: within 5%), and the segments each made.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import tempfile
import time

import capturelog
from capturelog._zlib import CODEC_NAME


def run(directory: str, rotation: str | None, calls: list[tuple[str, int]]) -> tuple[float, int]:
    """Seconds for the calls and the close, and how many files were made."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    handler = capturelog.CaptureHandler(os.path.join(directory, "app.capture"), rotation=rotation)
    logger = logging.getLogger("bench.svc.api")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    info = logger.info
    start = time.perf_counter()
    for user, took in calls:
        info("request from user %s finished in %d ms", user, took)
    handler.close()
    elapsed = time.perf_counter() - start
    return elapsed, len(os.listdir(directory))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rotation", default="1 MB")
    args = parser.parse_args()
    rng = random.Random(11)
    users = [f"user-{rng.getrandbits(32):08x}" for _ in range(500)]
    calls = [(rng.choice(users), rng.randint(1, 2000)) for _ in range(args.calls)]
    variants: dict[str, str | None] = {
        "no rotation": None,
        "rotation never due": "1 TB",
        f"rotation {args.rotation}": args.rotation,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    files: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, rotation in variants.items():
                elapsed, made = run(os.path.join(tmp, "logs"), rotation, calls)
                times[name].append(elapsed)
                files[name] = made
    print(
        f"{args.calls:,} logger.info calls, median of {args.rounds} alternating rounds;"
        f" capturelog codec: {CODEC_NAME}"
    )
    print(f"{'handler':<22} {'per call':>10} {'vs no rotation':>15} {'files':>6}")
    for name in variants:
        per_call = statistics.median(times[name]) / args.calls * 1e6
        ratio = statistics.median(
            ours / plain for ours, plain in zip(times[name], times["no rotation"], strict=True)
        )
        print(f"{name:<22} {per_call:>8.3f} us {ratio:>14.3f}x {files[name]:>6}")


if __name__ == "__main__":
    main()
