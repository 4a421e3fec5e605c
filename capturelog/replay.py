"""``ReplayReader``: LogRecords and events back out of capture files, filtered,
found by time, re-emitted into any logging handler, or followed live."""

from __future__ import annotations

import errno
import glob
import heapq
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, cast, overload

from ._codec import (
    EVENT_KIND,
    STANDARD_ATTRIBUTES,
    RecordDecoder,
    describe_error,
    event_of,
    event_text_key,
    expand,
    limited_repr,
    record_time,
    robust_repr,
    unpack_data,
)
from ._format import MAGIC, OLD_MAGIC
from ._stream import SegmentDeleted, StreamFile
from ._when import LevelRange, needs_custom_names, parse_level_range, parse_time
from .capturefile import CaptureFile
from .exceptions import CaptureFileError, InvalidCaptureFile
from .logset import Segment, describe, segment_paths

__all__ = ["ReplayReader", "to_timestamp"]

TimeLike = datetime | str | int | float

# How far back a writer's clock may step (an NTP correction) without a time
# window missing records: the search starts this much before ``since`` and the
# scan runs this much past ``until``. Records in that margin cost only a
# msgpack unpack each.
CLOCK_SKEW = 0.1

# The kind given to records of a file that holds no capturelog records.
PLAIN_KIND = "plain"


def to_timestamp(value: TimeLike) -> float:
    """Epoch seconds from a datetime (naive means local time), epoch seconds,
    or a string: ISO 8601, epoch seconds, ``now``, ``today``, ``yesterday``,
    ``HH:MM``, or a span back from now (``1h``, ``-30m``, ``"2 days ago"``);
    see ``capturelog._when.TIME_FORMS``."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not a time: {value!r}")


class _Filter:
    """The record filters shared by records(), replay() and follow()."""

    __slots__ = ("levels", "logger", "match", "prefix", "since", "until")

    def __init__(
        self,
        levels: LevelRange | None,
        logger: str | None,
        since: TimeLike | None,
        until: TimeLike | None,
        match: str | re.Pattern[str] | None,
    ) -> None:
        self.levels = levels
        self.logger = logger
        self.prefix = logger + "." if logger else None
        self.since = to_timestamp(since) if since is not None else None
        self.until = to_timestamp(until) if until is not None else None
        self.match = re.compile(match) if isinstance(match, str) else match

    # Stored values may be of any type (see RecordDecoder). The rules for odd
    # ones: a level that is not a number counts as NOTSET (0), a logger name
    # that is not a str is matched by its repr, and a time that is not a
    # number counts as 0.0 (as the time search reads it); a NaN time is in no
    # window. The type checks run only when the usual test cannot.

    def data_ok(self, data: dict[str, Any]) -> bool:
        """A cheap first test on a stored ``log`` map, before building a record."""
        levels = self.levels
        if levels is not None:
            levelno = data.get("l", 0)
            if type(levelno) is not int:
                levelno = level_value(levelno)
            # Compared here, not through LevelRange.__contains__: this runs
            # for every record a level filter scans.
            if levelno < levels.low or (levels.high is not None and levelno > levels.high):
                return False
        if self.logger:
            name = data.get("n", "root")
            if type(name) is not str:
                name = limited_repr(name)
            if name != self.logger and not name.startswith(self.prefix):  # type: ignore[arg-type]
                return False
        return True

    def matches(self, record: logging.LogRecord) -> bool:
        """The test only a built record can answer: the pattern, searched in
        the rendered message (getMessage() never fails), then the traceback,
        the stack and the extras as ``key=value`` text."""
        match = self.match
        if match is None or match.search(record.getMessage()) is not None:
            return True
        attrs = record.__dict__
        for key in ("exc_text", "stack_info"):
            text = attrs.get(key)
            if text and match.search(text if type(text) is str else robust_repr(text)):
                return True
        extra = extras_text(record)
        return bool(extra) and match.search(extra) is not None

    def __call__(self, record: logging.LogRecord) -> bool:
        if (self.levels is not None or self.logger) and not self.data_ok(
            {"l": record.levelno, "n": record.name}
        ):
            return False
        if self.since is not None or self.until is not None:
            created = time_value(record.created)
            if self.since is not None and not created >= self.since:
                return False
            if self.until is not None and not created < self.until:
                return False
        return self.matches(record)


# A structlog event's keys that a record shows elsewhere (message, level,
# logger, time, traceback).
_EVENT_KEYS = frozenset({"event", "level", "logger", "logger_name", "timestamp", "exception"})


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """A record's own fields: the ``extra`` of a logging call, or a structlog
    event's keys other than its message, level, logger, time and traceback."""
    attrs = record.__dict__
    event = event_of(record)
    if event is not None:
        text_key = event_text_key(event)
        return {str(k): v for k, v in event.items() if k not in _EVENT_KEYS and k != text_key}
    return {
        k: v
        for k, v in attrs.items()
        if k not in STANDARD_ATTRIBUTES and not k.startswith(("capture_", "_capture"))
    }


