"""Running the service on uvicorn: a deadline for request headers, and one app per worker.

uvicorn times out an idle keep-alive connection, but not a client that sends its headers
one byte at a time (slowloris): every byte it gets resets nothing and the request never
starts. ``DeadlineHttpTools`` and ``DeadlineH11`` are uvicorn's own HTTP protocols with a
deadline from the first byte of a request (or the connection's opening) to the end of its
headers; past it the client gets 408 and the connection is closed. The body has its own
deadline in ``limits.RequestGate``.

With ``calfrules serve --workers N`` uvicorn starts N processes, each calling
:func:`worker_app`, which builds its own engine (and engine child) and its own audit
store from the settings the CLI put in ``$CALFRULES_SERVE_SETTINGS``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from calfrules.rules.errors import CalfrulesError

DEFAULT_HEADER_TIMEOUT_S = 10.0
SETTINGS_ENV = "CALFRULES_SERVE_SETTINGS"
CONFIG_ATTRIBUTE = "calfrules_header_timeout_s"  # set on uvicorn's Config, which workers receive pickled
_TIMEOUT_BODY = json.dumps({"error": "the request headers did not arrive in time"}).encode()
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


class _HeaderDeadline:
    """Mixed in before a uvicorn HTTP protocol class, whose methods it extends."""

    # uvicorn's protocol attributes this uses
    cycle: Any
    transport: Any
    app: Any
    config: Any
    _deadline: asyncio.TimerHandle | None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._deadline = None
        headers_done = self._disarm
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:  # called once the headers are in
            headers_done()
            await inner(scope, receive, send)

        self.app = app
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        seconds = getattr(self.config, CONFIG_ATTRIBUTE, DEFAULT_HEADER_TIMEOUT_S)
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or not (self.cycle is None or self.cycle.response_complete):
            return
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


class DeadlineH11(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DeadlineHttpTools(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol (the faster parser) with the header deadline."""

    HTTP_PROTOCOL: type[asyncio.Protocol] = DeadlineHttpTools
except ImportError:  # httptools not installed: the pure-Python h11
    HTTP_PROTOCOL = DeadlineH11


def settle_heap() -> None:
    """Keep what start-up built (engine, rulesets, FastAPI) out of garbage collection from now on.

    A request leaves little cyclic garbage, yet every older-generation collection walked that
    whole start-up heap again (about 2% of the server's CPU under load).
    """
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process: its own engine and audit store, closed when it stops."""
    from calfrules.engine.engine import load_engine
    from calfrules.knowledge import ruleset_io
    from calfrules.service.app import create_app

    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise CalfrulesError(f"${SETTINGS_ENV} is not set: start workers with `calfrules serve --workers N`")
    settings: dict[str, Any] = json.loads(raw)
    engine = load_engine(rulesets=[ruleset_io.load(path) for path in settings["rulesets"]], screen=settings["screen"])
    store = None
    if settings["audit_url"] is not None:
        from calfrules.audit import open_audit

        store = open_audit(settings["audit_url"])
    app = create_app(engine, audit=store, **settings["app"])
    settle_heap()
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(the_app: Any) -> AsyncIterator[Any]:
        async with inner(the_app) as state:
            yield state
        engine.close()
        if store is not None:
            store.close()

    app.router.lifespan_context = lifespan
    return app
