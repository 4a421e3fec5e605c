"""The reading commands as a journalctl or grep user types them: every
--help, levels by name, number, custom name and range, times relative and
absolute, --grep through tracebacks and extras with smart case, several
files, directories and globs, followed sets, short options and output modes,
numbers from the end, exit codes. The installed console script, in a
subprocess."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureHandler
from capturelog.cli import _parser

SCRIPT = str(Path(sys.executable).parent / "capturelog")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=120, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def lines(*args: str) -> list[str]:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def write(path: Path, entries: list[tuple[float, int, str, str, dict[str, object]]]) -> Path:
    """Records (time, level, logger, message, extra) through a real handler."""
    handler = CaptureHandler(path, commit_interval=None)
    for created, level, name, message, extra in entries:
        record = logging.LogRecord(name, level, "/app/m.py", 1, message, (), None)
        record.created = created
        record.msecs = 0.0
        record.__dict__.update(extra)
        handler.handle(record)
    handler.close()
    return path


NOW = time.time()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file with a custom level (NOTICE = 25), a traceback, extras and
    records spread over the last three hours."""
    path = tmp_path_factory.mktemp("reading") / "mixed.capture"
    handler = CaptureHandler(path, commit_interval=None)
    names = dict(logging._levelToName), dict(logging._nameToLevel)
    logging.addLevelName(25, "NOTICE")
    try:
        rows = [
            (NOW - 3 * 3600, logging.DEBUG, "svc", "debug three hours ago", {}),
            (NOW - 2 * 3600, logging.INFO, "svc", "info two hours ago", {"user": "Ann"}),
            (NOW - 1800, 25, "svc", "notice half an hour ago", {}),
            (NOW - 600, logging.WARNING, "svc.db", "warning ten minutes ago", {}),
            (NOW - 60, logging.ERROR, "svc.db", "error a minute ago", {}),
            (NOW - 1, logging.CRITICAL, "svc", "critical just now", {}),
        ]
        for created, level, name, message, extra in rows:
            record = logging.LogRecord(name, level, "/app/m.py", 1, message, (), None)
            record.created = created
            record.__dict__.update(extra)
            handler.handle(record)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            record = logging.LogRecord(
                "svc", logging.ERROR, "/app/m.py", 2, "price failed", (), sys.exc_info()
            )
            record.created = NOW
            handler.handle(record)
    finally:
        # Leave logging's level names as the other tests expect them.
        logging._levelToName, logging._nameToLevel = names
    handler.close()
    return path


def messages(*args: str) -> list[str]:
    return lines("cat", *args, "-o", "cat")


def test_every_command_has_working_help() -> None:
    """--help of the command and of every subcommand prints usage and exits 0
    (argparse expands % in help texts: an unescaped %(asctime)s crashed)."""
    names = sorted(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"cat", "tail", "show", "stats", "verify"} <= set(names)
    top = run("--help")
    assert top.returncode == 0 and "exit status: 0 fine" in top.stdout
    for name in names:
        result = run(name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert result.stdout.startswith(f"usage: capturelog {name}"), name
        assert result.stderr == ""
    assert "%(asctime)s" in run("cat", "--help").stdout


def test_levels_by_number_custom_name_and_range(mixed: Path) -> None:
    assert messages(str(mixed), "--level", "40") == [
        "error a minute ago", "critical just now", "price failed"
    ]  # fmt: skip
    # NOTICE is not registered in the reading process: found in the records.
    notice_up = messages(str(mixed), "-p", "notice")
    assert notice_up[0] == "notice half an hour ago" and len(notice_up) == 5
    assert messages(str(mixed), "-p", "WARNING..ERROR") == [
        "warning ten minutes ago", "error a minute ago", "price failed"
    ]  # fmt: skip
    assert messages(str(mixed), "-p", "INFO..NOTICE") == [
        "info two hours ago", "notice half an hour ago"
    ]  # fmt: skip
    assert messages(str(mixed), "-p", "err") == messages(str(mixed), "-p", "ERROR")
    result = run("cat", str(mixed), "-p", "LOUD")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("capturelog: error: --level: unknown level 'LOUD'")


def test_relative_and_absolute_times(mixed: Path) -> None:
    recent = ["error a minute ago", "critical just now", "price failed"]
    assert messages(str(mixed), "--since", "5m") == recent
    assert messages(str(mixed), "-S", "-5m") == recent
    assert messages(str(mixed), "-S", "5 minutes ago") == recent
    assert messages(str(mixed), "-S", "2.5h", "-U", "15m") == [
        "info two hours ago", "notice half an hour ago"
    ]  # fmt: skip
    assert messages(str(mixed), "-S", "now") == []
    assert len(messages(str(mixed), "-S", "yesterday")) == 7
    assert messages(str(mixed), "-S", f"{NOW - 90:.3f}", "-U", f"{NOW - 0.5:.3f}") == [
        "error a minute ago", "critical just now"
    ]  # fmt: skip
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW - 2 * 3600 - 1))  # naive: local
    assert messages(str(mixed), "-S", iso, "-U", "1h")[0] == "info two hours ago"
    result = run("cat", str(mixed), "--since", "last tuesday")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--since: not a time: 'last tuesday'" in result.stderr and "1 hour ago" in result.stderr


