"""A full check of a capture file: master nodes, blocks, index nodes, records.

Reads a snapshot (the current master node when it starts), so it is safe on a
file that is being written. Every problem is reported with where it is; the
walk goes on past damage to find the rest.

Beyond what reading needs, it cross-checks what version 2 allows: blocks
chain from the first to the committed end; every index node's children are
in order and written before it; records come in file order; and the items
the index points at tile each block exactly (the only other bytes a block
may hold are metadata items that were replaced since).

What is damage and what is not: a file that cannot be read, or that is not a
capture file, is an error (raised), never a report. Records are checked as
the engine stores them; they are decoded as capturelog's log records only in a
file that holds those (the rule ``ReplayReader`` uses), so a sound file written
with the plain engine API is sound.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _locking
from ._blocks import View, node_order_problem
from ._codec import EVENT_KIND, LOGGING_KIND, unpack_data
from ._format import (
    COORD,
    HEADER,
    MAGIC,
    OLD_MAGIC,
    SIZE,
    Config,
    FormatError,
    decode_header,
    decode_master_node,
    full_node_struct,
)
from .capturefile import CaptureFile
from .exceptions import CaptureFileError, InvalidCaptureFile
from .replay import origin_of

__all__ = ["Report", "is_log_map", "read_layout", "verify"]

# Kinds of records a file holds, as verify decides them.
LOG = "log"  # capturelog's log records (msgpack maps): each is decoded
PLAIN = "plain"  # records of the engine's own use (any bytes): not decoded


@dataclass
class Report:
    """What a check found: ``problems`` are damage; ``notes`` are states a
    sound file can be in (such as a master node torn by a crash).

    ``kind`` says how records were checked: ``"log"`` (each decoded as a
    capturelog record), ``"plain"`` (the file holds records of the engine's
    own use, checked as stored), or ``""`` (not decided: no record could be
    read, or ``decode_records`` was off).
    """

    path: str
    records: int = 0
    blocks: int = 0
    index_nodes: int = 0
    kind: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems


def verify(
    path: str | os.PathLike[str],
    decode_records: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Check ``path`` completely.

    Args:
        path: the capture file.
        decode_records: decode each record as a capturelog log record when
            the file holds those (its metadata says capturelog wrote it, or
            its first readable record is a capturelog map); a file of other
            records is checked as stored. False never decodes records.
        progress: called now and then as ``progress(done, total)`` with
            records checked so far.

    Returns:
        The report: sound, or the damage found and where.

    Raises:
        OSError: the file cannot be read (missing, a directory, no permission).
        InvalidCaptureFile: it is not a capture file, or is of another
            format version.
    """
    path = os.fspath(path)
    report = Report(path)
    with open(path, "rb") as f:  # a directory or a missing file fails here
        fd = f.fileno()
        config, header_problem = read_layout(path, fd)
        _check_master_nodes(fd, config, report)
    if header_problem:
        # The engine opens no file whose header is damaged; salvage proves
        # the layout from the master nodes instead.
        report.problems.insert(0, f"header: {header_problem}")
        report.problems.append(
            "the rest of the file is not checked: a file whose header is damaged does not open"
        )
        return report
    try:
        cf = CaptureFile(path, encoding=None)
    except CaptureFileError as exc:
        report.problems.append(str(exc))
        return report
    with cf:
        view = cf._view
        starts = _check_blocks(cf, view, report)
        tree = _Tree(cf, view, starts, report, decode_records=decode_records, progress=progress)
        tree.check()
    return report


def is_log_map(payload: bytes | bytearray) -> bool:
    """Whether a record is one of capturelog's log records (a msgpack map of
    kind ``log`` or ``event``), as ``ReplayReader`` tells them from plain ones."""
    try:
        value = unpack_data(bytes(payload))
    except Exception:
        return False
    return type(value) is dict and value.get("k") in (LOGGING_KIND, EVENT_KIND)


