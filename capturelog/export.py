"""Records as Apache Arrow tables and Parquet files, for DuckDB, Polars, Spark.

One row per record, in the reader's order (merged by time across files and
streams), with the same filters as ``ReplayReader.records``. Rows are built
in batches of ``batch_size`` and a Parquet file is written one row group per
batch, so memory stays flat however many records are exported.

The schema (``schema()``, ``COLUMNS``) is plain on purpose: scalar columns, and the two
open-ended parts of a record, its arguments and its extras, as JSON text
(strict JSON, as ``capturelog cat -o json`` writes them), which DuckDB
(``json_extract``, ``->>``) and Spark (``get_json_object``, ``from_json``)
query directly and which holds any mix of types row by row.

How rows are made: a stored ``log`` map of the usual shape (what the
handler writes) becomes a row straight from the map, without a LogRecord;
its message is rendered by the rules of the replayed record's
``getMessage()``. Anything else (a structlog event, a plain file's record, a
map with a field of an odd type or an extra that shadows a reader's
attribute) is built as ``records()`` builds it and made a row from that
record. The filters that stored maps answer (``start``, ``stop``,
``level``, ``logger``, ``since``, ``until``, ``skew``) are applied as
``records()`` applies them, on the maps; ``match`` (it searches the
rendered record) and ``reverse`` take ``records()`` itself. The rows are the
same either way (the tests compare both routes).

pyarrow is an optional dependency: ``pip install 'capturelog[parquet]'``.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from ._codec import (
    _STANDARD_LEVELS,
    STANDARD_ATTRIBUTES,
    event_of,
    limited_repr,
    render_failure,
    robust_repr,
)
from ._jsonout import json_line
from .replay import (
    CLOCK_SKEW,
    ReplayReader,
    _Filter,
    _merge_key,
    _Source,
    extras,
    origin_of_file,
    time_value,
)

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
# Times (epoch seconds) whose microseconds surely fit an int64: the fast
# route rounds them at once, anything else goes through _micros.
_SECONDS = 9e12

# Columns a fast row fills with the stored value as it is (a crafted file
# may hold any type there): each is made a str (or None) or an int in
# range, as _text and _int make them, a batch at a time.
_RAW_TEXT = ("logger", "template", "traceback", "stack", "pathname", "function",
             "thread_name", "process_name")  # fmt: skip
_RAW_INT = {"level": _INT32, "lineno": _INT32, "thread": _INT64, "process": _INT64}

# The filters the fast route applies on stored maps, as records() does;
# any other (match=, reverse=) goes through records() itself.
_MAP_FILTERS = frozenset({"start", "stop", "level", "logger", "since", "until", "skew", "match"})
# The fields of a stored log map the handler always writes, in the order
# the fast route reads them (see _codec.KEYS).
_FIXED = itemgetter("c", "k", "n", "m", "l", "p", "ln", "fn", "t", "tn", "P", "pn")
# Extras the fast route leaves to the record: ones that a LogRecord has
# anyway or the reader sets (RecordDecoder and extras() have the rules).
_READER_PREFIXES = ("capture_", "_capture")


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


def _refuse(value: Any) -> Any:
    raise TypeError("left to json_line")


def _c_encoder() -> Callable[[Any, int], Any] | None:
    """CPython's C JSON encoder with the options of ``json_line``'s (compact,
    strict, not ASCII-only), made once. ``json.JSONEncoder.encode`` makes one
    per call, which costs more than encoding a record's arguments. It takes
    JSON's own types only: anything else is left to ``json_line``."""
    make = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
    if make is None:
        return None
    try:
        return cast(
            Callable[[Any, int], Any],
            make(None, _refuse, json.encoder.encode_basestring, None, ": ", ", ", False, False,
                 False),
        )  # fmt: skip
    except Exception:  # another signature: json_line does it all
        return None


_ENCODE = _c_encoder()


def _json(value: Any) -> str:
    """``json_line(value)``, faster for values of JSON's own types."""
    if _ENCODE is not None:
        try:
            text: str = "".join(_ENCODE(value, 0))
        except (TypeError, ValueError, RecursionError):  # NaN, a datetime, a set...
            return json_line(value)
        if text.isascii():
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: json_line escapes them
            return json_line(value)
        return text
    return json_line(value)


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
            origin = origin_of_file(path) or {}
            known = self._known[path] = (
                _text(origin.get("host")),
                _text(origin.get("program")),
                _int(origin.get("pid"), _INT64),
            )
        return known


# A batch's rows hold every column but the five its records' file gives
# (``_ORIGIN``), which are the same for long runs of records: they are kept
# once a run and made arrays by repetition.
_ORIGIN = ("stream", "file", "host", "program", "writer_pid")
_IN_ROWS = tuple(name for name, _, _ in COLUMNS if name not in _ORIGIN)


