"""Log sets: segments of streams, named and described so that a set reads as one log.

A *stream* is the records one writer writes under one file name. With
rotation, a stream is cut into *segments*, each an ordinary capture file
(format version 2, which the reference package reads) named after the stream
and the sequence number of its first record::

    logs/app.capture  ->  logs/app@000000000001.capture
                          logs/app@000000052001.capture  ...

Sequence numbers run on across segments (a segment's first record is the
previous one's last plus one) and never change when old segments are deleted,
so a saved position stays valid. A handler's worker processes write streams
of their own (``app.<pid>.capture`` -> ``app.<pid>@000000000001.capture``);
all the streams of one handler name form its *set*.

The names only order segments for people and listings; each segment says what
it is in its own metadata (the handler's origin map): ``stream`` (the stream's
file name, without directory), ``first_seq``, and, once the writer has
rotated away from it for good, ``sealed`` (``count``, and the ``first`` and
``last`` record times), so that a reader can skip it by time without reading
a record. This module finds and describes segments and applies retention;
it never writes a segment's records.
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _locking
from ._codec import unpack_data
from ._limits import Retention
from .capturefile import CaptureFile
from .exceptions import CaptureFileError

__all__ = [
    "SEQ_DIGITS",
    "Segment",
    "VacuumReport",
    "describe",
    "segment_name",
    "segment_paths",
    "segments",
    "set_paths",
    "stream_segments",
    "vacuum",
]

SEQ_DIGITS = 12  # zero-padded, so that names sort in sequence order


def segment_name(stream_path: str, first_seq: int) -> str:
    """The file name of a stream's segment starting at ``first_seq``."""
    stem, ext = os.path.splitext(stream_path)
    return f"{stem}@{first_seq:0{SEQ_DIGITS}d}{ext}"


def segment_paths(name: str) -> list[str]:
    """The segment files of the set a handler writing ``name`` makes: its own
    stream's (``app@<12 digits>.capture``) and its worker processes'
    (``app.<pid>@<12 digits>.capture``), sorted. Nothing else matches: not
    ``app.audit@...capture``, the set of another handler, ``app.audit.capture``."""
    stem, ext = os.path.splitext(name)
    base = glob.escape(stem)
    own = re.compile(
        re.escape(os.path.basename(stem)) + rf"(\.[0-9]+)?@[0-9]{{{SEQ_DIGITS}}}" + re.escape(ext)
    )
    found = set(glob.glob(f"{base}@*{ext}")) | set(glob.glob(f"{base}.*@*{ext}"))
    return sorted(p for p in found if own.fullmatch(os.path.basename(p)) and os.path.isfile(p))


