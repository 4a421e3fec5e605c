"""``CaptureHandler``: a logging.Handler that keeps every LogRecord whole in a capture file."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import socket
import sys
import threading
import time
import weakref
from itertools import islice
from typing import Any

from . import __version__, logset
from ._codec import SCHEMA, RecordEncoder, pack_data, record_time
from ._limits import Retention, Rotation, parse_retention, parse_rotation
from .capturefile import CaptureFile
from .exceptions import CaptureFileAlreadyOpen, CaptureFileError

__all__ = ["CaptureHandler"]

# How many records a handler keeps in memory while the disk refuses them
# (full disk, vanished directory), as a multiple of commit_every.
_BACKLOG_FACTOR = 10
# ... and how many bytes of them (encoded) at most. A count alone does not
# bound memory: 6,000 records of 200 KB held 1.2 GiB. 64 MiB keeps minutes of
# ordinary logging (tens of thousands of records of a few hundred bytes, far
# more than 10 * commit_every at the default) while no failing disk can take a
# program's memory with it. The oldest records go first, counted and reported.
_BACKLOG_BYTES = 64 << 20
# Records are passed to the capture file in groups of this many between
# commits: often enough that blocks fill and are compressed a few at a time
# (not all at once at a commit), rarely enough that the call costs little.
# Their sizes are added up at the same moment, never per record.
_HAND_OVER = 64

# What Handler.handle returns for a record that passes: the record itself
# from Python 3.12 on, True before.
_FILTER_GIVES_RECORD = sys.version_info >= (3, 12)

# The handler keeps each pending record's bytes until the commit (a failed
# commit writes them all again), so with large records and a large
# commit_every a healthy handler would hold commit_every records of any size.
# Past this many pending bytes it commits early. Checked every _HAND_OVER
# records, so up to _HAND_OVER - 1 records more can be held. 8 MiB is tens of
# thousands of ordinary records (never reached at the default commit_every)
# and costs one commit (tens of microseconds) per 8 MiB of log when reached.
_PENDING_BYTES = 8 << 20
# Records logged re-entrantly (from a signal handler, or by a __repr__ of a
# logged argument) wait in a list until the outer call is done with its own
# work: at most this many wait, and at most _REENTRANT_PER_CALL are stored
# by one outermost call (a __repr__ that logs itself would otherwise feed the
# list forever). Beyond either, records are dropped, counted and reported.
_REENTRANT_WAITING = 100
_REENTRANT_PER_CALL = 1000

# What a re-entrant call leaves for the outer one to do.
_RECORD, _EVENT, _FLUSH, _CLOSE = range(4)


class CaptureHandler(logging.Handler):
    """Writes each LogRecord, as a msgpack map, into a capture file.

    Records are committed in transactions: when ``commit_every`` records are
    pending, when ``commit_interval`` seconds have passed since the first
    pending one (a background timer sees to this even if nothing else is
    logged), at once for a record of ``commit_level`` or above, on
    ``flush()``, and on ``close()`` (which ``logging.shutdown()`` calls at
    exit). Override :meth:`shouldCommit` to decide differently. Pending
    records holding more than 8 MiB are committed early (checked every 64
    records), so large records do not pile up in memory.

    Args:
        filename: the capture file (``str`` or ``os.PathLike``). It may hold
            ``{pid}``, ``{host}`` and ``{program}`` (the script's name without
            ``.py``, the module's under ``python -m``, ``python`` under
            ``python -c``), filled in when the file is opened, so
            ``"app-{pid}.capture"`` gives one file per process. Missing
            directories are made. An existing capture file is appended to, an
            empty file (``touch``, logrotate's ``create``) becomes one, keeping
            its permissions; any other file is refused, never overwritten.
        commit_every: commit when this many records are pending.
        commit_interval: commit when the oldest pending record is this many
            seconds old (None or 0 turns the timer off).
        commit_level: commit at once on a record of this level or above
            (a level number or name).
        durable: make each commit survive power loss, not only a crash.
        delay: open the file at the first record, not now.
        level: the handler's level, as for any Handler.
        compression_level: zlib level for the capture file's blocks. The
            default 1 is the cheapest per call; files stay far smaller than
            text logs (see README, Performance).
        rotation: write the log as segments, starting a new one when the
            current one holds this much committed data (``"64 MB"``,
            ``"500 KB"``, a number of bytes), is this old (``"1 hour"``,
            ``"1 day"``, a ``timedelta``) or a wall-clock time has passed
            (``"00:00"``); a list for several rules, the first met applies.
            None (the default) writes the one file, as always.
        retention: with ``rotation``, what the set of segments keeps: a total
            size (``"10 GB"``), an age (``"7 days"``) or a number of segments
            (an int), or a list of them. Applied once the file is first
            opened and after each rotation, on a thread of its own.

    With ``rotation``, the name is a *stream* written as segments, each an
    ordinary capture file named for the sequence number of its first record
    (``app.capture`` -> ``app@000000000001.capture``,
    ``app@000000052001.capture`` ...; ``baseFilename`` is the current one).
    Each segment's metadata says its stream and first sequence number, and,
    once the handler has moved on from it, its record count and the times of
    its first and last records (``sealed``). A new segment is started only
    right after a commit, so one commit's records never straddle two
    segments, and it is held before the old one is let go of, so no other
    process can continue the stream in between. A program started again
    under the same name continues the stream: its numbering, and its last
    segment unless that one was sealed. Retention deletes whole segments,
    oldest first, over the streams of every process writing the name (the
    ``.<pid>`` ones below too); never a stream's newest segment, nor one a
    writer holds. Its failures (a segment it cannot read, say) are reported
    through ``handleError``, once until it works again.

    A forked child never writes into its parent's file: it opens its own, at
    the name with ``{pid}`` filled in, or, when the name has no ``{pid}``, at
    the name with ``.<pid>`` added before the extension
    (``app.capture`` -> ``app.12345.capture``). Records the parent had not
    committed are committed by the parent just before the fork, and its
    commit timer is stopped then (started again by the next record), so no
    thread of capturelog's is copied into the child (Python 3.12+ warns when
    a multi-threaded process forks).

    A worker process commits every record it logged when it ends normally:
    ``multiprocessing`` ``Process`` and ``Pool`` workers with any start
    method, ``ProcessPoolExecutor`` workers, and ``os.fork()`` children that
    end with ``sys.exit`` (forked workers end with ``os._exit()``, where
    ``logging.shutdown()`` does not run: the handler commits from a
    ``multiprocessing`` exit finalizer instead). A worker killed by a signal
    keeps what the commit rules had committed, as any process does; leaving
    a ``with Pool(...)`` block terminates the workers (SIGTERM), so call
    ``pool.close()`` and ``pool.join()`` before it ends.

    When another writer (another process, or another handler in this one)
    holds the file, the handler writes to the name with ``.<pid>`` added
    before the extension instead (``app.capture`` -> ``app.12345.capture``)
    and stays with that file until it is closed. If that one is held too, it
    is a failure like a full disk (below), or, when the file is opened at
    construction, ``CaptureFileAlreadyOpen`` from the constructor.

    ``emit`` never raises into the application: not for a full disk, not for
    a record that cannot be encoded, and not for ``RecursionError`` (which
    logging's own handlers let through); an exception raised by a signal
    handler that interrupts it (``KeyboardInterrupt``, ``SystemExit``) is the
    application's and goes on, the file staying sound. When the disk refuses
    a write (full, or the directory gone), the error is reported once through
    ``handleError`` (from whichever path meets it: logging, the timer,
    ``flush`` or ``close``), and again only after writing has worked in
    between; the records are kept in memory (up to ``10 * commit_every`` and
    64 MiB; beyond either the oldest are dropped and counted) and written when
    the problem clears, the count of dropped ones reported then on stderr. A
    file that is deleted or renamed while open is noticed at the next commit
    and created again at its name.

    Logging re-entrantly, by the thread already inside the handler (from a
    signal handler, or from a ``__repr__`` of a logged argument), never
    reaches the file in the middle of the handler's own work: the record
    waits until the interrupted call is done with its record, and is stored
    right after it. A ``flush()`` or ``close()`` called that way is done then
    too. At most 100 records wait at once, and one call stores at most 1,000
    that way (a ``__repr__`` that logs itself would never end); beyond that
    they are dropped, counted and reported on stderr.
    """

    # The handler's own state kept off the instance dict. CPython shares an
    # instance dict's keys (and reads attributes at full speed) only up to 30
    # keys; past that every ``self.x`` in emit is a dict lookup (measured:
    # about 3% more instructions per logging call). These are read rarely.
    __slots__ = (
        "_busy",
        "_closing",
        "_committed",
        "_deferred",
        "_exiting",
        "_fallback",
        "_first_seq",
        "_identity",
        "_lost",
        "_origin",
        "_pending_bytes",
        "_rotate_at",
        "_rotate_bytes",
        "_rotation_reported",
        "_segment_origin",
        "_set_name",
        "_sized",
        "_stream",
        "_timer_idle",
        "_unsure",
        "_vacuum_due",
        "_vacuum_reported",
        "_vacuum_thread",
        "retention",
        "rotation",
    )

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        commit_every: int = 1000,
        commit_interval: float | None = 1.0,
        commit_level: int | str = logging.ERROR,
        durable: bool = False,
        delay: bool = False,
        level: int | str = logging.NOTSET,
        compression_level: int = 1,
        rotation: object = None,
        retention: object = None,
    ) -> None:
        # Every argument is checked before logging.Handler.__init__ registers
        # the handler (logging.shutdown() would close it at exit).
        pattern = os.fspath(filename)
        commit_levelno = _check_arguments(
            commit_every, commit_interval, commit_level, compression_level
        )
        rotation_rule, retention_rule = _check_limits(rotation, retention, pattern)
        super().__init__(level)
        # The limits, as parsed (None: not asked for).
        self.rotation: Rotation | None = rotation_rule
        self.retention: Retention | None = retention_rule
        self._forget_stream()
        self.filename_pattern = pattern
        self.commit_every = commit_every
        self.commit_interval = commit_interval or None
        self.commit_level = commit_levelno
        self.durable = durable
        self.compression_level = compression_level
        self.baseFilename = ""  # the file in use, once opened (FileHandler's name for it)
        self._encoder = RecordEncoder()
        self._default_policy = type(self).shouldCommit is CaptureHandler.shouldCommit
        self._cf: CaptureFile | None = None
        self._pid = os.getpid()
        self._forked = False  # in a forked child: never the parent's file
        self._fallback = False  # the file was held by another writer: use name.<pid>
        # _closing: close() is committing what is pending.
        self._closed = self._closing = False
        # Encoded records not yet committed; kept so that a failed write loses
        # nothing that can still be written later.
        self._pending: list[bytes] = []
        self._handed = 0  # how many of them the capture file has been given
        self._sized = 0  # how many of them are counted in _pending_bytes
        self._pending_bytes = 0
        self._first_pending = 0.0
        # Where _pending starts in the file: the file's record count before
        # _pending[0], in the file of this identity whose metadata we wrote.
        # A commit that raised may still have landed (or one that succeeded
        # may have been cut short by a signal handler's exception before the
        # bookkeeping): reopening that file tells how many landed.
        self._committed = 0
        self._identity: tuple[int, int] | None = None
        self._origin: bytes | None = None
        # Set while a write to the capture file is under way; still set
        # afterwards only if an exception cut it short, and then the state of
        # the capture file object is unknown: it is dropped and reopened.
        self._unsure = False
        self._dropped = 0
        self._lost = 0  # re-entrant records dropped
        self._failing = False  # between a write failure and the next success
        self._reported = False  # the current failure was reported already
        # True while the thread holding the lock is inside the handler's own
        # work; a call finding it set is a re-entrant one (same thread).
        self._busy = False
        self._deferred: list[tuple[int, Any, int]] = []
        self._timer: threading.Thread | None = None
        # Wakes the timer thread: a token when records become pending, and at
        # close. A SimpleQueue, not an Event: put() is one C call, while
        # Event.set() takes a lock in Python code, and an exception raised by
        # a signal handler just after that lock is taken leaves it held for
        # good (then close() would hang on it at exit).
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        # The timer waits for a token (not for a time): only then must records
        # becoming pending wake it, so a busy program does not wake it at
        # every commit.
        self._timer_idle = True
        # Set when a multiprocessing child is ending: every record is
        # committed at once from then on (see _commit_at_exit).
        self._exiting = False
        _live_handlers.add(self)
        _watch_multiprocessing_exit()
        if not delay:
            try:
                self._open()
            except BaseException:
                # A handler that cannot open its file is not a handler: close
                # it, so nothing is left for logging.shutdown() to trip on.
                self._closed = True
                _live_handlers.discard(self)
                logging.Handler.close(self)
                raise

    # ----------------------------------------------------------------- files

    def _base_name(self) -> str:
        """The name with its fields filled in: the set's name, with rotation."""
        fields = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "program": _program_name(),
        }
        return os.path.abspath(self.filename_pattern.format(**fields))

    def _resolve_name(self) -> str:
        """The file to write (with rotation: the stream), which is the base
        name with ``.<pid>`` added in a forked child or after a fallback."""
        name = self._base_name()
        if self._fallback or (self._forked and "{pid}" not in self.filename_pattern):
            stem, ext = os.path.splitext(name)
            name = f"{stem}.{os.getpid()}{ext}"
        return name

    def _open(self) -> CaptureFile:
        """Open the file (with rotation: the stream's segment to write) for
        writing, at name.<pid> when another writer holds it, and drop from
        the pending records any that an earlier commit landed after all."""
        name = self._resolve_name()
        first_open = self._identity is None
        if first_open:
            # The first open in this process: make missing directories, as a
            # log's directory often does not exist before the program's first
            # run. (One that vanishes later is a failure, reported, and logging
            # resumes when it is back: the handler does not make it again.)
            os.makedirs(os.path.dirname(name), exist_ok=True)
        name, cf, path, first_seq = self._claim_or_fall_back(name)
        segment_origin: dict[str, Any] = {}
        try:
            identity = cf._file_identity()
            landed = 0
            if self._pending and identity == self._identity and cf.get_metadata() == self._origin:
                # The file as we left it (our metadata is its last word): any
                # records past our count are pending ones that landed.
                landed = cf.record_count() - self._committed
            if self.rotation is None:
                origin = _origin_metadata()
            else:
                segment_origin = self._start_segment(name, first_seq, cf)
                origin = pack_data(segment_origin)
            cf.set_metadata(origin)
            cf.commit()
            count = cf.record_count()
        except BaseException:
            cf.close()
            raise
        pending = self._pending
        trimmed = 0
        if 0 < landed <= len(pending):
            trimmed = sum(map(len, islice(pending, min(landed, self._sized))))
        else:
            landed = 0
        # Plain assignments from here on: nothing between them can be
        # interrupted by a signal handler (CPython runs those at calls and loops).
        self._cf = cf
        self.baseFilename = path
        self._identity = identity
        self._origin = origin
        self._committed = count
        if landed:
            del pending[:landed]
            self._sized = self._sized - landed if self._sized > landed else 0
            self._pending_bytes -= trimmed
        if self.rotation is not None:
            self._stream = name
            self._first_seq = first_seq
            self._segment_origin = segment_origin
            if first_open and self.retention is not None:
                self._set_name = self._base_name()
                self._request_vacuum()
        return cf

    def _claim_or_fall_back(self, name: str) -> tuple[str, CaptureFile, str, int]:
        """:meth:`_claim` ``name``, or name.<pid> when another writer holds
        it; returns the name claimed, then what _claim does."""
        try:
            return (name, *self._claim(name))
        except CaptureFileAlreadyOpen:
            if self._fallback:
                raise
            self._fallback = True
            fallback = self._resolve_name()
            if fallback == name:  # a forked child's name already has the pid
                raise
            return (fallback, *self._claim(fallback))

    def _claim(self, name: str) -> tuple[CaptureFile, str, int]:
        """Hold the file to write: the file ``name``, or with rotation the
        segment the stream ``name`` goes on in. Returns it, its path and
        (with rotation) the sequence number of its first record.

        Raises:
            CaptureFileAlreadyOpen: another writer holds it.
        """
        if self.rotation is None:
            return self._new_writer(name), name, 0
        return self._claim_stream(name)

    def _new_writer(self, name: str, initial_metadata: bytes | None = None) -> CaptureFile:
        return CaptureFile(
            name,
            to_write=True,
            # A new segment is born with its metadata: a file at a segment's
            # name always says what it is, even after a crash.
            initial_metadata=initial_metadata,
            # The handler adds bytes and reads back only record times.
            encoding=None,
            durable=self.durable,
            compression_level=self.compression_level,
            # Measured (benchmarks/bench_handler.py): between logging calls
            # the program runs Python, so compression threads mostly wait
            # for the GIL; compressing in the logging thread costs less.
            background_compression=False,
        )

    def _writer(self) -> CaptureFile:
        """The open capture file, (re)opened as needed."""
        if self._unsure:
            # An exception (raised by a signal handler) cut the last write or
            # its bookkeeping short: the capture file may hold records the
            # handler does not count as handed over. Drop it; reopening
            # finds how far its last commit got.
            cf = self._cf
            if cf is not None:
                self._drop_file(cf)
            self._handed = 0
            self._unsure = False
        cf = self._cf
        if cf is None:
            cf = self._open()
        return cf

    def _moved(self, cf: CaptureFile) -> bool:
        """Whether the open file was deleted or renamed away from its name."""
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        return (on_disk.st_dev, on_disk.st_ino) != cf._file_identity()

    # ----------------------------------------------------------------- rotation

    def _forget_stream(self) -> None:
        """Start with no stream: at construction, and in a forked child."""
        # The stream being written (with rotation): its path, without the
        # segment's number, and the current segment's first sequence number
        # and origin map (kept whole for the sealed metadata written when the
        # handler moves on from it).
        self._stream = ""
        self._first_seq = 0
        self._segment_origin = {}
        # The next rotation is due at a commit once the segment holds this
        # many bytes, or once the wall clock reaches _rotate_at.
        self._rotate_bytes = sys.maxsize
        self._rotate_at = math.inf
        self._rotation_reported = False  # a failed rotation, until one works
        # Retention runs on a thread of its own, one at a time per handler:
        # a request while one runs makes it go round once more.
        self._set_name = ""
        self._vacuum_thread: threading.Thread | None = None
        self._vacuum_due = False
        self._vacuum_reported = False

    def _start_segment(self, stream: str, first_seq: int, cf: CaptureFile) -> dict[str, Any]:
        """Take up the segment ``cf`` (just opened) of ``stream``: return
        the origin map its metadata is to hold, and set when it rotates."""
        segment_origin = _segment_map(stream, first_seq)
        # A segment's age counts from its first record (from now for an
        # empty one), whichever process wrote it.
        now = time.time()
        started = (_record_time_at(cf, 1) if cf.record_count() else None) or now
        if not (type(started) in (int, float) and 0 < started <= now):
            # A NaN, future or absurd time (replayed records may carry one)
            # would make the schedule fail or never come due: count from now.
            started = now
        self._schedule_rotation(started)
        return segment_origin

    def _claim_stream(self, stream: str) -> tuple[CaptureFile, str, int]:
        """Hold the segment the stream goes on in: its latest one unless that
        was sealed, else a new one numbered after it (the first, at 1, for a
        new stream). Another process may rotate the stream between the look
        and the claim, so the claimed segment must still be the latest after
        it; if not, look again, a few times.

        Raises:
            CaptureFileAlreadyOpen: another writer holds the stream.
        """
        for _ in range(_CLAIM_TRIES):
            tail = logset.stream_segments(stream, newest=2)
            latest = tail[-1] if tail else None
            if latest is not None and not latest.sealed:
                path, first_seq = latest.path, latest.first_seq
                before = tail[-2] if len(tail) > 1 else None
            else:
                first_seq = latest.last_seq + 1 if latest is not None else 1
                path = logset.segment_name(stream, first_seq)
                before = latest
            cf = self._new_writer(path, pack_data(_segment_map(stream, first_seq)))
            try:
                held = _is_open_segment(cf, stream, first_seq) and _is_latest(cf, stream)
            except BaseException:
                cf.close()
                raise
            if held:
                if before is not None and not before.sealed:
                    # Killed between starting this segment and sealing the
                    # one before it: seal that one now, as rotation would have.
                    self._seal_leftover(before)
                return cf, path, first_seq
            cf.close()
        raise CaptureFileAlreadyOpen(f"{stream}: another writer keeps rotating this stream")

    def _schedule_rotation(self, started: float) -> None:
        """Set when the segment started at ``started`` is due to rotate."""
        rule = self.rotation
        if rule is None:
            return
        due = started + rule.max_age if rule.max_age else math.inf
        clock = rule.next_clock(started)
        self._rotate_at = min(due, clock) if clock is not None else due
        self._rotate_bytes = rule.max_bytes or sys.maxsize

    def _rotate_if_due(self, cf: CaptureFile) -> None:
        """Right after a commit: rotate if the segment is full or old enough.

        The size is the records' bytes as stored: compressed blocks plus the
        open block (uncompressed, kept in the master node until it fills),
        read off the writer's state rather than asked of the file system."""
        w = cf._w
        if w is None or self._closing or self._exiting:
            # The last commits of a handler or a process make no new, empty
            # segment: the stream's next writer rotates at its first commit.
            return
        size = w.limit - w.config.data_start + len(w.pending)
        if size >= self._rotate_bytes or time.time() >= self._rotate_at:
            self._rotate(cf)

    def _rotate(self, old: CaptureFile) -> None:
        """Go on in a new segment, then seal and close the old one (busy flag
        held, nothing pending: called right after a commit).

        The new segment is held before the old one is let go of, so no other
        process can take the stream in between; killed between the two, the
        old segment is left unsealed, and the next writer of the stream seals
        it. A failure leaves the handler writing the old segment, to try
        again at the next commit."""
        stream, count = self._stream, old.record_count()
        first_seq = self._first_seq + count
        segment_origin = _segment_map(stream, first_seq)
        origin = pack_data(segment_origin)
        path = logset.segment_name(stream, first_seq)
        try:
            new = self._new_writer(path, origin)
            try:
                # A file that was at the name already must be an empty segment
                # of this stream at this number (nothing else is ever there).
                if new.record_count() or not _is_open_segment(new, stream, first_seq):
                    raise CaptureFileError(f"{path}: not a new segment of {stream}")
                if new.get_metadata() != origin:
                    new.set_metadata(origin)
                    new.commit()
                identity = new._file_identity()
            except BaseException:
                new.close()
                raise
        except Exception:
            self._rotation_failed(path)
            return
        # Plain assignments: see _open.
        self._cf = new
        self.baseFilename = path
        self._identity = identity
        self._origin = origin
        self._committed = 0
        self._first_seq = first_seq
        old_origin, self._segment_origin = self._segment_origin, segment_origin
        self._schedule_rotation(time.time())
        self._rotation_reported = False
        try:
            old.set_metadata(pack_data({**old_origin, "sealed": _sealed(old, count)}))
            old.commit()
        except Exception:
            # Its records are whole; only its time bounds are missing, and
            # the stream's next writer seals it.
            self._rotation_failed(old.file_name)
        finally:
            with contextlib.suppress(Exception):
                old.close()
        if self.retention is not None:
            self._request_vacuum()

    def _seal_leftover(self, segment: logset.Segment) -> None:
        """Seal a stream's segment that a writer killed mid-rotation left
        unsealed, unless another writer holds it (then it is theirs)."""
        with contextlib.suppress(Exception):
            # Opened for reading first: opening a missing file for writing
            # would make one (vacuumed meanwhile, it must stay gone).
            cf = CaptureFile(segment.path, encoding=None, durable=self.durable)
            try:
                cf.close()
                cf.open(to_write=True)
                origin = logset.segment_info(cf.get_metadata())
                if origin is None or "sealed" in origin or cf._file_identity() != segment.identity:
                    return
                origin["sealed"] = _sealed(cf, cf.record_count())
                cf.set_metadata(pack_data(origin))
                cf.commit()
            finally:
                cf.close()

    def _rotation_failed(self, path: str) -> None:
        """Report a failed rotation once, until one works."""
        if self._rotation_reported:
            return
        self._rotation_reported = True
        self._report(
            logging.LogRecord(
                "capturelog", logging.ERROR, __file__, 0, "rotation to %s failed", (path,), None
            )
        )

    def _request_vacuum(self) -> None:
        """Apply retention on a thread of its own (lock held): deleting files
        never waits in a logging call. One runs at a time; a request while
        it runs makes it go round once more when it is done."""
        self._vacuum_due = True
        thread = self._vacuum_thread
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(
            target=_vacuum_loop,
            args=(weakref.ref(self),),
            name="capturelog-retention",
            daemon=True,
        )
        self._vacuum_thread = thread
        try:
            thread.start()
        except Exception:
            self._vacuum_thread = None  # no thread to be had: the next rotation tries again

    def _vacuum_now(self) -> None:
        """Apply retention to the set (on the retention thread, lock not held).
        A failure is reported once, until a vacuum works."""
        retention = self.retention
        if retention is None:
            return
        try:
            found = logset.segments(logset.segment_paths(self._set_name))
            logset.vacuum(found, retention)
        except Exception:
            if not self._vacuum_reported:
                self._vacuum_reported = True
                self._report(
                    logging.LogRecord(
                        "capturelog", logging.ERROR, __file__, 0,
                        "retention failed for %s", (self._set_name,), None,
                    )
                )  # fmt: skip
        else:
            self._vacuum_reported = False

    # ----------------------------------------------------------------- logging

    def handle(self, record: logging.LogRecord) -> Any:
        """logging's ``Handler.handle`` (filters, then ``emit`` under the lock),
        with the same result, in fewer calls when there are no filters: it
        runs on every logging call."""
        if self.filters:
            return super().handle(record)
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return record if _FILTER_GIVES_RECORD else True

    def emit(self, record: logging.LogRecord) -> None:
        """Store ``record``; commit if :meth:`shouldCommit` says so. Never raises."""
        if self._busy:
            # Re-entered by this same thread (the lock is an RLock): a signal
            # handler or a __repr__ logged while the handler was mid-work.
            # The record waits for the outer call, which stores it next.
            self._defer(_RECORD, record, 0)
            return
        self._busy = True
        try:
            # _store_record's body, inlined: this runs on every logging call.
            try:
                payload = self._encoder.encode(record)
            except Exception:
                self._report(record)  # see _store_record
            else:
                try:
                    self._accept(payload, record.levelno, record)
                except Exception:
                    self._failed(record)
        except Exception:
            pass  # reporting failed in turn (RecursionError at the stack's limit)
        finally:
            try:
                if self._deferred:
                    self._drain()
            except Exception:
                pass
            finally:
                self._busy = False

    def emit_event(self, event: dict[str, Any], levelno: int) -> None:
        """Store a structlog event dict (see ``capturelog.structlog``). Never raises.

        :meth:`shouldCommit` sees a stand-in record with ``levelno``, ``name``
        and ``msg`` (the event dict)."""
        with self.lock:  # type: ignore[union-attr]
            if self._busy:
                self._defer(_EVENT, event, levelno)
                return
            self._busy = True
            try:
                self._store_event(event, levelno)
            except Exception:
                pass  # reporting failed in turn: see emit
            finally:
                try:
                    if self._deferred:
                        self._drain()
                except Exception:
                    pass
                finally:
                    self._busy = False

    def _store_record(self, record: logging.LogRecord) -> None:
        """What ``emit`` does with a record (busy flag held)."""
        try:
            payload = self._encoder.encode(record)
        except Exception:
            # Including RecursionError, which logging's own handlers
            # re-raise: here it would reach the application from a logging
            # call (a record logged deep in a recursion, or an argument whose
            # repr recurses), and the promise is that logging never raises.
            # Reported, and logging goes on.
            self._report(record)
            return
        try:
            self._accept(payload, record.levelno, record)
        except Exception:
            self._failed(record)

    def _store_event(self, event: dict[str, Any], levelno: int) -> None:
        """What ``emit_event`` does with an event (busy flag held)."""
        try:
            payload = self._encoder.encode_event(event)
        except Exception:  # RecursionError too: see _store_record
            self._report(_stand_in(event, levelno))
            return
        try:
            self._accept(payload, levelno, None, event)
        except Exception:
            self._failed(_stand_in(event, levelno))

    def _accept(
        self,
        payload: bytes,
        levelno: int,
        record: logging.LogRecord | None,
        event: dict[str, Any] | None = None,
    ) -> None:
        """Queue one encoded record and commit or hand over as due (lock held).
        ``record`` is None for a structlog event: a stand-in is built only for
        an overridden shouldCommit."""
        if self._closed:
            return  # logging after close() is ignored, as FileHandler would be closed
        pending = self._pending
        pending.append(payload)
        count = len(pending)
        if count == 1:
            self._first_pending = time.monotonic()
            if self.commit_interval and self._timer_idle:
                if self._timer is None:
                    self._start_timer()
                self._wake.put(None)
                self._timer_idle = False
        if self._default_policy:  # the same test as shouldCommit, without the call
            due = count >= self.commit_every or levelno >= self.commit_level
        elif self._exiting:
            due = True
        else:
            if record is None:
                record = _stand_in(event, levelno)
            due = self.shouldCommit(record)
        if due:
            self._commit()
        elif count - self._sized >= _HAND_OVER:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Every _HAND_OVER records: add up their sizes, then hand them to the
        capture file, or commit early when the pending records hold more than
        _PENDING_BYTES, or, while writes fail, keep the backlog in bounds."""
        pending = self._pending
        count = len(pending)
        size = sum(map(len, pending[self._sized :]))  # a slice: islice would walk from 0
        self._pending_bytes += size
        self._sized = count
        if self._failing:
            self._bound_backlog()
        elif self._pending_bytes > _PENDING_BYTES:
            self._commit()
        else:
            self._hand_over()

    def _hand_over(self) -> None:
        """Pass the records logged since the last hand-over to the capture file,
        so that its blocks fill and are compressed between commits."""
        cf = self._writer()
        pending = self._pending
        count = len(pending)
        self._unsure = True
        try:
            cf.add_records(pending[self._handed :])
        except BaseException:
            self._drop_file(cf)
            raise
        self._handed = count
        self._unsure = False

    def shouldCommit(self, record: logging.LogRecord) -> bool:  # camelCase: logging's style
        """Whether to commit now, after ``record`` was logged: ``commit_every``
        records pending, or a record at ``commit_level`` or above. (Records
        ``commit_interval`` seconds old are committed by a timer thread.)
        Override to change the policy; ``pending_count`` and ``pending_age()``
        help."""
        return len(self._pending) >= self.commit_every or record.levelno >= self.commit_level

    @property
    def pending_count(self) -> int:
        """Records logged but not committed yet."""
        return len(self._pending)

    def pending_age(self) -> float:
        """Seconds since the oldest uncommitted record was logged (0 if none)."""
        return time.monotonic() - self._first_pending if self._pending else 0.0

    def flush(self) -> None:
        """Commit every pending record."""
        with self.lock:  # type: ignore[union-attr]
            if self._busy:
                self._defer(_FLUSH, None, 0)
                return
            self._busy = True
            try:
                if self._deferred:
                    self._drain()
                self._flush_now()
            finally:
                try:
                    if self._deferred:
                        self._drain()
                finally:
                    self._busy = False

    def _flush_now(self) -> None:
        if self._pending and not self._closed:
            try:
                self._commit()
            except Exception:
                self._failed(None)

    def _commit(self) -> None:
        """Write the pending records and commit them; on failure they stay pending
        (the list is the truth until a commit succeeds)."""
        cf = self._cf
        if cf is not None and not self._unsure and self._moved(cf):
            self._drop_file(cf)  # deleted or renamed under us: a new file at the name
        cf = self._writer()
        pending = self._pending
        handed = self._handed
        self._unsure = True
        try:
            count = cf.add_records(pending[handed:] if handed else pending)
            cf.commit()
        except BaseException:
            self._drop_file(cf)
            raise
        # Plain assignments: see _open.
        self._committed = count
        del pending[:]
        self._handed = self._sized = self._pending_bytes = 0
        self._unsure = False
        if self._failing or self._dropped:
            self._recovered()
        if self.rotation is not None:
            self._rotate_if_due(cf)

    def _drop_file(self, cf: CaptureFile) -> None:
        """Close the file after a failure; the next try reopens it (the directory
        may be gone) and writes every pending record again."""
        try:
            cf.close()
        finally:
            self._cf = None
            self._handed = 0

    def _failed(self, record: logging.LogRecord | None) -> None:
        """Keep the records for a later try, and report the first failure."""
        self._failing = True
        self._bound_backlog()
        if self._reported:
            return  # reported once until writing works again
        self._reported = True
        if record is None:
            record = logging.LogRecord(
                "capturelog", logging.ERROR, __file__, 0, "commit failed", None, None
            )
        self._report(record)

    def _bound_backlog(self) -> None:
        """While writes fail: drop the oldest pending records beyond
        ``10 * commit_every`` records or _BACKLOG_BYTES bytes (never the newest)."""
        pending = self._pending
        count = len(pending)
        size = self._pending_bytes + sum(map(len, pending[self._sized :]))
        drop = max(0, count - _BACKLOG_FACTOR * self.commit_every)
        if drop:
            size -= sum(map(len, islice(pending, drop)))
        while size > _BACKLOG_BYTES and drop < count - 1:
            size -= len(pending[drop])
            drop += 1
        if drop and self._cf is not None:
            self._drop_file(self._cf)  # it was handed some of them
        # Plain assignments: see _open.
        self._pending_bytes = size
        self._sized = count - drop
        if drop:
            del pending[:drop]
            self._dropped += drop
            self._committed += drop  # so that _pending[0] still lines up with the file

    def _report(self, record: logging.LogRecord) -> None:
        """handleError, which must not raise into the application either: the
        standard one re-raises RecursionError, and may fail writing stderr."""
        with contextlib.suppress(Exception):
            self.handleError(record)

    def _recovered(self) -> None:
        self._failing = False
        self._reported = False
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            sys.stderr.write(
                f"capturelog: {self.baseFilename}: writing works again;"
                f" {dropped} records were dropped while it did not\n"
            )

    def _report_lost(self) -> None:
        lost, self._lost = self._lost, 0
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"capturelog: {self.baseFilename or self.filename_pattern}: {lost} records"
                " logged re-entrantly (from a signal handler or a __repr__) were dropped\n"
            )

    # ----------------------------------------------------------------- re-entry

    def _defer(self, kind: int, item: Any, levelno: int) -> None:
        """Leave a re-entrant call's work to the outer call (busy flag set)."""
        deferred = self._deferred
        if kind <= _EVENT and len(deferred) >= _REENTRANT_WAITING:
            self._lost += 1
            return
        deferred.append((kind, item, levelno))

    def _drain(self) -> None:
        """Do what re-entrant calls left, in order: the outermost call does
        this before it returns, busy flag still set, so that records logged
        meanwhile join the queue."""
        deferred = self._deferred
        done = 0
        while deferred:
            if done >= _REENTRANT_PER_CALL:
                close = any(kind == _CLOSE for kind, _, _ in deferred)
                self._lost += sum(kind <= _EVENT for kind, _, _ in deferred)
                del deferred[:]
                if close:
                    self._close_now()
                break
            kind, item, levelno = deferred.pop(0)
            done += 1
            if kind == _RECORD:
                self._store_record(item)
            elif kind == _EVENT:
                self._store_event(item, levelno)
            elif kind == _FLUSH:
                self._flush_now()
            else:
                self._close_now()
        if self._lost:
            self._report_lost()  # once per outermost call that dropped some

    # ----------------------------------------------------------------- timer

    def _start_timer(self) -> None:
        timer = threading.Thread(
            target=_timer_loop,
            args=(weakref.ref(self), self._wake),
            name="capturelog-commit-timer",
            daemon=True,
        )
        # Before start(): a timer that is not the handler's _timer ends.
        self._timer = timer
        try:
            timer.start()
        except BaseException:
            self._timer = None
            raise

    def _timer_tick(self) -> float | None:
        """Commit if due; return seconds until the next check, None to idle,
        or a negative number for the timer to end (the handler is closed, or
        this timer was stopped for a fork)."""
        with self.lock:  # type: ignore[union-attr]
            if self._closed or self._timer is not threading.current_thread():
                return -1.0
            self._busy = True
            try:
                if not self._pending:
                    self._timer_idle = True
                    return None
                wait = self._first_pending + (self.commit_interval or 0) - time.monotonic()
                if wait > 0:
                    return wait
                try:
                    self._commit()
                except Exception:
                    self._failed(None)
                    return self.commit_interval
                self._timer_idle = True  # records logged from here on wake it
                return None
            finally:
                try:
                    if self._deferred:
                        self._drain()
                finally:
                    self._busy = False

    # ----------------------------------------------------------------- ending

    def close(self) -> None:
        """Commit what is pending and close the file. Calling it again does nothing."""
        with self.lock:  # type: ignore[union-attr]
            if self._closed:
                return
            if self._busy:
                self._defer(_CLOSE, None, 0)
                return
            self._busy = True
            try:
                self._close_now()
            finally:
                self._busy = False

    def _close_now(self) -> None:
        """Store what waits, commit, and close (busy flag held)."""
        if self._closed:
            return
        self._closing = True
        done = False
        try:
            self._commit_all()
            done = True
        finally:
            try:
                # An exception raised by a signal handler (SIGTERM -> log ->
                # sys.exit) may have cut the commit short, with its record
                # waiting: one more try, then the exception goes on.
                if not done and (self._pending or self._deferred):
                    self._commit_all()
            finally:
                self._closed = True
                self._wake.put(None)
                cf, self._cf = self._cf, None
                if cf is not None:
                    cf.close()
                _live_handlers.discard(self)
                if self._lost:
                    self._report_lost()
                super().close()

    def _commit_all(self) -> None:
        if os.getpid() != self._pid:
            return
        for _ in range(3):  # records logged by signal handlers during the commit
            if self._deferred:
                self._drain()
            if not self._pending:
                return
            try:
                self._commit()
            except Exception:
                self._failed(None)
                return

    # ----------------------------------------------------------------- processes

    def _before_fork(self) -> threading.Thread | None:
        """Just before this process forks: commit what is pending and stop the
        timer (returned, for the caller to join once every handler has been
        told), so that no thread of ours is copied into the fork, where
        Python 3.12+ would warn that forking a multi-threaded process may
        deadlock. The next record that becomes pending starts a new timer.

        Another thread inside the handler (the timer, or one logging) is
        done in microseconds; one that is not within _FORK_WAIT seconds may
        be waiting for a lock the forking thread holds, and then this gives
        up and lets the fork go ahead, rather than deadlock."""
        lock = self.lock
        if lock is None or not lock.acquire(timeout=_FORK_WAIT):
            return None
        try:
            if self._busy or self._closed or self._pid != os.getpid():
                return None  # forking from inside the handler's own work: leave it be
            self._busy = True
            try:
                self._flush_now()
                if self._deferred:
                    self._drain()
            finally:
                self._busy = False
            timer = self._timer
            if timer is None or timer is threading.current_thread():
                return None
            self._timer = None
            self._timer_idle = True
            self._wake.put(None)  # it wakes, sees it is no longer the timer, and ends
            # The next timer gets a queue of its own: should this one outlive
            # the wait for it, it must not take the next one's tokens.
            self._wake = queue.SimpleQueue()
            return timer
        finally:
            lock.release()

    def _after_fork_in_parent(self) -> None:
        """Right after a fork, in the parent: a timer is needed at once only if
        records are still pending (the commit before the fork failed)."""
        if self._pending and self._timer is None and self.commit_interval and not self._closed:
            with contextlib.suppress(Exception):  # no thread to be had: the next record tries
                self._start_timer()
                self._timer_idle = False
                self._wake.put(None)

    def _commit_at_exit(self) -> None:
        """A multiprocessing child is ending (see _commit_pending_at_exit):
        commit what is pending and, from now on, every record at once, since
        the process ends with os._exit() and logging.shutdown() never runs."""
        lock = self.lock
        if lock is None or self._pid != os.getpid():
            return
        with lock:
            self._exiting = True
            self._default_policy = False  # so that _accept sees _exiting
        self.flush()

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's file and records, start afresh."""
        if self._cf is not None:
            self._cf.close()  # the child's copy of the descriptor only
        self._cf = None
        self._pending.clear()
        self._handed = self._sized = self._pending_bytes = 0
        self._identity = self._origin = None
        self._committed = self._dropped = self._lost = 0
        self._unsure = False
        self._failing = self._reported = False
        self._busy = False  # another thread may have been inside at the fork
        self._deferred = []
        self._timer = None
        self._wake = queue.SimpleQueue()
        self._timer_idle = True
        self._exiting = False
        self._default_policy = type(self).shouldCommit is CaptureHandler.shouldCommit
        self._pid = os.getpid()
        self._forked = True
        self._fallback = False
        # The child writes a stream of its own; the parent's retention thread
        # is not in it.
        self._forget_stream()

    def __repr__(self) -> str:
        name = self.baseFilename or self.filename_pattern
        return f"<CaptureHandler {name} ({logging.getLevelName(self.level)})>"


