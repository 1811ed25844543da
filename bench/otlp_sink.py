"""`python -m bench.otlp_sink PORT`: where the traced services of the benchmark send their
spans. It answers every OTLP/HTTP export at once, as a collector on the same host would, and
counts what it received (`GET /stats`), so that the report can tell that tracing was on. Its
own CPU is not the services': it runs in a process of its own."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_ANSWER = ExportTraceServiceResponse().SerializeToString()


class _Counts:
    def __init__(self) -> None:
        self.exports = 0
        self.spans = 0
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        with self.lock:
            self.exports += 1
            self.spans += spans


def _handler(counts: _Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            counts.add(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._answer("application/x-protobuf", _ANSWER)

        def do_GET(self) -> None:
            with counts.lock:
                stats = {"exports": counts.exports, "spans": counts.spans}
            self._answer("application/json", json.dumps(stats).encode())

        def _answer(self, content_type: str, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), _handler(_Counts())).serve_forever()


if __name__ == "__main__":
    main()