def extras_text(record: logging.LogRecord) -> str:
    """The extras as ``key=value`` pairs, as structlog's console shows them
    (text values as they are, other values as their repr)."""
    return " ".join(
        f"{key}={value if type(value) is str else robust_repr(value)}"
        for key, value in extras(record).items()
    )


def level_value(levelno: Any) -> int | float:
    """A stored level as a number to compare: itself when it is one (a bool as
    an int), else NOTSET (0)."""
    if type(levelno) is int or (type(levelno) is float and not math.isnan(levelno)):
        return levelno
    if isinstance(levelno, int):
        return int(levelno)
    return logging.NOTSET


def time_value(created: Any) -> float:
    """A stored time as epoch seconds to compare: itself when it is a float,
    a number as a float, anything else 0.0 (as the time search reads it)."""
    if type(created) is float:
        return created
    if isinstance(created, (int, float)):
        return float(created)
    return 0.0


def _merge_key(record: logging.LogRecord) -> float:
    """The time that orders records from several files (NaN sorts first, so
    the merge stays well defined)."""
    created = time_value(record.created)
    return created if not math.isnan(created) else -math.inf


def is_glob(pattern: str) -> bool:
    """Whether a path has glob characters (and so may name several files)."""
    return glob.has_magic(pattern)


def expand_paths(patterns: Sequence[str], *, appearing: bool = False) -> list[str]:
    """The files the paths name, each once, in the order given.

    A file stands for itself, and for the segments of the log set a handler
    writing that name makes (the name alone, when the handler rotates); a
    directory for the capture files in it (by
    their first bytes; hidden files and subdirectories left out), by name; a
    pattern with glob characters that is not itself a file's name, for the
    files it matches, by name.

    Raises:
        FileNotFoundError: a path names nothing, or a directory or glob names
            no capture file (not raised with ``appearing``, used when
            looking again for files that appeared).
    """
    found: dict[str, None] = {}
    for pattern in patterns:
        if os.path.isdir(pattern):
            names = sorted(n for n in os.listdir(pattern) if not n.startswith("."))
            matches = [
                path
                for path in (os.path.join(pattern, name) for name in names)
                if os.path.isfile(path) and _has_capture_header(path)
            ]
            what = "no capture files in this directory"
        elif is_glob(pattern) and not os.path.lexists(pattern):
            matches = [path for path in sorted(glob.glob(pattern)) if not os.path.isdir(path)]
            what = "no file matches this pattern"
        else:
            # A handler's file name also stands for its log set's segments
            # (app.capture -> app@*.capture, app.*@*.capture), and with
            # rotation on, for them alone.
            segments = segment_paths(pattern)
            exists = os.path.lexists(pattern)
            matches = ([pattern] if exists else []) + segments
            what = ""
            if not appearing and not exists and not segments:
                raise FileNotFoundError(errno.ENOENT, "no such file", pattern)
        if not matches and not appearing:
            raise FileNotFoundError(errno.ENOENT, what, pattern)
        found.update(dict.fromkeys(matches))
    return list(found)


