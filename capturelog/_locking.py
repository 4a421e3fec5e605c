"""OS byte-range locks on capture files; the platform branch is chosen once, here.

Two locks follow the reference package's protocol (FORMAT.md, Locks), so that
capturelog and ``CaptureFile`` writers exclude each other:

* the *writer lock*: exclusive, non-blocking, on one byte at
  ``0x7FFFFFFFFFFFFFFE``, held while a file is open for writing;
* the *master-node lock*: shared while a reader reads the master nodes,
  exclusive while the writer writes one, on ``[page_size, page_size + 2 M)``.

On Linux we use open-file-description locks (``F_OFD_SETLK``). Unlike classic
``lockf`` locks they belong to one ``open()``, so they also exclude a second
writer in the same process, and closing some other descriptor of the same file
(a reader in the same process) does not silently drop the writer's lock. They
conflict with classic ``lockf`` locks, so they exclude a reference writer in
another process too. Elsewhere on POSIX we fall back to ``lockf``, and the
engine's in-process registry keeps two writers of one process apart.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys

__all__ = [
    "OFD_LOCKS",
    "WRITER_LOCK_START",
    "RangeLock",
    "lock_range",
    "try_lock_writer",
    "unlock_range",
    "writer_active",
]

WRITER_LOCK_START = 0x7FFFFFFFFFFFFFFE

OFD_LOCKS = sys.platform.startswith("linux") and hasattr(fcntl, "F_OFD_SETLK")

if OFD_LOCKS:
    # struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t),
    # l_pid (pid_t, must be 0 for OFD locks), padded to 32 bytes.
    _FLOCK = struct.Struct("hhqqi4x")
    _KINDS = {"sh": fcntl.F_RDLCK, "ex": fcntl.F_WRLCK, "un": fcntl.F_UNLCK}

    def _lock(fd: int, kind: str, start: int, length: int, wait: bool) -> None:
        command = fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK
        fcntl.fcntl(fd, command, _flock(kind, start, length))

    def _flock(kind: str, start: int, length: int) -> bytes:
        return _FLOCK.pack(_KINDS[kind], os.SEEK_SET, start, length, 0)

    class RangeLock:
        """A byte-range lock taken and dropped often (once per commit): its
        request structures are packed once."""

        __slots__ = ("_exclusive", "_fd", "_shared", "_unlock")

        def __init__(self, fd: int, start: int, length: int) -> None:
            self._fd = fd
            self._exclusive = _flock("ex", start, length)
            self._shared = _flock("sh", start, length)
            self._unlock = _flock("un", start, length)

        def acquire(self, exclusive: bool) -> None:
            """Wait for the lock, shared or exclusive."""
            request = self._exclusive if exclusive else self._shared
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLKW, request)

        def release(self) -> None:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, self._unlock)

else:
    _LOCKF = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}

    def _lock(fd: int, kind: str, start: int, length: int, wait: bool) -> None:
        flags = _LOCKF[kind] | (0 if wait or kind == "un" else fcntl.LOCK_NB)
        fcntl.lockf(fd, flags, length, start, os.SEEK_SET)

    class RangeLock:  # type: ignore[no-redef]
        """A byte-range lock taken and dropped often (once per commit)."""

        __slots__ = ("_fd", "_length", "_start")

        def __init__(self, fd: int, start: int, length: int) -> None:
            self._fd, self._start, self._length = fd, start, length

        def acquire(self, exclusive: bool) -> None:
            """Wait for the lock, shared or exclusive."""
            _lock(self._fd, "ex" if exclusive else "sh", self._start, self._length, wait=True)

        def release(self) -> None:
            _lock(self._fd, "un", self._start, self._length, wait=False)


def writer_active(fd: int) -> bool:
    """Whether some process holds the writer lock (tested without taking it)."""
    if OFD_LOCKS:
        request = _flock("ex", WRITER_LOCK_START, 1)
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, request)
        return bool(_FLOCK.unpack(answer)[0] != fcntl.F_UNLCK)
    request = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, WRITER_LOCK_START, 1, 0)
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, request)
    return bool(struct.unpack("hhqqi4x", answer)[0] != fcntl.F_UNLCK)


def try_lock_writer(fd: int) -> bool:
    """Take the writer lock without waiting; False if another writer holds it."""
    try:
        _lock(fd, "ex", WRITER_LOCK_START, 1, wait=False)
    except (BlockingIOError, PermissionError):
        return False
    return True


def lock_range(fd: int, start: int, length: int, exclusive: bool) -> None:
    """Wait for a shared or exclusive lock on a byte range (held only briefly)."""
    _lock(fd, "ex" if exclusive else "sh", start, length, wait=True)


def unlock_range(fd: int, start: int, length: int) -> None:
    """Release a lock taken with :func:`lock_range` or :func:`try_lock_writer`."""
    _lock(fd, "un", start, length, wait=False)
