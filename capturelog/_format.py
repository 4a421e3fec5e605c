"""Byte layouts of capture file format version 2: bytes in, values out, no I/O.

The layout is described in the project's FORMAT.md. Every integer is unsigned
big-endian. Functions here raise :class:`FormatError` (a plain message, no file
name); the engine adds the file name when it turns that into
``InvalidCaptureFile``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ._index import record_count

__all__ = [
    "COORD",
    "FAN_OUT",
    "FORMAT_VERSION",
    "HEADER",
    "MAGIC",
    "NULL_COORD",
    "SIZE",
    "Config",
    "FormatError",
    "MasterNode",
    "MasterNodeBuffer",
    "crc32_zero_padded",
    "decode_header",
    "decode_master_node",
    "encode_header",
    "full_node_struct",
    "max_records",
    "pack_path_level",
]

MAGIC = b"MioCapture\0"
OLD_MAGIC = b"WebCapture\0"  # an earlier name of the same format; read, never written
FORMAT_VERSION = 2

# File header at offset 0: magic(11) version(4) page_size(4) block_size(4) fan_out(4).
HEADER = struct.Struct(">11s4L")
# A sized item's length prefix (records, metadata, compressed blocks).
SIZE = struct.Struct(">L")
# A coordinate: file position of a compressed block (8), offset inside it once
# decompressed (4).
COORD = struct.Struct(">QL")
NULL_COORD = (0, 0)
# Master node, offsets inside the node: crc(0,4) serial(4,4) file_limit(8,8)
# pending_len(16,4) metadata coordinate(20,12) path entry count(32,4).
NODE_FIXED = struct.Struct(">LLQLQLL")
# One rightmost-path entry, from offset 36: height(1) coordinate(12).
PATH_ENTRY = struct.Struct(">BQL")

# Bounds that keep a damaged header from making us allocate or loop absurdly.
# The reference package always writes 4096 / 32768 / 32; these leave room for
# other writers without trusting arbitrary numbers.
_MIN_PAGE, _MAX_PAGE = 256, 1 << 20
_MAX_BLOCK = 64 << 20
# The fan-out is the one header field nothing else cross-checks (the page and
# block sizes move the master nodes, so a changed one fails their CRC), and a
# wrong one makes reads by number return other records. No writer of version
# 2 can choose it (the reference package and capturelog both write 32), so
# any other value is damage.
FAN_OUT = 32
_MAX_HEIGHT = 64
# Deflate's largest expansion: a 258-byte match costs at least 2 bits, so
# inflated bytes are below 1032 per compressed byte (plus a little framing).
_MAX_INFLATE = 1033


class FormatError(Exception):
    """Bytes that do not follow the format; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Config:
    """The file's fixed parameters (its header) and the positions they imply."""

    page_size: int = 4096
    block_size: int = 32768
    fan_out: int = 32
    version: int = FORMAT_VERSION

    @property
    def master_size(self) -> int:
        """Size of one master node: index page, last data page, pending block."""
        return 2 * self.page_size + self.block_size

    @property
    def node_positions(self) -> tuple[int, int]:
        """File positions of master node A (even serials) and B (odd serials)."""
        return (self.page_size, self.page_size + self.master_size)

    @property
    def data_start(self) -> int:
        """Where the first compressed block goes: just after both master nodes."""
        return self.page_size + 2 * self.master_size

    @property
    def max_path_entries(self) -> int:
        """How many rightmost-path entries fit in a master node's first page."""
        return (self.page_size - NODE_FIXED.size) // PATH_ENTRY.size


def encode_header(config: Config) -> bytes:
    """The first page of a new file: the header, zero padded to a page."""
    page = bytearray(config.page_size)
    HEADER.pack_into(
        page, 0, MAGIC, config.version, config.page_size, config.block_size, config.fan_out
    )
    return bytes(page)


def decode_header(data: bytes) -> Config:
    """Parse and sanity-check the header at the start of ``data``."""
    if not data:
        raise FormatError("the file is empty")
    head = bytes(data[: len(MAGIC)])
    if not (MAGIC.startswith(head) or OLD_MAGIC.startswith(head)):
        raise FormatError("not a capture file (wrong magic bytes)")
    if len(data) < HEADER.size:
        raise FormatError(f"the file is too short for a header ({len(data)} bytes)")
    magic, version, page_size, block_size, fan_out = HEADER.unpack_from(data)
    if magic not in (MAGIC, OLD_MAGIC):
        raise FormatError("not a capture file (wrong magic bytes)")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"written in format version {version}; this capturelog reads version {FORMAT_VERSION}"
        )
    if version != FORMAT_VERSION:
        raise FormatError(f"format version {version} is not supported")
    if not _MIN_PAGE <= page_size <= _MAX_PAGE or page_size & (page_size - 1):
        raise FormatError(f"damaged header: page size {page_size}")
    if not 0 < block_size <= _MAX_BLOCK or block_size % page_size:
        raise FormatError(f"damaged header: compression block size {block_size}")
    if fan_out != FAN_OUT:
        raise FormatError(
            f"damaged header: fan-out {fan_out} (version 2 files always have {FAN_OUT})"
        )
    return Config(page_size, block_size, fan_out, version)


