"""Reading items out of a capture file: bytes, compressed blocks, index nodes.

A :class:`View` is one committed (or, for the writer, live) state of the file;
a :class:`BlockReader` turns coordinates into bytes under a view, with bounded
caches. Everything read from disk is checked before it is trusted: a damaged
length or coordinate raises ``InvalidCaptureFile``, never ``struct.error``,
``CodecError`` or a giant allocation.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass

from ._format import COORD, SIZE, Config
from ._zlib import CodecError, inflate
from .exceptions import InvalidCaptureFile

__all__ = ["BlockReader", "View", "Walk", "node_order_problem", "unpack_error"]

# First read of a block: its length prefix and, usually, all of its bytes, in
# one system call. Log-like 32 KB blocks compress to about a third of this.
_FIRST_READ = 16 * 1024

_size_at = SIZE.unpack_from
assert SIZE.size == 4


@dataclass(slots=True)
class View:
    """A state of the file: where data ends and what is not in the file yet.

    ``tail`` holds the bytes from the last page boundary up to ``limit`` (they
    live in the master node, not the file); ``pending`` is the uncompressed
    block whose coordinates use position ``limit``.
    """

    limit: int
    tail: bytes | bytearray
    pending: bytes | bytearray
    levels: tuple[tuple[int, ...], ...] | list[list[int]]
    count: int
    metadata: tuple[int, int]
    serial: int


class BlockReader:
    """Fetches blocks, items and index nodes for one open file descriptor.

    Safe to share between threads: caches hold immutable bytes, and a block
    below a committed limit never changes, so a cached block is never stale.
    """

    __slots__ = (
        "_blocks",
        "_blocks_bytes",
        "_cache_bytes",
        "_config",
        "_fd",
        "_lock",
        "_name",
        "_node_size",
        "_nodes",
        "_nodes_max",
    )

    def __init__(self, fd: int, config: Config, name: str, cache_bytes: int) -> None:
        self._fd = fd
        self._config = config
        self._name = name
        self._node_size = COORD.size * config.fan_out
        self._cache_bytes = cache_bytes
        self._blocks: dict[int, bytes] = {}
        self._blocks_bytes = 0
        # Index nodes get their own cache: a random read walks the same upper
        # nodes every time, and keeping them costs 12 * fan_out bytes each.
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._nodes_max = max(16, cache_bytes // (4 * self._node_size))
        self._lock = threading.Lock()

    def damaged(self, what: str) -> InvalidCaptureFile:
        """The error for damage found while reading."""
        return InvalidCaptureFile(f"{self._name}: damaged: {what}")

    def clear(self) -> None:
        """Forget every cached block (after a writer rolls back)."""
        with self._lock:
            self._blocks.clear()
            self._nodes.clear()
            self._blocks_bytes = 0

    def read(self, view: View, start: int, size: int) -> bytes:
        """Bytes ``[start, start + size)`` of the data under ``view``."""
        end = start + size
        if start < self._config.data_start or end > view.limit or size < 0:
            raise self.damaged(f"bytes {start}..{end} lie outside the data (limit {view.limit})")
        written = view.limit - len(view.tail)
        if end <= written:
            data = os.pread(self._fd, size, start)
            if len(data) != size:
                raise self.damaged(f"the file ends before byte {end}; it was truncated")
            return data
        if start >= written:
            return bytes(view.tail[start - written : end - written])
        return self.read(view, start, written - start) + bytes(view.tail[: end - written])

    def block(self, view: View, pos: int) -> bytes | bytearray:
        """The uncompressed block at file position ``pos``."""
        if pos == view.limit:
            return view.pending
        block = self._blocks.get(pos)
        if block is None:
            if not self._config.data_start <= pos < view.limit:
                raise self.damaged(f"a coordinate points at byte {pos}, outside the data")
            block = self._load_block(view, pos)
            with self._lock:
                if pos not in self._blocks:
                    self._blocks[pos] = block
                    self._blocks_bytes += len(block)
                    while self._blocks_bytes > self._cache_bytes and len(self._blocks) > 1:
                        oldest = next(iter(self._blocks))
                        self._blocks_bytes -= len(self._blocks.pop(oldest))
        return block

    def cached(self, pos: int) -> bytes | None:
        """The block at ``pos`` if the cache has it."""
        return self._blocks.get(pos)

    def load(self, view: View, pos: int) -> bytes:
        """Read and decompress the block at ``pos``, bypassing the cache."""
        compressed, _ = self.read_compressed(view, pos)
        return self.inflate(compressed, pos)

    def inflate(self, compressed: bytes | memoryview, pos: int) -> bytes:
        """The block at ``pos`` from its compressed bytes, checked: the codec
        raises CodecError unless they are exactly one whole, intact zlib stream."""
        try:
            return inflate(compressed)
        except CodecError as exc:
            raise self.damaged(f"block at {pos} does not decompress ({exc})") from exc

    def read_compressed(self, view: View, pos: int) -> tuple[bytes | memoryview, int]:
        """The compressed bytes of the block at ``pos``, and where the next block starts."""
        first = self.read(view, pos, min(view.limit - pos, _FIRST_READ))
        if len(first) < SIZE.size:
            raise self.damaged(f"block at {pos} is cut short")
        (size,) = SIZE.unpack_from(first)
        end = pos + SIZE.size + size
        if end > view.limit:
            raise self.damaged(f"block at {pos} claims {size} bytes, past the end of the data")
        if SIZE.size + size <= len(first):
            return memoryview(first)[SIZE.size : SIZE.size + size], end
        return first[SIZE.size :] + self.read(view, pos + len(first), end - pos - len(first)), end

    def _load_block(self, view: View, pos: int) -> bytes:
        return self.load(view, pos)

    def item(self, view: View, pos: int, off: int) -> bytes | bytearray:
        """The sized item (record or metadata) at coordinate ``(pos, off)``."""
        block = self.block(view, pos)
        start = off + 4  # past the item's 4-byte size
        if start > len(block):
            raise self.damaged(f"item at ({pos}, {off}) lies past its block's end")
        end = start + _size_at(block, off)[0]
        if end > len(block):
            raise self.damaged(f"item at ({pos}, {off}) runs past its block's end")
        return block[start:end]

    def node(self, view: View, pos: int, off: int) -> bytes:
        """The full index node at coordinate ``(pos, off)``: fan_out coordinates."""
        key = (pos, off)
        node = self._nodes.get(key)
        if node is None:
            block = self.block(view, pos)
            node = bytes(block[off : off + self._node_size])
            if len(node) != self._node_size:
                raise self.damaged(f"index node at ({pos}, {off}) runs past its block's end")
            problem = node_order_problem(node, pos, off, self._config.data_start)
            if problem:
                raise self.damaged(f"index node at ({pos}, {off}): {problem}")
            with self._lock:
                if len(self._nodes) >= self._nodes_max:
                    self._nodes.pop(next(iter(self._nodes)), None)
                self._nodes[key] = node
        return node

    def child(self, view: View, pos: int, off: int, digit: int) -> tuple[int, int]:
        """Coordinate of child ``digit`` of the full node at ``(pos, off)``."""
        coord: tuple[int, int] = COORD.unpack_from(self.node(view, pos, off), COORD.size * digit)
        return coord


class Walk:
    """Block access for one walk through the records in order.

    A walk reads every block once. It looks in the shared cache, but only its
    first few blocks go into it (a short walk, such as a time-window query,
    is often repeated; a long scan would only evict what random reads keep
    there). It holds its last few blocks itself: a full index node is written
    a few blocks after its records, and both are needed at once. Memory stays
    bounded however long the walk.

    Blocks are inflated in the caller's thread. A helper thread inflating the
    next block ahead paid off with the stdlib's zlib; with the native codecs
    (``_zlib``) a block inflates in about 25 us, less than two threads' hand-off
    costs, and iteration ran 20% faster without it (measured, 2 cores).
    """

    __slots__ = ("_reader", "_recent", "_share", "_view")

    _KEEP = 16
    _SHARED = 8

    def __init__(self, reader: BlockReader, view: View) -> None:
        self._reader = reader
        self._view = view
        self._recent: dict[int, bytes | bytearray] = {}
        self._share = self._SHARED

    def block(self, pos: int) -> bytes | bytearray:
        """The uncompressed block at ``pos``."""
        block = self._recent.get(pos)
        if block is None:
            view = self._view
            if pos == view.limit:
                return view.pending
            if self._share:
                self._share -= 1
                block = self._reader.block(view, pos)  # through the shared cache
            else:
                block = self._reader.cached(pos) or self._reader.load(view, pos)
            recent = self._recent
            recent[pos] = block
            if len(recent) > self._KEEP:
                del recent[next(iter(recent))]
        return block


def node_order_problem(node: bytes, pos: int, off: int, data_start: int) -> str:
    """What is wrong with the order of a full index node's children, or "".

    The file is append-only and a node is written after everything it points
    at, so its children are strictly increasing and all before the node
    itself. A 12-byte big-endian coordinate compares as bytes in the same
    order as (position, offset), so the raw node is checked without unpacking.
    A forged node pointing back at itself or ahead, or a wrong fan-out in the
    header (which makes node boundaries wrong), fails this."""
    size = COORD.size
    previous = node[:size]
    if COORD.unpack(previous)[0] < data_start:
        return "a child points into the header"
    for start in range(size, len(node), size):
        child = node[start : start + size]
        if child <= previous:
            return "its children are out of order"
        previous = child
    if previous >= COORD.pack(pos, off):
        return "a child lies after the node"
    return ""


def unpack_error(exc: struct.error, reader: BlockReader) -> InvalidCaptureFile:
    """Translate a struct error met while walking blocks into our error."""
    return reader.damaged(f"an index or length field is out of range ({exc})")
