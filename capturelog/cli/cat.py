"""``capturelog cat`` and ``capturelog tail``: records, filtered, merged in
time order across files, optionally followed as they are committed. ``tail``
is ``cat`` showing the last 10 records by default."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterator
from typing import Any

from ..replay import ReplayReader
from ._common import UsageError, add_filters, add_paths, count, filters, open_reader, seconds
from ._output import Printer, Progress, add_output_options


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cat = commands.add_parser(
        "cat", help="print records, filtered",
        description="Print the records of one or more capture files, filtered, oldest first.",
    )  # fmt: skip
    add_reading_options(cat, last=None)


def add_reading_options(parser: argparse.ArgumentParser, last: int | None) -> None:
    add_paths(parser)
    shown = "all" if last is None else str(last)
    parser.add_argument(
        "-n", "--lines", type=count, default=last, metavar="N",
        help=f"only the last N records that pass the filters (default: {shown})",
    )  # fmt: skip
    parser.add_argument("-r", "--reverse", action="store_true", help="newest first")
    parser.add_argument(
        "-f", "--follow", action="store_true",
        help="then keep printing records as they are committed, also from capture files that"
        " appear in a directory or glob given (Ctrl-C ends)",
    )  # fmt: skip
    parser.add_argument(
        "--interval", type=seconds, default=0.5, metavar="SECONDS",
        help="seconds between checks for new records with -f (default 0.5)",
    )  # fmt: skip
    add_filters(parser)
    add_output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.follow and args.reverse:
        raise UsageError("-f/--follow and -r/--reverse do not go together")
    with open_reader(args.paths) as reader:
        printer = Printer(args)
        query = filters(args, reader)
        # An export can be long: show progress when stderr is a terminal.
        progress = Progress("export") if printer.mode.startswith("json") else None
        total = len(reader)
        for done, record in enumerate(_chosen(reader, args, query), 1):
            printer.write(record)
            if progress is not None and done % 5000 == 0:
                progress(done, total)
        if progress is not None:
            progress.done()
        if args.follow:
            sys.stdout.flush()
            for record in reader.follow(poll_interval=args.interval, **query):
                printer.write(record)
                sys.stdout.flush()
    return 0


def _chosen(
    reader: ReplayReader, args: argparse.Namespace, query: dict[str, Any]
) -> Iterator[logging.LogRecord]:
    """The records the options ask for, in the order to print them."""
    common = {"skew": args.skew, **query}
    if args.lines is None:
        return reader.records(args.start, args.stop, reverse=args.reverse, **common)
    newest = reader.records(args.start, args.stop, reverse=True, **common)
    last = list(itertools.islice(newest, args.lines))  # at most N records held
    return iter(last if args.reverse else last[::-1])
