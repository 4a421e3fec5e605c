"""CaptureHandler's rotation and retention: segments of a stream, numbering, the set's limits."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import logging.config
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import CaptureFile as reference  # type: ignore[import-untyped] # the reference ships no types
import pytest

from capturelog import CaptureFile, CaptureHandler, logset
from capturelog._codec import RecordDecoder, pack_data, record_time, unpack_data
from capturelog._limits import Retention, Rotation
from capturelog.structlog import CaptureLoggerFactory

# ------------------------------------------------------------------- helpers


def make_logger(handler: logging.Handler, name: str = "rotation") -> logging.Logger:
    log = logging.getLogger(f"tests.{name}")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log


def stream_of(path: Path | str) -> list[logset.Segment]:
    """The stream's segments, each checked to open with capturelog and with
    the reference package, with the same record count."""
    found = logset.stream_segments(os.path.abspath(path))
    for segment in found:
        with CaptureFile(segment.path, encoding=None) as cf:
            count = cf.record_count()
        with reference.CaptureFile(segment.path) as theirs:
            assert theirs.record_count() == count, segment.path
        assert count == segment.count
    return found


def assert_continuous(found: list[logset.Segment]) -> None:
    """Numbering runs on across segments: no gap, no overlap; all but the
    newest sealed, with the count they hold."""
    assert found, "no segments"
    for before, after in itertools.pairwise(found):
        assert after.first_seq == before.first_seq + before.count, (before, after)
    for segment in found[:-1]:
        assert segment.sealed, segment.path
        origin = metadata(segment.path)
        assert origin["sealed"]["count"] == segment.count, segment.path


def metadata(path: str) -> dict[str, Any]:
    with CaptureFile(path, encoding=None) as cf:
        raw = cf.get_metadata()
    assert raw is not None
    origin = unpack_data(raw)
    assert isinstance(origin, dict)
    return origin


def messages(found: list[logset.Segment]) -> list[str]:
    """Every record's message, segments read in order."""
    decoder = RecordDecoder()
    out = []
    for segment in found:
        with CaptureFile(segment.path, encoding=None) as cf:
            for number, payload in enumerate(cf, 1):
                assert isinstance(payload, bytes)
                out.append(decoder.record(unpack_data(payload), number).getMessage())
    return out


