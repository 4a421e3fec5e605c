"""Hostile records: whatever bytes a record holds (any msgpack value, standard
keys of the wrong type, deep nesting, extension types, garbage), reading it
gives a record or InvalidCaptureFile, and the command prints, fails with one
line or reports damage, never a traceback and never a crash."""

from __future__ import annotations

import io
import json
import logging
import math
import struct
import subprocess
import sys
import threading
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capturelog import CaptureFile, InvalidCaptureFile, ReplayReader
from capturelog._codec import KEYS
from capturelog.cli import Printer, details, known_fields

T0 = 1_800_000_000.0
SCRIPT = str(Path(sys.executable).parent / "capturelog")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()  # NaN and infinities included
    | st.sampled_from([1e300, -1e300, T0, 0.0, -0.0])
    | st.text(max_size=12)
    | st.sampled_from(["%s", "%d %(x)s", "\udc80 lone", "svc.db", "WARNING", "%(user)s"])
    | st.binary(max_size=12)
)
# NaN keys make maps hypothesis cannot compare.
keys = scalars.filter(lambda key: not (isinstance(key, float) and math.isnan(key)))


def tuple_ext(items: list[Any]) -> msgpack.ExtType:
    """capturelog's tuple extension holding ``items``."""
    return msgpack.ExtType(1, packb(items))


values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple_ext)
        | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=10))
    ),
    max_leaves=12,
)


def packb(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True, unicode_errors="surrogatepass"))


def nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + closing


def tuples_bytes(depth: int) -> bytes:
    payload = packb([])
    for _ in range(depth - 1):
        payload = packb([tuple_ext([])._replace(data=payload)])
    return packb({"c": T0, "k": "log", "m": "%s", "a": [msgpack.ExtType(1, payload)]})


@st.composite
def log_maps(draw: st.DrawFn) -> bytes:
    """A ``log`` map: standard keys with values of any type, or the usual ones."""
    usual: dict[str, Any] = {
        "c": T0 + draw(st.integers(0, 100)), "k": "log", "v": 1, "n": "svc.db", "m": "%s %s",
        "a": ["a", 1], "l": 30, "p": "/app/x.py", "ln": 3, "fn": "f", "ms": 1.0, "st": T0 - 1,
        "t": 1, "tn": "MainThread", "P": 2, "pn": "MainProcess",
    }  # fmt: skip
    data: dict[Any, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=10, unique=True)):
        data[key] = draw(values) if draw(st.booleans()) or key not in usual else usual[key]
    data.setdefault("k", "log")
    if draw(st.booleans()):  # the time first, where a time search reads it unpacked
        data = {"c": draw(scalars), **{k: v for k, v in data.items() if k != "c"}}
    data.update(draw(st.dictionaries(keys, values, max_size=2)))
    return packb(data)


@st.composite
def event_maps(draw: st.DrawFn) -> bytes:
    event = draw(st.dictionaries(st.sampled_from(["event", "level", "logger", "timestamp",
                                                  "exc_text", "exception", "stack", "x"]),
                                 values, max_size=6))  # fmt: skip
    return packb({"k": "event", "v": 1, "ev": event if draw(st.booleans()) else draw(values)})


def negative_ext_record(code: int, data: bytes) -> bytes:
    """A log map whose "m" is an extension with a negative code (msgpack's
    own: -1 is a timestamp of 4, 8 or 12 bytes), which ExtType cannot pack."""
    time = b"\xa1c\xcb" + struct.pack(">d", T0)
    return b"\x83\xa1k\xa3log" + time + b"\xa1m\xc7" + bytes([len(data), code % 256]) + data


negative_exts = st.builds(
    negative_ext_record,
    st.integers(-128, -1),
    st.sampled_from([4, 8, 12, 0, 3]).flatmap(lambda size: st.binary(min_size=size, max_size=size)),
)

records = st.one_of(
    log_maps(),
    negative_exts,
    event_maps(),
    values.map(packb),
    st.integers(0, 400).map(tuples_bytes),
    st.integers(1000, 1100).map(lambda depth: nested(b"\x91", b"\x90", depth)),
    st.integers(0, 600).map(lambda depth: nested(b"\x81\xa1e", b"\xc0", depth)),
    st.binary(max_size=40),
)


def write(path: Path, payloads: list[bytes]) -> None:
    with CaptureFile(path, to_write=True, encoding=None, force_new_empty_file=True) as cf:
        for payload in payloads:
            cf.add_record(payload)
        cf.commit()


