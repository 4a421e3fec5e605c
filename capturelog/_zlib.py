"""The block codec: the one place capturelog compresses and inflates blocks.

Bytes in, bytes out, no I/O. Every block is a standard zlib stream (RFC 1950:
header, deflate data, Adler-32), whichever library made it, so the stdlib and
the reference ``CaptureFile`` package read it, and this module reads theirs.

Native libraries do the work where they are installed, the stdlib ``zlib``
where they are not (chosen once, at import). Figures are from
``benchmarks/bench_codecs.py`` on 32 KB blocks of log-like text ("engine")
and of the handler's msgpack maps ("handler"), against the stdlib:

* Inflating: ``isal`` (ISA-L), 2.4x (engine) and 2x (handler) the stdlib's
  speed. libdeflate is faster still, but it cannot tell where the stream
  ends (it accepts bytes after it) and needs the output size up front, so it
  would not find a wrong block length: it does not read.
* Compressing, by level: each level goes to the fastest library whose blocks
  are at most a few percent larger than the stdlib's at that level.

  ===== ======================= ============================================
  level library, its level      against the stdlib at the same level
  ===== ======================= ============================================
  0     stdlib 0                stored blocks: nothing to speed up
  1, 2  isal 1, 2               3.1-3.4x faster, size -4% (level 1), +2%
                                (level 2) on engine data, -2% on handler's
  3-9   libdeflate, same level  engine data: 1.9x (3), 1.6x (4), 2.6x (6)
                                faster, size -4% (3), -3% (4), +1% (6);
                                ISA-L's top level (3) makes blocks 9% larger
                                than the stdlib's level 3, 13% than its 4
  -1    as 6                    zlib's default level
  ===== ======================= ============================================

  A level whose library is missing goes to the other native library if it
  meets the same rule (libdeflate for 1 and 2), else to the stdlib at that
  level: a missing library costs time, never file size.

``CAPTURELOG_CODEC=zlib`` in the environment at import makes every block go
through the stdlib (the native libraries are not even imported): for tests
of the fallback, and as a way round a broken native build.

Damage is found exactly as the stdlib finds it when a block is inflated with
a decompress object and checked for ``eof`` and ``unused_data``: a stream cut
short, a bad header or checksum, bad deflate data and bytes after the end of
the stream all raise :class:`CodecError`, with either back end. ISA-L alone
would accept a header announcing a window over 32 KB (which zlib refuses),
so that header field is checked here first.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any

__all__ = [
    "CODEC_NAME",
    "LEVELS",
    "NATIVE",
    "STDLIB",
    "Backend",
    "CodecError",
    "compress",
    "inflate",
]

Data = bytes | bytearray | memoryview

_ENV = "CAPTURELOG_CODEC"
_LEVELS = range(-1, 10)  # what zlib accepts, and CaptureFile's compression_level


class CodecError(ValueError):
    """Bytes that are not exactly one whole, intact zlib stream."""


def _stdlib_compressor(level: int) -> Callable[[Data], bytes]:
    return functools.partial(zlib.compress, level=level)


def _isal_compressor(isal_zlib: ModuleType, level: int) -> Callable[[Data], bytes]:
    compress: Callable[..., bytes] = isal_zlib.compress
    return functools.partial(compress, level=level)


def _libdeflate_compressor(libdeflate: ModuleType, level: int) -> Callable[[Data], bytes]:
    compress: Callable[..., bytearray] = libdeflate.zlib_compress

    def run(data: Data) -> bytes:
        return bytes(compress(data, level))  # it returns a bytearray

    return run


@dataclass(frozen=True, slots=True)
class Backend:
    """A set of libraries doing the codec's work: one for inflating, one per
    compression level."""

    name: str
    levels: Mapping[int, tuple[str, int]]  # our level -> (library, its level)
    inflater: str
    _compressors: Mapping[int, Callable[[Data], bytes]]
    _decompressobj: Callable[[], Any]
    _errors: tuple[type[Exception], ...]

    def compress(self, data: Data, level: int) -> bytes:
        """Compress ``data`` into one zlib stream.

        Args:
            data: the uncompressed block.
            level: -1 to 9, as for ``zlib.compress`` (1 fastest, 9 smallest,
                0 stored, -1 the default, 6).

        Returns:
            A complete zlib stream (header, deflate data, Adler-32).

        Raises:
            ValueError: ``level`` is outside -1..9.
        """
        try:
            compressor = self._compressors[level]
        except (KeyError, TypeError):
            raise ValueError(f"compression level must be -1..9, not {level!r}") from None
        return compressor(data)

    def inflate(self, data: Data, size_hint: int | None = None) -> bytes:
        """The bytes of exactly one complete zlib stream.

        Args:
            data: the stream, and nothing after it.
            size_hint: the size expected, if known. Neither back end needs it
                (their output grows as needed, so it is never a limit); it is
                taken so that callers need not change for one that does.

        Returns:
            The inflated bytes.

        Raises:
            CodecError: ``data`` is cut short, damaged (header, deflate data
                or checksum), or has bytes after the end of the stream.
        """
        if data[:1] and data[0] >> 4 > 7:
            # A window over 32 KB: zlib refuses it, ISA-L would not.
            raise CodecError("invalid window size in the zlib header")
        inflater = self._decompressobj()
        try:
            out: bytes = inflater.decompress(data)
        except self._errors as exc:
            raise CodecError(f"damaged zlib stream ({exc})") from exc
        if not inflater.eof:
            raise CodecError("the zlib stream is cut short")
        if inflater.unused_data:
            raise CodecError(f"{len(inflater.unused_data)} bytes follow the end of the zlib stream")
        return out


def _backend(isal_zlib: ModuleType | None, libdeflate: ModuleType | None) -> Backend:
    """The back end using whichever of the native libraries are given."""
    compressors: dict[int, Callable[[Data], bytes]] = {}
    levels: dict[int, tuple[str, int]] = {}
    for level in _LEVELS:
        native = 6 if level == -1 else level
        if native == 0:
            compressors[level], levels[level] = _stdlib_compressor(0), ("zlib", 0)
        elif native <= 2 and isal_zlib is not None:
            compressors[level] = _isal_compressor(isal_zlib, native)
            levels[level] = ("isal", native)
        elif libdeflate is not None:
            compressors[level] = _libdeflate_compressor(libdeflate, native)
            levels[level] = ("libdeflate", native)
        else:
            compressors[level], levels[level] = _stdlib_compressor(native), ("zlib", native)
    decompressobj: Callable[[], Any] = zlib.decompressobj
    errors: tuple[type[Exception], ...] = (zlib.error,)
    if isal_zlib is not None:
        decompressobj, errors = isal_zlib.decompressobj, (isal_zlib.error,)
    used = {"isal": isal_zlib, "libdeflate": libdeflate}
    name = "+".join(lib for lib, module in used.items() if module is not None) or "zlib"
    return Backend(
        name=name,
        levels=MappingProxyType(levels),
        inflater="isal" if isal_zlib is not None else "zlib",
        _compressors=MappingProxyType(compressors),
        _decompressobj=decompressobj,
        _errors=errors,
    )


_SETTING = os.environ.get(_ENV, "").strip().lower()
if _SETTING not in ("", "auto", "zlib", "stdlib"):
    warnings.warn(
        f"{_ENV}={_SETTING!r} is not known (use 'zlib', or leave it unset)",
        RuntimeWarning,
        stacklevel=2,
    )

_isal_zlib: ModuleType | None = None
_libdeflate: ModuleType | None = None
if _SETTING not in ("zlib", "stdlib"):
    with contextlib.suppress(ImportError):
        from isal import isal_zlib as _isal_zlib
    with contextlib.suppress(ImportError):
        import deflate as _libdeflate

STDLIB = _backend(None, None)
"""The stdlib ``zlib`` back end, always there."""

NATIVE = None if _isal_zlib is None and _libdeflate is None else _backend(_isal_zlib, _libdeflate)
"""The back end with the native libraries, or None where none imports (or the
environment forces the stdlib)."""

_ACTIVE = NATIVE or STDLIB

compress = _ACTIVE.compress
inflate = _ACTIVE.inflate

CODEC_NAME = _ACTIVE.name
"""Which libraries run: "isal+libdeflate", "isal", "libdeflate" or "zlib"."""

LEVELS = _ACTIVE.levels
"""Our compression level -> (library, its level), for the back end in use."""
