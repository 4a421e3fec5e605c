"""Copy what can be proven intact out of a damaged capture file.

``salvage(source, destination)`` writes every record of ``source`` that can
still be read *and proven intact* into a new capture file, in order, and
reports which sequence numbers were lost and why. ``Recovery(source)`` gives
the same records without writing anything.

What "proven intact" means here, from the format (docs/FORMAT.md):

* **Bytes.** A compressed block is used only if it inflates to exactly one
  whole zlib stream whose Adler-32 checksum matches; the pending block and the
  last partial page come from a master node whose CRC-32 matches. Nothing is
  read from a block that fails, or from past the end of a truncated file.
* **Positions.** A record's coordinate is trusted when it comes from a master
  node whose CRC matches, through full index nodes that lie in intact blocks
  and keep the format's order rules (children increasing, before the node);
  records must also come in file order. A damaged current master node falls
  back to the other, as the engine does.
* **Index nodes that are lost** (in a damaged block, past the end of a
  truncated file, or below a lost node) leave records whose bytes may be
  intact but whose positions are unknown. They are found again by walking the
  items of intact blocks from a known item boundary (the end of the record
  before them), only as far as every item can be told apart: a full index
  node has no length prefix, and a replaced metadata item looks like a
  record. So a record found by the walk is copied only once the leaf index
  node that lists it has been found too, at an item boundary, listing
  exactly the walk's next records (a leaf whose records are followed by
  fewer than 32 other sized items before it can only be the next leaf, so
  those items are replaced metadata, never records). Anything the walk
  cannot place ends it; records it has not proven are reported lost, never
  guessed.
* **Both master nodes damaged.** No commit can be read, so the record count
  is unknown: the walk starts at the first block and the report says "the
  tail after N" is lost. Records a writer had written but not yet committed
  cannot be told from committed ones then; the report says so.

What version 2 cannot prove (docs/FORMAT.md, "What version 2 cannot detect")
is not proven here either: blocks swapped whole with identical layouts, or
content forged to keep every rule, are copied as found. Nor is Adler-32 a
perfect check: it misses some changes (three bytes in a row changed by +1,
-2, +1), and a single flipped bit in a deflate stream can inflate to one (one
position in some 50,000 of a test file did); the engine reads such a block as
intact too, and so does this.

The new file is built under a temporary name in the destination's directory
and renamed into place only when complete and committed (synced unless
``durable=False``), so a crash mid-salvage leaves no file under the
destination's name. An existing destination is never replaced unless
``overwrite=True``. Its metadata says where it came from: the source's own
metadata when it is capturelog's (with a ``salvaged`` entry added), or a map
``{"salvaged": {...}}`` when there was none or it could not be read; metadata
of the user's own (a plain engine file's) is copied unchanged and the report
says the new file does not record its origin.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import _locking
from ._blocks import BlockReader, View, node_order_problem
from ._codec import pack_data
from ._files import sweep_orphans, sync_path
from ._format import COORD, NULL_COORD, SIZE, FormatError, MasterNode, decode_master_node
from ._format import full_node_struct as _full_node_struct
from ._verify import read_layout
from .capturefile import CaptureFile
from .exceptions import CaptureFileError
from .replay import origin_of

__all__ = ["LostRange", "Recovery", "SalvageReport", "salvage"]

# How many blocks a walk goes on without proving a record before it gives up.
# capturelog's writer packs a full index node once the blocks its children
# are in have positions: a block or two after its last record, so this is
# well clear of it, and bounds the work for a region the walk cannot read.
_WALK_PATIENCE = 16
# Lost ranges listed in the new file's metadata, at most (the report has all).
_METADATA_RANGES = 1000
# Intact blocks kept for the walks (a node lies a few blocks after its records).
_CACHE_BYTES = 16 << 20
# Records handed to the writer at once.
_BATCH = 1024

Records = Generator[tuple[int, bytes], None, int]


@dataclass(frozen=True, slots=True)
class LostRange:
    """Records ``first`` .. ``last`` (both included) could not be proven intact."""

    first: int
    last: int
    reason: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        if self.first == self.last:
            return f"record {self.first:,}: {self.reason}"
        return f"records {self.first:,}..{self.last:,} ({self.count:,}): {self.reason}"


@dataclass
class SalvageReport:
    """What a salvage copied and what it lost.

    Attributes:
        source: the damaged file.
        destination: the new file (None for a :class:`Recovery` that writes none).
        copied: records proven intact (and copied).
        total: records in the commit the source was read at; None when no
            master node could be read (the count is unknown).
        lost: the sequence numbers not copied, as ranges, with the reason.
        tail_after: with ``total`` unknown, the last record copied (0 for
            none): any records after it are lost. None when ``total`` is known.
        metadata: what became of the source's metadata.
        notes: what else a reader should know (a master node fallen back
            from, a truncated file, a damaged header, replaced metadata).
    """

    source: str
    destination: str | None = None
    copied: int = 0
    total: int | None = None
    lost: list[LostRange] = field(default_factory=list)
    tail_after: int | None = None
    metadata: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int | None:
        """Records lost, or None when the count is unknown (``tail_after``)."""
        if self.total is None:
            return None
        return sum(r.count for r in self.lost)

    @property
    def complete(self) -> bool:
        """Whether every record of the source was copied."""
        return not self.lost and self.tail_after is None


class Recovery:
    """The records of a capture file that can be proven intact, whatever its
    damage: iterate for ``(sequence number, record bytes)`` in order, then read
    :attr:`report` (complete once the iteration ends).

    Args:
        source: the capture file.

    Raises:
        OSError: the file cannot be read (missing, a directory, no permission).
        InvalidCaptureFile: it is not a capture file, or of another version.
    """

    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.path = os.fspath(source)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        fd, path = self._fd, self.path
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        self.report = SalvageReport(path)
        config, header_problem = read_layout(path, fd)
        if header_problem:
            self.report.notes.append(f"the header is damaged: {header_problem}")
        self.config = config
        self._node_size = COORD.size * config.fan_out
        self._unpack_node = _full_node_struct(config.fan_out).unpack
        node = self._master_node()
        size = os.fstat(fd).st_size
        if node is None:
            # No commit to read: the data, as far as blocks chain, from the start.
            self.view = View(size, b"", b"", (), 0, NULL_COORD, 0)
        else:
            self.view = View(
                node.file_limit, node.last_page, node.pending, node.levels, node.count,
                node.metadata, node.serial,
            )  # fmt: skip
            self.report.total = node.count
            needed = node.file_limit - node.file_limit % config.page_size
            if size < needed:
                self.report.notes.append(
                    f"the file is {size:,} bytes but its last commit needs {needed:,}: it was"
                    " cut short, and nothing past its end can be read"
                )
        self._committed = node is not None
        self._blocks = BlockReader(fd, config, path, 0)  # _block() keeps its own cache
        self._size = size
        self._cache: dict[int, bytes] = {}  # intact blocks, the oldest first
        self._cached = 0  # their bytes
        self._bad: dict[int, str] = {}  # blocks that are not intact: position -> why
        self._next: dict[int, int | None] = {}  # block position -> the next block's
        # Where full index nodes are, by coordinate, with their height: those
        # the index points at (whatever their state) and those a walk proved.
        self._nodes: dict[tuple[int, int], int] = {}
        self._last = (0, 0)  # the coordinate of the last record copied
        self._last_end = (0, 0)  # where its item ends
        self._last_number = 0
        self._replaced_metadata = 0
        self._walked = 0
        self.metadata_problem = ""
        self.metadata = self._read_metadata()

    # ------------------------------------------------------------ master nodes

    def _master_node(self) -> MasterNode | None:
        """The commit to read: the current master node, or the other one when it
        is damaged, as the engine chooses; None when neither can be read."""
        config = self.config
        size = config.master_size
        span = (config.page_size, 2 * size)
        _locking.lock_range(self._fd, *span, exclusive=False)
        try:
            raw = os.pread(self._fd, 2 * size, config.page_size)
        finally:
            _locking.unlock_range(self._fd, *span)
        nodes: dict[str, MasterNode] = {}
        broken: dict[str, str] = {}
        for name, start in (("A", 0), ("B", size)):
            try:
                nodes[name] = decode_master_node(raw[start : start + size], config)
            except FormatError as exc:
                broken[name] = f"master node {name}: {exc}"
        notes = self.report.notes
        if not nodes:
            notes.append(
                f"both master nodes are damaged ({broken['A']}; {broken['B']}), so no commit"
                " can be read and the record count is unknown: records were looked for by"
                " walking the blocks from the start, and some of those found may never have"
                " been committed"
            )
            return None
        if broken:
            [(name, text)] = broken.items()
            [(other, node)] = nodes.items()
            notes.append(
                f"{text}; read at the commit in master node {other} ({node.count:,} records)."
                " A crash during a commit leaves a node so; were it damaged while it held a"
                f" newer commit, the records that commit added after record {node.count:,}"
                " are lost (version 2 cannot tell)"
            )
            return node
        a, b = nodes["A"], nodes["B"]
        delta = (a.serial - b.serial) & 0xFFFFFFFF
        if delta in (1, 0xFFFFFFFF):
            return a if delta == 1 else b
        newest = a if a.count >= b.count else b
        notes.append(
            f"the master nodes' serial numbers ({a.serial}, {b.serial}) are not consecutive;"
            f" read at the one with more records ({newest.count:,})"
        )
        return newest

    # ----------------------------------------------------------------- blocks

    def _block(self, pos: int) -> bytes | bytearray | None:
        """The intact block at ``pos`` (the pending block at the limit), or
        None, with why in ``_bad[pos]``: a phrase such as "in a damaged block
        at byte 1,234 (...)" or "past the end of the file (it was cut short)"."""
        if pos == self.view.limit:
            return self.view.pending
        block = self._cache.get(pos)
        if block is not None or pos in self._bad:
            return block
        try:
            block = self._load(pos)
        except _Unreadable as exc:
            self._bad[pos] = str(exc)
            return None
        cache = self._cache
        cache[pos] = block
        self._cached += len(block)
        while self._cached > _CACHE_BYTES and len(cache) > 1:
            self._cached -= len(cache.pop(next(iter(cache))))
        return block

    def _load(self, pos: int) -> bytes:
        """Read and inflate the block at ``pos``, checked whole (its zlib
        stream ends exactly, with a matching Adler-32)."""
        if not self.config.data_start <= pos < self.view.limit:
            raise _Unreadable(f"at byte {pos:,}, outside the data")
        following = self._following(pos)
        if following is None:
            if pos + SIZE.size > self._size:
                raise _Unreadable(_CUT_SHORT)
            raise _Unreadable(f"in a damaged block at byte {pos:,} (its length is wrong)")
        try:
            # Exactly the block: the engine reads ahead, which fails on a
            # file cut short just after a block.
            compressed = self._blocks.read(self.view, pos + SIZE.size, following - pos - SIZE.size)
            return self._blocks.inflate(compressed, pos)
        except CaptureFileError as exc:
            if following > self._size:
                raise _Unreadable(_CUT_SHORT) from None
            detail = str(exc).removeprefix(f"{self.path}: damaged: block at {pos} ")
            raise _Unreadable(f"in a damaged block at byte {pos:,} ({detail})") from None
        except OSError as exc:  # a bad sector: EIO
            raise _Unreadable(
                f"in a block at byte {pos:,} that cannot be read ({exc.strerror})"
            ) from None

    def _following(self, pos: int) -> int | None:
        """Where the block after the one at ``pos`` starts (by its length
        prefix), or None when that cannot be read or lies past the data."""
        if pos in self._next:
            return self._next[pos]
        following: int | None = None
        try:
            (size,) = SIZE.unpack(self._blocks.read(self.view, pos, SIZE.size))
            if pos + SIZE.size + size <= self.view.limit:
                following = pos + SIZE.size + size
        except (CaptureFileError, OSError):
            pass
        self._next[pos] = following
        return following

    def _read_metadata(self) -> bytes | None:
        coord = self.view.metadata
        if coord == NULL_COORD:
            if not self._committed:
                self.metadata_problem = "no master node could be read"
            return None
        pos, off = coord
        block = self._block(pos)
        if block is None:
            self.metadata_problem = f"it is {self._bad[pos]}"
            return None
        if off + SIZE.size <= len(block):
            end = off + SIZE.size + SIZE.unpack_from(block, off)[0]
            if end <= len(block):
                return bytes(block[off + SIZE.size : end])
        self.metadata_problem = f"it runs past the end of its block at byte {pos:,}"
        return None

    # ------------------------------------------------------------------ records

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return self._records()

    def _records(self) -> Iterator[tuple[int, bytes]]:
        report = self.report
        view = self.view
        if not self._committed:
            last = yield from self._walk((self.config.data_start, 0), 1, None)
            report.tail_after = last
            self._finish()
            return
        number = 1
        for height in range(len(view.levels), 0, -1):
            level = view.levels[height - 1]
            size = self.config.fan_out ** (height - 1)
            for child in range(len(level) // 2):
                yield from self._subtree(height, level[2 * child], level[2 * child + 1], number)
                number += size
        self._finish()

    def _finish(self) -> None:
        if self._replaced_metadata:
            self.report.notes.append(
                f"{self._replaced_metadata:,} unreferenced item(s) met while walking blocks were"
                " replaced metadata (the index listed the records around them)"
            )
        if self._walked:
            self.report.notes.append(
                f"{self._walked:,} record(s) whose index node was lost were found by walking"
                " the blocks and proven by their leaf index node"
            )

    def _subtree(self, height: int, pos: int, off: int, first: int) -> Iterator[tuple[int, bytes]]:
        if height == 1:
            data = self._record(first, pos, off)
            if data is not None:
                yield first, data
            return
        fan_out = self.config.fan_out
        last = first + fan_out ** (height - 1) - 1
        self._nodes[pos, off] = height  # a node is here, readable or not
        coords, reason = self._node(pos, off)
        if coords is None:
            yield from self._lost_subtree(first, last, reason)
            return
        if height == 2:  # a leaf: its records, without a generator each
            for child in range(fan_out):
                data = self._record(first + child, coords[2 * child], coords[2 * child + 1])
                if data is not None:
                    yield first + child, data
            return
        size = fan_out ** (height - 2)
        for child in range(fan_out):
            yield from self._subtree(
                height - 1, coords[2 * child], coords[2 * child + 1], first + child * size
            )

    def _node(self, pos: int, off: int) -> tuple[tuple[int, ...] | None, str]:
        block = self._block(pos)
        if block is None:
            return None, f"their index node is lost: it is {self._bad[pos]}"
        where = f"their index node at ({pos}, {off})"
        raw = bytes(block[off : off + self._node_size])
        if len(raw) != self._node_size:
            return None, f"{where} runs past the end of its block"
        problem = node_order_problem(raw, pos, off, self.config.data_start)
        if problem:
            return None, f"{where} is damaged: {problem}"
        return self._unpack_node(raw), ""

    def _record(self, number: int, pos: int, off: int) -> bytes | None:
        block = self._block(pos)
        if block is None:
            self._lose(number, number, f"stored {self._bad[pos]}")
            return None
        if (pos, off) <= self._last:
            self._lose(number, number, "its index entry does not come after the record before it")
            return None
        if off + SIZE.size > len(block):
            self._lose(number, number, "its index entry points past the end of its block")
            return None
        end = off + SIZE.size + SIZE.unpack_from(block, off)[0]
        if end > len(block):
            self._lose(number, number, "it runs past the end of its block")
            return None
        self._copied(number, pos, off, end)
        return bytes(block[off + SIZE.size : end])

    def _copied(self, number: int, pos: int, off: int, end: int) -> None:
        self._last = (pos, off)
        self._last_end = (pos, end)
        self._last_number = number
        self.report.copied += 1

    def _lose(self, first: int, last: int, reason: str) -> None:
        lost = self.report.lost
        if lost and lost[-1].last == first - 1 and lost[-1].reason == reason:
            lost[-1] = LostRange(lost[-1].first, last, reason)
        else:
            lost.append(LostRange(first, last, reason))

    def _lost_subtree(self, first: int, last: int, reason: str) -> Iterator[tuple[int, bytes]]:
        """Records ``first`` .. ``last`` whose index node is lost: those a walk
        from the end of record ``first - 1`` proves, then the rest as lost."""
        got = first - 1
        if first == 1 or self._last_number == first - 1:
            start = self._last_end if first > 1 else (self.config.data_start, 0)
            got = yield from self._walk(start, first, last)
        if got < last:
            why = reason if got == first - 1 else f"{reason}; walking the blocks proved no more"
            self._lose(got + 1, last, why)

    def _walk(self, start: tuple[int, int], first: int, last: int | None) -> Records:
        """Walk the items of intact blocks from the item boundary ``start``,
        where record ``first`` is the next record; yield the records proven by
        their leaf index node, in order, up to ``last``; return the number of
        the last one (``first - 1`` if none). See the module docstring."""
        walk = _Walk(self, start)
        number = first
        while last is None or number <= last:
            proven = walk.next_leaf()
            if proven is None:
                break
            for item_pos, item_off, end, data in proven:
                self._copied(number, item_pos, item_off, end)
                self._walked += 1
                yield number, data
                number += 1
        self._replaced_metadata += walk.unlisted
        return number - 1

    def _height_of(self, children: list[tuple[int, int]]) -> int:
        """The height of a node whose children are all known nodes of one
        height (0 if they are not)."""
        heights = {self._nodes.get(child, 0) for child in children}
        if len(heights) != 1:
            return 0
        (height,) = heights
        return height + 1 if height else 0

    # ------------------------------------------------------------------ closing

    def new_metadata(self) -> bytes | None:
        """The metadata for a file of these records (once iterated): the
        source's with where it came from added (see the module docstring).
        Also sets ``report.metadata`` to say what was done."""
        report = self.report
        salvaged: dict[str, Any] = {
            "from": os.path.abspath(self.path),
            "at": time.time(),
            "records": report.copied,
            "of": report.total,
            "lost": [[r.first, r.last] for r in report.lost[:_METADATA_RANGES]],
            "tail_after": report.tail_after,
        }
        if len(report.lost) > _METADATA_RANGES:
            salvaged["lost_ranges_left_out"] = len(report.lost) - _METADATA_RANGES
        source = self.metadata
        if source is None:
            report.metadata = (
                f"the source's could not be read ({self.metadata_problem}); the new file's says"
                " where it came from"
                if self.metadata_problem
                else "the source had none; the new file's says where it came from"
            )
            return pack_data({"salvaged": salvaged})
        origin = origin_of(source)
        if origin is None:
            report.metadata = (
                "copied unchanged: it is the source's own, not capturelog's, so the new file's"
                " metadata does not say where it came from"
            )
            return source
        if "salvaged" in origin:  # salvaged before: keep that story too
            salvaged["earlier"] = origin["salvaged"]
        report.metadata = "copied, with where it came from added (under 'salvaged')"
        return pack_data({**origin, "salvaged": salvaged})

    def close(self) -> None:
        """Close the source; calling it again does nothing."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Recovery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Walk:
    """One walk through the items of intact blocks (see ``Recovery._walk``).

    Every item from the start on is told apart: a full index node by its
    coordinate (the index points at it, or the walk proved it), or by being
    a leaf that lists the walk's next records, or a node over proven nodes;
    any other bytes that could be an index node end the walk; everything else
    is a sized item (a record, or metadata). So the sized items found are, in
    file order, exactly the records and metadata items between the start and
    where the walk stands.
    """

    def __init__(self, recovery: Recovery, start: tuple[int, int]) -> None:
        self.recovery = recovery
        self.pos, self.off = start
        self.block = recovery._block(self.pos)
        self.tentative: list[tuple[int, int, int]] = []  # sized items not proven: pos, off, end
        self.held: dict[int, bytes | bytearray] = {}  # their blocks
        self.patience = _WALK_PATIENCE
        self.unlisted = 0  # sized items a leaf proved not to be records

    def next_leaf(self) -> list[tuple[int, int, int, bytes]] | None:
        """The records the next leaf node proves, as (pos, off, end, bytes);
        None when the walk cannot go on."""
        recovery = self.recovery
        node_size = recovery._node_size
        data_start = recovery.config.data_start
        while self.block is not None:
            block, pos, off = self.block, self.pos, self.off
            if off >= len(block):
                if not self._next_block():
                    return None
                continue
            if (pos, off) in recovery._nodes:  # a node the index points at, or one proven
                self.off += node_size
                continue
            raw = bytes(block[off : off + node_size])
            if len(raw) == node_size and not node_order_problem(raw, pos, off, data_start):
                self.off += node_size
                proven = self._node(raw, (pos, off))
                if proven is None:
                    return None  # an index node the walk cannot place: stop, never guess
                if proven:
                    return proven
                continue
            if off + SIZE.size > len(block):
                return None
            end = off + SIZE.size + SIZE.unpack_from(block, off)[0]
            if end > len(block):
                return None
            if (pos, off) != recovery.view.metadata:  # the current metadata is known
                self.tentative.append((pos, off, end))
                self.held[pos] = block
            self.off = end
        return None

    def _next_block(self) -> bool:
        recovery = self.recovery
        following = recovery._following(self.pos) if self.pos < recovery.view.limit else None
        self.patience -= 1
        if following is None or not self.patience:
            self.block = None
            return False
        self.pos, self.off = following, 0
        self.block = recovery._block(following)
        return self.block is not None

    def _node(self, raw: bytes, coord: tuple[int, int]) -> list[tuple[int, int, int, bytes]] | None:
        """What the index node ``raw`` at ``coord`` proves: the records it
        lists if it is the next leaf, [] for a node over proven nodes, None
        if it is neither."""
        recovery = self.recovery
        children = recovery._unpack_node(raw)
        pairs = list(zip(children[::2], children[1::2], strict=True))
        height = recovery._height_of(pairs)
        if height:  # a node above proven ones: it proves nothing more
            recovery._nodes[coord] = height
            return []
        listed = self._leaf(pairs)
        if listed is None:
            return None
        recovery._nodes[coord] = 2
        proven = []
        for index in listed:
            pos, off, end = self.tentative[index]
            proven.append((pos, off, end, bytes(self.held[pos][off + SIZE.size : end])))
        self.unlisted += listed[-1] + 1 - len(listed)
        del self.tentative[: listed[-1] + 1]
        self.held = {p: self.held[p] for p, _, _ in self.tentative}
        self.patience = _WALK_PATIENCE
        return proven

    def _leaf(self, children: list[tuple[int, int]]) -> list[int] | None:
        """Where among the sized items not proven yet the records a leaf node
        lists are, if it is the leaf of the walk's next records; else None.

        Its children must be sized items the walk found, in order. Every
        record after the last leaf proven is among those items (items come in
        file order, and the walk told every one apart), so a later leaf would
        leave the 32 records of the next one unlisted before its first child:
        with fewer unlisted items than a leaf holds, it is the next leaf, and
        the unlisted items (before its first child or between its children)
        are not records: they are replaced metadata."""
        fan_out = len(children)
        window = {(p, o): i for i, (p, o, _) in enumerate(self.tentative[: 2 * fan_out - 1])}
        listed = [window.get(child, -1) for child in children]
        if -1 in listed or listed[-1] + 1 - fan_out >= fan_out:
            return None
        return listed


_CUT_SHORT = "past the end of the file (it was cut short)"


class _Unreadable(Exception):
    """A block is not intact; the message says where it is and how."""


def salvage(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    durable: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SalvageReport:
    """Copy every record of ``source`` that can be proven intact into a new
    capture file ``destination``, in order, and report what was lost.

    Args:
        source: the damaged capture file; only read.
        destination: the new file. It gets its name only when complete.
        overwrite: replace ``destination`` if it exists.
        durable: sync the new file (and its directory) before returning.
        progress: called now and then as ``progress(copied, total)``.

    Returns:
        What was copied and lost (see :class:`SalvageReport`).

    Raises:
        FileExistsError: ``destination`` exists and ``overwrite`` is false, or
            it is the source itself.
        OSError: the source cannot be read, or the new file cannot be written.
        InvalidCaptureFile: the source is not a capture file.
    """
    src, dst = os.fspath(source), os.fspath(destination)
    if os.path.lexists(dst) and not overwrite:
        raise FileExistsError(
            errno.EEXIST, "it exists; salvage replaces a file only when told to (--force)", dst
        )
    with Recovery(src) as found:
        if os.path.exists(dst) and os.path.samefile(src, dst):
            raise FileExistsError(errno.EEXIST, "it is the damaged file itself", dst)
        report = found.report
        report.destination = dst
        directory = os.path.dirname(os.path.abspath(dst))
        # The pattern of the engine's own temporary files, so that one left
        # by a salvage that was killed is swept away like theirs.
        sweep_orphans(dst)
        temp = os.path.join(
            directory, f".{os.path.basename(dst)}.{os.getpid()}.{secrets.token_hex(6)}.new"
        )
        try:
            with CaptureFile(
                temp, to_write=True, encoding=None, durable=durable,
                compression_block_size=found.config.block_size,
            ) as out:  # fmt: skip
                batch: list[bytes] = []
                total = report.total or 0
                for _, data in found:
                    batch.append(data)
                    if len(batch) >= _BATCH:
                        out.add_records(batch)
                        batch.clear()
                        if progress is not None:
                            progress(report.copied, total)
                out.add_records(batch)
                out.set_metadata(found.new_metadata())
                out.commit()
            _place(temp, dst, overwrite)
            if durable:
                sync_path(directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    return report


def _place(temp: str, dst: str, overwrite: bool) -> None:
    """Give the finished file its name: over an existing file only with
    ``overwrite``; else a hard link, which fails if the name appeared meanwhile."""
    if overwrite:
        os.replace(temp, dst)
        return
    try:
        os.link(temp, dst)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "it appeared during the salvage; nothing was replaced", dst
        ) from None
    except OSError:
        # No hard links on this file system: a rename after a check.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "it appeared during the salvage", dst) from None
        os.rename(temp, dst)
        return
    os.unlink(temp)

