"""One stream of a log set read as one file, numbered by stream sequence numbers.

:class:`StreamFile` offers the reading half of ``CaptureFile``'s interface
(``record_count``, ``record_at``, ``record_generator``, ``refresh``,
``get_metadata``, ``close``) over a stream's segments, so that the reader
treats a stream like any file. Record ``n`` is the stream's record ``n``:
numbers start at the first segment still there (``first``), not at 1.

A set may hold thousands of segments: they are described from their metadata
(no record is read), and a segment's file is opened only when its records
are needed; at most ``_OPEN`` stay open for random reads, and a walk opens
each segment in turn and closes it when it moves on.
"""

from __future__ import annotations

import bisect
import glob
import os
from collections import OrderedDict
from collections.abc import Iterator
from itertools import islice

from .capturefile import CaptureFile
from .logset import Segment, describe

__all__ = ["SegmentDeleted", "StreamFile", "stream_path"]

# Segment files kept open for record_at (reading by number, a time search).
_OPEN = 8


class SegmentDeleted(FileNotFoundError):
    """A segment the reader listed was deleted (by retention) before its
    records were read."""


def stream_path(segment: Segment) -> str:
    """The path a stream's writer names: the segment's directory and the
    stream's file name (``logs/app@000000000001.capture`` -> ``logs/app.capture``)."""
    return os.path.join(os.path.dirname(segment.path), segment.stream)


class StreamFile:
    """The records of one stream, over its segments, read-only."""

    def __init__(
        self, segments: list[Segment], files: OrderedDict[str, CaptureFile] | None = None
    ) -> None:
        """``files``: the open-file cache, shared by every stream of one reader
        so that the bound holds for the reader, whatever its streams."""
        self.path = stream_path(segments[0])
        self.stream = segments[0].stream
        self._segments = sorted(segments, key=lambda s: s.first_seq)
        self._firsts = [s.first_seq for s in self._segments]
        self._open: OrderedDict[str, CaptureFile] = OrderedDict() if files is None else files

    # ----------------------------------------------------------------- shape

    @property
    def segments(self) -> list[Segment]:
        """The segments, in order, as last described."""
        return list(self._segments)

    @property
    def first(self) -> int:
        """The number of the first record still in the set."""
        return self._segments[0].first_seq if self._segments else 1

    def record_count(self) -> int:
        """The number of the last committed record (not a count: numbering
        starts at ``first``)."""
        if not self._segments:
            return 0
        return self._segments[-1].last_seq

    def segment_of(self, seq: int) -> Segment | None:
        """The segment holding record ``seq``, or None (deleted, or not yet)."""
        i = bisect.bisect_right(self._firsts, seq) - 1
        if i < 0:
            return None
        segment = self._segments[i]
        return segment if seq <= segment.last_seq else None

    def path_of(self, seq: int) -> str:
        """The file holding record ``seq``."""
        segment = self.segment_of(seq)
        return segment.path if segment is not None else self.path

    # ----------------------------------------------------------------- reading

    def _file(self, segment: Segment) -> CaptureFile:
        cf = self._open.get(segment.path)
        if cf is None:
            cf = CaptureFile(segment.path, encoding=None)
            self._keep(segment.path, cf)
        else:
            self._open.move_to_end(segment.path)
        return cf

    def _keep(self, path: str, cf: CaptureFile) -> None:
        """Put an open segment file in the cache (closing the oldest beyond
        its size), or close it if the cache has that file open already."""
        if path in self._open:
            cf.close()
            return
        self._open[path] = cf
        while len(self._open) > _OPEN:
            self._open.popitem(last=False)[1].close()

    def record_at(self, seq: int) -> bytes:
        """The stored bytes of record ``seq``.

        Raises:
            IndexError: no such record in the set: before ``first`` (its
                segment was deleted by retention) or after the last.
        """
        segment = self.segment_of(seq)
        if segment is None:
            if self._segments and seq < self.first:
                raise IndexError(
                    f"{self.path}: record {seq} is no longer in the set (its segment was"
                    f" deleted); the stream's records are {self.first} to {self.record_count()}"
                )
            raise IndexError(
                f"{self.path}: no record {seq}; the stream's records are"
                f" {self.first} to {self.record_count()}"
            )
        record: bytes = self._file(segment).record_at(seq - segment.first_seq + 1)  # type: ignore[assignment]
        return record

    def record_generator(self, start: int = 1) -> Iterator[bytes]:
        """The records from ``start`` (or the first still there) to the last
        committed now, opening one segment at a time.

        Raises:
            SegmentDeleted: a segment was deleted before the walk got to it,
                or one is missing between two others (the numbers would
                no longer match the records), after the records before it.
        """
        segments = self._segments
        i = max(0, bisect.bisect_right(self._firsts, start) - 1)
        expected = max(start, self.first)  # the next record's number
        for segment in segments[i:]:
            if segment.first_seq > expected:
                raise SegmentDeleted(
                    2,
                    f"records {expected} to {segment.first_seq - 1} of stream {self.stream}"
                    " are missing (a segment deleted or moved out of the set)",
                    segment.path,
                )
            local = max(1, start - segment.first_seq + 1)
            expected = max(expected, segment.first_seq + segment.count)
            if local > segment.count:
                continue
            # The file a search just opened is taken over (out of the cache,
            # so no other read closes it under the walk), else opened.
            cf = self._open.pop(segment.path, None)
            if cf is None:
                try:
                    cf = CaptureFile(segment.path, encoding=None)
                except FileNotFoundError:
                    raise SegmentDeleted(
                        2, "deleted (by retention?) while it was being read", segment.path
                    ) from None
            try:
                records = cf.record_generator(local)
                yield from islice(records, segment.count - local + 1)
            finally:
                self._keep(segment.path, cf)

    def __iter__(self) -> Iterator[bytes]:
        return self.record_generator(self.first)

    def refresh(self) -> None:
        """See new commits, new segments, and segments deleted meanwhile."""
        stem, ext = os.path.splitext(self.path)
        on_disk = set(glob.glob(f"{glob.escape(stem)}@*{ext}"))
        known = {s.path: s for s in self._segments}
        fresh: list[Segment] = []
        for path in sorted(on_disk):
            segment = known.get(path)
            if segment is None or not segment.sealed:
                # New, or still growing when last described: describe it now.
                segment = describe(path)
            if segment is not None and segment.stream == self.stream:
                fresh.append(segment)
        for path in set(known) - {s.path for s in fresh}:
            cf = self._open.pop(path, None)
            if cf is not None:
                cf.close()
        for segment in fresh:
            cf = self._open.get(segment.path)
            if cf is not None:
                cf.refresh()
        if fresh:  # a stream keeps its newest segment: all gone means a wiped set
            self._segments = sorted(fresh, key=lambda s: s.first_seq)
            self._firsts = [s.first_seq for s in self._segments]

    def get_metadata(self) -> bytes | None:
        """The newest segment's metadata (its writer's description)."""
        if not self._segments:
            return None
        return self._file(self._segments[-1]).get_metadata()

    def close(self) -> None:
        """Close this stream's files (the cache may hold other streams')."""
        own = {s.path for s in self._segments}
        for path in [p for p in self._open if p in own]:
            self._open.pop(path).close()
