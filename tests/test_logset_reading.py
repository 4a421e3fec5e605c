"""A log set reads as one log: ReplayReader and the command over segments
written by a real rotating CaptureHandler."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capturelog import CaptureHandler, ReplayReader, logset
from capturelog._limits import Retention

SCRIPT = shutil.which("capturelog") or "capturelog"
BASE = 1_790_000_000.0  # records' times: BASE + their number in the stream


def record(n: int, who: str = "main") -> logging.LogRecord:
    made = logging.LogRecord(
        f"svc.{who}", logging.INFO, "/app/x.py", 7, "%s record %d", (who, n), None
    )
    made.created = BASE + n
    made.msecs = 0.0
    return made


def write_set(name: Path, count: int, per_segment: int, who: str = "main", start: int = 1) -> None:
    """``count`` records through a handler rotating every ``per_segment``
    records (a commit each, and rotation=1 byte: every commit starts a new
    segment, so the last commit leaves an empty newest segment behind it)."""
    handler = CaptureHandler(name, rotation=1, commit_every=per_segment, commit_interval=None)
    for n in range(start, start + count):
        handler.handle(record(n, who))
    handler.close()


def test_one_stream_numbers_on_across_segments_and_reads_by_number(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    write_set(name, 100, per_segment=10)
    assert not name.exists() and len(logset.segment_paths(str(name))) == 11
    with ReplayReader(name) as reader:
        records = list(reader)
        assert [r.capture_seq for r in records] == list(range(1, 101))
        assert {r.capture_stream for r in records} == {"app.capture"}
        assert records[37].capture_file == logset.segment_name(str(name), 31)
        assert reader[57].getMessage() == "main record 57"
        assert reader["app.capture", 57].getMessage() == "main record 57"
        assert [r.capture_seq for r in reader[95:]] == list(range(95, 101))
        assert reader[-1].capture_seq == 100
        assert len(reader) == 100
    # Retention takes the first segments: the numbers of the rest stay.
    logset.vacuum(logset.segments(logset.segment_paths(str(name))), Retention(max_files=4))
    with ReplayReader(name) as reader:  # 71, 81, 91 and the empty 101 are left
        assert [r.capture_seq for r in reader] == list(range(71, 101))
        assert reader[75].getMessage() == "main record 75"
        with pytest.raises(IndexError, match="no longer in the set"):
            reader.record(12)
        assert len(reader) == 30


def test_streams_merge_by_time_and_are_addressed_by_name(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    write_set(name, 30, per_segment=7, who="main")
    # A worker's stream, as a second process on the same name writes it.
    write_set(tmp_path / "app.4242.capture", 30, per_segment=5, who="worker")
    with ReplayReader(name) as reader:
        assert sorted(reader.streams) == ["app.4242.capture", "app.capture"]
        records = list(reader)
        assert len(records) == 60
        times = [r.created for r in records]
        assert times == sorted(times)
        assert reader["app.4242.capture", 12].getMessage() == "worker record 12"
        with pytest.raises(TypeError, match=r"reader\[stream, seq\]"):
            reader[12]
        with pytest.raises(KeyError, match=r"no stream 'app\.1\.capture'"):
            reader["app.1.capture", 1]
    shown = subprocess.run(
        [SCRIPT, "show", str(name), "12", "--stream", "app.4242.capture"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"record 12 of 30 in {tmp_path / 'app.4242.capture'}\n")
    assert "worker record 12" in shown.stdout
    ambiguous = subprocess.run(
        [SCRIPT, "show", str(name), "12"], capture_output=True, text=True, timeout=60, check=False
    )
    assert ambiguous.returncode == 2 and "--stream" in ambiguous.stderr


def test_a_time_window_reads_only_the_segments_it_overlaps(tmp_path: Path) -> None:
    """Once the reader has described the set, every segment outside the window
    is overwritten with zeros: the query still answers, so it never read them."""
    name = tmp_path / "app.capture"
    write_set(name, 2_000, per_segment=10)  # 200 segments
    with ReplayReader(name) as reader:
        inside = {logset.segment_name(str(name), first) for first in (1491, 1501, 1511)}
        for path in logset.segment_paths(str(name)):
            if path not in inside:
                with open(path, "r+b") as f:
                    f.write(b"\0" * os.fstat(f.fileno()).st_size)
        got = list(reader.records(since=BASE + 1495, until=BASE + 1515))
        assert [r.capture_seq for r in got] == list(range(1495, 1515))


def test_thousands_of_segments_read_with_few_file_descriptors(tmp_path: Path) -> None:
    """1,500 segments under a limit of 128 open files: the set opens, iterates,
    and answers a time query and a read by number."""
    name = tmp_path / "app.capture"
    write_set(name, 3_000, per_segment=2)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))\n"
        "from capturelog import ReplayReader\n"
        "with ReplayReader(sys.argv[1]) as reader:\n"
        "    seqs = [r.capture_seq for r in reader]\n"
        "    assert seqs == list(range(1, 3001)), seqs[:5]\n"
        f"    window = list(reader.records(since={BASE + 2000}, until={BASE + 2010}))\n"
        "    assert [r.capture_seq for r in window] == list(range(2000, 2010))\n"
        "    assert reader[2999].capture_seq == 2999\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(name)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "ok\n"


def test_tail_follow_crosses_rotations_and_survives_retention(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    write_set(name, 10, per_segment=5)
    follower = subprocess.Popen(
        [SCRIPT, "tail", "-f", str(name), "--interval", "0.05", "-n", "3",
         "--format", "%(capture_stream)s %(capture_seq)s %(message)s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert follower.stdout is not None
    seen = [follower.stdout.readline() for _ in range(3)]
    assert seen == [f"app.capture {n} main record {n}\n" for n in (8, 9, 10)]
    # New segments of the stream, then a new stream.
    write_set(name, 20, per_segment=5, start=11)
    lines = [follower.stdout.readline() for _ in range(20)]
    assert lines == [f"app.capture {n} main record {n}\n" for n in range(11, 31)]
    write_set(tmp_path / "app.77.capture", 4, per_segment=2, who="worker")
    lines = [follower.stdout.readline() for _ in range(4)]
    assert lines == [f"app.77.capture {n} worker record {n}\n" for n in range(1, 5)]
    # Retention deletes the segments it has read, the one it is on included.
    report = logset.vacuum(logset.segments(logset.segment_paths(str(name))), Retention(max_files=2))
    assert len(report.deleted) == 8  # all but the two streams' newest (empty) ones
    write_set(name, 5, per_segment=5, start=31)
    write_set(tmp_path / "app.77.capture", 2, per_segment=2, who="worker", start=5)
    lines = sorted(follower.stdout.readline() for _ in range(7))
    follower.send_signal(2)
    assert follower.wait(timeout=30) in (0, 130)
    assert lines == sorted(
        [f"app.capture {n} main record {n}\n" for n in range(31, 36)]
        + [f"app.77.capture {n} worker record {n}\n" for n in (5, 6)]
    )


def test_the_command_reads_a_set_by_its_handler_name(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    write_set(name, 40, per_segment=10)
    result = subprocess.run(
        [SCRIPT, "cat", str(name), "--since", str(BASE + 18), "--until", str(BASE + 23),
         "--format", "%(capture_seq)s %(message)s"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{n} main record {n}" for n in range(18, 23)]
    stats = subprocess.run(
        [SCRIPT, "stats", str(name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert stats.returncode == 0, stats.stderr
    assert f"stream:      {name} (5 segments)" in stats.stdout
    assert "records:     1 to 40 committed" in stats.stdout
    verify = subprocess.run(
        [SCRIPT, "verify", str(name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count(str(tmp_path)) == 5  # each segment verified


def test_a_plain_file_and_the_stream_of_its_name_are_both_read(tmp_path: Path) -> None:
    """Turning rotation on for an existing log: the old plain file and the new
    segments of the same name are both part of what the name stands for."""
    name = tmp_path / "app.capture"
    handler = CaptureHandler(name, commit_interval=None)
    handler.handle(record(0, "old"))
    handler.close()
    write_set(name, 20, per_segment=5)
    with ReplayReader(name) as reader:
        messages = [r.getMessage() for r in reader]
    assert messages == ["old record 0"] + [f"main record {n}" for n in range(1, 21)]
    tail = subprocess.run(
        [SCRIPT, "tail", "-n", "2", str(name), "--format", "%(message)s"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert tail.stdout == "main record 19\nmain record 20\n", tail.stderr


def test_many_streams_share_one_bound_on_open_files(tmp_path: Path) -> None:
    """Forty streams (worker processes come and go): reading them all leaves
    at most 8 segment files open for the reader, not 8 a stream."""
    name = tmp_path / "app.capture"
    for worker in range(40):
        write_set(tmp_path / f"app.{1000 + worker}.capture", 6, per_segment=2, who=f"w{worker}")
    code = (
        "import os, sys\n"
        "from capturelog import ReplayReader\n"
        "before = len(os.listdir('/proc/self/fd'))\n"
        "with ReplayReader(sys.argv[1]) as reader:\n"
        "    assert len(list(reader)) == 240\n"
        "    held = len(os.listdir('/proc/self/fd')) - before\n"
        "print(held)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(name)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) <= 8


def test_a_segment_missing_in_the_middle_is_an_error_not_a_renumbering(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    write_set(name, 30, per_segment=10)
    middle = Path(logset.segment_name(str(name), 11))
    middle.rename(tmp_path / "moved-away")
    with ReplayReader(name) as reader:
        assert reader[25].getMessage() == "main record 25"  # by number: still right
        seen = []
        with pytest.raises(FileNotFoundError, match="records 11 to 20 of stream app.capture"):
            for r in reader:
                seen.append((r.capture_seq, r.getMessage()))
    assert seen == [(n, f"main record {n}") for n in range(1, 11)]


def test_export_names_each_rows_own_writer(tmp_path: Path) -> None:
    """Segments written by two runs: each row carries the pid of the run that
    wrote its segment (read from that segment's metadata)."""
    pytest.importorskip("pyarrow")
    from capturelog.export import to_arrow

    name = tmp_path / "app.capture"
    script = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from pathlib import Path\n"
        "from test_logset_reading import write_set\n"
        "write_set(Path(sys.argv[1]), 10, per_segment=5, start=int(sys.argv[2]))\n"
    )
    tests = str(Path(__file__).parent)
    for start in (1, 11):
        subprocess.run(
            [sys.executable, "-c", script, str(name), str(start), tests], check=True, timeout=60
        )
    with ReplayReader(name) as reader:
        rows = to_arrow(reader).to_pylist()
    pids = [row["writer_pid"] for row in rows]
    assert len(rows) == 20 and len(set(pids[:10])) == 1 and len(set(pids[10:])) == 1
    assert pids[0] != pids[10]
