"""A helper thread for zlib work, handed its jobs explicitly.

zlib lets go of the GIL while it compresses or inflates, so a second thread can
do that work on another core while the caller runs Python. Left to the
interpreter, though, it does not: a thread waiting for the GIL (to start a job,
or to return from one) gets it only when the running thread blocks, or after
the switch interval (5 ms). A thread pool's worker therefore sat idle while the
caller built records, and iterating or logging got no faster (measured).

So the hand-off is explicit. :meth:`Helper.post` gives the job and waits,
without the GIL, until the helper has the job and is about to call zlib;
:meth:`Helper.take` waits, again without the GIL, for the result. The helper
runs at most one job at a time, and the caller only posts when it has taken
the last result, so each job costs two waits.

Those waits are cheap only while both threads stay busy. Iterating a file
posts a job every block (about every 0.1 ms) and gains (about 25% on the
iteration benchmark). A writer fed by a logging handler seals a block every
millisecond or so; by then the idle thread's core has gone to sleep, and on
the 2-core VM we measure on each wait took about 80 us, more than compressing
the block in place. So the writer keeps its pool (``_pool``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Helper", "helper_useful"]

# At most this many helper threads at once in a process (merging many files
# walks them all at once; more threads than cores gain nothing).
_MAX_HELPERS = 4
_slots = threading.BoundedSemaphore(_MAX_HELPERS)


def _reset_slots() -> None:
    global _slots
    _slots = threading.BoundedSemaphore(_MAX_HELPERS)  # the parent's threads are not here


os.register_at_fork(after_in_child=_reset_slots)


def helper_useful() -> bool:
    """Whether a helper thread can help: two cores or more, and an interpreter
    that is not shutting down (its threads can no longer run then)."""
    if sys.is_finalizing():
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) > 1


class Helper:
    """One daemon thread that runs one posted call at a time.

    ``busy`` is True from :meth:`post` until :meth:`take`. The thread ends
    after :meth:`stop`, or with the process; it belongs to the process that
    made it (a forked child has no such thread and must not post).
    """

    __slots__ = (
        "_call",
        "_current",
        "_done",
        "_posted",
        "_result",
        "_started",
        "_stopped",
        "busy",
        "pid",
    )

    def __init__(self, name: str) -> None:
        """Raises RuntimeError when no thread can be started: too many helpers
        running already, or the interpreter refuses new threads."""
        slots = _slots
        if not slots.acquire(blocking=False):
            raise RuntimeError(f"{_MAX_HELPERS} capturelog helper threads are running already")
        try:
            self._start(name, slots)
        except BaseException:
            slots.release()
            raise

    def _start(self, name: str, slots: threading.BoundedSemaphore) -> None:
        self.busy = False
        self.pid = os.getpid()
        self._stopped = False
        self._call: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._current: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._result: tuple[Any, BaseException | None] = (None, None)
        self._posted = threading.Lock()
        self._started = threading.Lock()
        self._done = threading.Lock()
        for lock in (self._posted, self._started, self._done):
            lock.acquire()
        threading.Thread(target=self._run, args=(slots,), name=name, daemon=True).start()

    def _run(self, slots: threading.BoundedSemaphore) -> None:
        while True:
            self._posted.acquire()
            call, self._call = self._call, None
            self._started.release()
            if call is None:
                slots.release()
                return
            func, args = call
            try:
                self._result = (func(*args), None)
            except BaseException as exc:  # handed to the caller by take()
                self._result = (None, exc)
            finally:
                self._done.release()

    def post(self, func: Callable[..., Any], *args: Any) -> None:
        """Start ``func(*args)`` on the helper (nothing may be in flight)."""
        self.busy = True
        self._call = self._current = (func, args)
        self._posted.release()
        self._started.acquire()

    def take(self) -> Any:
        """The result of the call in flight; raises what it raised."""
        current, self._current = self._current, None
        self.busy = False
        if sys.is_finalizing() and current is not None:
            # The interpreter is shutting down: the helper cannot get the GIL
            # back to report, so make the (pure) call here instead.
            func, args = current
            return func(*args)
        self._done.acquire()
        (result, error), self._result = self._result, (None, None)
        if error is not None:
            raise error
        return result

    def stop(self) -> None:
        """Let the thread end after its call in flight, if any. Never waits
        (this may run while the interpreter shuts down)."""
        if self._stopped or os.getpid() != self.pid:
            return  # stopped already, or a forked child: the thread is not here
        self._stopped = True
        # The thread holds no job lock now (post waited for it to take its
        # call), so this wakes it, after its call in flight, to end.
        self.busy = False
        self._call = None
        # Already released by a post() interrupted before the thread took its
        # call: the thread ends on the None all the same.
        with contextlib.suppress(RuntimeError):
            self._posted.release()
