"""Parquet export (capturelog.export, ``capturelog export``): the file read
back with pyarrow matches ``capturelog cat -o json`` record for record."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")  # in the test extras; the core install stays without it
import pyarrow.parquet as pq  # noqa: E402

from capturelog import CaptureHandler, ReplayReader  # noqa: E402
from capturelog.export import COLUMNS, export_parquet, to_arrow  # noqa: E402

SCRIPT = shutil.which("capturelog") or "capturelog"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120, check=False)


def write_log(path: Path, count: int = 300) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("export.svc")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    for i in range(count):
        log.info("user %s bought %d items for %.2f", f"u{i % 7}", i, i * 1.5, extra={"order": i})
    log.warning(
        "odd values %r",
        float("nan"),
        extra={"when": dt.datetime(2026, 1, 2, 3, 4, 5), "tags": {"b", "a"}},
    )
    log.error("unicode \u2603 %s", "\u4e2d\u6587")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    logging.getLogger("export.svc.db").debug(
        "%(user)s from %(ip)s", {"user": "bob", "ip": "10.0.0.1"}
    )
    handler.close()


def test_parquet_matches_cat_json_record_for_record(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path)
    out = tmp_path / "out.parquet"
    result = run("export", str(path), "--parquet", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}: 304 records\n"
    table = pq.read_table(out)
    assert table.schema.names == [name for name, _, _ in COLUMNS]
    rows = table.to_pylist()
    cat = run("cat", str(path), "-o", "json")
    assert cat.returncode == 0, cat.stderr
    objects = [json.loads(line) for line in cat.stdout.splitlines()]
    assert len(rows) == len(objects) == 304
    for row, obj in zip(rows, objects, strict=True):
        assert row["seq"] == obj["seq"]
        assert row["message"] == obj["message"]
        assert row["level_name"] == obj["level"] and row["level"] == obj["levelno"]
        assert row["logger"] == obj["logger"]
        assert row["time"].utcoffset() == dt.timedelta(0)  # a UTC timestamp column
        assert abs(row["time"].timestamp() - obj["created"]) < 1e-5  # to the microsecond
        assert row["template"] == obj["msg"]
        assert row["file"] == obj["capture_file"] and row["stream"] == obj["capture_stream"]
        assert row["traceback"] == obj["exc_text"]
        assert row["lineno"] == obj["lineno"] and row["function"] == obj["funcName"]
        args = obj["args"]
        assert (json.loads(row["args"]) if row["args"] else None) == (args or None)
        for key, value in (json.loads(row["extra"]) if row["extra"] else {}).items():
            assert obj[key] == value
    assert json.loads(rows[0]["extra"]) == {"order": 0}
    assert json.loads(rows[300]["args"]) == ["NaN"]  # strict JSON, as cat writes it
    assert json.loads(rows[300]["extra"]) == {"when": "2026-01-02T03:04:05", "tags": ["a", "b"]}
    assert "KeyError: 'missing'" in rows[302]["traceback"]
    assert json.loads(rows[303]["args"]) == {"user": "bob", "ip": "10.0.0.1"}
    assert rows[0]["host"] and rows[0]["writer_pid"] and rows[0]["program"]


def test_filters_streams_and_batches(tmp_path: Path) -> None:
    name = tmp_path / "set.capture"
    handler = CaptureHandler(name, rotation=1, commit_every=25, commit_interval=None)
    log = logging.getLogger("export.set")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    for i in range(200):
        (log.warning if i % 10 == 0 else log.info)("step %d", i)
    handler.close()
    with ReplayReader(name) as reader:
        table = to_arrow(reader, level="WARNING")
        assert table.column("seq").to_pylist() == list(range(1, 201, 10))
        assert set(table.column("stream").to_pylist()) == {"set.capture"}
        assert len(set(table.column("file").to_pylist())) == 8  # 25 records a segment
        written = export_parquet(reader, tmp_path / "all.parquet", row_group_size=64)
    assert written == 200
    parquet = pq.ParquetFile(tmp_path / "all.parquet")
    assert parquet.metadata.num_row_groups == 4  # streamed in bounded batches
    result = run(
        "export", str(name), "--parquet", str(tmp_path / "all.parquet"), "--grep", "step 1[0-9]$"
    )
    assert result.returncode == 1 and "exists" in result.stderr
    result = run(
        "export", str(name), "--parquet", str(tmp_path / "all.parquet"), "--force",
        "--grep", "step 1[0-9]$",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "all.parquet").column("seq").to_pylist() == list(range(11, 21))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_without_pyarrow_the_command_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "app.capture"
    write_log(path, count=3)
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"  # as where pyarrow is not installed
        "from capturelog.cli import main\n"
        "sys.exit(main(['export', sys.argv[1], '--parquet', sys.argv[2]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "x.parquet")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'capturelog[parquet]'" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "x.parquet").exists()
