"""The FastAPI application: CDS Hooks, POST /assess, OpenAPI, with limits, auth and audit."""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from calfrules._version import __version__
from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.errors import CalfrulesError
from calfrules.service.audit_port import AuditPort
from calfrules.service.bodies import (
    CdsDiscovery,
    CdsFeedback,
    CdsFeedbackRequest,
    CdsRequest,
    CdsResponse,
    FeedbackResult,
    Health,
)
from calfrules.service.cards import card_for
from calfrules.service.limits import BodyLimit
from calfrules.service.openapi import openapi, request_body, responses
from calfrules.service.requests import SERVICE_ID, ServiceError, case_from_hook, json_body, known_service
from calfrules.service.schemas import ServiceSchemas, checked

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
HOOK = "patient-view"
AUDIT_HEADER = "X-Calfrules-Audit-Id"
AUDIT_FAILED_HEADER = "X-Calfrules-Audit-Failed"
log = logging.getLogger("calfrules.service")


def create_app(
    engine: Engine | None = None,
    *,
    audit: AuditPort | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """Build the service.

    - ``engine``: a loaded engine to share (default: ``load_engine()``, closed on shutdown).
    - ``audit``: a store from ``calfrules.audit.open_audit``; every assessment and every
      CDS Hooks feedback is recorded in it. None keeps no trail (feedback then answers 404).
    - ``token``: when set, every endpoint but /health needs ``Authorization: Bearer <token>``.
    - ``max_body_bytes``: larger request bodies get 413.
    - ``timeout_s``: an assessment not back by then gets 503 (the engine's own isolation
      timeout normally answers first, with a fail-safe incomplete assessment).
    - ``cors_origins``: web origins allowed to call it from a browser (CDS Hooks clients
      running in an EHR's web page); none by default.
    """
    owned = engine is None
    the_engine = engine if engine is not None else load_engine()
    for problem in the_engine.problems:
        log.warning("calfrules: %s", problem)
    schemas = ServiceSchemas(the_engine.vocabulary)
    source_label = f"calfrules {__version__}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            the_engine.close()

    auth = [Depends(_bearer(token))] if token else []  # every route but /health
    app = FastAPI(
        title="calfrules",
        version=__version__,
        description=(
            "Clinical decision support for calf and lower-leg pain in runners. It supports a "
            "clinician's judgement; it does not replace it. A CDS Hooks service plus a plain JSON endpoint."
        ),
        lifespan=lifespan,
    )
    app.state.engine = the_engine
    app.state.audit = audit
    _install_error_handlers(app)

    async def assess(case: Mapping[str, Any], request_id: str) -> tuple[Assessment, str | None]:
        try:
            with anyio.fail_after(timeout_s):
                assessment = await anyio.to_thread.run_sync(the_engine.assess, case, abandon_on_cancel=True)
        except TimeoutError:
            raise ServiceError(
                503,
                f"the assessment did not finish within {timeout_s:g} s; it was not made, so treat the case "
                "as needing same-day assessment and try again",
                {"Retry-After": "5"},
            ) from None
        return assessment, await _record(audit, case, assessment, request_id)

    # response_model=None: the bodies are described in bodies.py (msgspec), not by pydantic
    @app.get(
        "/health",
        summary="Liveness check (no authentication)",
        responses=responses(200, "Health"),
        response_model=None,
    )
    async def health() -> Health:
        return {"status": "ok"}

    @app.post(
        "/assess",
        dependencies=auth,
        summary="Assess one case; answers the assessment (as `calfrules assess --json`)",
        responses=responses(200, "Assessment", errors=(400, 401, 413, 422, 503), token=token),
        openapi_extra=request_body("Case"),
    )
    async def assess_case(request: Request) -> JSONResponse:
        body = await json_body(request)
        the_engine.parse_case(body)  # checks the case against CaseInput and the vocabulary
        request_id = (request.headers.get("x-request-id") or str(uuid.uuid4()))[:200]
        assessment, audit_id = await assess(body, request_id)
        return JSONResponse(assessment.to_dict(), headers=_audit_headers(audit, audit_id))

    @app.get(
        "/cds-services",
        dependencies=auth,
        summary="CDS Hooks discovery",
        responses=responses(200, "CdsDiscovery", errors=(401,), token=token),
        response_model=None,
    )
    async def discovery() -> CdsDiscovery:
        return {
            "services": [
                {
                    "hook": HOOK,
                    "id": SERVICE_ID,
                    "title": "Calf and lower-leg pain in runners",
                    "description": (
                        "Triage level, conditions to consider and advice with sources for calf or lower-leg "
                        "pain in a runner. Send the findings in context.findings (finding id -> value, as "
                        "`calfrules vocab` lists them), or a whole case in prefetch.calfrulesCase."
                    ),
                    "usageRequirements": "The findings recorded for this visit; see `calfrules schema case`.",
                }
            ]
        }

    @app.post(
        "/cds-services/{service_id}",
        dependencies=auth,
        summary="CDS Hooks service call: one card for the case",
        responses=responses(200, "CdsResponse", errors=(400, 401, 404, 413, 422, 503), token=token),
        openapi_extra=request_body("CdsRequest"),
    )
    async def cds_call(service_id: str, request: Request) -> JSONResponse:
        known_service(service_id)
        body = await json_body(request)
        case = case_from_hook(body)
        the_engine.parse_case(case)  # the engine's messages are the most helpful: check the case first
        hook_request = checked(body, CdsRequest)
        request_id = (hook_request["hookInstance"] or str(uuid.uuid4()))[:200]  # the audit trail keeps 200 characters
        assessment, audit_id = await assess(case, request_id)
        card = card_for(assessment, uuid=audit_id or str(uuid.uuid4()), source_label=source_label)
        cards: CdsResponse = {"cards": [card]}
        return JSONResponse(cards, headers=_audit_headers(audit, audit_id))

    @app.post(
        "/cds-services/{service_id}/feedback",
        dependencies=auth,
        summary="CDS Hooks feedback on a card; recorded in the audit trail",
        responses=responses(200, "FeedbackResult", errors=(400, 401, 404, 413, 422, 503), token=token),
        openapi_extra=request_body("CdsFeedbackRequest"),
        response_model=None,
    )
    async def cds_feedback(service_id: str, request: Request) -> FeedbackResult:
        known_service(service_id)
        body = await json_body(request)
        checked(body, CdsFeedbackRequest)  # then the body as sent is recorded, keys the description does not name too
        items: list[CdsFeedback] = body["feedback"]
        if audit is None:
            raise ServiceError(404, "this service keeps no audit trail, so it knows no card to record feedback on")
        store = audit

        def record_all() -> int:
            unknown = [item["card"] for item in items if store.get(item["card"]) is None]
            if unknown:
                raise ServiceError(404, f"unknown card(s): {', '.join(u[:60] for u in unknown[:5])}")
            for item in items:
                override = item.get("overrideReason") or {}
                store.add_feedback(  # one bad item leaves the earlier ones recorded: each is its own fact
                    item["card"],
                    outcome=item["outcome"],
                    comment=override.get("userComment"),
                    clinician=item.get("clinician"),
                    extra={
                        "service": service_id,
                        "outcomeTimestamp": item["outcomeTimestamp"],
                        "overrideReason": override.get("reason"),
                        "acceptedSuggestions": item.get("acceptedSuggestions", []),
                    },
                )
            return len(items)

        return {"recorded": await anyio.to_thread.run_sync(record_all)}

    app.openapi = lambda: openapi(app, schemas)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=[AUDIT_HEADER, AUDIT_FAILED_HEADER],
        )
    return app


