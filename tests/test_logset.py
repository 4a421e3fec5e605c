"""Log sets: naming, describing and vacuuming segments (capturelog.logset and
``capturelog vacuum``), with real files, real writers holding segments and
real processes vacuuming at once."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import CaptureFile as reference
import pytest

from capturelog import CaptureFile, logset
from capturelog._codec import pack_data
from capturelog._limits import Retention

SCRIPT = shutil.which("capturelog") or "capturelog"


def write_stream(
    base: Path, count: int, per_segment: int = 10, stream: str | None = None, start: float = 0.0
) -> list[Path]:
    """A stream of ``count`` segments of ``per_segment`` records, as a
    rotating handler leaves it: all sealed but the last; mtimes one minute
    apart from ``start`` (default: an hour ago) on."""
    stream = stream or base.name
    start = start or time.time() - 3600
    paths = []
    for i in range(count):
        first = 1 + i * per_segment
        path = Path(logset.segment_name(str(base), first))
        with CaptureFile(path, to_write=True) as cf:
            cf.add_records([f"{stream} record {first + j}" for j in range(per_segment)])
            origin: dict[str, object] = {
                "schema": "capturelog/1",
                "stream": stream,
                "first_seq": first,
            }
            if i < count - 1:
                origin["sealed"] = {
                    "count": per_segment,
                    "first": start + 60 * i,
                    "last": start + 60 * i + 50,
                }
            cf.set_metadata(pack_data(origin))
            cf.commit()
        os.utime(path, (start + 60 * i + 50, start + 60 * i + 50))
        paths.append(path)
    return paths


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_segment_names_sort_in_sequence_order_and_describe_themselves(tmp_path: Path) -> None:
    base = tmp_path / "app.capture"
    assert logset.segment_name(str(base), 1) == str(tmp_path / "app@000000000001.capture")
    assert logset.segment_name("logs/app.7.capture", 52001) == "logs/app.7@000000052001.capture"
    paths = write_stream(base, 3)
    worker = write_stream(tmp_path / "app.4242.capture", 2)
    (tmp_path / "app@notes.capture").write_text("not a capture file")
    with CaptureFile(tmp_path / "app@000000000099.capture", to_write=True) as cf:
        cf.add_record("a capture file without segment metadata")
        cf.commit()
    # Another handler's set in the same directory is not part of this one.
    audit = write_stream(tmp_path / "app.audit.capture", 2)
    listed = logset.segment_paths(str(base))
    assert listed == sorted(
        map(str, [*worker, *paths, tmp_path / "app@000000000099.capture"])
    )
    assert not set(map(str, audit)) & set(listed)
    found = logset.segments(listed)  # only real segments; by stream, then sequence
    assert [(s.stream, s.first_seq, s.count, s.sealed) for s in found] == [
        ("app.4242.capture", 1, 10, True),
        ("app.4242.capture", 11, 10, False),
        ("app.capture", 1, 10, True),
        ("app.capture", 11, 10, True),
        ("app.capture", 21, 10, False),
    ]
    assert found[2].first_time is not None and found[2].last_time == found[2].first_time + 50
    assert found[4].first_time is None  # not sealed: its writer may add to it
    assert found[4].last_seq == 30
    # Each segment is a plain version 2 capture file: the reference reads it.
    ref = reference.CaptureFile(str(paths[1]))
    try:
        assert ref.record_count() == 10
        assert ref.record_at(1) == "app.capture record 11"
    finally:
        ref.close()


def test_vacuum_by_count_size_and_age_keeps_each_streams_newest(tmp_path: Path) -> None:
    base = tmp_path / "app.capture"
    write_stream(base, 6)
    write_stream(tmp_path / "app.77.capture", 3, start=time.time() - 1800)
    found = logset.segments(logset.segment_paths(str(base)))
    assert len(found) == 9

    report = logset.vacuum(found, Retention(max_files=5))
    assert len(report.deleted) == 4 and report.kept == 5
    left = logset.segments(logset.segment_paths(str(base)))
    # Oldest first across streams; each stream lost only its first segments.
    # Oldest first across streams (app.capture's first four changed before
    # any of app.77's); each stream loses only its first segments.
    assert [(s.stream, s.first_seq) for s in left] == [
        ("app.77.capture", 1), ("app.77.capture", 11), ("app.77.capture", 21),
        ("app.capture", 41), ("app.capture", 51),
    ]  # fmt: skip

    # Nothing can take a stream's newest segment, however tight the limit.
    report = logset.vacuum(left, Retention(max_files=1, max_bytes=1, max_age=1))
    assert sorted(
        (s.stream, s.first_seq) for s in logset.segments(logset.segment_paths(str(base)))
    ) == [
        ("app.77.capture", 21),
        ("app.capture", 51),
    ]
    assert report.kept == 2


def test_vacuum_by_age_and_by_size(tmp_path: Path) -> None:
    base = tmp_path / "app.capture"
    now = time.time()
    write_stream(base, 5, start=now - 5 * 3600)  # mtimes 5 h ago, a minute apart
    for i, path in enumerate(sorted(tmp_path.iterdir())):
        os.utime(path, (now - (5 - i) * 3600, now - (5 - i) * 3600))  # 5h, 4h, ... 1h ago
    found = logset.segments(logset.segment_paths(str(base)))
    report = logset.vacuum(found, Retention(max_age=2.5 * 3600), now=now)
    assert [Path(p).name for p in report.deleted] == [
        "app@000000000001.capture", "app@000000000011.capture", "app@000000000021.capture",
    ]  # fmt: skip
    found = logset.segments(logset.segment_paths(str(base)))
    one = found[0].size
    report = logset.vacuum(found, Retention(max_bytes=one + 1), now=now)
    assert [Path(p).name for p in report.deleted] == ["app@000000000031.capture"]
    assert report.freed == one


def test_vacuum_never_deletes_a_segment_a_writer_holds(tmp_path: Path) -> None:
    """The writer lock tells: a segment open for writing stays, and so do the
    stream's later ones (a stream keeps one run of numbers); the other
    streams give way instead."""
    base = tmp_path / "app.capture"
    write_stream(base, 4)
    write_stream(tmp_path / "app.9.capture", 4, start=time.time() - 1800)
    held = CaptureFile(logset.segment_name(str(base), 11), to_write=True)
    try:
        found = logset.segments(logset.segment_paths(str(base)))
        report = logset.vacuum(found, Retention(max_files=4))
        assert [Path(p).name for p in report.held] == ["app@000000000011.capture"]
        assert sorted(Path(p).name for p in report.deleted) == [
            "app.9@000000000001.capture", "app.9@000000000011.capture",
            "app.9@000000000021.capture", "app@000000000001.capture",
        ]  # fmt: skip
    finally:
        held.close()
    assert names(tmp_path) == [
        "app.9@000000000031.capture",
        "app@000000000011.capture",
        "app@000000000021.capture",
        "app@000000000031.capture",
    ]


def test_vacuum_leaves_everything_but_segments_alone(tmp_path: Path) -> None:
    base = tmp_path / "app.capture"
    write_stream(base, 3)
    (tmp_path / "app@000000000999.capture").write_bytes(b"MioCapture\0 but not really")
    with CaptureFile(tmp_path / "app@000000000500.capture", to_write=True) as cf:
        cf.add_record("someone else's capture file")
        cf.set_metadata(b"not msgpack at all \xc1")
        cf.commit()
    with CaptureFile(tmp_path / "app.capture", to_write=True) as cf:
        cf.add_record("the plain file a handler without rotation writes")
        cf.commit()
    (tmp_path / "notes.txt").write_text("keep me")
    old = time.time() - 10 * 86400
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    result = subprocess.run(
        [SCRIPT, "vacuum", str(tmp_path), "--max-files", "1", "--max-age", "1 day"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert names(tmp_path) == [
        "app.capture",
        "app@000000000021.capture",  # the stream's newest
        "app@000000000500.capture",
        "app@000000000999.capture",
        "notes.txt",
    ]
    assert "deleted 2 of 3 segments" in result.stdout


def test_vacuum_command_dry_run_and_usage_errors(tmp_path: Path) -> None:
    base = tmp_path / "app.capture"
    write_stream(base, 4)
    before = names(tmp_path)
    dry = subprocess.run(
        [SCRIPT, "vacuum", str(base), "--max-files", "2", "--dry-run"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert names(tmp_path) == before
    assert dry.stdout.splitlines()[:2] == [
        f"would delete {tmp_path / 'app@000000000001.capture'}",
        f"would delete {tmp_path / 'app@000000000011.capture'}",
    ]
    for bad, message in (
        ([], "at least one of --max-size"),
        (["--max-size", "lots"], "not a size: 'lots'"),
        (["--max-age", "later"], "not an age: 'later'"),
        (["--max-files", "0"], "--max-files must be 1 or more"),
    ):
        result = subprocess.run(
            [SCRIPT, "vacuum", str(base), *bad],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 2, (bad, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1
    missing = subprocess.run(
        [SCRIPT, "vacuum", str(tmp_path / "other.capture"), "--max-files", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "other.capture" in missing.stderr and "no capture-file segments" in missing.stderr


def test_vacuums_started_at_the_same_instant_agree(tmp_path: Path) -> None:
    """Four processes vacuum one set at once: none fails on a file another
    deleted first, and the set ends exactly within the limit."""
    base = tmp_path / "app.capture"
    write_stream(base, 30, per_segment=3)
    write_stream(tmp_path / "app.5.capture", 30, per_segment=3, start=time.time() - 1900)
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from capturelog.cli import main\n"
        "while not os.path.exists(sys.argv[1]):\n"
        "    time.sleep(0.001)\n"
        "sys.exit(main(['vacuum', sys.argv[2], '--max-files', '7']))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(go), str(base)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(1.0)  # all four are waiting for the same instant
    go.write_text("")
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    left = logset.segments(logset.segment_paths(str(base)))
    assert len(left) == 7
    deleted = [
        line for out, _ in outputs for line in out.splitlines() if line.startswith("deleted /")
    ]
    assert len(deleted) == len(set(deleted)) == 60 - 7  # each file deleted by exactly one
    for stream in ("app.capture", "app.5.capture"):
        seqs = [s.first_seq for s in left if s.stream == stream]
        assert seqs == list(range(seqs[0], seqs[0] + 3 * len(seqs), 3))  # one run, to the newest
        assert seqs[-1] == 88


def test_a_vacuum_killed_at_any_instant_leaves_a_set_that_reads(tmp_path: Path) -> None:
    """SIGKILL in the middle of a vacuum: every file left is a whole segment
    that opens, each stream one run of sequence numbers ending at its newest."""
    rng = random.Random(4)
    for round_ in range(4):
        directory = tmp_path / f"round{round_}"
        directory.mkdir()
        base = directory / "app.capture"
        write_stream(base, 120, per_segment=2)
        proc = subprocess.Popen(
            [SCRIPT, "vacuum", str(base), "--max-files", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left = logset.segments(logset.segment_paths(str(base)))
        assert len(left) == len(list(directory.iterdir())) >= 1
        seqs = [s.first_seq for s in left]
        assert seqs == list(range(seqs[0], 240, 2)), round_
        for segment in left:
            with CaptureFile(segment.path) as cf:
                assert cf.record_count() == 2


@pytest.mark.parametrize("path_kind", ["name", "directory", "glob"])
def test_set_paths_take_a_handler_name_a_directory_or_a_glob(
    tmp_path: Path, path_kind: str
) -> None:
    base = tmp_path / "app.capture"
    segments = write_stream(base, 3)
    other = write_stream(tmp_path / "db.capture", 2)
    given = {"name": str(base), "directory": str(tmp_path), "glob": str(tmp_path / "app@*")}[
        path_kind
    ]
    found = {Path(s.path) for s in logset.segments(logset.set_paths(given))}
    assert found == set(segments) | (set(other) if path_kind == "directory" else set())
