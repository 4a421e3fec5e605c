"""``capturelog export``: records to a Parquet file, for DuckDB, Polars, Spark."""

from __future__ import annotations

import argparse
import sys

from ..export import export_parquet
from ._common import add_filters, add_paths, filters, open_reader


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "export", help="write records to a Parquet file (for DuckDB, Polars, Spark)",
        description="Write the records of the files, directories, globs or log sets named"
        " (merged by time, filtered as cat filters them) to OUT, a Parquet file with one row"
        " per record: time (UTC), level, level_name, logger, message, template, args and"
        " extra (JSON text), traceback, stack, pathname, lineno, function, thread,"
        " process, stream, seq, file, and the writer's host, program and pid. OUT gets its"
        " name only once complete. Needs pyarrow: pip install 'capturelog[parquet]'.",
    )  # fmt: skip
    add_paths(command)
    command.add_argument("--parquet", required=True, metavar="OUT", help="the Parquet file")
    command.add_argument("--force", action="store_true", help="replace OUT if it exists")
    add_filters(command)
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_reader(args.paths) as reader:
        written = export_parquet(
            reader, args.parquet, overwrite=args.force,
            start=args.start, stop=args.stop, skew=args.skew, **filters(args, reader),
        )  # fmt: skip
    sys.stdout.write(f"{args.parquet}: {written:,} records\n")
    return 0
