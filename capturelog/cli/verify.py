"""``capturelog verify``: check every part of capture files."""

from __future__ import annotations

import argparse
import sys

from .._verify import Report, verify
from ..exceptions import CaptureFileError
from ..replay import expand_paths
from ._output import Progress


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "verify", help="check every part of capture files",
        description="Check every part of each file: header, master nodes, every block's"
        " checksum, the index, and every record (decoded as a log record when the file"
        " holds capturelog's log records; a file of plain records, written with the engine"
        " API, is checked as stored). Exit status: 0 every file is sound; 3 damage was"
        " found (`capturelog salvage` copies what can be proven intact); 1 a file could"
        " not be checked: it cannot be read or is not a capture file (this wins over 3).",
    )  # fmt: skip
    check.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="capture files, directories (the capture files in them) or quoted globs",
    )  # fmt: skip
    check.add_argument(
        "--raw", action="store_true",
        help="never decode records, only check how they are stored (plain records are"
        " recognised without it)",
    )  # fmt: skip
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    errors = damaged = False
    for pattern in args.paths:
        try:
            paths = expand_paths([pattern])
        except OSError as exc:
            _error(exc)
            errors = True
            continue
        for path in paths:
            progress = Progress("verify")
            try:
                report = verify(path, decode_records=not args.raw, progress=progress)
            except (CaptureFileError, OSError) as exc:
                _error(exc)
                errors = True
                continue
            finally:
                progress.done()
            _write(report)
            damaged = damaged or not report.sound
    return 1 if errors else 3 if damaged else 0


def _error(exc: Exception) -> None:
    """One line on stderr naming the path: it could not be checked."""
    message = str(exc)
    if isinstance(exc, OSError) and exc.filename:
        message = f"{exc.filename}: {exc.strerror}"
    sys.stdout.flush()  # keep the order of reports and errors in a shared terminal
    sys.stderr.write(f"capturelog: error: {message}\n")


def _write(report: Report) -> None:
    out = sys.stdout
    path = report.path
    if report.sound:
        out.write(
            f"{path}: sound: {report.records:,} records, {report.blocks:,} blocks,"
            f" {report.index_nodes:,} index nodes\n"
        )
    else:
        out.write(f"{path}: DAMAGED: {len(report.problems)} problem(s)\n")
        for problem in report.problems:
            out.write(f"  {problem}\n")
    for note in report.notes:
        out.write(f"  note: {note}\n")
    if not report.sound:
        out.write(f"  (`capturelog salvage {path} NEW` copies what can be proven intact)\n")