def wait_until(check: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Poll ``check`` (a thread of the handler's does the work), within a bound."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def retention_done() -> None:
    """Wait for every retention thread to end (after close, none starts)."""
    wait_until(
        lambda: not any(t.name == "capturelog-retention" for t in threading.enumerate()),
        "the retention threads to end",
    )


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "logs" / "app.capture"
    retention_done()  # none left running into the next test


# ------------------------------------------------------------------- rotation


def test_size_rotation_writes_continuous_segments_each_a_plain_capture_file(logs: Path) -> None:
    """Past the size limit the stream goes on in a new segment named for its
    first number; every segment opens in both packages, says its stream and
    first number, and the sealed ones their count and first and last record
    times; every record is there once, in order."""
    handler = CaptureHandler(logs, rotation="4 KB", commit_every=20, commit_interval=None)
    log = make_logger(handler)
    for i in range(3000):
        log.info("record %d %s", i, "x" * (i % 50))
    live = handler.baseFilename
    handler.close()

    found = stream_of(logs)
    assert len(found) >= 5
    assert_continuous(found)
    assert found[0].first_seq == 1
    assert found[-1].path == live
    assert not found[-1].sealed
    assert not logs.exists()  # the stream's own name holds no file
    for segment in found:
        assert os.path.basename(segment.path) == os.path.basename(
            logset.segment_name(str(logs), segment.first_seq)
        )
        origin = metadata(segment.path)
        assert origin["stream"] == "app.capture"
        assert origin["first_seq"] == segment.first_seq
        assert origin["pid"] == os.getpid()
        if segment.sealed:
            with CaptureFile(segment.path, encoding=None) as cf:
                first, last = cf.record_at(1), cf.record_at(cf.record_count())
            assert isinstance(first, bytes) and isinstance(last, bytes)
            assert segment.first_time == record_time(first)
            assert segment.last_time == record_time(last)
    assert messages(found) == [f"record {i} {'x' * (i % 50)}" for i in range(3000)]


def test_one_commit_never_straddles_two_segments(logs: Path) -> None:
    """With a limit every commit reaches, each segment holds exactly one
    commit's records: rotation waits for the commit, then cuts."""
    handler = CaptureHandler(logs, rotation=1, commit_every=7, commit_interval=None)
    log = make_logger(handler)
    for i in range(70):
        log.info("record %d", i)
    handler.close()
    found = stream_of(logs)
    assert [s.count for s in found] == [7] * 10 + [0]
    assert_continuous(found)
    assert messages(found) == [f"record {i}" for i in range(70)]


def test_age_rotation_also_fires_at_the_commit_timer(logs: Path) -> None:
    """A segment older than the age limit is left at the next commit, the one
    the commit timer makes while the program is quiet included."""
    handler = CaptureHandler(logs, rotation=dt.timedelta(seconds=0.2), commit_interval=0.05)
    log = make_logger(handler)
    log.info("first")
    handler.flush()
    first = handler.baseFilename
    time.sleep(0.3)  # the segment's age passes
    log.info("second")  # committed by the timer thread, which then rotates
    wait_until(lambda: handler.baseFilename != first, "the timer's commit to rotate")
    handler.close()
    found = stream_of(logs)
    assert_continuous(found)
    assert messages(found) == ["first", "second"]
    assert found[0].count == 2 and found[0].path == first


def test_a_time_of_day_rotates_once_it_has_passed(logs: Path) -> None:
    """``rotation="HH:MM:SS"``: the first commit after that time starts a new
    segment, not the commits before it."""
    at = dt.datetime.now() + dt.timedelta(seconds=2)
    handler = CaptureHandler(logs, rotation=at.strftime("%H:%M:%S"), commit_interval=None)
    log = make_logger(handler)
    log.info("before")
    handler.flush()
    log.info("still before")
    handler.flush()
    assert len(stream_of(logs)) == 1
    wait_until(lambda: dt.datetime.now() > at.replace(microsecond=0), "the time of day")
    log.info("after")
    handler.flush()
    log.info("in the new segment")
    handler.close()
    found = stream_of(logs)
    assert [s.count for s in found] == [3, 1]
    assert_continuous(found)


def test_dict_config_takes_plain_strings(logs: Path) -> None:
    """dictConfig passes rotation and retention as strings and lists."""
    logging.config.dictConfig(
        {
            "version": 1,
            "handlers": {
                "capture": {
                    "class": "capturelog.CaptureHandler",
                    "filename": str(logs),
                    "rotation": "1 KB",
                    "retention": ["7 days", 50],
                    "commit_every": 10,
                }
            },
            "root": {"handlers": ["capture"], "level": "INFO"},
        }
    )
    handler = logging.getLogger().handlers[-1]
    assert isinstance(handler, CaptureHandler)
    assert handler.rotation == Rotation(max_bytes=1000)
    assert handler.retention == Retention(max_age=7 * 86400.0, max_files=50)
    for i in range(300):
        logging.getLogger("app").info("record %d", i)
    handler.close()
    retention_done()
    found = stream_of(logs)
    assert len(found) > 2
    assert_continuous(found)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"rotation": "fast"}, ["rotation='fast'", "'64 MB'"]),
        ({"rotation": "0 MB"}, ["rotation='0 MB'", "above zero"]),
        ({"rotation": "25:00"}, ["rotation='25:00'", "time of day"]),
        ({"rotation": {"size": 1}}, ["rotation=", "not a rotation rule"]),
        ({"rotation": "1 MB", "retention": "soon"}, ["retention='soon'", "'1 day'"]),
        ({"rotation": "1 MB", "retention": 0}, ["retention=0", "1 or more"]),
        ({"retention": "7 days"}, ["retention='7 days' needs rotation="]),
        ({"rotation": [], "retention": 5}, ["needs rotation="]),
    ],
)
def test_bad_limits_are_refused_at_construction(
    logs: Path, arguments: dict[str, object], words: list[str]
) -> None:
    """A bad rotation or retention is a ValueError naming the argument, and
    nothing is written."""
    with pytest.raises(ValueError) as refused:
        CaptureHandler(logs, **arguments)  # type: ignore[arg-type]
    for word in words:
        assert word in str(refused.value)
    assert not logs.parent.exists()


