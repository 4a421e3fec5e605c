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
        " directory or glob naming one), or a log set (a handler's file name with"
        " rotation): SEQ is then the stream's sequence number, and --stream picks the"
        " stream when the set has several.",
    )  # fmt: skip
    show.add_argument("paths", nargs=1, metavar="PATH")
    show.add_argument(
        "seq", type=int, metavar="SEQ", help="its sequence number; negative counts from the end"
    )
    show.add_argument(
        "--stream", metavar="NAME",
        help="in a log set of several streams, the stream (such as app.4242.capture)",
    )  # fmt: skip
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_reader(args.paths) as reader:
        if args.stream is not None:
            try:
                source = reader._of_stream(args.stream)
            except KeyError as exc:
                raise UsageError(f"{args.paths[0]}: {exc.args[0]}") from None
        elif len(reader.paths) != 1:
            raise UsageError(
                f"{args.paths[0]} names {len(reader.paths)} files or streams; show reads one"
                f" (pick one with --stream): {', '.join(reader.streams[:3])}"
                f"{' ...' if len(reader.paths) > 3 else ''}"
            )
        else:
            source = reader._sources[0]
        path, first = source.path, source.first
        count = source.cf.record_count()
        seq = args.seq if args.seq >= 0 else count + 1 + args.seq
        if not first <= seq <= count:
            if count < first:
                span = "it has no records"
            elif first > 1:
                span = f"records are {first} to {count} (1 to {first - 1} were deleted)"
            else:
                span = f"records are 1 to {count} (or -{count} to -1)"
            raise UsageError(f"{path}: no record {args.seq}; {span}")
        record = reader[source.stream, seq]
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