class _Batch:
    """Rows (``_IN_ROWS``) and runs: (first row, origin columns) each."""

    __slots__ = ("rows", "runs")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.runs: list[tuple[int, tuple[Any, ...]]] = []


def _row(record: logging.LogRecord) -> tuple[Any, ...]:
    """A built record's row (the route for anything but a usual log map)."""
    attrs = record.__dict__
    event = event_of(record)
    own = extras(record)
    if event is None:
        template = _text(attrs.get("msg"))
        args = attrs.get("args")
        args_json = _json(list(args) if isinstance(args, tuple) else args) if args else None
    else:
        template = None
        args_json = None
    return (
        _micros(attrs.get("created")),
        _int(attrs.get("levelno"), _INT32),
        _text(attrs.get("levelname")),
        _text(attrs.get("name")),
        record.getMessage() if event is None else _text(_event_message(record)),
        template,
        args_json,
        _json(own) if own else None,
        _text(attrs.get("exc_text")),
        _text(attrs.get("stack_info")),
        _text(attrs.get("pathname")),
        _int(attrs.get("lineno"), _INT32),
        _text(attrs.get("funcName")),
        _int(attrs.get("thread"), _INT64),
        _text(attrs.get("threadName")),
        _int(attrs.get("process"), _INT64),
        _text(attrs.get("processName")),
        _int(attrs.get("capture_seq"), _INT64),
    )


def _origin_of(record: logging.LogRecord, writers: _Writers) -> tuple[Any, ...]:
    """A built record's ``_ORIGIN`` columns."""
    attrs = record.__dict__
    path = attrs.get("capture_file")
    return (_text(attrs.get("capture_stream")), _text(path), *writers(path))


def _event_message(record: logging.LogRecord) -> Any:
    try:
        return record.getMessage()
    except Exception:  # a crafted event: say what is known
        return robust_repr(record.msg)


class _Origin:
    """The ``_ORIGIN`` columns of one source's records, a segment at a time."""

    __slots__ = ("_last", "source", "writers")

    def __init__(self, source: _Source, writers: _Writers) -> None:
        self.source = source
        self.writers = writers
        self._last: tuple[int, int, tuple[Any, ...]] = (1, 0, ())

    def at(self, seq: int) -> tuple[int, int, tuple[Any, ...]]:
        """(first, last, columns): the columns for record ``seq`` as
        ``_Source.build`` names its file, and the numbers of the records
        that share them (the file's, or the segment's)."""
        if self._last[0] <= seq <= self._last[1]:
            return self._last
        source = self.source
        segments = source.segments
        if segments is None:
            path, first, last = source.path, source.first, 2**63
        else:
            path = segments.path_of(seq)
            segment = segments.segment_of(seq)
            first, last = (segment.first_seq, segment.last_seq) if segment else (seq, seq)
        self._last = (first, last, (_text(source.stream), _text(path), *self.writers(path)))
        return self._last


# An item of the fast route: the record's source, its number, its stored
# map, and the record when it had to be built (an event, a plain record).
_Item = tuple[_Origin, int, dict[str, Any], logging.LogRecord | None]


def _stored(
    reader: ReplayReader,
    origin: _Origin,
    keep: _Filter,
    *,
    start: int | None,
    stop: int | None,
    skew: float,
) -> Iterator[_Item]:
    """The stored maps ``ReplayReader.records`` keeps from one source, in its
    order, with its filters (no pattern: with ``match`` the rows come from
    built records)."""
    for seq, data, record in reader._kept_maps(origin.source, start, stop, keep, skew):
        yield origin, seq, data, record


def _item_time(item: _Item) -> float:
    """``records()``'s merge key (``_merge_key``) for an item."""
    record = item[3]
    if record is not None:
        return _merge_key(record)
    created = time_value(item[2].get("c", 0.0))
    return created if not math.isnan(created) else -math.inf


def _items(reader: ReplayReader, filters: dict[str, Any], writers: _Writers) -> Iterator[_Item]:
    """What ``reader.records(**filters)`` gives, as items, merged as it merges."""
    skew = filters.get("skew", CLOCK_SKEW)
    if skew < 0 or math.isnan(skew):
        raise ValueError(f"skew must be 0 or more seconds, not {skew}")
    keep = _Filter(
        reader.level_range(filters.get("level")),
        filters.get("logger"),
        filters.get("since"),
        filters.get("until"),
        None,
    )
    start, stop = filters.get("start"), filters.get("stop")
    streams = [
        _stored(reader, _Origin(source, writers), keep, start=start, stop=stop, skew=skew)
        for source in reader._sources
    ]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=_item_time)


