"""``capturelog cat``: print records, filtered."""

from __future__ import annotations

import argparse

from ._common import add_filters, open_reader
from ._output import Printer, Progress, add_output_options


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cat = commands.add_parser("cat", help="print records, filtered")
    cat.add_argument("paths", nargs="+", metavar="PATH")
    add_filters(cat)
    add_output_options(cat)
    cat.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_reader(args.paths) as reader:
        printer = Printer(args)
        records = reader.records(
            args.start,
            args.stop,
            level=args.level,
            logger=args.logger,
            since=args.since,
            until=args.until,
            match=args.grep,
            skew=args.skew,
        )
        # An export (--json) can be long: show progress when stderr is a terminal.
        progress = Progress("export") if args.json else None
        total = len(reader)
        for done, record in enumerate(records, 1):
            printer.write(record)
            if progress is not None and done % 5000 == 0:
                progress(record.capture_seq, total)  # type: ignore[attr-defined]
        if progress is not None:
            progress.done()
    return 0
