"""Reading a request: its JSON body, and what a CDS Hooks request asks (hook, context, findings)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calfrules.formats.fhir_input import case_from_questionnaire_response
from calfrules.knowledge.case import DuplicateKeyError, unique_keys
from calfrules.rules.vocabulary import Value, Vocabulary, shown
from calfrules.service.bodies import FHIR_ID_PATTERN, UUID_PATTERN, CdsPrefetch, CdsRequest
from calfrules.service.schemas import checked

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


HOOK = "patient-view"
FINDINGS_EXTENSION = "findings"  # context.findings: calfrules' documented extension to the hook's context


@dataclass(frozen=True)
class HookCall:
    """What a CDS Hooks request asks, once its hook and context are checked."""

    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Any] | None
    extension_findings: dict[str, Any] | None  # context.findings, when given

    @property
    def findings_only(self) -> bool:
        """Findings in context.findings and no FHIR data at all: nothing to prefetch or fetch."""
        return self.extension_findings is not None and self.prefetch is None

    def check_patient(self, patient_id: str | None) -> None:
        """The FHIR data must be about the patient whose chart is open (422 otherwise)."""
        if patient_id is not None and patient_id != self.context["patientId"]:
            raise ServiceError(
                422,
                f"the FHIR data is about patient {patient_id[:64]!r} but context.patientId is "
                f"{self.context['patientId']!r}; send the data of the patient whose chart is open",
            )

    def case(self, findings: Mapping[str, Any]) -> dict[str, Any]:
        case: dict[str, Any] = {"findings": dict(findings)}
        if "caseId" in self.context:
            case["id"] = self.context["caseId"]
        if "note" in self.context:
            case["note"] = self.context["note"]
        return case


def hook_call(body: Any) -> HookCall:
    """What a CDS Hooks request asks; ServiceError 400 for a wrong hook, hookInstance or patient,
    CaseError (422) for any other departure from CdsRequest."""
    if not isinstance(body, dict):
        raise ServiceError(422, "a CDS Hooks request must be a JSON object with hook, hookInstance and context")
    hook, instance, context = body.get("hook"), body.get("hookInstance"), body.get("context")
    if isinstance(hook, str) and hook != HOOK:
        raise ServiceError(400, f"this service answers the {HOOK} hook, not {hook[:60]!r}")
    if isinstance(instance, str) and not re.search(UUID_PATTERN, instance):
        raise ServiceError(400, f"hookInstance must be a UUID, not {instance[:60]!r}")
    if isinstance(context, dict):
        patient = context.get("patientId")
        if not (isinstance(patient, str) and re.search(FHIR_ID_PATTERN, patient)):
            raise ServiceError(400, "context.patientId must be the patient's FHIR id (the patient-view hook needs it)")
        encounter = context.get("encounterId")
        if encounter is not None and not (isinstance(encounter, str) and re.search(FHIR_ID_PATTERN, encounter)):
            raise ServiceError(400, "context.encounterId must be a FHIR id")
    prefetch = body.get("prefetch")
    unknown = sorted(set(prefetch) - set(CdsPrefetch.__struct_fields__)) if isinstance(prefetch, dict) else []
    if unknown:
        raise ServiceError(
            400,
            f"prefetch.{unknown[0][:60]} is not a key this service declares; it declares "
            f"{', '.join(CdsPrefetch.__struct_fields__)} (GET /cds-services); send findings of your own in "
            "context.findings",
        )
    checked(body, CdsRequest)  # the rest; the body as sent is read on, keys CdsRequest does not name too
    if prefetch is None and "fhirServer" in body:
        prefetch = {}  # fetch every key
    return HookCall(body["hookInstance"], body["context"], prefetch, body["context"].get(FINDINGS_EXTENSION))


def merged_findings(
    extension: Mapping[str, Any] | None, from_fhir: Mapping[str, Value], vocabulary: Vocabulary
) -> dict[str, Any]:
    """context.findings plus the FHIR data's findings; a finding they give different values is a 422."""
    merged: dict[str, Any] = dict(from_fhir)
    for name, value in (extension or {}).items():
        # the app has had the engine check context.findings already, so check() does not raise here
        if name in from_fhir and name in vocabulary and vocabulary[name].check(value) != from_fhir[name]:
            raise ServiceError(
                422,
                f"context.findings.{name} is {shown(value)} but the FHIR data says {shown(from_fhir[name])}; "
                "correct one of them",
            )
        merged[name] = value
    return merged


def beyond_demographics(findings: Mapping[str, Any], vocabulary: Vocabulary) -> bool:
    """Whether the findings hold anything but context (age, sex...): a chart with only those gets no card."""
    return any(name not in vocabulary or vocabulary[name].kind != "context" for name in findings)


def assess_case_of(body: Any, vocabulary: Vocabulary) -> Any:
    """POST /assess's case: the body itself, or the case a FHIR QuestionnaireResponse answers."""
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if kind is None:
        return body  # a case; the engine says what is wrong with it
    if kind != "QuestionnaireResponse":
        raise ServiceError(422, f"POST /assess takes a case or a QuestionnaireResponse, not a {shown(kind)}")
    return case_from_questionnaire_response(body, vocabulary)


def known_service(service_id: str) -> None:
    if service_id != SERVICE_ID:
        raise ServiceError(404, f"no CDS service {service_id[:60]!r}; GET /cds-services lists them ({SERVICE_ID})")
