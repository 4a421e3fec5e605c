"""Ship records to an OpenTelemetry collector over OTLP/HTTP, losing none.

``ship()`` reads capture files or log sets, turns each record into an OTLP
log record (``_otlp.py``), and posts them in batches to a collector's
``/v1/logs``. Its position, the last record the collector acknowledged in
each stream, is kept in a cursor file written only after the acknowledgement
(atomically, and synced to disk before the next batch goes out). So after the
shipper, the collector or the machine stops at any instant, shipping resumes
where it left off: every committed record is delivered at least once, in
order within its stream, and the only duplicates are the one batch that was
in flight. (The files a batch comes from are synced before it is sent, so a
writer that does not sync its commits cannot lose, in a machine crash,
records the collector already has.) The capture file is the buffer: nothing
is held in memory but the batch being sent.

While the collector is down or overloaded (no connection, a timeout, HTTP 429,
502, 503, 504) the batch is retried with exponential back-off, honouring
``Retry-After``, for as long as it takes. Any other refusal (a bad address,
401, 403, 404, 413...) stops with ``ShipError``, the cursor where it was: a
batch is never skipped. Records the collector accepts but says it dropped
(OTLP's partial success) are counted in the report.

Needs ``pip install 'capturelog[otlp]'`` (the official opentelemetry-proto
messages).
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import gzip
import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._files import sync_path
from ._stream import SegmentDeleted
from .exceptions import InvalidCaptureFile
from .replay import ReplayReader, _Source, origin_of_file

try:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    from . import _otlp
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        "shipping to OpenTelemetry needs its protobuf messages:"
        f" pip install 'capturelog[otlp]' ({exc})"
    ) from None

__all__ = ["Cursor", "ShipError", "ShipReport", "default_cursor", "logs_endpoint", "ship"]

log = logging.getLogger("capturelog.ship")

CURSOR_FORMAT = "capturelog-ship-cursor/1"
# OTLP/HTTP: what a collector answers when it wants the batch again later.
_RETRYABLE = frozenset({429, 502, 503, 504})
_MAX_ANSWER = 1 << 20  # bytes of a collector's answer read at most


class ShipError(Exception):
    """The collector refused a batch for good (OTLP says not to retry), or
    the cursor cannot be used. Nothing was skipped: the cursor still points
    before the refused batch."""


@dataclass
class ShipReport:
    """What a run of ``ship()`` did (also passed to its progress callback)."""

    cursor: str
    endpoint: str
    shipped: int = 0  # records the collector acknowledged
    batches: int = 0
    rejected: int = 0  # acknowledged, but the collector said it dropped them
    skipped: int = 0  # deleted (retention) or missing before they could be shipped
    unreadable: int = 0  # damaged records passed over
    retries: int = 0
    waiting: str | None = None  # why the current batch is waiting, if it is
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        seconds = time.monotonic() - self.started
        rate = self.shipped / seconds if seconds > 0 else 0.0
        parts = [f"shipped {self.shipped:,} records in {self.batches:,} batches ({rate:,.0f}/s)"]
        if self.retries:
            parts.append(f"{self.retries:,} retries")
        if self.rejected:
            parts.append(f"{self.rejected:,} dropped by the collector")
        if self.skipped:
            parts.append(f"{self.skipped:,} deleted before shipping")
        if self.unreadable:
            parts.append(f"{self.unreadable:,} unreadable")
        return "; ".join(parts)


def logs_endpoint(url: str) -> str:
    """The address to post logs to: a collector's base address gets OTLP's
    ``/v1/logs`` added (as ``OTEL_EXPORTER_OTLP_ENDPOINT`` does); an address
    with a path is used as it is (as ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http:// or https:// address: {url!r}")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/logs")
    return urllib.parse.urlunsplit(parts)


def default_cursor(paths: Sequence[str]) -> str:
    """Where the cursor goes unless told: beside the set (``logs/app.capture``
    -> ``logs/.app.capture.ship-cursor``), or in the directory named. Hidden,
    so globs and directory listings of capture files pass it by."""
    if len(paths) != 1 or any(ch in paths[0] for ch in "*?["):
        raise ValueError("with several paths or a glob, say where the cursor goes: --cursor FILE")
    path = os.path.abspath(paths[0])
    if os.path.isdir(path):
        return os.path.join(path, ".capturelog.ship-cursor")
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.ship-cursor")


class Cursor:
    """The last shipped record of each stream, as a small JSON file:
    ``{"format": ..., "endpoint": URL, "positions": {name: seq}}``, files and
    streams named by their path relative to the cursor's directory (so a
    directory moved with its cursor keeps its place).

    One shipper uses a cursor at a time (a lock on ``FILE.lock``); a cursor
    made for another endpoint is refused, so that two collectors never share
    one position.
    """

    def __init__(self, path: str, endpoint: str) -> None:
        self.path = os.path.abspath(path)
        self.directory = os.path.dirname(self.path)
        self.endpoint = endpoint
        self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise ShipError(f"{self.path}: another shipper is using this cursor") from None
        try:
            self.positions = self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> dict[str, int]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ShipError(f"{self.path}: cannot read this cursor ({exc})") from None
        positions = data.get("positions") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("format") != CURSOR_FORMAT
            or not isinstance(positions, dict)
            or not all(type(v) is int and v >= 0 for v in positions.values())
        ):
            raise ShipError(f"{self.path}: not a capturelog ship cursor")
        if data.get("endpoint") != self.endpoint:
            raise ShipError(
                f"{self.path}: this cursor records shipping to {data.get('endpoint')}, not"
                f" {self.endpoint}; give another destination its own cursor (--cursor FILE),"
                ' or, if the collector moved, change "endpoint" in this file'
            )
        return dict(positions)

    def key(self, path: str, log_set: bool) -> str:
        """A file's or a log set stream's name in the cursor. A stream is
        ``stream:`` and its name, as a plain file of that name (one left
        from before rotation was turned on) is read beside it."""
        name = os.path.relpath(os.path.abspath(path), self.directory)
        return f"stream:{name}" if log_set else name

    def save(self) -> None:
        """Replace the file with the positions now, durably: written beside
        it, synced, renamed over it, the directory synced."""
        text = json.dumps(
            {"format": CURSOR_FORMAT, "endpoint": self.endpoint, "positions": self.positions},
            indent=1,
            sort_keys=True,
        )
        partial = f"{self.path}.{os.getpid()}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, self.path)
        sync_path(self.directory)

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # drops the lock
            self._lock_fd = -1

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Stopped(Exception):
    """The stop event was set while a batch waited to be retried."""


