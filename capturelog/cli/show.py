"""``capturelog show``: one record in full."""

from __future__ import annotations

import argparse
import sys

from .._codec import limited_repr
from ._common import UsageError, open_reader
from ._output import details, known_fields


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser(
        "show", help="one record in full",
        description="Print one record with every field. PATH is one capture file (or a"
        " directory or glob naming one).",
    )  # fmt: skip
    show.add_argument("paths", nargs=1, metavar="PATH")
    show.add_argument(
        "seq", type=int, metavar="SEQ", help="its sequence number; negative counts from the end"
    )
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_reader(args.paths) as reader:
        if len(reader.paths) != 1:
            raise UsageError(
                f"{args.paths[0]} names {len(reader.paths)} files; show reads one:"
                f" {', '.join(reader.paths[:3])}{' ...' if len(reader.paths) > 3 else ''}"
            )
        path = reader.paths[0]
        count = len(reader)
        seq = args.seq if args.seq >= 0 else count + 1 + args.seq
        if not 1 <= seq <= count:
            span = f"records are 1 to {count} (or -{count} to -1)" if count else "it has no records"
            raise UsageError(f"{path}: no record {args.seq}; {span}")
        record = reader[seq]
        out = sys.stdout
        out.write(f"record {seq} of {count} in {path}\n")
        try:
            text = details(record)
        except Exception as exc:  # a value no rule foresaw: say what is known
            known = known_fields(record)
            error = f"{type(exc).__name__}: {limited_repr(exc)}"
            text = (
                f"  time:    {known['time']}\n  level:   {known['level']}\n"
                f"  logger:  {known['logger']}\n  message: {known['message']}\n"
                f"  (the record cannot be shown in full: {error})\n"
            )
        out.write(text)
    return 0
