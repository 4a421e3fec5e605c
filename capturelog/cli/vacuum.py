"""``capturelog vacuum``: delete a log set's oldest segments until it fits its limits."""

from __future__ import annotations

import argparse
import sys

from .._limits import Retention, parse_age, parse_size
from ..logset import segments, set_paths, vacuum
from ._common import UsageError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "vacuum", help="delete a log set's oldest segments until it fits the limits given",
        description="Delete whole segments of the log sets named, oldest first, until every"
        " limit given holds (journalctl's --vacuum-size/--vacuum-time/--vacuum-files). PATH is"
        " a handler's file name (logs/app.capture stands for logs/app@*.capture and its worker"
        " processes' logs/app.*@*.capture), a directory, or a quoted glob; files that are not"
        " capture-file segments are never touched. The newest segment of each stream is kept"
        " (its writer continues it), and so is any segment a live writer holds. Several"
        " vacuums may run at once.",
    )  # fmt: skip
    command.add_argument("paths", nargs="+", metavar="PATH", help="log sets to vacuum")
    command.add_argument(
        "--max-size", metavar="SIZE", help="keep the set within this size on disk: '10 GB'"
    )
    command.add_argument(
        "--max-age", metavar="AGE", help="delete segments unchanged for longer: '7 days', '12h'"
    )
    command.add_argument(
        "--max-files", metavar="N", type=int, help="keep at most N segments in the set"
    )
    command.add_argument(
        "-n", "--dry-run", action="store_true", help="say what would be deleted; delete nothing"
    )
    command.set_defaults(run=run)


def _retention(args: argparse.Namespace) -> Retention:
    if args.max_size is None and args.max_age is None and args.max_files is None:
        raise UsageError("vacuum needs at least one of --max-size, --max-age, --max-files")
    if args.max_files is not None and args.max_files < 1:
        raise UsageError(f"--max-files must be 1 or more, not {args.max_files}")
    try:
        return Retention(
            max_bytes=None if args.max_size is None else parse_size(args.max_size),
            max_age=None if args.max_age is None else parse_age(args.max_age),
            max_files=args.max_files,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    retention = _retention(args)
    out = sys.stdout
    verb = "would delete" if args.dry_run else "deleted"
    for path in args.paths:
        found = segments(set_paths(path))
        if not found:
            raise FileNotFoundError(2, "no capture-file segments here", path)
        report = vacuum(found, retention, dry_run=args.dry_run)
        for deleted in report.deleted:
            out.write(f"{verb} {deleted}\n")
        for held in report.held:
            out.write(f"kept {held}: a writer holds it\n")
        out.write(
            f"{path}: {verb} {len(report.deleted):,} of {len(found):,} segments"
            f" ({report.freed / 1e6:.1f} MB); {report.kept:,} left\n"
        )
    return 0
