"""Attacks on the engine's promises: refused records, interrupted writes, two
creators at once, stale blocks after a power loss, forked children, kills
during creation."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureFileAlreadyOpen, InvalidCaptureFile
from capturelog._format import Config
from capturelog._verify import verify

CONFIG = Config()
MASTER_NODES = (CONFIG.page_size, CONFIG.page_size + 2 * CONFIG.master_size)


class Text(str):
    """A str subclass, as lazy-string libraries make."""


# ----------------------------------------------------------------- refused records


@pytest.mark.parametrize("bad", [1, None, 2.5, ["x"], object(), Text])
def test_a_refused_record_changes_nothing(path: Path, bad: object) -> None:
    """add_record with a wrong type raises TypeError and the next commit holds
    exactly the records that were accepted."""
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record("first")
        with pytest.raises(TypeError, match="str or bytes-like"):
            cf.add_record(bad)  # type: ignore[arg-type]
        assert cf.record_count() == 1
        cf.add_record("second")
        cf.commit()
        assert cf.record_count() == 2
    with CaptureFile(path) as cf:
        assert list(cf) == ["first", "second"]
    assert verify(str(path), decode_records=False).sound


def test_str_subclasses_and_buffers_are_records(path: Path) -> None:
    """A str subclass is encoded; bytearray and memoryview are stored as bytes."""
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record(Text("hello"))
        cf.add_record(bytearray(b"array"))
        cf.add_record(memoryview(b"view"))
        cf.add_records([Text("many"), bytearray(b"more"), memoryview(b"most")])
        cf.commit()
    with CaptureFile(path) as cf:
        assert list(cf) == ["hello", "array", "view", "many", "more", "most"]


def test_add_records_stops_at_a_refused_record_keeping_those_before(path: Path) -> None:
    """A bad element, or an error from the caller's iterator, leaves the records
    before it added and the writer sound."""

    def failing() -> Iterator[str]:
        yield "c"
        raise KeyError("from the caller")

    with CaptureFile(path, to_write=True) as cf:
        with pytest.raises(TypeError):
            cf.add_records(["a", "b", 3, "never"])  # type: ignore[list-item]
        with pytest.raises(KeyError):
            cf.add_records(failing())
        cf.add_record("d")
        cf.commit()
    with CaptureFile(path) as cf:
        assert list(cf) == ["a", "b", "c", "d"]


# ----------------------------------------------------------------- interrupted writes


class Interrupt(BaseException):
    """Raised by a signal handler at a random instant."""


def test_writes_interrupted_at_random_instants_never_damage_the_file(path: Path) -> None:
    """A signal handler raising inside add_record, add_records or commit (any
    bytecode, roll-backs included) drops at most the transaction in progress:
    the file always reads back exactly what the writer says it holds."""
    rng = random.Random(8)
    interrupts = 0

    armed = [False]

    def handler(signum: int, frame: object) -> None:
        if armed[0]:
            armed[0] = False
            raise Interrupt

    previous = signal.signal(signal.SIGALRM, handler)
    cf = CaptureFile(path, to_write=True, background_compression=False)
    expected: list[str] = []
    n = 0
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                armed[0] = True
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-5, 2e-3))
                while True:
                    n += 1
                    text = f"{n}:" + "y" * (n * 7919 % 300)
                    if n % 3:
                        cf.add_record(text)
                        expected.append(text)
                    else:
                        batch = [text, text + "+"]
                        cf.add_records(batch)
                        expected += batch
                    if n % 50 == 0:
                        cf.commit()
            except Interrupt:
                interrupts += 1
                # Whatever was interrupted, the writer now stands at a state
                # it can tell: the records it holds are a prefix of ours.
                del expected[cf.record_count() :]
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        cf.commit()
        assert cf.record_count() == len(expected)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        cf.close()
    assert interrupts > 50
    with CaptureFile(path) as reader:
        assert list(reader) == expected
    assert verify(str(path), decode_records=False).sound


# ----------------------------------------------------------------- two creators at once


def _create_and_commit(path: str, tag: str, barrier: Callable[[], object], out: object) -> None:
    barrier()
    try:
        with CaptureFile(path, to_write=True) as cf:
            for i in range(20):
                cf.add_record(f"{tag}-{i}")
            cf.commit()
        out.send(("ok", tag))  # type: ignore[attr-defined]
    except CaptureFileAlreadyOpen:
        out.send(("busy", tag))  # type: ignore[attr-defined]
    except BaseException as exc:  # reported to the test, which fails on it
        out.send(("error", repr(exc)))  # type: ignore[attr-defined]


def test_two_processes_creating_one_file_at_the_same_instant(tmp_path: Path) -> None:
    """Of two processes released at once to create the same new file, one
    writes and the other is refused (or writes after it); a committed record
    is never lost to an orphaned file."""
    context = multiprocessing.get_context("fork")
    outcomes: dict[str, int] = {}
    for trial in range(40):
        path = str(tmp_path / f"race{trial}.capture")
        barrier = context.Barrier(2)
        pipes = [context.Pipe(duplex=False) for _ in range(2)]
        procs = [
            context.Process(
                target=_create_and_commit, args=(path, f"p{k}", barrier.wait, pipes[k][1])
            )
            for k in range(2)
        ]
        for proc in procs:
            proc.start()
        results = [pipes[k][0].recv() for k in range(2)]
        for proc in procs:
            proc.join()
        for result, _ in results:
            outcomes[result] = outcomes.get(result, 0) + 1
        assert not [r for r in results if r[0] == "error"], results
        with CaptureFile(path) as cf:
            stored = set(cf)
        for result, tag in results:
            if result == "ok":
                assert {f"{tag}-{i}" for i in range(20)} <= stored, (trial, results)
        assert any(result == "ok" for result, _ in results)
        assert [name for name in os.listdir(tmp_path) if name.endswith(".new")] == []
    assert outcomes.get("busy", 0) + outcomes.get("ok", 0) == 80


def test_creation_without_o_tmpfile_uses_a_link_and_sweeps_orphans(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where O_TMPFILE is missing, a temporary name is used, the name is taken
    with link() (never over an existing file), and temporary files of dead
    creators are removed."""
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    orphan = path.parent / f".{path.name}.{int(dead.stdout)}.abc.new"
    orphan.write_bytes(b"left by a killed creator")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    young = path.parent / f".{path.name}.{int(dead.stdout)}.def.new"
    young.write_bytes(b"maybe still being built")
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record("one")
        cf.commit()
    assert not orphan.exists()
    assert young.exists()
    young.unlink()
    assert sorted(os.listdir(path.parent)) == [path.name]
    with CaptureFile(path) as cf:
        assert list(cf) == ["one"]