def full_node_struct(fan_out: int) -> struct.Struct:
    """The layout of a full index node: ``fan_out`` coordinates back to back."""
    return struct.Struct(">" + "QL" * fan_out)


@dataclass(frozen=True, slots=True)
class MasterNode:
    """One decoded master node: a committed state of the file.

    ``levels[h - 1]`` holds the children of the rightmost node at height ``h`` as
    a flat tuple ``(pos0, off0, pos1, off1, ...)``.
    """

    serial: int
    file_limit: int
    metadata: tuple[int, int]
    levels: tuple[tuple[int, ...], ...]
    count: int
    last_page: bytes
    pending: bytes


def decode_master_node(node: bytes | memoryview, config: Config) -> MasterNode:
    """Decode one master node of ``config.master_size`` bytes.

    Raises:
        FormatError: the CRC does not match or a field is out of range.
    """
    size = config.master_size
    if len(node) != size:
        raise FormatError("master node is cut short")
    crc, serial, file_limit, pending_len, meta_pos, meta_off, count = NODE_FIXED.unpack_from(node)
    if zlib.crc32(node[4:]) != crc:
        raise FormatError("master node CRC does not match")
    if file_limit < config.data_start:
        raise FormatError(f"master node file limit {file_limit} is inside the header")
    if pending_len > config.block_size:
        raise FormatError(f"master node pending block length {pending_len} is too large")
    if count > config.max_path_entries:
        raise FormatError(f"master node lists {count} index entries, too many")
    levels: list[list[int]] = []
    fan_out = config.fan_out
    offset = NODE_FIXED.size
    for height, pos, off in PATH_ENTRY.iter_unpack(node[offset : offset + count * PATH_ENTRY.size]):
        if not len(levels) <= height <= _MAX_HEIGHT or height == 0:
            raise FormatError("master node index entries are out of order")
        while len(levels) < height:
            levels.append([])
        level = levels[height - 1]
        if len(level) >= 2 * (fan_out - 1):
            raise FormatError(f"master node index level {height} is over-full")
        if not config.data_start <= pos <= file_limit:
            raise FormatError("master node index entry points outside the data")
        level += (pos, off)
    if (meta_pos, meta_off) != NULL_COORD and not config.data_start <= meta_pos <= file_limit:
        raise FormatError("master node metadata points outside the data")
    count = record_count(levels, fan_out)
    capacity = max_records(file_limit - config.data_start, pending_len)
    if count > capacity:
        raise FormatError(
            f"master node claims {count:,} records, more than its"
            f" {file_limit - config.data_start:,} bytes of data can hold"
        )
    page = config.page_size
    return MasterNode(
        serial=serial,
        file_limit=file_limit,
        metadata=(meta_pos, meta_off),
        levels=tuple(tuple(level) for level in levels),
        count=count,
        last_page=bytes(node[page : page + file_limit % page]),
        pending=bytes(node[2 * page : 2 * page + pending_len]),
    )


def max_records(compressed: int, pending: int) -> int:
    """The most records ``compressed`` bytes of blocks and a pending block of
    ``pending`` bytes can hold: every record takes at least its 4-byte length,
    and deflate expands at most ``_MAX_INFLATE`` times. A count above this comes
    from a forged or damaged index, and is refused before a walk trusts it."""
    return (_MAX_INFLATE * compressed + pending) // SIZE.size


def pack_path_level(height: int, level: list[int] | tuple[int, ...], start: int = 0) -> bytes:
    """Rightmost-path entries for children ``start/2 ...`` of the node at ``height``."""
    count = (len(level) - start) >> 1
    if count <= 0:
        return b""
    args = [height] * (3 * count)
    args[1::3] = level[start::2]
    args[2::3] = level[start + 1 :: 2]
    return struct.pack(">" + "BQL" * count, *args)


