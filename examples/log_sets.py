"""A service with worker processes logging into one rotating, size-bounded log set.

    python examples/log_sets.py [DIRECTORY]

Every process logs through the same dictConfig: the main process writes the
stream logs/service.capture, each worker (its name is held) a stream of its
own, logs/service.<pid>.capture. Each stream is cut into segments of about
16 KB of compressed data, and after each rotation the set is cut back to 12
segments (each stream's newest always stays, so a set of more streams than
that keeps one segment each). The whole set then reads as one log.
"""

import logging
import logging.config
import multiprocessing
import os
import sys

from capturelog import ReplayReader, logset

DIRECTORY = sys.argv[1] if len(sys.argv) > 1 else "logs"
NAME = os.path.join(DIRECTORY, "service.capture")

CONFIG = {
    "version": 1,
    "handlers": {
        "capture": {
            "class": "capturelog.CaptureHandler",
            "filename": NAME,
            "rotation": "16 KB",  # or "64 MB", "1 day", "00:00", or a list
            "retention": 12,  # or "10 GB", "7 days", or a list
        }
    },
    "root": {"level": "INFO", "handlers": ["capture"]},
}


def work(job: int) -> int:
    log = logging.getLogger("service.worker")
    for step in range(2_000):
        log.info("job %d step %d took %d ms", job, step, (job * step) % 97)
    return job


def configure() -> None:
    logging.config.dictConfig(CONFIG)


if __name__ == "__main__":
    configure()
    logging.getLogger("service").info("starting %d workers", 3)
    with multiprocessing.get_context("spawn").Pool(3, initializer=configure) as pool:
        done = pool.map(work, range(6))
        pool.close()
        pool.join()
    logging.getLogger("service").warning("all %d jobs done", len(done))
    logging.shutdown()

    found = logset.segments(logset.segment_paths(NAME))
    streams = sorted({s.stream for s in found})
    print(f"{len(found)} segments in {len(streams)} streams")
    with ReplayReader(NAME) as reader:
        last = list(reader)[-1]
    print(f"last record: {last.getMessage()!r}, record {last.capture_seq} of {last.capture_stream}")
