"""``ReplayReader``: LogRecords and events back out of capture files, filtered,
found by time, re-emitted into any logging handler, or followed live."""

from __future__ import annotations

import heapq
import logging
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Union, cast, overload

from ._codec import (
    EVENT_KIND,
    RecordDecoder,
    describe_error,
    expand,
    limited_repr,
    record_time,
)
from .capturefile import CaptureFile
from .exceptions import InvalidCaptureFile
from .handler import level_number

__all__ = ["ReplayReader", "to_timestamp"]

TimeLike = Union[datetime, str, int, float]

# How far back a writer's clock may step (an NTP correction) without a time
# window missing records: the search starts this much before ``since`` and the
# scan runs this much past ``until``. Records in that margin cost only a
# msgpack unpack each.
CLOCK_SKEW = 0.1


def to_timestamp(value: TimeLike) -> float:
    """Epoch seconds from a datetime (naive means local time), an ISO 8601
    string, or a number of epoch seconds."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            raise ValueError(f"not a time: {text!r} (use ISO 8601 or epoch seconds)") from None
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not a time: {value!r}")


class _Filter:
    """The record filters shared by records(), replay() and follow()."""

    __slots__ = ("level", "logger", "match", "prefix", "since", "until")

    def __init__(
        self,
        level: int | str | None,
        logger: str | None,
        since: TimeLike | None,
        until: TimeLike | None,
        match: str | re.Pattern[str] | None,
    ) -> None:
        self.level = level_number(level) if level is not None else None
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
        if self.level is not None:
            levelno = data.get("l", 0)
            if type(levelno) is not int:
                levelno = level_value(levelno)
            if levelno < self.level:
                return False
        if self.logger:
            name = data.get("n", "root")
            if type(name) is not str:
                name = limited_repr(name)
            if name != self.logger and not name.startswith(self.prefix):  # type: ignore[arg-type]
                return False
        return True

    def matches(self, record: logging.LogRecord) -> bool:
        """The test only a built record can answer: the message pattern
        (searched in the text getMessage() gives, which never fails)."""
        return self.match is None or self.match.search(record.getMessage()) is not None

    def __call__(self, record: logging.LogRecord) -> bool:
        if (self.level is not None or self.logger) and not self.data_ok(
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


class _Source:
    """One capture file being replayed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cf = CaptureFile(path, encoding=None)
        self.decoder = RecordDecoder()
        self._unpack = self.decoder.data

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
        payload = self._payload(seq)
        fast = record_time(payload)
        if fast is not None:
            return fast
        return self.time_of(self.decode(payload, seq), seq)

    def time_of(self, data: dict[str, Any], seq: int) -> float:
        """A stored record's time, without building a LogRecord for log maps
        (a time that is not a number reads as 0.0)."""
        if data.get("k") == EVENT_KIND:
            return self.decoder.record(data, seq).created
        return time_value(data.get("c", 0.0))

    def iterate_data(self, start: int, stop: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(number, stored map) for records ``start`` .. ``stop - 1``."""
        decode = self.decode
        seq = start
        for payload in self.cf.record_generator(start):
            if seq >= stop:
                return
            yield seq, decode(cast(bytes, payload), seq)
            seq += 1

    def build(self, data: dict[str, Any], seq: int) -> logging.LogRecord:
        record = self.decoder.record(data, seq)
        record.capture_file = self.path
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
        hi = self.cf.record_count() + 1
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
        self.paths = [os.fspath(p) for p in paths]
        self._sources: list[_Source] = []
        try:
            for path in self.paths:
                self._sources.append(_Source(path))
        except BaseException:
            self.close()
            raise
        self.path = self.paths[0]

    # ----------------------------------------------------------------- access

    def _single(self) -> _Source:
        if len(self._sources) != 1:
            raise TypeError("records are addressed by number in one file; this reader has several")
        return self._sources[0]

    def __len__(self) -> int:
        return sum(source.cf.record_count() for source in self._sources)

    def refresh(self) -> None:
        """See records committed since the reader opened (or last refreshed)."""
        for source in self._sources:
            source.cf.refresh()

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

    def __getitem__(self, seq: int | slice) -> logging.LogRecord | list[logging.LogRecord]:
        """``reader[n]`` is record n (negative counts from the end);
        ``reader[a:b]`` the records a .. b-1, as with CaptureFile."""
        source = self._single()
        count = source.cf.record_count()
        if isinstance(seq, slice):
            if seq.step not in (None, 1):
                numbers = range(count + 1)[seq]
                return [source.record(n) for n in numbers if n >= 1]
            start = (
                1 if seq.start is None else (seq.start if seq.start > 0 else count + 1 + seq.start)
            )
            stop = (
                count + 1
                if seq.stop is None
                else (seq.stop if seq.stop >= 0 else count + 1 + seq.stop)
            )
            return list(source.iterate(max(start, 1), min(stop, count + 1)))
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
        level: int | str | None = None,
        logger: str | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        match: str | re.Pattern[str] | None = None,
        skew: float = CLOCK_SKEW,
    ) -> Iterator[logging.LogRecord]:
        """Records in order, filtered.

        Args:
            start: first sequence number (from 1); ``stop`` is excluded. With
                several files they apply to each file.
            level: a minimum level (number or name).
            logger: a logger name; its children are included
                (``"svc.db"`` matches ``svc.db`` and ``svc.db.pool``).
            since, until: a time window, ``since <= created < until``, as
                datetimes, ISO 8601 strings or epoch seconds.
            match: a regular expression searched in the rendered message
                (for a malformed logging call, in the text getMessage() gives
                instead: the template, the arguments and the error).

        The window is found by a search over the records' times (see
        ``first_at_or_after``), not by a scan. The rule for clocks that step
        backwards: the search looks for ``since - skew`` and the scan stops at
        the first record later than ``until + skew``, so every record whose
        time is in the window is returned as long as no record is more than
        ``skew`` seconds (default 0.1) older than one written before it.
        Larger steps back can hide records from a time query, never from a
        plain scan.
        """
        keep = _Filter(level, logger, since, until, match)
        streams = [self._stream(source, start, stop, keep, skew) for source in self._sources]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_merge_key)

    def _stream(
        self, source: _Source, start: int | None, stop: int | None, keep: _Filter, skew: float
    ) -> Iterator[logging.LogRecord]:
        count = source.cf.record_count()
        first = max(start or 1, 1)
        last = min(stop if stop is not None else count + 1, count + 1)
        since, until = keep.since, keep.until
        if since is not None and first < last:
            first = max(first, source.first_at_or_after(since - skew, first))
        end_time = until + skew if until is not None else None
        timed = since is not None or until is not None
        build, decode = source.build, source.decode
        seq = first - 1
        for item in source.cf.record_generator(first):
            payload = cast(bytes, item)  # encoding=None: always bytes
            seq += 1
            if seq >= last:
                return
            data = None
            if timed:
                created = record_time(payload)
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
            if data.get("k") == EVENT_KIND:
                # Level and logger of an event are only known once it is built.
                record = build(data, seq)
                if keep(record):
                    yield record
            elif keep.data_ok(data):  # time, level and logger are settled by now
                record = build(data, seq)
                if keep.matches(record):
                    yield record

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
        **filters: Any,
    ) -> Iterator[logging.LogRecord]:
        """Yield records as the writer commits them, like ``tail -f``.

        Starts at ``start`` (default: after the records there now), checks for
        new commits every ``poll_interval`` seconds (waiting on an event, not
        spinning), and ends cleanly on KeyboardInterrupt, or once
        ``stop_event`` is set and everything committed before that has been
        yielded. Takes the filters of :meth:`records` (time windows apart).
        """
        source = self._single()
        keep = _Filter(
            filters.get("level"), filters.get("logger"), None, None, filters.get("match")
        )
        stop_event = stop_event or threading.Event()
        next_seq = start if start is not None else source.cf.record_count() + 1
        try:
            while True:
                stopping = stop_event.is_set()
                source.cf.refresh()
                count = source.cf.record_count()
                if count >= next_seq:
                    for record in source.iterate(next_seq, count + 1):
                        if keep(record):
                            yield record
                    next_seq = count + 1
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
