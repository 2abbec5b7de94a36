"""Reading a request: its JSON body, and the case a CDS Hooks request carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from calfrules.service.bodies import CASE_PREFETCH_KEY

MAX_INT_DIGITS = 300
SERVICE_ID = "calfrules-calf-pain"


class ServiceError(Exception):
    """An answer other than 200, with one message that says what to fix."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ServiceError(400, 'empty body: send JSON such as {"findings": {"calf_pain": true}}')
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_int=_bounded_int)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ServiceError(400, f"the body is not valid JSON{where}") from None
    except RecursionError:
        raise ServiceError(400, "the body is nested too deeply") from None


def _bounded_int(token: str) -> int:
    # the engine turns numbers into floats: an integer past float range would overflow there
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        raise ServiceError(400, f"a number in the body has more than {MAX_INT_DIGITS} digits")
    return int(token)


def _reject_constant(token: str) -> float:
    raise ServiceError(400, f"{token} is not a number JSON allows")


def case_from_hook(body: Any) -> dict[str, Any]:
    """The case a CDS Hooks request carries: context.findings, or prefetch.calfrulesCase (exactly one)."""
    if not isinstance(body, dict):
        raise ServiceError(422, "a CDS Hooks request must be a JSON object with hook, hookInstance and context")
    context = body.get("context")
    prefetch = body.get("prefetch")
    in_context = isinstance(context, dict) and "findings" in context
    in_prefetch = isinstance(prefetch, dict) and CASE_PREFETCH_KEY in prefetch
    if in_context and in_prefetch:
        raise ServiceError(422, f"give the case in context.findings or in prefetch.{CASE_PREFETCH_KEY}, not both")
    if in_context:
        assert isinstance(context, dict)
        case: dict[str, Any] = {"findings": context["findings"]}
        if "caseId" in context:
            case["id"] = context["caseId"]
        if "note" in context:
            case["note"] = context["note"]
        return case
    if in_prefetch:
        assert isinstance(prefetch, dict)
        prefetched = prefetch[CASE_PREFETCH_KEY]
        if not isinstance(prefetched, dict):
            raise ServiceError(422, f'prefetch.{CASE_PREFETCH_KEY} must be a case object like {{"findings": {{...}}}}')
        return prefetched
    raise ServiceError(
        422, f"no case: put the findings in context.findings, or a whole case in prefetch.{CASE_PREFETCH_KEY}"
    )


def known_service(service_id: str) -> None:
    if service_id != SERVICE_ID:
        raise ServiceError(404, f"no CDS service {service_id[:60]!r}; GET /cds-services lists them ({SERVICE_ID})")
