"""The capturelog command, run as the installed console script in a subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from capturelog import CaptureFile, CaptureHandler
from capturelog._codec import RecordEncoder

SCRIPT = str(Path(sys.executable).parent / "capturelog")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def logfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file written by CaptureHandler with known contents, and times T0 + i."""
    path = tmp_path_factory.mktemp("cli") / "app.capture"
    handler = CaptureHandler(path, commit_interval=None)
    names = ["svc.api", "svc.db", "svc.db.pool"]
    levels = [logging.INFO, logging.DEBUG, logging.WARNING, logging.INFO]
    for i in range(200):
        record = logging.LogRecord(names[i % 3], levels[i % 4], "/app/m.py", i, "request %d from %s", (i, "ann"), None)
        record.created = 1_800_000_000.0 + i
        record.msecs = 0.0
        handler.handle(record)
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        record = logging.LogRecord("svc.db", logging.ERROR, "/app/m.py", 999, "write failed", (), sys.exc_info())
        record.created = 1_800_000_300.0
        record.order_id = 77
        handler.handle(record)
    handler.close()
    return path


def test_cat_prints_one_line_per_record_and_tracebacks(logfile: Path) -> None:
    """Default output: a line per record, the traceback after its record."""
    result = run("cat", str(logfile))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("INFO     svc.api: request 0 from ann")
    assert "ERROR    svc.db: write failed" in lines[200]
    assert lines[-1] == "RuntimeError: disk on fire"
    assert "\x1b[" not in result.stdout  # never colour into a pipe


def test_cat_filters_and_slices(logfile: Path) -> None:
    """--start/--stop (stop excluded), --level, --logger, --grep, --since/--until."""
    out = run("cat", str(logfile), "--start", "3", "--stop", "5", "--format", "%(message)s").stdout
    assert out.splitlines() == ["request 2 from ann", "request 3 from ann"]
    out = run("cat", str(logfile), "--level", "warning", "--format", "%(levelname)s").stdout
    assert out.splitlines()[:50] == ["WARNING"] * 50 and out.splitlines()[50] == "ERROR"
    out = run("cat", str(logfile), "--logger", "svc.db", "--stop", "201", "--format", "%(name)s").stdout
    assert set(out.split()) == {"svc.db", "svc.db.pool"}
    out = run("cat", str(logfile), "--grep", r"request 1\d\d ", "--format", "%(message)s").stdout
    assert len(out.splitlines()) == 100
    out = run(
        "cat", str(logfile), "--since", "1800000010", "--until", "2027-01-15T08:00:13+00:00",
        "--format", "%(message)s",
    ).stdout  # fmt: skip
    assert out.splitlines() == [f"request {i} from ann" for i in (10, 11, 12)]


def test_cat_json_lines_have_every_field(logfile: Path) -> None:
    """--json gives one object per record with the fields and the rendered message."""
    out = run("cat", str(logfile), "--json", "--start", "201").stdout
    record = json.loads(out)
    assert record["message"] == "write failed"
    assert record["seq"] == 201 and record["level"] == "ERROR" and record["logger"] == "svc.db"
    assert record["order_id"] == 77
    assert "RuntimeError: disk on fire" in record["exc_text"]
    assert record["lineno"] == 999 and record["pathname"] == "/app/m.py"


def test_tail_show_stats_verify(logfile: Path) -> None:
    """tail -n, show (all attributes), stats (counts, span, size, state), verify."""
    out = run("tail", str(logfile), "-n", "2", "--format", "%(message)s").stdout
    assert out.splitlines()[:2] == ["request 199 from ann", "write failed"]
    out = run("show", str(logfile), "201").stdout
    assert "record 201 of 201" in out and "order_id: 77" in out and "RuntimeError: disk on fire" in out
    assert "template: 'write failed'" in out
    out = run("stats", str(logfile)).stdout
    assert "records:     201 committed" in out
    assert "no writer has the file open" in out
    assert "WARNING            50" in out and "svc.db.pool" in out
    result = run("verify", str(logfile))
    assert result.returncode == 0
    assert "sound: 201 records" in result.stdout


def test_stats_sees_a_live_writer(tmp_path: Path) -> None:
    """stats says when a writer has the file open."""
    path = tmp_path / "live.capture"
    with CaptureFile(path, to_write=True):
        assert "a writer has the file open" in run("stats", str(path)).stdout