# --- helpers ----------------------------------------------------------------------
def _bearer(token: str | None) -> Any:
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    scheme = HTTPBearer(auto_error=False, description="the token given to `calfrules serve --token`")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:  # noqa: B008
        given = credentials.credentials if credentials is not None else ""
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise ServiceError(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )

    return check


async def _record(
    audit: AuditPort | None, case: Mapping[str, Any], assessment: Assessment, request_id: str
) -> str | None:
    if audit is None:
        return None
    try:
        rid: str = await anyio.to_thread.run_sync(
            lambda: audit.record(case=case, assessment=assessment, channel="service", request_id=request_id)
        )
        return rid
    except Exception:
        # The clinical answer is never withheld because the trail failed; the failure is logged loudly.
        log.exception("calfrules: could not record request %s in the audit trail", request_id)
        return None


def _audit_headers(audit: AuditPort | None, audit_id: str | None) -> dict[str, str]:
    """The record's id; or, when the trail is kept but this write failed, say so."""
    if audit_id:
        return {AUDIT_HEADER: audit_id}
    return {AUDIT_FAILED_HEADER: "not recorded: see the service log"} if audit is not None else {}


def _install_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(CalfrulesError)  # a bad case, or feedback the audit trail refuses
    async def case_error(request: Request, exc: CalfrulesError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return error(422, "; ".join(problems[:5]) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint {request.url.path[:80]!r}; see /docs for the API"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path[:80]!r}; see /docs for the API"
        return error(exc.status_code, message, exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("calfrules: internal error on %s %s", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the service log has the details")
