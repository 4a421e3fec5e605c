"""``capturelog stats``: counts, time span, size and state."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from typing import cast

from .._jsonout import time_text
from .._locking import writer_active
from ..replay import time_value
from ._common import open_reader
from ._output import Progress, text_of


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser("stats", help="counts, time span, size and state")
    stats.add_argument("paths", nargs=1, metavar="PATH")
    stats.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = args.paths[0]
    with open_reader(args.paths) as reader:
        source = reader._sources[0]
        count = len(reader)
        progress = Progress("stats")
        levels: Counter[str] = Counter()
        loggers: Counter[str] = Counter()
        first = last = None
        raw = 0
        for n, payload in enumerate(source.cf, 1):
            raw += len(payload)
            record = source.decoder.record(source.decode(cast(bytes, payload), n), n)
            levels[text_of(record.levelname)] += 1
            loggers[text_of(record.name)] += 1
            created = time_value(record.created)
            if not math.isnan(created):  # a NaN time is left out of the span
                first = created if first is None else min(first, created)
                last = created if last is None else max(last, created)
            if n % 5000 == 0:
                progress(n, count)
        progress.done()
        view = source.cf._view
        # Compressed blocks in the file, plus the block not compressed yet
        # (it lives in the master node).
        data_size = view.limit - source.cf._config.data_start + len(view.pending)
        with open(path, "rb") as f:
            writing = writer_active(f.fileno())
    out = sys.stdout
    out.write(f"file:        {path}\n")
    out.write(f"records:     {count:,} committed\n")
    out.write(
        "state:       "
        + (
            "a writer has the file open (its uncommitted records are not counted)\n"
            if writing
            else "no writer has the file open\n"
        )
    )
    if first is not None and last is not None:
        out.write(f"time span:   {time_text(first)} .. {time_text(last)} ({last - first:,.3f} s)\n")
    size = os.path.getsize(path)
    ratio = f"{raw / data_size:.1f}" if data_size > 0 else "-"
    out.write(
        f"size:        {size:,} bytes on disk (grown ahead in steps), {data_size:,} bytes of"
        f" data for {raw:,} bytes of records (compression ratio {ratio})\n"
    )
    out.write("levels:\n")
    for name, n in sorted(levels.items(), key=lambda item: -item[1]):
        out.write(f"  {name:<10} {n:>10,}\n")
    out.write("loggers:\n")
    for name, n in loggers.most_common(20):
        out.write(f"  {name:<30} {n:>10,}\n")
    if len(loggers) > 20:
        out.write(f"  ... and {len(loggers) - 20} more\n")
    return 0
