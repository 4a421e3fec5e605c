"""Hand-made files with valid CRCs: forged index nodes and master nodes, a
flipped header field, swapped blocks. Every walk ends, every count is
plausible, and what version 2 cannot detect is caught by verify."""

from __future__ import annotations

import contextlib
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturelog import CaptureFile, InvalidCaptureFile
from capturelog._format import (
    SIZE,
    Config,
    MasterNodeBuffer,
    decode_master_node,
    max_records,
    pack_path_level,
)
from capturelog._verify import verify

CONFIG = Config()
FAN_OUT = CONFIG.fan_out
NODE = struct.Struct(">" + "QL" * FAN_OUT)


def build(path: Path, count: int, level: int = 0) -> list[str]:
    """A file of ``count`` records, stored uncompressed (level 0) unless asked,
    so a block can be rewritten in place with the same length."""
    records = [f"record {i + 1} " + "x" * (300 + i % 17) for i in range(count)]
    with CaptureFile(path, to_write=True, compression_level=level) as cf:
        cf.add_records(records)
        cf.commit()
    return records


def current_node(data: bytes) -> tuple[int, object]:
    size = CONFIG.master_size
    nodes = []
    for slot in (0, 1):
        start = CONFIG.node_positions[slot]
        try:
            nodes.append(decode_master_node(data[start : start + size], CONFIG))
        except Exception:
            continue
    node = max(nodes, key=lambda n: n.serial)
    return node.serial, node


def forge_master(path: Path, levels: list[list[int]], both: bool = True) -> None:
    """Write master nodes holding ``levels`` (valid CRCs) over the current state."""
    data = bytearray(path.read_bytes())
    serial, node = current_node(bytes(data))
    entries = b"".join(pack_path_level(h + 1, level) for h, level in enumerate(levels))
    for step in (1, 2) if both else (1,):
        buffer = MasterNodeBuffer(CONFIG)
        end = buffer.fill(
            serial + step,
            node.file_limit,  # type: ignore[attr-defined]
            node.metadata,  # type: ignore[attr-defined]
            entries,
            node.pending,  # type: ignore[attr-defined]
            node.last_page,  # type: ignore[attr-defined]
        )
        assert end
        start = CONFIG.node_positions[(serial + step) & 1]
        data[start : start + CONFIG.master_size] = buffer.buf
    path.write_bytes(bytes(data))


def blocks_of(path: Path) -> list[tuple[int, int]]:
    """(position, compressed length with prefix) of every block in file order
    that lies wholly in the file (not partly in the master node's last page)."""
    with CaptureFile(path) as cf:
        view = cf._view
        whole = view.limit - view.limit % CONFIG.page_size
        out, at = [], CONFIG.data_start
        while at < view.limit:
            _, after = cf._blocks.read_compressed(view, at)
            if after <= whole:
                out.append((at, after - at))
            at = after
    return out


