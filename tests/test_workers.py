"""Worker processes: what children log is committed, forks leave no thread of ours behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from capturelog import ReplayReader

# A program configured as the user did: a handler made at import, one
# file per process. Spawned and forkserver children import this module again
# (and so make their own handler); forked ones inherit the parent's. The long
# commit interval keeps the timer from committing anything during the test:
# only the ends of the processes can.
APP = r'''
import concurrent.futures, logging, multiprocessing, os, sys, threading
from capturelog import CaptureHandler

handler = CaptureHandler(os.path.join(sys.argv[1], "app-{pid}.capture"), commit_interval=3600)
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)


def task(tag):
    for i in range(5):
        logging.getLogger("work").info("%s record %d", tag, i)
    return os.getpid()


def late_task(tag):
    """Logs from a thread that the child's exit joins, released as that join
    begins (as concurrent.futures releases its own threads): up to Python
    3.12 that is after multiprocessing's exit finalizers, ours included."""
    go = threading.Event()
    threading._register_atexit(go.set)

    def late():
        go.wait()
        logging.getLogger("work").info("%s from a thread joined at exit", tag)

    threading.Thread(target=late).start()
    task(tag)


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[2])
    logging.info("parent before the children")  # pending at every fork
    processes = [ctx.Process(target=task, args=(f"process-{n}",)) for n in range(2)]
    processes.append(ctx.Process(target=late_task, args=("late",)))
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        assert process.exitcode == 0, process.exitcode
    with ctx.Pool(2) as pool:
        pool.map(task, [f"pool-{n}" for n in range(4)], chunksize=1)
        pool.close()  # before leaving the block, which would SIGTERM the workers
        pool.join()
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
        list(executor.map(task, [f"executor-{n}" for n in range(3)]))
    logging.info("parent after the children")
'''

# capturelog imported only in the workers, by a Pool initializer: no fork hook
# of ours ran in the parent.
INITIALIZER = r'''
import logging, multiprocessing, os, sys


def setup(directory):
    from capturelog import CaptureHandler

    handler = CaptureHandler(os.path.join(directory, "worker-{pid}.capture"), commit_interval=3600)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)


def task(tag):
    for i in range(5):
        logging.getLogger("work").info("%s record %d", tag, i)


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[2])
    assert "capturelog" not in sys.modules
    with ctx.Pool(2, initializer=setup, initargs=(sys.argv[1],)) as pool:
        pool.map(task, [f"pool-{n}" for n in range(4)], chunksize=1)
        pool.close()
        pool.join()
