"""The block codec (capturelog._zlib): round trips, interchange with the stdlib,
and exactly the stdlib's strictness about damage, with every back end.

Back ends are built here from whatever is installed: the stdlib alone, the
native one the module chose, and each native library alone (the per-level
fallback when only one installs). The import-time choice itself, the
environment switch and a missing library are checked in subprocesses.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturelog import _zlib
from capturelog._zlib import STDLIB, Backend, CodecError

WORDS = ("request", "user", "cache", "miss", "hit", "db", "query", "took", "retry", "timeout", "ok")


def _backends() -> list[object]:
    found: list[object] = [pytest.param(STDLIB, id="zlib")]
    native = _zlib.NATIVE
    found.append(
        pytest.param(
            native,
            id=f"native-{native.name}" if native else "native",
            marks=pytest.mark.skipif(
                native is None,
                reason="no native back end (none installed, or CAPTURELOG_CODEC=zlib)",
            ),
        )
    )
    isal, libdeflate = _zlib._isal_zlib, _zlib._libdeflate
    if isal is not None and libdeflate is not None:
        found.append(pytest.param(_zlib._backend(isal, None), id="isal-only"))
        found.append(pytest.param(_zlib._backend(None, libdeflate), id="libdeflate-only"))
    return found


BACKENDS = _backends()
LEVELS = range(-1, 10)


def strict_stdlib(data: bytes) -> bytes | None:
    """What today's reader accepts: exactly one whole stream, or None."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data)
    except zlib.error:
        return None
    return out if inflater.eof and not inflater.unused_data else None


def log_like(size: int, seed: int = 3) -> bytes:
    """Text shaped like log lines, ``size`` bytes."""
    rng = random.Random(seed)
    lines = []
    total = 0
    while total < size:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 40)))
        line = f"2026-11-26T14:00:{total % 60:02d} INFO req={rng.getrandbits(64):016x} {words}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def small_streams() -> list[bytes]:
    """Small streams from every library at every level (damage tests use them)."""
    data = b"capture file records, " * 6 + b"and a tail"
    streams = {zlib.compress(data, level) for level in LEVELS}
    if _zlib.NATIVE is not None:
        streams |= {_zlib.NATIVE.compress(data, level) for level in LEVELS}
    return sorted(streams)


