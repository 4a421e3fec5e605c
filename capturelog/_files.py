"""Giving a new capture file its name: atomically, never over a file that
appeared meanwhile, and without leaving temporary files behind.

A new file is built completely (header, two master nodes) before it gets its
name, so no half-made capture file ever carries the real name. Two processes
creating the same file at the same instant must not both succeed: a rename
would silently replace the first one's file, and its writer would go on
committing into an inode no name points at. A hard link fails with EEXIST
instead, so exactly one creator wins and the other opens the winner's file.

On Linux the file is built as an unnamed ``O_TMPFILE`` inode, linked into place
through ``/proc/self/fd``: a process killed while building it leaves nothing.
Elsewhere (or on a file system without ``O_TMPFILE``) it is built under a
temporary name ``.NAME.PID.ID.new``; temporary files of processes that no
longer exist are removed by the next creation in that directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time

__all__ = ["NewFile", "sweep_orphans", "sync_path"]

# Errors that mean "this file system cannot do that", as opposed to a real
# failure (no space, no permission) that must reach the caller.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP}
_LINK_UNSUPPORTED = _UNSUPPORTED | {errno.EPERM, errno.EXDEV, errno.ENOENT, errno.EMLINK}


_ORPHAN_AGE = 60.0  # seconds


class NewFile:
    """A file under construction in ``directory``, to be named ``target``.

    ``fd`` is open for reading and writing. Call :meth:`place` once it is
    complete, or :meth:`discard`.
    """

    def __init__(self, target: str, tag: str) -> None:
        self.target = target
        self.directory = os.path.dirname(os.path.abspath(target))
        self._tag = tag
        self.temp: str | None = None
        try:
            self.fd = self._unnamed()
            if self.fd < 0:
                sweep_orphans(target)
                self.temp = self._temp_name()
                self.fd = os.open(
                    self.temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666
                )
        except OSError as exc:
            # The error would name the directory or our temporary file; the
            # caller asked for ``target`` (same errno, so the same subclass).
            raise OSError(exc.errno, exc.strerror, target) from exc

    def _temp_name(self) -> str:
        base = os.path.basename(self.target)
        return os.path.join(self.directory, f".{base}.{os.getpid()}.{self._tag}.new")

    def _unnamed(self) -> int:
        flag = getattr(os, "O_TMPFILE", 0)
        if not flag or not os.path.isdir("/proc/self/fd"):
            return -1
        try:
            return os.open(self.directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                return -1
            raise

    def _link_unnamed(self, name: str) -> None:
        """Give the unnamed inode the name ``name`` (EEXIST if it exists)."""
        directory = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # linkat with AT_SYMLINK_FOLLOW: a plain link() would try to link
            # the /proc symlink itself.
            os.link(f"/proc/self/fd/{self.fd}", name, src_dir_fd=directory, follow_symlinks=True)
        finally:
            os.close(directory)

    def place(self, replace: bool) -> bool:
        """Name the file ``target``. With ``replace``, any file of that name is
        replaced; without, nothing is replaced and False means the name exists
        (another process created it first)."""
        if self.temp is None:
            if not replace:
                try:
                    self._link_unnamed(self.target)
                    return True
                except FileExistsError:
                    return False
            # A rename needs a name to rename from.
            sweep_orphans(self.target)
            self.temp = self._temp_name()
            self._link_unnamed(self.temp)
        try:
            if replace:
                os.replace(self.temp, self.target)
                self.temp = None
                return True
            try:
                os.link(self.temp, self.target)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _LINK_UNSUPPORTED:
                    raise
                # No hard links here: a rename after a check, which two
                # creators at the same instant can still both pass.
                if os.path.exists(self.target):
                    return False
                os.rename(self.temp, self.target)
                self.temp = None
            return True
        finally:
            self._remove_temp()

    def _remove_temp(self) -> None:
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
            self.temp = None

    def discard(self) -> None:
        """Close and forget the unfinished file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._remove_temp()


def sweep_orphans(target: str) -> None:
    """Remove temporary files that creators of ``target`` left when they were
    killed: those whose process no longer exists. Only files a minute old are
    touched (building a file takes milliseconds), so a creator in another PID
    namespace sharing the directory, whose process we cannot see, is safe."""
    directory = os.path.dirname(os.path.abspath(target))
    pattern = re.compile(re.escape(f".{os.path.basename(target)}.") + r"(\d+)\.[0-9a-f]+\.new")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if time.time() - os.stat(path).st_mtime > _ORPHAN_AGE:
                os.unlink(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a number we cannot check
    return True


def sync_path(path: str) -> None:
    """fsync a file or a directory (a directory holds the names of the files
    in it: a new name is durable once its directory is synced)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
