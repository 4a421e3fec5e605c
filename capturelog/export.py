"""Records as Apache Arrow tables and Parquet files, for DuckDB, Polars, Spark.

One row per record, in the reader's order (merged by time across files and
streams), with the same filters as ``ReplayReader.records``. Rows are built
in batches of ``batch_size`` and a Parquet file is written one row group per
batch, so memory stays flat however many records are exported.

The schema (``SCHEMA``) is plain on purpose: scalar columns, and the two
open-ended parts of a record, its arguments and its extras, as JSON text
(strict JSON, as ``capturelog cat -o json`` writes them), which DuckDB
(``json_extract``, ``->>``) and Spark (``get_json_object``, ``from_json``)
query directly and which holds any mix of types row by row.

pyarrow is an optional dependency: ``pip install 'capturelog[parquet]'``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._codec import event_of, robust_repr
from ._jsonout import json_line
from .capturefile import CaptureFile
from .exceptions import CaptureFileError
from .replay import ReplayReader, extras, origin_of

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = ["COLUMNS", "export_parquet", "record_batches", "to_arrow"]

# Column name, Arrow type name, what it holds (the README's table is this).
COLUMNS = (
    ("time", "timestamp[us, UTC]", "the record's time (null for a record without one)"),
    ("level", "int32", "levelno"),
    ("level_name", "string", "levelname"),
    ("logger", "string", "the logger's name"),
    ("message", "string", "the rendered message"),
    ("template", "string", "the message template (msg); null for structlog events"),
    ("args", "string", "the template's arguments, a JSON array; null when there are none"),
    ("extra", "string", "the record's own fields (extra=..., an event's keys), a JSON object"),
    ("traceback", "string", "the formatted exception (exc_text)"),
    ("stack", "string", "stack_info"),
    ("pathname", "string", "the source file"),
    ("lineno", "int32", "the line"),
    ("function", "string", "funcName"),
    ("thread", "int64", "thread id"),
    ("thread_name", "string", "threadName"),
    ("process", "int64", "process id"),
    ("process_name", "string", "processName"),
    ("stream", "string", "the stream (a log set's writer) or the file's name"),
    ("seq", "int64", "the record's sequence number in its stream or file"),
    ("file", "string", "the capture file (the segment, in a log set)"),
    ("host", "string", "the writer's host, from the file's metadata"),
    ("program", "string", "the writer's command line, from the file's metadata"),
    ("writer_pid", "int64", "the writer's pid, from the file's metadata"),
)

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _pyarrow() -> Any:
    try:
        import pyarrow  # noqa: PLC0415 - optional: only export needs it
    except ImportError:
        raise ImportError(
            "exporting to Arrow or Parquet needs pyarrow: pip install 'capturelog[parquet]'"
        ) from None
    return pyarrow


def schema() -> pa.Schema:
    """The Arrow schema of exported records (see ``COLUMNS``)."""
    pa = _pyarrow()
    types = {
        "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "string": pa.string(),
    }
    return pa.schema([(name, types[kind]) for name, kind, _ in COLUMNS])


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return robust_repr(value)


def _int(value: Any, bounds: tuple[int, int]) -> int | None:
    if type(value) is int and bounds[0] <= value <= bounds[1]:
        return value
    return None


def _micros(created: Any) -> int | None:
    if type(created) not in (int, float) or not math.isfinite(created):
        return None
    micros = round(created * 1e6)
    return micros if _INT64[0] <= micros <= _INT64[1] else None


class _Writers:
    """(host, program, pid) of the writer of each file, segment by segment (a
    log set's segments may come from several runs), read once per file."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Any, Any, Any]] = {}

    def __call__(self, path: Any) -> tuple[Any, Any, Any]:
        if type(path) is not str:
            return (None, None, None)
        known = self._known.get(path)
        if known is None:
            try:
                with CaptureFile(path, encoding=None) as cf:
                    origin = origin_of(cf.get_metadata()) or {}
            except (OSError, CaptureFileError):
                origin = {}  # deleted since (retention) or unreadable: unknown
            known = self._known[path] = (
                _text(origin.get("host")),
                _text(origin.get("program")),
                _int(origin.get("pid"), _INT64),
            )
        return known


def _row(record: logging.LogRecord, writers: _Writers) -> tuple[Any, ...]:
    attrs = record.__dict__
    event = event_of(record)
    own = extras(record)
    if event is None:
        template = _text(attrs.get("msg"))
        args = attrs.get("args")
        args_json = json_line(list(args) if isinstance(args, tuple) else args) if args else None
    else:
        template = None
        args_json = None
    stream = attrs.get("capture_stream")
    host, program, pid = writers(attrs.get("capture_file"))
    return (
        _micros(attrs.get("created")),
        _int(attrs.get("levelno"), _INT32),
        _text(attrs.get("levelname")),
        _text(attrs.get("name")),
        record.getMessage() if event is None else _text(_event_message(record)),
        template,
        args_json,
        json_line(own) if own else None,
        _text(attrs.get("exc_text")),
        _text(attrs.get("stack_info")),
        _text(attrs.get("pathname")),
        _int(attrs.get("lineno"), _INT32),
        _text(attrs.get("funcName")),
        _int(attrs.get("thread"), _INT64),
        _text(attrs.get("threadName")),
        _int(attrs.get("process"), _INT64),
        _text(attrs.get("processName")),
        _text(stream),
        _int(attrs.get("capture_seq"), _INT64),
        _text(attrs.get("capture_file")),
        host,
        program,
        pid,
    )


def _event_message(record: logging.LogRecord) -> Any:
    try:
        return record.getMessage()
    except Exception:  # a crafted event: say what is known
        return robust_repr(record.msg)


def record_batches(
    reader: ReplayReader, batch_size: int = 16_384, **filters: Any
) -> Iterator[pa.RecordBatch]:
    """The records ``reader.records(**filters)`` gives, as Arrow record batches
    of at most ``batch_size`` rows, in ``schema()``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
    pa = _pyarrow()
    arrow_schema = schema()
    writers = _Writers()
    names = [name for name, _, _ in COLUMNS]
    rows: list[tuple[Any, ...]] = []
    for record in reader.records(**filters):
        rows.append(_row(record, writers))
        if len(rows) == batch_size:
            yield _batch(pa, arrow_schema, names, rows)
            rows = []
    if rows:
        yield _batch(pa, arrow_schema, names, rows)


def _batch(pa: Any, arrow_schema: Any, names: list[str], rows: list[tuple[Any, ...]]) -> Any:
    columns = list(zip(*rows, strict=True))
    arrays = [
        pa.array(column, type=arrow_schema.field(name).type)
        for name, column in zip(names, columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def to_arrow(reader: ReplayReader, **filters: Any) -> pa.Table:
    """Every record ``reader.records(**filters)`` gives, as one Arrow table
    (held in memory: for large exports, write Parquet)."""
    pa = _pyarrow()
    return pa.Table.from_batches(list(record_batches(reader, **filters)), schema=schema())


def export_parquet(
    reader: ReplayReader,
    destination: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    row_group_size: int = 16_384,
    compression: str = "zstd",
    **filters: Any,
) -> int:
    """Write the records ``reader.records(**filters)`` gives to a Parquet file,
    one row group per ``row_group_size`` records; return how many.

    The file gets its name only once complete (it is written beside it under
    a hidden name first), so a crash or an error leaves no partial file.

    Raises:
        FileExistsError: ``destination`` exists and ``overwrite`` is False.
        ImportError: pyarrow is not installed.
    """
    _pyarrow()
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415 - optional

    destination = os.fspath(destination)
    if os.path.lexists(destination) and not overwrite:
        raise FileExistsError(
            17, "exists (replace it with overwrite=True, or --force)", destination
        )
    directory, name = os.path.split(os.path.abspath(destination))
    partial = os.path.join(directory, f".{name}.{os.getpid()}.partial")
    written = 0
    try:
        with pq.ParquetWriter(partial, schema(), compression=compression) as writer:
            for batch in record_batches(reader, batch_size=row_group_size, **filters):
                writer.write_batch(batch)
                written += batch.num_rows
        os.replace(partial, destination)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return written
