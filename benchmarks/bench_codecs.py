"""zlib-compatible block codecs side by side, on the blocks our writer produces.

    python benchmarks/bench_codecs.py [--rounds 9] [--blocks 48] [--levels 1,2,4,6] [--skip-checks]

Set CAPTURELOG_CODEC=zlib to time capturelog._zlib on its stdlib fallback.

Candidates: the stdlib ``zlib``, ``isal`` (``isal.isal_zlib``, ISA-L),
``zlib-ng`` (``zlib_ng.zlib_ng``) and ``deflate`` (libdeflate); any that is not
installed is left out. The blocks are real ones: records from
``bench_engine.log_like_records`` written by ``capturelog.CaptureFile`` (engine
data), and ``bench_handler``'s ``logger.info`` calls stored by
``CaptureHandler`` (msgpack maps: handler data), read back uncompressed.

Each round times every job once, in an order that rotates from round to round,
so load from other processes falls on all of them alike; tables give the
median per block of about 32 KB, and the best in brackets. Size is compressed
over raw. Inflating is timed the way a reader that checks its blocks must do
it: stdlib, isal and zlib-ng through a decompress object whose ``eof`` and
``unused_data`` are checked; libdeflate with the output size it requires (it
has no way to tell trailing bytes). The last rows are ``capturelog._zlib``,
the codec the engine uses, at the levels the engine (4) and handler (1) use.

Then, unless ``--skip-checks``: the stdlib inflates every library's output and
every library the stdlib's; files whose blocks each library compressed are
read by the reference ``CaptureFile`` package and by capturelog; each library
inflates the blocks of a file the reference wrote; and whether each library
lets go of the GIL while it works (measured by how much a Python loop in
another thread gets done meanwhile, so it holds on a machine whose second
core is busy too).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import CaptureFile as reference

import capturelog
from capturelog import _writer, _zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_engine import log_like_records

Compress = Callable[[Any, int], Any]
Inflate = Callable[[Any, int], Any]
KINDS = ("engine", "handler")
TODAY = {"engine": 4, "handler": 1}  # the stdlib levels files are written with today


@dataclass
class Codec:
    name: str
    compress: Compress
    inflate: Inflate
    levels: list[int]
    version: str


def _checked_inflater(module: Any) -> Inflate:
    """Inflate exactly one whole stream, as a reader checking its blocks must."""
    decompressobj = module.decompressobj

    def inflate(data: bytes, size: int) -> bytes:
        inflater = decompressobj()
        out: bytes = inflater.decompress(data)
        if not inflater.eof or inflater.unused_data:
            raise ValueError("not exactly one whole stream")
        return out

    return inflate


def candidates(levels: list[int]) -> list[Codec]:
    """The libraries that are installed."""
    found = [
        Codec("stdlib", zlib.compress, _checked_inflater(zlib), levels, zlib.ZLIB_RUNTIME_VERSION)
    ]
    with contextlib.suppress(ImportError):
        isal = importlib.import_module("isal")
        isal_zlib = importlib.import_module("isal.isal_zlib")
        isal_levels = [level for level in range(4) if level in levels or level == 0]
        found.append(
            Codec(
                "isal",
                isal_zlib.compress,
                _checked_inflater(isal_zlib),
                isal_levels,
                f"isal {isal.__version__} (its levels: 0-3)",
            )
        )
    with contextlib.suppress(ImportError):
        zlib_ng = importlib.import_module("zlib_ng")
        zlib_ng_zlib = importlib.import_module("zlib_ng.zlib_ng")
        found.append(
            Codec(
                "zlib-ng",
                zlib_ng_zlib.compress,
                _checked_inflater(zlib_ng_zlib),
                levels,
                f"zlib-ng {zlib_ng.__version__} (zlib-ng {zlib_ng_zlib.ZLIBNG_VERSION})",
            )
        )
    with contextlib.suppress(ImportError):
        deflate = importlib.import_module("deflate")
        found.append(
            Codec(
                "libdeflate",
                deflate.zlib_compress,
                deflate.zlib_decompress,
                levels,
                f"deflate {deflate.__version__}",
            )
        )
    return found


# -- the blocks --------------------------------------------------------------


def _blocks_of(path: str) -> list[bytes]:
    """Every full block of a capture file, uncompressed, read through
    capturelog's own reader (so exactly what the writer compressed)."""
    with capturelog.CaptureFile(path) as cf:
        view, reader = cf._view, cf._blocks
        pos = cf._config.data_start
        blocks = []
        while pos < view.limit:
            _, following = reader.read_compressed(view, pos)
            blocks.append(bytes(reader.load(view, pos)))
            pos = following
        return [block for block in blocks if len(block) >= cf._config.block_size]