CREATOR = r"""
import sys
from capturelog import CaptureFile
directory = sys.argv[1]
print("ready", flush=True)
n = 0
while True:
    n += 1
    name = f"{directory}/f{n % 50}.capture"
    CaptureFile(name, to_write=True, force_new_empty_file=n % 2 == 0).close()
"""


def test_a_kill_during_creation_leaves_no_temporary_file(tmp_path: Path) -> None:
    """SIGKILL while files are being created leaves no temporary file behind
    for long: a new file has no name until it is complete, and the temporary
    name a replacement passes through is swept by the next replacement once
    its creator is dead and a minute has passed."""
    rng = random.Random(3)
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(tmp_path)], stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        child.stdout.readline()
        time.sleep(rng.uniform(0.01, 0.15))  # picks the instant of the kill
        child.kill()
        child.wait()
    left = [name for name in os.listdir(tmp_path) if name.endswith(".new")]
    for name in left:  # as if a minute had passed
        os.utime(tmp_path / name, (time.time() - 3600,) * 2)
        target = tmp_path / (name.split(".")[1] + ".capture")
        CaptureFile(target, to_write=True, force_new_empty_file=True).close()
    assert [name for name in os.listdir(tmp_path) if name.endswith(".new")] == []
    for name in os.listdir(tmp_path):
        with CaptureFile(tmp_path / name) as cf:
            assert cf.record_count() == 0


# ----------------------------------------------------------------- forks