def read_layout(path: str, fd: int) -> tuple[Config, str]:
    """The file's layout, and what is wrong with its header ("" if nothing).

    The header has no checksum, but the master nodes have CRCs over a length
    the layout sets. So a header that is damaged (or whose magic bytes are)
    is replaced by the layout under which a master node's CRC matches, if
    one does; the second value then says what was wrong with the header.

    Raises:
        InvalidCaptureFile: not a capture file (empty, too short, or neither
            its header nor a master node says it is one), or written in a
            format version this capturelog does not read.
    """
    head = os.pread(fd, 4096, 0)
    if not head:
        raise InvalidCaptureFile(f"{path}: not a capture file (the file is empty)")
    try:
        return decode_header(head), ""
    except FormatError as exc:
        problem = str(exc)
    magic = head.startswith((MAGIC, OLD_MAGIC))
    version = HEADER.unpack_from(head)[1] if len(head) >= HEADER.size else 0
    for config in _candidate_layouts(head):
        if _master_node_proves(fd, config):
            if not magic:
                problem = "wrong magic bytes"
            return (
                config,
                f"{problem} (the master nodes show the layout: page size"
                f" {config.page_size}, block size {config.block_size})",
            )
    if not magic or len(head) < HEADER.size:
        if magic or MAGIC.startswith(head) or OLD_MAGIC.startswith(head):
            raise InvalidCaptureFile(f"{path}: not a capture file (too short: {len(head)} bytes)")
        raise InvalidCaptureFile(f"{path}: not a capture file (wrong magic bytes)")
    if version != 2:
        raise InvalidCaptureFile(f"{path}: {problem}")
    return Config(), problem


def _candidate_layouts(head: bytes) -> list[Config]:
    """Layouts to try when the header is damaged: its own sizes where they
    are plausible, the defaults, and every block size up to 64 pages."""
    pages = [4096]
    blocks = [32768]
    if len(head) >= HEADER.size:
        _, _, page, block, _ = HEADER.unpack_from(head)
        if 256 <= page <= 1 << 20 and not page & (page - 1):
            pages.insert(0, page)
        if 0 < block <= 64 << 20:
            blocks.insert(0, block)
    found: list[Config] = []
    for page in dict.fromkeys(pages):
        for block in dict.fromkeys([*blocks, *(page * k for k in range(1, 65))]):
            if block % page == 0:
                found.append(Config(page, block))
    return found


def _master_node_proves(fd: int, config: Config) -> bool:
    size = config.master_size
    for start in config.node_positions:
        node = os.pread(fd, size, start)
        if len(node) == size and struct.unpack_from(">L", node)[0] == zlib.crc32(node[4:]):
            try:
                decode_master_node(node, config)
            except FormatError:
                continue
            return True
    return False


def _check_master_nodes(fd: int, config: Config, report: Report) -> None:
    # Under the shared master-node lock, as readers take it: a writer
    # committing right now cannot show us a half-written node.
    span = (config.page_size, 2 * config.master_size)
    _locking.lock_range(fd, *span, exclusive=False)
    try:
        raw = os.pread(fd, 2 * config.master_size, config.page_size)
    finally:
        _locking.unlock_range(fd, *span)
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
        *,
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
            metadata = self.sized_item(*view.metadata, "metadata")
            if self.decode_records and origin_of(metadata) is not None:
                self.report.kind = LOG  # written by capturelog's handler
        number = 1
        for height in range(len(view.levels), 0, -1):
            level = view.levels[height - 1]
            size = fan_out ** (height - 1)
            for child in range(len(level) // 2):
                self.subtree(height, level[2 * child], level[2 * child + 1], number)
                number += size
        for pos in sorted(self.items):
            self.tile(pos)
        report = self.report
        if report.kind == PLAIN:
            count = report.records
            which = "its record is" if count == 1 else f"its {count:,} records are"
            report.notes.append(
                f"{which} plain (not capturelog log records): checked as the engine stores"
                " them, not decoded"
            )
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
        report = self.report
        if self.decode_records and not report.kind:
            # No metadata of capturelog's: the first record that can be read
            # decides, as it does for ReplayReader.
            report.kind = LOG if is_log_map(data) else PLAIN
        if report.kind == LOG:
            try:
                value = unpack_data(data)
            except Exception as exc:
                self.problem(f"{what}: not a capturelog record ({exc})")
                return
            if not isinstance(value, dict):
                self.problem(f"{what}: not a capturelog record (not a map)")
                return
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
