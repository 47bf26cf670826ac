"""Pure ASGI middlewares (Starlette's BaseHTTPMiddleware costs about a millisecond a request):
request latency per route into the metrics, an early 413 for bodies announced too large, and the
security headers."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fingercount.errors import FingercountError, OverloadedError, PayloadTooLargeError
from fingercount.serving.admission import Admission
from fingercount.serving.metrics import ServingMetrics


class ObserveMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: ServingMetrics, max_body: int, admission: Admission, body_timeout: float = 30.0
    ) -> None:
        self.app, self.metrics, self.max_body, self.admission = app, metrics, max_body, admission
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await self._reject(
                send, PayloadTooLargeError(f"the request body is {int(length)} bytes; the limit is {self.max_body}")
            )
            self._observe(scope, 413, started)
            return
        if scope["path"] == "/predict" and scope["method"] == "POST" and self.admission.would_shed():
            await self._reject(send, self.admission.shed())  # before reading a body it would not process
            self._observe(scope, 503, started, "/predict")  # not routed yet
            return
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        body_done = False

        async def receive_in_time() -> Message:
            """A body that stalls (slowloris) ends with 408 instead of holding the connection forever."""
            nonlocal body_done
            if body_done:
                return await receive()  # after the body: waiting for a disconnect is not a stall
            try:
                with anyio.fail_after(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                # An HTTPException: FastAPI re-raises those from body parsing (others become a 400).
                raise HTTPException(408, f"the request body stalled for {self.body_timeout:g} s") from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, receive_in_time, record)
        finally:
            self._observe(scope, status, started)

    def _observe(self, scope: Scope, status: int, started: float, path: str | None = None) -> None:
        route: Any = scope.get("route")
        path = path or getattr(route, "path", "unmatched")
        self.metrics.requests.labels(path, str(status)).observe(time.perf_counter() - started)

    async def _reject(self, send: Send, error: FingercountError) -> None:
        self.metrics.errors.labels(error.code).inc()
        body = json.dumps(error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if isinstance(error, OverloadedError):
            headers.append((b"retry-after", str(error.retry_after).encode()))
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# The dashboard loads nothing from elsewhere and runs no inline script or style. /docs and /redoc
# (FastAPI's Swagger UI and ReDoc) load from a CDN with an inline script, so they get no CSP.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeadersMiddleware:
    """Security headers on every HTTP response (pure ASGI: streaming responses keep streaming)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = (
            []
            if path.startswith(("/docs", "/redoc"))
            else [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_ALWAYS, *csp]
            await send(message)

        await self.app(scope, receive, with_headers)
