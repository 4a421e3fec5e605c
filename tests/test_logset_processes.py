"""Log sets end to end with real processes: workers started at the same
instant logging through rotation (and retention) into one handler name, a
follower running throughout, and the set read back as one log."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import CaptureFile as reference

from capturelog import ReplayReader, logset

SCRIPT = shutil.which("capturelog") or "capturelog"

WORKER = """
import logging, os, sys, time
from capturelog import CaptureHandler
go, name, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
retention = sys.argv[5] if len(sys.argv) > 5 else None
while not os.path.exists(go):
    time.sleep(0.001)
handler = CaptureHandler(
    name, rotation="8 KB", retention=None if retention is None else int(retention),
    commit_every=7, commit_interval=None,
)
log = logging.getLogger("worker")
log.addHandler(handler)
log.setLevel(logging.INFO)
for i in range(count):
    log.info("worker %s record %d %s", worker, i, "x" * (i % 50))
logging.shutdown()
"""


def start_workers(
    tmp_path: Path, name: Path, workers: int, count: int, *extra: str
) -> list[subprocess.Popen[str]]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(name), str(w), str(count), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    time.sleep(0.8)  # every worker is waiting for the same instant
    go.write_text("")
    return procs


def finish(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def check_streams(records: list, workers: int) -> dict[str, list[int]]:  # type: ignore[type-arg]
    """Each stream's sequence numbers as read; each worker writes one stream."""
    by_stream: dict[str, list[int]] = collections.defaultdict(list)
    writer_of: dict[str, set[str]] = collections.defaultdict(set)
    for record in records:
        by_stream[record.capture_stream].append(record.capture_seq)
        writer_of[record.capture_stream].add(record.args[0])
    assert len(by_stream) == workers
    assert all(len(w) == 1 for w in writer_of.values())  # a stream is one writer's
    return by_stream


def test_workers_rotating_at_once_leave_one_log_with_every_record_once(tmp_path: Path) -> None:
    name = tmp_path / "logs" / "app.capture"
    workers, count = 4, 600
    procs = start_workers(tmp_path, name, workers, count)
    # Follow the set from its start while the workers write it.
    deadline = time.monotonic() + 30
    while not logset.segment_paths(str(name)) and time.monotonic() < deadline:
        time.sleep(0.01)
    follower = subprocess.Popen(
        [SCRIPT, "cat", "-f", str(name), "--interval", "0.05", "--format", "%(message)s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    followed: list[str] = []

    def read_lines() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            followed.append(line.rstrip("\n"))

    reading = threading.Thread(target=read_lines)
    reading.start()
    finish(procs)

    with ReplayReader(str(name)) as reader:
        records = list(reader)
    assert len(records) == workers * count
    by_stream = check_streams(records, workers)
    for seqs in by_stream.values():
        assert sorted(seqs) == list(range(1, count + 1))  # every record once, numbered on
        assert seqs == sorted(seqs)  # in order within the stream
    messages = collections.Counter(r.getMessage() for r in records)
    assert len(messages) == workers * count and set(messages.values()) == {1}

    segments = logset.segments(logset.segment_paths(str(name)))
    assert len(segments) > 4 * workers  # they did rotate, many times each
    for path in (s.path for s in segments[:: max(1, len(segments) // 8)]):
        ref = reference.CaptureFile(path)  # the reference package opens segments
        try:
            assert ref.record_count() >= 1
        finally:
            ref.close()

    # The follower catches up (it polls every 0.05 s), then is stopped.
    deadline = time.monotonic() + 30
    while len(followed) < len(messages) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # time to print a record too many, if it would
    follower.send_signal(signal.SIGINT)
    follower.wait(timeout=30)
    reading.join(timeout=10)
    assert follower.stderr is not None
    err = follower.stderr.read()
    assert collections.Counter(followed) == messages, err


def test_workers_with_retention_keep_the_set_within_its_limit(tmp_path: Path) -> None:
    name = tmp_path / "app.capture"
    workers, count, keep = 3, 1500, 6
    finish(start_workers(tmp_path, name, workers, count, str(keep)))
    # The handlers' own retention ran: every stream lost its first segments.
    before = logset.segments(logset.segment_paths(str(name)))
    firsts = {s.stream: s.first_seq for s in reversed(before)}
    assert len(firsts) == workers and all(first > 1 for first in firsts.values()), firsts
    # The last retention runs on a background thread of each worker, and
    # logging.shutdown() does not wait for it; a vacuum now is what a later
    # rotation would do. The limit then holds exactly.
    result = subprocess.run(
        [SCRIPT, "vacuum", str(name), "--max-files", str(keep)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    segments = logset.segments(logset.segment_paths(str(name)))
    streams = {s.stream for s in segments}
    assert len(streams) == workers
    assert len(segments) == max(keep, workers)
    assert len(os.listdir(tmp_path)) == len(segments) + 1  # the segments and "go"
    with ReplayReader(str(name)) as reader:
        records = list(reader)
    by_stream = check_streams(records, workers)
    for seqs in by_stream.values():
        # What is left of each stream is one run of numbers up to its last record.
        assert seqs == list(range(seqs[0], count + 1))