'''

METHODS = ["fork", "forkserver", "spawn"]


def run_app(tmp_path: Path, code: str, method: str) -> Path:
    script = tmp_path / "app.py"
    script.write_text(code)
    logs = tmp_path / "logs"
    logs.mkdir()
    result = subprocess.run(
        [sys.executable, str(script), str(logs), method],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return logs


def records_by_process(logs: Path) -> dict[str, int]:
    """Every stored message, mapped to the process that logged it, checking
    that each is in the file named for that process."""
    found: dict[str, int] = {}
    for path in sorted(logs.glob("*.capture")):
        match = re.search(r"-(\d+)\.capture$", path.name)
        assert match, path.name
        with ReplayReader(path) as reader:
            for record in reader:
                assert record.process == int(match.group(1)), path.name
                message = record.getMessage()
                assert message not in found, f"{message!r} stored twice"
                found[message] = record.process
    return found


@pytest.mark.parametrize("method", METHODS)
def test_every_record_of_every_worker_is_committed(tmp_path: Path, method: str) -> None:
    """Process, Pool and ProcessPoolExecutor workers of each start method keep
    every record they logged, a thread joined at their exit included."""
    found = records_by_process(run_app(tmp_path, APP, method))
    tags = [f"process-{n}" for n in range(2)] + [f"pool-{n}" for n in range(4)]
    tags += [f"executor-{n}" for n in range(3)] + ["late"]
    expected = {f"{tag} record {i}" for tag in tags for i in range(5)}
    expected |= {"late from a thread joined at exit"}
    assert expected <= found.keys(), sorted(expected - found.keys())
    parent = {found["parent before the children"], found["parent after the children"]}
    assert len(parent) == 1
    assert parent.isdisjoint(found[message] for message in expected)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_handler_made_by_a_pool_initializer_commits_at_exit(
    tmp_path: Path, method: str
) -> None:
    """capturelog imported only in the workers (a Pool initializer): their
    records are committed all the same."""
    found = records_by_process(run_app(tmp_path, INITIALIZER, method))
    assert set(found) == {f"pool-{n} record {i}" for n in range(4) for i in range(5)}


FORKED = r"""
import logging, os, sys
from capturelog import CaptureHandler

handler = CaptureHandler(sys.argv[1], commit_interval=3600)
log = logging.getLogger("forked")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.info("parent")
pid = os.fork()
if pid == 0:
    for i in range(3):
        log.info("child %d", i)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print(pid)
"""


def test_a_forked_child_ending_with_sys_exit_keeps_its_records(tmp_path: Path) -> None:
    """A plain os.fork() child that ends with sys.exit commits what it logged."""
    path = tmp_path / "forked.capture"
    result = subprocess.run(
        [sys.executable, "-c", FORKED, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    child = int(result.stdout)
    with ReplayReader(tmp_path / f"forked.{child}.capture") as reader:
        assert [r.getMessage() for r in reader] == ["child 0", "child 1", "child 2"]
    with ReplayReader(path) as reader:
        assert [r.getMessage() for r in reader] == ["parent"]


# What Python 3.12+ looks at to warn that a fork "may lead to deadlocks": the
# number of threads the OS counts in the parent right after the fork (Linux:
# field 20 of /proc/self/stat). Read at the same moment here, so that the test
# means something on 3.10 and 3.11 as well; on 3.12+ the warning itself is
# looked for too (shown always; "error" would not do: CPython clears it).
THREADS_AT_FORK = r"""
import logging, os, sys, threading, time
from capturelog import CaptureFile, CaptureHandler

def os_threads():
    with open("/proc/self/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[17])

handler = CaptureHandler(sys.argv[1], commit_interval=float(sys.argv[2]))
log = logging.getLogger("threads")
log.addHandler(handler)
log.setLevel(logging.INFO)
for round in range(3):
    log.info("before fork %d", round)
    assert threading.active_count() == 2  # the commit timer runs: a record is pending
    pid = os.fork()
    if pid == 0:
        os._exit(0 if os_threads() == 1 else 3)
    # A thread joined before the fork can take a moment more to leave the
    # OS's count (it is still unwinding in the kernel): give it that moment.
    deadline = time.monotonic() + 1.0
    while (parent_threads := os_threads()) > 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"the child had threads: {status}"
    assert parent_threads == 1, f"{parent_threads} threads in the parent after the fork"
    with CaptureFile(sys.argv[1]) as cf:  # committed before the fork, not left pending
        assert cf.record_count() == 2 * round + 1
    # Logging on after the fork starts the timer again: the idle tail is committed.
    log.info("after fork %d", round)
    deadline = time.monotonic() + 30
    while True:
        with CaptureFile(sys.argv[1]) as cf:
            if cf.record_count() == 2 * round + 2:
                break
        assert time.monotonic() < deadline, "the timer did not come back after the fork"
        time.sleep(0.01)
print("ok")
"""


def test_a_fork_copies_no_thread_of_ours_and_the_timer_comes_back(tmp_path: Path) -> None:
    """With the commit timer running and a record pending, os.fork() leaves the
    parent and the child with one thread each (no Python 3.12 fork warning):
    the record is committed and the timer stopped before the fork, and started
    again by the next record."""
    path = tmp_path / "threads.capture"
    command = [sys.executable, "-W", "always::DeprecationWarning", "-c", THREADS_AT_FORK]
    result = subprocess.run(
        [*command, str(path), "0.05"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "multi-threaded" not in result.stderr


# Forks while other threads keep capturelog's locks busy: the handler's (a
# thread logging, each record a commit, and the timer), the engine's registry
# of writers (a thread opening and closing a writer). A fork that copied one of
# them held would hang the child; one that waited for one in a fork hook could
# hang the parent.
FORK_STRESS = r"""
import logging, os, sys, threading
from capturelog import CaptureFile, CaptureHandler

directory = sys.argv[1]
handler = CaptureHandler(
    os.path.join(directory, "stress.capture"), commit_every=1, commit_interval=0.001
)
log = logging.getLogger("stress")
log.addHandler(handler)
log.setLevel(logging.INFO)
stop = threading.Event()

def keep_logging():
    n = 0
    while not stop.is_set():
        n += 1
        log.info("busy %d", n)

def keep_opening():
    while not stop.is_set():
        with CaptureFile(os.path.join(directory, "engine.capture"), to_write=True) as cf:
            cf.add_record("x")
            cf.commit()

threads = [threading.Thread(target=keep_logging), threading.Thread(target=keep_opening)]
for thread in threads:
    thread.start()
children = []
for i in range(40):
    pid = os.fork()
    if pid == 0:
        log.info("child %d", i)
        with CaptureFile(os.path.join(directory, f"engine-{i}.capture"), to_write=True) as cf:
            cf.add_record("child")
            cf.commit()
        sys.exit(0)
    children.append(pid)
stop.set()
for thread in threads:
    thread.join()
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    print(pid)
"""


def test_forks_amid_busy_threads_never_hang(tmp_path: Path) -> None:
    """Forking while threads hold the handler's lock, the timer commits and the
    engine opens writers: every fork and child completes, every child's record kept."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORK_STRESS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    children = [int(line) for line in result.stdout.split()]
    assert len(children) == 40
    for i, pid in enumerate(children):
        with ReplayReader(tmp_path / f"stress.{pid}.capture") as reader:
            assert [r.getMessage() for r in reader] == [f"child {i}"]