def _stand_in(event: dict[str, Any] | None, levelno: int) -> logging.LogRecord:
    """A LogRecord standing for a structlog event, for shouldCommit and handleError."""
    return logging.makeLogRecord({"levelno": levelno, "msg": event, "args": None})


def _timer_loop(ref: weakref.ReferenceType[CaptureHandler], wake: queue.SimpleQueue[None]) -> None:
    """Commit a handler's records once they are ``commit_interval`` old, so
    records logged just before the program goes quiet are not left pending.
    It sleeps until woken (no polling) and holds the handler only weakly."""
    delay: float | None = None
    while True:
        # Until a token (records pending, or the handler closed) or, when
        # waiting for the oldest pending record to be due, the time is up.
        with contextlib.suppress(queue.Empty):
            wake.get(timeout=delay)
        while not wake.empty():  # one check serves every token so far
            wake.get_nowait()
        handler = ref()
        if handler is None:
            return
        delay = handler._timer_tick()
        del handler
        if delay is not None and delay < 0:
            return


_live_handlers: weakref.WeakSet[CaptureHandler] = weakref.WeakSet()


def _before_fork() -> None:
    """Commit every handler's pending records and stop their timers; then
    wait for the timers to end (a timer that had woken up already may be
    waiting for a handler another thread is inside: see _FORK_WAIT)."""
    with contextlib.suppress(Exception):  # a fork hook must not fail the fork
        handlers = list(_live_handlers)
        threads = [handler._before_fork() for handler in handlers]
        # A retention thread is let finish (it deletes a few files): it is
        # not copied into the child, but Python 3.12+ warns of any thread
        # running at a fork.
        threads += [handler._vacuum_thread for handler in handlers]
        current = threading.current_thread()
        for thread in threads:
            if thread is not None and thread is not current:
                thread.join(_FORK_WAIT)


