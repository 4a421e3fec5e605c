"""CaptureHandler against stdlib FileHandler and a JSON-lines FileHandler, same calls, one run.

    python benchmarks/bench_handler.py [--calls 100000] [--rounds 7]

Each round sends the same ``logger.info("... %s ... %s", a, b)`` calls through
each handler in turn (alternating, so machine noise hits all of them), timing
from the first call to the handler's close. Prints the median per-call cost of
each, the median of the rounds' ratios against FileHandler, and the space each
file takes on disk (what ``du`` counts: a capture file is grown ahead in large
steps, and the part not written yet is a hole) against JSON lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import capturelog
from capturelog._zlib import CODEC_NAME

FIELDS = (
    "name", "msg", "levelname", "levelno", "pathname", "filename", "module", "lineno",
    "funcName", "created", "msecs", "relativeCreated", "thread", "threadName", "process",
    "processName", "exc_text", "stack_info",
)  # fmt: skip


class JsonLinesFormatter(logging.Formatter):
    """Every record field, plus the rendered message and the arguments, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        data = {field: getattr(record, field) for field in FIELDS}
        data["args"] = record.args
        data["message"] = record.getMessage()
        return json.dumps(data, default=repr)


class NoOpHandler(logging.Handler):
    """Stores nothing: what a logging call costs whatever the handler."""

    def emit(self, record: logging.LogRecord) -> None:
        pass


def make_handlers(tmp: str) -> dict[str, Callable[[], logging.Handler]]:
    def file_handler() -> logging.Handler:
        return logging.FileHandler(os.path.join(tmp, "plain.log"), mode="w")

    def json_handler() -> logging.Handler:
        handler = logging.FileHandler(os.path.join(tmp, "records.jsonl"), mode="w")
        handler.setFormatter(JsonLinesFormatter())
        return handler

    def capture_handler() -> logging.Handler:
        path = os.path.join(tmp, "records.capture")
        if os.path.exists(path):
            os.remove(path)
        return capturelog.CaptureHandler(path)

    return {
        "CaptureHandler": capture_handler,
        "FileHandler": file_handler,
        "JSON lines": json_handler,
        "no-op Handler": NoOpHandler,
    }


def run(make: Callable[[], logging.Handler], calls: list[tuple[str, int]]) -> tuple[float, str]:
    handler = make()
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
    name = getattr(handler, "baseFilename", "")
    return elapsed, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(11)
    users = [f"user-{rng.getrandbits(32):08x}" for _ in range(500)]
    calls = [(rng.choice(users), rng.randint(1, 2000)) for _ in range(args.calls)]
    times: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        handlers = make_handlers(tmp)
        for _ in range(args.rounds):
            for name, make in handlers.items():
                elapsed, path = run(make, calls)
                times.setdefault(name, []).append(elapsed)
                if path:
                    sizes[name] = os.stat(path).st_blocks * 512
    print(
        f"{args.calls:,} logger.info calls, median of {args.rounds} alternating rounds;"
        f" capturelog codec: {CODEC_NAME}"
    )
    print(
        f"{'handler':<16} {'per call':>10} {'vs FileHandler':>15} {'on disk':>12}"
        f" {'vs JSON lines':>14}"
    )
    per_call = {name: statistics.median(times[name]) / args.calls * 1e6 for name in handlers}
    for name, size in sizes.items():
        ratio = statistics.median(
            ours / plain for ours, plain in zip(times[name], times["FileHandler"], strict=True)
        )
        print(
            f"{name:<16} {per_call[name]:>8.2f} us {ratio:>14.2f}x"
            f" {size / 1e6:>9.2f} MB {size / sizes['JSON lines']:>13.3f}x"
        )
    base = per_call["no-op Handler"]
    ours, plain = per_call["CaptureHandler"] - base, per_call["FileHandler"] - base
    print(
        f"the logging call itself (a Handler whose emit does nothing): {base:.2f} us;"
        f" beyond it CaptureHandler {ours:.2f} us, FileHandler {plain:.2f} us"
        f" ({ours / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
