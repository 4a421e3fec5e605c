"""``capturelog ship``: send records to an OpenTelemetry collector (OTLP/HTTP)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from ._common import UsageError, seconds


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "ship", help="send records to an OpenTelemetry collector, losing none",
        description="Send the records of the files, directories, globs or log sets named to"
        " an OpenTelemetry collector over OTLP/HTTP (protobuf), in batches, then follow"
        " them as writers commit more, until Ctrl-C or SIGTERM. The position reached (per"
        " stream, the last record the collector acknowledged) is kept in a cursor file,"
        " written after each acknowledgement: a restart, after any crash, resumes there,"
        " so every record arrives at least once and duplicates are at most one batch."
        " While the collector is down or busy the batch is retried with back-off; a refusal"
        " that OTLP says not to retry (401, 404, 413...) stops with status 1. Needs"
        " pip install 'capturelog[otlp]'.",
    )  # fmt: skip
    command.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="capture files, log sets (a handler's file name), directories or quoted globs",
    )  # fmt: skip
    command.add_argument(
        "--otlp", required=True, metavar="URL",
        help="the collector: http://host:4318 (gets /v1/logs added) or a full logs address",
    )  # fmt: skip
    command.add_argument(
        "--cursor", metavar="FILE",
        help="where the position is kept (default: beside PATH, .NAME.ship-cursor; needed"
        " with several paths or a glob, and for a second destination)",
    )  # fmt: skip
    command.add_argument(
        "--once", action="store_true", help="ship what is committed now, then stop"
    )
    command.add_argument(
        "--batch", type=int, default=1000, metavar="N", help="records per request (1000)"
    )
    command.add_argument(
        "-H", "--header", action="append", default=[], metavar="NAME=VALUE",
        help="an HTTP header for every request (authentication); repeatable",
    )  # fmt: skip
    command.add_argument(
        "--service-name", metavar="NAME",
        help="service.name of the records (default: unknown_service:PROGRAM)",
    )  # fmt: skip
    command.add_argument(
        "--resource", action="append", default=[], metavar="KEY=VALUE",
        help="a resource attribute to add (deployment.environment=prod); repeatable",
    )  # fmt: skip
    command.add_argument("--gzip", action="store_true", help="compress requests")
    command.add_argument(
        "--timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
        help="how long a request may take, the collector's answer included (10)",
    )  # fmt: skip
    command.add_argument(
        "--poll", type=seconds, default=0.5, metavar="SECONDS",
        help="how often to look for new records (0.5)",
    )  # fmt: skip
    command.set_defaults(run=run)


def _positive_seconds(text: str) -> float:
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"{option} takes NAME=VALUE, not {value!r}")
        pairs[name.strip()] = text
    return pairs


class _Progress:
    """One line on a terminal, redrawn at most twice a second; nothing when
    stderr is not a terminal."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self, report: Any) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if now - self._last < 0.5 and report.waiting is None:
            return
        self._last = now
        line = report.summary() + (f" - waiting: {report.waiting}" if report.waiting else "")
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def end(self) -> None:
        if self.live and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")


def run(args: argparse.Namespace) -> int:
    from ..ship import ShipError, ship  # noqa: PLC0415 - the otlp extra may be missing

    if args.batch < 1:
        raise UsageError(f"--batch must be 1 or more, not {args.batch}")
    headers = _pairs(args.header, "--header")
    resource = _pairs(args.resource, "--resource")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # The first Ctrl-C or SIGTERM finishes the batch in flight and saves
        # the cursor; a second Ctrl-C interrupts at once.
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    progress = _Progress()
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(
                ship(
                    args.paths,
                    args.otlp,
                    cursor=args.cursor,
                    follow=not args.once,
                    stop_event=stop,
                    batch_records=args.batch,
                    headers=headers,
                    gzip_body=args.gzip,
                    timeout=args.timeout,
                    poll_interval=args.poll,
                    service_name=args.service_name,
                    resource=resource,
                    progress=progress,
                )
            )
        except BaseException as exc:
            outcome.append(exc)

    # The shipping runs on a thread of its own, and this one only waits: a
    # signal handler setting the stop event could otherwise run while this
    # thread holds the event's lock (inside its wait), and hang for good.
    worker = threading.Thread(target=work, name="capturelog-ship", daemon=True)
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    progress.end()
    result = outcome[0]
    if isinstance(result, ShipError):
        sys.stderr.write(f"capturelog: error: {result}\n")
        return 1
    if isinstance(result, BaseException):
        raise result
    report = result
    sys.stderr.write(f"{report.summary()} to {report.endpoint}; cursor {report.cursor}\n")
    return 0
