"""A lean way through for the busy POST endpoints, with every check the full stack makes.

A POST /assess through FastAPI passes CORS, the gate, routing, a Request object and the
exception middleware before the assessment starts; that costs more CPU than the
assessment itself. ``FastPath`` sits outside those layers and answers the endpoints it
is given (exact paths, POST only) itself, making the same checks in the same order
with the same code: the Host check, then the gate (the token before any of the body is
read, the JSON content type, the size limit and the body deadline), then the endpoint's
own handler, whose ``ServiceError`` and ``CalfrulesError`` become the usual
``{"error": ...}`` answers. Anything else (other paths and methods, and any request
carrying an ``Origin`` header while CORS is on, which Starlette's CORS must answer)
goes through the full stack unchanged. An unexpected exception propagates to the app's
own error middleware, as it would from a route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from calfrules.rules.errors import CalfrulesError
from calfrules.service.jwt_auth import JwtVerifier
from calfrules.service.limits import HostCheck, RequestGate, send_error
from calfrules.service.requests import ServiceError

Headers = Mapping[bytes, bytes]
# the request's body and headers (lower-case names, the first of each) -> the answer's JSON and extra headers
Handler = Callable[[bytes, Headers], Awaitable[tuple[bytes, Mapping[str, str]]]]


class FastPath:
    """Answers POST on the paths in ``handlers`` directly; everything else goes to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        handlers: Mapping[str, Handler],
        token: str | None,
        cds_auth: JwtVerifier | None = None,
        max_bytes: int,
        body_timeout_s: float,
        allowed_hosts: Sequence[str],
        cors: bool,
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.gate = RequestGate(app, token=token, max_bytes=max_bytes, body_timeout_s=body_timeout_s, cds_auth=cds_auth)
        self.host_check = HostCheck(app, allowed_hosts) if allowed_hosts else None
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(bytes(name), bytes(value))  # the first of each, as the gate reads them
        if self.cors and b"origin" in headers:
            await self.app(scope, receive, send)
            return
        if self.host_check is not None:
            refused = self.host_check.refusal(headers.get(b"host"))
            if refused is not None:
                await send_error(send, 400, refused)
                return
        body = await self.gate.admit(scope, receive, send)
        if body is None:  # refused (and answered), or the client went away
            return
        try:
            encoded, extra = await handler(body, headers)
        except ServiceError as exc:
            await send_error(send, exc.status, exc.message, exc.headers)
            return
        except CalfrulesError as exc:  # a bad case
            await send_error(send, 422, str(exc))
            return
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": encoded})
