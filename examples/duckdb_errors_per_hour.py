"""Errors per logger per hour across hosts: capture files exported to Parquet, queried with DuckDB.

    python examples/duckdb_errors_per_hour.py [DIRECTORY]

Writes a capture file for each of three hosts (four hours of a shop's
logging, with a fixed clock from 2026-11-28 08:00 UTC, and an outage of one
host's database), exports each to Parquet with
``capturelog.export.export_parquet``, then asks DuckDB, over the three
Parquet files at once, how many errors each logger logged in each hour, and
on which hosts. Needs pyarrow and duckdb.

The file names stand for the hosts here: the three files are written on
this machine, so their ``host`` column (where a file was written, from its
metadata) is the same.
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from capturelog import CaptureHandler, ReplayReader
from capturelog.export import export_parquet

HOSTS = ("host-a", "host-b", "host-c")
LOGGERS = ("shop.api", "shop.db", "shop.payments")
START = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc).timestamp()

QUERY = """
WITH errors AS (
    SELECT date_trunc('hour', time) AS hour, logger, replace(stream, '.capture', '') AS host
    FROM read_parquet($files)
    WHERE level >= 40  -- ERROR and CRITICAL
)
SELECT strftime(hour, '%Y-%m-%d %H:%M') AS hour_utc, logger, count(*) AS errors,
       string_agg(DISTINCT host, ' ' ORDER BY host) AS hosts
FROM errors
GROUP BY ALL
ORDER BY hour_utc, logger
"""


def write_host(path: Path, host: str) -> None:
    """Four hours of one host's logging, a record every 30 seconds, a few
    errors among them; on host-b, the database fails from 10:10 to 10:30."""
    handler = CaptureHandler(path, commit_interval=None)
    rng = random.Random(host)  # each host its own, the same on every run
    for i in range(4 * 60 * 2):
        created = START + i * 30
        log = logging.getLogger(rng.choice(LOGGERS))
        exc_info = None
        args: tuple[object, ...]
        roll = rng.random()
        if host == "host-b" and START + 130 * 60 <= created < START + 150 * 60:
            log = logging.getLogger("shop.db")
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except OSError:
                exc_info = sys.exc_info()
            level, msg, args = logging.ERROR, "query for order %d failed", (i,)
        elif roll < 0.03:
            level, msg, args = logging.ERROR, "order %d failed: %s", (i, "card declined")
        elif roll < 0.15:
            level, msg, args = logging.WARNING, "order %d slow: %d ms", (i, rng.randint(500, 3000))
        else:
            level, msg, args = logging.INFO, "order %d done", (i,)
        record = log.makeRecord(log.name, level, __file__, 0, msg, args, exc_info)
        record.created = created
        handler.handle(record)
    handler.close()


def main(directory: Path) -> None:
    parquet_files = []
    for host in HOSTS:
        capture = directory / f"{host}.capture"
        capture.unlink(missing_ok=True)  # a fresh file on each run
        write_host(capture, host)
        parquet = directory / f"{host}.parquet"
        with ReplayReader(capture) as reader:
            written = export_parquet(reader, parquet, overwrite=True)
        print(f"{capture.name}: {written} records -> {parquet.name}")
        parquet_files.append(str(parquet))

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # hours as UTC, whatever this machine's zone
    rows = connection.execute(QUERY, {"files": parquet_files}).fetchall()
    print("errors per logger per hour (UTC):")
    for hour, logger, errors, hosts in rows:
        print(f"  {hour}  {logger:<14} {errors:>2}  {hosts}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
