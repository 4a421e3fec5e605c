"""The ``capturelog`` command: read, search, follow and check capture files.

One module a command; each has ``register(commands)`` and ``run(args)``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..exceptions import CaptureFileError
from . import cat, export, salvage, ship, show, stats, tail, vacuum, verify
from ._common import UsageError
from ._output import Printer, details, known_fields, normalised

__all__ = ["Printer", "details", "known_fields", "main", "normalised"]


EXIT_CODES = {
    0: "fine",
    1: "an error: a file missing, unreadable, not a capture file, or a record unreadable",
    2: "a usage error: an unknown option or a bad value",
    3: "verify found damage, or salvage lost records",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (the console script's entry point).

    The status is one of ``EXIT_CODES``; an error is one line on stderr
    naming the path or the option. A record that decodes but
    cannot be formatted (a template that does not fit its arguments, a time
    out of range, a field of an odd type) is printed all the same, or as a
    fallback line, and does not change the status.
    """
    parser = _parser()
    args = parser.parse_args(_attach_values(sys.argv[1:] if argv is None else list(argv)))
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
    except UsageError as exc:
        sys.stderr.write(f"capturelog: error: {exc}\n")
        return 2
    except (CaptureFileError, OSError, ValueError, TypeError, IndexError, ImportError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror}"
        sys.stderr.write(f"capturelog: error: {message}\n")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="capturelog",
        description="Read, search, follow and check capture files.",
        epilog="exit status: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"capturelog {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (cat, tail, show, stats, verify, salvage, vacuum, export, ship):
        command.register(commands)
    return parser


# Options whose value may start with "-": a time back from now ("-1h") or a
# number from the end ("-2"). argparse takes such a word for an option unless
# it is a plain negative number, so it is attached with "=" first.
_SIGNED_OPTIONS = frozenset({"-S", "--since", "-U", "--until", "--start", "--stop", "--skew"})


def _attach_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in _SIGNED_OPTIONS:
            value = next(words, None)
            if value is not None and value[:1] == "-" and value[1:2].isdigit():
                out.append(f"{word}={value}")
                continue
            out.append(word)
            if value is not None:
                out.append(value)
            continue
        out.append(word)
        if word == "--":
            out.extend(words)
    return out


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error, with where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"capturelog: error: {message} (see '{self.prog} --help')\n")
