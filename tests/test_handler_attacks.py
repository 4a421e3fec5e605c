"""CaptureHandler under attack: signal handlers and reprs that log, RecursionError, full
disks, huge records and rival writers of one file, all with real processes and files."""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureHandler, ReplayReader
from capturelog._verify import verify

# What the handler prints when it had to drop records logged re-entrantly.
REENTRANT_DROPS = re.compile(r"^capturelog: .*: (\d+) records logged re-entrantly .* were dropped$")


def start(code: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def finish(child: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"the child hung (no exit in {timeout} s)")
    return out, err


def messages(path: str | Path) -> list[str]:
    with ReplayReader(path) as reader:
        return [record.getMessage() for record in reader]


def assert_sound(path: str | Path) -> None:
    report = verify(str(path))
    assert report.sound, report.problems[:3]


def reentrant_drops(stderr: str) -> int:
    """The records the child reported dropped; fails on anything else on stderr."""
    dropped = 0
    for line in stderr.splitlines():
        match = REENTRANT_DROPS.match(line)
        assert match, f"unexpected output on stderr:\n{stderr[-3000:]}"
        dropped += int(match.group(1))
    return dropped


# --------------------------------------------------------------- signal handlers that log

SIGNALLED = r"""
import faulthandler, logging, random, signal, sys
faulthandler.dump_traceback_later(25, exit=True)  # a hang shows where
from capturelog import CaptureHandler

path, seed, mode, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
# Small enough that commits (by count, by level, by the timer thread, by flush)
# are under way most of the time.
h = CaptureHandler(path, commit_every=5, commit_interval=0.002)
main = logging.getLogger("main")
sig = logging.getLogger("sig")
for logger in (main, sig):
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    logger.propagate = False
current = -1
fired = 0
stopping = False

def on_alarm(signum, frame):
    global fired
    n = fired
    fired += 1  # before logging: a signal handler can be interrupted by the next one
    sig.warning("signal %d during %d", n, current)
    if mode == "random" and not stopping:
        signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, 3e-4))

signal.signal(signal.SIGALRM, on_alarm)
if mode == "interval":
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
else:
    signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, 3e-4))
for i in range(count):
    current = i
    if i % 97 == 0:
        main.error("main %d", i)
    else:
        main.info("main %d", i)
    if i % 500 == 0:
        h.flush()
stopping = True
signal.setitimer(signal.ITIMER_REAL, 0)
logging.shutdown()
print(fired)
"""

MAIN_RECORDS = 3000


def check_signalled(path: Path, out: str, err: str, returncode: int) -> None:
    assert returncode == 0, err[-3000:]
    dropped = reentrant_drops(err)
    fired = int(out.strip())
    assert_sound(path)
    got = messages(path)
    assert [m for m in got if m.startswith("main ")] == [f"main {i}" for i in range(MAIN_RECORDS)]
    position = {m: k for k, m in enumerate(got)}
    signals = [m for m in got if m.startswith("signal ")]
    numbers = [int(m.split()[1]) for m in signals]
    assert len(set(numbers)) == len(numbers), "a signal's record was stored twice"
    assert set(numbers) <= set(range(fired))
    assert fired - len(numbers) == dropped, "records lost without being reported"
    for m in signals:
        # Logged while the main thread was at record `during`: it lands after the
        # record before and before the record after (right after `during` when
        # it interrupted the handling of `during`).
        during = int(m.split()[3])
        assert position.get(f"main {during - 1}", -1) < position[m], m
        assert position[m] < position.get(f"main {during + 1}", len(got)), m


@pytest.mark.parametrize(("mode", "runs"), [("random", 8), ("interval", 4)])
def test_signal_handlers_that_log_keep_every_record_and_a_sound_file(
    tmp_path: Path, mode: str, runs: int
) -> None:
    """SIGALRM handlers log while the main thread logs and commits (at random instants,
    and every 0.5 ms): the file is sound, every main record is there once and in
    order, every signal's record is there once and in place, or reported dropped."""
    for first in range(0, runs, 2):  # two at a time: the machine has two cores
        children = []
        for run in range(first, min(first + 2, runs)):
            path = tmp_path / f"{mode}-{run}.capture"
            code = (SIGNALLED, str(path), str(run), mode, str(MAIN_RECORDS))
            children.append((path, start(*code)))
        for path, child in children:
            out, err = finish(child)
            check_signalled(path, out, err, child.returncode)


TERMINATED = r"""
import faulthandler, logging, signal, sys
faulthandler.dump_traceback_later(25, exit=True)  # a hang shows where
from capturelog import CaptureHandler

h = CaptureHandler(sys.argv[1], commit_every=int(sys.argv[2]), commit_interval=0.002)
log = logging.getLogger("main")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
current = -1

def on_term(signum, frame):
    log.warning("terminated during %d", current)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
for i in range(10_000_000):
    current = i
    if i % 97 == 0:
        log.error("main %d", i)
    else:
        log.info("main %d", i)
    if i == 100:
        print("logging", flush=True)
"""


def test_a_sigterm_handler_that_logs_and_exits_keeps_its_record(tmp_path: Path) -> None:
    """SIGTERM at a random instant, its handler logging "terminated" and calling
    sys.exit(0): logging.shutdown at exit commits that record after every record
    logged before it, each once, into a sound file, and nothing reaches stderr."""
    rng = random.Random(8)
    for first in range(0, 24, 2):
        children = []
        for run in range(first, first + 2):
            path = tmp_path / f"term-{run}.capture"
            # Commits at every record or nearly: the signal lands in one most often.
            child = start(TERMINATED, str(path), str(1 + run % 3))
            children.append((path, child))
        for _, child in children:
            assert child.stdout is not None
            assert child.stdout.readline() == "logging\n"
        for _, child in children:
            time.sleep(rng.uniform(0, 0.04))  # a random instant, not a synchronisation
            child.send_signal(signal.SIGTERM)
        for path, child in children:
            _, err = finish(child)
            assert child.returncode == 0, err[-3000:]
            assert err == ""
            assert_sound(path)
            got = messages(path)
            ends = [k for k, m in enumerate(got) if m.startswith("terminated during ")]
            assert len(ends) == 1, f"{len(ends)} 'terminated' records"
            during = int(got[ends[0]].split()[-1])
            logged = [m for m in got if m.startswith("main ")]
            # The record being logged when the signal came may be there or not.
            want = [f"main {i}" for i in range(during)]
            assert logged in (want, [*want, f"main {during}"])
            assert got.index(f"main {during - 1}") < ends[0]


# --------------------------------------------------------------- reprs that log


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[CaptureHandler]:
    h = CaptureHandler(tmp_path / "h.capture", commit_every=5, commit_interval=None)
    yield h
    h.close()


def log_to(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def test_a_repr_that_logs_is_stored_after_the_record_it_interrupted(
    handler: CaptureHandler,
) -> None:
    """A record logged from inside a logged argument's __repr__ is stored right
    after the record being logged, not in the middle of it."""
    log = log_to(handler, "reentry.order")

    class Chatty:
        def __repr__(self) -> str:
            log.info("from inside repr")
            return "<Chatty>"

    log.info("before")
    log.info("outer %r", Chatty())
    log.info("after")
    handler.flush()
    got = messages(handler.baseFilename)
    assert got[:2] == ["before", "outer <Chatty>"]
    assert got[-1] == "after"
    assert set(got[2:-1]) == {"from inside repr"}  # once per call of repr
    assert_sound(handler.baseFilename)


def test_a_repr_that_logs_itself_ends_bounded_and_reported(
    handler: CaptureHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    """A __repr__ that logs its own object: the logging call returns, a bounded
    number of records is stored, the rest are counted on stderr, the file is sound."""
    log = log_to(handler, "reentry.loop")

    class Recursive:
        def __repr__(self) -> str:
            log.info("again %r", self)
            return "<Recursive>"

    log.info("start %r", Recursive())
    log.info("after")
    handler.flush()
    err = capsys.readouterr().err
    dropped = reentrant_drops(err)
    assert dropped > 0
    got = messages(handler.baseFilename)
    assert got[0] == "start <Recursive>" and got[-1] == "after"
    assert 1 < len(got) <= 1002
    assert_sound(handler.baseFilename)


def test_flush_and_close_from_inside_the_handler_run_after_the_record(
    handler: CaptureHandler,
) -> None:
    """flush() or close() called while the handler is storing a record (as a signal
    handler may) happens once that record is stored: nothing is lost or torn."""
    log = log_to(handler, "reentry.close")

    class Flushes:
        def __repr__(self) -> str:
            handler.flush()
            return "<Flushes>"

    class Closes:
        def __repr__(self) -> str:
            handler.close()
            return "<Closes>"

    log.info("one %r", Flushes())
    assert messages(handler.baseFilename) == ["one <Flushes>"]  # flushed after it
    log.info("two %r", Closes())
    log.info("after close: ignored")
    assert messages(handler.baseFilename) == ["one <Flushes>", "two <Closes>"]
    assert_sound(handler.baseFilename)


# --------------------------------------------------------------- RecursionError


def test_recursion_error_in_emit_does_not_reach_the_application(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A RecursionError inside emit (here from shouldCommit) is reported through
    handleError and logging goes on; a handleError that raises is contained too."""

    class Deep(CaptureHandler):
        def shouldCommit(self, record: logging.LogRecord) -> bool:
            if record.msg == "deep":
                raise RecursionError("maximum recursion depth exceeded")
            return super().shouldCommit(record)

    h = Deep(tmp_path / "deep.capture", commit_every=1, commit_interval=None)
    log = log_to(h, "recursion")
    log.info("deep")  # must not raise
    assert "RecursionError" in capsys.readouterr().err
    log.info("then %d", 1)

    class Raises(Deep):
        def handleError(self, record: logging.LogRecord) -> None:
            raise RecursionError("while reporting")

    r = Raises(tmp_path / "raises.capture", commit_every=1, commit_interval=None)
    log_to(r, "recursion.raises").info("deep")  # must not raise either
    log_to(r, "recursion.raises").info("then %d", 2)
    h.close()
    r.close()
    assert messages(h.baseFilename)[-1] == "then 1"
    assert messages(r.baseFilename)[-1] == "then 2"


DEEP = r"""
import logging, sys, traceback
import capturelog.handler
from capturelog import CaptureHandler

h = CaptureHandler(sys.argv[1], commit_every=1, commit_interval=None)
log = logging.getLogger("deep")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
escaped = 0

def dive(n):
    global escaped
    try:
        dive(n + 1)
    except RecursionError:
        pass
    try:
        log.info("depth %d", n)
    except RecursionError as exc:
        # Raised in logging's own frames before emit (or on entering it) is out
        # of the handler's hands; from within its code, it must not come.
        frames = traceback.extract_tb(exc.__traceback__)
        escaped += any(f.filename == capturelog.handler.__file__ for f in frames)

for limit in range(150, 200):
    sys.setrecursionlimit(limit)
    dive(0)
sys.setrecursionlimit(1000)
log.info("after")
h.close()
print(escaped)
"""


def test_logging_at_the_recursion_limit_never_raises_from_inside_emit(tmp_path: Path) -> None:
    """Records logged at every depth near the recursion limit: no RecursionError
    comes out of the handler's own code, and the file stays sound."""
    path = tmp_path / "limit.capture"
    child = start(DEEP, str(path))
    out, err = finish(child, timeout=60)
    assert child.returncode == 0, err[-3000:]
    assert out.split() == ["0"], "RecursionErrors escaped from within CaptureHandler.emit"
    # (Whether "after" is stored depends on the engine: a RecursionError that cuts
    # CaptureFile.close() short at the limit can leave the file locked.)
    for name in tmp_path.glob("*.capture"):
        assert_sound(name)


# --------------------------------------------------------------- a full disk

FULL = r"""
import logging, resource, signal, sys, time
from capturelog import CaptureFile, CaptureHandler

INTERVAL = 0.05
h = CaptureHandler(sys.argv[1], commit_every=1000, commit_interval=INTERVAL)
log = logging.getLogger("full")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

def committed():
    with CaptureFile(h.baseFilename) as cf:
        return cf.record_count()

def refuse_writes():
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # nothing past the header page

def allow_writes():
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

log.info("before")
h.flush()
refuse_writes()
log.error("an error while full")  # the logging path meets the failure first
time.sleep(10 * INTERVAL)          # time passing is the point: the timer tries again and again
h.flush()
sys.stderr.write("WRITES WORK AGAIN\n")
allow_writes()
deadline = time.monotonic() + 10
while committed() < 2:             # the timer writes what was kept
    assert time.monotonic() < deadline, "the timer never wrote the backlog"
    time.sleep(INTERVAL)
refuse_writes()
log.error("a second failure")      # writing worked in between: reported again
time.sleep(5 * INTERVAL)
h.close()
allow_writes()
"""


def test_a_full_disk_is_reported_once_until_writing_works_again(tmp_path: Path) -> None:
    """Writes refused (RLIMIT_FSIZE) across a logged error, ten timer intervals and a
    flush: one report; writing works again, then fails across the timer and close():
    one more report."""
    child = start(FULL, str(tmp_path / "full.capture"))
    _, err = finish(child)
    assert child.returncode == 0, err[-3000:]
    first, second = err.split("WRITES WORK AGAIN\n")
    assert first.count("--- Logging error ---") == 1, first[-3000:]
    assert "File too large" in first
    assert second.count("--- Logging error ---") == 1, second[-3000:]
    assert messages(tmp_path / "full.capture") == ["before", "an error while full"]


# --------------------------------------------------------------- large records

BIG = r"""
import logging, resource, signal, sys
from capturelog import CaptureHandler

SIZE = 200_000
h = CaptureHandler(sys.argv[1], commit_every=1000, commit_interval=None)
log = logging.getLogger("big")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
h.handleError = lambda record: sys.stderr.write("REPORTED\n")  # not the 200 KB argument
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
log.info("before")
h.flush()
filler = "x" * SIZE
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
most = 0
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
for i in range(1000):
    log.info("big %04d %s", i, filler)
    most = max(most, h.pending_count)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown) * 1024
log.info("after")
h.close()
print(most, grown)
"""


def test_the_backlog_under_a_full_disk_is_bounded_in_bytes(tmp_path: Path) -> None:
    """1,000 records of 200 KB while writes are refused (200 MB; the count bound
    alone would keep them all): the backlog stays near 64 MiB, the newest are written
    once writing works, and the number dropped is reported."""
    path = tmp_path / "big.capture"
    child = start(BIG, str(path))
    out, err = finish(child, timeout=60)
    assert child.returncode == 0, err[-3000:]
    most, grown = (int(field) for field in out.split())
    record = 200_100  # about: the argument and the rest of the record
    # 64 MiB, plus up to 63 records between two checks (sizes are added up
    # every 64 records, not per record).
    assert most * record <= (64 << 20) + 64 * record, most
    assert grown < 128 << 20, f"memory grew by {grown / 2**20:.0f} MiB"
    assert err.count("REPORTED") == 1
    dropped = int(re.search(r"(\d+) records were dropped", err).group(1))  # type: ignore[union-attr]
    got = messages(path)
    kept = [m[:8] for m in got[1:-1]]
    assert got[0] == "before" and got[-1] == "after"
    assert kept == [f"big {i:04d}" for i in range(dropped, 1000)]


def test_large_records_are_committed_before_commit_every(tmp_path: Path) -> None:
    """A healthy handler does not hold commit_every huge records: past about 8 MiB
    pending it commits, so memory stays bounded and records reach the disk early."""
    h = CaptureHandler(tmp_path / "large.capture", commit_every=1000, commit_interval=None)
    log = log_to(h, "large")
    filler = "y" * 200_000
    most = 0
    for i in range(300):
        log.info("large %d %s", i, filler)
        most = max(most, h.pending_count)
    with CaptureFile(h.baseFilename) as cf:
        assert cf.record_count() >= 300 - most > 0
    assert most * 200_000 <= (8 << 20) + 64 * 200_100, most
    h.close()
    assert [m[:9] for m in messages(h.baseFilename)][-1] == "large 299"
    assert len(messages(h.baseFilename)) == 300


# --------------------------------------------------------------- rival writers

RIVAL = r"""
import logging, os, sys
from capturelog import CaptureHandler, ReplayReader

path, delay = sys.argv[1], sys.argv[2] == "delay"
print("ready", flush=True)
sys.stdin.read(1)  # both processes are released by one write to each
h = CaptureHandler(path, commit_every=50, commit_interval=None, delay=delay)
log = logging.getLogger("rival")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
pid = os.getpid()
for i in range(300):
    log.info("%d info %d", pid, i)
log.error("%d error", pid)
with ReplayReader(h.baseFilename) as reader:  # error() returned: it is committed
    assert reader[-1].getMessage() == f"{pid} error", "the error was not committed"
for i in range(300, 600):
    log.info("%d info %d", pid, i)
logging.shutdown()
print(h.baseFilename, flush=True)
"""


@pytest.mark.parametrize("delay", ["now", "delay"])
def test_two_processes_on_one_file_both_keep_every_record(tmp_path: Path, delay: str) -> None:
    """Two processes open the same (new) file at the same instant: one gets it, the
    other writes app.<pid>.capture, and every record of each is in its file once,
    in order, with each ERROR committed by the time error() returned."""
    path = tmp_path / "app.capture"
    children = [start(RIVAL, str(path), delay, stdin=subprocess.PIPE) for _ in range(2)]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go")
        child.stdin.flush()  # communicate() closes it
    used = set()
    for child in children:
        out, err = finish(child)
        assert child.returncode == 0, err[-3000:]
        assert err == ""
        used.add(out.strip())
    beside = {str(tmp_path / f"app.{child.pid}.capture") for child in children}
    assert str(path) in used and len(used & beside) == 1
    for child in children:
        want = [f"{child.pid} info {i}" for i in range(300)] + [f"{child.pid} error"]
        want += [f"{child.pid} info {i}" for i in range(300, 600)]
        found = [
            [m for m in messages(name) if m.startswith(f"{child.pid} ")] for name in sorted(used)
        ]
        assert sorted(found, key=len) == [[], want]


def test_a_second_handler_on_a_name_writes_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In one process: a second handler on a name in use writes name.<pid>; a third
    finds both held, reports once and keeps its records until it can write."""
    path = tmp_path / "same.capture"
    first = CaptureHandler(path, commit_every=1, commit_interval=None)
    second = CaptureHandler(path, commit_every=1, commit_interval=None)
    beside = str(tmp_path / f"same.{os.getpid()}.capture")
    assert first.baseFilename == str(path)
    assert second.baseFilename == beside
    third = CaptureHandler(path, commit_every=1, commit_interval=None, delay=True)
    log_to(first, "same.1").info("first")
    log_to(second, "same.2").info("second")
    for i in range(3):
        log_to(third, "same.3").info("third %d", i)  # both names held: kept, reported
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1
    assert "already open for writing" in err
    assert third.pending_count == 3
    second.close()
    log_to(third, "same.3").info("third 3")
    third.close()
    first.close()
    assert messages(path) == ["first"]
    assert messages(beside) == ["second", "third 0", "third 1", "third 2", "third 3"]


THREADED = r"""
import faulthandler, logging, signal, sys, threading
faulthandler.dump_traceback_later(25, exit=True)  # a hang shows where
from capturelog import CaptureHandler

h = CaptureHandler(sys.argv[1], commit_every=7, commit_interval=0.001)
log = logging.getLogger("threads")
log.addHandler(h)
log.setLevel(logging.INFO)
log.propagate = False
fired = 0

def on_alarm(signum, frame):
    global fired
    n = fired
    fired += 1
    log.warning("alarm %d", n)

def work():
    for i in range(3000):
        log.info("worker %d", i)

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
worker = threading.Thread(target=work)
worker.start()
for i in range(3000):
    log.info("main %d", i)
worker.join()
signal.setitimer(signal.ITIMER_REAL, 0)
h.close()
print(fired)
"""


def test_the_timer_thread_a_worker_and_signals_share_the_handler(tmp_path: Path) -> None:
    """A worker thread logs and the timer thread commits while the main thread's
    signal handler logs every 0.5 ms: a signal handler never runs inside another
    thread's work (it waits for the lock); every record is stored once, in order."""
    path = tmp_path / "threads.capture"
    child = start(THREADED, str(path))
    out, err = finish(child)
    assert child.returncode == 0, err[-3000:]
    dropped = reentrant_drops(err)
    fired = int(out.split()[-1])
    assert_sound(path)
    got = messages(path)
    assert [m for m in got if m.startswith("main ")] == [f"main {i}" for i in range(3000)]
    assert [m for m in got if m.startswith("worker ")] == [f"worker {i}" for i in range(3000)]
    alarms = [int(m.split()[1]) for m in got if m.startswith("alarm ")]
    assert len(set(alarms)) == len(alarms) and set(alarms) <= set(range(fired))
    assert fired - len(alarms) == dropped