def test_verify_reports_damage_and_where(tmp_path: Path) -> None:
    """A damaged block and a damaged master node are each named, with a non-zero exit."""
    path = tmp_path / "d.capture"
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("verify.damage")
    log.handlers = [handler]
    log.propagate = False
    for i in range(5000):
        log.warning("line %d %s", i, "x" * (i % 50))
    handler.close()
    with open(path, "r+b") as f:
        f.seek(86016 + 500)
        f.write(b"\xff" * 8)
        f.seek(4096 + 7)
        f.write(b"\x00\x01")
    result = run("verify", str(path))
    assert result.returncode == 3
    assert "DAMAGED" in result.stdout
    assert "block at byte 86016" in result.stdout
    # A torn master node is what a crash leaves: a note, not damage.
    assert "note: master node A at byte 4096" in result.stdout
    assert "Traceback" not in result.stderr


def test_errors_are_one_line(tmp_path: Path) -> None:
    """Missing file, foreign file, bad time, bad record number: one line, non-zero."""
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello\n")
    for args in (
        ["cat", str(tmp_path / "missing.capture")],
        ["cat", str(foreign)],
        ["cat", str(foreign), "--since", "soon"],
        ["show", str(foreign), "1"],
        ["tail", str(foreign), "-n", "-2"],
    ):
        result = run(*args)
        assert result.returncode != 0
        assert result.stderr.startswith("capturelog: error: ")
        assert len(result.stderr.splitlines()) == 1, result.stderr
    result = run("cat")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_a_closed_pipe_ends_quietly(logfile: Path) -> None:
    """`capturelog cat ... | head -1` exits cleanly with no traceback."""
    result = subprocess.run(
        f"'{SCRIPT}' cat '{logfile}' | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_colour_on_a_terminal_and_no_color(logfile: Path) -> None:
    """--color always colours by level; NO_COLOR turns auto off."""
    out = run("cat", str(logfile), "--level", "error", "--color", "always").stdout
    assert out.startswith("\x1b[31m")
    env = dict(os.environ, NO_COLOR="1")
    assert "\x1b[" not in run("cat", str(logfile), env=env).stdout


def test_python_dash_m_and_files_from_structlog(tmp_path: Path) -> None:
    """python -m capturelog works, on a file that structlog wrote."""
    path = tmp_path / "events.capture"
    code = (
        "import structlog, sys\n"
        "from capturelog.structlog import CaptureLoggerFactory\n"
        "f = CaptureLoggerFactory(sys.argv[1])\n"
        "structlog.configure(processors=[structlog.processors.add_log_level], logger_factory=f)\n"
        "structlog.get_logger('shop').warning('order.placed', order=12, total=9.5)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "capturelog", "cat", str(path), "--format", "%(levelname)s %(name)s %(message)s"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == "WARNING shop order.placed order=12 total=9.5"
    out = json.loads(run("cat", str(path), "--json").stdout)
    assert out["order"] == 12 and "msg" not in out


def test_tail_follow_prints_new_records(tmp_path: Path) -> None:
    """tail -f prints records committed after it started, until interrupted."""
    path = tmp_path / "f.capture"
    handler = CaptureHandler(path, commit_every=1)
    log = logging.getLogger("tail.follow")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    log.info("before")
    proc = subprocess.Popen(
        [SCRIPT, "tail", str(path), "-f", "--interval", "0.05", "--format", "%(message)s"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "before\n"
    log.info("after")
    assert proc.stdout.readline() == "after\n"
    proc.send_signal(2)  # Ctrl-C
    assert proc.wait(timeout=30) in (0, 130)
    handler.close()



def test_verify_is_safe_on_a_file_being_written(tmp_path: Path) -> None:
    """verify during busy commits never reports damage that is not there."""
    path = tmp_path / "busy.capture"
    writer = CaptureFile(path, to_write=True)
    command = [SCRIPT, "verify", "--raw", str(path)]  # the records are plain text
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    results: list[tuple[int, str]] = []
    n = 0
    while len(results) < 4 and n < 2_000_000:
        for _ in range(10):
            n += 1
            writer.add_record(f"record {n} " * 3)
        writer.commit()
        if proc.poll() is not None:
            assert proc.stdout is not None
            results.append((proc.returncode, proc.stdout.read()))
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    writer.close()
    out, _ = proc.communicate(timeout=60)
    results.append((proc.returncode, out))
    assert len(results) >= 2
    assert all(code == 0 and "sound" in text for code, text in results), results


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    """Long verify/stats/export runs draw progress on a terminal's stderr, not in a pipe."""
    import pty

    path = tmp_path / "long.capture"
    with CaptureFile(path, to_write=True) as cf:
        from capturelog._codec import RecordEncoder

        encoder = RecordEncoder()
        for i in range(12000):
            cf.add_record(encoder.encode(logging.LogRecord("p", 20, "/p.py", 1, "r %d", (i,), None)))
        cf.commit()
    for command in (["verify", str(path)], ["stats", str(path)], ["cat", "--json", str(path)]):
        main, secondary = pty.openpty()
        proc = subprocess.Popen([SCRIPT, *command], stdout=subprocess.DEVNULL, stderr=secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed when the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(main)
        assert proc.wait(timeout=60) == 0
        shown = b"".join(chunks).decode()
        assert "of 12,000 records" in shown, (command, shown)
        piped = run(*command)
        assert "records (" not in piped.stderr


def nested_tuple_value(depth: int) -> object:
    value: object = "core"
    for _ in range(depth):
        value = (value,)
    return value


def test_deeply_nested_values_never_crash_the_readers(tmp_path: Path) -> None:
    """A tuple nested 200 deep is logged; cat, verify and ReplayReader(p)[1]
    (in subprocesses: the old code died of SIGSEGV) read it, and a hand-made
    record with the tuple extension nested 400 deep is damage that verify
    reports (exit 3) and cat names in one line, never a crash."""
    path = tmp_path / "deep.capture"
    value = nested_tuple_value(200)
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("cli.deep")
    log.handlers = [handler]
    log.propagate = False
    log.warning("state %s", value)
    handler.close()
    expected = f"state {value}"  # what "state %s" % (value,) gives
    result = run("cat", str(path), "--format", "%(message)s")
    assert (result.returncode, result.stdout) == (0, expected + "\n"), result.stderr[-500:]
    result = run("verify", str(path))
    assert result.returncode == 0 and "sound: 1 records" in result.stdout
    code = "import sys, capturelog\nprint(capturelog.ReplayReader(sys.argv[1])[1].getMessage())"
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, expected + "\n"), result.stderr[-500:]

    hostile = tmp_path / "hostile.capture"
    payload = msgpack.packb([])
    for _ in range(399):
        payload = msgpack.packb([msgpack.ExtType(1, payload)])
    good = RecordEncoder().encode(logging.LogRecord("x", 20, "/a.py", 1, "fine", (), None))
    with CaptureFile(hostile, to_write=True, encoding=None) as cf:
        cf.add_record(good)
        cf.add_record(msgpack.packb({"c": 1.0, "k": "log", "a": [msgpack.ExtType(1, payload)]}))
        cf.add_record(b"\x91" * 1100 + b"\x90")  # past msgpack's own 1024 levels
        cf.commit()
    result = run("verify", str(hostile))
    assert result.returncode == 3, (result.returncode, result.stderr[-500:])
    assert "record 2: " in result.stdout and "nested more than" in result.stdout
    assert "record 3: " in result.stdout and "1024" in result.stdout
    for args in (["cat", str(hostile)], ["show", str(hostile), "2"], ["stats", str(hostile)]):
        result = run(*args)
        assert result.returncode == 1, (args, result.returncode, result.stderr[-500:])
        assert result.stderr.startswith(f"capturelog: error: {hostile}: record 2 ")
        assert len(result.stderr.splitlines()) == 1
    assert run("cat", str(hostile), "--stop", "2").returncode == 0


def test_malformed_logging_calls_are_shown_and_reading_goes_on(malformed: Path) -> None:
    """cat prints a malformed call (template, arguments and error) and the
    records after it, exits 0, and --grep searches that text."""
    path = malformed
    result = run("cat", str(path), "--format", "%(message)s")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "'user %(user)s' % {'name': 'ann'} (formatting failed: KeyError('user'))",
        "'%d items' % ('many',) (formatting failed: TypeError("
        "'%d format: a real number is required, not str'))",
        "after them",
    ]
    result = run("cat", str(path), "--grep", "KeyError", "--format", "%(levelname)s %(message)s")
    assert result.stdout.startswith("WARNING 'user %(user)s'") and result.stdout.count("\n") == 1
    result = run("show", str(path), "1")
    assert result.returncode == 0 and "formatting failed: KeyError('user')" in result.stdout


def test_odd_values_never_stop_the_commands(tmp_path: Path) -> None:
    """Times of 1e300, infinity and NaN (logged, or crafted) and standard
    fields of unexpected types: cat, cat --json, show, stats and tail print
    every record, exit 0 and never show a traceback."""
    path = tmp_path / "odd.capture"
    handler = CaptureHandler(path, commit_interval=None)
    for created in (1e300, float("inf"), float("nan")):
        fields = {"created": created, "msg": "at %s", "args": (created,), "levelno": 30}
        handler.handle(logging.makeLogRecord({**fields, "levelname": "WARNING", "name": "odd"}))
    handler.close()
    crafted = [
        {"c": 1.0, "k": "log", "n": 5, "L": [1], "p": 7, "l": "x", "ln": 1.5, "m": {"a": 1}},
        {"c": "t", "k": "log", "n": ["a"], "p": ["b"], "l": [1], "ln": "q", "m": "hi", "x": 3},
        {"c": -1e300, "k": "log", "s": [2], "ms": "m", "fn": 1, "t": "x", "tk": 2.5, "txt": 9},
        {"c": 2.0, "k": "log", "e": {"user": {b"k": 1, 3: [float("nan")], None: 2}}},
        {"c": 3.0, "k": "event", "ev": {"event": [1], "level": {}, "timestamp": 1e300}},
        {"c": 4.0, "k": "log", "m": "lone \udc80 surrogate"},
    ]
    with CaptureFile(path, to_write=True, encoding=None) as cf:
        for data in crafted:
            cf.add_record(msgpack.packb(data, unicode_errors="surrogatepass"))
        cf.commit()
    total = 3 + len(crafted)
    for args in (
        ["cat", str(path)],
        ["cat", str(path), "--json"],
        ["cat", str(path), "--format", "%(asctime)s %(lineno)d %(name)s %(msecs)03d %(message)s"],
        ["cat", str(path), "--level", "warning", "--logger", "odd", "--grep", "at"],
        ["tail", str(path), "-n", "20"],
        ["stats", str(path)],
        *(["show", str(path), str(seq)] for seq in range(1, total + 1)),
    ):
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr[-1000:])
        assert "Traceback" not in result.stderr and result.stderr == "", (args, result.stderr)
        if args[0] in ("cat", "tail") and "--level" not in args:
            lines = result.stdout.splitlines()
            assert len(lines) >= total, (args, result.stdout)
            if "--json" in args:
                assert [json.loads(line)["seq"] for line in lines] == list(range(1, total + 1))
    out = run("cat", str(path), "--level", "warning", "--grep", "at", "--format", "%(message)s")
    assert out.stdout.splitlines() == ["at 1e+300", "at inf", "at nan"]
    out = run("cat", str(path), "--stop", "2").stdout
    assert out.startswith("1e+300 (not a time) WARNING  odd: at 1e+300")
    assert "lone \\udc80 surrogate" in run("cat", str(path)).stdout
    assert "records:     9 committed" in run("stats", str(path)).stdout


def test_a_format_field_a_record_lacks_prints_empty(tmp_path: Path) -> None:
    """A --format field one record lacks prints empty in that record's line
    (the stream goes on); a field that cannot take the record's value
    (``%(user)d`` for a name) gives that record a fallback line (number,
    time, level, logger, message and the error); the exit status stays 0."""
    path = tmp_path / "fields.capture"
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("cli.fields")
    log.handlers = [handler]
    log.propagate = False
    log.warning("first", extra={"user": "ann"})
    log.warning("second")
    log.warning("third", extra={"user": "bob"})
    handler.close()
    result = run("cat", str(path), "--format", "%(user)s: %(message)s")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == ["ann: first", ": second", "bob: third"]
    result = run("cat", str(path), "--format", "%(user)d %(message)s")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for seq, line in enumerate(lines, 1):
        assert line.startswith(f"record {seq}: ") and " WARNING cli.fields: " in line
        assert "cannot be formatted" in line
