"""The ``capturelog`` command: read, search, follow and check capture files.

One module a command; each has ``register(commands)`` and ``run(args)``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..exceptions import CaptureFileError
from . import cat, show, stats, tail, verify
from ._common import UsageError
from ._output import Printer, known_fields, normalised
from .show import details

__all__ = ["Printer", "details", "known_fields", "main", "normalised"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (the console script's entry point).

    The status is 0, 1 for an error (a bad argument, a missing, foreign or
    damaged file, a record that cannot be decoded), reported as one line on
    stderr, or 3 from ``verify`` for a damaged file. A record that decodes but
    cannot be formatted (a template that does not fit its arguments, a time
    out of range, a field of an odd type) is printed all the same, or as a
    fallback line, and does not change the status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Point stdout at
        # /dev/null so the interpreter's final flush does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except (CaptureFileError, OSError, UsageError, ValueError, TypeError, IndexError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror}"
        sys.stderr.write(f"capturelog: error: {message}\n")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capturelog",
        description="Read, search, follow and check capture files.",
    )
    parser.add_argument("--version", action="version", version=f"capturelog {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (cat, tail, show, stats, verify):
        command.register(commands)
    return parser
