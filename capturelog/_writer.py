"""The writer's side of a capture file: appending items, compressing blocks on
other cores, and committing master nodes in a crash-safe order.

Compression is the writer's main cost, and zlib releases the GIL while it
works, so sealed blocks are compressed by a small thread pool while the caller
goes on adding records. The catch is that a coordinate names a block by its
file position, and a block's position is only known once every block before it
has been compressed. So:

* every block opened in this session gets a sequence number; a coordinate into
  a block whose position is not known yet is kept as the *key* ``-(seq + 1)``;
* index nodes are the only items that hold coordinates, so a full index node is
  queued (in order) until every block its children live in has a position, and
  only then packed into the open block; records never wait;
* compressed blocks are written strictly in order, each at the end of the one
  before; ``settle()`` waits for all of them and resolves every key, which
  ``commit()`` does before it writes the master node.

So a block's bytes are final the moment it is sealed, and two blocks can be
compressed at once.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future

from . import _locking
from ._blocks import View
from ._format import SIZE, Config, MasterNodeBuffer, full_node_struct, pack_path_level
from ._pool import shared_pool
from ._zlib import compress
from .exceptions import CaptureFileError

__all__ = ["Appender", "clear_stale_data", "pwrite_all"]

# Grow the file by as much data as it holds, at most this much, rounded to
# pages: a file of a few records stays small, and a growing one is extended in
# large steps (fewer size changes for fdatasync to carry in durable mode).
_MAX_GROWTH = 5 << 20

# How far past the committed end a new writer looks for bytes left by an
# earlier writer that did not commit them (see clear_stale_data).
_STALE_PROBE = 16 * 1024


def clear_stale_data(fd: int, config: Config, limit: int) -> bool:
    """Make sure no bytes past the committed end ``limit`` can come back.

    A writer that stopped without committing (killed, or closed without a
    commit) leaves valid compressed blocks past the committed end. The next
    writer writes its own blocks over them and commits; after a power loss in
    default mode its master node may be on disk while its blocks are not, and
    the index would then point at the old blocks: records that were never
    committed, returned as if they were. So before writing, a writer checks
    the bytes just past the end (the previous writer wrote in order from the
    page holding it) and, if any is set, cuts the file there, grows it back
    (the new bytes read as zeros) and syncs, once. The index can then only
    ever point at its own blocks or at zeros, which fail to decompress and
    are reported as damage. A clean start costs one small read.

    Returns whether anything had to be cleared.
    """
    page_start = limit - limit % config.page_size
    probe = os.pread(fd, limit - page_start + _STALE_PROBE, page_start)
    ahead = probe[limit - page_start :]
    if ahead.count(0) == len(ahead):
        return False
    size = os.fstat(fd).st_size
    os.ftruncate(fd, page_start)  # bytes from here to limit live in the master node
    os.ftruncate(fd, size)
    os.fdatasync(fd)
    return True


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, pos: int) -> None:
    """Write all of ``data`` at ``pos`` (``os.pwrite`` may write less)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, pos)
        view = view[written:]
        pos += written


