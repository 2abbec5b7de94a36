"""What every request passes before the app sees it, as plain ASGI so nothing is parsed first.

- ``HostCheck``: the Host header must name this service (``--allowed-host``), which stops
  DNS rebinding (a web page whose own name now points at 127.0.0.1).
- ``RequestGate``: the bearer token (on the CDS Hooks endpoints, when trusted issuers are
  configured, the EHR's signed JWT instead: ``jwt_auth``), then a JSON content type for a
  body, then the size limit and a deadline for the whole body, in that order: a request
  without the token is refused before any of its body is read, and a cross-site
  ``text/plain`` form post is refused (415) before it can be assessed or recorded.
- ``JsonCors``: Starlette's CORS, with its refusals in the service's JSON error shape.

Every refusal here is ``{"error": "..."}``, like the app's own errors.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calfrules.service.jwt_auth import AuthRefused, JwtVerifier, is_cds_path

PUBLIC_PATHS = frozenset({"/health"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def send_error(send: Send, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
    """Answer ``{"error": message}`` straight through ASGI."""
    payload = json.dumps({"error": message}).encode()
    raw: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


class HostCheck:
    """Answers 400 unless the Host header is one of ``allowed`` (``*.example.org`` allows its subdomains)."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = [host.lower() for host in allowed]

    def allows(self, host: str) -> bool:
        name = _host_name(host)
        return any(
            pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
            for pattern in self.allowed
        )

    def refusal(self, host_header: bytes | None) -> str | None:
        """Why a request with this Host header is refused, or None when it is answered."""
        host = (host_header or b"").decode("latin-1")
        if self.allows(host):
            return None
        shown = host[:80] or "(none)"
        return f"the Host header {shown!r} is not one this service answers to (--allowed-host)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(_header(scope, b"host"))
            if refused is not None:
                await send_error(send, 400, refused)
                return
        await self.app(scope, receive, send)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGate:
    """The token, the content type, the size limit and the body deadline, before any parsing.

    The body (at most ``max_bytes``) is read whole here, within ``body_timeout_s``, and
    handed to the app from memory: a client that trickles its body is answered 408 and
    its connection closed. With ``cds_auth``, the CDS Hooks endpoints take the EHR's signed
    JWT and not the static token (which stays for POST /assess and the OpenAPI description).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_bytes: int,
        body_timeout_s: float,
        cds_auth: JwtVerifier | None = None,
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.cds_auth = cds_auth
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            refusal = await self._unauthorised(scope) or self._refusal(scope)
            if refusal is not None:
                await send_error(send, *refusal)
                return
            await self.app(scope, receive, send)
            return
        body = await self.admit(scope, receive, send)
        if body is None:  # refused (and answered), or the client went away
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body of a request that passes every check; None once a refusal is answered."""
        refusal = await self._unauthorised(scope) or self._refusal(scope)
        if refusal is not None:
            await send_error(send, *refusal)
            return None
        try:
            async with asyncio.timeout(self.body_timeout_s):  # plain asyncio: no anyio cancel scope per request
                return await self._read_body(receive)
        except TimeoutError:
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            await send_error(send, 408, message, {"Connection": "close"})
        except _TooLarge:
            await send_error(send, 413, self._too_large(), {"Connection": "close"})
        return None

    async def _unauthorised(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """Why the caller is not let in (401, or 503 when an issuer's keys cannot be fetched), or None."""
        if scope["path"] in PUBLIC_PATHS:
            return None
        if self.cds_auth is not None and is_cds_path(scope["path"]):
            try:  # in a thread: it may fetch the issuer's JWKS
                await asyncio.to_thread(self.cds_auth.verify, _header(scope, b"authorization"), scope["path"])
            except AuthRefused as refused:
                return refused.status, refused.message, refused.headers
            return None
        if self.token is not None:
            given = _header(scope, b"authorization") or b""
            scheme, _, credentials = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.token):
                message = "missing or wrong bearer token: send 'Authorization: Bearer <token>'"
                return 401, message, {"WWW-Authenticate": "Bearer"}
        return None

    def _refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        if scope["method"] in BODY_METHODS:
            content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
            media = content_type.split(";", 1)[0].strip().lower()
            if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
                shown = f"{media[:60]!r}" if media else "none"
                return 415, f"the body must be JSON: send 'Content-Type: application/json' (got {shown})", {}
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                return 413, self._too_large(), {"Connection": "close"}
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes are accepted"


class _TooLarge(Exception):
    pass


class JsonCors(CORSMiddleware):
    """CORS as Starlette does it; a refused preflight answers the JSON error body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace").strip() or "refused"
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
        message = f"cross-origin request refused: {reason.lower()} (allowed with --cors-origin)"
        return JSONResponse({"error": message}, status_code=response.status_code, headers=headers)


class RateLimitedLog:
    """One log line per kind of failure per ``interval_s``, with the count of repeats held back.

    A failing audit database fails every request: a traceback per request would bury the
    log. The first failure is logged at once; repeats within the interval are counted and
    reported with the next line.
    """

    def __init__(
        self, logger: logging.Logger, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def error(self, kind: str, message: str) -> None:
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        suffix = f" ({held} more like it in the last {self.interval_s:g} s not logged)" if held else ""
        self.logger.error("%s%s", message, suffix)
