"""The routes behind a card: its source (GET /rulesets/{id}), its link (GET /assessments/{uuid})
and CDS Hooks feedback on it, checked against what the card offered.

Feedback is refused whole (422, one line, nothing recorded) when an item's
``outcomeTimestamp`` is not an ISO 8601 date-time with a UTC offset, when it accepts a
suggestion the card did not offer (or more than one on an ``at-most-one`` card), when its
override reason is not one of the card's ``overrideReasons``, or when it pairs accepted
suggestions with an override. A card that is not in the trail: 404; one that was answered
while its audit write failed (flagged ``X-Calfrules-Audit-Failed``): 409, as there is no
record to add feedback to; no trail kept at all: 404.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from fastapi import FastAPI, Request
from starlette.responses import Response

from calfrules.engine.engine import Engine
from calfrules.knowledge.registry import RulesetEntry
from calfrules.service.audit_port import AuditPort, UnrecordedCards
from calfrules.service.bodies import CdsFeedback, CdsFeedbackRequest, FeedbackResult, RulesetDoc, RulesetSummary
from calfrules.service.openapi import request_body, responses
from calfrules.service.requests import ServiceError, known_service, parse_json
from calfrules.service.schemas import checked
from calfrules.service.suggestions import OVERRIDE_CODES, OVERRIDE_SYSTEM, offer_from_record

T = TypeVar("T")
InThread = Callable[[Callable[[threading.Event], T]], Awaitable[T]]
POST_ERRORS = (400, 401, 404, 408, 409, 413, 415, 422, 503)
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:?\d\d)")


def install_card_routes(
    app: FastAPI,
    *,
    engine: Engine,
    audit: AuditPort | None,
    unrecorded: UnrecordedCards,
    in_thread: InThread[Any],
    token: str | None,
) -> None:
    @app.get(
        "/rulesets",
        summary="The rulesets loaded: id, version, title, plugin and content hash",
        responses=responses(200, "RulesetListing", errors=(401,), token=token),
        response_model=None,
    )
    async def rulesets() -> Response:
        listing = {"rulesets": [_summary(entry) for entry in engine.rulesets]}
        return Response(msgspec.json.encode(listing), media_type="application/json")

    @app.get(
        "/rulesets/{ruleset_id}",
        summary="A ruleset's documentation (a card's source.url): its rules, floor entries and sources",
        responses=responses(200, "RulesetDoc", errors=(401, 404), token=token),
        response_model=None,
    )
    async def ruleset(ruleset_id: str) -> Response:
        entry = next((e for e in engine.rulesets if e.ruleset.id == ruleset_id), None)
        if entry is None:
            raise ServiceError(404, f"no ruleset {ruleset_id[:60]!r}; GET /rulesets lists them")
        return Response(msgspec.json.encode(_doc(entry)), media_type="application/json")

    @app.get(
        "/assessments/{card_id}",
        summary="The assessment a card was made from, as recorded in the audit trail (a card's link)",
        responses=responses(200, "Assessment", errors=(401, 404, 409), token=token),
        response_model=None,
    )
    async def recorded_assessment(card_id: str) -> Response:
        def look_up(_: threading.Event) -> Any:
            return getattr(_record_of(audit, unrecorded, card_id), "assessment", None)

        found = await in_thread(look_up)
        if not isinstance(found, Mapping):  # an audit port of the caller's own that keeps no assessment
            raise ServiceError(404, f"the audit store keeps no assessment for card {card_id[:60]!r}")
        return Response(msgspec.json.encode(found), media_type="application/json")

    @app.post(
        "/cds-services/{service_id}/feedback",
        summary="CDS Hooks feedback on a card, checked against what the card offered; recorded in the audit trail",
        responses=responses(200, "FeedbackResult", errors=POST_ERRORS, token=token),
        openapi_extra=request_body("CdsFeedbackRequest"),
        response_model=None,
    )
    async def cds_feedback(service_id: str, request: Request) -> FeedbackResult:
        known_service(service_id)
        raw = await request.body()

        def record_all(_: threading.Event) -> int:
            body = parse_json(raw)
            checked(body, CdsFeedbackRequest)  # then the body as sent is recorded, keys not described too
            items: list[CdsFeedback] = body["feedback"]
            for index, item in enumerate(items):
                check_timestamp(index, item["outcomeTimestamp"])
            if audit is None:
                raise ServiceError(404, "this service keeps no audit trail, so it knows no card to record feedback on")
            records = _records_of(audit, unrecorded, {item["card"] for item in items})
            for index, item in enumerate(items):
                check_offered(index, item, getattr(records[item["card"]], "assessment", None))
            for item in items:
                override = item.get("overrideReason") or {}
                audit.add_feedback(  # one failed write leaves the earlier ones recorded: each is its own fact
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

        return {"recorded": await in_thread(record_all)}


def check_timestamp(index: int, value: str) -> None:
    """An ISO 8601 date and time with a UTC offset (RFC 3339), else ServiceError 422."""
    text = value.strip()
    ok = _DATE_TIME.fullmatch(text) is not None
    if ok:
        normal = text.replace("t", "T").replace("z", "+00:00").replace("Z", "+00:00").replace(":60", ":59")
        try:
            datetime.fromisoformat(normal)
        except ValueError:  # month 13, 25 o'clock, ...
            ok = False
    if not ok:
        raise ServiceError(
            422,
            f"feedback.{index}.outcomeTimestamp: {value[:60]!r} is not an ISO 8601 date and time with a UTC offset; "
            "send e.g. 2026-11-26T09:30:00Z",
        )


def check_offered(index: int, item: CdsFeedback, assessment: Any) -> None:
    """The item names only suggestions and an override reason its card offered; else ServiceError 422."""
    where = f"feedback.{index}"
    card = item["card"]
    accepted = [choice["id"] for choice in item.get("acceptedSuggestions", [])]
    override = item.get("overrideReason")
    if accepted and item["outcome"] != "accepted":
        raise ServiceError(422, f"{where}: acceptedSuggestions go with outcome 'accepted', not {item['outcome']!r}")
    if override is not None and item["outcome"] != "overridden":
        raise ServiceError(422, f"{where}: an overrideReason goes with outcome 'overridden', not {item['outcome']!r}")
    offer = offer_from_record(assessment if isinstance(assessment, Mapping) else {})
    offered = offer.uuids(card)
    for suggestion in accepted:
        if suggestion not in offered:
            choices = ", ".join(offered) or "no suggestions"
            problem = f"{suggestion[:60]!r} is not a suggestion of card {card[:60]} (it offered {choices})"
            raise ServiceError(422, f"{where}.acceptedSuggestions: {problem}")
    if offer.selection == "at-most-one" and len(set(accepted)) > 1:
        raise ServiceError(422, f"{where}.acceptedSuggestions: card {card[:60]} allows at most one suggestion")
    reason = (override or {}).get("reason")
    if reason is not None:
        system = reason.get("system", OVERRIDE_SYSTEM)
        if system != OVERRIDE_SYSTEM or reason["code"] not in OVERRIDE_CODES:
            known = f"{OVERRIDE_SYSTEM}: {', '.join(sorted(OVERRIDE_CODES))}"
            problem = f"{system[:60]}|{reason['code'][:60]} is not one of the card's overrideReasons ({known})"
            raise ServiceError(422, f"{where}.overrideReason.reason: {problem}")


def _records_of(audit: AuditPort, unrecorded: UnrecordedCards, cards: set[str]) -> dict[str, Any]:
    found = {card: audit.get(card) for card in sorted(cards)}
    missing = [card for card, record in found.items() if record is None]
    flagged = [card for card in missing if card in unrecorded]
    if flagged:
        raise ServiceError(409, _unrecorded_message(flagged[0]))
    if missing:
        raise ServiceError(404, f"unknown card(s): {', '.join(card[:60] for card in missing[:5])}")
    return found


def _record_of(audit: AuditPort | None, unrecorded: UnrecordedCards, card: str) -> Any:
    if audit is None:
        raise ServiceError(404, "this service keeps no audit trail, so no assessment is kept to show")
    record = audit.get(card)
    if record is None:
        if card in unrecorded:
            raise ServiceError(409, _unrecorded_message(card))
        raise ServiceError(404, f"no recorded assessment for card {card[:60]!r}")
    return record


def _unrecorded_message(card: str) -> str:
    return (
        f"card {card[:60]} was answered while the audit trail could not record it (the answer was flagged "
        "X-Calfrules-Audit-Failed), so there is no record to show or to add feedback to"
    )


def _summary(entry: RulesetEntry) -> RulesetSummary:
    r = entry.ruleset
    return {"id": r.id, "version": r.version, "title": r.title, "plugin": entry.plugin, "hash": entry.hash}


def _doc(entry: RulesetEntry) -> RulesetDoc:
    r = entry.ruleset
    return {
        **_summary(entry),
        "description": r.description,
        "authors": list(r.authors),
        "rules": [
            {
                "id": rule.id,
                "description": rule.description,
                "when": rule.when,
                "conclude": rule.conclude,
                "escalate": rule.escalate,
                "rationale": rule.rationale,
                "references": list(rule.references),
            }
            for rule in r.rules
        ],
        "floor": [
            {"id": f.id, "label": f.label, "when": f.when, "level": f.level, "references": list(f.references)}
            for f in r.floor
        ],
        "references": [{"id": ref.id, "citation": ref.citation, "url": ref.url} for ref in r.references],
    }


def base_url(public_url: str | None, headers: Mapping[bytes, bytes]) -> str | None:
    """The service's own URL for card links: ``public_url`` when given (needed behind TLS or a
    balancer), else http:// and the request's Host header (checked against allowed hosts)."""
    if public_url:
        return public_url.rstrip("/")
    host = headers.get(b"host", b"").decode("latin-1").strip()
    return f"http://{host}" if host and "/" not in host and " " not in host else None