class Appender:
    """The mutable state of a file open for writing, from one committed view."""

    __slots__ = (
        "_deferred",
        "_disk_end",
        "_inflight",
        "_max_inflight",
        "_node",
        "_packed",
        "_pool",
        "_range_lock",
        "_unresolved",
        "allocated",
        "block_size",
        "changed",
        "config",
        "count",
        "durable",
        "fd",
        "full_node",
        "leaf",
        "leaf_full",
        "level",
        "levels",
        "limit",
        "locking",
        "metadata",
        "open_key",
        "open_seq",
        "pending",
        "pid",
        "positions",
        "serial",
        "tail",
        "unsynced",
    )

    def __init__(  # noqa: PLR0917 - internal, built in one place (CaptureFile)
        self,
        fd: int,
        config: Config,
        view: View,
        level: int,
        durable: bool,
        locking: bool,
        pid: int,
        background: bool = True,
        new_file: bool = False,
    ) -> None:
        self.fd = fd
        self.pid = pid
        self.config = config
        self.level = level
        self.durable = durable
        self.locking = locking
        self.block_size = config.block_size
        self.full_node = full_node_struct(config.fan_out)
        self.leaf_full = 2 * config.fan_out
        self.limit = view.limit
        self.tail = bytearray(view.tail)
        self.pending = bytearray(view.pending)
        self.levels = [list(level) for level in view.levels] or [[]]
        self.leaf = self.levels[0]
        self.count = view.count
        self.metadata = view.metadata
        self.serial = view.serial
        # positions[seq] is the file position of block seq, once known; the
        # open block (seq 0 here) starts where the data ends.
        self.positions = [view.limit]
        self.open_seq = 0
        self.open_key = view.limit
        # Blocks handed to the pool, oldest first: (block, its compression).
        self._inflight: deque[tuple[bytearray, Future[bytes]]] = deque()
        self._deferred: deque[tuple[int, list[int]]] = deque()
        self._pool = shared_pool() if background else None
        # Two blocks in flight keep both cores busy; more only lengthens the
        # wait at each commit (measured: benchmarks/bench_engine.py).
        self._max_inflight = 2
        self._unresolved = False
        self._range_lock = _locking.RangeLock(fd, config.page_size, 2 * config.master_size)
        self.allocated = os.fstat(fd).st_size
        self.changed = False
        self.unsynced = False
        self._node = MasterNodeBuffer(config)
        # Packed rightmost-path entries per level, as (first coordinate, children
        # packed, bytes), so a commit only packs the children added since.
        self._packed: list[tuple[tuple[int, int], int, bytes]] = []
        # How far each on-disk master node may hold non-zero bytes: nothing in
        # a file just made (it reads as zeros, and so stays sparse); else
        # unknown (the whole node) until we have written it ourselves.
        self._disk_end = [0, 0] if new_file else [config.master_size, config.master_size]

    # --------------------------------------------------------------- appending

    def spill(self) -> None:
        """Called by ``CaptureFile.add_record`` when the leaf index node is full
        or the open block has reached the block size."""
        leaf = self.leaf
        if len(leaf) == self.leaf_full:
            self._deferred.append((0, leaf[:]))
            leaf.clear()
        self._pack_ready_nodes()

    def set_metadata(self, data: bytes | bytearray | memoryview | None) -> None:
        """Append metadata (or clear it) as part of the open transaction."""
        if data is None:
            self.metadata = (0, 0)
        else:
            self.metadata = (self.open_key, len(self.pending))
            self.pending += SIZE.pack(len(data))
            self.pending += data
            self._pack_ready_nodes()
        self.changed = True

    def _pack_ready_nodes(self) -> None:
        """Pack queued full nodes whose children all have positions, in order,
        and seal the open block whenever it reaches the block size."""
        deferred = self._deferred
        positions = self.positions
        while True:
            while deferred:
                height_index, coords = deferred[0]
                newest = coords[-2]
                if newest < 0 and -newest - 1 >= len(positions):
                    break  # its newest child's block is still being compressed
                deferred.popleft()
                for i in range(0, len(coords), 2):
                    key = coords[i]
                    if key < 0:
                        coords[i] = positions[-key - 1]
                pending = self.pending
                coord = (self.open_key, len(pending))
                pending += self.full_node.pack(*coords)
                if height_index + 1 == len(self.levels):
                    self.levels.append([])
                parent = self.levels[height_index + 1]
                parent += coord
                if len(parent) == self.leaf_full:
                    deferred.append((height_index + 1, parent[:]))
                    parent.clear()
            if len(self.pending) < self.block_size:
                return
            self._seal()

    def _seal(self) -> None:
        """Hand the open block to the compressors and open a new one."""
        block, self.pending = self.pending, bytearray()
        seq = self.open_seq
        self.open_seq = seq + 1
        future = None
        if self._pool is not None:
            try:
                future = self._pool.submit(compress, block, self.level)
            except RuntimeError:
                # The interpreter is shutting down (the pool takes no more
                # work once threads are joined): an atexit commit still works.
                self._pool = None
        if future is None:
            self._drain(wait=True)  # keep blocks in file order
            self._write_compressed(compress(block, self.level))
        else:
            self._inflight.append((block, future))
            self._unresolved = True
            self._drain(wait=False)
        seq += 1
        self.open_key = self.positions[seq] if seq < len(self.positions) else -(seq + 1)

    def _drain(self, wait: bool) -> None:
        """Write compressed blocks that are ready (all of them when ``wait``),
        in order; keep at most a few in flight."""
        inflight = self._inflight
        while inflight:
            block, future = inflight[0]
            if not (wait or future.done() or len(inflight) > self._max_inflight):
                return
            if wait and future.cancel():
                # Needed now, and no worker has started on it (they need the
                # GIL this thread holds): compressing it here beats waking one
                # and waiting, as a commit right after a block fills would
                # (measured: one-record commits in benchmarks/bench_engine.py).
                compressed = compress(block, self.level)
            else:
                compressed = future.result()
            inflight.popleft()
            self._write_compressed(compressed)

    def _write_compressed(self, compressed: bytes) -> None:
        """Append one compressed block at the end of the data, whole pages only.

        The partial page at the end stays in memory (and in the next master
        node) until it fills, so no byte below a committed limit is ever
        written again.
        """
        self.check_process()
        page = self.config.page_size
        start = self.limit - len(self.tail)
        data = self.tail + SIZE.pack(len(compressed)) + compressed
        full = len(data) - len(data) % page
        if full:
            if start + full > self.allocated:
                self._grow(start + full)
            pwrite_all(self.fd, memoryview(data)[:full], start)
            self.unsynced = True
        self.tail = data[full:]
        self.limit += SIZE.size + len(compressed)
        self.positions.append(self.limit)

    def check_process(self) -> None:
        """Refuse to write from a forked child: it would overwrite the parent's data."""
        if os.getpid() != self.pid:
            raise CaptureFileError(
                f"this file was opened for writing in process {self.pid}; a forked child"
                f" ({os.getpid()}) cannot write to it"
            )

    def _grow(self, needed: int) -> None:
        page = self.config.page_size
        data = self.limit - self.config.data_start
        size = max(needed, self.allocated + min(_MAX_GROWTH, data))
        size += -size % page
        os.ftruncate(self.fd, size)
        self.allocated = size

    # --------------------------------------------------------------- settling

    def settle(self) -> None:
        """Write every sealed block and resolve every key.

        After this, all coordinates are real file positions and the open block
        starts at ``limit``, as a master node needs them.
        """
        if not self._unresolved:
            return  # nothing was sealed on the pool since the last settle
        while True:
            self._drain(wait=True)
            self.open_key = self.limit
            self._pack_ready_nodes()
            if not self._inflight and not self._deferred:
                break
        positions = self.positions
        for level in self.levels:
            for i in range(0, len(level), 2):
                if level[i] < 0:
                    level[i] = positions[-level[i] - 1]
        if self.metadata[0] < 0:
            self.metadata = (positions[-self.metadata[0] - 1], self.metadata[1])
        self.positions = positions[self.open_seq :]
        self.open_seq = 0
        self._unresolved = False

    def view(self) -> View:
        """The live state, settled, for reading what this writer has added."""
        self.settle()
        return View(
            self.limit, self.tail, self.pending, self.levels, self.count, self.metadata, self.serial
        )

    def abandon(self) -> None:
        """Wait out blocks still being compressed (their work is discarded)."""
        if os.getpid() == self.pid:  # a forked child has no compressor threads to wait for
            for _, future in self._inflight:
                if not future.cancel():
                    future.exception()
        self._inflight.clear()

    # --------------------------------------------------------------- committing

    def _path_bytes(self) -> bytes:
        """The rightmost path as master-node entries; levels only grow between
        clears, so each commit packs just the children added since the last."""
        packed = self._packed
        parts = []
        for index, level in enumerate(self.levels):
            if index == len(packed):
                packed.append(((-1, -1), 0, b""))
            first, done, data = packed[index]
            if not level:
                data, done, first = b"", 0, (-1, -1)
            elif (level[0], level[1]) != first or done > len(level):
                first = (level[0], level[1])
                data, done = pack_path_level(index + 1, level), len(level)
            elif done < len(level):
                data += pack_path_level(index + 1, level, done)
                done = len(level)
            packed[index] = (first, done, data)
            parts.append(data)
        return b"".join(parts)

    def commit(self) -> None:
        """Write a master node for everything added so far (see CaptureFile.commit)."""
        self.check_process()
        self.settle()
        config = self.config
        serial = (self.serial + 1) & 0xFFFFFFFF
        slot = serial & 1  # even serials go to node A, odd ones to node B
        if self.durable and self.unsynced:
            os.fdatasync(self.fd)  # the data reaches the disk before the node pointing at it
            self.unsynced = False
        node = self._node
        end = node.fill(
            serial, self.limit, self.metadata, self._path_bytes(), self.pending, self.tail
        )
        disk_end = self._disk_end
        length = end if end > disk_end[slot] else disk_end[slot]
        disk_end[slot] = config.master_size  # unknown should the write fail
        if self.locking:
            self._range_lock.acquire(exclusive=True)
        try:
            data = memoryview(node.buf)[:length]
            if os.pwrite(self.fd, data, config.node_positions[slot]) != length:
                pwrite_all(self.fd, data, config.node_positions[slot])
        finally:
            if self.locking:
                self._range_lock.release()
        disk_end[slot] = end
        if self.durable:
            os.fdatasync(self.fd)
        self.serial = serial
        self.changed = False