def test_a_forked_child_that_lives_on_does_not_hold_the_parents_lock(path: Path) -> None:
    """After a fork, the parent can close its writer and open the file for
    writing again while the child still runs."""
    writer = CaptureFile(path, to_write=True)
    writer.add_record("one")
    writer.commit()
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(ready_w, b"x")
        os.read(done_r, 1)  # lives on until the parent is done
        os._exit(0)
    try:
        os.read(ready_r, 1)
        writer.close()
        with CaptureFile(path, to_write=True) as again:
            again.add_record("two")
            again.commit()
    finally:
        os.write(done_w, b"x")
        os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
    with CaptureFile(path) as cf:
        assert list(cf) == ["one", "two"]


# ----------------------------------------------------------------- power loss


class Journal:
    """Every write, size change and sync made to one file, in order, by
    wrapping the os functions the engine calls (each still does its work)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
        self.ops: list[tuple[str, int, bytes]] = []
        self.inode = path.stat().st_ino
        real = {name: getattr(os, name) for name in ("pwrite", "ftruncate", "fdatasync", "fsync")}

        def pwrite(fd: int, data: bytes, pos: int) -> int:
            written: int = real["pwrite"](fd, data, pos)
            if self._ours(fd):
                self.ops.append(("write", pos, bytes(memoryview(data)[:written])))
            return written

        def ftruncate(fd: int, size: int) -> None:
            real["ftruncate"](fd, size)
            if self._ours(fd):
                self.ops.append(("size", size, b""))

        def sync(name: str) -> Callable[[int], None]:
            def call(fd: int) -> None:
                real[name](fd)
                if self._ours(fd):
                    self.ops.append(("sync", 0, b""))

            return call

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "ftruncate", ftruncate)
        monkeypatch.setattr(os, "fdatasync", sync("fdatasync"))
        monkeypatch.setattr(os, "fsync", sync("fsync"))

    def _ours(self, fd: int) -> bool:
        return os.fstat(fd).st_ino == self.inode

    def image(
        self,
        base: bytes,
        keep: Callable[[int, tuple[str, int, bytes]], bool],
        upto: int | None = None,
    ) -> bytes:
        """The disk after a power loss just after operation ``upto`` (default:
        the last): everything up to the last sync before it, and of the
        operations after that sync those ``keep`` picks."""
        ops = self.ops[:upto]
        last_sync = max((i for i, op in enumerate(ops) if op[0] == "sync"), default=-1)
        disk = bytearray(base)
        for i, op in enumerate(ops):
            if i > last_sync and not keep(i, op):
                continue
            kind, pos, data = op
            if kind == "write":
                if len(disk) < pos + len(data):
                    disk.extend(bytes(pos + len(data) - len(disk)))
                disk[pos : pos + len(data)] = data
            elif kind == "size":
                del disk[pos:]
                disk.extend(bytes(max(0, pos - len(disk))))
        return bytes(disk)


def _is_master_node_write(op: tuple[str, int, bytes]) -> bool:
    return op[0] == "write" and MASTER_NODES[0] <= op[1] < MASTER_NODES[1]


def test_after_a_power_loss_no_record_comes_back_with_uncommitted_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that stopped without committing left valid blocks past the
    committed end; the next writer commits records over them in default mode.
    In every crash image built from its journaled writes (master nodes on
    disk without the data, random subsets, all, none) each record reads back
    as committed or raises InvalidCaptureFile; never as the old content."""
    path = tmp_path / "power.capture"
    noise = random.Random(9)
    with CaptureFile(path, to_write=True) as cf:
        for i in range(5):
            cf.add_record(f"base-{i:05d}")
        cf.commit()
    # The writer that never commits: its blocks reach the file all the same.
    # Stored (level 0) blocks of records of equal sizes have equal sizes
    # whoever writes them, so the next writer's blocks land exactly where
    # these were, as similar log lines often do at any level.
    stale = CaptureFile(
        path, to_write=True, background_compression=False, encoding=None, compression_level=0
    )
    for i in range(4000):
        stale.add_record(b"stale-%05d " % i + noise.randbytes(i % 13 + 40))
    stale.close()
    base = path.read_bytes()

    journal = Journal(monkeypatch, path)
    fresh = CaptureFile(
        path, to_write=True, background_compression=False, encoding=None, compression_level=0
    )
    expected = [b"base-%05d" % i for i in range(5)]
    for _ in range(2):
        for _ in range(2000):
            n = len(expected) - 5
            expected.append(b"fresh-%05d " % n + noise.randbytes(n % 13 + 40))
            fresh.add_record(expected[-1])
        fresh.commit()
    fresh.close()
    monkeypatch.undo()

    rng = random.Random(5)
    choices: list[Callable[[int, tuple[str, int, bytes]], bool]] = [
        lambda i, op: _is_master_node_write(op),
        lambda i, op: True,
        lambda i, op: False,
    ]
    for _ in range(40):
        chosen = {i for i in range(len(journal.ops)) if rng.random() < 0.5}
        choices.append(lambda i, op, chosen=chosen: i in chosen)  # type: ignore[misc]
    outcomes = {"whole": 0, "error": 0}
    image_path = tmp_path / "image.capture"
    for keep in choices:
        image_path.write_bytes(journal.image(base, keep))
        try:
            cf = CaptureFile(image_path, encoding=None)
        except InvalidCaptureFile:
            outcomes["error"] += 1
            continue
        with cf:
            count = cf.record_count()
            assert count <= len(expected)
            damaged = False
            for n in range(1, count + 1, 7):
                try:
                    got = cf.record_at(n)
                except InvalidCaptureFile:
                    damaged = True
                    continue
                assert got == expected[n - 1], (n, got)
            try:
                for n, got in enumerate(cf, 1):
                    assert got == expected[n - 1], (n, got)
            except InvalidCaptureFile:
                damaged = True
            outcomes["error" if damaged else "whole"] += 1
    # The attack must have bitten: some images lose the fresh blocks.
    assert outcomes["error"] > 0 and outcomes["whole"] > 0, outcomes


