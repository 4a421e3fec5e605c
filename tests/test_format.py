"""The pure format core: header and master node layouts."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capturelog._format import (
    HEADER,
    MAGIC,
    Config,
    FormatError,
    decode_header,
    MasterNodeBuffer,
    crc32_zero_padded,
    decode_master_node,
    encode_header,
    pack_path_level,
)
from capturelog._index import locate, record_count


def test_default_layout_matches_the_reference_positions() -> None:
    """Defaults give M = 40,960 and data starting at 86,016, as FORMAT.md says."""
    config = Config()
    assert config.master_size == 40960
    assert config.node_positions == (4096, 4096 + 40960)
    assert config.data_start == 86016


def test_header_round_trip() -> None:
    """A header we write decodes to the same configuration."""
    config = Config(block_size=65536)
    page = encode_header(config)
    assert len(page) == 4096
    assert page[:11] == MAGIC
    assert decode_header(page) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"MioCapture\0\0", "too short"),
        (b"NotCapture\0" + bytes(16), "not a capture file"),
        (HEADER.pack(MAGIC, 3, 4096, 32768, 32), "version 3"),
        (HEADER.pack(MAGIC, 1, 4096, 32768, 32), "version 1"),
        (HEADER.pack(MAGIC, 2, 4095, 32768, 32), "page size"),
        (HEADER.pack(MAGIC, 2, 4096, 1000, 32), "block size"),
        (HEADER.pack(MAGIC, 2, 4096, 32768, 1), "fan-out"),
    ],
)
def test_bad_headers_name_the_problem(data: bytes, message: str) -> None:
    """Each kind of bad header gets its own clear message."""
    with pytest.raises(FormatError, match=message):
        decode_header(data)


def test_old_magic_is_accepted() -> None:
    """Files with the format's earlier magic ('WebCapture') still open."""
    assert decode_header(HEADER.pack(b"WebCapture\0", 2, 4096, 32768, 32)) == Config()


coords = st.tuples(st.integers(86016, 2**40), st.integers(0, 2**32 - 1))


@given(
    serial=st.integers(0, 2**32 - 1),
    levels=st.lists(st.lists(coords, max_size=31), max_size=5),
    pending=st.binary(max_size=32768),
    tail_len=st.integers(0, 4095),
    metadata=st.one_of(st.just((0, 0)), coords),
)
def test_master_node_round_trip(
    serial: int,
    levels: list[list[tuple[int, int]]],
    pending: bytes,
    tail_len: int,
    metadata: tuple[int, int],
) -> None:
    """Any master node we encode decodes to the same state."""
    config = Config()
    flat = [[value for coord in level for value in coord] for level in levels]
    limit = max([2**40 + 1, metadata[0]]) + tail_len - (2**40 + 1) % 4096
    tail = bytes(range(256)) * 16
    tail = tail[: limit % 4096]
    node_buf = MasterNodeBuffer(config)
    # Fill it with something else first: reuse must leave no stale bytes behind.
    node_buf.fill(1, 2**41, (86016, 1), pack_path_level(1, [86016, 0] * 20), b"x" * 30000, b"y" * 4000)
    path = b"".join(pack_path_level(h, level) for h, level in enumerate(flat, 1))
    node_buf.fill(serial, limit, metadata, path, pending, tail)
    node = decode_master_node(bytes(node_buf.buf), config)
    assert node.serial == serial
    assert node.file_limit == limit
    assert node.metadata == metadata
    assert node.pending == pending
    assert node.last_page == tail
    # Trailing empty levels carry no entries, so they do not come back.
    while flat and not flat[-1]:
        flat.pop()
    assert [list(level) for level in node.levels] == flat


def test_master_node_crc_detects_a_flipped_bit() -> None:
    """A single flipped bit anywhere in a node makes it fail its CRC."""
    config = Config()
    node_buf = MasterNodeBuffer(config)
    node_buf.fill(5, 90000, (0, 0), pack_path_level(1, [86016, 4]), b"x" * 100, bytes(90000 % 4096))
    buf = node_buf.buf
    for position in (0, 5, 40, 4096 + 10, 8192 + 50, config.master_size - 1):
        damaged = bytearray(buf)
        damaged[position] ^= 0x10
        with pytest.raises(FormatError):
            decode_master_node(bytes(damaged), config)


def brute_force_path(index: int, fan_out: int, levels_children: list[int]) -> tuple[int, int, list[int]]:
    """Reference model: which rightmost-path child holds record ``index``."""
    for height in range(len(levels_children), 0, -1):
        size = fan_out ** (height - 1)
        span = levels_children[height - 1] * size
        if index < span:
            child, rest = divmod(index, size)
            digits = []
            for below in range(height - 1, 0, -1):
                digit, rest = divmod(rest, fan_out ** (below - 1))
                digits.append(digit)
            return height, child, digits
        index -= span
    raise AssertionError("index out of range")


@given(st.integers(2, 6), st.lists(st.integers(0, 5), min_size=1, max_size=5), st.data())
def test_locate_agrees_with_a_brute_force_model(
    fan_out: int, children: list[int], data: st.DataObject
) -> None:
    """locate() finds the same subtree and digits as walking the record ranges."""
    children = [min(c, fan_out - 1) for c in children]
    if not any(children):
        children[-1] = 1
    levels = [[i for n in range(c) for i in (1000 + n, 7)] for c in children]
    total = record_count(levels, fan_out)
    index = data.draw(st.integers(0, total - 1))
    height, pos, off, digits = locate(index, levels, fan_out)
    want_height, want_child, want_digits = brute_force_path(index, fan_out, children)
    assert (height, pos - 1000, digits) == (want_height, want_child, want_digits)
    assert off == 7


def test_fill_refuses_an_index_too_deep_for_a_page() -> None:
    """A path with more entries than fit in a page is an error, not a silent overflow."""
    config = Config(page_size=256, block_size=4096, fan_out=1000)
    path = pack_path_level(1, [86016, 0] * 40)
    with pytest.raises(FormatError):
        MasterNodeBuffer(config).fill(1, 90000, (0, 0), path, b"", b"")
    assert struct.calcsize(">BQL") == 13


@given(st.binary(max_size=9000), st.integers(0, 50000), st.integers(0, 2**32 - 1))
def test_zero_padded_crc_matches_zlib(data: bytes, padding: int, seed: int) -> None:
    """The table-driven CRC of trailing zeros equals zlib's over the real bytes."""
    import zlib

    assert crc32_zero_padded(data, len(data) + padding) == zlib.crc32(data + bytes(padding))


def test_path_levels_pack_incrementally() -> None:
    """Packing a level in two parts gives the same bytes as packing it whole."""
    level = [86016 + i for i in range(20)]
    assert pack_path_level(2, level) == pack_path_level(2, level[:8]) + pack_path_level(2, level, 8)
