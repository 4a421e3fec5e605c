"""Files move both ways between capturelog and the reference CaptureFile==1.2.0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import CaptureFile as reference
import pytest

from capturelog import CaptureFile, CaptureFileAlreadyOpen

BIG = b"B" * (1 << 20) + b"end"

# Each case: the records to write (bytes), the metadata history to apply.
CASES: dict[str, tuple[list[bytes], list[bytes | None]]] = {
    "empty": ([], []),
    "empty records": ([b"", b"", b"x", b""], []),
    "fan-out": ([b"r%d" % i for i in range(32)], []),
    "fan-out + 1": ([b"r%d" % i for i in range(33)], [b"meta"]),
    "three levels": ([b"rec %d " % i * 3 for i in range(1025)], []),
    "four levels": ([b"%d" % i for i in range(32 * 32 * 32 + 5)], [b"m1", b"m2"]),
    "larger than a block": ([b"a", BIG, b"b"], []),
    "metadata replaced then cleared": ([b"a", b"b"], [b"one", b"two", None]),
}

LIBS: dict[str, Any] = {"capturelog": CaptureFile, "reference": reference.CaptureFile}


def build(lib: str, path: Path, records: list[bytes], metas: list[bytes | None]) -> None:
    """Write ``records`` with ``lib``, setting each metadata value over several commits."""
    cf = LIBS[lib](str(path), to_write=True, force_new_empty_file=True)
    chunks = max(1, len(metas))
    step = max(1, len(records) // chunks)
    for i, meta in enumerate(metas):
        for record in records[i * step : (i + 1) * step]:
            cf.add_record(record)
        cf.set_metadata(meta)
        cf.commit()
    for record in records[len(metas) * step if metas else 0 :]:
        cf.add_record(record)
    cf.commit()
    # An uncommitted tail must not be seen by the other side.
    cf.add_record(b"uncommitted")
    cf.close()


def read(lib: str, path: Path) -> tuple[list[bytes], bytes | None, int]:
    cf = LIBS[lib](str(path), encoding=None)
    try:
        count = cf.record_count()
        # The reference cannot iterate an empty file, even its own (IndexError
        # inside its generator), so only iterate when there is something.
        records = list(cf) if count or lib == "capturelog" else []
        return records, cf.get_metadata(), count
    finally:
        cf.close()


BOTH_WAYS = [("capturelog", "reference"), ("reference", "capturelog")]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("writer", "reader"), BOTH_WAYS)
def test_files_cross_over_with_every_record_and_metadata(
    tmp_path: Path, case: str, writer: str, reader: str
) -> None:
    """What one side writes, the other reads whole: records, count, metadata."""
    records, metas = CASES[case]
    path = tmp_path / "x.capture"
    build(writer, path, records, metas)
    got, meta, count = read(reader, path)
    assert count == len(records)
    assert got == records
    assert meta == (metas[-1] if metas else None)
    cf = LIBS[reader](str(path), encoding=None)
    try:
        for n in sorted({1, 2, 32, 33, 1024, 1025, len(records)}):
            if 1 <= n <= len(records):
                assert cf.record_at(n) == records[n - 1]
    finally:
        cf.close()


@pytest.mark.parametrize("case", ["empty", "fan-out", "three levels", "larger than a block"])
@pytest.mark.parametrize(("first", "second"), BOTH_WAYS)
def test_each_side_appends_to_the_others_file(
    tmp_path: Path, case: str, first: str, second: str
) -> None:
    """Write with one, append with the other, then read with both: one sequence."""
    records, metas = CASES[case]
    path = tmp_path / "x.capture"
    build(first, path, records, metas)
    extra = [b"appended %d" % i for i in range(1100)]
    cf = LIBS[second](str(path), to_write=True)
    for record in extra:
        cf.add_record(record)
    cf.set_metadata(b"after append")
    cf.commit()
    cf.close()
    for lib in LIBS:
        got, meta, _ = read(lib, path)
        assert got == records + extra
        assert meta == b"after append"


def test_str_records_round_trip_through_both(tmp_path: Path) -> None:
    """Text records written by either side decode to the same strings."""
    path = tmp_path / "x.capture"
    texts = ["plain", "caf\u00e9", "\u2603 snow", ""]
    with CaptureFile(path, to_write=True) as cf:
        for text in texts:
            cf.add_record(text)
        cf.commit()
    ref = reference.CaptureFile(str(path))
    assert ref[1:5] == texts
    ref.close()


LOCK_HOLDER = """
import sys, CaptureFile
cf = CaptureFile.CaptureFile(sys.argv[1], to_write=True, use_os_file_locking=True)
print("locked", flush=True)
sys.stdin.readline()
cf.close()
"""


def test_a_reference_writer_in_another_process_keeps_us_out(tmp_path: Path) -> None:
    """The reference's writer lock (lockf on the same byte) makes our writer fail at once."""
    path = tmp_path / "x.capture"
    CaptureFile(path, to_write=True).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(CaptureFileAlreadyOpen, match="another process"):
            CaptureFile(path, to_write=True)
        with CaptureFile(path) as cf:  # reading is always allowed
            assert cf.record_count() == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    CaptureFile(path, to_write=True).close()


