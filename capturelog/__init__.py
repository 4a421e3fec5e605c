"""capturelog: crash-safe, compressed, searchable log capture files for Python.

The engine is :class:`CaptureFile` (format-compatible with the ``CaptureFile``
package, version 2 files).
"""

from __future__ import annotations

from .capturefile import CaptureFile
from .exceptions import (
    CaptureFileAlreadyOpen,
    CaptureFileError,
    CaptureFileNotOpen,
    CaptureFileNotOpenForWrite,
    InvalidCaptureFile,
)

__version__ = "0.1.0"

__all__ = [
    "CaptureFile",
    "CaptureFileAlreadyOpen",
    "CaptureFileError",
    "CaptureFileNotOpen",
    "CaptureFileNotOpenForWrite",
    "InvalidCaptureFile",
    "__version__",
]
