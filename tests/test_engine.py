"""CaptureFile's API: records, slices, metadata, transactions, wrong use."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturelog import (
    CaptureFile,
    CaptureFileAlreadyOpen,
    CaptureFileError,
    CaptureFileNotOpen,
    CaptureFileNotOpenForWrite,
    InvalidCaptureFile,
)


def write(path: Path, records: list[str] | list[bytes], **options: object) -> None:
    with CaptureFile(path, to_write=True, force_new_empty_file=True, **options) as cf:  # type: ignore[arg-type]
        for record in records:
            cf.add_record(record)
        cf.commit()


def test_seed_quickstart_prints_what_the_seed_shows(path: Path) -> None:
    """The four Quickstart examples of the CaptureFile README, with our import."""
    cf = CaptureFile(str(path), to_write=True, force_new_empty_file=True)
    for i in range(1, 6):
        cf.add_record(f"Hey this is my record {i}")
    cf.commit()
    assert f"There are {cf.record_count()} records in this capture file." == (
        "There are 5 records in this capture file."
    )
    cf.close()
    cf = CaptureFile(str(path))
    assert cf.record_at(2) == "Hey this is my record 2"
    assert cf[2:4] == ["Hey this is my record 2", "Hey this is my record 3"]
    cf.close()
    with CaptureFile(str(path)) as cf:
        assert list(iter(cf)) == [f"Hey this is my record {i}" for i in range(1, 6)]


@pytest.mark.parametrize("count", [0, 1, 31, 32, 33, 1023, 1024, 1025, 32 * 32 * 32 + 1])
def test_every_record_comes_back_at_tree_edges(path: Path, count: int) -> None:
    """Counts at and around fan-out powers: every record by number, iteration, slices."""
    records = [f"r{i}" for i in range(1, count + 1)]
    write(path, records)
    with CaptureFile(path) as cf:
        assert cf.record_count() == len(cf) == count
        assert list(cf) == records
        for n in {1, 2, 31, 32, 33, 1024, 1025, count - 1, count}:
            if 1 <= n <= count:
                assert cf.record_at(n) == records[n - 1]
                assert cf[n] == records[n - 1]
        for start in {1, 2, 32, 33, 1025, count}:
            if 1 <= start <= count:
                assert list(cf.record_generator(start)) == records[start - 1 :]
        assert list(cf.record_generator(count + 1)) == []


def test_slices_follow_record_numbers(path: Path) -> None:
    """cf[a:b] is records a..b-1; steps, open ends and negatives work like lists."""
    records = [f"r{i}" for i in range(1, 101)]
    write(path, records)
    with CaptureFile(path) as cf:
        assert cf[2:4] == ["r2", "r3"]
        assert cf[:3] == ["r1", "r2"]
        assert cf[98:] == ["r98", "r99", "r100"]
        assert cf[1:10:3] == ["r1", "r4", "r7"]
        assert cf[10:1:-4] == ["r10", "r6", "r2"]
        assert cf[-2:] == ["r99", "r100"]
        assert cf[-1] == "r100"
        assert cf[50:50] == []
        assert cf[200:300] == []
        with pytest.raises(IndexError, match="from 1"):
            cf[0:3]


def test_bytes_mode_and_unusual_records(path: Path) -> None:
    """encoding=None gives bytes back; empty, binary and 2 MB records survive."""
    big = os.urandom(2 << 20)
    records = [b"", b"\x00\xff" * 10, big, b"", "snowman \u2603".encode()]
    write(path, records)
    with CaptureFile(path, encoding=None) as cf:
        assert list(cf) == records
        assert cf.record_at(3) == big
    with CaptureFile(path, encoding="latin-1") as cf:
        assert cf.record_at(2) == "\x00\xff" * 10


def test_records_larger_than_many_blocks_next_to_small_ones(path: Path) -> None:
    """A 1 MB+ record between small ones keeps every neighbour intact."""
    records = [f"small {i}" for i in range(100)]
    records[50] = "x" * (1 << 20) + "end"
    write(path, records)
    with CaptureFile(path) as cf:
        assert list(cf) == records
        assert cf.record_at(51) == records[50]
        assert cf.record_at(52) == "small 51"


def test_uncommitted_records_vanish_and_the_writer_sees_them(path: Path) -> None:
    """Added-but-uncommitted records are visible to the writer only, and lost at close."""
    write(path, ["a", "b"])
    cf = CaptureFile(path, to_write=True)
    cf.add_record("c")
    assert cf.record_count() == 3
    assert cf.record_at(3) == "c"
    assert list(cf) == ["a", "b", "c"]
    with CaptureFile(path) as reader:
        assert list(reader) == ["a", "b"]
    cf.close()
    with CaptureFile(path) as reader:
        assert list(reader) == ["a", "b"]


def test_writer_reads_uncommitted_data_across_many_blocks(path: Path) -> None:
    """Reading while blocks are still being compressed waits for them correctly."""
    cf = CaptureFile(path, to_write=True, force_new_empty_file=True)
    records = [f"{i:06d} " + "payload " * (i % 40) for i in range(20000)]
    for i, record in enumerate(records, 1):
        cf.add_record(record)
        if i % 5000 == 0:
            assert cf.record_at(i) == record
            assert cf.record_at(1) == records[0]
    assert list(cf) == records
    cf.commit()
    cf.close()
    with CaptureFile(path) as reader:
        assert list(reader) == records


def test_metadata_is_transactional(path: Path) -> None:
    """Metadata set, replaced and cleared becomes visible only with a commit."""
    cf = CaptureFile(path, to_write=True, initial_metadata=b"v1")
    assert cf.get_metadata() == b"v1"
    cf.set_metadata(b"v2")
    cf.add_record("x")
    with CaptureFile(path) as reader:
        assert reader.get_metadata() == b"v1"
        cf.commit()
        assert reader.get_metadata() == b"v1"
        reader.refresh()
        assert reader.get_metadata() == b"v2"
        assert reader.record_count() == 1
        cf.set_metadata(None)
        cf.commit()
        reader.refresh()
        assert reader.get_metadata() is None
    cf.set_metadata(b"never committed")
    cf.close()
    with CaptureFile(path) as reader:
        assert reader.get_metadata() is None


def test_initial_metadata_only_applies_to_new_files(path: Path) -> None:
    """An existing file keeps its metadata when reopened with initial_metadata."""
    CaptureFile(path, to_write=True, initial_metadata=b"first").close()
    CaptureFile(path, to_write=True, initial_metadata=b"second").close()
    with CaptureFile(path) as cf:
        assert cf.get_metadata() == b"first"


def test_force_new_empty_file_replaces_contents(path: Path) -> None:
    """force_new_empty_file starts over, even when opened for reading."""
    write(path, ["a", "b"])
    with CaptureFile(path, force_new_empty_file=True) as cf:
        assert cf.record_count() == 0
        assert not cf.to_write


def test_wrong_use_raises_the_documented_errors(path: Path) -> None:
    """Record 0, past the end, writing to a reader, any call on a closed file."""
    write(path, ["a"])
    cf = CaptureFile(path)
    with pytest.raises(IndexError, match="no record 0"):
        cf.record_at(0)
    with pytest.raises(IndexError, match="no record 2; records are numbered 1 to 1"):
        cf.record_at(2)
    with pytest.raises(IndexError):
        cf.record_generator(0)
    for call in (lambda: cf.add_record("x"), cf.commit, lambda: cf.set_metadata(b"m")):
        with pytest.raises(CaptureFileNotOpenForWrite, match="open for reading only"):
            call()
    with pytest.raises(CaptureFileAlreadyOpen, match="already open"):
        cf.open()
    cf.close()
    cf.close()  # idempotent
    for call in (
        lambda: cf.record_at(1),
        lambda: cf.add_record("x"),
        cf.commit,
        cf.refresh,
        cf.get_metadata,
        lambda: list(cf),
        lambda: cf[1:2],
    ):
        with pytest.raises(CaptureFileNotOpen, match="not open"):
            call()
    assert "closed" in repr(cf)
    assert str(cf) == f'"{path}" currently closed but last seen with 1 records'
    cf.open()
    assert cf.record_at(1) == "a"
    cf.close()
    with pytest.raises(TypeError):
        CaptureFile(path, to_write=True).set_metadata("text")  # type: ignore[arg-type]


def test_exceptions_have_the_documented_bases() -> None:
    """Every error is a CaptureFileError; InvalidCaptureFile is also a ValueError."""
    assert issubclass(InvalidCaptureFile, ValueError)
    for cls in (
        InvalidCaptureFile,
        CaptureFileNotOpen,
        CaptureFileNotOpenForWrite,
        CaptureFileAlreadyOpen,
    ):
        assert issubclass(cls, CaptureFileError)


def test_repr_and_str(path: Path) -> None:
    """repr and str say the file, the mode and the record count."""
    write(path, ["a", "b"])
    with CaptureFile(path) as cf:
        assert repr(cf) == f"<CaptureFile {str(path)!r} mode=read records=2>"
        assert str(cf) == f'"{path}" opened for reading with 2 records'


def test_accepts_path_objects_and_reopens_for_write(path: Path) -> None:
    """os.PathLike works, and close/open switches mode on one object."""
    cf = CaptureFile(path, to_write=True)
    cf.add_record("a")
    cf.commit()
    cf.close()
    cf.open(to_write=True)
    cf.add_record("b")
    cf.commit()
    cf.close()
    cf.open()
    assert list(cf) == ["a", "b"]
    cf.close()


def test_bad_arguments_are_refused(path: Path) -> None:
    """compression_block_size must be a multiple of 4096; levels are checked."""
    with pytest.raises(ValueError, match="multiple of 4096"):
        CaptureFile(path, to_write=True, compression_block_size=1000)
    with pytest.raises(ValueError, match="compression_level"):
        CaptureFile(path, to_write=True, compression_level=11)
    with pytest.raises(FileNotFoundError):
        CaptureFile(path)


def test_other_block_sizes_work(path: Path) -> None:
    """A file made with a 4 KB or 128 KB block size reads back the same."""
    records = [f"rec {i} " * 5 for i in range(3000)]
    for block in (4096, 131072):
        write(path, records, compression_block_size=block)
        with CaptureFile(path) as cf:
            assert list(cf) == records
            assert cf.record_at(2999) == records[2998]


def test_one_reader_shared_by_threads_while_a_writer_commits(path: Path) -> None:
    """Threads share one reader and refresh it while commits land; all reads are exact."""
    writer = CaptureFile(path, to_write=True, force_new_empty_file=True)
    reader = CaptureFile(path)
    stop = threading.Event()
    failures: list[BaseException] = []

    def read_loop() -> None:
        try:
            while not stop.is_set():
                reader.refresh()
                count = reader.record_count()
                if count:
                    assert reader.record_at(count) == f"record {count}"
                    assert reader.record_at(1) == "record 1"
                    assert count % 10 == 0  # commits are of ten records
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=read_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(1, 3001):
        writer.add_record(f"record {i}")
        if i % 10 == 0:
            writer.commit()
    stop.set()
    for thread in threads:
        thread.join()
    writer.close()
    reader.refresh()
    assert reader.record_count() == 3000
    reader.close()
    assert not failures, failures


class Model:
    """What a capture file should hold: committed records and metadata."""

    def __init__(self) -> None:
        self.committed: list[bytes] = []
        self.pending: list[bytes] = []
        self.meta: bytes | None = None
        self.pending_meta: tuple[bytes | None] | None = None


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.binary(max_size=300)),
        st.tuples(st.just("add_many"), st.integers(1, 400), st.integers(0, 600)),
        st.tuples(st.just("big"), st.integers(30_000, 200_000)),
        st.tuples(st.just("commit")),
        st.tuples(st.just("meta"), st.one_of(st.none(), st.binary(max_size=100))),
        st.tuples(st.just("reopen")),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_operation_sequences_match_a_model(tmp_path: Path, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    """Any mix of adds, big records, metadata, commits and reopenings reads back exactly."""
    path = tmp_path / "model.capture"
    cf = CaptureFile(path, to_write=True, force_new_empty_file=True, encoding=None)
    model = Model()
    for op in ops:
        if op[0] == "add":
            cf.add_record(op[1])
            model.pending.append(op[1])
        elif op[0] == "add_many":
            for i in range(op[1]):
                record = (b"%d:" % i) * (op[2] % 60) + b"!"
                cf.add_record(record)
                model.pending.append(record)
        elif op[0] == "big":
            record = bytes([len(model.pending) % 256]) * op[1]
            cf.add_record(record)
            model.pending.append(record)
        elif op[0] == "commit":
            cf.commit()
            model.committed += model.pending
            model.pending = []
            if model.pending_meta is not None:
                model.meta = model.pending_meta[0]
                model.pending_meta = None
        elif op[0] == "meta":
            cf.set_metadata(op[1])
            model.pending_meta = (op[1],)
        else:
            cf.close()
            model.pending = []
            model.pending_meta = None
            cf.open(to_write=True)
    cf.close()
    with CaptureFile(path, encoding=None) as reader:
        assert reader.record_count() == len(model.committed)
        assert list(reader) == model.committed
        assert reader.get_metadata() == model.meta
        for n in range(1, len(model.committed) + 1, 97):
            assert reader.record_at(n) == model.committed[n - 1]


def test_a_failed_write_drops_the_transaction_and_keeps_the_file(path: Path) -> None:
    """When the disk refuses a write, the file keeps its last commit and writing goes on."""
    import resource
    import signal

    write(path, ["kept"])
    cf = CaptureFile(path, to_write=True)
    size = os.path.getsize(path)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # A file-size limit just above the current size stands in for a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        with pytest.raises(OSError):
            for _ in range(200_000):
                cf.add_record(os.urandom(100).hex())
            cf.commit()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert cf.record_count() == 1
    cf.add_record("after")
    cf.commit()
    cf.close()
    with CaptureFile(path) as reader:
        assert list(reader) == ["kept", "after"]


def test_record_at_in_order_nearby_and_after_a_roll_back(path: Path) -> None:
    """record_at reuses the last index leaf it walked to: reading forwards,
    backwards, in small jumps or across the rightmost partial leaf gives the
    right records, and a writer that rolls back does not read a dropped leaf."""
    import random
    import resource
    import signal

    records = _log_lines(5_000)  # 156 full leaves of 32 and a partial one
    write(path, records)
    with CaptureFile(path) as cf:
        assert [cf.record_at(n) for n in range(1, 5_001)] == records
        assert [cf.record_at(n) for n in range(5_000, 0, -1)] == records[::-1]
        rng = random.Random(5)
        n = 2_500
        for _ in range(3_000):
            n = min(5_000, max(1, n + rng.randint(-40, 40)))
            assert cf.record_at(n) == records[n - 1]

    cf = CaptureFile(path, to_write=True, force_new_empty_file=True)
    cf.add_records([f"old {i}" for i in range(200)])
    assert cf.record_at(40) == "old 39"  # its leaf is full, in the writer's open block
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path), old_limit[1]))
    try:
        with pytest.raises(OSError):  # the disk fills: the transaction is dropped
            for _ in range(200_000):
                cf.add_record(os.urandom(100).hex())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert cf.record_count() == 0
    cf.add_records([f"new record number {i}" for i in range(200)])
    assert cf.record_at(40) == "new record number 39"
    cf.close()


def test_a_commit_at_interpreter_exit_still_writes(tmp_path: Path) -> None:
    """A writer committed from an atexit handler, after worker threads are gone, works."""
    import subprocess
    import sys

    path = tmp_path / "atexit.capture"
    code = (
        "import atexit, sys\n"
        "from capturelog import CaptureFile\n"
        "cf = CaptureFile(sys.argv[1], to_write=True)\n"
        "def last():\n"
        "    for i in range(5000):\n"
        "        cf.add_record(f'late {i} ' * 8)\n"
        "    cf.commit()\n"
        "    cf.close()\n"
        "atexit.register(last)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with CaptureFile(path) as cf:
        assert cf.record_count() == 5000
        assert cf.record_at(5000) == "late 4999 " * 8


def test_iteration_and_random_reads_run_in_bounded_memory(path: Path) -> None:
    """Iterating 30 MB of records holds a few blocks, and random reads stay
    within cache_bytes: memory does not grow with the file."""
    import random
    import tracemalloc

    rng = random.Random(4)
    words = [f"w{i}" for i in range(2000)]
    with CaptureFile(path, to_write=True) as cf:
        for i in range(30000):
            cf.add_record(f"{i} " + " ".join(rng.choices(words, k=200)))
        cf.commit()
    with CaptureFile(path, cache_bytes=1 << 20) as cf:
        tracemalloc.start()
        try:
            count = sum(1 for _ in cf)
            _, iterating = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for _ in range(300):
                cf.record_at(rng.randint(1, count))
            _, reading = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 30000
    assert iterating < 4 << 20, iterating
    assert reading < 4 << 20, reading


def _log_lines(count: int) -> list[str]:
    return [
        f"2026-11-26 12:00:{i % 60:02d} INFO svc request {i} " + "x" * (i * 37 % 300)
        for i in range(count)
    ]


def _capturelog_threads() -> int:
    return sum(thread.name.startswith("capturelog") for thread in threading.enumerate())


def test_long_walks_read_every_record_from_any_start_on_the_callers_thread(path: Path) -> None:
    """A walk over many blocks gives the same records from any start, and
    starts no thread: blocks are inflated by the caller."""
    records = _log_lines(20_000)  # about 4 MB: over a hundred 32 KB blocks
    write(path, records)
    before = _capturelog_threads()
    with CaptureFile(path) as cf:
        assert list(cf) == records
        assert list(cf.record_generator(12_345)) == records[12_344:]
        walk = iter(cf)
        assert [next(walk) for _ in range(5_000)] == records[:5_000]
        assert _capturelog_threads() == before


def test_a_walk_reports_damage_where_it_meets_it(tmp_path: Path) -> None:
    """Damage inside a block, or a block length pointing past the data, is
    raised when the walk reaches that block, after every record before it."""
    records = _log_lines(20_000)
    clean = tmp_path / "clean.capture"
    write(clean, records)
    with CaptureFile(clean) as cf:
        limit = cf._view.limit
        block_starts = [cf._config.data_start]
    data = clean.read_bytes()
    while block_starts[-1] < limit * 0.7:  # the chain of blocks: each a 4-byte length, then zlib
        at = block_starts[-1]
        block_starts.append(at + 4 + int.from_bytes(data[at : at + 4], "big"))

    damage = [(limit * tenth // 10, 64) for tenth in range(3, 10)] + [(block_starts[-1], 4)]
    reached = []
    for at, size in damage:
        damaged = tmp_path / f"damaged-{at}.capture"
        mangled = bytearray(data)
        mangled[at : at + size] = b"\xff" * size
        damaged.write_bytes(mangled)
        got = 0
        with CaptureFile(damaged) as cf, pytest.raises(InvalidCaptureFile, match="damaged"):
            for got, record in enumerate(cf, 1):  # got is counted after the loop
                assert record == records[got - 1]
        reached.append(got)
    # Damage further into the file is met later: the walk reads up to it.
    assert reached[0] > 1_000
    assert reached[:-1] == sorted(reached[:-1])
    assert reached[-2] > reached[0]


def test_a_forked_child_goes_on_with_a_walk_begun_in_its_parent(path: Path) -> None:
    """A child forked in the middle of a walk reads on from where it was."""
    records = _log_lines(20_000)
    write(path, records)
    with CaptureFile(path) as cf:
        walk = iter(cf)
        assert [next(walk) for _ in range(3_000)] == records[:3_000]
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if every remaining record is right
            ok = list(walk) == records[3_000:]
            os._exit(0 if ok else 1)
        assert list(walk) == records[3_000:]
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_program_may_exit_in_the_middle_of_a_walk(path: Path) -> None:
    """A walk still open when the program ends does not hold up the exit,
    nor does one run from an atexit handler."""
    import subprocess
    import sys

    write(path, _log_lines(20_000))
    code = (
        "import atexit, sys\n"
        "from capturelog import CaptureFile\n"
        "cf = CaptureFile(sys.argv[1])\n"
        "walk = iter(cf)\n"
        "for _ in range(5_000):\n"
        "    next(walk)\n"
        "atexit.register(lambda: print(sum(1 for _ in CaptureFile(sys.argv[1]))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "20000"