def test_our_writer_keeps_a_reference_writer_out(tmp_path: Path) -> None:
    """With our writer open, a reference writer with locking on gets CaptureFileAlreadyOpen."""
    path = tmp_path / "x.capture"
    ours = CaptureFile(path, to_write=True)
    script = (
        "import sys, CaptureFile\n"
        "try:\n"
        "    CaptureFile.CaptureFile(sys.argv[1], to_write=True, use_os_file_locking=True)\n"
        "except CaptureFile.CaptureFileAlreadyOpen:\n"
        "    print('refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    ours.close()
    assert result.stdout.strip() == "refused", result.stderr


def test_the_reference_reads_and_appends_to_a_new_small_file(tmp_path: Path) -> None:
    """A new file is only its header and master nodes (it grows as data comes);
    the reference reads it, appends enough to grow it many times, and both
    sides read the result, then we append again."""
    path = tmp_path / "small.capture"
    with CaptureFile(path, to_write=True, initial_metadata=b"ours") as cf:
        for i in range(3):
            cf.add_record(b"first %d" % i)
        cf.commit()
    assert path.stat().st_size == 86016
    assert read("reference", path) == ([b"first %d" % i for i in range(3)], b"ours", 3)
    ref = reference.CaptureFile(str(path), to_write=True)
    extra = [b"ref %d " % i * 40 for i in range(20000)]
    for record in extra:
        ref.add_record(record)
    ref.commit()
    ref.close()
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record(b"last")
        cf.commit()
    expected = [b"first %d" % i for i in range(3)] + extra + [b"last"]
    for lib in LIBS:
        assert read(lib, path) == (expected, b"ours", len(expected))


def test_an_empty_file_taken_as_new_is_read_by_the_reference(tmp_path: Path) -> None:
    """An empty file our writer made into a capture file is one the reference
    reads and appends to."""
    path = tmp_path / "touched.capture"
    path.touch()
    with CaptureFile(path, to_write=True) as cf:
        cf.add_record(b"one")
        cf.commit()
    ref = reference.CaptureFile(str(path), to_write=True)
    ref.add_record(b"two")
    ref.commit()
    ref.close()
    for lib in LIBS:
        assert read(lib, path)[0] == [b"one", b"two"]


CODEC_ROUND = """
import os, random, sys
import capturelog._zlib as codec
from capturelog import CaptureFile
path, level, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
assert codec.CODEC_NAME == expected, codec.CODEC_NAME
rng = random.Random(7)
records = [b"line %d %s" % (i, rng.randbytes(rng.randrange(0, 40)).hex().encode()) for i in range(20000)]
with CaptureFile(path, to_write=True, compression_level=level) as cf:
    cf.add_records(records)
    cf.commit()
with CaptureFile(path, encoding=None) as cf:
    assert list(cf) == records
"""


@pytest.mark.parametrize("backend", ["native", "zlib"])
@pytest.mark.parametrize("level", [1, 4])
def test_blocks_from_either_codec_read_everywhere(tmp_path: Path, backend: str, level: int) -> None:
    """With the native codec and with the stdlib fallback (forced, as where
    no wheel installs), at the handler's and the engine's levels: a
    multi-block file reads back, the reference reads it, and the other
    back end reads it."""
    import os

    path = tmp_path / "codec.capture"
    native = {k: v for k, v in os.environ.items() if k != "CAPTURELOG_CODEC"}
    forced = {**native, "CAPTURELOG_CODEC": "zlib"}
    env = forced if backend == "zlib" else native
    # What the back end is called where nothing forces the stdlib (this
    # suite may itself run with CAPTURELOG_CODEC=zlib).
    native_name = subprocess.run(
        [sys.executable, "-c", "import capturelog._zlib as c; print(c.CODEC_NAME)"],
        check=True, env=native, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    expected = "zlib" if backend == "zlib" else native_name
    subprocess.run(
        [sys.executable, "-c", CODEC_ROUND, str(path), str(level), expected],
        check=True, env=env, timeout=120,
    )  # fmt: skip
    with reference.CaptureFile(str(path)) as ref:
        assert ref.record_count() == 20000
        assert ref.record_at(20000).startswith("line 19999 ")
    other = forced if backend == "native" else native
    check = f"from capturelog import CaptureFile; cf = CaptureFile({str(path)!r}); assert len(list(cf)) == 20000"
    subprocess.run([sys.executable, "-c", check], check=True, env=other, timeout=120)
