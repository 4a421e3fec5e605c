"""Damaged or foreign files raise InvalidCaptureFile, never wrong data or a crash."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from capturelog import CaptureFile, InvalidCaptureFile
from capturelog._format import Config

CONFIG = Config()
NODE_A, NODE_B = CONFIG.node_positions


def history_file(path: Path) -> tuple[bytes, list[tuple[list[str], bytes | None]]]:
    """A file with several blocks and three index levels; returns its bytes and
    the states (records, metadata) of its last two commits, newest first."""
    records: list[str] = []
    states = []
    with CaptureFile(path, to_write=True, force_new_empty_file=True) as cf:
        for commit in range(6):
            for i in range(300):
                text = f"{commit}-{i} " + "log line payload " * (i % 9)
                cf.add_record(text)
                records.append(text)
            meta = f"after {commit}".encode() if commit % 2 else None
            cf.set_metadata(meta)
            cf.commit()
            states.append((records[:], meta))
        cf.add_record("uncommitted tail")
    return path.read_bytes(), states[::-1][:2]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[tuple[list[str], bytes | None]], int]:
    path = tmp_path_factory.mktemp("base") / "base.capture"
    data, states = history_file(path)
    with CaptureFile(path) as cf:
        limit = cf._view.limit
    return data, states, limit


def read_everything(path: Path) -> tuple[list[str], bytes | None]:
    with CaptureFile(path) as cf:
        records = list(cf)
        count = cf.record_count()
        assert len(records) == count
        for n in range(1, count + 1, 113):
            assert cf.record_at(n) == records[n - 1]
        return records, cf.get_metadata()


def check(path: Path, data: bytes, states: list[tuple[list[str], bytes | None]]) -> None:
    """The contract: a clear error, or exactly one of the file's committed states."""
    path.write_bytes(data)
    try:
        got = read_everything(path)
    except InvalidCaptureFile as exc:
        assert str(path) in str(exc)
        event("InvalidCaptureFile")
        return
    assert got in [(records, meta) for records, meta in states]
    event("last commit" if got == states[0] else "previous commit")


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.data())
def test_bit_flips_anywhere(tmp_path: Path, base: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    """Flipping bits anywhere in the file never yields records that were not committed."""
    raw, states, limit = base
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, min(len(raw), limit + 4096) - 1))
        damaged[position] ^= 1 << data.draw(st.integers(0, 7))
    check(tmp_path / "d.capture", bytes(damaged), states)