def test_grep_searches_tracebacks_and_extras_with_smart_case(mixed: Path) -> None:
    assert messages(str(mixed), "--grep", "ZeroDivision") == ["price failed"]
    assert messages(str(mixed), "-g", "user=ann") == ["info two hours ago"]  # smart: no capital
    assert messages(str(mixed), "-g", "user=ANN") == []  # a capital: case counts
    assert messages(str(mixed), "-g", "user=ANN", "-i") == ["info two hours ago"]
    assert messages(str(mixed), "-g", "critical", "-s") == ["critical just now"]
    assert messages(str(mixed), "-g", "CRITICAL") == []
    result = run("cat", str(mixed), "--grep", "(")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("capturelog: error: --grep: not a regular expression: '('")


def test_short_output_shows_extras_and_modes(mixed: Path) -> None:
    short = lines("cat", str(mixed), "-p", "INFO..INFO")
    assert short == [short[0]] and short[0].endswith("INFO     svc: info two hours ago user=Ann")
    assert lines("cat", str(mixed), "-n", "2", "-o", "cat") == ["critical just now", "price failed"]
    assert lines("cat", str(mixed), "-n", "2", "-r", "-o", "cat") == [
        "price failed", "critical just now"
    ]  # fmt: skip
    assert messages(str(mixed), "-r")[:2] == ["price failed", "critical just now"]
    data = [json.loads(line) for line in lines("cat", str(mixed), "-o", "json", "-n", "1")]
    assert data[0]["message"] == "price failed" and "ZeroDivisionError" in data[0]["exc_text"]
    pretty = run("cat", str(mixed), "-o", "json-pretty", "-n", "2").stdout
    assert pretty.startswith("{\n  ")
    decoder = json.JSONDecoder()
    first, end = decoder.raw_decode(pretty)
    second, _ = decoder.raw_decode(pretty[end:].lstrip())
    assert (first["message"], second["message"]) == ("critical just now", "price failed")
    verbose = run("cat", str(mixed), "-o", "verbose", "-p", "INFO..INFO").stdout
    assert verbose.startswith(f"record 2 in {mixed}\n") and "  user: Ann" in verbose
    assert "  lineno: 1" in verbose


