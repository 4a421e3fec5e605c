"""``CaptureFile``: the transactional, compressed, append-only record file.

Crash safety rests on one ordering rule: every byte a commit points at is
written before the master node that points at it, and a master node is only
ever written over the *older* of the two. A process killed at any instant
therefore leaves the previous master node whole, and the file opens at the last
completed commit. With ``durable=True`` the same order is enforced down to the
disk with ``fdatasync`` between the two steps and after the second.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import struct
import threading
import weakref
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from types import TracebackType
from typing import overload

from . import _locking
from ._blocks import BlockReader, View, Walk, unpack_error
from ._files import NewFile, sync_path
from ._format import (
    NULL_COORD,
    SIZE,
    Config,
    FormatError,
    MasterNode,
    decode_header,
    decode_master_node,
    encode_header,
    full_node_struct,
)
from ._index import locate
from ._writer import Appender, clear_stale_data, pwrite_all
from .exceptions import (
    CaptureFileAlreadyOpen,
    CaptureFileError,
    CaptureFileNotOpen,
    CaptureFileNotOpenForWrite,
    InvalidCaptureFile,
)

__all__ = ["CaptureFile"]

_pack_size = SIZE.pack
_unpack_size = SIZE.unpack_from

Record = str | bytes

# Files open for writing in this process, by (device, inode). OS locks guard
# other processes; this also guards when use_os_file_locking=False. The lock
# is re-entrant so that a signal handler that opens or closes a capture file
# while this thread holds it cannot deadlock.
_writers: set[tuple[int, int]] = set()
_writers_lock = threading.RLock()
# The writers themselves, for a forked child to let go of (see _after_fork).
_open_writers: weakref.WeakSet[CaptureFile] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child shares its parent's open file descriptions, and on Linux
    the writer lock belongs to the description: a child that merely lives on
    would keep the parent from ever opening its file for writing again once
    it closed it. So each inherited writer descriptor is pointed at a new,
    read-only description of the same file (the object stays open and
    refuses to write, as before). The parent's writers are not the child's."""
    global _writers_lock  # noqa: PLW0603 - a fresh lock is the only safe one after a fork
    _writers_lock = threading.RLock()  # the parent may have held it at the fork
    _writers.clear()
    for cf in list(_open_writers):
        cf._let_go_after_fork()
    _open_writers.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class CaptureFile:
    """A capture file opened for reading or for writing.

    The positional parameters are those of the ``CaptureFile`` package, so code
    written for it runs unchanged (only ``use_os_file_locking`` defaults to
    True here: a second writer is refused, in any process).

    Args:
        file_name: path of the file (``str`` or ``os.PathLike``).
        to_write: open for writing; a missing file is created.
        initial_metadata: metadata of a newly created file.
        force_new_empty_file: replace any existing file with a new empty one.
        encoding: how records are decoded when read (and str records encoded
            when added); ``None`` returns ``bytes``.
        use_os_file_locking: take the OS locks that keep writers of other
            processes out and readers from seeing a master node mid-write.
        compression_block_size: uncompressed block size of a new file, a
            multiple of 4096.
        durable: make each commit survive power loss (``fdatasync`` before and
            after the master node is written). Without it a commit survives the
            death of the process, not of the machine.
        cache_bytes: bound on the decompressed blocks a reader keeps.
        compression_level: zlib level for new blocks (1 fastest, 9 smallest).
        background_compression: compress full blocks on worker threads while
            records are added. It pays when records arrive in bulk; a caller
            that does other Python work between records (a logging handler)
            does better compressing in its own thread, since every hand-off
            to a worker waits for the GIL.

    Raises:
        InvalidCaptureFile: the file is not a capture file, is of another
            format version, or is damaged.
        CaptureFileAlreadyOpen: another writer holds the file.
    """

    def __init__(  # noqa: PLR0917 - the reference package's positional parameters
        self,
        file_name: str | os.PathLike[str],
        to_write: bool = False,
        initial_metadata: bytes | None = None,
        force_new_empty_file: bool = False,
        encoding: str | None = "utf_8",
        use_os_file_locking: bool = True,
        compression_block_size: int = 32768,
        *,
        durable: bool = False,
        cache_bytes: int = 16 << 20,
        compression_level: int = 4,
        background_compression: bool = True,
    ) -> None:
        self.file_name = os.fspath(file_name)
        self.to_write = to_write
        self.encoding = encoding  # a property: checks the codec, sets the fast paths
        self.use_os_file_locking = use_os_file_locking
        self.durable = durable
        if not -1 <= compression_level <= 9:
            raise ValueError(f"compression_level must be -1..9, not {compression_level}")
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, not {cache_bytes}")
        self._level = compression_level
        self._background = background_compression
        self._cache_bytes = cache_bytes
        self._fd = -1
        self._key: tuple[int, int] | None = None
        self._pid = os.getpid()
        self._w: Appender | None = None
        self._refresh_lock = threading.Lock()
        self._view = View(0, b"", b"", (), 0, NULL_COORD, 0)
        size = _size(self.file_name) if to_write and not force_new_empty_file else None
        if force_new_empty_file or size in {-1, 0}:
            if compression_block_size <= 0 or compression_block_size % 4096:
                raise ValueError(
                    "compression_block_size must be a positive multiple of 4096,"
                    f" not {compression_block_size}"
                )
            config = Config(block_size=compression_block_size)
            # An empty file (made by touch, or by logrotate's "create") is
            # taken as a new capture file; a reader still refuses it.
            if not self._create(
                config, initial_metadata, replace=size != -1, only_empty=size == 0
            ):
                # Created (or, for an empty file, filled) by another process
                # meanwhile: open theirs.
                self.open(to_write)
            elif not to_write:
                self.close()
                self.open(False)
        else:
            self.open(to_write)

    @property
    def encoding(self) -> str | None:
        """Codec that records are decoded with when read; None returns bytes."""
        return self._encoding

    @encoding.setter
    def encoding(self, encoding: str | None) -> None:
        self._decoding = _decoding(encoding)  # LookupError for an unknown codec
        self._encoding = encoding
        self._text_encoding = encoding or "utf_8"

    # ----------------------------------------------------------------- opening

    def open(self, to_write: bool = False) -> None:
        """Open (again) for reading, or for writing when ``to_write``.

        Raises:
            CaptureFileAlreadyOpen: this object is open, or another writer
                holds the file.
            InvalidCaptureFile: the file is not a sound capture file.
        """
        if self._fd >= 0:
            raise CaptureFileAlreadyOpen(f"{self.file_name}: this CaptureFile is already open")
        fd = os.open(self.file_name, (os.O_RDWR if to_write else os.O_RDONLY) | os.O_CLOEXEC)
        self._pid = os.getpid()
        try:
            if to_write:
                self._claim(fd)
            self._attach(fd, to_write)
        except BaseException:
            self._release(fd)
            raise

    def _claim(self, fd: int) -> None:
        """Become the file's one writer, or raise CaptureFileAlreadyOpen."""
        key = _file_key(fd)
        with _writers_lock:
            if key in _writers:
                raise CaptureFileAlreadyOpen(
                    f"{self.file_name}: already open for writing in this process"
                )
            if self.use_os_file_locking and not _locking.try_lock_writer(fd):
                raise CaptureFileAlreadyOpen(
                    f"{self.file_name}: already open for writing by another process"
                )
            _writers.add(key)
            _open_writers.add(self)
        self._key = key

    def _claim_key(self, fd: int) -> None:
        key = _file_key(fd)
        with _writers_lock:
            _writers.add(key)
            _open_writers.add(self)
        self._key = key

    def _file_identity(self) -> tuple[int, int]:
        """(device, inode) of the open file, to tell whether its name still points at it."""
        self._check_open("identify the file")
        return _file_key(self._fd)

    def _release(self, fd: int) -> None:
        """Close ``fd`` and give up the writer claim; the OS lock goes with it."""
        if self._key is not None:
            with _writers_lock:
                _writers.discard(self._key)
                _open_writers.discard(self)
            self._key = None
        os.close(fd)

    def _let_go_after_fork(self) -> None:
        """In a forked child: swap this writer's inherited descriptor for a
        fresh read-only one (see ``_after_fork_in_child``)."""
        fd = self._fd
        self._key = None
        if fd < 0:
            return
        try:
            fresh = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fresh = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.dup2(fresh, fd, inheritable=False)
        finally:
            os.close(fresh)

    def _attach(self, fd: int, to_write: bool) -> None:
        """Read the header and current master node of an open descriptor."""
        try:
            config = decode_header(os.pread(fd, 4096, 0))
        except FormatError as exc:
            raise InvalidCaptureFile(f"{self.file_name}: {exc}") from None
        self._setup(fd, config, to_write)
        self._view = self._load_view()
        if to_write:
            self._start_writing()

    def _setup(self, fd: int, config: Config, to_write: bool) -> None:
        self._fd = fd
        self._config = config
        self.to_write = to_write
        self._blocks = BlockReader(fd, config, self.file_name, self._cache_bytes)
        self._full_node = full_node_struct(config.fan_out)
        # The last full leaf node record_at used: (its number, its children).
        self._leaf: tuple[int, tuple[int, ...]] = (-1, ())
        self._w = None

    def _load_view(self) -> View:
        """Read both master nodes and return the state of the current one."""
        config = self._config
        size = config.master_size
        span = (config.page_size, 2 * size)
        for _ in range(2):
            lock = self.use_os_file_locking and not self.to_write
            if lock:
                _locking.lock_range(self._fd, *span, exclusive=False)
            try:
                raw = os.pread(self._fd, 2 * size, config.page_size)
            finally:
                if lock:
                    _locking.unlock_range(self._fd, *span)
            try:
                node = self._current_node(raw)
                break
            except _TornRead:
                # Two valid nodes whose serials are not neighbours: with
                # locking off a commit can land between our reads of the two
                # halves. Reading once more settles it; twice means damage.
                continue
        else:
            raise InvalidCaptureFile(
                f"{self.file_name}: damaged: the master nodes' serial numbers are not consecutive"
            )
        file_size = os.fstat(self._fd).st_size
        if file_size < node.file_limit - node.file_limit % config.page_size:
            raise InvalidCaptureFile(
                f"{self.file_name}: damaged: the file is {file_size} bytes but its last"
                f" commit needs {node.file_limit}; it was truncated"
            )
        return View(
            limit=node.file_limit,
            tail=node.last_page,
            pending=node.pending,
            levels=node.levels,
            count=node.count,
            metadata=node.metadata,
            serial=node.serial,
        )

    def _current_node(self, raw: bytes) -> MasterNode:
        config = self._config
        size = config.master_size
        if len(raw) < 2 * size:
            raise InvalidCaptureFile(
                f"{self.file_name}: damaged: the file is too short to hold its master nodes"
            )
        nodes: list[MasterNode | None] = []
        problems = []
        for half in (memoryview(raw)[:size], memoryview(raw)[size:]):
            try:
                nodes.append(decode_master_node(half, config))
            except FormatError as exc:
                nodes.append(None)
                problems.append(str(exc))
        a, b = nodes
        if a is None and b is None:
            raise InvalidCaptureFile(
                f"{self.file_name}: damaged: both master nodes are unreadable"
                f" ({problems[0]}; {problems[1]})"
            )
        if a is None or b is None:
            node = a or b
            assert node is not None  # for the type checker; one of them is set
            return node
        delta = (a.serial - b.serial) & 0xFFFFFFFF
        if delta == 1:
            return a
        if delta == 0xFFFFFFFF:
            return b
        raise _TornRead

    # ----------------------------------------------------------------- closing

    def close(self) -> None:
        """Close the file; records added since the last commit are dropped.

        Calling it again does nothing.
        """
        fd, self._fd = self._fd, -1
        if fd >= 0:
            if self._w is not None:
                self._w.abandon()
                # Keep the count for str(); the data is only read while open.
                self._view = View(0, b"", b"", (), self._w.count, NULL_COORD, 0)
                self._w = None
            self._release(fd)

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __str__(self) -> str:
        if self._fd >= 0:
            status = f"opened for {'writing' if self.to_write else 'reading'}"
        else:
            status = "currently closed but last seen"
        return f'"{self.file_name}" {status} with {self.record_count():,} records'

    def __repr__(self) -> str:
        mode = "closed" if self._fd < 0 else ("write" if self.to_write else "read")
        return f"<CaptureFile {self.file_name!r} mode={mode} records={self.record_count()}>"

    # ----------------------------------------------------------------- reading

    def _check_open(self, action: str) -> None:
        if self._fd < 0:
            raise CaptureFileNotOpen(f"{self.file_name}: cannot {action}: the file is not open")

    def record_count(self) -> int:
        """Records available: committed ones (as of open or the last
        ``refresh``) for a reader; every added one for the writer."""
        w = self._w
        return self._view.count if w is None else w.count

    def __len__(self) -> int:
        return self.record_count()

    def refresh(self) -> None:
        """Pick up commits made since the file was opened or last refreshed.

        A writer's view is always current, so on a writer this does nothing.
        """
        self._check_open("refresh")
        if self.to_write:
            return
        with self._refresh_lock:
            self._view = self._load_view()

    def get_metadata(self) -> bytes | None:
        """The file's metadata as of the view, or None when there is none."""
        self._check_open("read the metadata")
        view = self._view if self._w is None else self._writer_view()
        if view.metadata == NULL_COORD:
            return None
        return bytes(self._blocks.item(view, *view.metadata))

    def record_at(self, record_number: int) -> Record:
        """The record numbered ``record_number`` (the first is 1).

        Raises:
            IndexError: no such record (below 1 or past ``record_count()``).
            InvalidCaptureFile: the part of the file holding it is damaged.
        """
        if self._fd < 0:
            self._check_open("read a record")
        view = self._view if self._w is None else self._writer_view()
        if not 0 < record_number <= view.count:
            raise IndexError(
                f"{self.file_name}: no record {record_number}; records are numbered"
                f" 1 to {view.count}"
            )
        blocks = self._blocks
        leaf, digit = divmod(record_number - 1, self._config.fan_out)
        try:
            cached, coords = self._leaf
            if cached != leaf:
                _, pos, off, digits = locate(record_number - 1, view.levels, self._config.fan_out)
                if digits:
                    for step in digits[:-1]:
                        pos, off = blocks.child(view, pos, off, step)
                    coords = self._full_node.unpack(blocks.node(view, pos, off))
                    # Reading in order or nearby: the next fan_out - 1 calls
                    # start here instead of at the root. A full node under
                    # committed data never changes; a roll back forgets it.
                    self._leaf = (leaf, coords)
                    cached = leaf
            if cached == leaf:
                pos, off = coords[2 * digit], coords[2 * digit + 1]
            data = blocks.item(view, pos, off)
        except struct.error as exc:
            raise unpack_error(exc, blocks) from None
        encoding = self._decoding  # the same fast paths as iteration
        if encoding is None:
            return bytes(data)
        try:
            return data.decode() if encoding == "" else data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise self._undecodable(f"record {record_number}", exc) from None

    @overload
    def __getitem__(self, key: int) -> Record: ...

    @overload
    def __getitem__(self, key: slice) -> list[Record]: ...

    def __getitem__(self, key: int | slice) -> Record | list[Record]:
        """``cf[n]`` is record n (1-based; negative counts from the end);
        ``cf[a:b:step]`` is records a, a+step, ... before b, as a list."""
        count = self.record_count()
        if isinstance(key, slice):
            start, stop = self._position(key.start), self._position(key.stop)
            positions = range(count)[slice(start, stop, key.step)]
            if positions.step == 1:
                return list(islice(self.record_generator(positions.start + 1), len(positions)))
            return [self.record_at(p + 1) for p in positions]
        if key < 0:
            key += count + 1
        return self.record_at(key)

    @staticmethod
    def _position(bound: int | None) -> int | None:
        """A slice bound in record numbers as a 0-based position."""
        if bound is None or bound < 0:
            return bound
        if bound == 0:
            raise IndexError("records are numbered from 1; a slice bound cannot be 0")
        return bound - 1

    def __iter__(self) -> Iterator[Record]:
        return self.record_generator()

    def record_generator(self, starting_record_number: int = 1) -> Iterator[Record]:
        """Records from ``starting_record_number`` to the last one in the view
        when called; records committed later are not included.

        Runs in constant memory whatever the size of the file.
        """
        self._check_open("iterate over records")
        if starting_record_number < 1:
            raise IndexError(
                f"{self.file_name}: records are numbered from 1, not {starting_record_number}"
            )
        # Records come in batches of up to one index node's worth, flattened in
        # C: the per-record cost is one list step, not a generator resume.
        return chain.from_iterable(self._batches(self._snapshot(), starting_record_number - 1))

    def _snapshot(self) -> View:
        if self._w is None:
            return self._view
        # A reader's views are never changed, only replaced; the writer's live
        # view is copied so that records added later do not disturb the walk.
        view = self._writer_view()
        return View(
            view.limit,
            bytes(view.tail),
            bytes(view.pending),
            tuple(tuple(level) for level in view.levels),
            view.count,
            view.metadata,
            view.serial,
        )

    def _batches(self, view: View, skip: int) -> Iterator[list[Record]]:
        """Lists of records from 0-based ``skip`` on, walking the tree in order."""
        fan_out = self._config.fan_out
        blocks = Walk(self._blocks, view)
        try:
            for height in range(len(view.levels), 0, -1):
                level = view.levels[height - 1]
                size = fan_out ** (height - 1)
                children = len(level) >> 1
                if skip >= children * size:
                    skip -= children * size
                    continue
                first, skip = divmod(skip, size)
                if height == 1:
                    yield self._records(blocks, level, first)
                    continue
                for child in range(first, children):
                    yield from self._subtree(
                        blocks, height, level[2 * child], level[2 * child + 1], skip
                    )
                    skip = 0
        except struct.error as exc:
            raise unpack_error(exc, self._blocks) from None

    def _subtree(
        self, blocks: Walk, height: int, pos: int, off: int, skip: int
    ) -> Iterator[list[Record]]:
        """Batches of records under the full node at ``(pos, off)`` of ``height``."""
        size = self._config.fan_out ** (height - 2)
        first, skip = divmod(skip, size)
        coords = self._full_node.unpack_from(blocks.block(pos), off)
        # A node is written after its children: one comparison per node keeps
        # forged nodes (pointing back at themselves, or ahead) out of the walk.
        if (coords[-2], coords[-1]) >= (pos, off):
            raise self._blocks.damaged(f"index node at ({pos}, {off}): a child lies after the node")
        if height == 2:
            yield self._records(blocks, coords, first)
            return
        for child in range(first, len(coords) >> 1):
            yield from self._subtree(
                blocks, height - 1, coords[2 * child], coords[2 * child + 1], skip
            )
            skip = 0

    def _records(
        self, blocks: Walk, coords: tuple[int, ...] | list[int], first: int
    ) -> list[Record]:
        """Decode the records at a run of coordinates, starting at child ``first``."""
        positions = coords[2 * first :: 2]
        offsets = coords[2 * first + 1 :: 2]
        if positions[0] == positions[-1]:  # the usual case: the run is in one block
            return self._decode_run(blocks.block(positions[0]), offsets)
        out: list[Record] = []
        start = 0
        for i in range(1, len(positions) + 1):
            if i == len(positions) or positions[i] != positions[start]:
                out += self._decode_run(blocks.block(positions[start]), offsets[start:i])
                start = i
        return out

    def _decode_run(
        self, block: bytes | bytearray, offsets: tuple[int, ...] | list[int]
    ) -> list[Record]:
        """Records at ``offsets`` in one block: the innermost loop of iteration."""
        unpack = _unpack_size
        last = offsets[-1]
        if last + 4 + unpack(block, last)[0] > len(block):
            raise self._blocks.damaged("a record runs past the end of its block")
        # The writer's open block is a bytearray: slices of bytes are handed out.
        data: bytes = bytes(block) if type(block) is bytearray else block  # type: ignore[assignment]
        encoding = self._decoding
        if encoding is None:
            return [data[o + 4 : o + 4 + unpack(data, o)[0]] for o in offsets]
        try:
            if encoding == "":  # UTF-8, the default: .decode() with no argument is fastest
                return [data[o + 4 : o + 4 + unpack(data, o)[0]].decode() for o in offsets]
            return [data[o + 4 : o + 4 + unpack(data, o)[0]].decode(encoding) for o in offsets]
        except UnicodeDecodeError as exc:
            raise self._undecodable("a record", exc) from None

    def _undecodable(self, what: str, exc: UnicodeDecodeError) -> InvalidCaptureFile:
        return InvalidCaptureFile(
            f"{self.file_name}: {what} is not {self._encoding} text ({exc.reason}): the"
            " file is damaged, or its records are bytes (open it with encoding=None)"
        )

    # ----------------------------------------------------------------- writing

    def _check_writer(self, action: str) -> Appender:
        self._check_open(action)
        if not self.to_write:
            raise CaptureFileNotOpenForWrite(
                f"{self.file_name}: cannot {action}: the file is open for reading only"
            )
        if os.getpid() != self._pid:
            raise CaptureFileError(
                f"{self.file_name}: cannot {action}: the file was opened for writing in"
                f" process {self._pid}, and this is a forked child ({os.getpid()})"
            )
        w = self._w
        if w is None:
            self._roll_back()  # a roll-back was interrupted: finish it now
            w = self._w
            if w is None:
                raise CaptureFileError(
                    f"{self.file_name}: cannot {action}: the writer could not be returned to"
                    " the last commit; close and reopen the file"
                )
        return w

    def _start_writing(self, new_file: bool = False) -> None:
        """Turn the loaded view into the writer's mutable state."""
        if not new_file:
            clear_stale_data(self._fd, self._config, self._view.limit)
        self._w = Appender(
            self._fd,
            self._config,
            self._view,
            self._level,
            self.durable,
            self.use_os_file_locking,
            self._pid,
            self._background,
            new_file=new_file,
        )

    def _writer_view(self) -> View:
        """The writer's up-to-date view, for reading what it has added."""
        w = self._check_writer("read")
        try:
            self._view = w.view()
        except BaseException:
            self._roll_back()
            raise
        return self._view

    def add_record(self, record: Record) -> int:
        """Add a record (``str`` is encoded, ``bytes``-like kept) and return the
        new record count. It becomes visible to readers, and safe, at ``commit()``.

        A record of the wrong type (TypeError) or too large for the format
        (ValueError) is refused before anything changes. If writing fails (a
        full disk), or anything else interrupts the call (an exception raised
        by a signal handler), the transaction in progress is dropped: the file
        keeps its last commit and this writer stays usable.
        """
        w = self._w
        if w is None:
            w = self._check_writer("add a record")
        if type(record) is str:
            record = record.encode(self._text_encoding)
        elif type(record) is not bytes:
            record = _as_bytes(record, self._text_encoding)
        size = len(record)
        if size > _MAX_RECORD:
            raise _too_large(size)
        # The per-record path, kept inline: everything else happens once per
        # full index node or per block, in Appender.spill(). Between its first
        # and last line the writer's state is inconsistent, so anything that
        # lands in between (a KeyboardInterrupt from a signal) rolls back.
        try:
            pending = w.pending
            leaf = w.leaf
            leaf += (w.open_key, len(pending))
            pending += _pack_size(size)
            pending += record
            w.count += 1
            w.changed = True
            if len(leaf) == w.leaf_full or len(pending) >= w.block_size:
                w.spill()
        except BaseException:
            self._roll_back()
            raise
        return w.count

    def add_records(self, records: Iterable[Record]) -> int:  # noqa: PLR0915 - one hot loop, kept whole
        """Add many records at once (as ``add_record`` does each); return the
        new record count. Cheaper per record than calling ``add_record`` in a
        loop; the logging handler hands over its records this way.

        A record of the wrong type, or an exception from ``records`` itself,
        stops the call with the records before it added; a failed write drops
        the transaction, as with ``add_record``.
        """
        w = self._w
        if w is None:
            w = self._check_writer("add records")
        encoding = self._text_encoding
        pack_size = _pack_size
        leaf, block_size = w.leaf, w.block_size
        pending, key = w.pending, w.open_key
        # Kept in locals, so the loop makes no len() calls: where the next
        # record goes, and how many more fit in the leaf index node.
        offset = len(pending)
        room = (w.leaf_full - len(leaf)) >> 1
        added = 0
        iterator = iter(records)
        try:
            while True:
                # Everything that may refuse a record (the caller's iterator, a
                # wrong type, a size over the limit) runs before the writer's
                # state is touched for it.
                try:
                    record = next(iterator)
                    if type(record) is str:
                        record = record.encode(encoding)
                    elif type(record) is not bytes:
                        record = _as_bytes(record, encoding)
                    size = len(record)
                    if size > _MAX_RECORD:
                        raise _too_large(size)
                except StopIteration:
                    break
                except Exception as exc:
                    raise _Refused from exc
                leaf += (key, offset)
                pending += pack_size(size)
                pending += record
                offset += 4 + size
                added += 1
                room -= 1
                if not room or offset >= block_size:
                    w.spill()
                    # A new block or leaf may have begun.
                    leaf, pending, key = w.leaf, w.pending, w.open_key
                    offset = len(pending)
                    room = (w.leaf_full - len(leaf)) >> 1
        except _Refused as refused:
            # The state is whole: keep the records added before the refused one.
            if added:
                w.count += added
                w.changed = True
            raise refused.__cause__ from None  # type: ignore[misc]
        except BaseException:
            self._roll_back()
            raise
        if added:
            w.count += added
            w.changed = True
        return w.count

    def _roll_back(self) -> None:
        """After a failed or interrupted write, return to the state of the last
        commit on disk. The writer is dropped first: should this be interrupted
        in turn, the next write call finds no writer and rolls back again."""
        if os.getpid() != self._pid:
            return  # a forked child's copy: it must never write, so leave it be
        w, self._w = self._w, None
        if w is not None:
            w.abandon()
        self._blocks.clear()
        self._leaf = (-1, ())
        self.to_write = True
        self._view = self._load_view()
        self._start_writing()

    def set_metadata(self, new_metadata: bytes | None) -> None:
        """Replace the file's metadata (None clears it), committed with the records."""
        w = self._check_writer("set the metadata")
        if new_metadata is not None and not isinstance(
            new_metadata, (bytes, bytearray, memoryview)
        ):
            raise TypeError(f"metadata must be bytes or None, not {type(new_metadata).__name__}")
        try:
            w.set_metadata(new_metadata)
        except BaseException:
            self._roll_back()
            raise

    def commit(self) -> None:
        """Make every record and metadata change since the last commit visible
        and safe, all together.

        Without ``durable`` the commit survives the process being killed; with
        it, a power loss too. If commit raises, the commit may or may not have
        happened; the file is sound either way and reopening it tells which.
        """
        w = self._w
        if w is None:
            w = self._check_writer("commit")
        if not w.changed:
            return
        try:
            w.commit()
        except BaseException:
            self._roll_back()
            raise

    def _create(
        self,
        config: Config,
        initial_metadata: bytes | None,
        replace: bool,
        only_empty: bool = False,
    ) -> bool:
        """Build a new file and give it the name (see ``_files``). Without
        ``replace``, False means another process created the file first; with
        ``only_empty``, the file at the name is replaced only while it is
        empty (False: it is not, open it). A replaced file's permissions are
        kept."""
        guard = self._hold_existing(only_empty) if replace else -1
        if guard == _NOT_EMPTY:
            return False
        try:
            new = NewFile(self.file_name, f"{id(self):x}")
            fd = new.fd
            try:
                if self.use_os_file_locking:
                    _locking.try_lock_writer(fd)  # held from before the file has its name
                _copy_ownership(guard, fd)
                pwrite_all(fd, encode_header(config), 0)
                # Just the header and the master nodes: the file grows as data
                # is written (see Appender._grow), so a file of a few records
                # stays small, and sparse: only the used part of each master
                # node is ever written.
                os.ftruncate(fd, config.data_start)
                self._setup(fd, config, to_write=True)
                self._view = View(config.data_start, b"", b"", (), 0, NULL_COORD, 0)
                self._start_writing(new_file=True)
                if initial_metadata is not None:
                    self.set_metadata(initial_metadata)
                # Two commits make both master nodes valid (serials 1 and 2).
                for _ in range(2):
                    if self._w is not None:
                        self._w.changed = True
                    self.commit()
                if self.durable:
                    os.fsync(fd)
                self._claim_key(fd)  # before the name exists: no other thread can claim it first
                if not new.place(replace):
                    self.close()
                    new.fd = -1
                    return False
                new.fd = -1
                if self.durable:
                    sync_path(new.directory)
                return True
            except BaseException:
                if self._fd >= 0:
                    self.close()
                    new.fd = -1
                new.discard()
                raise
        finally:
            if guard >= 0:
                os.close(guard)

    def _hold_existing(self, only_empty: bool = False) -> int:
        """Before replacing a file: refuse if a writer has it, else take its
        writer lock (return the descriptor, -1 if there is no file) and keep it
        until the new file has the name, so no writer can start on the old
        file in the meantime. With ``only_empty``, return _NOT_EMPTY unless,
        with the lock held, the file is still empty and still at the name:
        another process that filled it first replaced it, and that new file
        must not be replaced in turn."""
        try:
            fd = os.open(self.file_name, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return -1
        try:
            stat = os.fstat(fd)
            with _writers_lock:
                busy = (stat.st_dev, stat.st_ino) in _writers
            if not busy and self.use_os_file_locking:
                busy = not _locking.try_lock_writer(fd)
            if busy:
                raise CaptureFileAlreadyOpen(
                    f"{self.file_name}: cannot replace it: it is open for writing"
                )
            if only_empty and _size_and_key(self.file_name) != (0, _file_key(fd)):
                os.close(fd)
                return _NOT_EMPTY
        except BaseException:
            os.close(fd)
            raise
        return fd


# A record's length prefix is 4 bytes, and so is its compressed block's: keep
# room below 4 GiB for the rest of the block and for zlib's overhead on data
# that does not compress.
_MAX_RECORD = (1 << 32) - (64 << 20)


def _as_bytes(record: object, encoding: str) -> bytes:
    """A record that is not exactly ``str`` or ``bytes``, as bytes: ``str``
    subclasses are encoded, other bytes-like objects copied."""
    if isinstance(record, str):
        return str.encode(record, encoding)
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    raise TypeError(f"a record must be str or bytes-like, not {type(record).__name__}")


def _too_large(size: int) -> ValueError:
    return ValueError(f"a record of {size:,} bytes is too large (at most {_MAX_RECORD:,})")


class _Refused(Exception):
    """add_records met a record it refuses (the cause says why)."""


class _TornRead(Exception):
    """Both master nodes valid but not consecutive: read them again."""


def _decoding(encoding: str | None) -> str | None:
    """How records are decoded: None for bytes, "" for UTF-8, else the codec name."""
    if encoding is None:
        return None
    return "" if codecs.lookup(encoding).name == "utf-8" else encoding


# What _hold_existing returns for a file that is no longer empty.
_NOT_EMPTY = -2


def _size(path: str) -> int:
    """The size of the file at ``path``, -1 if there is none."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


def _size_and_key(path: str) -> tuple[int, tuple[int, int]] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_size, (stat.st_dev, stat.st_ino)


def _copy_ownership(source: int, target: int) -> None:
    """Give the new file the permissions (and, where allowed, the owner) of
    the file it replaces, if any (``source`` >= 0): logrotate's "create MODE
    OWNER GROUP", for one, chose them for the log."""
    if source < 0:
        return
    stat = os.fstat(source)
    os.fchmod(target, stat.st_mode & 0o7777)
    with contextlib.suppress(OSError):  # only root may give a file away
        os.fchown(target, stat.st_uid, stat.st_gid)


def _file_key(fd: int) -> tuple[int, int]:
    stat = os.fstat(fd)
    return (stat.st_dev, stat.st_ino)

