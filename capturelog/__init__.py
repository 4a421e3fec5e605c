"""capturelog: crash-safe, compressed, searchable log capture files for Python.

The engine is :class:`CaptureFile` (format-compatible with the ``CaptureFile``
package, version 2 files).
"""

from __future__ import annotations

__version__ = "0.1.0"  # before the imports: handler.py records it in file metadata

from .capturefile import CaptureFile
from .handler import CaptureHandler
from .replay import ReplayReader
from .exceptions import (
    CaptureFileAlreadyOpen,
    CaptureFileError,
    CaptureFileNotOpen,
    CaptureFileNotOpenForWrite,
    InvalidCaptureFile,
)


__all__ = [
    "CaptureFile",
    "CaptureHandler",
    "CaptureFileAlreadyOpen",
    "CaptureFileError",
    "CaptureFileNotOpen",
    "CaptureFileNotOpenForWrite",
    "InvalidCaptureFile",
    "ReplayReader",
    "__version__",
]
