"""Salvage: every record that can be proven intact is copied, in order, under
its own sequence number; nothing else is; what is lost is accounted for.

Files are written by the engine and by CaptureHandler, damaged by real byte
edits and truncation, and salvaged through the API and the installed
``capturelog`` command."""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import CaptureFile as reference
import pytest

from capturelog import CaptureFile, CaptureHandler, InvalidCaptureFile, ReplayReader
from capturelog._codec import unpack_data
from capturelog._format import Config, decode_master_node
from capturelog.salvage import Recovery, SalvageReport, salvage

SCRIPT = str(Path(sys.executable).parent / "capturelog")
SMALL = Config(block_size=4096)  # the layout of the test files: small blocks, many of them


def run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, SCRIPT, *args], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def unprivileged() -> list[str]:
    """What to run a command under so that it cannot read a file its mode
    forbids: nothing for an ordinary user; for root, setpriv dropping the two
    capabilities that let root read any file (without setpriv, as root, the
    test is skipped)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: root reads a file whatever its mode")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}"]


def engine_file(path: Path, count: int, size: int, seed: int, sessions: int = 2) -> list[bytes]:
    """Records of random bytes (``0..size`` long, some empty) written in
    ``sessions`` writer sessions, each replacing the metadata (so replaced
    metadata items lie between records), with commits here and there."""
    rnd = random.Random(seed)
    records: list[bytes] = []
    for session in range(sessions):
        with CaptureFile(
            path, to_write=True, encoding=None, compression_block_size=4096,
            initial_metadata=b"first",
        ) as cf:  # fmt: skip
            cf.set_metadata(b"session %d" % session)
            for _ in range(count // sessions):
                record = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, size)))
                cf.add_record(record)
                records.append(record)
                if rnd.random() < 0.02:
                    cf.commit()
            cf.commit()
    return records


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[bytes]]:
    """320 records in several compressed blocks, its leaf index nodes among them."""
    path = tmp_path_factory.mktemp("small") / "small.capture"
    records = engine_file(path, 320, 40, seed=1)
    return path.read_bytes(), records


@pytest.fixture(scope="module")
def tall(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[bytes]]:
    """1,100 records: a full index node of height 3 over 1,024 of them, so a
    lost node leaves records whose own leaf nodes are intact."""
    path = tmp_path_factory.mktemp("tall") / "tall.capture"
    records = engine_file(path, 1100, 6, seed=2)
    return path.read_bytes(), records


def recover(path: Path) -> tuple[list[tuple[int, bytes]], SalvageReport] | None:
    try:
        with Recovery(path) as found:
            return list(found), found.report
    except InvalidCaptureFile:
        return None


def account(
    path: Path, original: list[bytes]
) -> tuple[list[tuple[int, bytes]], SalvageReport] | None:
    """Recover ``path`` and check the contract: numbers increase; each record
    is the original record of its number; copied and lost records together
    are exactly 1..total (or 1..tail_after when the count is unknown)."""
    result = recover(path)
    if result is None:
        return None
    got, report = result
    numbers = [n for n, _ in got]
    assert numbers == sorted(set(numbers))
    for n, data in got:
        if data != original[n - 1]:
            # Adler-32's blind spot: a change of +1, -2, +1 in three bytes in a
            # row keeps the checksum, and a flipped bit in a deflate stream can
            # make one. Version 2 has no other check of a block's content: the
            # engine reads the same bytes as intact. Anything else is a bug.
            with CaptureFile(path, encoding=None) as cf:
                assert cf.record_at(n) == data, (n, data, original[n - 1], report)
    assert report.copied == len(got)
    lost: set[int] = set()
    for lost_range in report.lost:
        numbers_lost = set(range(lost_range.first, lost_range.last + 1))
        assert not numbers_lost & lost and lost_range.reason
        lost |= numbers_lost
    assert not lost & set(numbers)
    end = report.total if report.total is not None else report.tail_after
    assert end is not None and end <= len(original)
    assert lost | set(numbers) == set(range(1, end + 1)), report
    return got, report


def meaningful_positions(raw: bytes, config: Config = SMALL) -> list[int]:
    """Every byte of data and every field of the header and the master nodes
    (their index paths too); every 13th byte of their last pages and pending
    blocks and every 97th of the zero padding (a flip anywhere there fails
    that node's CRC, all alike, or lands in ignored header padding)."""
    positions = set(range(27)) | set(range(0, config.data_start, 97))
    for start in config.node_positions:
        node = raw[start : start + config.master_size]
        try:
            decoded = decode_master_node(node, config)
        except Exception:
            continue
        path_end = 36 + 13 * sum(len(level) // 2 for level in decoded.levels)
        page = config.page_size
        positions |= set(range(start, start + path_end))
        positions |= set(range(start + page, start + page + len(decoded.last_page), 13))
        positions |= set(range(start + 2 * page, start + 2 * page + len(decoded.pending), 13))
    positions |= set(range(config.data_start, len(raw)))
    return sorted(positions)


def test_every_byte_damaged_copies_only_original_records(
    tmp_path: Path, small: tuple[bytes, list[bytes]]
) -> None:
    """A byte inverted anywhere that matters: whatever is copied is the
    original record of that number, and copied plus lost is every record."""
    raw, records = small
    path = tmp_path / "d.capture"
    outcomes = {"all": 0, "some lost": 0}
    for position in meaningful_positions(raw):
        damaged = bytearray(raw)
        damaged[position] ^= 0xFF
        path.write_bytes(damaged)
        result = account(path, records)
        # Even with its magic bytes or sizes damaged the file is a capture
        # file: the master nodes prove its layout.
        assert result is not None, position
        outcomes["all" if result[1].copied == len(records) else "some lost"] += 1
    assert outcomes["all"] > 500 and outcomes["some lost"] > 500, outcomes


def test_cut_at_every_length_copies_only_original_records(
    tmp_path: Path, small: tuple[bytes, list[bytes]]
) -> None:
    """The file cut short at every length through its data (and every 61st in
    the header and master nodes): records of the intact blocks are copied."""
    raw, records = small
    path = tmp_path / "t.capture"
    copied = []
    for length in [*range(0, SMALL.data_start, 61), *range(SMALL.data_start, len(raw) + 1)]:
        path.write_bytes(raw[:length])
        result = account(path, records)
        if length < 27:
            assert result is None  # too short to be a capture file: an error
            continue
        assert result is not None
        copied.append(result[1].copied)
    assert copied[-1] == len(records)
    assert 0 < min(copied[-500:]) < len(records)


def test_a_lost_index_node_is_replaced_by_walking_the_blocks(
    tmp_path: Path, tall: tuple[bytes, list[bytes]]
) -> None:
    """The height-3 node over records 1..1,024 damaged: its leaf nodes are
    intact, so the walk proves those records (across the replaced metadata
    between the two writer sessions) and copies them under their numbers."""
    raw, records = tall
    path = tmp_path / "tall.capture"
    path.write_bytes(raw)
    with CaptureFile(path) as cf:
        view = cf._view
    pos = view.levels[2][0]  # the block of the full node of height 3
    damaged = bytearray(raw)
    damaged[pos + 40] ^= 0xFF  # inside its compressed block
    path.write_bytes(damaged)
    result = account(path, records)
    assert result is not None
    got, report = result
    walked = [n for n, _ in got if n <= 1024]
    assert len(walked) > 800, report  # all but those of the damaged block itself
    assert any("found by walking the blocks" in note for note in report.notes)
    assert any("replaced metadata" in note for note in report.notes)


@pytest.mark.parametrize("masters", ["kept", "both damaged"])
def test_walks_under_attack_copy_only_original_records(
    tmp_path: Path, tall: tuple[bytes, list[bytes]], masters: str
) -> None:
    """Walks across more damage. With the master nodes kept, the block of the
    height-3 node is damaged (so records 1..1,024 come from a walk) and then
    every 17th data byte is inverted as well; with both master nodes damaged
    (count unknown: "the tail after N"; every record comes from a walk from
    the first block) every 17th byte is inverted, and the file cut at every
    29th length."""
    raw, records = tall
    path = tmp_path / "w.capture"
    base = bytearray(raw)
    if masters == "both damaged":
        for start in SMALL.node_positions:
            base[start + 10] ^= 0xFF
    else:
        path.write_bytes(raw)
        with CaptureFile(path) as cf:
            base[cf._view.levels[2][0] + 40] ^= 0xFF  # the height-3 node's block
    walked = 0
    for position in range(SMALL.data_start, len(raw), 17):
        damaged = bytearray(base)
        damaged[position] ^= 0xFF
        path.write_bytes(damaged)
        result = account(path, records)
        assert result is not None
        walked += result[1].copied > 0 and any("walking" in note for note in result[1].notes)
        if masters == "both damaged":
            assert result[1].total is None and result[1].tail_after is not None
    for length in range(SMALL.data_start, len(raw), 29):
        path.write_bytes(base[:length])
        assert account(path, records) is not None
    assert walked > 200


def log_file(path: Path, count: int) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("tests.salvage")
    log.handlers = [handler]
    log.propagate = False
    for i in range(count):
        log.warning("event %d %s", i, "payload " * (i % 9))
    handler.close()


def damage_first_block(path: Path) -> None:
    """Zero 16 bytes in the middle of the first compressed block."""
    start = Config().data_start
    with open(path, "r+b") as f:
        f.seek(start)
        size = int.from_bytes(f.read(4), "big")
        f.seek(start + 4 + size // 2)
        f.write(b"\x00" * 16)


def messages(path: Path) -> list[str]:
    with ReplayReader(path) as reader:
        return [record.getMessage() for record in reader]


def test_a_sound_file_is_copied_whole_and_the_reference_package_reads_it(tmp_path: Path) -> None:
    """A sound handler file: every record copied, nothing lost; the new file
    is a normal capture file (the reference CaptureFile 1.2.0 reads it), and
    its metadata is the writer's with where it came from added."""
    source, new = tmp_path / "app.capture", tmp_path / "new.capture"
    log_file(source, 3000)
    report = salvage(source, new)
    assert report.complete and report.copied == report.total == 3000
    with CaptureFile(source, encoding=None) as cf:
        original, metadata = list(cf), cf.get_metadata()
    ref = reference.CaptureFile(str(new), encoding=None)
    try:
        assert ref.record_count() == 3000
        assert list(ref) == original
        copied_metadata = unpack_data(ref.get_metadata())
    finally:
        ref.close()
    assert {k: v for k, v in copied_metadata.items() if k != "salvaged"} == unpack_data(metadata)
    salvaged = copied_metadata["salvaged"]
    assert (
        salvaged["from"] == str(source) and salvaged["records"] == 3000 and salvaged["lost"] == []
    )
    assert messages(new) == messages(source)
    assert "copied, with where it came from added" in report.metadata


def test_a_damaged_file_is_salvaged_and_the_loss_reported(tmp_path: Path) -> None:
    """A block of a handler file damaged: the rest is copied in order into a
    file that opens, reads and verifies; the lost range is in the report and
    in the new file's metadata; the reference package reads the new file."""
    source, new = tmp_path / "app.capture", tmp_path / "new.capture"
    log_file(source, 3000)
    before = messages(source)
    damage_first_block(source)
    report = salvage(source, new)
    assert not report.complete and report.lost and report.total == 3000
    lost = {n for r in report.lost for n in range(r.first, r.last + 1)}
    assert min(lost) == 1 and report.copied == 3000 - len(lost)
    assert all(
        "damaged block at byte 86,016" in r.reason or "index node" in r.reason for r in report.lost
    )
    assert messages(new) == [m for n, m in enumerate(before, 1) if n not in lost]
    ref = reference.CaptureFile(str(new), encoding=None)
    try:
        assert ref.record_count() == report.copied
        metadata = unpack_data(ref.get_metadata())
    finally:
        ref.close()
    assert metadata["salvaged"]["lost"] == [[r.first, r.last] for r in report.lost]
    assert run("verify", str(new)).returncode == 0


def test_a_damaged_master_node_falls_back_to_the_other(tmp_path: Path) -> None:
    """The current master node damaged: the commit before it is copied, and a
    note says a newer commit, if the node held one, is lost."""
    path, new = tmp_path / "m.capture", tmp_path / "new.capture"
    with CaptureFile(path, to_write=True) as cf:
        for i in range(100):
            cf.add_record(f"r{i}")
        cf.commit()
        cf.add_record("newest")
        cf.commit()
        serial = cf._view.serial if cf._w is None else cf._w.serial
    current = Config().node_positions[serial & 1]
    with open(path, "r+b") as f:
        f.seek(current + 8)
        f.write(b"\xff\xff")
    report = salvage(path, new)
    assert report.complete and report.copied == 100
    assert any("read at the commit in master node" in note for note in report.notes)
    with CaptureFile(new) as cf:
        assert list(cf) == [f"r{i}" for i in range(100)]


def test_metadata_of_plain_files(tmp_path: Path) -> None:
    """A plain engine file's own metadata is copied unchanged (and the report
    says the new file does not record its origin); without metadata the new
    file's says where it came from; both still read as plain records."""
    own, bare = tmp_path / "own.capture", tmp_path / "bare.capture"
    for path, metadata in ((own, b"offset=42"), (bare, None)):
        with CaptureFile(path, to_write=True, initial_metadata=metadata) as cf:
            cf.add_record("text")
            cf.commit()
    report = salvage(own, tmp_path / "own2.capture")
    assert "copied unchanged" in report.metadata
    with CaptureFile(tmp_path / "own2.capture") as cf:
        assert cf.get_metadata() == b"offset=42" and list(cf) == ["text"]
    report = salvage(bare, tmp_path / "bare2.capture")
    assert "the source had none" in report.metadata
    with CaptureFile(tmp_path / "bare2.capture") as cf:
        assert unpack_data(cf.get_metadata())["salvaged"]["from"] == str(bare)
    assert run("cat", str(tmp_path / "bare2.capture"), "-o", "cat").stdout == "text\n"


def test_the_command(tmp_path: Path) -> None:
    """capturelog salvage: exit 3 and the lost ranges for a damaged file; an
    existing NEW is refused in one line (exit 1) and left alone unless
    --force; 0 for a sound file; errors are one line naming the path."""
    source, new = tmp_path / "app.capture", tmp_path / "new.capture"
    log_file(source, 3000)
    result = run("salvage", str(source), str(new))
    assert (result.returncode, result.stderr) == (0, "")
    assert f"{source} -> {new}: copied all 3,000 records; nothing lost" in result.stdout
    damage_first_block(source)
    result = run("salvage", str(source), str(new))
    assert result.returncode == 1
    assert result.stderr == (
        f"capturelog: error: {new}: it exists; salvage replaces a file only when told to"
        " (--force)\n"
    )
    assert len(messages(new)) == 3000  # untouched
    result = run("salvage", "--force", str(source), str(new))
    assert result.returncode == 3, result.stderr
    assert "copied " in result.stdout and " of 3,000 records; lost " in result.stdout
    assert (
        "  lost: records 1.." in result.stdout and "damaged block at byte 86,016" in result.stdout
    )
    assert len(messages(new)) < 3000
    assert run("salvage", "--force", str(new), str(new)).returncode == 1

    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    missing = tmp_path / "missing"
    for source, message in (
        (text, "not a capture file (wrong magic bytes)"),
        (missing, "No such file or directory"),
        (tmp_path, "Is a directory"),
    ):
        result = run("salvage", str(source), str(tmp_path / "x.capture"))
        assert (result.returncode, result.stderr) == (
            1,
            f"capturelog: error: {source}: {message}\n",
        )
        assert not (tmp_path / "x.capture").exists()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".new")]


def test_both_master_nodes_damaged_on_the_command_line(tmp_path: Path) -> None:
    """With no master node readable the count is unknown: the command copies
    what the walk proves and says the tail after the last one is lost."""
    source, new = tmp_path / "app.capture", tmp_path / "new.capture"
    log_file(source, 3000)
    with open(source, "r+b") as f:
        for start in Config().node_positions:
            f.seek(start + 20)
            f.write(b"\xee" * 8)
    result = run("salvage", str(source), str(new))
    assert result.returncode == 3, result.stderr
    copied = len(messages(new))
    assert 2000 < copied < 3000
    assert f"copied {copied:,} records; the source's count is unknown" in result.stdout
    assert f"lost: the tail after record {copied:,}" in result.stdout
    assert "both master nodes are damaged" in result.stdout
    assert messages(new) == messages_of_prefix(tmp_path, copied)


def messages_of_prefix(tmp_path: Path, count: int) -> list[str]:
    again = tmp_path / "again.capture"
    log_file(again, 3000)
    return messages(again)[:count]


def test_an_unreadable_source_is_one_error(tmp_path: Path) -> None:
    """chmod 000 on the source: exit 1, one line, no NEW (as root, run
    without the capabilities that read any file)."""
    source, new = tmp_path / "locked.capture", tmp_path / "new.capture"
    log_file(source, 10)
    source.chmod(0)
    try:
        result = run("salvage", str(source), str(new), prefix=tuple(unprivileged()))
    finally:
        source.chmod(0o644)
    assert (result.returncode, result.stderr) == (
        1,
        f"capturelog: error: {source}: Permission denied\n",
    )
    assert not new.exists()


KILLED_CHILD = """
import sys
from capturelog.salvage import salvage

def progress(done, total):
    print("copying", flush=True)
    sys.stdin.read()  # wait here until killed

salvage(sys.argv[1], sys.argv[2], progress=progress)
"""


def test_a_salvage_killed_midway_leaves_no_file_under_new(tmp_path: Path) -> None:
    """SIGKILL while records are being copied: nothing under NEW; the next
    salvage to NEW sweeps the temporary file away and succeeds."""
    source, new = tmp_path / "app.capture", tmp_path / "new.capture"
    log_file(source, 3000)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(source), str(new)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "copying\n"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert not new.exists()
    [temp] = [name for name in os.listdir(tmp_path) if name.startswith(".new.capture.")]
    old = os.stat(tmp_path / temp).st_mtime - 3600
    os.utime(tmp_path / temp, (old, old))  # the sweep leaves files younger than a minute
    assert salvage(source, new).complete
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".new.capture.")]
    assert len(messages(new)) == 3000