class MasterNodeBuffer:
    """A reusable master-node image: fill it for each commit, then write it.

    Only what changed since the last fill is rewritten, and the CRC is built
    from pieces: CRCs of the few non-zero runs, combined across the zero runs
    with precomputed tables (see ``_ZeroRun``). The pending block's CRC is kept
    as it grows, so a commit of one small record costs microseconds, not a
    pass over 40 KB.
    """

    __slots__ = (
        "_config",
        "_path_end",
        "_pending",
        "_pending_crc",
        "_pending_len",
        "_tail_end",
        "buf",
        "end",
    )

    def __init__(self, config: Config) -> None:
        self._config = config
        self.buf = bytearray(config.master_size)
        self._path_end = NODE_FIXED.size
        self._tail_end = 2 * config.page_size
        self.end = 2 * config.page_size  # bytes from here on are zero
        self._pending: bytes | bytearray | None = None
        self._pending_len = 0
        self._pending_crc = 0

    def fill(
        self,
        serial: int,
        file_limit: int,
        metadata: tuple[int, int],
        path: bytes,
        pending: bytes | bytearray,
        last_page: bytes | bytearray,
    ) -> int:
        """Lay out one node; return how many leading bytes can be non-zero."""
        config = self._config
        buf = self.buf
        page = config.page_size
        count, extra = divmod(len(path), PATH_ENTRY.size)
        if extra or count > config.max_path_entries:
            raise FormatError("the index is too deep to fit in a master node")
        path_end = NODE_FIXED.size + len(path)
        buf[NODE_FIXED.size : path_end] = path
        if self._path_end > path_end:
            buf[path_end : self._path_end] = bytes(self._path_end - path_end)
        self._path_end = path_end
        tail_end = page + len(last_page)
        buf[page:tail_end] = last_page
        if self._tail_end > tail_end:
            buf[tail_end : self._tail_end] = bytes(self._tail_end - tail_end)
        self._tail_end = tail_end
        end = 2 * page + len(pending)
        buf[2 * page : end] = pending
        if self.end > end:
            buf[end : self.end] = bytes(self.end - end)
        self.end = end
        NODE_FIXED.pack_into(
            buf, 0, 0, serial, file_limit, len(pending), metadata[0], metadata[1], count
        )
        run = _ZERO_RUN
        # CRC(first two pages + pending block padded to C), in two pieces.
        crc = zlib.crc32(memoryview(buf)[4 : 2 * page])
        pending_crc = run.extend(self._crc_of(pending), config.block_size - len(pending))
        crc = run.shift(crc, config.block_size) ^ pending_crc
        struct.pack_into(">L", buf, 0, crc)
        return end

    def _crc_of(self, pending: bytes | bytearray) -> int:
        """CRC-32 of the pending block, fed only the bytes added since last time
        (the writer only ever appends to one pending block, then replaces it)."""
        if pending is not self._pending or len(pending) < self._pending_len:
            self._pending, self._pending_len, self._pending_crc = pending, 0, 0
        if len(pending) > self._pending_len:
            self._pending_crc = zlib.crc32(
                memoryview(pending)[self._pending_len :], self._pending_crc
            )
            self._pending_len = len(pending)
        return self._pending_crc


class _ZeroRun:
    """CRC-32 arithmetic over runs of zero bytes in time independent of length.

    Feeding zero bytes to a CRC is a linear map of its 32-bit state (plus a
    constant), so for a fixed number of 4 KB pages it is four 256-entry
    tables. The few page counts a master node needs are built on first use;
    the remainder below one page is fed to zlib directly.
    """

    _PAGE = 4096
    _ONES = 0xFFFFFFFF

    def __init__(self) -> None:
        self._zeros = bytes(self._PAGE)
        self._tables: dict[int, tuple[list[int], list[int], list[int], list[int], int]] = {}

    def extend(self, crc: int, length: int) -> int:
        """``zlib.crc32(bytes(length), crc)``."""
        pages, rest = divmod(length, self._PAGE)
        if rest:
            crc = zlib.crc32(memoryview(self._zeros)[:rest], crc)
        if pages:
            t0, t1, t2, t3, constant = self._tables.get(pages) or self._build(pages)
            crc = t0[crc & 0xFF] ^ t1[(crc >> 8) & 0xFF] ^ t2[(crc >> 16) & 0xFF] ^ t3[crc >> 24]
            crc ^= constant
        return crc

    def shift(self, crc: int, length: int) -> int:
        """The linear part of :meth:`extend`: with it, the CRC of ``a + b`` is
        ``shift(crc32(a), len(b)) ^ crc32(b)``."""
        return self.extend(crc ^ self._ONES, length) ^ self._ONES

    def _build(self, pages: int) -> tuple[list[int], list[int], list[int], list[int], int]:
        zeros = bytes(pages * self._PAGE)
        constant = zlib.crc32(zeros, 0)
        bits = [zlib.crc32(zeros, 1 << i) ^ constant for i in range(32)]
        tables = []
        for byte in range(4):
            table = [0] * 256
            for value in range(1, 256):
                low = value & -value  # lowest set bit: table[v] = table[v - low] ^ bit
                table[value] = table[value ^ low] ^ bits[8 * byte + low.bit_length() - 1]
            tables.append(table)
        built = (tables[0], tables[1], tables[2], tables[3], constant)
        self._tables[pages] = built
        return built


_ZERO_RUN = _ZeroRun()


def crc32_zero_padded(data: bytes | bytearray | memoryview, total: int) -> int:
    """CRC-32 of ``data`` followed by zeros up to ``total`` bytes."""
    return _ZERO_RUN.extend(zlib.crc32(data), total - len(data))
