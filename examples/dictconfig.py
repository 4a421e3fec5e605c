"""Configure CaptureHandler with logging.config.dictConfig (plain values only).

    python examples/dictconfig.py [DIRECTORY]
"""

from __future__ import annotations

import logging
import logging.config
import sys
import tempfile
from pathlib import Path

from capturelog import ReplayReader


def main(directory: Path) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {"short": {"format": "%(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "short", "level": "WARNING"},
                "capture": {
                    "class": "capturelog.CaptureHandler",
                    "filename": str(directory / "service-{pid}.capture"),  # one file per process
                    "commit_every": 500,
                    "commit_interval": 0.5,
                    "commit_level": "ERROR",
                },
            },
            "root": {"level": "DEBUG", "handlers": ["console", "capture"]},
        }
    )
    log = logging.getLogger("service.worker")
    for job in range(3):
        log.debug("job %d started", job)
        log.info("job %d done in %.1f s", job, 0.25 * (job + 1))
    log.warning("queue is %d%% full", 85)
    path = logging.getLogger().handlers[1].baseFilename  # type: ignore[attr-defined]
    logging.shutdown()
    with ReplayReader(path) as reader:
        print(f"captured {len(reader)} records (the console only showed warnings)")
        for record in reader.records(logger="service"):
            print(f"  #{record.capture_seq} {record.levelname:<7} {record.getMessage()}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
