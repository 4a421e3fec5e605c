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

__all__ = [
    "COORD",
    "FORMAT_VERSION",
    "HEADER",
    "MAGIC",
    "NULL_COORD",
    "SIZE",
    "Config",
    "FormatError",
    "MasterNode",
    "decode_header",
    "decode_master_node",
    "encode_header",
    "encode_master_node",
    "full_node_struct",
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
_MIN_FAN_OUT, _MAX_FAN_OUT = 2, 1 << 16
_MAX_HEIGHT = 64


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
    if len(data) < HEADER.size:
        raise FormatError(f"the file is too short for a header ({len(data)} bytes)")
    magic, version, page_size, block_size, fan_out = HEADER.unpack_from(data)
    if magic not in (MAGIC, OLD_MAGIC):
        raise FormatError("not a capture file (wrong magic bytes)")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"written in format version {version}; this capturelog reads version"
            f" {FORMAT_VERSION}"
        )
    if version != FORMAT_VERSION:
        raise FormatError(f"format version {version} is not supported")
    if not _MIN_PAGE <= page_size <= _MAX_PAGE or page_size & (page_size - 1):
        raise FormatError(f"damaged header: page size {page_size}")
    if not 0 < block_size <= _MAX_BLOCK or block_size % page_size:
        raise FormatError(f"damaged header: compression block size {block_size}")
    if not _MIN_FAN_OUT <= fan_out <= _MAX_FAN_OUT:
        raise FormatError(f"damaged header: fan-out {fan_out}")
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
    crc, serial, file_limit, pending_len, meta_pos, meta_off, count = NODE_FIXED.unpack_from(
        node
    )
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
    for height, pos, off in PATH_ENTRY.iter_unpack(
        node[offset : offset + count * PATH_ENTRY.size]
    ):
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
    page = config.page_size
    return MasterNode(
        serial=serial,
        file_limit=file_limit,
        metadata=(meta_pos, meta_off),
        levels=tuple(tuple(level) for level in levels),
        last_page=bytes(node[page : page + file_limit % page]),
        pending=bytes(node[2 * page : 2 * page + pending_len]),
    )


def encode_master_node(
    buf: bytearray,
    config: Config,
    serial: int,
    file_limit: int,
    metadata: tuple[int, int],
    levels: list[list[int]],
    last_page: bytes | bytearray,
    pending: bytes | bytearray,
    dirty_to: int,
) -> int:
    """Fill ``buf`` (``config.master_size`` bytes) with a master node, CRC first.

    ``buf`` is reused between commits; bytes from ``dirty_to`` on must already be
    zero. Returns how many leading bytes of ``buf`` can differ from zero, which is
    the part a writer needs to write over a node it wrote before.
    """
    page = config.page_size
    args: list[int] = []
    for height, level in enumerate(levels, start=1):
        for i in range(0, len(level), 2):
            args += (height, level[i], level[i + 1])
    count = len(args) // 3
    if count > config.max_path_entries:
        raise FormatError("the index is too deep to fit in a master node")
    end_fixed = NODE_FIXED.size
    buf[end_fixed:page] = bytes(page - end_fixed)
    if count:
        struct.pack_into(">" + "BQL" * count, buf, end_fixed, *args)
    buf[page : page + len(last_page)] = last_page
    buf[page + len(last_page) : 2 * page] = bytes(page - len(last_page))
    end = 2 * page + len(pending)
    buf[2 * page : end] = pending
    if dirty_to > end:
        buf[end:dirty_to] = bytes(dirty_to - end)
    NODE_FIXED.pack_into(
        buf, 0, 0, serial, file_limit, len(pending), metadata[0], metadata[1], count
    )
    struct.pack_into(">L", buf, 0, zlib.crc32(memoryview(buf)[4:]))
    return end