def test_without_rotation_the_file_is_as_before(logs: Path) -> None:
    """rotation=None writes the one file at the name, its metadata without
    segment keys."""
    handler = CaptureHandler(logs, rotation=None, commit_interval=None)
    make_logger(handler).info("one")
    handler.close()
    assert handler.baseFilename == str(logs)
    assert sorted(os.listdir(logs.parent)) == ["app.capture"]
    assert set(metadata(str(logs))) == {
        "schema", "capturelog", "host", "pid", "program", "python",
        "timezone", "utc_offset", "opened",
    }  # fmt: skip


# ------------------------------------------------------------------- restarts


def test_a_restart_continues_the_stream(logs: Path) -> None:
    """A handler opened again on the name goes on in the stream's last
    segment, keeping its first number, and rotates on from there."""
    last: logset.Segment | None = None
    for run in range(3):
        handler = CaptureHandler(logs, rotation="2 KB", commit_every=10, commit_interval=None)
        if last is not None:
            assert handler.baseFilename == last.path  # the last segment, continued
            assert metadata(handler.baseFilename)["first_seq"] == last.first_seq
        log = make_logger(handler)
        for i in range(200):
            log.info("run %d record %d", run, i)
        handler.close()
        found = stream_of(logs)
        assert_continuous(found)
        last = found[-1]
    assert messages(found) == [f"run {r} record {i}" for r in range(3) for i in range(200)]


def test_a_restart_after_a_crash_mid_rotation_seals_the_leftover(logs: Path) -> None:
    """Killed after starting a new segment but before sealing the old one, a
    writer leaves the old one unsealed: the next writer seals it (count and
    times) and goes on in the new one. A sealed last segment is not
    continued: the next writer starts a segment after it."""
    handler = CaptureHandler(logs, rotation=1, commit_every=5, commit_interval=None)
    log = make_logger(handler)
    for i in range(10):
        log.info("record %d", i)  # two commits: segments of 5 and 5, and an empty third
    handler.close()
    found = stream_of(logs)
    assert [s.count for s in found] == [5, 5, 0]
    sealed_before = metadata(found[1].path)["sealed"]
    rewrite_metadata(found[1].path, lambda origin: origin.pop("sealed"))  # as the crash left it
    assert not stream_of(logs)[1].sealed

    handler = CaptureHandler(logs, rotation="1 MB", commit_interval=None)
    assert handler.baseFilename == found[2].path
    make_logger(handler).info("after the first restart")
    handler.close()
    again = stream_of(logs)
    assert [s.count for s in again] == [5, 5, 1]
    assert metadata(again[1].path)["sealed"] == sealed_before
    assert_continuous(again)

    rewrite_metadata(
        again[2].path, lambda origin: origin.update(sealed={"count": 1, "first": 1.0, "last": 1.0})
    )
    handler = CaptureHandler(logs, rotation="1 MB", commit_interval=None)
    make_logger(handler).info("after the second restart")
    handler.close()
    last = stream_of(logs)
    assert [s.count for s in last] == [5, 5, 1, 1]
    assert last[-1].first_seq == 12
    assert_continuous(last)


def rewrite_metadata(path: str, change: Callable[[dict[str, Any]], object]) -> None:
    origin = metadata(path)
    change(origin)
    with CaptureFile(path, to_write=True, encoding=None) as cf:
        cf.set_metadata(pack_data(origin))
        cf.commit()


HOLDER = r"""
import logging, sys
from capturelog import CaptureHandler
handler = CaptureHandler(sys.argv[1], rotation="1 KB", commit_every=1)
log = logging.getLogger("holder")
log.addHandler(handler)
for i in range(50):
    log.warning("holder %d", i)
print(handler.baseFilename, flush=True)
sys.stdin.readline()
handler.close()
"""