class _Sender:
    """Posts export requests to one endpoint over one kept-alive connection,
    retrying what OTLP says to retry."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        compress: bool,
        max_backoff: float,
        report: ShipReport,
        progress: Callable[[ShipReport], None],
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        # Always given a port: without one, http.client reads the port off
        # the host, and takes an IPv6 address's last group ("::1") for it.
        self._port = parts.port or (443 if self._https else 80)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/x-protobuf", **headers}
        if compress:
            self._headers["Content-Encoding"] = "gzip"
        self._compress = compress
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._report = report
        self._progress = progress
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(self, body: bytes, stop: threading.Event) -> ExportLogsServiceResponse:
        """Post one request until the collector takes it; return its answer.

        Raises:
            _Stopped: ``stop`` was set while waiting to retry.
            ShipError: a refusal OTLP says not to retry.
        """
        if self._compress:
            body = gzip.compress(body, compresslevel=1)
        delay = 0.5
        said = None  # the problem last logged, so each is logged once
        retries = 0  # of this batch
        while True:
            try:
                status, reason, answer, retry_after = self._post(body)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                why = _describe(exc)
                wait = delay * random.uniform(0.8, 1.2)
            else:
                if 200 <= status < 300:
                    if said is not None:
                        log.warning("the collector took the batch after %d retries", retries)
                    self._report.waiting = None
                    response = ExportLogsServiceResponse()
                    with contextlib.suppress(Exception):  # an empty or odd body is still a yes
                        response.ParseFromString(answer)
                    return response
                why = f"HTTP {status} {reason}".rstrip()
                if status not in _RETRYABLE:
                    detail = answer[:300].decode("utf-8", "replace").strip()
                    raise ShipError(
                        f"{why} from {self._host}: the collector refused the batch"
                        + (f" ({detail})" if detail else "")
                    )
                # The collector's own wait is kept (at least 0.1 s, so
                # "0" cannot make a loop); else the back-off's.
                if retry_after is not None:
                    wait = max(0.1, retry_after)
                else:
                    wait = delay * random.uniform(0.8, 1.2)
            retries += 1
            self._report.retries += 1
            self._report.waiting = f"{why}; retrying in {wait:.1f}s"
            if why != said:  # told once per cause, also where no terminal shows progress
                log.warning("%s: %s; retrying until it takes the batch", self._host, why)
                said = why
            self._progress(self._report)
            if stop.wait(wait):
                raise _Stopped
            delay = min(delay * 2, self._max_backoff)

    def _post(self, body: bytes) -> tuple[int, str, bytes, float | None]:
        """One request and its answer, within ``timeout`` in all: the socket
        timeout bounds each read only, so a collector answering a byte at a
        time is cut off by a timer. At most 1 MiB of the answer is read."""
        connection = self._connect()
        cut = threading.Event()
        timer = threading.Timer(self._timeout, _cut, (connection, cut))
        timer.daemon = True
        timer.start()
        try:
            connection.request("POST", self._target, body=body, headers=self._headers)
            response = connection.getresponse()
            answer = response.read(_MAX_ANSWER)
            if response.will_close or not response.isclosed():  # closing, or more than read
                self.close()
        finally:
            timer.cancel()
        if cut.is_set():  # what was read may end anywhere: not an answer
            self.close()
            raise TimeoutError(f"no whole answer within {self._timeout:g}s")
        return response.status, response.reason, answer, _retry_after(response)


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End a request that outlived its deadline (its reads then end)."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (it holds
    seconds or an HTTP date); None without one."""
    header = response.getheader("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot find the host ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer ({exc})" if str(exc) else "no answer (timeout)"
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


class _Resources:
    """The OTLP resource of each capture file (a log set's segments may come
    from different runs of the writer), from its metadata, read once."""

    def __init__(self, service_name: str | None, extra: Mapping[str, str]) -> None:
        self._service_name = service_name
        self._extra = extra
        self._known: dict[str, list[Any]] = {}

    def __call__(self, stream: str, path: str) -> list[Any]:
        known = self._known.get(path)
        if known is None:
            origin = origin_of_file(path)
            if len(self._known) >= 1024:
                self._known.clear()
            known = self._known[path] = _otlp.resource_attributes(
                origin, stream, path, self._service_name, self._extra
            )
        return known


class _Batch:
    """Records taken for one request, and where each stream got to."""

    def __init__(self, builder: _otlp.RequestBuilder) -> None:
        self.builder = builder
        self.files: dict[str, None] = {}  # the capture files the records come from
        self.ends: dict[str, int] = {}  # cursor key -> last sequence number taken
        self.count = 0
        self.size = 0
        self.cut_short = False  # a segment was missing when the walk got to it


def ship(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    url: str,
    *,
    cursor: str | os.PathLike[str] | None = None,
    follow: bool = True,
    stop_event: threading.Event | None = None,
    batch_records: int = 1000,
    batch_bytes: int = 4 << 20,
    headers: Mapping[str, str] | None = None,
    gzip_body: bool = False,
    timeout: float = 10.0,
    max_backoff: float = 30.0,
    poll_interval: float = 0.5,
    service_name: str | None = None,
    resource: Mapping[str, str] | None = None,
    progress: Callable[[ShipReport], None] | None = None,
) -> ShipReport:
    """Ship the records of ``paths`` (files, directories, globs or log sets,
    as ``ReplayReader`` takes them) to the OTLP/HTTP collector at ``url``.

    Starts after the cursor's positions (every record, without a cursor) and
    with ``follow`` goes on shipping what writers commit, noticing new
    segments and streams, until ``stop_event`` is set; without it, returns
    once what was committed has been shipped. A stop finishes the request
    in flight (or abandons its retries) and saves the cursor.

    A batch holds at most ``batch_records`` records and about ``batch_bytes``
    bytes of protobuf. Run it in a thread for an in-process sidecar. To stop
    it from a signal handler, run it on another thread than the handler's:
    setting the event from a handler that interrupted this function's own
    wait on it can hang (``capturelog ship`` does so).

    Raises:
        ShipError: the collector refused a batch for good, or the cursor
            belongs to another endpoint or shipper.
        ValueError: a bad address or limit.
    """
    if batch_records < 1 or batch_bytes < 1:
        raise ValueError("batch_records and batch_bytes must be 1 or more")
    endpoint = logs_endpoint(url)
    names = (
        [os.fspath(paths)]
        if isinstance(paths, (str, os.PathLike))
        else [os.fspath(p) for p in paths]
    )
    cursor_path = os.fspath(cursor) if cursor is not None else default_cursor(names)
    stop = stop_event or threading.Event()
    report = ShipReport(cursor=os.path.abspath(cursor_path), endpoint=endpoint)
    tell = progress or (lambda report: None)
    resources = _Resources(service_name, dict(resource or {}))
    with Cursor(cursor_path, endpoint) as positions, ReplayReader(names) as reader:
        sender = _Sender(
            endpoint, headers=dict(headers or {}), timeout=timeout, compress=gzip_body,
            max_backoff=max_backoff, report=report, progress=tell,
        )  # fmt: skip
        taker = _Taker(reader, positions, report, resources)
        try:
            while not stop.is_set():
                reader.refresh()
                batch = taker.take(batch_records, batch_bytes)
                if batch.count:
                    _sync(batch.files)
                    try:
                        response = sender.send(batch.builder.request.SerializeToString(), stop)
                    except _Stopped:
                        break
                    positions.positions.update(batch.ends)
                    positions.save()
                    report.shipped += batch.count
                    report.batches += 1
                    rejected = response.partial_success.rejected_log_records
                    if rejected:
                        report.rejected += rejected
                        log.warning(
                            "the collector dropped %d of %d records it took: %s",
                            rejected, batch.count, response.partial_success.error_message,
                        )  # fmt: skip
                    tell(report)
                    continue
                if batch.ends:  # only records passed over (unreadable, missing)
                    positions.positions.update(batch.ends)
                    positions.save()
                    continue
                if not follow and not batch.cut_short:
                    break
                stop.wait(poll_interval)
        finally:
            sender.close()
    return report


def _sync(files: Iterable[str]) -> None:
    """Make the files a batch comes from durable before it is shipped. A
    writer need not sync its commits (``durable=False``), and a machine
    crash could then take back records the collector already has; their
    numbers would be given again to new records, which the cursor would
    pass over. Synced first (the file, and its directory, which holds the
    name of a new segment), what is shipped stays in the file."""
    paths = list(files)
    for path in [*paths, *dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p in paths)]:
        with contextlib.suppress(FileNotFoundError):  # deleted since by retention
            sync_path(path)