def check_record(record: logging.LogRecord) -> None:
    """Everything a reader does with a record works: the message, and the
    command's text, JSON and detail renderings."""
    assert isinstance(record.getMessage(), str)
    for options in (
        Namespace(json=False, format=None, color="always"),
        Namespace(json=True, format=None, color="never"),
        Namespace(json=False, format="%(lineno)d %(msecs)d %(x)s", color="never"),
    ):
        out = io.StringIO()
        Printer(options, out).write(record)
        if options.json:
            json.loads(out.getvalue())
        assert out.getvalue().endswith("\n")
    assert isinstance(details(record), str)
    assert set(known_fields(record)) == {"seq", "time", "level", "logger", "message"}


def outcome(read: Callable[[], Any]) -> None:
    """A read gives records (each fully usable) or InvalidCaptureFile; nothing else."""
    try:
        result = read()
    except InvalidCaptureFile as exc:
        assert "record " in str(exc)
        return
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, logging.LogRecord):
            check_record(item)


def read_everything(path: Path, count: int) -> None:
    with ReplayReader(path) as reader:
        assert len(reader) == count
        for seq in range(1, count + 1):
            outcome(lambda seq=seq: reader[seq])
            outcome(lambda seq=seq: reader.event(seq))
            for filters in (
                {},
                {"level": "WARNING"},
                {"logger": "svc"},
                {"match": "%|a"},
                {"since": T0 + 10, "until": T0 + 50},
                {"since": float("nan")},
            ):
                outcome(lambda seq=seq, f=filters: list(reader.records(seq, seq + 1, **f)))
        outcome(lambda: list(reader))
        outcome(lambda: list(reader.records(since=T0 + 10, level="INFO", match="s")))
        outcome(lambda: reader[1 : count + 1])


def in_a_thread(run: Callable[[], None], stack_size: int) -> None:
    """Run ``run`` in a thread with a small stack; re-raise what it raised."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as exc:
            errors.append(exc)

    old = threading.stack_size(stack_size)
    try:
        thread = threading.Thread(target=target)
        thread.start()
    finally:
        threading.stack_size(old)
    thread.join()
    if errors:
        raise errors[0]


SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(st.lists(records, min_size=1, max_size=6))
def test_any_record_reads_as_a_record_or_invalid_capture_file(
    tmp_path: Path, payloads: list[bytes]
) -> None:
    """By number, as data, by iteration and through every filter, in a thread
    with a 512 KiB stack: a record or InvalidCaptureFile naming the record,
    and every record read renders (message, text, JSON, details)."""
    path = tmp_path / "hostile.capture"
    write(path, payloads)
    in_a_thread(lambda: read_everything(path, len(payloads)), 512 * 1024)


def run_all(commands: list[list[str]]) -> list[tuple[list[str], subprocess.CompletedProcess[str]]]:
    """Run the commands two at a time (this machine has two cores)."""
    results = []
    for first in range(0, len(commands), 2):
        batch = [
            (args, subprocess.Popen([SCRIPT, *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL))
            for args in commands[first : first + 2]
        ]  # fmt: skip
        for args, proc in batch:
            out, err = proc.communicate(timeout=120)
            results.append((args, subprocess.CompletedProcess(args, proc.returncode, out, err)))
    return results


@settings(max_examples=5, deadline=None, suppress_health_check=SLOW_OK)
@given(st.lists(records, min_size=3, max_size=8))
def test_the_command_never_crashes_on_hostile_records(
    tmp_path: Path, payloads: list[bytes]
) -> None:
    """cat, cat --json, tail, stats and show print or fail with one line
    (exit 0 or 1); verify exits 0 or 3; never a traceback, never a signal."""
    path = tmp_path / "hostile.capture"
    write(path, payloads)
    name = str(path)
    commands = [["cat", name], ["cat", name, "--json"], ["tail", name, "-n", "3"],
                ["stats", name], ["verify", name], ["cat", name, "--level", "info", "--grep", "s"],
                *(["show", name, str(seq)] for seq in (1, len(payloads)))]  # fmt: skip
    for args, result in run_all(commands):
        assert result.returncode >= 0, (args, result.returncode)  # not killed by a signal
        assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
        if args[0] == "verify":
            assert result.returncode in (0, 3), (args, result.stdout, result.stderr)
        else:
            assert result.returncode in (0, 1), (args, result.returncode, result.stderr)
        if result.returncode == 1:
            assert result.stderr.startswith("capturelog: error: ")
            assert len(result.stderr.splitlines()) == 1, result.stderr
