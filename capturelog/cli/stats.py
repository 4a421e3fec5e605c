"""``capturelog stats``: counts, time span, sizes, writers and state."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from typing import Any, TextIO, cast

from .._jsonout import time_text
from .._locking import writer_active
from ..replay import ReplayReader, level_value, time_value
from ._common import add_paths, open_reader
from ._output import Progress, text_of


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser(
        "stats", help="counts, time span, sizes, writers and state",
        description="Summarise capture files: for each file its records, state, writer and"
        " size; then, over all of them, the time span and the counts by level and logger.",
    )  # fmt: skip
    add_paths(stats)
    stats.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    with open_reader(args.paths) as reader:
        tally = _Tally(len(reader))
        for index in range(len(reader.paths)):
            raw = tally.add(reader, index)
            _describe_file(out, reader, index, raw)
        tally.progress.done()
    if len(reader.paths) > 1:
        out.write(f"files:       {len(reader.paths)}, {tally.total:,} records committed\n")
    tally.write(out)
    return 0


class _Tally:
    """Counts by level and logger, and the time span, over every file."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.levels: Counter[tuple[Any, str]] = Counter()  # (number, name): count
        self.loggers: Counter[str] = Counter()
        self.span: list[float] = []  # the earliest and the latest time
        self.progress = Progress("stats")
        self.done = 0

    def add(self, reader: ReplayReader, index: int) -> int:
        """Count one file's records in; return its bytes of records."""
        source = reader._sources[index]
        raw = 0
        for n, payload in enumerate(source.cf, source.first):
            raw += len(payload)
            record = source.build(source.decode(cast(bytes, payload), n), n)
            levelno: float = record.levelno
            if type(levelno) is not int:
                levelno = level_value(levelno)
            self.levels[levelno, text_of(record.levelname) or "(none)"] += 1
            self.loggers[text_of(record.name) or "(none)"] += 1
            created = time_value(record.created)
            if not math.isnan(created):  # a NaN time (a plain record's) is left out
                span = self.span
                span[:] = [min(span[0], created), max(span[1], created)] if span else [created] * 2
            self.done += 1
            if self.done % 5000 == 0:
                self.progress(self.done, self.total)
        return raw

    def write(self, out: TextIO) -> None:
        if self.span:
            first, last = self.span
            out.write(
                f"time span:   {time_text(first)} .. {time_text(last)} ({last - first:,.3f} s)\n"
            )
        out.write("levels:\n")
        # By severity, as a reader scans them (a level that is not a number first).
        for (_, name), n in sorted(self.levels.items(), key=lambda item: _severity(item[0][0])):
            out.write(f"  {name:<10} {n:>10,}\n")
        out.write("loggers:\n")
        for name, n in self.loggers.most_common(20):
            out.write(f"  {name:<30} {n:>10,}\n")
        if len(self.loggers) > 20:
            out.write(f"  ... and {len(self.loggers) - 20} more\n")


def _severity(levelno: Any) -> float:
    value = level_value(levelno)
    return -math.inf if math.isnan(value) else value


def _describe_stream(out: TextIO, reader: ReplayReader, index: int, raw: int) -> None:
    """A log set's stream: its segments, numbers, writer and size."""
    source = reader._sources[index]
    segments = source.segments.segments if source.segments is not None else []
    with open(segments[-1].path, "rb") as f:
        writing = writer_active(f.fileno())
    out.write(f"stream:      {source.path} ({len(segments):,} segments)\n")
    count = source.cf.record_count()
    if count >= source.first:
        out.write(f"records:     {source.first:,} to {count:,} committed")
    else:
        out.write("records:     none committed")
    out.write(
        f" (1 to {source.first - 1:,} deleted by retention)\n" if source.first > 1 else "\n"
    )
    out.write(
        "state:       "
        + ("a writer has its newest segment open\n" if writing else "no writer has it open\n")
    )
    origin = reader.origin(source.path)
    if origin is not None:
        out.write(f"writer:      {_writer_text(origin)}\n")
    size = sum(s.size for s in segments)
    out.write(f"size:        {size:,} bytes on disk for {raw:,} bytes of records\n")


def _describe_file(out: TextIO, reader: ReplayReader, index: int, raw: int) -> None:
    source = reader._sources[index]
    if source.segments is not None:
        _describe_stream(out, reader, index, raw)
        return
    path = source.path
    view = source.cf._view
    # Compressed blocks in the file, plus the block not compressed yet (it
    # lives in the master node).
    data_size = view.limit - source.cf._config.data_start + len(view.pending)
    with open(path, "rb") as f:
        writing = writer_active(f.fileno())
    out.write(f"file:        {path}\n")
    out.write(f"records:     {source.cf.record_count():,} committed")
    out.write(" (plain records, not log records)\n" if source.plain else "\n")
    out.write(
        "state:       "
        + (
            "a writer has the file open (its uncommitted records are not counted)\n"
            if writing
            else "no writer has the file open\n"
        )
    )
    origin = reader.origin(path)
    if origin is not None:
        out.write(f"writer:      {_writer_text(origin)}\n")
    size = os.path.getsize(path)
    ratio = f"{raw / data_size:.1f}" if data_size > 0 else "-"
    out.write(
        f"size:        {size:,} bytes, {data_size:,} bytes of data for {raw:,} bytes of"
        f" records (compression ratio {ratio})\n"
    )


def _writer_text(origin: dict[str, Any]) -> str:
    """The writer's metadata as one line: program, pid, host, versions, zone."""
    parts = []
    for key, label in (("program", "program"), ("pid", "pid"), ("host", "host"),
                       ("python", "Python"), ("capturelog", "capturelog")):  # fmt: skip
        if origin.get(key) not in (None, ""):
            parts.append(f"{label} {text_of(origin[key])}")
    zone = origin.get("timezone")
    offset = origin.get("utc_offset")
    if zone or isinstance(offset, int):
        utc = ""
        if isinstance(offset, int):
            sign, size = ("-", -offset) if offset < 0 else ("+", offset)
            utc = f"({sign}{size // 3600:02d}:{size % 3600 // 60:02d})"
        parts.append("time zone " + " ".join(text_of(p) for p in (zone, utc) if p))
    opened = origin.get("opened")
    if isinstance(opened, (int, float)):
        parts.append(f"opened {time_text(opened)}")
    return ", ".join(parts)
