"""``capturelog show``: one record in full."""

from __future__ import annotations

import argparse
import logging
import sys

from .._codec import STANDARD_ATTRIBUTES, limited_repr, robust_repr
from .._jsonout import time_text
from ._common import UsageError, open_reader
from ._output import known_fields, text_of


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser("show", help="one record in full")
    show.add_argument("paths", nargs=1, metavar="PATH")
    show.add_argument("seq", type=int, metavar="SEQ")
    show.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_reader(args.paths) as reader:
        count = len(reader)
        if not 1 <= args.seq <= count:
            raise UsageError(f"{args.paths[0]}: no record {args.seq}; records are 1 to {count}")
        record = reader[args.seq]
        out = sys.stdout
        out.write(f"record {args.seq} of {count} in {args.paths[0]}\n")
        try:
            text = details(record)
        except Exception as exc:  # a value no rule above foresaw: say what is known
            known = known_fields(record)
            error = f"{type(exc).__name__}: {limited_repr(exc)}"
            text = (
                f"  time:    {known['time']}\n  level:   {known['level']}\n"
                f"  logger:  {known['logger']}\n  message: {known['message']}\n"
                f"  (the record cannot be shown in full: {error})\n"
            )
        out.write(text)
    return 0


def details(record: logging.LogRecord) -> str:
    """Every attribute of a record, one a line; values of any type (text as
    it is, anything else as its repr)."""
    lines = [
        f"  time:    {time_text(record.created)}",
        f"  level:   {text_of(record.levelname)} ({text_of(record.levelno)})",
        f"  logger:  {text_of(record.name)}",
        f"  message: {record.getMessage()}",
        f"  template: {robust_repr(record.msg)}",
        f"  args:    {robust_repr(record.args)}",
    ]
    for key in (
        "pathname", "lineno", "funcName", "process", "processName", "thread", "threadName",
        "taskName", "relativeCreated",
    ):  # fmt: skip
        value = getattr(record, key, None)
        if value is not None:
            lines.append(f"  {key}: {text_of(value)}")
    extras = {
        k: v
        for k, v in record.__dict__.items()
        if k not in STANDARD_ATTRIBUTES and not k.startswith(("capture_", "_capture"))
    }
    if extras:
        lines.append("  extra:")
        for key, value in sorted(extras.items()):
            lines.append(f"    {key}: {robust_repr(value)}")
    text = "".join(f"{line}\n" for line in lines)
    if record.exc_text:
        text += "  traceback:\n" + _indent(text_of(record.exc_text))
    if record.stack_info:
        text += "  stack:\n" + _indent(text_of(record.stack_info))
    return text


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())