def _fast_batches(  # noqa: PLR0912, PLR0915 - one loop, kept flat: it runs per record
    items: Iterable[_Item], size: int, writers: _Writers
) -> Iterator[_Batch]:
    """Batches of ``size`` rows (the last fewer), each row as ``_row`` makes
    it, except that the columns of ``_RAW_TEXT`` and ``_RAW_INT`` may hold
    the stored value as it is (``_arrow_batch`` makes them what ``_row``
    would)."""
    fixed, names, encode = _FIXED, _STANDARD_LEVELS, _json
    reserved, prefixes = STANDARD_ATTRIBUTES, _READER_PREFIXES
    plain_keys: set[str] = set()  # extras' keys seen to need no record
    batch = _Batch()
    rows, runs = batch.rows, batch.runs
    append = rows.append
    current: _Origin | None = None
    first = last = 0
    columns: tuple[Any, ...] = ()
    for origin, seq, data, built in items:
        record = built
        if record is None:
            if origin is not current or not first <= seq <= last:
                current = origin
                first, last, columns = origin.at(seq)
                runs.append((len(rows), columns))
            # A usual log map: every field the handler always writes, a
            # level of a known name, extras that only add fields.
            get = data.get
            try:
                created, kind, name, msg, levelno, pathname, lineno, func, thread, thread_name, \
                    process, process_name = fixed(data)  # fmt: skip
            except KeyError:
                kind = None
            usual = kind == "log" and type(levelno) is int
            if usual:
                level_name = get("L")
                if level_name is None:
                    level_name = names.get(levelno)
                    usual = level_name is not None
                elif type(level_name) is not str or not level_name:
                    usual = False
            extra = get("e") if usual else None
            extra_json = None
            if type(extra) is dict and extra:
                if not plain_keys.issuperset(extra):
                    for key in extra:
                        if type(key) is not str or key in reserved or key.startswith(prefixes):
                            usual = False
                            break
                    else:
                        if len(plain_keys) > 4096:  # keys made per record
                            plain_keys.clear()
                        plain_keys.update(extra)
                if usual:
                    extra_json = encode(extra)
            if usual:
                stored_args = get("a", ())
                args = tuple(stored_args) if type(stored_args) is list else stored_args
                message = get("txt")
                if message is None:
                    # ReplayedRecord.getMessage(), which never raises.
                    try:
                        message = msg if type(msg) is str else str(msg)
                        if args:
                            message = message % args
                    except Exception as exc:
                        message = render_failure(msg, args, exc)
                elif type(message) is not str:
                    message = limited_repr(message)
                if not args:
                    args_json = None
                elif type(stored_args) is list:
                    args_json = encode(stored_args)
                else:
                    args_json = encode(list(args) if isinstance(args, tuple) else args)
                if type(created) is float and -_SECONDS < created < _SECONDS:
                    micros: int | None = round(created * 1e6)
                else:
                    micros = _micros(created)
                append(
                    (micros, levelno, level_name, name, message, msg, args_json, extra_json,
                     get("x"), get("s"), pathname, lineno, func, thread, thread_name, process,
                     process_name, seq)
                )  # fmt: skip
            else:
                record = origin.source.build(data, seq)
        if record is not None:
            own = _origin_of(record, writers)
            if not runs or own != runs[-1][1]:
                runs.append((len(rows), own))
                current = None  # the next usual map looks its origin up again
            append(_row(record))
        if len(rows) == size:
            yield batch
            batch = _Batch()
            rows, runs = batch.rows, batch.runs
            append = rows.append
            current = None  # a batch starts with a run
    if rows:
        yield batch


def _record_batches(
    records: Iterable[logging.LogRecord], size: int, writers: _Writers
) -> Iterator[_Batch]:
    batch = _Batch()
    for record in records:
        origin = _origin_of(record, writers)
        if not batch.runs or origin != batch.runs[-1][1]:
            batch.runs.append((len(batch.rows), origin))
        batch.rows.append(_row(record))
        if len(batch.rows) == size:
            yield batch
            batch = _Batch()
    if batch.rows:
        yield batch


def _batches(reader: ReplayReader, size: int, filters: dict[str, Any]) -> Iterator[_Batch]:
    """The rows of ``reader.records(**filters)``, ``size`` at a time."""
    writers = _Writers()
    if filters.keys() <= _MAP_FILTERS and filters.get("match") is None:
        return _fast_batches(_items(reader, filters, writers), size, writers)
    return _record_batches(reader.records(**filters), size, writers)