def _after_fork_in_parent() -> None:
    with contextlib.suppress(Exception):
        for handler in list(_live_handlers):
            handler._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for handler in list(_live_handlers):
        handler._after_fork()
    _watch_multiprocessing_exit()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)

# How long a fork hook waits for a handler another thread is inside, and for
# a stopped timer to end. Both take microseconds; the bound only matters when
# the other thread waits in turn for a lock the forking thread holds (a
# __repr__ of a logged object taking the application's lock, say): the fork
# then goes ahead as it would without capturelog, instead of deadlocking.
_FORK_WAIT = 1.0

# A forked multiprocessing child (start methods fork and forkserver; Pool and
# ProcessPoolExecutor workers too) ends with os._exit() once multiprocessing's
# exit finalizers have run (multiprocessing.util._exit_function): the atexit
# functions it inherited, logging.shutdown() among them, never run (up to
# Python 3.12 none at all; from 3.13 only those registered in the child). So
# in any multiprocessing child the handlers commit from a finalizer of their
# own, run after multiprocessing's (a queue's feeder flushes at -5) and those
# of most programs; records logged after it, by a later finalizer or by a
# thread that exit joins (up to 3.12 exit joins threads after the
# finalizers), are committed one by one.
#
# A child clears the finalizers it inherited when it starts (in
# BaseProcess._bootstrap, after the fork hooks and after a spawned child has
# imported the main module, which may make a handler), then runs the "after
# fork" callbacks registered with multiprocessing: one of those registers the
# finalizer. Nothing here imports multiprocessing: a program that has not
# imported it has no multiprocessing children.
_EXIT_PRIORITY = -1000
_exit_finalizer: Any = None  # multiprocessing.util.Finalize, while registered
_watching = 0  # the process (a pid) whose multiprocessing children are watched


