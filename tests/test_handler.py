"""CaptureHandler: configuration, commits, crashes, forks, threads, failures."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import logging.handlers
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureHandler, InvalidCaptureFile, ReplayReader
from capturelog._codec import unpack_data

ATTRIBUTES = [
    "name", "msg", "levelname", "levelno", "pathname", "filename", "module", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process",
]  # fmt: skip

SCENARIO = r"""
import json, logging, logging.config, sys, threading

path, out = sys.argv[1], sys.argv[2]
logging.config.dictConfig({
    "version": 1,
    "handlers": {"capture": {
        "class": "capturelog.CaptureHandler", "filename": path,
        "commit_every": 50, "commit_interval": 0.5, "commit_level": "ERROR",
    }},
    "root": {"level": "DEBUG", "handlers": ["capture"]},
})
logging.addLevelName(25, "NOTICE")
log = logging.getLogger("svc.api")
seen = []

class Keep(logging.Filter):
    def filter(self, record):
        seen.append(record)
        return True

logging.getLogger().handlers[0].addFilter(Keep())

class Opaque:
    def __repr__(self):
        return "<Opaque thing>"

log.info("plain message")
log.info("user %s has %d items at %.2f", "ann", 3, 2.5)
log.info("%(user)s from %(ip)s", {"user": "bob", "ip": "10.0.0.1"})
log.warning("extra data", extra={"request_id": "r-1", "sizes": [1, 2], "nested": {"a": (1, 2)}})
log.info("unserializable %s and %r", Opaque(), {1, 2}, extra={"obj": Opaque()})
try:
    {}["missing"]
except KeyError:
    log.exception("lookup failed for %s", "missing")
log.info("with a stack", stack_info=True)
log.log(25, "custom level")
log.info("unicode \u2603 \u00e9\u00e8 \U0001F600 %s", "\u4e2d\u6587")
log.info("big %s", "x" * (1 << 20))
logging.getLogger("svc.db.pool").debug("child logger")

def work(n):
    for i in range(200):
        logging.getLogger(f"worker.{n}").info("thread %d message %d", n, i)

threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()