def record_batches(
    reader: ReplayReader, batch_size: int = 16_384, **filters: Any
) -> Iterator[pa.RecordBatch]:
    """The records ``reader.records(**filters)`` gives, as Arrow record batches
    of at most ``batch_size`` rows, in ``schema()``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, not {batch_size}")
    pa = _pyarrow()
    arrow_schema = schema()
    for batch in _batches(reader, batch_size, filters):
        arrow_batch = _arrow_batch(pa, arrow_schema, batch)
        del batch  # its rows go now, not once the next batch is made
        yield arrow_batch


def _texts(column: Any) -> list[Any]:
    """A column as ``_text`` makes each value."""
    return [_text(value) for value in column]


def _ints(column: Any, bounds: tuple[int, int]) -> list[Any]:
    """A column as ``_int`` makes each value."""
    return [_int(value, bounds) for value in column]


def _escaped(value: Any) -> Any:
    """Text with lone surrogates (a name os.fsdecode made) escaped as
    ``cat`` prints them (``\\udcff``): Parquet holds UTF-8 only."""
    if type(value) is str and not value.isascii():
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _array(pa: Any, values: Any, kind: Any) -> Any:
    try:
        return pa.array(values, type=kind)
    except UnicodeEncodeError:
        return pa.array([_escaped(value) for value in values], type=kind)


def _raw_array(pa: Any, values: Any, kind: Any, bounds: tuple[int, int] | None) -> Any:
    """The array of a column of stored values as they are (``_RAW_TEXT``,
    ``_RAW_INT``): Arrow's own type inference says whether every value is
    already a str (or None), or an int (or None) in ``bounds``; only when one
    is not are the values made so one by one, as ``_row`` makes them."""
    try:
        inferred = pa.array(values)
        if inferred.type == kind or inferred.type == pa.null():
            return inferred.cast(kind)
        if bounds is not None and inferred.type == pa.int64():
            return inferred.cast(kind)  # a safe cast: raises past int32
    except Exception:  # a value of another type, an int past 64 bits, a lone surrogate
        pass
    return _array(pa, _texts(values) if bounds is None else _ints(values, bounds), kind)


def _repeated(pa: Any, value: Any, count: int, kind: Any) -> Any:
    try:
        scalar = pa.scalar(value, type=kind)
    except UnicodeEncodeError:
        scalar = pa.scalar(_escaped(value), type=kind)
    return pa.repeat(scalar, count)


_RAW = dict.fromkeys(_RAW_TEXT) | _RAW_INT


def _arrow_batch(pa: Any, arrow_schema: Any, batch: _Batch) -> Any:
    rows, runs = batch.rows, batch.runs
    arrays = {}
    for name, column in zip(_IN_ROWS, zip(*rows, strict=True), strict=True):
        kind = arrow_schema.field(name).type
        if name in _RAW:
            arrays[name] = _raw_array(pa, column, kind, _RAW[name])
        else:
            arrays[name] = _array(pa, column, kind)
    if len(runs) == 1:
        for value, name in zip(runs[0][1], _ORIGIN, strict=True):
            arrays[name] = _repeated(pa, value, len(rows), arrow_schema.field(name).type)
    else:  # files take turns (a merge): each row's origin among the batch's few
        known: dict[tuple[Any, ...], int] = {}
        indices: list[int] = []
        ends = [start for start, _ in runs[1:]] + [len(rows)]
        for (start, origin), end in zip(runs, ends, strict=True):
            indices += [known.setdefault(origin, len(known))] * (end - start)
        taken = pa.array(indices, type=pa.int32())
        for j, name in enumerate(_ORIGIN):
            values = [origin[j] for origin in known]
            arrays[name] = _array(pa, values, arrow_schema.field(name).type).take(taken)
    return pa.RecordBatch.from_arrays([arrays[f.name] for f in arrow_schema], schema=arrow_schema)


def to_arrow(reader: ReplayReader, **filters: Any) -> pa.Table:
    """Every record ``reader.records(**filters)`` gives, as one Arrow table
    (held in memory: for large exports, write Parquet)."""
    pa = _pyarrow()
    return pa.Table.from_batches(list(record_batches(reader, **filters)), schema=schema())


def _write(writer: Any, batches: Iterator[Any]) -> int:
    """Write the batches, each on a second thread while the next is made:
    pyarrow encodes and compresses without the GIL, so that overlaps. At most
    one batch is being written; its error is raised here."""
    written = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturelog-export") as pool:
        pending: Future[None] | None = None
        for batch in batches:
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_batch, batch)
            written += batch.num_rows
        if pending is not None:
            pending.result()
    return written


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
    one row group per ``row_group_size`` records; return how many. A second
    thread writes each row group while the next is made.

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
    try:
        with pq.ParquetWriter(partial, schema(), compression=compression) as writer:
            batches = record_batches(reader, batch_size=row_group_size, **filters)
            written = _write(writer, batches)
        os.replace(partial, destination)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return written