def _watch_multiprocessing_exit() -> None:
    """Make every multiprocessing child started from here, or being started
    (this one, during a spawned child's import of the main module), commit at
    its exit; and this one if it is a child already running."""
    global _watching  # noqa: PLW0603 - one registration per process
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    if _watching != os.getpid():
        _watching = os.getpid()
        # The registry holds its object weakly: the function serves as one.
        util.register_after_fork(_arm_exit_commit, _arm_exit_commit)
    process = sys.modules.get("multiprocessing.process")
    if process is not None and process.parent_process() is not None:
        _arm_exit_commit()


def _arm_exit_commit(_: object = None) -> None:
    """Register _commit_pending_at_exit with multiprocessing, unless it is
    (a child's start clears what it inherited)."""
    global _exit_finalizer  # noqa: PLW0603 - one finalizer per process
    util = sys.modules.get("multiprocessing.util")
    if util is None or (_exit_finalizer is not None and _exit_finalizer.still_active()):
        return
    _exit_finalizer = util.Finalize(None, _commit_pending_at_exit, exitpriority=_EXIT_PRIORITY)


def _commit_pending_at_exit() -> None:
    for handler in list(_live_handlers):
        with contextlib.suppress(Exception):
            handler._commit_at_exit()


def _check_limits(
    rotation: object, retention: object, pattern: str
) -> tuple[Rotation | None, Retention | None]:
    """Parse ``rotation`` and ``retention`` (ValueError naming the argument);
    None for each not asked for."""
    try:
        rotation_rule = parse_rotation(rotation) if rotation is not None else None
    except ValueError as exc:
        raise ValueError(f"rotation={rotation!r}: {exc}") from None
    try:
        retention_rule = parse_retention(retention) if retention is not None else None
    except ValueError as exc:
        raise ValueError(f"retention={retention!r}: {exc}") from None
    if retention_rule and not rotation_rule:
        raise ValueError(
            f"retention={retention!r} needs rotation= too: retention deletes whole"
            " segments, and without rotation the handler writes one file"
        )
    if retention_rule and "{pid}" in pattern:
        # Each run's name differs, so no run could find, or bound, the
        # segments earlier runs left: the set would grow for ever.
        raise ValueError(
            f"retention={retention!r} with {{pid}} in the file name ({pattern}) cannot"
            " bound the set: drop {pid} (each worker process gets a stream of its own"
            " anyway, app.<pid>@....capture), and retention covers them all"
        )
    return rotation_rule or None, retention_rule or None