def test_a_clean_start_does_not_sync(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clearing stale blocks costs a sync only after an unclean stop."""
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record("one")
        cf.commit()
    journal = Journal(monkeypatch, path)
    CaptureFile(path, to_write=True).close()
    assert [op for op in journal.ops if op[0] == "sync"] == []
    stale = CaptureFile(path, to_write=True, background_compression=False)
    stale.add_records(f"uncommitted {i}" for i in range(3000))
    stale.close()
    journal.ops.clear()
    CaptureFile(path, to_write=True).close()
    assert [op[0] for op in journal.ops] == ["size", "size", "sync"]


def test_with_durable_every_commit_that_returned_survives_a_power_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """durable=True: a power loss at any later instant, with any subset of the
    unsynced writes on disk, keeps every commit that had returned, exactly."""
    path = tmp_path / "durable.capture"
    CaptureFile(path, to_write=True, durable=True).close()
    base = path.read_bytes()
    journal = Journal(monkeypatch, path)
    cf = CaptureFile(path, to_write=True, durable=True, encoding=None)
    noise = random.Random(11)
    records: list[bytes] = []
    returned = []  # (operations made when the commit returned, records it holds)
    for _ in range(6):
        for _ in range(noise.randrange(1, 900)):
            records.append(b"%d " % len(records) + noise.randbytes(noise.randrange(0, 200)))
            cf.add_record(records[-1])
        cf.commit()
        returned.append((len(journal.ops), len(records)))
    cf.close()
    monkeypatch.undo()
    image_path = tmp_path / "image.capture"
    rng = random.Random(12)
    for done, count in returned:
        for _ in range(8):
            crash = rng.randrange(done, len(journal.ops) + 1)
            chosen = {i for i in range(crash) if rng.random() < 0.5}
            image_path.write_bytes(
                journal.image(base, lambda i, op, chosen=chosen: i in chosen, upto=crash)  # type: ignore[misc]
            )
            with CaptureFile(image_path, encoding=None) as reader:
                assert reader.record_count() >= count
                got = list(reader)
                assert got == records[: len(got)]
