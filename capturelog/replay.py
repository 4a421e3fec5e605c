"""``ReplayReader``: LogRecords and events back out of a capture file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from types import TracebackType
from typing import Any, overload

from ._codec import EVENT_KIND, RecordDecoder, expand
from .capturefile import CaptureFile
from .exceptions import InvalidCaptureFile

__all__ = ["ReplayReader"]


class ReplayReader:
    """Reads a capture file written by :class:`~capturelog.CaptureHandler`
    (or the structlog integration) as LogRecords or plain dicts.

    Records are addressed by their sequence number in the file, from 1. Every
    rebuilt record has its number in the attribute ``capture_seq``.

    Args:
        path: the capture file.

    Raises:
        InvalidCaptureFile: the file is not a capture file, or damaged.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._cf = CaptureFile(self.path, encoding=None)
        self._decoder = RecordDecoder()

    def __len__(self) -> int:
        return self._cf.record_count()

    def refresh(self) -> None:
        """See records committed since the reader opened."""
        self._cf.refresh()

    def event(self, seq: int) -> dict[str, Any]:
        """Record ``seq`` as plain data: for a structlog event, the event dict
        itself; for a LogRecord, its stored attributes by name (with ``kind``,
        ``schema``, ``extra`` and, when it was stored, the rendered
        ``message``)."""
        data = self._data(seq)
        if data.get("k") == EVENT_KIND and isinstance(data.get("ev"), dict):
            event: dict[str, Any] = data["ev"]
            return event
        return expand(data)

    def record(self, seq: int) -> logging.LogRecord:
        """Record ``seq`` as a LogRecord with every stored attribute."""
        return self._decoder.record(self._data(seq), seq)

    @overload
    def __getitem__(self, seq: int) -> logging.LogRecord: ...

    @overload
    def __getitem__(self, seq: slice) -> list[logging.LogRecord]: ...

    def __getitem__(self, seq: int | slice) -> logging.LogRecord | list[logging.LogRecord]:
        if isinstance(seq, slice):
            count = len(self)
            start, stop, step = seq.indices(count + 1)
            return [self.record(n) for n in range(max(start, 1), stop, step)]
        if seq < 0:
            seq += len(self) + 1
        return self.record(seq)

    def __iter__(self) -> Iterator[logging.LogRecord]:
        decode = self._decoder.record
        unpack = self._decoder.data
        for seq, payload in enumerate(self._cf, 1):
            yield decode(self._check(unpack(payload), seq), seq)

    def _data(self, seq: int) -> dict[str, Any]:
        payload = self._cf.record_at(seq)
        return self._check(self._decoder.data(payload), seq)

    def _check(self, data: Any, seq: int) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidCaptureFile(
                f"{self.path}: record {seq} is not a capturelog record (not a msgpack map)"
            )
        return data

    def close(self) -> None:
        self._cf.close()

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
        return f"<ReplayReader {self.path!r} records={len(self)}>"
