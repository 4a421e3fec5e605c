"""The exceptions capturelog raises.

Every error is a :class:`CaptureFileError`; the ones that match a builtin
error also inherit it, so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "CaptureFileAlreadyOpen",
    "CaptureFileError",
    "CaptureFileNotOpen",
    "CaptureFileNotOpenForWrite",
    "InvalidCaptureFile",
]


class CaptureFileError(Exception):
    """Base class of every error capturelog raises on purpose."""


class InvalidCaptureFile(CaptureFileError, ValueError):
    """The file is not a capture file, is of an unsupported version, or is damaged."""


class CaptureFileNotOpen(CaptureFileError):
    """A call needs an open capture file, but this one is closed."""


class CaptureFileNotOpenForWrite(CaptureFileError):
    """A call changes the file, but it was opened for reading only."""


class CaptureFileAlreadyOpen(CaptureFileError):
    """The object is already open, or another writer holds the file."""
