"""``capturelog verify``: check every part of a file."""

from __future__ import annotations

import argparse
import os
import sys

from .._verify import verify
from ._common import UsageError
from ._output import Progress


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser("verify", help="check every part of a file")
    check.add_argument("paths", nargs=1, metavar="PATH")
    check.add_argument("--raw", action="store_true", help="records are not capturelog maps")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = args.paths[0]
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    progress = Progress("verify")
    report = verify(path, decode_records=not args.raw, progress=progress)
    progress.done()
    if report.sound:
        sys.stdout.write(
            f"{path}: sound: {report.records:,} records, {report.blocks:,} blocks,"
            f" {report.index_nodes:,} index nodes\n"
        )
        for note in report.notes:
            sys.stdout.write(f"  note: {note}\n")
        return 0
    sys.stdout.write(f"{path}: DAMAGED: {len(report.problems)} problem(s)\n")
    for problem in report.problems:
        sys.stdout.write(f"  {problem}\n")
    for note in report.notes:
        sys.stdout.write(f"  note: {note}\n")
    return 3