def _check_arguments(
    commit_every: int,
    commit_interval: float | None,
    commit_level: int | str,
    compression_level: int,
) -> int:
    """Refuse bad arguments with ValueError; return commit_level as a number."""
    if commit_every < 1:
        raise ValueError(f"commit_every must be at least 1, not {commit_every}")
    if commit_interval is not None and commit_interval < 0:
        raise ValueError(f"commit_interval must be >= 0 or None, not {commit_interval}")
    if not -1 <= compression_level <= 9:
        raise ValueError(f"compression_level must be -1..9, not {compression_level}")
    return level_number(commit_level)


def level_number(level: int | str) -> int:
    """A level as a number, from a number or a name such as "warning"."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown level {level!r}")
    return number


def _program_name() -> str:
    """The program's name for ``{program}``: the script's name without
    ``.py``, the module's for ``python -m pkg.mod`` (``pkg`` for a package's
    ``__main__``), and "python" when there is no script (``python -c``, stdin,
    the interactive prompt)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:  # python -m
        name: str = spec.name
        return name.removesuffix(".__main__")
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in {"", "-", "-c"}:
        return "python"
    return os.path.splitext(os.path.basename(argv0))[0] or "python"


def _origin_metadata() -> bytes:
    """What the file's metadata says about who wrote it."""
    return pack_data(_origin_map())