def real_coordinates(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The coordinates of every record and every full index node of a file."""
    with CaptureFile(path) as cf:
        view = cf._view
        records: list[tuple[int, int]] = []
        nodes: list[tuple[int, int]] = []

        def walk(height: int, pos: int, off: int) -> None:
            if height == 1:
                records.append((pos, off))
                return
            nodes.append((pos, off))
            coords = NODE.unpack_from(cf._blocks.block(view, pos), off)
            for i in range(FAN_OUT):
                walk(height - 1, coords[2 * i], coords[2 * i + 1])

        for height in range(len(view.levels), 0, -1):
            level = view.levels[height - 1]
            for i in range(0, len(level), 2):
                walk(height, level[i], level[i + 1])
    return records, nodes


def written_nodes(path: Path) -> list[tuple[int, int]]:
    """Full nodes that lie in blocks wholly written to the file (not in the
    pending block or the partial page kept in the master node)."""
    ends = {pos: pos + length for pos, length in blocks_of(path)}
    return [node for node in real_coordinates(path)[1] if node[0] in ends]


def forge_node(path: Path, pos: int, off: int, coords: list[int]) -> None:
    """Replace the full node at ``(pos, off)`` of a stored (level 0) block."""
    data = bytearray(path.read_bytes())
    (size,) = SIZE.unpack_from(data, pos)
    block = bytearray(zlib.decompress(data[pos + 4 : pos + 4 + size]))
    NODE.pack_into(block, off, *coords)
    again = zlib.compress(bytes(block), 0)
    assert len(again) == size
    data[pos + 4 : pos + 4 + size] = again
    path.write_bytes(bytes(data))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "capturelog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def read_all_ways(path: Path, records: list[str] | None = None) -> str:
    """Read a forged file every way; return "open", "error" or "read". A walk
    must end within the count it claims, and any record that comes back by
    number must be the one written there (when ``records`` is known)."""
    try:
        cf = CaptureFile(path)
    except InvalidCaptureFile:
        return "open"
    with cf:
        count = len(cf)
        limit = cf._view.limit - CONFIG.data_start
        assert 0 <= count <= max_records(limit, len(cf._view.pending))
        outcome = "read"
        seen = 0
        try:
            for _ in cf:
                seen += 1
                assert seen <= count
            assert seen == count
        except InvalidCaptureFile:
            outcome = "error"
        for n in sorted(
            {1, count, *random.Random(count).sample(range(1, count + 1), min(count, 40))}
        ):
            if not 1 <= n <= count:
                continue
            try:
                got = cf.record_at(n)
            except InvalidCaptureFile:
                outcome = "error"
                continue
            if records is not None and n <= len(records) and outcome == "read":
                assert isinstance(got, str)
    report = verify(str(path), decode_records=False)
    assert isinstance(report.sound, bool)
    return outcome


# ----------------------------------------------------------------- forged index


def test_an_impossible_count_is_refused_before_any_walk(path: Path) -> None:
    """A master node claiming a tall tree over a 40-record file (the issue's
    endless iteration, and len() overflowing) is refused at open."""
    build(path, 40)
    _, nodes = real_coordinates(path)
    forge_master(path, [[], [], [], [], [], [], [], [], [], [nodes[0][0], nodes[0][1]] * 3])
    with pytest.raises(InvalidCaptureFile, match=r"claims .* records, more than"):
        CaptureFile(path)
    for command in (["cat"], ["stats"], ["tail"], ["show"], ["verify"]):
        args = [*command, str(path)] + (["1"] if command == ["show"] else [])
        result = run_cli(*args)
        assert result.returncode in (1, 3), (command, result)
        assert "Traceback" not in result.stderr
        assert "claims" in result.stderr + result.stdout


def test_a_node_pointing_back_at_itself_ends_every_walk(path: Path) -> None:
    """A full node whose children are itself: iteration, record_at and verify
    end at once with a clear error."""
    records = build(path, 200)
    pos, off = written_nodes(path)[0]
    forge_node(path, pos, off, [pos, off] * FAN_OUT)
    with CaptureFile(path) as cf:
        assert len(cf) == 200
        with pytest.raises(InvalidCaptureFile, match="index node"):
            list(cf)
        with pytest.raises(InvalidCaptureFile, match="index node"):
            cf.record_at(1)
        assert cf.record_at(200) == records[199]  # not under the forged node
    report = verify(str(path), decode_records=False)
    assert any("index node" in p for p in report.problems)
    result = run_cli("verify", "--raw", str(path))
    assert result.returncode == 3 and "Traceback" not in result.stderr


def test_a_coordinate_far_outside_the_file_is_damage_not_an_os_error(path: Path) -> None:
    """A child position beyond the data (or beyond 2**63) gives InvalidCaptureFile."""
    build(path, 200)
    pos, off = written_nodes(path)[0]
    for far in (2**63 + 5, 2**64 - 1, pos + 10**9, pos + 50000):
        forged = [value for i in range(FAN_OUT) for value in (far - FAN_OUT + i, 0)]
        forge_node(path, pos, off, forged)
        with CaptureFile(path) as cf:
            with pytest.raises(InvalidCaptureFile):
                cf.record_at(1)
            with pytest.raises(InvalidCaptureFile):
                list(cf)


RECORDS = 300


class Base:
    """The file the fuzz test forges copies of (with a short repr for reports)."""

    def __init__(self, path: Path) -> None:
        self.records = build(path, RECORDS)
        self.data = path.read_bytes()
        self.coords, self.nodes = real_coordinates(path)
        self.writable = written_nodes(path)

    def __repr__(self) -> str:
        return f"<Base: {RECORDS} records>"


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return Base(tmp_path_factory.mktemp("forged") / "base.capture")


COORD_KIND = st.sampled_from(["record", "node", "self", "random", "far"])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_forged_index_nodes_and_paths(tmp_path: Path, fuzz_base: Base, data: st.DataObject) -> None:
    """Master-node paths and full nodes made of real coordinates, themselves,
    random and far positions, at any height up to 3 (valid CRCs): reading
    ends with records or InvalidCaptureFile, never a hang, a count beyond
    what the data can hold, or another exception."""
    records, coords, nodes, writable = (
        fuzz_base.records,
        fuzz_base.coords,
        fuzz_base.nodes,
        fuzz_base.writable,
    )
    path = tmp_path / "f.capture"
    path.write_bytes(fuzz_base.data)
    with CaptureFile(path) as cf:
        limit = cf._view.limit

    def coordinate(node: tuple[int, int] | None) -> list[int]:
        kind = data.draw(COORD_KIND)
        if kind == "record":
            return list(data.draw(st.sampled_from(coords)))
        if kind == "node" or (kind == "self" and node is None):
            return list(data.draw(st.sampled_from(nodes)))
        if kind == "self":
            return list(node)  # type: ignore[arg-type]
        if kind == "random":
            return [
                data.draw(st.integers(CONFIG.data_start, limit)),
                data.draw(st.integers(0, 40000)),
            ]
        return [data.draw(st.integers(limit, 2**64 - 1)), data.draw(st.integers(0, 2**32 - 1))]

    if data.draw(st.booleans()):
        target = data.draw(st.sampled_from(writable))
        pairs = [coordinate(target) for _ in range(FAN_OUT)]
        if data.draw(st.booleans()):
            pairs.sort()  # ordered, so only the parent check can catch it
        forged = [value for pair in pairs for value in pair]
        forge_node(path, *target, forged)
    if data.draw(st.booleans()):
        levels: list[list[int]] = []
        for height in range(data.draw(st.integers(1, 3))):
            level: list[int] = []
            for _ in range(data.draw(st.integers(0, FAN_OUT - 1 if height else 4))):
                level += coordinate(None)
            levels.append(level)
        forge_master(path, levels, both=data.draw(st.booleans()))
    read_all_ways(path, records)


# ----------------------------------------------------------------- header and blocks


@pytest.mark.parametrize("fan_out", [96, 16, 31, 33, 0])
def test_a_changed_fan_out_is_refused(path: Path, fan_out: int) -> None:
    """The header's fan-out changed (version 2 has no header checksum; the
    issue saw 32 -> 96 make record_at(97) return record 33, and a smaller one
    fits the path and returns other records silently): no writer of version
    2 can choose it, so anything but 32 is refused at open, by the library
    and the command."""
    build(path, 200, level=4)
    data = bytearray(path.read_bytes())
    (original,) = struct.unpack_from(">L", data, 23)
    assert original == 32
    struct.pack_into(">L", data, 23, fan_out)
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidCaptureFile, match="fan-out"):
        CaptureFile(path)
    result = run_cli("show", str(path), "97")
    assert result.returncode == 1
    assert "fan-out" in result.stderr and "Traceback" not in result.stderr


def test_verify_catches_swapped_blocks(path: Path) -> None:
    """Blocks swapped (version 2 has no block positions), neighbours, and
    blocks of equal length far apart, so every coordinate still lands on a
    block start: verify reports damage for each, through items that no longer
    tile their block or nodes out of order. Reading by number gives the
    record, InvalidCaptureFile, or, where the two blocks happen to line up,
    another record: that is written down in the README as undetectable."""
    rng = random.Random(1)
    records = [f"{i}: " + "w" * rng.randrange(20, 60) for i in range(30000)]
    with CaptureFile(path, to_write=True, compression_level=0) as cf:
        cf.add_records(records)
        cf.commit()
    original = path.read_bytes()
    chain = blocks_of(path)
    swaps = [(chain[k][0], chain[k][1], chain[k + 1][0], chain[k + 1][1]) for k in (3, 20, 40)]
    by_length: dict[int, list[int]] = {}
    for pos, length in chain:
        by_length.setdefault(length, []).append(pos)
    equal = [(v[0], length, v[1], length) for length, v in by_length.items() if len(v) > 1]
    assert len(equal) >= 3
    swaps += equal[:3]
    swapped = path.parent / "swapped.capture"
    wrong = 0
    for a, la, b, lb in swaps:
        image = bytearray(original)
        # Block b's bytes go to a, block a's right after them (a < b).
        moved = original[a : a + la]
        image[a : a + lb] = original[b : b + lb]
        image[b + lb - la : b + lb] = moved
        if b != a + la:  # not neighbours: equal lengths, a plain exchange
            image[a : a + la] = original[b : b + lb]
            image[b : b + lb] = moved
        swapped.write_bytes(bytes(image))
        report = verify(str(swapped), decode_records=False)
        assert not report.sound, (a, b)
        with CaptureFile(swapped) as cf:
            for n in range(1, len(records) + 1, 7):
                with contextlib.suppress(InvalidCaptureFile):
                    wrong += cf.record_at(n) != records[n - 1]
    assert wrong > 0  # the part no read can catch, shown rather than hidden


def test_verify_accepts_replaced_metadata_between_records(path: Path) -> None:
    """Metadata replaced in later commits leaves old items nothing points at:
    the tiling check knows them and the file is sound."""
    with CaptureFile(path, to_write=True) as cf:
        for i in range(5000):
            cf.add_record(f"line {i}")
            if i % 700 == 0:
                cf.set_metadata(f"meta {i}".encode())
                cf.commit()
        cf.set_metadata(None)
        cf.commit()
    report = verify(str(path), decode_records=False)
    assert report.sound, report.problems
    assert report.records == 5000


def test_a_torn_master_node_after_a_kill_is_a_note_not_damage(path: Path) -> None:
    """The node a crash interrupted is reported as such; verify exits 0."""
    build(path, 50)
    data = bytearray(path.read_bytes())
    serial, _ = current_node(bytes(data))
    older = CONFIG.node_positions[(serial + 1) & 1]
    data[older + 100 : older + 4000] = b"\xee" * 3900  # a write cut short
    path.write_bytes(bytes(data))
    result = run_cli("verify", "--raw", str(path))
    assert result.returncode == 0, result.stdout
    assert "sound: 50 records" in result.stdout
    assert "note: master node" in result.stdout
    assert os.path.getsize(path) == len(data)
