"""``capturelog tail``: the last records, or follow new ones (``cat -n 10``)."""

from __future__ import annotations

import argparse

from .cat import add_reading_options


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = commands.add_parser(
        "tail", help="print the last records, or follow new ones",
        description="Print the last records of one or more capture files (merged in time"
        " order), filtered, and with -f keep printing new ones.",
    )  # fmt: skip
    add_reading_options(tail, last=10)