@SETTINGS
@given(st.data())
def test_truncation_at_any_length(tmp_path: Path, base: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    """A file cut short anywhere opens at a whole commit or raises our error."""
    raw, states, limit = base
    length = data.draw(st.integers(0, min(len(raw), limit + 8192)))
    check(tmp_path / "t.capture", raw[:length], states)


@SETTINGS
@given(st.data())
def test_zeroed_pages_and_garbage(tmp_path: Path, base: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    """Whole pages zeroed or overwritten with garbage: our error or a committed state."""
    raw, states, limit = base
    damaged = bytearray(raw)
    page = data.draw(st.integers(0, (limit + 4096) // 4096))
    count = data.draw(st.integers(1, 3))
    fill = data.draw(st.one_of(st.just(b"\0"), st.binary(min_size=1, max_size=64)))
    start, end = page * 4096, min(len(raw), (page + count) * 4096)
    damaged[start:end] = (fill * ((end - start) // len(fill) + 1))[: end - start]
    check(tmp_path / "z.capture", bytes(damaged), states)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200_000))
def test_arbitrary_bytes(tmp_path: Path, garbage: bytes) -> None:
    """Any bytes at all: open and read raise InvalidCaptureFile or give a sound file."""
    path = tmp_path / "g.capture"
    path.write_bytes(garbage)
    with pytest.raises(InvalidCaptureFile):
        read_everything(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=4, max_size=4), st.integers(0, 3))
def test_damaged_lengths_are_not_trusted(tmp_path: Path, length: bytes, which: int) -> None:
    """A block length rewritten to anything (up to 4 GB) is caught, not allocated."""
    path = tmp_path / "l.capture"
    texts = make(path, 3000)
    raw = bytearray(path.read_bytes())
    position = CONFIG.data_start
    for _ in range(which):  # walk block to block by their length prefixes
        position += 4 + struct.unpack_from(">L", raw, position)[0]
    raw[position : position + 4] = length
    check(path, bytes(raw), [(texts, None)])


def make(path: Path, records: int = 40) -> list[str]:
    texts = [f"line {i} " * 20 for i in range(records)]
    with CaptureFile(path, to_write=True, force_new_empty_file=True) as cf:
        for text in texts:
            cf.add_record(text)
        cf.commit()
    return texts


def corrupt(path: Path, position: int, data: bytes = b"\xff\xff\xff\xff") -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        f.write(data)


def test_one_damaged_master_node_falls_back_to_the_other(path: Path) -> None:
    """Damage the current master node: the file opens at the commit before it."""
    texts = make(path)
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record("newest")
        cf.commit()
    with CaptureFile(path) as cf:
        serial = cf._view.serial
    corrupt(path, (NODE_A, NODE_B)[serial & 1] + 100)
    with CaptureFile(path) as cf:
        assert list(cf) == texts
    with CaptureFile(path, to_write=True) as cf:  # and a writer carries on from there
        cf.add_record("again")
        cf.commit()
    with CaptureFile(path) as cf:
        assert list(cf) == [*texts, "again"]


def test_both_master_nodes_damaged(path: Path) -> None:
    """With both nodes damaged the error says so and names the file."""
    make(path)
    corrupt(path, NODE_A + 100)
    corrupt(path, NODE_B + 100)
    with pytest.raises(InvalidCaptureFile, match=r"test\.capture: damaged: both master nodes"):
        CaptureFile(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"MioCap", "too short"),
        (b"hello world, this is a text file\n" * 10, "not a capture file"),
        (struct.pack(">11s4L", b"MioCapture\0", 3, 4096, 32768, 32), "version 3"),
        (struct.pack(">11s4L", b"MioCapture\0", 2, 4096, 32768, 32), "too short to hold"),
    ],
)
def test_foreign_files_get_a_clear_error(path: Path, content: bytes, message: str) -> None:
    """Empty, short, foreign, newer-version and headless files: one clear message
    each. A writer takes an empty file as a new one (test_handler.py covers
    that); a reader refuses it."""
    path.write_bytes(content)
    for to_write in (False, True) if content else (False,):
        with pytest.raises(InvalidCaptureFile, match=message) as info:
            CaptureFile(path, to_write=to_write)
        assert str(path) in str(info.value)
    assert path.read_bytes() == content  # never overwritten


def test_truncated_file_is_caught_at_open(path: Path) -> None:
    """A file cut below its committed data says it was truncated."""
    with CaptureFile(path, to_write=True) as cf:
        for _ in range(20000):
            cf.add_record(os.urandom(50).hex())
        cf.commit()
    with CaptureFile(path) as cf:
        limit = cf._view.limit
    os.truncate(path, limit - 20000)
    with pytest.raises(InvalidCaptureFile, match="truncated"):
        CaptureFile(path)


def test_damaged_block_is_reported_when_read(path: Path) -> None:
    """Damage inside a compressed block surfaces when its records are read."""
    texts = make(path, 2000)
    corrupt(path, CONFIG.data_start + 200, b"\x00" * 16)
    with CaptureFile(path) as cf:
        with pytest.raises(InvalidCaptureFile, match="damaged: block at 86016"):
            list(cf)
        assert cf.record_at(2000) == texts[-1]  # other blocks still read


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_record_at_never_returns_a_changed_record(tmp_path: Path, data: st.DataObject) -> None:
    """A flipped bit inside a compressed block makes any record of that block
    raise our error when read by number, even the first one: a block is checked
    whole (zlib's checksum is at its end) before any record of it is trusted."""
    path = tmp_path / "r.capture"
    texts = make(path, 2000)
    raw = bytearray(path.read_bytes())
    (size,) = struct.unpack_from(">L", raw, CONFIG.data_start)
    position = CONFIG.data_start + 4 + data.draw(st.integers(0, size - 1))
    raw[position] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(raw))
    number = data.draw(st.integers(1, 40))  # records in the first block
    with CaptureFile(path) as cf:
        try:
            got = cf.record_at(number)
        except InvalidCaptureFile:
            event("InvalidCaptureFile")
            return
    assert got == texts[number - 1]
    event("unchanged")