def _segment_map(stream: str, first_seq: int) -> dict[str, Any]:
    """A segment's origin map: who wrote it, its stream and first number."""
    origin = _origin_map()
    origin["stream"] = os.path.basename(stream)
    origin["first_seq"] = first_seq
    return origin


def _origin_map() -> dict[str, Any]:
    offset = time.localtime().tm_gmtoff
    origin: dict[str, Any] = {
        "schema": f"capturelog/{SCHEMA}",
        "capturelog": __version__,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "program": " ".join(sys.argv) if sys.argv else "",
        "python": sys.version.split()[0],
        "timezone": time.strftime("%Z"),
        "utc_offset": offset,
        "opened": time.time(),
    }
    return origin


# How many times a handler looks again for the segment its stream goes on in
# when another process rotated the stream between its look and its claim.
# Each miss means that process holds the stream's newest segment, so a third
# look finds it held and the handler falls back to a stream of its own.
_CLAIM_TRIES = 3


def _is_open_segment(cf: CaptureFile, stream: str, first_seq: int) -> bool:
    """Whether ``cf`` says it is the unsealed segment of ``stream`` at ``first_seq``."""
    origin = logset.segment_info(cf.get_metadata())
    return (
        origin is not None
        and origin["stream"] == os.path.basename(stream)
        and origin["first_seq"] == first_seq
        and "sealed" not in origin
    )