class _Taker:
    """Takes the next batch of records after the cursor's positions."""

    def __init__(
        self, reader: ReplayReader, cursor: Cursor, report: ShipReport, resources: _Resources
    ) -> None:
        self.reader = reader
        self.cursor = cursor
        self.report = report
        self.resources = resources
        self.translate = _otlp.Translator()
        self.turn = 0
        self._gaps: dict[str, int] = {}  # cursor key -> a record no segment held

    def take(self, limit: int, size_limit: int) -> _Batch:
        """Streams are taken in turn, starting one further each time, so a
        busy stream cannot starve the others."""
        batch = _Batch(_otlp.RequestBuilder(self.translate, self.resources))
        sources = self.reader._sources  # the package's own reader
        if sources:
            start = self.turn % len(sources)
            self.turn += 1
            for source in sources[start:] + sources[:start]:
                if batch.count >= limit or batch.size >= size_limit:
                    break
                self._take_from(source, batch, limit, size_limit)
        return batch

    def _take_from(self, source: _Source, batch: _Batch, limit: int, size_limit: int) -> None:
        positions = self.cursor.positions
        key = self.cursor.key(source.path, source.segments is not None)
        done = positions.get(key, 0)
        count = source.cf.record_count()
        if done > count:
            log.warning(
                "%s: the cursor is at record %d but the stream ends at %d (replaced, or"
                " records lost in a crash before they were synced); shipping from %d",
                source.path, done, count, count + 1,
            )  # fmt: skip
            done = positions[key] = count
            self.cursor.save()  # now: the records written next are to be shipped
        if done + 1 < source.first:
            self.report.skipped += source.first - done - 1
            log.warning(
                "%s: records %d to %d were deleted (retention) before they were shipped",
                source.path, done + 1, source.first - 1,
            )  # fmt: skip
            done = positions[key] = source.first - 1
            self.cursor.save()  # said once
        if count <= done:
            return
        add = batch.builder.add
        stream = source.stream
        try:
            for record in source.iterate(done + 1, count + 1):
                attrs = record.__dict__
                seq = attrs["capture_seq"]
                path = attrs.get("capture_file", source.path)
                batch.files[path] = None
                batch.size += add(stream, path, record)
                batch.ends[key] = seq
                batch.count += 1
                if batch.count >= limit or batch.size >= size_limit:
                    return
        except SegmentDeleted:
            self._missing(source, key, batch.ends.get(key, done) + 1, batch)
        except InvalidCaptureFile as exc:
            # A damaged record (or block) would stop the stream for good:
            # it is passed over, one record at a time, and said.
            self.report.unreadable += 1
            log.warning("%s; passed over", exc)  # it names the file and the record
            batch.ends[key] = batch.ends.get(key, done) + 1

    def _missing(self, source: _Source, key: str, seq: int, batch: _Batch) -> None:
        """Record ``seq`` of a log set's stream is in no segment. Retention
        deleting what was about to be read shows as that for a moment (the
        next refresh moves the stream's start past it); met again at the same
        record, the gap is real (a segment deleted or moved out of the
        middle), and shipping goes on after it."""
        if self._gaps.get(key) != seq:
            self._gaps[key] = seq
            batch.cut_short = True  # look again after a refresh
            return
        del self._gaps[key]
        segments = source.segments.segments if source.segments is not None else []
        after = next((s.first_seq for s in segments if s.first_seq > seq), None)
        if after is None:
            return
        self.report.skipped += after - seq
        log.warning(
            "%s: records %d to %d are missing (a segment deleted or moved out of the set),"
            " passed over",
            source.path, seq, after - 1,
        )  # fmt: skip
        batch.ends[key] = after - 1
