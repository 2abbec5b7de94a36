"""Reading a request: its JSON body, and the case a CDS Hooks request carries."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from calfrules.knowledge.case import DuplicateKeyError, unique_keys
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


def parse_json(raw: bytes) -> Any:
    """The request body as JSON; ServiceError (400 or 422) with one line saying what to fix.

    Stricter than ``json.loads``: a key given twice in one object, a lone UTF-16 surrogate
    (``"\\ud800"``: not Unicode, so it could be answered but not recorded), NaN/Infinity
    and integers too long for a float are refused rather than silently kept.
    """
    if not raw.strip():
        raise ServiceError(400, 'empty body: send JSON such as {"findings": {"calf_pain": true}}')
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_int=_bounded_int, object_pairs_hook=unique_keys)
    except DuplicateKeyError as exc:
        raise ServiceError(422, f"the body is not a valid request: {exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ServiceError(400, f"the body is not valid JSON{where}") from None
    except RecursionError:
        raise ServiceError(400, "the body is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(raw):  # only an escape can carry one: raw bytes were valid UTF-8
        found = _lone_surrogate(body, ())
        if found is not None:
            raise ServiceError(
                422,
                f"{'.'.join(found) or 'the body'}: the text holds a lone UTF-16 surrogate (an unpaired "
                "\\ud800-\\udfff escape), which is not Unicode; send the text as valid Unicode",
            )
    return body


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where a string with an unpaired surrogate is (json.loads joins valid pairs), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            step = (*path, key.encode("utf-8", "backslashreplace").decode()[:60])
            if _lone_surrogate(key, ()) is not None:
                return step
            found = _lone_surrogate(item, step)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, (*path, str(index)))
            if found is not None:
                return found
    return None


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