def set_paths(path: str) -> list[str]:
    """The files that may be segments of the set ``path`` names: a handler's
    file name (its segments, see :func:`segment_paths`), a directory (its
    files, hidden ones left out) or a glob. :func:`segments` picks the
    segments among them."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if not n.startswith("."))
        return [p for p in (os.path.join(path, n) for n in names) if os.path.isfile(p)]
    if glob.has_magic(path) and not os.path.lexists(path):
        return sorted(p for p in glob.glob(path) if os.path.isfile(p))
    found = segment_paths(path)
    if os.path.isfile(path) and path not in found:
        found.insert(0, path)
    return found


@dataclass(frozen=True, slots=True)
class Segment:
    """What a segment says about itself, read without reading a record."""

    path: str
    stream: str  # the stream's file name, without directory
    first_seq: int
    count: int  # committed records, as of when it was described
    sealed: bool  # the writer rotated away from it: it gets no more records
    first_time: float | None  # record times, known once sealed
    last_time: float | None
    size: int  # bytes on disk (what du counts)
    mtime: float  # when it last changed
    identity: tuple[int, int]  # (device, inode)

    @property
    def last_seq(self) -> int:
        """The sequence number of its last record (first_seq - 1 when empty)."""
        return self.first_seq + self.count - 1


def segment_info(metadata: bytes | None) -> dict[str, Any] | None:
    """The origin map of a segment's metadata, or None if the metadata does not
    describe a segment (a plain capture file, or another program's metadata)."""
    if metadata is None:
        return None
    try:
        origin = unpack_data(metadata)
    except Exception:
        return None
    if not isinstance(origin, dict):
        return None
    stream, first = origin.get("stream"), origin.get("first_seq")
    if not isinstance(stream, str) or type(first) is not int or first < 1:
        return None
    return origin


def describe(path: str) -> Segment | None:
    """The segment at ``path``, or None when it is not one (not a capture
    file, no segment metadata) or is gone.

    Raises:
        OSError: the file exists but cannot be read (permissions).
    """
    try:
        stat = os.stat(path)
        with CaptureFile(path, encoding=None) as cf:
            origin = segment_info(cf.get_metadata())
            count = cf.record_count()
    except FileNotFoundError:
        return None
    except (CaptureFileError, ValueError):
        return None  # not a capture file, or damaged: not ours to judge here
    if origin is None:
        return None
    sealed = origin.get("sealed")
    first = last = None
    if isinstance(sealed, dict):
        first, last = _number(sealed.get("first")), _number(sealed.get("last"))
    return Segment(
        path=path,
        stream=origin["stream"],
        first_seq=origin["first_seq"],
        count=count,
        sealed=isinstance(sealed, dict),
        first_time=first,
        last_time=last,
        size=stat.st_blocks * 512,
        mtime=stat.st_mtime,
        identity=(stat.st_dev, stat.st_ino),
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def segments(paths: Iterable[str]) -> list[Segment]:
    """The segments among ``paths`` (others left out), ordered by stream, then
    sequence number."""
    found = [s for s in map(describe, paths) if s is not None]
    found.sort(key=lambda s: (s.stream, s.first_seq))
    return found


def stream_segments(stream_path: str, newest: int | None = None) -> list[Segment]:
    """The segments of the one stream written at ``stream_path``, in order;
    with ``newest``, only that many of its last ones. Names sort in sequence
    order (``SEQ_DIGITS``), so only those are described, newest first, not
    every segment of a long stream."""
    stem, ext = os.path.splitext(stream_path)
    stream = os.path.basename(stream_path)
    found: list[Segment] = []
    for path in sorted(glob.glob(f"{glob.escape(stem)}@*{ext}"), reverse=True):
        segment = describe(path)
        if segment is not None and segment.stream == stream:
            found.append(segment)
            if len(found) == newest:
                break
    found.reverse()
    return found


@dataclass(frozen=True, slots=True)
class VacuumReport:
    """What :func:`vacuum` did."""

    deleted: tuple[str, ...]
    freed: int  # bytes on disk
    kept: int  # segments left
    held: tuple[str, ...]  # chosen, but held by a live writer: left alone


def vacuum(
    found: Sequence[Segment],
    retention: Retention,
    now: float | None = None,
    *,
    dry_run: bool = False,
) -> VacuumReport:
    """Delete whole segments, oldest first, until ``retention`` holds
    (``dry_run``: say which, delete nothing).

    Each stream loses segments from its start only, so what is left of a
    stream is one run of sequence numbers: of the streams' first segments,
    the one changed longest ago goes next. The newest segment of each stream
    is never deleted: it is where its writer is (or will go on when it starts
    again), and it keeps the stream's numbering. Nor is a segment a live
    writer holds (its writer lock tells; the stream's later segments then
    stay too), or a file that is no longer the one described (replaced in
    between). Several processes may vacuum one set at once: a segment another
    one deleted first is passed over without an error.
    """
    now = time.time() if now is None else now
    streams: dict[str, list[Segment]] = {}
    for segment in sorted(found, key=lambda s: s.first_seq):
        streams.setdefault(segment.stream, []).append(segment)
    # Oldest first within each stream; the newest stays.
    queues = [run[:-1][::-1] for run in streams.values() if len(run) > 1]
    total_size = sum(s.size for s in found)
    total_files = len(found)
    deleted: list[str] = []
    held: list[str] = []
    freed = 0
    while queues:
        queue = min(queues, key=lambda q: (q[-1].mtime, q[-1].path))
        segment = queue[-1]
        too_many = retention.max_files is not None and total_files > retention.max_files
        too_big = retention.max_bytes is not None and total_size > retention.max_bytes
        too_old = retention.max_age is not None and segment.mtime < now - retention.max_age
        if not (too_many or too_big or too_old):
            break  # no other stream's first segment is older
        outcome = _delete_closed(segment, dry_run)
        if outcome == "held":
            held.append(segment.path)  # the stream keeps it and what follows it
            queues.remove(queue)
            continue
        queue.pop()
        if not queue:
            queues.remove(queue)
        # Gone already (another process vacuuming): it no longer counts either.
        total_files -= 1
        total_size -= segment.size
        if outcome == "deleted":
            deleted.append(segment.path)
            freed += segment.size
    return VacuumReport(tuple(deleted), freed, total_files, tuple(held))


def _delete_closed(segment: Segment, dry_run: bool = False) -> str:
    """Unlink a segment while holding its writer lock: "deleted", "held" (a
    writer has it), or "gone" (deleted already, or no longer that file)."""
    for attempt in range(_LOCK_TRIES):
        try:
            fd = os.open(segment.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return "gone"
        try:
            stat = os.fstat(fd)
            if (stat.st_dev, stat.st_ino) != segment.identity or stat.st_nlink == 0:
                return "gone"
            if _locking.try_lock_writer(fd):
                if dry_run:
                    return "deleted"
                try:
                    os.unlink(segment.path)
                except FileNotFoundError:
                    return "gone"
                return "deleted"
        finally:
            os.close(fd)  # drops the lock
        # Held: by a writer, or for an instant by another vacuum deleting it
        # (which holds the lock just as long as an unlink takes). Look again.
        if attempt + 1 < _LOCK_TRIES:
            time.sleep(_LOCK_PAUSE)
    return "held"


# A segment found locked is looked at again this many times, this far apart,
# before it is taken as held by a writer.
_LOCK_TRIES = 3
_LOCK_PAUSE = 0.02