logging.shutdown()
json.dump([
    {"message": r.getMessage(), "seq": i + 1, "attrs": {k: getattr(r, k) for k in %(attrs)s},
     "extra": {k: repr(getattr(r, k))
               for k in ("request_id", "sizes", "nested", "obj") if hasattr(r, k)}}
    for i, r in enumerate(seen)
], open(out, "w"))
""".replace("%(attrs)s", repr(ATTRIBUTES))


def run_script(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_dictconfig_to_shutdown_to_replay_gives_back_equal_records(tmp_path: Path) -> None:
    """Every kind of record a program logs comes back equal after logging.shutdown()."""
    path, out = tmp_path / "app.capture", tmp_path / "expected.json"
    result = run_script(SCENARIO, str(path), str(out))
    assert "Logging error" not in result.stderr
    expected = json.loads(out.read_text())
    assert len(expected) == 11 + 8 * 200
    by_message = {want["message"]: want for want in expected}
    assert len(by_message) == len(expected)  # every message in the scenario is unique
    with ReplayReader(path) as reader:
        assert len(reader) == len(expected)
        # Threads pass the filter that recorded `expected` in one order and the
        # handler lock in another, so records are matched by their message.
        for seq, record in enumerate(reader, 1):
            assert record.capture_seq == seq  # type: ignore[attr-defined]
            want = by_message.pop(record.getMessage())
            for key, value in want["attrs"].items():
                got = getattr(record, key)
                assert got == (tuple(value) if isinstance(value, list) else value), key
            for key, value in want["extra"].items():
                if key == "obj":
                    assert getattr(record, key) == "<Opaque thing>"
                else:
                    assert repr(getattr(record, key)) == value
        assert not by_message
        exc = reader[6]
        assert exc.exc_text is not None and "KeyError: 'missing'" in exc.exc_text
        assert reader[7].stack_info is not None
        assert reader[8].levelname == "NOTICE"
        assert len(reader[10].getMessage()) == len("big ") + (1 << 20)
        assert reader[3].args == {"user": "bob", "ip": "10.0.0.1"}
        assert reader[4].nested == {"a": (1, 2)}  # type: ignore[attr-defined]
        event = reader.event(2)
        assert event["msg"] == "user %s has %d items at %.2f"
        assert event["args"] == ["ann", 3, 2.5]


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[CaptureHandler]:
    h = CaptureHandler(tmp_path / "h.capture", commit_every=5, commit_interval=None)
    yield h
    h.close()


def log_to(handler: logging.Handler, name: str = "t") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def committed(path: str | Path) -> int:
    with CaptureFile(path) as cf:
        return cf.record_count()


def test_commits_by_count_level_flush_and_close(handler: CaptureHandler) -> None:
    """Nothing is visible before a trigger; count, level, flush and close each commit."""
    log = log_to(handler, "count")
    path = handler.baseFilename
    for i in range(4):
        log.info("r%d", i)
    assert committed(path) == 0
    log.info("fifth")
    assert committed(path) == 5
    log.info("six")
    log.error("an error commits at once")
    assert committed(path) == 7
    log.info("eight")
    handler.flush()
    assert committed(path) == 8
    log.info("nine")
    handler.close()
    handler.close()  # idempotent
    assert committed(path) == 9
    log.info("after close is ignored, not an error")


def test_timer_commits_an_idle_tail(tmp_path: Path) -> None:
    """A record logged just before the program goes quiet is committed by the timer."""
    h = CaptureHandler(tmp_path / "idle.capture", commit_every=1000, commit_interval=0.2)
    log = log_to(h, "idle")
    log.info("last words")
    deadline = time.monotonic() + 10
    while committed(h.baseFilename) == 0:
        assert time.monotonic() < deadline, "the timer never committed"
        time.sleep(0.05)
    h.close()


def test_timer_commits_tails_across_count_commits_and_idle_spells(tmp_path: Path) -> None:
    """The timer keeps committing idle tails while count commits empty the pending
    records under it and the program alternates bursts and quiet."""
    h = CaptureHandler(tmp_path / "spells.capture", commit_every=50, commit_interval=0.05)
    log = log_to(h, "spells")
    total = 0
    for burst in (1, 120, 3, 50, 1):
        for _ in range(burst):
            total += 1
            log.info("record %d", total)
        deadline = time.monotonic() + 10
        while committed(h.baseFilename) < total:
            assert time.monotonic() < deadline, f"the timer left records pending after {total}"
            time.sleep(0.01)
    h.close()
    assert committed(h.baseFilename) == total


def test_should_commit_can_be_overridden(tmp_path: Path) -> None:
    """A subclass decides when to commit, as with MemoryHandler.shouldFlush."""

    class EveryOther(CaptureHandler):
        def shouldCommit(self, record: logging.LogRecord) -> bool:
            return record.msg == "commit now"

    h = EveryOther(tmp_path / "o.capture", commit_interval=None)
    log = log_to(h, "override")
    log.critical("not yet")
    assert committed(h.baseFilename) == 0
    log.info("commit now")
    assert committed(h.baseFilename) == 2
    h.close()


def test_refuses_a_file_that_is_not_a_capture_file(tmp_path: Path) -> None:
    """An existing non-capture file is reported, never overwritten."""
    path = tmp_path / "notes.txt"
    path.write_text("precious notes\n")
    with pytest.raises(InvalidCaptureFile, match="not a capture file"):
        CaptureHandler(path)
    assert path.read_text() == "precious notes\n"


def test_appends_to_an_existing_file_and_records_origin(tmp_path: Path) -> None:
    """A second handler on the same path appends; the metadata says who wrote."""
    path = tmp_path / "a.capture"
    for run in range(2):
        h = CaptureHandler(str(path))
        log_to(h, "append").info("run %d", run)
        h.close()
    with ReplayReader(path) as reader:
        assert [r.getMessage() for r in reader] == ["run 0", "run 1"]
    with CaptureFile(path) as cf:
        origin = unpack_data(cf.get_metadata() or b"")
    assert origin["pid"] == os.getpid()
    assert origin["schema"] == "capturelog/1"
    assert {"host", "program", "capturelog", "timezone", "utc_offset"} <= origin.keys()


def test_pid_in_the_file_name(tmp_path: Path) -> None:
    """{pid} in the name gives one file per process."""
    h = CaptureHandler(tmp_path / "app-{pid}.capture")
    assert h.baseFilename == str(tmp_path / f"app-{os.getpid()}.capture")
    h.close()


def test_program_under_python_c_is_python(tmp_path: Path) -> None:
    """{program} is "python" when there is no script (python -c), never "-c"."""
    code = (
        "import sys, logging\n"
        "from capturelog import CaptureHandler\n"
        "h = CaptureHandler(sys.argv[1] + '/app-{program}.capture')\n"
        "print(h.baseFilename)\n"
        "h.close()\n"
    )
    result = run_script(code, str(tmp_path))
    assert result.stdout.strip() == str(tmp_path / "app-python.capture")


def test_a_new_file_is_small(tmp_path: Path) -> None:
    """A file of a few records is its header and master nodes (86,016 bytes),
    of which only the used parts take space on disk."""
    h = CaptureHandler(tmp_path / "small.capture", commit_interval=None)
    log = log_to(h, "small")
    for i in range(3):
        log.warning("record %d", i)
    h.close()
    stat = os.stat(h.baseFilename)
    assert stat.st_size == 86016
    assert stat.st_blocks * 512 <= 32 * 1024
    with ReplayReader(h.baseFilename) as reader:
        assert [r.getMessage() for r in reader] == ["record 0", "record 1", "record 2"]


def test_an_empty_file_becomes_a_capture_file(tmp_path: Path) -> None:
    """An empty file (touch, logrotate's create) is taken as a new capture file,
    by the handler and by a writer, keeping its permissions; a reader refuses it."""
    path = tmp_path / "rotated.capture"
    path.touch()
    os.chmod(path, 0o640)
    with pytest.raises(InvalidCaptureFile, match="empty"):
        CaptureFile(path)
    h = CaptureHandler(path, commit_interval=None)
    log_to(h, "empty").info("into the empty file")
    h.close()
    assert os.stat(path).st_mode & 0o777 == 0o640
    with ReplayReader(path) as reader:
        assert [r.getMessage() for r in reader] == ["into the empty file"]
    other = tmp_path / "engine.capture"
    other.touch()
    with CaptureFile(other, to_write=True) as cf:
        cf.add_record("first")
        cf.commit()
    with CaptureFile(other) as cf:
        assert list(cf) == ["first"]


EMPTY_RACE = r"""
import logging, sys
from capturelog import CaptureHandler
sys.stdin.readline()  # all start together
h = CaptureHandler(sys.argv[1], commit_interval=None)
print(h.baseFilename, flush=True)
log = logging.getLogger("race")
log.addHandler(h)
log.warning("from %s", sys.argv[2])
h.close()
"""


def test_processes_starting_on_one_empty_file_lose_nothing(tmp_path: Path) -> None:
    """Four processes open the same empty file at once: one makes it a capture
    file, the others write beside it (name.<pid>), and no record is lost."""
    path = tmp_path / "shared.capture"
    path.touch()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", EMPTY_RACE, str(path), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    names = set()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        names.add(out.strip())
    assert str(path) in names
    messages = []
    for name in names:
        with ReplayReader(name) as reader:
            messages += [r.getMessage() for r in reader]
    assert sorted(messages) == [f"from {n}" for n in range(4)]


def test_missing_directories_are_made(tmp_path: Path) -> None:
    """A file in directories that do not exist yet: they are made."""
    path = tmp_path / "logs" / "app" / "x.capture"
    h = CaptureHandler(path, commit_interval=None)
    log_to(h, "dirs").info("made")
    h.close()
    with ReplayReader(path) as reader:
        assert reader[1].getMessage() == "made"


FAILED_HANDLERS = r"""
import sys
from capturelog import CaptureHandler
kept = []
for kwargs in ({"commit_level": "BOGUS"}, {"commit_every": 0}, {"compression_level": 12}):
    try:
        CaptureHandler(sys.argv[1], **kwargs)
    except ValueError as exc:
        kept.append(exc)  # the traceback keeps the half-made handler alive, if any
    else:
        raise SystemExit("accepted " + repr(kwargs))
try:
    CaptureHandler(sys.argv[2])
except Exception as exc:  # not a capture file
    kept.append(exc)
print(len(kept))
"""


def test_a_handler_that_fails_to_construct_leaves_nothing_behind(tmp_path: Path) -> None:
    """Bad arguments or a file that cannot be used raise, and nothing is left
    for logging.shutdown() to trip on at exit (no file made either)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a capture file\n")
    result = run_script(FAILED_HANDLERS, str(tmp_path / "bad.capture"), str(notes))
    assert result.stdout.strip() == "4"
    assert result.stderr == ""
    assert not (tmp_path / "bad.capture").exists()


def test_many_threads_lose_nothing(tmp_path: Path) -> None:
    """16 threads logging at once: every record is stored once."""
    h = CaptureHandler(tmp_path / "threads.capture", commit_every=37)
    log = log_to(h, "threads")
    barrier = threading.Barrier(16)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(500):
            log.info("%d-%d", n, i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    h.close()
    with ReplayReader(h.baseFilename) as reader:
        messages = [r.getMessage() for r in reader]
    assert sorted(messages) == sorted(f"{n}-{i}" for n in range(16) for i in range(500))


def test_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    """A child never writes the parent's file; each keeps its own records."""
    h = CaptureHandler(tmp_path / "fork.capture", commit_every=1000, commit_interval=None)
    log = log_to(h, "fork")
    log.info("parent before fork")  # pending (uncommitted) at the fork
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            log.info("child record")
            h.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    log.info("parent after fork")
    h.close()
    with ReplayReader(h.baseFilename) as reader:
        assert [r.getMessage() for r in reader] == ["parent before fork", "parent after fork"]
    child_file = tmp_path / f"fork.{pid}.capture"
    with ReplayReader(child_file) as reader:
        assert [r.getMessage() for r in reader] == ["child record"]
        assert reader[1].process == pid


def test_works_behind_a_queue_listener(tmp_path: Path) -> None:
    """QueueHandler -> QueueListener -> CaptureHandler delivers every record."""
    h = CaptureHandler(tmp_path / "q.capture")
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(q, h)
    listener.start()
    log = log_to(logging.handlers.QueueHandler(q), "queued")
    for i in range(100):
        log.info("queued %d", i)
    listener.stop()
    h.close()
    with ReplayReader(h.baseFilename) as reader:
        assert [r.getMessage() for r in reader] == [f"queued {i}" for i in range(100)]


def test_file_config(tmp_path: Path) -> None:
    """fileConfig can build the handler from args and kwargs."""
    ini = tmp_path / "logging.ini"
    path = tmp_path / "fc.capture"
    ini.write_text(
        textwrap.dedent(
            f"""
            [loggers]
            keys=root
            [handlers]
            keys=capture
            [formatters]
            keys=
            [logger_root]
            level=INFO
            handlers=capture
            [handler_capture]
            class=capturelog.CaptureHandler
            args=({str(path)!r},)
            kwargs={{"commit_every": 2, "commit_level": "WARNING"}}
            """
        )
    )
    code = (
        "import logging, logging.config, sys\n"
        "logging.config.fileConfig(sys.argv[1])\n"
        "logging.info('from fileConfig')\n"
    )
    run_script(code, str(ini))
    with ReplayReader(path) as reader:
        assert reader[1].getMessage() == "from fileConfig"


def test_a_full_disk_is_reported_once_and_logging_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With writes refused, emit stays silent after one report; records are kept and
    written once the disk takes them again."""
    h = CaptureHandler(tmp_path / "full.capture", commit_every=10, commit_interval=None)
    log = log_to(h, "full")
    log.info("before")
    h.flush()
    size = os.path.getsize(h.baseFilename)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        for i in range(3000):
            log.info("while full %d %s", i, os.urandom(200).hex())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1
    assert "File too large" in err
    log.info("after")
    h.close()
    err = capsys.readouterr().err
    assert "records were dropped" in err
    with ReplayReader(h.baseFilename) as reader:
        messages = [r.getMessage() for r in reader]
    assert messages[0] == "before" and messages[-1] == "after"
    # The backlog keeps the newest 10 * commit_every records.
    assert len(messages) >= 100
    assert messages[-2].startswith("while full 2999 ")


def test_a_vanished_directory_is_reported_and_logging_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Directory removed under an open handler: reported, then the file is made again."""
    directory = tmp_path / "logs"
    directory.mkdir()
    h = CaptureHandler(directory / "v.capture", commit_every=3, commit_interval=None)
    log = log_to(h, "vanish")
    log.info("one")
    h.flush()
    shutil.rmtree(directory)
    log.info("two")
    log.info("three")
    log.info("four")  # a commit: the file is gone and cannot be made again
    assert capsys.readouterr().err.count("--- Logging error ---") == 1
    directory.mkdir()
    log.info("five")
    h.flush()
    h.close()
    with ReplayReader(directory / "v.capture") as reader:
        assert [r.getMessage() for r in reader] == ["two", "three", "four", "five"]


def test_a_deleted_file_is_created_again(tmp_path: Path) -> None:
    """A file deleted (or rotated away) while open is recreated at the next commit."""
    h = CaptureHandler(tmp_path / "d.capture", commit_every=2, commit_interval=None)
    log = log_to(h, "deleted")
    log.info("a")
    log.info("b")
    os.rename(h.baseFilename, tmp_path / "rotated.capture")
    log.info("c")
    log.info("d")
    h.close()
    with ReplayReader(tmp_path / "rotated.capture") as reader:
        assert [r.getMessage() for r in reader] == ["a", "b"]
    with ReplayReader(h.baseFilename) as reader:
        assert [r.getMessage() for r in reader] == ["c", "d"]


KILLED = r"""
import logging, sys, time
from capturelog import CaptureHandler
h = CaptureHandler(sys.argv[1], commit_every=100000, commit_interval=0.2)
log = logging.getLogger("killed")
log.addHandler(h)
log.setLevel(logging.INFO)
n = 0
start = time.monotonic()
while time.monotonic() - start < 1.0:
    n += 1
    if n % 250 == 0:
        log.error("error %d", n)
        print("error", n, flush=True)
    else:
        log.info("info %d", n)
    if n % 50 == 0:
        print("logged", n, time.monotonic(), flush=True)
log.info("idle tail %d", n + 1)
print("idle", n + 1, time.monotonic(), flush=True)
time.sleep(60)
"""


def test_sigkill_keeps_old_records_errors_and_the_idle_tail(tmp_path: Path) -> None:
    """Killed with SIGKILL: records older than one commit interval, every ERROR
    that was logged, and the tail logged before going idle are all there."""
    path = tmp_path / "killed.capture"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    lines = []
    for line in child.stdout:
        lines.append(line.split())
        if line.startswith("idle"):
            break
    idle_at = float(lines[-1][2])
    # Wait out two commit intervals of idleness, then kill.
    time.sleep(max(0.0, idle_at + 0.6 - time.monotonic()))
    child.send_signal(signal.SIGKILL)
    child.wait()
    with ReplayReader(path) as reader:
        messages = [r.getMessage() for r in reader]
    total = int(lines[-1][1])
    assert messages[-1] == f"idle tail {total}"
    assert len(messages) == total
    errors = {f"error {line[1]}" for line in lines if line[0] == "error"}
    assert errors and errors <= set(messages)


def test_sigkill_while_busy_keeps_everything_older_than_an_interval(tmp_path: Path) -> None:
    """Killed mid-stream: every record logged more than one commit interval (plus
    scheduling slack) before the kill is there, and so is every ERROR."""
    path = tmp_path / "busy.capture"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    lines: list[list[str]] = []
    for line in child.stdout:
        lines.append(line.split())
        logged = [float(fields[2]) for fields in lines if fields[0] == "logged"]
        if logged and logged[-1] - logged[0] > 0.8:  # well into the stream
            break
    killed_at = time.monotonic()
    child.send_signal(signal.SIGKILL)
    lines += [line.split() for line in child.stdout]
    child.wait()
    with ReplayReader(path) as reader:
        messages = [r.getMessage() for r in reader]
    old = [
        int(line[1]) for line in lines if line[0] == "logged" and float(line[2]) < killed_at - 0.5
    ]
    assert old, "the child logged nothing long enough before the kill"
    assert len(messages) >= max(old)
    assert messages[: max(old)] == [
        f"error {n}" if n % 250 == 0 else f"info {n}" for n in range(1, max(old) + 1)
    ]
    errors = {f"error {line[1]}" for line in lines if line[0] == "error"}
    assert errors <= set(messages)


def test_handle_returns_and_filters_as_logging_handlers_do(tmp_path: Path) -> None:
    """handle() is logging's, in fewer calls when there are no filters: the
    same return value as a stdlib handler's (the record from 3.12, True
    before), filters that drop records drop them, and (3.12+) a filter that
    returns a new record has that record stored."""
    handler = CaptureHandler(tmp_path / "h.capture", commit_interval=None)
    plain = logging.StreamHandler(io.StringIO())

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("h", logging.INFO, __file__, 1, msg, None, None)

    first = record("no filters")
    assert handler.handle(first) == plain.handle(first)
    assert (handler.handle(first) is first) == (sys.version_info >= (3, 12))

    for h in (handler, plain):
        h.addFilter(lambda r: "drop" not in r.getMessage())
    dropped = record("drop me")
    assert handler.handle(dropped) == plain.handle(dropped) == False  # noqa: E712
    if sys.version_info >= (3, 12):
        handler.addFilter(lambda r: record(r.getMessage() + ", rewritten"))
    kept = record("kept")
    assert bool(handler.handle(kept))
    handler.close()
    messages = [r.getMessage() for r in ReplayReader(tmp_path / "h.capture")]
    rewritten = ", rewritten" if sys.version_info >= (3, 12) else ""
    assert messages == ["no filters", "no filters", "kept" + rewritten]