def _is_latest(cf: CaptureFile, stream: str) -> bool:
    """Whether the file ``cf`` holds is the stream's newest segment."""
    tail = logset.stream_segments(stream, newest=1)
    return bool(tail) and tail[-1].identity == cf._file_identity()


def _record_time_at(cf: CaptureFile, number: int) -> float | None:
    """The time of record ``number`` (None when it does not say)."""
    record = cf.record_at(number)
    return record_time(record if isinstance(record, bytes) else record.encode())


def _sealed(cf: CaptureFile, count: int) -> dict[str, Any]:
    """A segment's ``sealed`` map: its count and its first and last record's
    times (the time of sealing for a record without one, or no record)."""
    now = time.time()
    first = _record_time_at(cf, 1) if count else None
    last = _record_time_at(cf, count) if count else None
    return {
        "count": count,
        "first": first if first is not None else now,
        "last": last if last is not None else now,
    }


def _vacuum_loop(ref: weakref.ReferenceType[CaptureHandler]) -> None:
    """A handler's retention thread: vacuum while requests come, then end.
    It holds the handler only weakly between rounds."""
    me = threading.current_thread()
    while True:
        handler = ref()
        if handler is None:
            return
        with handler.lock:  # type: ignore[union-attr]
            if not handler._vacuum_due or handler._vacuum_thread is not me:
                if handler._vacuum_thread is me:
                    handler._vacuum_thread = None
                return
            handler._vacuum_due = False
        handler._vacuum_now()
        del handler
