"""A full check of a capture file: master nodes, blocks, index nodes, records.

Reads a snapshot (the current master node when it starts), so it is safe on a
file that is being written. Every problem is reported with where it is; the
walk goes on past damage to find the rest.

Beyond what reading needs, it cross-checks what version 2 allows: blocks
chain from the first to the committed end; every index node's children are
in order and written before it; records come in file order; and the items
the index points at tile each block exactly (the only other bytes a block
may hold are metadata items that were replaced since).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _locking
from ._blocks import View, node_order_problem
from ._codec import unpack_data
from ._format import (
    COORD,
    SIZE,
    FormatError,
    decode_header,
    decode_master_node,
    full_node_struct,
)
from .capturefile import CaptureFile
from .exceptions import CaptureFileError

__all__ = ["Report", "verify"]


@dataclass
class Report:
    """What a check found: ``problems`` are damage; ``notes`` are states a
    sound file can be in (such as a master node torn by a crash)."""

    path: str
    records: int = 0
    blocks: int = 0
    index_nodes: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        _Tree(cf, view, starts, report, decode_records, progress).check()
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
    valid: dict[str, int] = {}
    broken: dict[str, str] = {}
    for name, offset in (("A", 0), ("B", size)):
        node = raw[offset : offset + size]
        try:
            valid[name] = decode_master_node(node, config).serial
        except FormatError as exc:
            broken[name] = f"master node {name} at byte {config.page_size + offset}: {exc}"
    if len(broken) == 1 and valid:
        # A commit writes over the older node; a crash in the middle leaves
        # it torn, which is the expected state of a file whose writer was
        # killed. It cannot be told from damage to that node: say both.
        [(name, text)] = broken.items()
        [(other, serial)] = valid.items()
        report.notes.append(
            f"{text}. A commit interrupted by a crash leaves the node it was writing"
            f" so; the file is at the commit in node {other} (serial {serial}), and the"
            f" next commit rewrites node {name}. (Were node {name} damaged while it held"
            " a newer commit, that commit would be lost; version 2 cannot tell.)"
        )
    elif broken:
        report.problems.extend(broken.values())


def _check_blocks(cf: CaptureFile, view: View, report: Report) -> dict[int, int]:
    """Decompress every block in file order; return their positions and sizes."""
    blocks = cf._blocks
    starts: dict[int, int] = {}
    pos = cf._config.data_start
    while pos < view.limit:
        try:
            _, after = blocks.read_compressed(view, pos)
        except CaptureFileError as exc:
            report.problems.append(f"block at byte {pos}: {exc}")
            return starts
        try:
            starts[pos] = len(blocks.load(view, pos))
        except CaptureFileError as exc:
            report.problems.append(f"block at byte {pos}: {exc}")
            starts[pos] = -1
        report.blocks += 1
        pos = after
    if pos != view.limit:
        report.problems.append(
            f"the last block ends at byte {pos}, past the committed data end {view.limit}"
        )
    starts[view.limit] = len(view.pending)
    return starts


class _Tree:
    """The walk through the index: every node, every record, in order."""

    def __init__(
        self,
        cf: CaptureFile,
        view: View,
        starts: dict[int, int],
        report: Report,
        decode_records: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.cf = cf
        self.view = view
        self.starts = starts
        self.report = report
        self.decode_records = decode_records
        self.progress = progress
        config = cf._config
        self.fan_out = config.fan_out
        self.data_start = config.data_start
        self.node_size = COORD.size * config.fan_out
        self.unpack_node = full_node_struct(config.fan_out).unpack
        # Items found in each block, as (offset, end, what), until the walk
        # has passed the block; then they must tile it (see _tile).
        self.items: dict[int, list[tuple[int, int, str]]] = {}
        self.tiled: set[int] = set()
        self.last_record = (0, 0)
        self.record_block = -1

    def check(self) -> None:
        view, fan_out = self.view, self.fan_out
        if view.metadata != (0, 0):
            self.sized_item(*view.metadata, "metadata")
        number = 1
        for height in range(len(view.levels), 0, -1):
            level = view.levels[height - 1]
            size = fan_out ** (height - 1)
            for child in range(len(level) // 2):
                self.subtree(height, level[2 * child], level[2 * child + 1], number)
                number += size
        for pos in sorted(self.items):
            self.tile(pos)
        if self.progress is not None:
            self.progress(self.report.records, view.count)

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    def locate(self, pos: int, off: int, size: int, what: str) -> bool:
        length = self.starts.get(pos)
        if length is None:
            self.problem(f"{what} at ({pos}, {off}) points where no block starts")
            return False
        if length < 0:
            return False  # its block is damaged; reported already
        if off + size > length:
            self.problem(f"{what} at ({pos}, {off}) runs past the end of its block")
            return False
        return True

    def note_item(self, pos: int, off: int, end: int, what: str) -> None:
        if pos not in self.tiled:
            self.items.setdefault(pos, []).append((off, end, what))

    def sized_item(self, pos: int, off: int, what: str) -> bytes | None:
        if not self.locate(pos, off, SIZE.size, what):
            return None
        try:
            data = bytes(self.cf._blocks.item(self.view, pos, off))
        except CaptureFileError as exc:
            self.problem(f"{what}: {exc}")
            return None
        self.note_item(pos, off, off + SIZE.size + len(data), what)
        return data

    def record(self, pos: int, off: int, number: int) -> None:
        what = f"record {number}"
        if (pos, off) <= self.last_record:
            self.problem(f"{what} at ({pos}, {off}) is not after the record before it")
        self.last_record = max(self.last_record, (pos, off))
        if pos != self.record_block:
            # The walk has left the blocks before this one: every item in
            # them has been seen (nodes come before their first record).
            self.record_block = pos
            for done in [p for p in self.items if p < pos]:
                self.tile(done)
        data = self.sized_item(pos, off, what)
        if data is None:
            return
        if self.decode_records:
            try:
                value = unpack_data(data)
            except Exception as exc:
                self.problem(f"{what}: not a msgpack value ({exc})")
                return
            if not isinstance(value, dict):
                self.problem(f"{what}: not a capturelog record (not a map)")
                return
        report = self.report
        report.records += 1
        if self.progress is not None and report.records % 5000 == 0:
            self.progress(report.records, self.view.count)

    def subtree(self, height: int, pos: int, off: int, first: int) -> None:
        if height == 1:
            self.record(pos, off, first)
            return
        what = f"index node of height {height}"
        if not self.locate(pos, off, self.node_size, what):
            return
        self.report.index_nodes += 1
        self.note_item(pos, off, off + self.node_size, what)
        try:
            raw = self.cf._blocks.block(self.view, pos)[off : off + self.node_size]
        except CaptureFileError as exc:
            self.problem(f"{what} at ({pos}, {off}): {exc}")
            return
        order = node_order_problem(bytes(raw), pos, off, self.data_start)
        if order:
            # Its children cannot be trusted to be this node's: walking them
            # could visit the same records again, or run for very long.
            self.problem(f"{what} at ({pos}, {off}): {order}")
            return
        coords = self.unpack_node(raw)
        size = self.fan_out ** (height - 2)
        for child in range(self.fan_out):
            self.subtree(height - 1, coords[2 * child], coords[2 * child + 1], first + child * size)

    def tile(self, pos: int) -> None:
        """Check that the items found in the block at ``pos`` cover it exactly,
        apart from whole sized items nothing points at (replaced metadata)."""
        items = sorted(self.items.pop(pos, []))
        self.tiled.add(pos)
        length = self.starts.get(pos, -1)
        if length < 0:
            return
        try:
            block = self.cf._blocks.block(self.view, pos)
        except CaptureFileError:
            return  # reported when the block was checked
        at = 0
        for off, end, what in items:
            if off < at:
                self.problem(
                    f"block at byte {pos}: {what} at offset {off} overlaps the item before"
                )
            elif off > at:
                self.unreferenced(block, pos, at, off)
            at = max(at, end)
        if at < length:
            self.unreferenced(block, pos, at, length)

    def unreferenced(self, block: bytes | bytearray, pos: int, start: int, end: int) -> None:
        """Bytes ``start..end`` of a block that no index entry points at: they
        must be whole sized items (metadata that was replaced)."""
        at = start
        while at < end:
            if at + SIZE.size > end:
                break
            at += SIZE.size + SIZE.unpack_from(block, at)[0]
        if at != end:
            self.problem(
                f"block at byte {pos}: bytes {start}..{end} belong to no record, index"
                " node or metadata"
            )
