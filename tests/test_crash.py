"""Writers killed with SIGKILL leave a file at a whole commit; writers exclude each other."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureFileAlreadyOpen

WRITER = r"""
import sys
from capturelog import CaptureFile

path, durable = sys.argv[1], sys.argv[2] == "1"
cf = CaptureFile(path, to_write=True, durable=durable)
n = cf.record_count()
print("start", n, flush=True)
batch = 0
while True:
    batch += 1
    for _ in range(1 + batch * 37 % 300):
        n += 1
        cf.add_record(f"{n}:" + "x" * (n * 7919 % 700) + ("B" * 40000 if n % 997 == 0 else ""))
    cf.set_metadata(str(n).encode())
    cf.commit()
    print(n, flush=True)
"""


def record(n: int) -> str:
    return f"{n}:" + "x" * (n * 7919 % 700) + ("B" * 40000 if n % 997 == 0 else "")


def run_and_kill(path: Path, delay: float, durable: bool) -> tuple[int, int]:
    """Start a writer, SIGKILL it after ``delay`` seconds; return (count at start,
    last count it reported committed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "1" if durable else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    first = child.stdout.readline().split()
    assert first[0] == "start"
    time.sleep(delay)  # picks the instant of the kill; nothing waits on it
    child.send_signal(signal.SIGKILL)
    lines = child.stdout.read().split()
    child.wait()
    last = int(lines[-1]) if lines else int(first[1])
    return int(first[1]), last


@pytest.mark.parametrize("durable", [False, True])
def test_sigkill_at_any_instant_leaves_the_last_commit(tmp_path: Path, durable: bool) -> None:
    """After each kill the file holds exactly the reported commits (or the one in
    flight, whole), its metadata matches, and the next writer appends from there."""
    path = tmp_path / "crash.capture"
    CaptureFile(path, to_write=True).close()
    rng = random.Random(1234 + durable)
    for _ in range(12):
        start, reported = run_and_kill(path, rng.uniform(0.0, 0.25), durable)
        with CaptureFile(path) as cf:
            count = cf.record_count()
            assert count >= reported >= start
            # The commit in flight may have landed whole; never a part of one.
            assert cf.get_metadata() == (str(count).encode() if count else None)
            for n in {1, count // 2, max(start, 1), count}:
                if n:
                    assert cf.record_at(n) == record(n)
            tail = list(cf.record_generator(max(1, start - 5)))
            assert tail == [record(n) for n in range(max(1, start - 5), count + 1)]
    with CaptureFile(path) as cf:
        assert list(cf) == [record(n) for n in range(1, cf.record_count() + 1)]
        assert cf.record_count() > 100


HOLDER = """
import sys
from capturelog import CaptureFile
cf = CaptureFile(sys.argv[1], to_write=True)
print("open", flush=True)
sys.stdin.readline()
"""


def test_a_second_writer_is_refused_at_once_in_every_setting(path: Path) -> None:
    """Another object, another thread or another process gets CaptureFileAlreadyOpen, no hang."""
    writer = CaptureFile(path, to_write=True)
    with pytest.raises(CaptureFileAlreadyOpen):
        CaptureFile(path, to_write=True)
    with pytest.raises(CaptureFileAlreadyOpen):
        CaptureFile(path, to_write=True, use_os_file_locking=False)
    with pytest.raises(CaptureFileAlreadyOpen):
        CaptureFile(path, to_write=True, force_new_empty_file=True)
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            CaptureFile(path, to_write=True)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], CaptureFileAlreadyOpen)
    script = (
        "import sys\nfrom capturelog import CaptureFile, CaptureFileAlreadyOpen\n"
        "try:\n    CaptureFile(sys.argv[1], to_write=True)\n"
        "except CaptureFileAlreadyOpen as e:\n    print('refused:', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith("refused:"), result.stderr
    assert "another process" in result.stdout
    # A reader opened and closed in the writer's process must not drop its lock.
    CaptureFile(path).close()
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith("refused:"), result.stderr
    writer.close()
    CaptureFile(path, to_write=True).close()


def test_a_killed_writer_releases_the_file(path: Path) -> None:
    """The OS drops a SIGKILLed writer's lock: the next writer gets in."""
    CaptureFile(path, to_write=True).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "open\n"
    with pytest.raises(CaptureFileAlreadyOpen):
        CaptureFile(path, to_write=True)
    holder.kill()
    holder.wait()
    CaptureFile(path, to_write=True).close()


READER = """
import sys
from capturelog import CaptureFile
cf = CaptureFile(sys.argv[1])
seen = 0
while seen < int(sys.argv[2]):
    cf.refresh()
    count = cf.record_count()
    assert count >= seen, (count, seen)
    assert count % 50 == 0, count
    if count:
        assert cf.record_at(count) == f"rec {count}", count
    seen = count
print("ok", seen, flush=True)
"""


def test_readers_in_other_processes_never_see_a_partial_commit(path: Path) -> None:
    """Processes polling refresh() see whole commits of 50 records, in order."""
    writer = CaptureFile(path, to_write=True)
    total = 20_000
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(path), str(total)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for n in range(1, total + 1):
        writer.add_record(f"rec {n}")
        if n % 50 == 0:
            writer.commit()
    writer.close()
    for reader in readers:
        out, _ = reader.communicate(timeout=120)
        assert out.strip() == f"ok {total}"
        assert reader.returncode == 0


def test_a_forked_child_cannot_write_the_parents_file(path: Path) -> None:
    """A child that inherited an open writer gets an error instead of writing."""
    writer = CaptureFile(path, to_write=True)
    writer.add_record("parent 1")
    writer.commit()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            writer.add_record("child")
            writer.commit()
        except Exception as exc:
            status = 0 if "forked child" in str(exc) else 2
        os.write(write_end, bytes([status]))
        os._exit(0)
    os.close(write_end)
    status = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert status == b"\x00"
    writer.add_record("parent 2")
    writer.commit()
    writer.close()
    with CaptureFile(path) as cf:
        assert list(cf) == ["parent 1", "parent 2"]
