"""``capturelog salvage``: copy what can be proven intact into a new file."""

from __future__ import annotations

import argparse
import sys

from ..salvage import SalvageReport, salvage
from ._output import Progress

# Lost ranges listed one a line, at most; the rest are counted.
_SHOWN = 20


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "salvage", help="copy what can be proven intact out of a damaged file",
        description="Copy every record of DAMAGED that can still be read and proven intact"
        " (its block's checksum matches, and an intact index node gives its position) into"
        " the new capture file NEW, in order, and report the sequence numbers lost. NEW gets"
        " its name only once complete; its metadata says where it came from. Exit status:"
        " 0 nothing was lost; 3 records were lost; 1 an error (DAMAGED cannot be read or is"
        " not a capture file, NEW exists, or NEW cannot be written).",
    )  # fmt: skip
    command.add_argument("source", metavar="DAMAGED", help="the damaged capture file (only read)")
    command.add_argument("destination", metavar="NEW", help="the new capture file to write")
    command.add_argument("--force", action="store_true", help="replace NEW if it exists")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    progress = Progress("salvage")
    try:
        report = salvage(args.source, args.destination, overwrite=args.force, progress=progress)
    finally:
        progress.done()
    write_report(report)
    return 0 if report.complete else 3


def write_report(report: SalvageReport) -> None:
    out = sys.stdout
    head = f"{report.source} -> {report.destination}: "
    if report.total is None:
        out.write(f"{head}copied {report.copied:,} records; the source's count is unknown\n")
    elif report.complete:
        out.write(f"{head}copied all {report.copied:,} records; nothing lost\n")
    else:
        out.write(
            f"{head}copied {report.copied:,} of {report.total:,} records;"
            f" lost {report.lost_count:,}\n"
        )
    for lost in report.lost[:_SHOWN]:
        out.write(f"  lost: {lost}\n")
    if len(report.lost) > _SHOWN:
        rest = report.lost[_SHOWN:]
        out.write(
            f"  lost: ... and {len(rest):,} more ranges ({sum(r.count for r in rest):,} records)\n"
        )
    if report.tail_after is not None:
        out.write(
            f"  lost: the tail after record {report.tail_after:,} (how many records the file"
            " held is unknown)\n"
        )
    out.write(f"  metadata: {report.metadata}\n")
    for note in report.notes:
        out.write(f"  note: {note}\n")
