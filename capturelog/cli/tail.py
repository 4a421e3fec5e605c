"""``capturelog tail``: the last records, or follow new ones."""

from __future__ import annotations

import argparse
import sys

from ._common import UsageError, open_reader
from ._output import Printer, add_output_options


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = commands.add_parser("tail", help="print the last records, or follow new ones")
    tail.add_argument("paths", nargs=1, metavar="PATH")
    tail.add_argument("-n", type=int, default=10, metavar="N", help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("--interval", type=float, default=0.5, help="seconds between checks with -f")
    add_output_options(tail)
    tail.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise UsageError(f"-n must be 0 or more, not {args.n}")
    with open_reader(args.paths) as reader:
        printer = Printer(args)
        count = len(reader)
        for record in reader.records(max(1, count - args.n + 1)):
            printer.write(record)
        if args.follow:
            sys.stdout.flush()
            for record in reader.follow(count + 1, poll_interval=args.interval):
                printer.write(record)
                sys.stdout.flush()
    return 0