def test_several_files_directories_and_globs_for_every_command(tmp_path: Path) -> None:
    """cat, tail and stats take several paths, a directory and a quoted glob,
    merged in time order; show takes a directory naming one file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "a.capture", [(NOW + i, logging.INFO, "a", f"a{i}", {}) for i in (0, 2, 4)])
    write(logs / "b.capture", [(NOW + i, logging.ERROR, "b", f"b{i}", {}) for i in (1, 3)])
    (logs / "notes.txt").write_text("not a capture file\n")
    merged = ["a0", "b1", "a2", "b3", "a4"]
    for paths in (
        [str(logs)],
        [str(logs / "*.capture")],
        [str(logs / "a.capture"), str(logs / "b.capture")],
    ):
        assert messages(*paths) == merged, paths
        assert lines("tail", *paths, "-n", "2", "-o", "cat") == ["b3", "a4"]
        assert lines("tail", *paths, "-n", "2", "-o", "cat", "-p", "ERROR") == ["b1", "b3"]
        stats = run("stats", *paths).stdout
        assert "files:       2, 5 records committed" in stats
        assert stats.count("file:        ") == 2
    assert run("show", str(logs), "1").returncode == 2  # two files: which one?
    only = tmp_path / "only"
    only.mkdir()
    write(only / "x.capture", [(NOW, logging.INFO, "x", "x0", {})])
    assert "message: x0" in run("show", str(only), "1").stdout
    for args in (["cat", str(tmp_path / "none-*.capture")], ["cat", str(tmp_path / "empty")]):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run(*args)
        assert result.returncode == 1 and result.stderr.count("\n") == 1
        assert args[1] in result.stderr


def test_tail_follow_a_directory_with_filters_sees_new_files(tmp_path: Path) -> None:
    """tail -f --level ERROR on a directory prints new ERROR records, also
    from a file created after it started, and ends cleanly on SIGINT."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "old.capture", [(NOW, logging.ERROR, "old", "before", {})])
    proc = subprocess.Popen(
        [SCRIPT, "tail", "-f", "--level", "ERROR", "--interval", "0.05", "-o", "cat", str(logs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "before\n"
        handler = CaptureHandler(logs / "new.capture", commit_interval=None)
        log = logging.getLogger("tests.follow")
        log.handlers, log.propagate = [handler], False
        log.info("an info the filter drops")
        log.error("from a new file")  # ERROR: committed at once
        assert proc.stdout.readline() == "from a new file\n"
        handler.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode in (0, 130) and "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_numbers_from_the_end_and_bad_values(mixed: Path) -> None:
    """One rule for sequence numbers: negative counts from the end; bad
    values get one line and exit 2; a missing path exit 1 naming it."""
    assert "record 7 of 7" in run("show", str(mixed), "-1").stdout
    assert "record 6 of 7" in run("show", str(mixed), "-2").stdout
    assert messages(str(mixed), "--start=-2") == ["critical just now", "price failed"]
    assert messages(str(mixed), "--start", "2", "--stop=-5") == ["info two hours ago"]
    for args, text in (
        (["show", str(mixed), "-8"], "no record -8; records are 1 to 7 (or -7 to -1)"),
        (["show", str(mixed), "0"], "no record 0"),
        (["cat", str(mixed), "--skew", "-1"], "--skew: must be 0 or more seconds"),
        (["tail", str(mixed), "-n", "-2"], "-n/--lines: must be 0 or more"),
        (["cat", str(mixed), "-f", "-r"], "do not go together"),
        (["cat", str(mixed), "--bogus"], "unrecognized arguments: --bogus"),
    ):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("capturelog: error: ") and text in result.stderr, args
        assert result.stderr.count("\n") == 1
    missing = str(mixed.parent / "missing.capture")
    result = run("stats", missing)
    assert (
        result.returncode == 1 and result.stderr == f"capturelog: error: {missing}: no such file\n"
    )


def test_plain_engine_files_read_as_text(tmp_path: Path) -> None:
    """A file written with the engine alone (the seed's use) is read as text
    records with their numbers by cat, tail, show and stats; bytes that are not
    UTF-8 as their repr."""
    path = tmp_path / "data.capture"
    with CaptureFile(path, to_write=True) as cf:
        for i in range(1, 4):
            cf.add_record(f"Hey this is my record {i}")
        cf.add_record(b"\xff\x00raw")
        cf.commit()
    assert lines("cat", str(path)) == [
        "1 Hey this is my record 1", "2 Hey this is my record 2", "3 Hey this is my record 3",
        "4 b'\\xff\\x00raw'",
    ]  # fmt: skip
    assert lines("tail", str(path), "-n", "1", "-o", "cat") == ["b'\\xff\\x00raw'"]
    assert messages(str(path), "-g", "RECORD 2", "-i") == ["Hey this is my record 2"]
    assert json.loads(lines("cat", str(path), "-o", "json", "-n", "1")[0]) == {
        "seq": 4, "file": str(path), "text": "b'\\xff\\x00raw'"
    }  # fmt: skip
    assert run("show", str(path), "2").stdout == (
        f"record 2 of 4 in {path}\n  text:    Hey this is my record 2\n"
    )
    stats = run("stats", str(path)).stdout
    assert "records:     4 committed (plain records, not log records)" in stats


def test_stats_lists_levels_by_severity_and_the_writer(mixed: Path) -> None:
    out = run("stats", str(mixed)).stdout
    levels = out.split("levels:\n")[1].split("loggers:\n")[0].split()[::2]
    assert levels == ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"]
    writer = next(line for line in out.splitlines() if line.startswith("writer:"))
    assert f"pid {os.getpid()}" in writer and f"Python {sys.version.split()[0]}" in writer
    assert "capturelog " in writer and "time zone " in writer and "host " in writer


def test_show_a_structlog_event_has_no_empty_stdlib_fields(tmp_path: Path) -> None:
    """show (and -o verbose) on a structlog event gives its fields, not the
    stdlib fields it does not have (``pathname: ``, ``lineno: 0``)."""
    script = (
        "import structlog\n"
        "from capturelog.structlog import CaptureLoggerFactory\n"
        "structlog.configure(processors=[structlog.processors.add_log_level,"
        " structlog.processors.TimeStamper(fmt='iso')],"
        f" logger_factory=CaptureLoggerFactory({str(tmp_path / 'ev.capture')!r}))\n"
        "structlog.get_logger('checkout').info('cart.updated', items=3, total=42.5)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    out = run("show", str(tmp_path / "ev.capture"), "1").stdout
    assert "message: cart.updated items=3 total=42.5" in out
    assert "  fields:\n" in out and "    items: 3\n" in out and "    total: 42.5\n" in out
    for empty in ("pathname", "lineno", "funcName", "template", "args:", "process"):
        assert empty not in out, empty


def test_the_reader_exposes_the_writers_metadata(mixed: Path) -> None:
    from capturelog import ReplayReader

    with ReplayReader(mixed) as reader:
        origin = reader.origin()
    assert origin is not None and origin["pid"] == os.getpid()
    assert origin["schema"].startswith("capturelog/") and origin["host"]
    assert {"program", "python", "capturelog", "timezone", "utc_offset", "opened"} <= set(origin)