def _has_capture_header(path: str) -> bool:
    """Whether a file starts as a capture file does (an unreadable one is
    taken as one, so that reading it reports why it cannot be read)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError:
        return True
    return head in (MAGIC, OLD_MAGIC)


def origin_of(metadata: bytes | str | None) -> dict[str, Any] | None:
    """The writer's description capturelog's handler keeps in a file's
    metadata, or None when the metadata is not that."""
    if not isinstance(metadata, bytes):
        return None
    try:
        origin = unpack_data(metadata)
    except Exception:
        return None
    if isinstance(origin, dict) and str(origin.get("schema", "")).startswith("capturelog/"):
        return origin
    return None


def origin_of_file(path: str) -> dict[str, Any] | None:
    """``origin_of`` the metadata of the capture file at ``path``; None also
    for a file deleted since it was listed (retention) or unreadable."""
    try:
        with CaptureFile(path, encoding=None) as cf:
            return origin_of(cf.get_metadata())
    except (OSError, CaptureFileError):
        return None


class _Source:
    """One capture file being replayed."""

    def __init__(self, path: str, stream: StreamFile | None = None) -> None:
        self.path = path
        # A log set's stream reads as one file numbered by the stream's
        # sequence numbers (from ``first``); any other file from 1.
        self.segments = stream
        self.cf: Any = stream if stream is not None else CaptureFile(path, encoding=None)
        self.first = stream.first if stream is not None else 1
        self.stream = stream.stream if stream is not None else os.path.basename(path)
        self.decoder = RecordDecoder()
        self._unpack = self.decoder.data
        try:
            self.plain = not self._holds_log_records()
        except BaseException:
            self.cf.close()
            raise
        if self.plain:
            self.decode = self._plain  # type: ignore[method-assign]

    def _holds_log_records(self) -> bool:
        """Whether the file holds capturelog's records: its metadata says a
        capturelog writer made it, or its first record is a capturelog map.
        Otherwise (a file of the engine's own use: records of any bytes) every
        record reads as plain text. So a damaged record in a log file is never
        taken for a plain one, and a plain record never fails to decode."""
        if origin_of(self.cf.get_metadata()) is not None:
            return True
        if self.cf.record_count() == 0:
            return True
        try:
            first = self._unpack(self._payload(self.first))
        except Exception:
            return False
        return type(first) is dict and first.get("k") in ("log", EVENT_KIND)

    def _plain(self, payload: bytes, seq: int) -> dict[str, Any]:
        return {"k": PLAIN_KIND, "p": payload}

    def data(self, seq: int) -> dict[str, Any]:
        return self.decode(self._payload(seq), seq)

    def _payload(self, seq: int) -> bytes:
        return cast(bytes, self.cf.record_at(seq))  # encoding=None: always bytes

    def decode(self, payload: bytes, seq: int) -> dict[str, Any]:
        """Record ``seq``'s stored map. The one place a record is decoded: any
        failure (not msgpack, bytes left over, nested too deep, not a map)
        is InvalidCaptureFile naming the file and the record."""
        try:
            data = self._unpack(payload)
        except MemoryError:
            raise
        except Exception as exc:
            raise InvalidCaptureFile(
                f"{self.path}: record {seq} is not a capturelog record ({describe_error(exc)})"
            ) from exc
        if type(data) is not dict:
            raise InvalidCaptureFile(
                f"{self.path}: record {seq} is not a capturelog record (not a msgpack map)"
            )
        return data

    def record(self, seq: int) -> logging.LogRecord:
        return self.build(self.data(seq), seq)

    def created(self, seq: int) -> float:
        if self.plain:
            return math.nan  # plain records have no time
        payload = self._payload(seq)
        fast = record_time(payload)
        if fast is not None:
            return fast
        return self.time_of(self.decode(payload, seq), seq)

    def time_of(self, data: dict[str, Any], seq: int) -> float:
        """A stored record's time, without building a LogRecord for log maps
        (a time that is not a number reads as 0.0; a plain record has none)."""
        kind = data.get("k")
        if kind == PLAIN_KIND:
            return math.nan
        if kind == EVENT_KIND:
            return self.decoder.record(data, seq).created
        return time_value(data.get("c", 0.0))

    def iterate_data(self, start: int, stop: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(number, stored map) for records ``start`` .. ``stop - 1``."""
        decode = self.decode
        seq = start = max(start, self.first)
        for payload in self.cf.record_generator(start):
            if seq >= stop:
                return
            yield seq, decode(cast(bytes, payload), seq)
            seq += 1

    def build(self, data: dict[str, Any], seq: int) -> logging.LogRecord:
        if data.get("k") == PLAIN_KIND:
            return self._plain_record(data["p"], seq)
        record = self.decoder.record(data, seq)
        segments = self.segments
        record.capture_file = self.path if segments is None else segments.path_of(seq)
        record.capture_stream = self.stream
        return record

    def _plain_record(self, payload: bytes, seq: int) -> logging.LogRecord:
        """A record of a plain file: its text (UTF-8, else the bytes' repr) as
        the message; no time (NaN), level (0) or logger ("")."""
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = repr(payload)
        record = logging.makeLogRecord(
            {"name": "", "msg": text, "args": (), "levelname": "", "levelno": 0,
             "pathname": "", "filename": "", "module": "", "lineno": 0, "funcName": None,
             "created": math.nan, "msecs": 0.0, "relativeCreated": 0.0, "thread": None,
             "threadName": None, "processName": None, "process": None}
        )  # fmt: skip
        record.capture_seq = seq
        record.capture_file = self.path
        record.capture_stream = self.stream
        record.capture_plain = True
        return record

    def iterate(self, start: int, stop: int) -> Iterator[logging.LogRecord]:
        """Records ``start`` .. ``stop - 1`` in order, decoded."""
        build = self.build
        for seq, data in self.iterate_data(start, stop):
            yield build(data, seq)

    def first_at_or_after(self, when: float, lo: int = 1) -> int:
        """The first record number whose time is at or after ``when``.

        A search over the records' times, taken as non-decreasing: steps that
        interpolate between the times at both ends (logs arrive at a fairly
        steady rate, so that lands close) alternate with halving steps (so a
        burst cannot make it slow), about log2(n) reads at worst.
        """
        hi: int = self.cf.record_count() + 1
        lo = max(lo, self.first)
        if self.segments is not None:
            lo, hi = self._segment_window(when, lo, hi)
        if lo >= hi:
            return lo
        lo_time = self.created(lo)
        if lo_time >= when:
            return lo
        hi_time: float | None = None
        bisect = False
        # Invariant: time(lo) < when; records at hi and after are >= when.
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if not (bisect or hi_time is None or hi_time <= lo_time):
                share = (when - lo_time) / (hi_time - lo_time)
                if 0.0 <= share <= 1.0:  # not NaN, nor from infinite times
                    mid = min(hi - 1, max(lo + 1, lo + int(share * (hi - lo))))
            bisect = not bisect
            mid_time = self.created(mid)
            if mid_time < when:
                lo, lo_time = mid, mid_time
            else:
                hi, hi_time = mid, mid_time
        return hi

    def _segment_window(self, when: float, lo: int, hi: int) -> tuple[int, int]:
        """Narrow a search to the one segment that can hold the answer, by
        the time bounds sealed segments carry: no other segment is opened.
        Sealed segments come first in a stream and their bounds rise, so the
        first one ending at or after ``when`` is found by bisection."""
        segments = self.segments.segments if self.segments is not None else []
        # The first segment whose last record is not before ``when``: only an
        # unsealed one (the newest, or one a crash left open) has no bounds.
        unsealed = next((i for i, s in enumerate(segments) if s.last_time is None), len(segments))
        below, above = 0, unsealed
        while below < above:
            middle = (below + above) // 2
            if segments[middle].last_time < when:  # type: ignore[operator]
                below = middle + 1
            else:
                above = middle
        for segment in segments[below:]:
            if segment.last_seq < lo:
                continue
            if segment.last_time is not None and segment.last_time < when:
                continue  # a sealed one after an unsealed one, wholly earlier
            start = max(lo, segment.first_seq)
            if segment.sealed:
                return start, min(hi, segment.last_seq + 1)
            return start, hi
        return hi, hi  # every record is earlier


class ReplayReader:
    """Reads capture files written by :class:`~capturelog.CaptureHandler` or the
    structlog integration, as LogRecords or plain dicts.

    With one path, records are addressed by their sequence number in the file,
    from 1. With several paths (say one file per process, from a handler's
    ``{pid}`` names), iteration merges them in time order; indexing by number
    needs a single file.

    Every rebuilt record carries ``capture_seq`` (its number in its file) and
    ``capture_file`` (the file's path). Stored values come back as they are,
    whatever their type (see ``RecordDecoder``: a crafted file's ``levelno``
    may be a string), and ``getMessage()`` never raises: a malformed logging
    call gives text naming the template, the arguments and the error.

    Raises:
        InvalidCaptureFile: a path is not a capture file, or is damaged; a
            record that cannot be decoded (not msgpack, not a map, nested
            deeper than capturelog writes) raises it naming the file and the
            record number, when it is read.
    """

    def __init__(self, paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            raise ValueError("ReplayReader needs at least one path")
        self.patterns = [os.fspath(p) for p in paths]
        self.paths: list[str] = []
        self._sources: list[_Source] = []
        self._seen: set[str] = set()  # every file taken in, segments included
        # Open segment files, shared by the streams: at most 8 for the reader.
        self._segment_files: OrderedDict[str, CaptureFile] = OrderedDict()
        try:
            self._add_sources(expand_paths(self.patterns))
        except BaseException:
            self.close()
            raise
        self.path = self.paths[0]

    def _add_sources(self, paths: list[str]) -> None:
        """Open the files not open yet: a log set's segments grouped into one
        source per stream (described, not read), any other file as itself."""
        streams: dict[str, list[Segment]] = {}
        for path in paths:
            if path in self._seen:
                continue
            self._seen.add(path)
            named_segment = "@" in os.path.basename(path)
            segment = describe(path) if named_segment else None
            if segment is None:
                if named_segment and not os.path.lexists(path):
                    continue  # deleted by retention since it was listed
                self._sources.append(_Source(path))
                self.paths.append(path)
            else:
                key = os.path.join(os.path.dirname(path), segment.stream)
                streams.setdefault(key, []).append(segment)
        for key, segments in streams.items():
            if any(s.segments is not None and s.path == key for s in self._sources):
                continue  # a stream already read: refresh() finds its new segments
            stream = StreamFile(segments, self._segment_files)
            self._seen.update(s.path for s in stream.segments)
            self._sources.append(_Source(key, stream))
            self.paths.append(key)

    # ----------------------------------------------------------------- access

    def _single(self) -> _Source:
        if len(self._sources) != 1:
            raise TypeError(
                "records are addressed by number in one file or stream; this reader has"
                f" several ({', '.join(s.stream for s in self._sources[:4])}"
                f"{' ...' if len(self._sources) > 4 else ''}): use reader[stream, seq]"
            )
        return self._sources[0]

    def _of_stream(self, stream: str) -> _Source:
        """The source of a stream (or file), by name or path."""
        for source in self._sources:
            if stream in (source.stream, source.path):
                return source
        raise KeyError(
            f"no stream {stream!r} here; the streams are"
            f" {', '.join(s.stream for s in self._sources)}"
        )

    @property
    def streams(self) -> list[str]:
        """The names of the streams (for a plain file, its file name)."""
        return [source.stream for source in self._sources]

    def __len__(self) -> int:
        return sum(source.cf.record_count() + 1 - source.first for source in self._sources)

    def refresh(self) -> None:
        """See records committed since the reader opened (or last refreshed),
        and capture files that appeared since in a directory or glob it was
        given."""
        for source in self._sources:
            source.cf.refresh()
        for source in self._sources:
            if source.segments is not None:
                source.first = source.segments.first
                self._seen.update(s.path for s in source.segments.segments)
        # Directories and globs may name new files, a handler's name new
        # segments (of a new stream, or a stream's next one, which its
        # source found already).
        self._add_sources(expand_paths(self.patterns, appearing=True))

    def origin(self, path: str | None = None) -> dict[str, Any] | None:
        """What a capturelog writer wrote of itself in the file's metadata
        (host, pid, program, Python and capturelog versions, time zone, UTC
        offset, when it opened the file), or None for a file not written by
        capturelog's handler. ``path`` defaults to the first file."""
        source = self._sources[self.paths.index(path) if path is not None else 0]
        return origin_of(source.cf.get_metadata())

    def record(self, seq: int) -> logging.LogRecord:
        """Record ``seq`` (from 1) as a LogRecord with every stored attribute."""
        return self._single().record(seq)

    def event(self, seq: int) -> dict[str, Any]:
        """Record ``seq`` as plain data: for a structlog event, the event dict
        itself; for a LogRecord, its stored attributes by name (with ``kind``,
        ``schema``, ``extra`` and, when it was stored, the rendered
        ``message``)."""
        data = self._single().data(seq)
        if data.get("k") == EVENT_KIND and isinstance(data.get("ev"), dict):
            event: dict[str, Any] = data["ev"]
            return event
        return expand(data)

    @overload
    def __getitem__(self, seq: int) -> logging.LogRecord: ...

    @overload
    def __getitem__(self, seq: slice) -> list[logging.LogRecord]: ...

    @overload
    def __getitem__(self, seq: tuple[str, int]) -> logging.LogRecord: ...

    def __getitem__(self, seq: Any) -> logging.LogRecord | list[logging.LogRecord]:
        """``reader[n]`` is record n (negative counts from the end);
        ``reader[a:b]`` the records a .. b-1, as with CaptureFile. With
        several streams (a log set's worker processes), ``reader[stream, n]``
        (the stream's name, such as ``"app.4242.capture"``). In a log set, n
        is the stream's sequence number, which outlives rotation and
        retention."""
        if isinstance(seq, tuple) and len(seq) == 2:
            source = self._of_stream(seq[0])
            seq = seq[1]
        else:
            source = self._single()
        count = source.cf.record_count()
        first = source.first
        if isinstance(seq, slice):
            if seq.step not in (None, 1):
                numbers = range(count + 1)[seq]
                return [source.record(n) for n in numbers if n >= first]
            if seq.start is None:
                start = first
            else:
                start = seq.start if seq.start > 0 else count + 1 + seq.start
            stop = (
                count + 1
                if seq.stop is None
                else (seq.stop if seq.stop >= 0 else count + 1 + seq.stop)
            )
            return list(source.iterate(max(start, first), min(stop, count + 1)))
        if seq < 0:
            seq += count + 1
        return source.record(seq)

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return self.records()

    # ----------------------------------------------------------------- queries

    def records(
        self,
        start: int | None = None,
        stop: int | None = None,
        *,
        level: int | str | LevelRange | None = None,
        logger: str | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        match: str | re.Pattern[str] | None = None,
        skew: float = CLOCK_SKEW,
        reverse: bool = False,
    ) -> Iterator[logging.LogRecord]:
        """Records in order (newest first with ``reverse``), filtered.

        Args:
            start: first sequence number (from 1; negative counts from the
                end, -1 being the last record); ``stop`` is excluded and
                counts the same way. With several files they apply to each.
            level: a minimum level (a number, or a name: logging's, a short
                one such as ``warn`` or ``err``, or a custom one that a record
                in the files has), or a range ``"WARNING..ERROR"`` (both ends
                included) or a ``LevelRange``.
            logger: a logger name; its children are included
                (``"svc.db"`` matches ``svc.db`` and ``svc.db.pool``).
            since, until: a time window, ``since <= created < until``, as
                datetimes, epoch seconds or text (see ``to_timestamp``).
            match: a regular expression searched in the rendered message,
                then the traceback, the stack and the extras as
                ``key=value`` text (for a malformed logging call, the message
                is the text getMessage() gives: template, arguments, error).

        The window is found by a search over the records' times (see
        ``first_at_or_after``), not by a scan. The rule for clocks that step
        backwards: the search looks for ``since - skew`` and the scan stops at
        the first record later than ``until + skew``, so every record whose
        time is in the window is returned as long as no record is more than
        ``skew`` seconds (default 0.1) older than one written before it.
        Larger steps back can hide records from a time query, never from a
        plain scan.

        Raises:
            ValueError: a level, time or pattern that cannot be read.
        """
        if skew < 0 or math.isnan(skew):
            raise ValueError(f"skew must be 0 or more seconds, not {skew}")
        keep = _Filter(self.level_range(level), logger, since, until, match)
        stream = self._stream_reversed if reverse else self._stream
        streams = [stream(source, start, stop, keep, skew) for source in self._sources]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_merge_key, reverse=reverse)

    def record_batches(self, batch_size: int = 16_384, **filters: Any) -> Iterator[Any]:
        """The records :meth:`records` gives (same filters, same order), as
        Apache Arrow record batches of at most ``batch_size`` rows, one row a
        record (``capturelog.export.COLUMNS``). Needs pyarrow:
        ``pip install 'capturelog[parquet]'``."""
        from .export import record_batches  # noqa: PLC0415 - pyarrow only when asked for

        return record_batches(self, batch_size, **filters)

    def to_arrow(self, **filters: Any) -> Any:
        """Every record :meth:`records` gives, as one Apache Arrow table (held
        in memory: for large exports, ``capturelog.export.export_parquet``).
        Needs pyarrow: ``pip install 'capturelog[parquet]'``."""
        from .export import to_arrow  # noqa: PLC0415 - pyarrow only when asked for

        return to_arrow(self, **filters)

    def level_range(self, level: int | str | LevelRange | None) -> LevelRange | None:
        """A ``level`` argument as the range of levels it keeps. A custom
        level's name is looked up in the records (the first record with that
        level name gives its number)."""
        if level is None or isinstance(level, LevelRange):
            return level
        if isinstance(level, int):
            return LevelRange(level)
        custom = self._custom_levels() if needs_custom_names(level) else None
        return parse_level_range(level, custom)

    def _custom_levels(self) -> dict[str, int]:
        """The level names records in the files have, with their numbers (a
        scan of stored maps; only when a filter names a level logging does not
        know)."""
        names: dict[str, int] = {}
        for source in self._sources:
            if source.plain:
                continue
            for seq, data in source.iterate_data(source.first, source.cf.record_count() + 1):
                name: Any
                number: Any
                if data.get("k") == EVENT_KIND:
                    record = source.build(data, seq)
                    name, number = record.levelname, record.levelno
                else:
                    name, number = data.get("L"), data.get("l")
                if type(name) is str and type(number) is int:
                    names.setdefault(name, number)
        return names

    def _bounds(self, source: _Source, start: int | None, stop: int | None) -> tuple[int, int]:
        """``start`` and ``stop`` as the first and last + 1 record numbers in
        the file (negative ones counted from the end)."""
        count = source.cf.record_count()
        first = source.first if start is None else (start if start >= 0 else count + 1 + start)
        last = count + 1 if stop is None else (stop if stop >= 0 else count + 1 + stop)
        return max(first, source.first), min(last, count + 1)

    def _stream(
        self, source: _Source, start: int | None, stop: int | None, keep: _Filter, skew: float
    ) -> Iterator[logging.LogRecord]:
        build, matches = source.build, keep.matches
        for seq, data, built in self._kept_maps(source, start, stop, keep, skew):
            if built is not None:
                yield built
            else:
                record = build(data, seq)
                if matches(record):
                    yield record

    def _kept_maps(
        self, source: _Source, start: int | None, stop: int | None, keep: _Filter, skew: float
    ) -> Iterator[tuple[int, dict[str, Any], logging.LogRecord | None]]:
        """(number, stored map, record) for the records of ``source`` that
        ``keep`` keeps, in order. The record is built only where the map
        cannot be judged alone (an event, a plain record: then every filter
        has been applied); for a ``log`` map it is None, and only
        ``keep.matches`` (the pattern) is left to apply to the built record.
        Parquet export makes rows from the maps without building records."""
        first, last = self._bounds(source, start, stop)
        since, until = keep.since, keep.until
        if since is not None and first < last:
            first = max(first, source.first_at_or_after(since - skew, first))
        end_time = until + skew if until is not None else None
        timed = since is not None or until is not None
        by_map = keep.levels is not None or bool(keep.logger)
        build, decode, plain = source.build, source.decode, source.plain
        seq = first - 1
        for item in source.cf.record_generator(first):
            payload = cast(bytes, item)  # encoding=None: always bytes
            seq += 1
            if seq >= last:
                return
            data = None
            if timed:
                created = None if plain else record_time(payload)
                if created is None:
                    data = decode(payload, seq)
                    created = source.time_of(data, seq)
                if end_time is not None and created >= end_time:
                    return
                # Written so that a NaN time is in no window.
                if (since is not None and not created >= since) or (
                    until is not None and not created < until
                ):
                    continue
            if data is None:
                data = decode(payload, seq)
            kind = data.get("k")
            if kind in (EVENT_KIND, PLAIN_KIND):  # a tuple: a stored kind may be unhashable
                # Their level and logger are only known once built.
                record = build(data, seq)
                if keep(record):
                    yield seq, data, record
            elif not by_map or keep.data_ok(data):  # time, level and logger are settled
                yield seq, data, None

    def _stream_reversed(
        self, source: _Source, start: int | None, stop: int | None, keep: _Filter, skew: float
    ) -> Iterator[logging.LogRecord]:
        """The records of ``_stream``, newest first: read forwards a chunk at
        a time from the end (the engine reads forwards), each chunk reversed;
        memory stays one chunk whatever the file's size."""
        first, last = self._bounds(source, start, stop)
        if keep.since is not None and first < last:
            first = max(first, source.first_at_or_after(keep.since - skew, first))
        if keep.until is not None and first < last:
            last = min(last, source.first_at_or_after(keep.until + skew, first))
        chunk = 256
        while last > first:
            low = max(first, last - chunk)
            batch = [source.build(data, seq) for seq, data in source.iterate_data(low, last)]
            for record in reversed(batch):
                if keep(record):
                    yield record
            last = low

    def replay(
        self,
        target: logging.Logger | logging.Handler,
        start: int | None = None,
        stop: int | None = None,
        **filters: Any,
    ) -> int:
        """Re-emit records into a Logger (through its handlers and filters, as
        if just logged) or a Handler (which formats and writes them). Takes
        the filters of :meth:`records`; returns how many records were sent."""
        sent = 0
        for record in self.records(start, stop, **filters):
            levelno: Any = record.levelno
            if type(levelno) is not int:  # from a file capturelog did not write
                levelno = level_value(levelno)
            if isinstance(target, logging.Logger):
                if not target.isEnabledFor(levelno):
                    continue
            elif levelno < target.level:
                continue
            target.handle(record)
            sent += 1
        return sent

    def follow(
        self,
        start: int | None = None,
        *,
        poll_interval: float = 0.5,
        stop_event: threading.Event | None = None,
        level: int | str | LevelRange | None = None,
        logger: str | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        match: str | re.Pattern[str] | None = None,
    ) -> Iterator[logging.LogRecord]:
        """Yield records as writers commit them, like ``tail -f``.

        Starts at ``start`` in each file (default: after the records there
        now; negative counts from the end), checks for new commits every
        ``poll_interval`` seconds (waiting on an event, not spinning), and
        ends cleanly on KeyboardInterrupt, or once ``stop_event`` is set and
        everything committed before that has been yielded. Files that appear
        in a directory or glob the reader was given are followed from their
        first record. Records that arrive from several files between two
        checks are yielded in time order. Takes the filters of
        :meth:`records`.
        """
        keep = _Filter(self.level_range(level), logger, since, until, match)
        stop_event = stop_event or threading.Event()
        position: dict[int, int] = {}  # by source: a plain file and a stream may share a path
        for source in self._sources:
            position[id(source)] = (
                self._bounds(source, start, None)[0]
                if start is not None
                else (source.cf.record_count() + 1)
            )
        try:
            while True:
                stopping = stop_event.is_set()
                self.refresh()
                batches = []
                for source in self._sources:
                    # Records before a stream's first segment were deleted
                    # by retention: go on from what is there.
                    next_seq = max(position.setdefault(id(source), source.first), source.first)
                    count = source.cf.record_count()
                    if count >= next_seq:
                        batch: list[logging.LogRecord] = []
                        done = next_seq - 1
                        try:
                            for seq, data in source.iterate_data(next_seq, count + 1):
                                done = seq
                                record = source.build(data, seq)
                                if keep(record):
                                    batch.append(record)
                        except SegmentDeleted:
                            pass  # the next refresh skips what retention took
                        batches.append(batch)
                        position[id(source)] = done + 1
                if batches:
                    yield from heapq.merge(*batches, key=_merge_key)
                    continue
                if stopping:
                    return  # what was committed before the stop has been yielded
                stop_event.wait(poll_interval)
        except KeyboardInterrupt:
            return

    # ----------------------------------------------------------------- closing

    def close(self) -> None:
        for source in self._sources:
            source.cf.close()

    def __enter__(self) -> ReplayReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(repr(p) for p in self.paths)
        return f"<ReplayReader {names} records={len(self)}>"
