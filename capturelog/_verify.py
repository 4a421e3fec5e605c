"""A full check of a capture file: master nodes, blocks, index nodes, records.

Reads a snapshot (the current master node when it starts), so it is safe on a
file that is being written. Every problem is reported with where it is; the
walk goes on past damage to find the rest.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _locking
from ._blocks import View
from ._codec import unpack_data
from ._format import COORD, SIZE, FormatError, decode_header, decode_master_node
from .capturefile import CaptureFile
from .exceptions import CaptureFileError

__all__ = ["Report", "verify"]


@dataclass
class Report:
    """What a check found."""

    path: str
    records: int = 0
    blocks: int = 0
    index_nodes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems


def verify(
    path: str, decode_records: bool = True, progress: Callable[[int, int], None] | None = None
) -> Report:
    """Check ``path`` completely. ``decode_records`` also unpacks each record as
    msgpack (right for files written by capturelog). ``progress(done, total)``
    is called now and then with records checked so far."""
    report = Report(path)
    _check_master_nodes(path, report)
    try:
        cf = CaptureFile(path, encoding=None)
    except (CaptureFileError, OSError) as exc:
        report.problems.append(str(exc))
        return report
    with cf:
        view = cf._view
        starts = _check_blocks(cf, view, report)
        _check_tree(cf, view, starts, report, decode_records, progress)
    return report


def _check_master_nodes(path: str, report: Report) -> None:
    try:
        with open(path, "rb") as f:
            config = decode_header(f.read(4096))
            # Under the shared master-node lock, as readers take it: a writer
            # committing right now cannot show us a half-written node.
            span = (config.page_size, 2 * config.master_size)
            _locking.lock_range(f.fileno(), *span, exclusive=False)
            try:
                raw = os.pread(f.fileno(), 2 * config.master_size, config.page_size)
            finally:
                _locking.unlock_range(f.fileno(), *span)
    except (FormatError, OSError) as exc:
        report.problems.append(f"header: {exc}")
        return
    size = config.master_size
    for name, offset in (("A", 0), ("B", size)):
        node = raw[offset : offset + size]
        try:
            decode_master_node(node, config)
        except FormatError as exc:
            report.problems.append(
                f"master node {name} at byte {config.page_size + offset}: {exc}"
            )


def _check_blocks(cf: CaptureFile, view: View, report: Report) -> dict[int, int]:
    """Decompress every block in file order; return their positions and sizes."""
    blocks = cf._blocks
    starts: dict[int, int] = {}
    pos = cf._config.data_start
    while pos < view.limit:
        try:
            compressed, after = blocks.read_compressed(view, pos)
        except CaptureFileError as exc:
            report.problems.append(f"block at byte {pos}: {exc}")
            return starts
        try:
            starts[pos] = len(blocks.load(view, pos))
        except CaptureFileError as exc:
            report.problems.append(f"block at byte {pos}: {exc}")
            starts[pos] = -1
        del compressed
        report.blocks += 1
        pos = after
    if pos != view.limit:
        report.problems.append(
            f"the last block ends at byte {pos}, past the committed data end {view.limit}"
        )
    starts[view.limit] = len(view.pending)
    return starts


def _check_tree(
    cf: CaptureFile,
    view: View,
    starts: dict[int, int],
    report: Report,
    decode_records: bool,
    progress: Callable[[int, int], None] | None,
) -> None:
    config = cf._config
    blocks = cf._blocks
    node_size = COORD.size * config.fan_out
    total = view.count

    def locate(pos: int, off: int, size: int, what: str) -> bool:
        length = starts.get(pos)
        if length is None:
            report.problems.append(f"{what} at ({pos}, {off}) points where no block starts")
            return False
        if length < 0:
            return False  # its block is damaged; reported already
        if off + size > length:
            report.problems.append(f"{what} at ({pos}, {off}) runs past the end of its block")
            return False
        return True

    def record(pos: int, off: int, number: int) -> None:
        if not locate(pos, off, SIZE.size, f"record {number}"):
            return
        try:
            data = blocks.item(view, pos, off)
        except CaptureFileError as exc:
            report.problems.append(f"record {number}: {exc}")
            return
        if decode_records:
            try:
                value = unpack_data(bytes(data))
            except Exception as exc:
                report.problems.append(f"record {number}: not a msgpack value ({exc})")
                return
            if not isinstance(value, dict):
                report.problems.append(f"record {number}: not a capturelog record (not a map)")
                return
        report.records += 1
        if progress is not None and report.records % 5000 == 0:
            progress(report.records, total)

    def subtree(height: int, pos: int, off: int, first: int) -> None:
        if height == 1:
            record(pos, off, first)
            return
        if not locate(pos, off, node_size, f"index node of height {height}"):
            return
        report.index_nodes += 1
        try:
            coords = struct.unpack_from(">" + "QL" * config.fan_out, blocks.node(view, pos, off))
        except (CaptureFileError, struct.error) as exc:
            report.problems.append(f"index node at ({pos}, {off}): {exc}")
            return
        size = config.fan_out ** (height - 2)
        for child in range(config.fan_out):
            subtree(height - 1, coords[2 * child], coords[2 * child + 1], first + child * size)

    number = 1
    for height in range(len(view.levels), 0, -1):
        level = view.levels[height - 1]
        size = config.fan_out ** (height - 1)
        for child in range(len(level) // 2):
            subtree(height, level[2 * child], level[2 * child + 1], number)
            number += size
    if view.metadata != (0, 0) and locate(*view.metadata, SIZE.size, "metadata"):
        try:
            blocks.item(view, *view.metadata)
        except CaptureFileError as exc:
            report.problems.append(f"metadata: {exc}")
    if progress is not None:
        progress(report.records, total)
