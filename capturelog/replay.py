"""``ReplayReader``: LogRecords and events back out of capture files, filtered,
found by time, re-emitted into any logging handler, or followed live."""

from __future__ import annotations

import heapq
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Union, cast, overload

from ._codec import EVENT_KIND, RecordDecoder, expand, record_time
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

    def data_ok(self, data: dict[str, Any]) -> bool:
        """A cheap first test on a stored ``log`` map, before building a record."""
        if self.level is not None:
            levelno = data.get("l", 0)
            if isinstance(levelno, int) and levelno < self.level:
                return False
        if self.logger:
            name = data.get("n")
            if isinstance(name, str) and name != self.logger and not name.startswith(self.prefix):  # type: ignore[arg-type]
                return False
        return True

    def matches(self, record: logging.LogRecord) -> bool:
        """The test only a built record can answer: the message pattern."""
        return self.match is None or self.match.search(record.getMessage()) is not None

    def __call__(self, record: logging.LogRecord) -> bool:
        if self.level is not None and record.levelno < self.level:
            return False
        if self.logger and record.name != self.logger and not record.name.startswith(self.prefix):  # type: ignore[arg-type]
            return False
        if self.since is not None and record.created < self.since:
            return False
        if self.until is not None and record.created >= self.until:
            return False
        return self.matches(record)


class _Source:
    """One capture file being replayed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cf = CaptureFile(path, encoding=None)
        self.decoder = RecordDecoder()

    def data(self, seq: int) -> dict[str, Any]:
        return self.check(self.decoder.data(self._payload(seq)), seq)

    def _payload(self, seq: int) -> bytes:
        return cast(bytes, self.cf.record_at(seq))  # encoding=None: always bytes

    def check(self, data: Any, seq: int) -> dict[str, Any]:
        if not isinstance(data, dict):
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
        return self.time_of(self.check(self.decoder.data(payload), seq), seq)

    def time_of(self, data: dict[str, Any], seq: int) -> float:
        """A stored record's time, without building a LogRecord for log maps."""
        if data.get("k") == EVENT_KIND:
            return self.decoder.record(data, seq).created
        value = data.get("c", 0.0)
        return float(value) if isinstance(value, (int, float)) else 0.0

    def iterate_data(self, start: int, stop: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(number, stored map) for records ``start`` .. ``stop - 1``."""
        unpack = self.decoder.data
        check = self.check
        seq = start
        for payload in self.cf.record_generator(start):
            if seq >= stop:
                return
            yield seq, check(unpack(cast(bytes, payload)), seq)
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
            if bisect or hi_time is None or hi_time <= lo_time:
                mid = (lo + hi) // 2
            else:
                share = (when - lo_time) / (hi_time - lo_time)
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
    ``capture_file`` (the file's path).

    Raises:
        InvalidCaptureFile: a path is not a capture file, or is damaged.
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
            start = 1 if seq.start is None else (seq.start if seq.start > 0 else count + 1 + seq.start)
            stop = count + 1 if seq.stop is None else (seq.stop if seq.stop >= 0 else count + 1 + seq.stop)
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
            match: a regular expression searched in the rendered message.

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
        return heapq.merge(*streams, key=lambda record: record.created)

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
        build, unpack, check = source.build, source.decoder.data, source.check
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
                    data = check(unpack(payload), seq)
                    created = source.time_of(data, seq)
                if end_time is not None and created >= end_time:
                    return
                if (since is not None and created < since) or (until is not None and created >= until):
                    continue
            if data is None:
                data = check(unpack(payload), seq)
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
            if isinstance(target, logging.Logger):
                if not target.isEnabledFor(record.levelno):
                    continue
            elif record.levelno < target.level:
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
        keep = _Filter(filters.get("level"), filters.get("logger"), None, None, filters.get("match"))
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
