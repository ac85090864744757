"""``/ok``, ``/varz`` and ``/metrics`` over HTTP, for any component.

``serve_http(component, port)`` starts a small threaded HTTP server (the standard
library's) in a daemon thread and returns at once:

- ``GET /ok``: 200 with ``{"status": "SERVING", "message": "ok", ...}`` when the health
  check passes, 503 with ``"status": "NOT_SERVING"`` and the reason when it does not;
- ``GET /varz``: the component's identity, uptime and variables as JSON;
- ``GET /metrics``: Prometheus text exposition of the component's registry.

Any other path is 404 and any other method 405, both with a JSON ``error``.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from mlspec.endpoints.component import Component

__all__ = ["EndpointServer", "serve_http"]

log = logging.getLogger("mlspec.endpoints")
PATHS = ("/ok", "/varz", "/metrics")


class EndpointServer:
    """A running HTTP endpoint server; ``close()`` (or leaving ``with``) stops it."""

    def __init__(self, component: Component, host: str, port: int) -> None:
        """Binds ``host:port`` (0 picks a free port) and starts serving in a thread."""
        handler = type("Handler", (_Handler,), {"component": component})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlspec-endpoints", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL, for example ``http://127.0.0.1:50052``."""
        # A wildcard bind is reached on the loopback address.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        """Stops serving and releases the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> EndpointServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_http(component: Component, port: int = 0, host: str = "127.0.0.1") -> EndpointServer:
    """Serves the component's ``/ok``, ``/varz`` and ``/metrics`` on ``host:port``.

    Raises ``OSError`` when the address cannot be bound (for example, the port is taken).
    """
    return EndpointServer(component, host, port)


class _Handler(BaseHTTPRequestHandler):
    component: Component
    server_version = "mlspec-endpoints"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_POST(self) -> None:
        self._not_allowed()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/ok":
            health = self.component.health()
            status = HTTPStatus.OK if health.ok else HTTPStatus.SERVICE_UNAVAILABLE
            now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            document: Any = {
                "status": "SERVING" if health.ok else "NOT_SERVING",
                "message": health.message,
                "check_time": now,
            }
            self._send(status, "application/json", _json(document), body)
        elif path == "/varz":
            self._send(HTTPStatus.OK, "application/json", _json(self.component.varz()), body)
        elif path == "/metrics":
            text = self.component.prometheus_text().encode()
            self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, text, body)
        else:
            error = {"error": f"no endpoint {path}; the endpoints are {', '.join(PATHS)}"}
            self._send(HTTPStatus.NOT_FOUND, "application/json", _json(error), body)

    def _not_allowed(self) -> None:
        error = {"error": f"{self.command} is not allowed; use GET"}
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED, "application/json", _json(error), True, "GET, HEAD"
        )

    def _send(
        self, status: HTTPStatus, content_type: str, payload: bytes, body: bool, allow: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
