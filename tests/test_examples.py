"""Every script in examples/ runs and prints what the README says."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from capturelog import ReplayReader

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_every_example_has_a_test() -> None:
    """No example is left unexercised."""
    tested = {
        "quickstart.py", "capturefile_basics.py", "dictconfig.py", "structlog_app.py",
        "post_mortem.py", "follow.py", "log_sets.py", "ship_to_collector.py",
        "duckdb_errors_per_hour.py",
    }  # fmt: skip
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart(tmp_path: Path) -> None:
    """Logs three records through CaptureHandler, then replays them."""
    assert run("quickstart.py", str(tmp_path / "app.capture")) == [
        "3 records",
        "1 INFO order 1042 placed by ann 59.9",
        "2 WARNING stock low for book: 2 left",
        "3 ERROR could not price order 1042",
        "ZeroDivisionError: division by zero",
    ]


def test_capturefile_basics_prints_the_seed_output(tmp_path: Path) -> None:
    """The engine example shows the seed Quickstart's results, then the metadata."""
    assert run("capturefile_basics.py", str(tmp_path / "q.capture")) == [
        "There are 5 records in this capture file.",
        "Hey this is my record 2",
        "['Hey this is my record 2', 'Hey this is my record 3']",
        *[f"Hey this is my record {i}" for i in range(1, 6)],
        "b'processed up to 5'",
    ]


def test_dictconfig(tmp_path: Path) -> None:
    """dictConfig with plain values; the capture keeps what the console filtered."""
    lines = run("dictconfig.py", str(tmp_path))
    assert lines[0] == "captured 7 records (the console only showed warnings)"
    assert lines[1] == "  #1 DEBUG   job 0 started"
    assert lines[-1] == "  #7 WARNING queue is 85% full"
    assert len(list(tmp_path.glob("service-*.capture"))) == 1


def test_structlog_app(tmp_path: Path) -> None:
    """Events come back as dicts, the exception as structured data."""
    assert run("structlog_app.py", str(tmp_path / "e.capture")) == [
        "1 info cart.updated {'session': 's-81'}",
        "2 error payment.failed {'session': 's-81'}",
        "exception type: TimeoutError",
        "rendered: cart.updated session='s-81' items=3 total=42.5",
    ]


def test_post_mortem() -> None:
    """Finds the first error and re-renders the records around it (a record per 100 ms)."""
    lines = run("post_mortem.py")
    assert lines[0] == "first error: #401 charge 400 status failed"
    assert lines[1] == "   392 INFO    payments: charge 391 status ok"
    assert "   401 ERROR   payments: charge 400 status failed" in lines
    assert lines[-2] == "   405 INFO    payments: charge 404 status ok"
    assert lines[-1] == "14 records around the first error"


def test_follow(tmp_path: Path) -> None:
    """Follows a live file to the end of the writer's work."""
    lines = run("follow.py", str(tmp_path / "live.capture"))
    assert lines[0] == "1 INFO heartbeat 0"
    assert lines[-2] == "6 ERROR lost connection to db-1"
    assert lines[-1] == "6 records in all"


def test_log_sets(tmp_path: Path) -> None:
    """Workers of a spawn Pool and the main process log through one rotating,
    retention-bounded dictConfig handler; the set reads back as one log."""
    lines = run("log_sets.py", str(tmp_path / "logs"))
    segments, streams = (int(word) for word in lines[0].split()[::3][:2])
    assert lines[0] == f"{segments} segments in {streams} streams"
    assert streams == 4  # the main process and three workers
    assert segments <= 12 + streams  # retention after each rotation; each stream's newest stays
    assert lines[1] == "last record: 'all 6 jobs done', record 2 of service.capture"
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names[-1] == "service@000000000001.capture"
    assert all("@" in name for name in names)


def test_duckdb_errors_per_hour(tmp_path: Path) -> None:
    """Three hosts' files exported to Parquet; DuckDB's counts of errors per
    logger per hour are those of the records in the files, read back here."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("duckdb")
    lines = run("duckdb_errors_per_hour.py", str(tmp_path))
    captures = sorted(tmp_path.glob("*.capture"))
    assert [p.name for p in captures] == ["host-a.capture", "host-b.capture", "host-c.capture"]
    errors: Counter[tuple[str, str]] = Counter()
    hosts: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for n, path in enumerate(captures):
        with ReplayReader(path) as reader:
            assert lines[n] == f"{path.name}: {len(reader)} records -> {path.stem}.parquet"
            for record in reader.records(level="ERROR"):
                hour = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.created // 3600 * 3600))
                errors[hour, record.name] += 1
                hosts[hour, record.name].add(path.stem)
    assert lines[3] == "errors per logger per hour (UTC):"
    shown = [line.split() for line in lines[4:]]
    expected = sorted(errors)
    assert [(f"{day} {hour}", logger) for day, hour, logger, *_ in shown] == expected
    assert [(int(count), found) for _, _, _, count, *found in shown] == [
        (errors[key], sorted(hosts[key])) for key in expected
    ]
    assert len(expected) == 12  # three loggers, four hours
    assert max(errors, key=errors.__getitem__) == ("2026-11-28 10:00", "shop.db")  # the outage