logs = st.lists(st.sampled_from(WORDS), max_size=600).map(lambda w: " ".join(w).encode())


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(data=st.one_of(st.binary(max_size=3000), logs), level=st.integers(-1, 9))
def test_round_trip(backend: Backend, data: bytes, level: int) -> None:
    """What a back end compresses, it and the stdlib inflate back to the same bytes."""
    stream = backend.compress(data, level)
    assert isinstance(stream, bytes)
    assert backend.inflate(stream, len(data)) == data
    assert backend.inflate(stream, None) == data
    assert strict_stdlib(stream) == data


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(data=st.one_of(st.binary(max_size=3000), logs), level=st.integers(-1, 9))
def test_inflates_what_the_stdlib_wrote(backend: Backend, data: bytes, level: int) -> None:
    """A back end inflates the stdlib's streams (the reference package writes those)."""
    assert backend.inflate(zlib.compress(data, level), len(data)) == data


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_sized_blocks_every_level(backend: Backend) -> None:
    """A 32 KB block of log text, each level: standard zlib out, the stdlib's in,
    from bytes, bytearray and memoryview alike (the writer seals bytearrays, the
    reader slices memoryviews)."""
    block = log_like(33_000)
    for level in LEVELS:
        stream = backend.compress(bytearray(block), level)
        assert strict_stdlib(stream) == block
        assert backend.inflate(memoryview(stream), len(block)) == block
        assert backend.inflate(memoryview(zlib.compress(block, level)), None) == block


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_stay_near_the_stdlibs(backend: Backend) -> None:
    """No level makes log blocks more than 3% larger than the stdlib does at that
    level: a native library buys time, never file size (see the level map)."""
    block = log_like(33_000)
    for level in LEVELS:
        ours, stdlib = len(backend.compress(block, level)), len(zlib.compress(block, level))
        assert ours <= stdlib * 1.03, (level, backend.levels[level], ours, stdlib)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_input(backend: Backend) -> None:
    """An empty block compresses to a valid stream; empty bytes are no stream."""
    for level in LEVELS:
        stream = backend.compress(b"", level)
        assert strict_stdlib(stream) == b""
        assert backend.inflate(stream, 0) == b""
    with pytest.raises(CodecError):
        backend.inflate(b"", 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_incompressible_block(backend: Backend) -> None:
    """A block holding one large random record (blocks grow past 32 KB for those):
    round trip, and the stream stays within zlib's bound on expansion."""
    block = random.Random(5).randbytes(3 << 20)
    bound = len(block) + (len(block) >> 12) + (len(block) >> 14) + 13  # zlib's compressBound
    for level in (0, 1, 4, 9):
        stream = backend.compress(block, level)
        assert len(stream) <= bound
        assert backend.inflate(stream, len(block)) == block
        assert strict_stdlib(stream) == block


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_levels(backend: Backend) -> None:
    """Levels outside -1..9 are refused (a value error, not a library's own)."""
    for level in (-2, 10, 12):
        with pytest.raises(ValueError, match=r"-1\.\.9"):
            backend.compress(b"data", level)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_truncation_raises(backend: Backend) -> None:
    """A stream cut anywhere, even one byte short of its checksum's end, raises."""
    for stream in small_streams():
        for end in range(len(stream)):
            with pytest.raises(CodecError):
                backend.inflate(stream[:end], None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_flipped_byte_raises(backend: Backend) -> None:
    """Every byte inverted in turn (header, data, checksum) raises."""
    for stream in small_streams():
        for pos in range(len(stream)):
            damaged = bytearray(stream)
            damaged[pos] ^= 0xFF
            with pytest.raises(CodecError):
                backend.inflate(bytes(damaged), None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_flipped_bit_as_the_stdlib(backend: Backend) -> None:
    """Every single bit flipped in turn: refused exactly when the stdlib refuses
    (a few flips leave a valid stream: a header's level hint, padding bits)."""
    for stream in small_streams():
        for bit in range(len(stream) * 8):
            damaged = bytearray(stream)
            damaged[bit // 8] ^= 1 << bit % 8
            expected = strict_stdlib(bytes(damaged))
            if expected is None:
                with pytest.raises(CodecError):
                    backend.inflate(bytes(damaged), None)
            else:
                assert backend.inflate(bytes(damaged), None) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_trailing_bytes_raise(backend: Backend) -> None:
    """Anything after the end of the stream (a length field too long) raises."""
    stream = backend.compress(b"one block", 4)
    for tail in (b"\0", b"x" * 7, stream, zlib.compress(b"")):
        with pytest.raises(CodecError, match="follow"):
            backend.inflate(stream + tail, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_header_fields_as_the_stdlib(backend: Backend) -> None:
    """Every possible two-byte header on a valid body: accepted exactly when the
    stdlib accepts it (ISA-L alone would take a window over 32 KB)."""
    body = zlib.compress(b"hello capture, hello capture!" * 9, 6)[2:]
    for cmf in range(256):
        for flg in range(256):
            data = bytes((cmf, flg)) + body
            expected = strict_stdlib(data)
            if expected is None:
                with pytest.raises(CodecError):
                    backend.inflate(data, None)
            else:
                assert backend.inflate(data, None) == expected


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_arbitrary_bytes_as_the_stdlib(backend: Backend, data: bytes) -> None:
    """Any bytes inflate to what the stdlib gives, or raise CodecError where it refuses."""
    expected = strict_stdlib(data)
    if expected is None:
        with pytest.raises(CodecError):
            backend.inflate(data, None)
    else:
        assert backend.inflate(data, None) == expected


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(
    which=st.integers(0, 1000),
    edits=st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 8),
)
def test_damaged_streams_as_the_stdlib(
    backend: Backend, which: int, edits: list[tuple[int, int]], cut: int
) -> None:
    """Valid streams with bytes changed and the end cut: the stdlib's verdict,
    and only ever CodecError."""
    streams = small_streams()
    damaged = bytearray(streams[which % len(streams)])
    for pos, xor in edits:
        damaged[pos % len(damaged)] ^= xor
    data = bytes(damaged[: len(damaged) - cut])
    expected = strict_stdlib(data)
    if expected is None:
        with pytest.raises(CodecError):
            backend.inflate(data, None)
    else:
        assert backend.inflate(data, None) == expected


def test_codec_error_is_a_value_error() -> None:
    """Callers may catch CodecError as ValueError; the library's error is its cause."""
    with pytest.raises(ValueError, match="check") as info:
        _zlib.inflate(zlib.compress(b"abc")[:-1] + b"\0", None)
    assert isinstance(info.value, CodecError)
    assert info.value.__cause__ is not None


def test_level_maps() -> None:
    """Levels go where the module's docstring says, with or without each library."""
    assert dict(STDLIB.levels) == {level: ("zlib", 6 if level == -1 else level) for level in LEVELS}
    isal, libdeflate = _zlib._isal_zlib, _zlib._libdeflate
    if isal is None or libdeflate is None:
        pytest.skip("needs both native libraries")
    both = _zlib._backend(isal, libdeflate).levels
    assert both[0] == ("zlib", 0)
    assert [both[level] for level in (1, 2)] == [("isal", 1), ("isal", 2)]
    assert all(both[level] == ("libdeflate", level) for level in range(3, 10))
    assert both[-1] == ("libdeflate", 6)
    only_isal = _zlib._backend(isal, None).levels
    assert all(only_isal[level] == ("zlib", level) for level in range(3, 10))
    only_libdeflate = _zlib._backend(None, libdeflate).levels
    assert all(only_libdeflate[level] == ("libdeflate", level) for level in range(1, 10))


# -- the choice made at import, in fresh interpreters --------------------------

PROBE = """
import sys, zlib
for name in sys.argv[1:]:
    sys.modules[name] = None  # makes "import name" raise ImportError
from capturelog import _zlib
data = b"records " * 5000
for level in range(-1, 10):
    stream = _zlib.compress(data, level)
    assert zlib.decompress(stream) == data and _zlib.inflate(stream, None) == data
try:
    _zlib.inflate(stream + b"x", None)
except _zlib.CodecError:
    pass
else:
    raise SystemExit("trailing bytes accepted")
loaded = [sys.modules.get(name) is not None for name in ("isal", "deflate")]
print(_zlib.CODEC_NAME, _zlib.NATIVE is None, *loaded)
"""


def probe(*hidden: str, setting: str | None = None) -> subprocess.CompletedProcess[str]:
    """Import the codec in a fresh interpreter, with some modules hidden and
    CAPTURELOG_CODEC set (or unset); what it reports."""
    env = dict(os.environ)
    env.pop("CAPTURELOG_CODEC", None)
    if setting is not None:
        env["CAPTURELOG_CODEC"] = setting
    return subprocess.run(
        [sys.executable, "-c", PROBE, *hidden],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )


def test_environment_forces_the_stdlib() -> None:
    """CAPTURELOG_CODEC=zlib: the stdlib does everything; no native library is imported."""
    for setting in ("zlib", "stdlib", " ZLIB "):
        assert probe(setting=setting).stdout.split() == ["zlib", "True", "False", "False"]


def test_missing_libraries_fall_back_to_the_stdlib() -> None:
    """With neither native library importable, the stdlib runs, and works."""
    assert probe("isal", "deflate").stdout.split() == ["zlib", "True", "False", "False"]


def test_one_library_missing() -> None:
    """With one native library missing, the other still serves its levels."""
    if _zlib._isal_zlib is None or _zlib._libdeflate is None:
        pytest.skip("needs both native libraries")
    assert probe("deflate").stdout.split() == ["isal", "False", "True", "False"]
    assert probe("isal").stdout.split() == ["libdeflate", "False", "False", "True"]
    assert probe().stdout.split() == ["isal+libdeflate", "False", "True", "True"]


def test_unknown_setting_warns() -> None:
    """A setting the module does not know is reported, and the default choice stands."""
    result = probe(setting="fastest")
    assert "CAPTURELOG_CODEC='fastest' is not known" in result.stderr
    assert result.stdout.split()[0] == probe().stdout.split()[0]


def test_interop_and_damage_suites_pass_on_the_stdlib_fallback() -> None:
    """Where no native wheel installs, files must still interchange and damage
    must still be caught exactly: the interop matrix (the reference package
    reading and writing), the damage, forgery and salvage tests run again in
    a child pytest with CAPTURELOG_CODEC=zlib."""
    if os.environ.get("CAPTURELOG_CODEC", "").strip().lower() in ("zlib", "stdlib"):
        pytest.skip("this whole run is on the stdlib codec already")
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "CAPTURELOG_CODEC": "zlib"}
    files = ["test_interop.py", "test_damage.py", "test_forged.py", "test_salvage.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=tests, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary
