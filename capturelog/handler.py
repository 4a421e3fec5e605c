"""``CaptureHandler``: a logging.Handler that keeps every LogRecord whole in a capture file."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import weakref
from typing import Any

from . import __version__
from ._codec import SCHEMA, RecordEncoder, pack_data
from .capturefile import CaptureFile

__all__ = ["CaptureHandler"]

# How many records a handler keeps in memory while the disk refuses them
# (full disk, vanished directory), as a multiple of commit_every.
_BACKLOG_FACTOR = 10
# Records are passed to the capture file in groups of this many between
# commits: often enough that blocks fill and are compressed a few at a time
# (not all at once at a commit), rarely enough that the call costs little.
_HAND_OVER = 64


class CaptureHandler(logging.Handler):
    """Writes each LogRecord, as a msgpack map, into a capture file.

    Records are committed in transactions: when ``commit_every`` records are
    pending, when ``commit_interval`` seconds have passed since the first
    pending one (a background timer sees to this even if nothing else is
    logged), at once for a record of ``commit_level`` or above, on
    ``flush()``, and on ``close()`` (which ``logging.shutdown()`` calls at
    exit). Override :meth:`shouldCommit` to decide differently.

    Args:
        filename: the capture file (``str`` or ``os.PathLike``). It may hold
            ``{pid}``, ``{host}`` and ``{program}`` (the script's name without
            ``.py``), filled in when the file is opened, so ``"app-{pid}.capture"``
            gives one file per process. An existing capture file is appended
            to; a file that is not one is refused, never overwritten.
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

    A forked child never writes into its parent's file: it opens its own, at
    the name with ``{pid}`` filled in, or, when the name has no ``{pid}``, at
    the name with ``.<pid>`` added before the extension
    (``app.capture`` -> ``app.12345.capture``). Records the parent had not
    committed at the fork stay the parent's.

    ``emit`` never raises into the application. When the disk refuses a write
    (full, or the directory gone), the error is reported once through
    ``handleError``, the records are kept in memory (up to
    ``10 * commit_every``; beyond that the oldest are dropped and counted) and
    written when the problem clears. A file that is deleted or renamed while
    open is noticed at the next commit and created again at ``filename``.
    """

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
    ) -> None:
        super().__init__(level)
        if commit_every < 1:
            raise ValueError(f"commit_every must be at least 1, not {commit_every}")
        if commit_interval is not None and commit_interval < 0:
            raise ValueError(f"commit_interval must be >= 0 or None, not {commit_interval}")
        self.filename_pattern = os.fspath(filename)
        self.commit_every = commit_every
        self.commit_interval = commit_interval or None
        self.commit_level = level_number(commit_level)
        self.durable = durable
        self.compression_level = compression_level
        self.baseFilename = ""  # the file in use, once opened (FileHandler's name for it)
        self._encoder = RecordEncoder()
        self._default_policy = type(self).shouldCommit is CaptureHandler.shouldCommit
        self._cf: CaptureFile | None = None
        self._pid = os.getpid()
        self._forked = False  # in a forked child: never the parent's file
        self._closed = False
        # Encoded records not yet committed; kept so that a failed write loses
        # nothing that can still be written later.
        self._pending: list[bytes] = []
        self._handed = 0  # how many of them the capture file has been given
        self._first_pending = 0.0
        self._dropped = 0
        self._failing = False  # between a write failure and the next success
        self._reported = False  # the current failure was reported already
        self._timer: threading.Thread | None = None
        self._wake = threading.Event()  # set while records are pending
        self._stop = threading.Event()  # set at close
        _live_handlers.add(self)
        if not delay:
            self._open()

    # ----------------------------------------------------------------- files

    def _resolve_name(self) -> str:
        pid = os.getpid()
        fields = {
            "pid": pid,
            "host": socket.gethostname(),
            "program": _program_name(),
        }
        name = self.filename_pattern.format(**fields)
        if self._forked and "{pid}" not in self.filename_pattern:
            stem, ext = os.path.splitext(name)
            name = f"{stem}.{pid}{ext}"
        return os.path.abspath(name)

    def _open(self) -> CaptureFile:
        name = self._resolve_name()
        cf = CaptureFile(
            name,
            to_write=True,
            durable=self.durable,
            compression_level=self.compression_level,
            # Measured (benchmarks/bench_handler.py): between logging calls
            # the program runs Python, so compression threads mostly wait
            # for the GIL; compressing in the logging thread costs less.
            background_compression=False,
        )
        try:
            cf.set_metadata(_origin_metadata())
            cf.commit()
        except BaseException:
            cf.close()
            raise
        self._cf = cf
        self.baseFilename = name
        return cf

    def _moved(self, cf: CaptureFile) -> bool:
        """Whether the open file was deleted or renamed away from its name."""
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        return (on_disk.st_dev, on_disk.st_ino) != cf._file_identity()

    # ----------------------------------------------------------------- logging

    def emit(self, record: logging.LogRecord) -> None:
        """Store ``record``; commit if :meth:`shouldCommit` says so. Never raises."""
        try:
            self._accept(self._encoder.encode(record), record.levelno, record)
        except RecursionError:
            raise
        except Exception:
            self._failed(record)

    def emit_event(self, event: dict[str, Any], levelno: int) -> None:
        """Store a structlog event dict (see ``capturelog.structlog``). Never raises.

        :meth:`shouldCommit` sees a stand-in record with ``levelno``, ``name``
        and ``msg`` (the event dict)."""
        with self.lock:  # type: ignore[union-attr]
            try:
                self._accept(self._encoder.encode_event(event), levelno, None, event)
            except RecursionError:
                raise
            except Exception:
                self._failed(logging.makeLogRecord({"levelno": levelno, "msg": event, "args": None}))

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
        if len(pending) == 1:
            self._first_pending = time.monotonic()
            if self.commit_interval:
                if self._timer is None:
                    self._start_timer()
                self._wake.set()
        if self._default_policy:  # the same test as shouldCommit, without the call
            due = len(pending) >= self.commit_every or levelno >= self.commit_level
        else:
            if record is None:
                record = logging.makeLogRecord({"levelno": levelno, "msg": event, "args": None})
            due = self.shouldCommit(record)
        if due:
            self._commit()
        elif len(pending) - self._handed >= _HAND_OVER and not self._failing:
            self._hand_over()

    def _hand_over(self) -> None:
        """Pass the records logged since the last hand-over to the capture file,
        so that its blocks fill and are compressed between commits."""
        cf = self._cf
        if cf is None:
            cf = self._open()
        pending = self._pending
        try:
            cf.add_records(pending[self._handed :])
        except BaseException:
            self._drop_file(cf)
            raise
        self._handed = len(pending)

    def shouldCommit(self, record: logging.LogRecord) -> bool:  # noqa: N802 - logging's style
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
            if self._pending and not self._closed:
                try:
                    self._commit()
                except Exception:
                    self._failed(None)

    def _commit(self) -> None:
        """Write the pending records and commit them; on failure they stay pending
        (the list is the truth until a commit succeeds)."""
        cf = self._cf
        if cf is not None and self._moved(cf):
            self._drop_file(cf)  # deleted or renamed under us: a new file at the name
            cf = None
        if cf is None:
            cf = self._open()
        pending = self._pending
        try:
            cf.add_records(pending[self._handed :] if self._handed else pending)
            cf.commit()
        except BaseException:
            self._drop_file(cf)
            raise
        pending.clear()
        self._handed = 0
        if self._failing or self._dropped:
            self._recovered()

    def _drop_file(self, cf: CaptureFile) -> None:
        """Close the file after a failure; the next try reopens it (the directory
        may be gone) and writes every pending record again."""
        self._cf = None
        self._handed = 0
        cf.close()

    def _failed(self, record: logging.LogRecord | None) -> None:
        """Keep the records for a later try, and report the first failure."""
        self._failing = True
        pending = self._pending
        limit = _BACKLOG_FACTOR * self.commit_every
        if len(pending) > limit:
            self._dropped += len(pending) - limit
            del pending[: len(pending) - limit]
            if self._cf is not None:
                self._drop_file(self._cf)
        if record is not None and self._reported:
            return
        self._reported = True
        if record is None:
            record = logging.LogRecord(
                "capturelog", logging.ERROR, __file__, 0, "commit failed", None, None
            )
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

    # ----------------------------------------------------------------- timer

    def _start_timer(self) -> None:
        self._timer = threading.Thread(
            target=_timer_loop,
            args=(weakref.ref(self), self._wake, self._stop),
            name="capturelog-commit-timer",
            daemon=True,
        )
        self._timer.start()

    def _timer_tick(self) -> float | None:
        """Commit if due; return seconds until the next check, None to idle."""
        with self.lock:  # type: ignore[union-attr]
            if self._closed:
                return -1.0
            if not self._pending:
                self._wake.clear()
                return None
            wait = self._first_pending + (self.commit_interval or 0) - time.monotonic()
            if wait > 0:
                return wait
            try:
                self._commit()
            except Exception:
                self._failed(None)
                return self.commit_interval
            return None

    # ----------------------------------------------------------------- ending

    def close(self) -> None:
        """Commit what is pending and close the file. Calling it again does nothing."""
        with self.lock:  # type: ignore[union-attr]
            if self._closed:
                return
            try:
                if self._pending and os.getpid() == self._pid:
                    try:
                        self._commit()
                    except Exception:
                        self._failed(None)
            finally:
                self._closed = True
                self._stop.set()
                self._wake.set()
                if self._cf is not None:
                    self._cf.close()
                    self._cf = None
                _live_handlers.discard(self)
                super().close()

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's file and records, start afresh."""
        if self._cf is not None:
            self._cf.close()  # the child's copy of the descriptor only
        self._cf = None
        self._pending.clear()
        self._handed = 0
        self._failing = False
        self._timer = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._forked = True

    def __repr__(self) -> str:
        name = self.baseFilename or self.filename_pattern
        return f"<CaptureHandler {name} ({logging.getLevelName(self.level)})>"


def _timer_loop(
    ref: weakref.ReferenceType[CaptureHandler], wake: threading.Event, stop: threading.Event
) -> None:
    """Commit a handler's records once they are ``commit_interval`` old, so
    records logged just before the program goes quiet are not left pending.
    It waits on events (no polling) and holds the handler only weakly."""
    while True:
        wake.wait()
        handler = ref()
        if handler is None:
            return
        delay = handler._timer_tick()
        del handler
        if delay is not None and delay < 0:
            return
        if delay is not None:
            stop.wait(delay)


_live_handlers: weakref.WeakSet[CaptureHandler] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for handler in list(_live_handlers):
        handler._after_fork()


os.register_at_fork(after_in_child=_reinit_after_fork)


def level_number(level: int | str) -> int:
    """A level as a number, from a number or a name such as "warning"."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown level {level!r}")
    return number


def _program_name() -> str:
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return os.path.splitext(program)[0] or "python"


def _origin_metadata() -> bytes:
    """What the file's metadata says about who wrote it."""
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
    return pack_data(origin)
