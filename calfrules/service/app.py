"""The FastAPI application: CDS Hooks, POST /assess, OpenAPI, with limits, auth and audit.

Each request's work (JSON parsing, checking, the assessment, the audit write, encoding the
answer) runs in one worker thread, so the event loop only moves bytes; the answer is
encoded by msgspec straight from the Assessment. POST /assess and the CDS service call
take ``fastpath.FastPath``, which makes the same checks without FastAPI's layers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from calfrules._version import __version__
from calfrules.audit.records import AnsweredAssessment
from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine, load_engine
from calfrules.formats.code_map import CodeMap, load_code_map
from calfrules.rules.errors import CalfrulesError
from calfrules.service.audit_port import AuditPort, UnrecordedCards, audit_health, record_answer
from calfrules.service.bodies import (
    CdsDiscovery,
    CdsResponse,
)
from calfrules.service.card_routes import base_url, install_card_routes
from calfrules.service.cards import card_for
from calfrules.service.fastpath import FastPath, Headers
from calfrules.service.fhir_fetch import PREFETCH, FhirFetcher, fhir_findings, prefetched_resources, server_of
from calfrules.service.issuers import TrustedIssuers, load_issuers
from calfrules.service.jwt_auth import JwtVerifier
from calfrules.service.limits import HostCheck, JsonCors, RateLimitedLog, RequestGate
from calfrules.service.openapi import openapi, request_body, responses
from calfrules.service.requests import (
    HOOK,
    SERVICE_ID,
    ServiceError,
    assess_case_of,
    beyond_demographics,
    hook_call,
    known_service,
    merged_findings,
    parse_json,
)
from calfrules.service.schemas import ServiceSchemas

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_BODY_TIMEOUT_S = 10.0
AUDIT_HEADER = "X-Calfrules-Audit-Id"
AUDIT_FAILED_HEADER = "X-Calfrules-Audit-Failed"
POST_ERRORS = (400, 401, 408, 413, 415, 422, 503)
HOOK_ERRORS = (*POST_ERRORS, 404, 412)
REQUEST_THREADS = 40  # as anyio's default: requests waiting on a group commit each hold a thread
log = logging.getLogger("calfrules.service")
T = TypeVar("T")


def create_app(
    engine: Engine | None = None,
    *,
    audit: AuditPort | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] = (),
    public_url: str | None = None,
    code_map: CodeMap | str | os.PathLike[str] | None = None,
    fhir_servers: Sequence[str] = (),
    cds_issuers: TrustedIssuers | str | os.PathLike[str] | None = None,
) -> FastAPI:
    """Build the service.

    - ``engine``: a loaded engine to share (default: ``load_engine()``, closed on shutdown).
    - ``audit``: a store from ``calfrules.audit.open_audit``; every assessment and every
      CDS Hooks feedback is recorded in it. None keeps no trail (feedback then answers 404).
    - ``token``: when set, every endpoint but /health (the OpenAPI description too) needs
      ``Authorization: Bearer <token>``, checked before the body is read.
    - ``max_body_bytes``: larger request bodies get 413.
    - ``timeout_s``: an assessment not back by then gets 503 (the engine's own isolation
      timeout normally answers first, with a fail-safe incomplete assessment).
    - ``body_timeout_s``: a request body not fully arrived by then gets 408.
    - ``cors_origins``: web origins allowed to call it from a browser (CDS Hooks clients
      running in an EHR's web page); none by default.
    - ``allowed_hosts``: the Host header values it answers (``*.example.org`` allowed);
      empty: any (``calfrules serve`` always sets some on loopback).
    - ``public_url``: the service's URL as EHRs reach it (https://cds.example.org), for the
      cards' ``source.url`` and ``links``; default: the issuers file's ``base_url`` when
      ``cds_issuers`` is given, else http:// and the request's Host header.
    - ``cds_issuers``: the EHRs trusted to sign CDS Hooks requests (a TOML file or
      ``issuers.load_issuers``'s result); the /cds-services endpoints then need their signed
      JWT (``jwt_auth``) instead of ``token``.
    - ``code_map``: the clinic's map from its EHR's codes to finding ids (a CodeMap, or the
      path of its TOML file), for the FHIR data of CDS Hooks calls.
    - ``fhir_servers``: the FHIR server base URLs a CDS Hooks call may have the service read
      missing prefetch from (``fhirServer``); none: it reads from none (412 instead).
    """
    owned = engine is None
    the_engine = engine if engine is not None else load_engine()
    for problem in the_engine.problems:
        log.warning("calfrules: %s", problem)
    schemas = ServiceSchemas(the_engine.vocabulary)
    clinic_codes = (
        code_map
        if isinstance(code_map, CodeMap) or code_map is None
        else load_code_map(str(code_map), the_engine.vocabulary)  # a wrong finding id fails here, not per call
    )
    trusted = load_issuers(cds_issuers) if isinstance(cds_issuers, str | os.PathLike) else cds_issuers
    if public_url is None and trusted is not None:
        public_url = trusted.base_url  # the URL the EHR signs its tokens for
    fetcher = FhirFetcher(fhir_servers)
    source_label = f"calfrules {__version__}"
    failures = RateLimitedLog(log)
    unrecorded = UnrecordedCards()  # cards answered while their audit write failed: feedback on them is 409
    threads: list[ThreadPoolExecutor] = []  # started on first use; each lifespan's end stops it

    def pool() -> ThreadPoolExecutor:
        if not threads:
            threads.append(ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="calfrules-request"))
        return threads[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        while threads:
            threads.pop().shutdown(wait=False, cancel_futures=True)
        if owned:
            the_engine.close()

    app = FastAPI(
        title="calfrules",
        version=__version__,
        description=(
            "Clinical decision support for calf and lower-leg pain in runners. It supports a "
            "clinician's judgement; it does not replace it. A CDS Hooks service plus a plain JSON endpoint."
        ),
        lifespan=lifespan,
        docs_url=None,  # no Swagger UI: it would load its scripts from a CDN
        redoc_url=None,
        redirect_slashes=False,  # a redirect would be built from the Host header
    )
    app.state.engine = the_engine
    app.state.audit = audit
    _install_error_handlers(app)

    async def in_thread(work: Callable[[threading.Event], T]) -> T:
        """``work`` in a worker thread, within ``timeout_s``; ``given_up`` is set if it is abandoned."""
        given_up = threading.Event()
        try:
            async with asyncio.timeout(timeout_s):  # plain asyncio and a plain pool: the cheapest hand-off
                return await asyncio.get_running_loop().run_in_executor(pool(), work, given_up)
        except TimeoutError:
            given_up.set()
            raise ServiceError(
                503,
                f"the assessment did not finish within {timeout_s:g} s; it was not made, so treat the case "
                "as needing same-day assessment and try again",
                {"Retry-After": "5"},
            ) from None

    def assess_and_record(
        case: Mapping[str, Any], request_id: str, given_up: threading.Event, record_id: str | None = None
    ) -> tuple[Assessment, bytes, str | None]:
        """The assessment, its JSON, and the audit record's id (None: not recorded, see the log).

        ``record_id``: the id to record under (a card's uuid, chosen first); default a new one.
        """
        assessment = the_engine.assess(case)  # CaseError (422) for a bad case
        encoded = assessment.to_json()  # the same JSON as to_dict(), many times faster
        if audit is None or given_up.is_set():  # an abandoned answer is never given, so not recorded
            return assessment, encoded, None
        chosen = record_id or str(uuid.uuid4())
        try:
            # recorded as the very bytes answered: no second encoding, no to_dict()
            answered = AnsweredAssessment(assessment, encoded)
            rid = record_answer(
                audit, record_id=chosen, case=case, assessment=answered, channel="service", request_id=request_id
            )
            return assessment, encoded, rid
        except Exception as exc:
            unrecorded.add(chosen)
            # The clinical answer is never withheld because the trail failed: it goes out
            # flagged (X-Calfrules-Audit-Failed), and the failure is logged, rate-limited.
            failures.error(
                f"audit:{type(exc).__name__}",
                f"calfrules: could not record request {request_id[:80]} in the audit trail: "
                f"{type(exc).__name__}: {str(exc)[:300]}",
            )
            return assessment, encoded, None

    # response_model=None: the bodies are described in bodies.py (msgspec), not by pydantic
    @app.head("/health", include_in_schema=False)  # load balancers often probe with HEAD
    @app.get(
        "/health",
        summary="Liveness and the audit trail's state (no authentication); 503 when the trail cannot record",
        responses=responses(200, "Health", errors=(503,), error_schema="Health"),
        response_model=None,
    )
    async def health() -> JSONResponse:
        trail = audit_health(audit)
        return JSONResponse(
            {"status": trail["status"], "audit": trail}, status_code=503 if trail["status"] == "failed" else 200
        )

    @app.post(
        "/assess",
        summary="Assess one case (or a FHIR QuestionnaireResponse answering calfrules' Questionnaire); "
        "answers the assessment (as `calfrules assess --json`)",
        responses=responses(200, "Assessment", errors=POST_ERRORS, token=token),
        openapi_extra=request_body("Case", "QuestionnaireResponse"),
    )
    async def assess_case(request: Request) -> Response:
        raw = await request.body()  # already read by the gate, within its limits
        encoded, headers = await answer_assess(
            raw, {b"x-request-id": request.headers.get("x-request-id", "").encode("latin-1")}
        )
        return Response(encoded, media_type="application/json", headers=headers)

    async def answer_assess(raw: bytes, headers: Headers) -> tuple[bytes, dict[str, str]]:
        """POST /assess's answer and its headers, for the route and the fast path alike."""
        request_id = (headers.get(b"x-request-id", b"").decode("latin-1") or str(uuid.uuid4()))[:200]

        def work(given_up: threading.Event) -> tuple[bytes, str | None]:
            case = assess_case_of(parse_json(raw), the_engine.vocabulary)
            _, encoded, audit_id = assess_and_record(case, request_id, given_up)
            return encoded, audit_id

        encoded, audit_id = await in_thread(work)
        return encoded, _audit_headers(audit, audit_id)

    @app.get(
        "/cds-services",
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
                        "pain in a runner, from this visit's Observations and QuestionnaireResponses and the "
                        "patient's Conditions (LOINC, SNOMED CT, urn:calfrules:finding codes, or the clinic's "
                        "code map). Extension: context.findings (finding id -> value, as `calfrules vocab` lists them)."
                    ),
                    "prefetch": dict(PREFETCH),
                    "usageRequirements": (
                        "patient-view with context.encounterId: the observations are this visit's. Every key is "
                        "read (null: no data); one left out is read from fhirServer if the service was started "
                        "with --fhir-server for it, else the answer is 412."
                    ),
                }
            ]
        }

    @app.post(
        "/cds-services/{service_id}",
        summary="CDS Hooks service call: one card for the case",
        responses=responses(200, "CdsResponse", errors=HOOK_ERRORS, token=token),
        openapi_extra=request_body("CdsRequest"),
    )
    async def cds_call(service_id: str, request: Request) -> Response:
        known_service(service_id)
        host = request.headers.get("host", "").encode("latin-1")  # for the card's links, as the fast path has it
        encoded, headers = await answer_hook(await request.body(), {b"host": host})
        return Response(encoded, media_type="application/json", headers=headers)

    async def answer_hook(raw: bytes, headers: Headers) -> tuple[bytes, dict[str, str]]:
        """The CDS service call's answer and its headers, for the route and the fast path alike."""

        def work(given_up: threading.Event) -> tuple[bytes, str | None]:
            body = parse_json(raw)
            call = hook_call(body)
            if call.extension_findings is not None:  # a bad extension is a 422 before anything is fetched
                the_engine.parse_case({"findings": call.extension_findings})
            server = server_of(body)
            resources = [] if call.findings_only else prefetched_resources(call.prefetch, call.context, server, fetcher)
            fhir = fhir_findings(resources, the_engine.vocabulary, clinic_codes)
            call.check_patient(fhir.patient_id)
            findings = merged_findings(call.extension_findings, fhir.findings, the_engine.vocabulary)
            if not beyond_demographics(findings, the_engine.vocabulary):  # nothing to advise on: no card (the spec)
                return msgspec.json.encode({"cards": []}), None
            case = call.case(findings)
            the_engine.parse_case(case)  # a bad finding in context.findings: 422 before anything is recorded
            card_uuid = str(uuid.uuid4())  # the audit record's id: chosen before the write, kept by a retry
            assessment, _, audit_id = assess_and_record(case, call.hook_instance, given_up, card_uuid)
            card = card_for(
                assessment,
                uuid=audit_id or card_uuid,
                source_label=source_label,
                base_url=base_url(public_url, headers),
                recorded=audit_id is not None,  # no link to a record that was not written
                patient_id=call.context["patientId"],
                unknown_codes=fhir.unknown,
            )
            cards: CdsResponse = {"cards": [card]}
            return msgspec.json.encode(cards), audit_id

        encoded, audit_id = await in_thread(work)
        return encoded, _audit_headers(audit, audit_id)

    install_card_routes(
        app, engine=the_engine, audit=audit, unrecorded=unrecorded, in_thread=in_thread, token=token
    )  # GET /rulesets, /rulesets/{id}, /assessments/{uuid}; POST .../feedback

    cds_auth = JwtVerifier(trusted) if trusted is not None else None  # one replay cache for both gates
    app.openapi = lambda: openapi(app, schemas, secured=token is not None or trusted is not None)  # type: ignore[method-assign]
    # added innermost first: a request meets the Host check, then CORS, then the gate
    app.add_middleware(
        RequestGate, token=token, max_bytes=max_body_bytes, body_timeout_s=body_timeout_s, cds_auth=cds_auth
    )
    if cors_origins:
        app.add_middleware(
            JsonCors,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=[AUDIT_HEADER, AUDIT_FAILED_HEADER],
        )
    if allowed_hosts:
        app.add_middleware(HostCheck, allowed=list(allowed_hosts))
    app.add_middleware(
        FastPath,
        handlers={"/assess": answer_assess, f"/cds-services/{SERVICE_ID}": answer_hook},
        token=token,
        cds_auth=cds_auth,
        max_bytes=max_body_bytes,
        body_timeout_s=body_timeout_s,
        allowed_hosts=list(allowed_hosts),
        cors=bool(cors_origins),
    )
    return app


# --- helpers ----------------------------------------------------------------------
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
            message = f"no such endpoint {request.url.path[:80]!r}; GET /openapi.json describes the API"
        elif exc.status_code == 405:
            message = (
                f"{request.method} is not allowed on {request.url.path[:80]!r}; GET /openapi.json describes the API"
            )
        return error(exc.status_code, message, exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("calfrules: internal error on %s %s", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the service log has the details")
