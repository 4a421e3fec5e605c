"""A real OTLP/HTTP logs receiver for tests and benchmarks: an HTTP server
that decodes the official protobuf request, keeps what it received, and can
be told to refuse (any status), or be taken down and brought back on the same
port."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)


@dataclass
class Received:
    """One log record as it arrived, with what identifies it."""

    stream: str
    seq: int
    body: Any
    record: Any  # the LogRecord message
    resource: dict[str, Any]
    scope: str


def value_of(any_value: Any) -> Any:
    """An AnyValue as Python data."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def attributes(message: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in message.attributes}


class Receiver:
    def __init__(self, port: int = 0, keep: bool = True, host: str = "127.0.0.1") -> None:
        self.host = host
        self.keep = keep  # False: decode each request, keep nothing (benchmarks)
        self.records: list[Received] = []
        self.requests = 0
        self.status = 200  # what to answer; 200 takes the batch
        self.retry_after: str | None = None
        self.partial: tuple[int, str] | None = None  # OTLP partial success to report
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.up()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._take(self.path, dict(self.headers), body, self)

            def setup(self) -> None:
                super().setup()
                receiver._connections.add(self.connection)

            def finish(self) -> None:
                receiver._connections.discard(self.connection)
                super().finish()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        server = Server((self.host, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening (new connections are refused) and drop every
        open connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):  # kept-alive ones too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _take(self, path: str, headers: dict[str, str], body: bytes, handler: Any) -> None:
        with self._lock:
            self.requests += 1
            self.headers.append(headers)
            status = self.status
            if path != "/v1/logs":
                status = 404
            if status == 200:
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                for resource_logs in request.resource_logs if self.keep else ():
                    resource = attributes(resource_logs.resource)
                    for scope_logs in resource_logs.scope_logs:
                        for record in scope_logs.log_records:
                            attrs = attributes(record)
                            self.records.append(
                                Received(
                                    stream=resource.get("capturelog.stream", ""),
                                    seq=attrs.get("capturelog.seq", 0),
                                    body=value_of(record.body),
                                    record=record,
                                    resource=resource,
                                    scope=scope_logs.scope.name,
                                )
                            )
                response = ExportLogsServiceResponse()
                if self.partial is not None:
                    response.partial_success.rejected_log_records = self.partial[0]
                    response.partial_success.error_message = self.partial[1]
                answer = response.SerializeToString()
            else:
                answer = b"refused by the test receiver"
            retry_after = self.retry_after
        handler.send_response(status)
        handler.send_header("Content-Type", "application/x-protobuf")
        handler.send_header("Content-Length", str(len(answer)))
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        handler.end_headers()
        handler.wfile.write(answer)

    def by_stream(self) -> dict[str, list[int]]:
        with self._lock:
            streams: dict[str, list[int]] = {}
            for received in self.records:
                streams.setdefault(received.stream, []).append(received.seq)
            return streams

    def close(self) -> None:
        self.down()


def _serve() -> None:
    """Run a receiver in its own process (for benchmarks): prints its port,
    then serves until told to stop, decoding each request and keeping none."""
    receiver = Receiver(keep=False)
    print(receiver.port, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    _serve()