def engine_blocks(tmp: str, count: int) -> list[bytes]:
    """Blocks of log-like text records written by CaptureFile, committing every 1,000."""
    path = os.path.join(tmp, "engine.capture")
    with capturelog.CaptureFile(path, to_write=True, force_new_empty_file=True) as cf:
        for i, record in enumerate(log_like_records(count * 150), 1):
            cf.add_record(record)
            if i % 1000 == 0:
                cf.commit()
        cf.commit()
    return _blocks_of(path)[:count]


def handler_blocks(tmp: str, count: int) -> list[bytes]:
    """Blocks of msgpack maps stored by CaptureHandler, from bench_handler's calls."""
    path = os.path.join(tmp, "handler.capture")
    rng = random.Random(11)
    users = [f"user-{rng.getrandbits(32):08x}" for _ in range(500)]
    handler = capturelog.CaptureHandler(path)
    logger = logging.getLogger("bench.svc.api")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for _ in range(count * 700):
        logger.info(
            "request from user %s finished in %d ms", rng.choice(users), rng.randint(1, 2000)
        )
    handler.close()
    logger.handlers = []
    return _blocks_of(path)[:count]


# -- timing ------------------------------------------------------------------


def rotating_rounds(jobs: dict[str, Callable[[], object]], count: int) -> dict[str, list[float]]:
    """Run every job once a round, ``count`` rounds, each round starting one
    job further on; the times of each job."""
    names = list(jobs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(count):
        at = r * max(1, len(names) // count) % len(names)
        for name in names[at:] + names[:at]:
            job = jobs[name]
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    return times


def _loop(fn: Callable[..., object], calls: list[tuple[Any, ...]]) -> Callable[[], None]:
    def run() -> None:
        for args in calls:
            fn(*args)

    return run


def load_line(label: str) -> str:
    one, five, _ = os.getloadavg()
    return f"{label}: load average {one:.2f} (1 min), {five:.2f} (5 min)"


@dataclass
class Study:
    """The jobs to time, what they produce, and their times once run."""

    blocks: dict[str, list[bytes]]
    jobs: dict[str, Callable[[], object]]
    sizes: dict[str, float]
    times: dict[str, list[float]]

    def add(self, key: str, kind: str, compress: Compress, level: int, inflate: Inflate) -> None:
        """Time compressing the blocks of ``kind`` and inflating the result."""
        blocks = self.blocks[kind]
        streams = [compress(block, level) for block in blocks]
        self.sizes[key] = sum(map(len, streams)) / sum(map(len, blocks))
        self.jobs[f"compress {key}"] = _loop(compress, [(b, level) for b in blocks])
        self.jobs[f"inflate {key}"] = _loop(
            inflate, [(s, len(b)) for s, b in zip(streams, blocks, strict=True)]
        )

    def add_inflate(self, key: str, kind: str, level: int, inflate: Inflate) -> None:
        """Time inflating the stdlib's streams of ``kind`` at ``level``."""
        blocks = self.blocks[kind]
        calls = [(zlib.compress(block, level), len(block)) for block in blocks]
        self.jobs[f"inflate {key}"] = _loop(inflate, calls)

    def us(self, job: str, kind: str) -> float:
        """Median microseconds per block."""
        return statistics.median(self.times[job]) / len(self.blocks[kind]) * 1e6

    def cell(self, job: str, kind: str) -> str:
        best = min(self.times[job]) / len(self.blocks[kind]) * 1e6
        return f"{self.us(job, kind):6.1f} [{best:5.1f}]"


def print_tables(study: Study, rows: list[tuple[str, int]], codecs: list[Codec]) -> None:
    print("\nus per block: median [best]; size = compressed / raw")
    header = (
        f"{'library, level':<22} {'compress engine':>15} {'size':>5} {'inflate it':>14}"
        f" {'compress handler':>16} {'size':>5} {'inflate it':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, level in rows:
        cells = []
        for kind in KINDS:
            key = f"{name} {level} {kind}"
            cells.append(
                f"{study.cell('compress ' + key, kind):>15} {study.sizes[key]:>5.3f}"
                f" {study.cell('inflate ' + key, kind):>14}"
            )
        print(f"{name + ' ' + str(level):<22} {cells[0]} {cells[1]:>38}")

    print("\ninflating the stdlib's streams (engine level 4, handler 1): us per block, x stdlib")
    for codec in codecs:
        parts = []
        for kind in KINDS:
            job = f"inflate {codec.name} today {kind}"
            ratio = study.us(job, kind) / study.us(f"inflate stdlib today {kind}", kind)
            parts.append(f"{kind} {study.cell(job, kind)} {ratio:4.2f}x")
        print(f"  {codec.name:<12} " + "   ".join(parts))

    print(
        "\nagainst the stdlib at the level of today's files (engine 4, handler 1):"
        " compress time x, size x (and size x the reference's level 6)"
    )
    for name, level in rows:
        parts = []
        for kind in KINDS:
            key, base = f"{name} {level} {kind}", f"stdlib {TODAY[kind]} {kind}"
            time_x = study.us(f"compress {key}", kind) / study.us(f"compress {base}", kind)
            size_x = study.sizes[key] / study.sizes[base]
            ref_x = study.sizes[key] / study.sizes[f"stdlib 6 {kind}"]
            parts.append(f"{kind} {time_x:4.2f}x time {size_x:4.2f}x size ({ref_x:4.2f}x)")
        print(f"  {name + ' ' + str(level):<22} " + "   ".join(parts))


# -- checks ------------------------------------------------------------------


@contextlib.contextmanager
def writer_compressing_with(compress: Compress) -> Iterator[None]:
    """capturelog's writer compressing its blocks with ``compress``: it calls
    ``zlib.compress`` (once wired, ``_zlib.compress``) through its globals."""
    saved: dict[str, Any] = {}
    shim = type("shim", (), {"compress": staticmethod(compress)})
    for name in ("zlib", "_zlib"):
        if hasattr(_writer, name):
            saved[name] = getattr(_writer, name)
            setattr(_writer, name, shim)
    try:
        yield
    finally:
        for name, module in saved.items():
            setattr(_writer, name, module)


def check_streams(codecs: list[Codec], blocks: list[bytes]) -> list[str]:
    """The stdlib inflates every output, every library inflates the stdlib's."""
    problems = []
    std = _checked_inflater(zlib)
    for codec in codecs:
        for level in codec.levels:
            if any(std(codec.compress(b, level), len(b)) != b for b in blocks):
                problems.append(f"stdlib misreads {codec.name} level {level}")
        for level in range(10):
            if any(bytes(codec.inflate(zlib.compress(b, level), len(b))) != b for b in blocks):
                problems.append(f"{codec.name} misreads stdlib level {level}")
    return problems


def check_files(codecs: list[Codec], tmp: str) -> list[str]:
    """Files whose blocks each library compressed, read by the reference
    package and by capturelog; each library reading a file the reference wrote."""
    problems = []
    records = log_like_records(5000, seed=5)
    for codec in codecs:
        for level in sorted({min(codec.levels), 4 if 4 in codec.levels else max(codec.levels)}):
            path = os.path.join(tmp, f"{codec.name}-{level}.capture")
            with (
                writer_compressing_with(codec.compress),
                capturelog.CaptureFile(
                    path, to_write=True, force_new_empty_file=True, compression_level=level
                ) as cf,
            ):
                for i, record in enumerate(records, 1):
                    cf.add_record(record)
                    if i % 700 == 0:
                        cf.commit()
                cf.commit()
            ref = reference.CaptureFile(path)
            try:
                ok = list(ref) == records
            finally:
                ref.close()
            with capturelog.CaptureFile(path) as cf:
                ok = ok and list(cf) == records
            if not ok:
                problems.append(f"a file of {codec.name} level {level} blocks reads wrong")
    path = os.path.join(tmp, "reference.capture")
    ref = reference.CaptureFile(path, to_write=True, force_new_empty_file=True)
    for record in records:
        ref.add_record(record)
    ref.commit()
    ref.close()
    with capturelog.CaptureFile(path) as cf:
        view, reader = cf._view, cf._blocks
        pos = cf._config.data_start
        while pos < view.limit:
            compressed, following = reader.read_compressed(view, pos)
            expected = reader.load(view, pos)
            for codec in codecs:
                if bytes(codec.inflate(bytes(compressed), len(expected))) != expected:
                    problems.append(f"{codec.name} misreads the reference's block at {pos}")
            pos = following
    return problems


def share_during(job: Callable[[], object]) -> float:
    """How much of its usual pace a Python loop keeps while another thread runs
    ``job`` (one long call into the library): near 0 when the library holds
    the GIL throughout, about the free share of a core when it lets go."""

    def spin(seconds: float) -> int:
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            count += 1
        return count

    done = threading.Event()

    def work() -> None:
        job()
        done.set()

    solo = spin(0.02) / 0.02
    worker = threading.Thread(target=work)
    count = 0
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        count += 1
        time.perf_counter()  # the same work per turn as in spin()
    elapsed = time.perf_counter() - start
    worker.join()
    return count / elapsed / solo


def check_gil(codecs: list[Codec], blocks: list[bytes]) -> None:
    big = b"".join(blocks) * 4  # one call of a few tens of ms
    print("a Python loop's pace while another thread is in one long call (0: the GIL is held):")
    numbers = list(range(len(big) // 8, 0, -1))
    held = statistics.median(share_during(functools.partial(sorted, numbers)) for _ in range(3))
    print(f"  {'control':<12} sorted(), which holds the GIL: {held:.2f}")
    for codec in codecs:
        stream = codec.compress(big, 1)
        jobs = {
            "compress": functools.partial(codec.compress, big, 1),
            "inflate": functools.partial(codec.inflate, stream, len(big)),
        }
        c, i = (statistics.median(share_during(job) for _ in range(3)) for job in jobs.values())
        print(f"  {codec.name:<12} compress {c:.2f}, inflate {i:.2f}")


# -- main --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--blocks", type=int, default=48, help="blocks of each kind of data")
    parser.add_argument(
        "--levels", default="1,2,3,4,5,6,9", help="levels to time (isal: those up to 3)"
    )
    parser.add_argument("--skip-checks", action="store_true")
    args = parser.parse_args()
    levels = sorted({int(level) for level in args.levels.split(",")} | {1, 4, 6})

    codecs = candidates(levels)
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    for codec in codecs:
        print(f"  {codec.name:<12} {codec.version}")
    print(f"  capturelog._zlib runs {_zlib.CODEC_NAME}: levels {dict(_zlib.LEVELS)}")
    print(load_line("start"))

    with tempfile.TemporaryDirectory() as tmp:
        blocks = {
            "engine": engine_blocks(tmp, args.blocks),
            "handler": handler_blocks(tmp, args.blocks),
        }
        study = Study(blocks, {}, {}, {})
        rows = []
        for codec in codecs:
            for level in codec.levels:
                rows.append((codec.name, level))
                for kind in KINDS:
                    study.add(
                        f"{codec.name} {level} {kind}", kind, codec.compress, level, codec.inflate
                    )
            for kind in KINDS:
                study.add_inflate(f"{codec.name} today {kind}", kind, TODAY[kind], codec.inflate)
        for level in (1, 4):
            rows.append(("_zlib", level))
            for kind in KINDS:
                study.add(f"_zlib {level} {kind}", kind, _zlib.compress, level, _zlib.inflate)
        sizes = {kind: sum(map(len, b)) // len(b) for kind, b in blocks.items()}
        print(
            f"{len(blocks['engine'])} engine blocks of {sizes['engine']:,} bytes on average,"
            f" {len(blocks['handler'])} handler blocks of {sizes['handler']:,};"
            f" {len(study.jobs)} jobs, median [best] of {args.rounds} rotating rounds"
        )
        study.times = rotating_rounds(study.jobs, args.rounds)
        print(load_line("end of timing"))
        print_tables(study, rows, codecs)

        if not args.skip_checks:
            print()
            problems = check_streams(codecs, blocks["engine"][:8] + blocks["handler"][:8])
            problems += check_files(codecs, tmp)
            print("interoperability:", "; ".join(problems) if problems else "all checks passed")
            check_gil(codecs, blocks["engine"][:32])


if __name__ == "__main__":
    main()