def test_a_second_process_on_the_name_writes_a_stream_of_its_own(logs: Path) -> None:
    """While another process holds the stream, a handler on the same name
    writes ``name.<pid>`` as segments; the set holds both streams."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(logs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        held = holder.stdout.readline().strip()
        handler = CaptureHandler(logs, rotation="1 KB", commit_every=1, commit_interval=None)
        own = str(logs.parent / f"app.{os.getpid()}.capture")
        assert handler.baseFilename == logset.segment_name(own, 1)
        log = make_logger(handler)
        for i in range(50):
            log.warning("second %d", i)
        handler.close()
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
    finally:
        holder.kill()
    theirs, ours = stream_of(logs), stream_of(own)
    assert theirs[-1].path == held
    assert_continuous(theirs)
    assert_continuous(ours)
    assert messages(ours) == [f"second {i}" for i in range(50)]
    assert messages(theirs) == [f"holder {i}" for i in range(50)]
    in_set = logset.segment_paths(str(logs))
    assert {s.path for s in theirs + ours} == set(in_set)


# ------------------------------------------------------------------- retention


WORKER = r"""
import logging, sys
from capturelog import CaptureHandler
handler = CaptureHandler(sys.argv[1], rotation=1, commit_every=5)
log = logging.getLogger("worker")
log.addHandler(handler)
for i in range(int(sys.argv[2])):
    log.warning("worker %d", i)
print(handler.baseFilename)
handler.close()
"""


def other_stream(logs: Path, records: int) -> list[logset.Segment]:
    """A stream of another (finished) process in the set: ``name.<pid>``, as a
    worker's, made by holding the name meanwhile so that it falls back."""
    holder = CaptureHandler(logs, rotation="1 MB", commit_interval=None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", WORKER, str(logs), str(records)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        holder.close()
    stream = result.stdout.strip().rsplit("@", 1)[0] + ".capture"
    assert ".capture" in stream and stream != str(logs)
    return stream_of(stream)


def all_segments(logs: Path) -> list[logset.Segment]:
    return logset.segments(logset.segment_paths(str(logs)))


def test_retention_by_count_deletes_the_oldest_of_every_stream(logs: Path) -> None:
    """retention=N: the set is brought down to N segments, oldest first across
    streams (a worker's too), on the handler's retention thread; the newest of
    each stream and the live one stay."""
    theirs = other_stream(logs, 30)  # six segments of five, and an empty last
    assert len(theirs) == 7
    handler = CaptureHandler(logs, rotation=1, commit_every=5, retention=4, commit_interval=None)
    log = make_logger(handler)
    for i in range(40):
        log.info("record %d", i)
    live = handler.baseFilename
    wait_until(lambda: len(all_segments(logs)) <= 4, "retention to delete segments")
    retention_done()
    left = all_segments(logs)
    assert len(left) == 4
    paths = {s.path for s in left}
    assert live in paths and os.path.exists(live)
    assert theirs[-1].path in paths  # the other stream's newest is kept
    # What is left of each stream is its newest run of numbers.
    ours = [s for s in left if s.stream == "app.capture"]
    assert_continuous(ours)
    assert ours[-1].path == live
    log.info("still logging")
    handler.close()
    retention_done()
    assert messages(stream_of(logs))[-1] == "still logging"


def test_retention_by_size_and_by_age(logs: Path) -> None:
    """A total size is held by deleting oldest segments; an age deletes the
    segments last changed before it, at the handler's first open already."""
    theirs = other_stream(logs, 20)
    day_ago = time.time() - 86400
    for segment in theirs[:-1]:
        os.utime(segment.path, (day_ago, day_ago))
    handler = CaptureHandler(logs, rotation=1, retention="1 hour", commit_interval=None)
    wait_until(
        lambda: all(not os.path.exists(s.path) for s in theirs[:-1]),
        "the age limit at the first open",
    )
    assert os.path.exists(theirs[-1].path)
    handler.close()

    handler = CaptureHandler(
        logs, rotation="2 KB", retention="300 KB", commit_every=10, commit_interval=None
    )
    log = make_logger(handler)
    for i in range(3000):
        log.info("record %d %s", i, os.urandom(16).hex())
    live = handler.baseFilename

    def held() -> bool:
        left = all_segments(logs)
        return sum(s.size for s in left) <= 300_000 or len(left) <= 2

    wait_until(held, "the size limit")
    retention_done()
    assert os.path.exists(live)
    ours = [s for s in all_segments(logs) if s.stream == "app.capture"]
    assert len(ours) > 1
    assert_continuous(ours)
    handler.close()


def test_a_failed_rotation_is_reported_once_and_logging_goes_on(logs: Path) -> None:
    """When the next segment cannot be made (a stranger's file at its name),
    the handler reports it once, keeps every record in the current segment,
    and rotates once the way is clear."""
    reports: list[str] = []

    class Reporting(CaptureHandler):
        def handleError(self, record: logging.LogRecord) -> None:
            reports.append(record.getMessage())

    logs.parent.mkdir(parents=True)
    blockers = [Path(logset.segment_name(str(logs), n)) for n in (6, 11, 21)]
    for blocker in blockers:
        blocker.write_text("not a capture file\n")
    handler = Reporting(logs, rotation=1, commit_every=5, commit_interval=None)
    log = make_logger(handler)
    for i in range(15):  # commits at 5 and 10 cannot rotate; the one at 15 can
        log.info("record %d", i)
    assert reports == [f"rotation to {blockers[0]} failed"]
    for i in range(15, 20):  # reported again: a rotation worked in between
        log.info("record %d", i)
    assert reports[1:] == [f"rotation to {blockers[2]} failed"]
    handler.close()
    for blocker in blockers:
        assert blocker.read_text() == "not a capture file\n"
    found = stream_of(logs)
    assert [s.count for s in found] == [15, 5]
    assert_continuous(found)
    assert messages(found) == [f"record {i}" for i in range(20)]


# ------------------------------------------------------------------- processes


FORKING = r"""
import logging, os, sys, threading
from capturelog import CaptureHandler

def os_threads():
    with open("/proc/self/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[17])

handler = CaptureHandler(sys.argv[1], rotation=1, commit_every=3, retention=1000,
                         commit_interval=None)
log = logging.getLogger("forking")
log.addHandler(handler)
log.setLevel(logging.INFO)
children = []
for n in range(3):
    log.info("parent %d", n)  # pending at the fork: committed before it, then rotated
    pid = os.fork()
    if pid == 0:
        threads = os_threads()
        for i in range(7):
            log.info("child %d record %d", n, i)
        handler.close()
        os._exit(0 if threads == 1 else 3)
    # A thread joined before the fork may take a moment more to leave the OS's
    # count (still unwinding in the kernel); the child's count above is exact.
    import time
    deadline = time.monotonic() + 1.0
    while os_threads() > 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert os_threads() == 1, "a thread of ours ran on at the fork"
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    print(pid)
handler.close()
"""


def test_forked_children_write_streams_of_their_own_and_fork_alone(logs: Path) -> None:
    """A forked child with rotation writes ``name.<pid>`` segments of its own;
    neither the commit timer nor the retention thread runs at a fork."""
    result = subprocess.run(
        [sys.executable, "-c", FORKING, str(logs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    children = [int(line) for line in result.stdout.split()]
    parent = stream_of(logs)
    assert_continuous(parent)
    assert messages(parent) == [f"parent {n}" for n in range(3)]
    for n, pid in enumerate(children):
        found = stream_of(logs.parent / f"app.{pid}.capture")
        assert_continuous(found)
        assert [s.count for s in found] == [3, 3, 1]
        assert messages(found) == [f"child {n} record {i}" for i in range(7)]


KILLED = r"""
import logging, sys
from capturelog import CaptureHandler
# Rotation at every commit: much of the writer's time is spent rotating.
handler = CaptureHandler(sys.argv[1], rotation=1, commit_every=int(sys.argv[3]),
                         commit_interval=None)
log = logging.getLogger("killed")
log.addHandler(handler)
run = sys.argv[2]
for i in range(1_000_000):
    log.warning("run %s record %d", run, i)
    if handler.pending_count == 0:  # committed: everything up to i
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()
"""


def committed_then_killed(logs: Path, run: int, commit_every: int, after: int) -> int:
    """Start a writer, let it report ``after`` commits, SIGKILL it; returns
    the highest record number it reported committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(logs), str(run), str(commit_every)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    last = -1
    try:
        for _ in range(after):
            line = child.stdout.readline()
            assert line, "the writer ended early"
            last = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        # What it reported before the kill landed is committed too.
        for line in child.stdout:
            last = int(line)
    return last


def test_sigkill_at_random_instants_of_rotation_loses_and_repeats_nothing(logs: Path) -> None:
    """Writers rotating every commit or two, killed at random instants, then
    a restart: every segment opens (in both packages), numbering is
    continuous, every record reported committed is there exactly once,
    everything but the newest segment is sealed."""
    chooser = random.Random(os.getpid())
    reported: dict[int, int] = {}
    runs = 6
    for run in range(runs):
        reported[run] = committed_then_killed(
            logs, run, commit_every=1 + run % 3, after=chooser.randint(5, 150)
        )
    handler = CaptureHandler(logs, rotation=1, commit_interval=None)
    latest = stream_of(logs)[-1]
    first_seq = metadata(handler.baseFilename)["first_seq"]
    assert first_seq == (latest.last_seq + 1 if latest.sealed else latest.first_seq)
    make_logger(handler).warning("after the kills")
    handler.close()

    found = stream_of(logs)
    assert_continuous(found)
    stored = messages(found)
    assert stored[-1] == "after the kills"
    assert len(stored) == len(set(stored)), "a record stored twice"
    for run, last in reported.items():
        run_records = [m for m in stored if m.startswith(f"run {run} ")]
        # Committed ones all there; past them, only whole commits that landed
        # before the kill (each run's records are a prefix of its numbers).
        assert run_records[: last + 1] == [f"run {run} record {i}" for i in range(last + 1)]
        assert run_records == [f"run {run} record {i}" for i in range(len(run_records))]


# ------------------------------------------------------------------- structlog


def test_structlog_factory_passes_rotation_and_retention(logs: Path) -> None:
    """CaptureLoggerFactory takes rotation and retention as the handler does."""
    factory = CaptureLoggerFactory(logs, rotation="1 KB", retention=100, commit_every=5)
    assert factory.handler.rotation == Rotation(max_bytes=1000)
    assert factory.handler.retention == Retention(max_files=100)
    logger = factory("events")
    for i in range(200):
        logger.info("event", n=i)
    factory.close()
    found = stream_of(logs)
    assert len(found) > 2
    assert_continuous(found)
    assert sum(s.count for s in found) == 200


def test_a_first_record_with_an_odd_time_does_not_stop_the_stream(tmp_path: Path) -> None:
    """Replayed records may carry a NaN (or far future) time: a writer taking
    up such a segment schedules its rotation from now, and never raises."""
    import logging as _logging

    for odd in (float("nan"), 1e300, 4102448400.0):
        name = tmp_path / f"odd-{len(list(tmp_path.iterdir()))}.capture"
        handler = CaptureHandler(name, rotation=["1 hour", "00:00"], commit_interval=None)
        made = _logging.LogRecord("odd", _logging.INFO, __file__, 1, "odd time", None, None)
        made.created = odd
        handler.handle(made)
        handler.close()
        again = CaptureHandler(name, rotation=["1 hour", "00:00"], commit_interval=None)
        again.handle(_logging.LogRecord("odd", _logging.INFO, __file__, 2, "after", None, None))
        again.close()
        assert len(logset.segment_paths(str(name))) == 1


def test_retention_refuses_pid_in_the_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"drop \{pid\}"):
        CaptureHandler(tmp_path / "app.{pid}.capture", rotation="1 MB", retention=3)
    assert list(tmp_path.iterdir()) == []
