"""Records as JSON: the mapping ``capturelog cat --json`` prints."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from ._codec import limited_repr, robust_repr

__all__ = ["json_line", "record_as_json", "time_text"]


def record_as_json(record: logging.LogRecord) -> dict[str, Any]:
    """Every field of a replayed record, with the rendered message."""
    data: dict[str, Any] = {
        "seq": getattr(record, "capture_seq", None),
        "time": time_text(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key in ("exc_info", "message", "asctime") or key.startswith("_capture"):
            continue
        data.setdefault(key, value)
    return data


def json_line(data: dict[str, Any]) -> str:
    """One JSON object; values JSON cannot hold as their repr(), and, when
    that is not enough (keys that are not strings, nesting deeper than json
    recurses), the whole object made plain first."""
    try:
        return json.dumps(data, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_jsonable(data, 0), default=repr, ensure_ascii=False)


def _jsonable(value: Any, depth: int) -> Any:
    """``value`` with dict keys as text and containers deeper than 100 as text."""
    if isinstance(value, (dict, list, tuple)):
        if depth >= 100:
            return limited_repr(value)
        if isinstance(value, dict):
            return {
                (k if type(k) is str else robust_repr(k)): _jsonable(v, depth + 1)
                for k, v in value.items()
            }
        return [_jsonable(item, depth + 1) for item in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return robust_repr(value)


def time_text(created: Any) -> str:
    """A time as ISO 8601 in local time with milliseconds; a value that is not
    a representable time (1e300, infinity, NaN, not a number) as itself."""
    try:
        local = time.localtime(created)
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", local)
            + f".{int(created % 1 * 1000):03d}"
            + time.strftime("%z", local)
        )
    except Exception:
        return f"{limited_repr(created)} (not a time)"
