"""What a card offers: its suggestions (with FHIR R4 resources) and the override reasons.

Both are worked out from three facts of the assessment (its level, its red-flag ids and the
Wells score), which the audit record keeps too: so the feedback route checks a clinician's
answer against exactly what the card offered, from the record alone, in any instance.

Each suggestion's uuid is a UUID 5 of the card's uuid and the suggestion's kind: stable
for that card, different on every other.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from calfrules.service.bodies import Coding, Suggestion

OVERRIDE_SYSTEM: Final = "urn:calfrules:override-reason"
ORDER_SYSTEM: Final = "urn:calfrules:order"
DVT_RED_FLAG: Final = "dvt"
WELLS_SCORE: Final = "wells_score"
WELLS_LIKELY: Final = 2.0  # NICE NG158: two-level DVT Wells score of 2 or more is 'likely'
NG158: Final = "NICE NG158 (2020), recommendations 1.1.1-1.1.6, https://www.nice.org.uk/guidance/ng158"

OVERRIDE_REASONS: Final[tuple[Coding, ...]] = (
    {"system": OVERRIDE_SYSTEM, "code": "already-assessed", "display": "Patient already assessed for this"},
    {"system": OVERRIDE_SYSTEM, "code": "already-arranged", "display": "Tests or referral already arranged"},
    {"system": OVERRIDE_SYSTEM, "code": "clinical-judgement", "display": "Clinical judgement differs"},
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable", "display": "Does not apply to this patient"},
    {"system": OVERRIDE_SYSTEM, "code": "findings-wrong", "display": "Recorded findings are wrong or out of date"},
    {"system": OVERRIDE_SYSTEM, "code": "patient-declined", "display": "Patient declined"},
)
OVERRIDE_CODES: Final = frozenset(reason["code"] for reason in OVERRIDE_REASONS)

Kind = Literal["emergency-now", "dvt-ultrasound", "dvt-d-dimer"]
SelectionBehavior = Literal["at-most-one", "any"]


@dataclass(frozen=True)
class Offer:
    """The suggestions a card offers, in order, and how many may be accepted."""

    kinds: tuple[Kind, ...]
    recommended: frozenset[Kind]
    selection: SelectionBehavior

    def uuids(self, card_uuid: str) -> dict[str, Kind]:
        """Each suggestion's uuid for the card ``card_uuid``, with its kind."""
        return {suggestion_uuid(card_uuid, kind): kind for kind in self.kinds}


def offer_for(level: str, red_flags: Collection[str], wells: float | None) -> Offer:
    """An emergency: only the instruction to go now. A suspected DVT (same day): both tests,
    the one NICE NG158 gives first for this Wells score marked recommended."""
    if level == "emergency":
        return Offer(("emergency-now",), frozenset({"emergency-now"}), "at-most-one")
    if DVT_RED_FLAG in red_flags:
        if wells is None:
            first: frozenset[Kind] = frozenset()
        else:
            first = frozenset({"dvt-ultrasound" if wells >= WELLS_LIKELY else "dvt-d-dimer"})
        return Offer(("dvt-ultrasound", "dvt-d-dimer"), first, "any")
    return Offer((), frozenset(), "any")


def offer_from_record(assessment: Mapping[str, Any]) -> Offer:
    """The offer of a card, from its recorded assessment (the JSON the service answered)."""
    flags = [str(flag.get("id")) for flag in assessment.get("red_flags") or [] if isinstance(flag, dict)]
    wells = next(
        (s.get("value") for s in assessment.get("scores") or [] if isinstance(s, dict) and s.get("id") == WELLS_SCORE),
        None,
    )
    return offer_for(str(assessment.get("level")), flags, float(wells) if isinstance(wells, (int, float)) else None)


def suggestion_uuid(card_uuid: str, kind: str) -> str:
    try:
        base = uuid.UUID(card_uuid)
    except ValueError:  # a card uuid of a caller's own audit port that is not a UUID
        base = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:calfrules:card:{card_uuid}")
    return str(uuid.uuid5(base, kind))


def suggestions(offer: Offer, card_uuid: str, patient_id: str | None) -> list[Suggestion]:
    """The card's suggestions. Without a patient id an order cannot name its subject, so the
    suggestion is then a label alone (the EHR records the choice; nothing is created)."""
    made: list[Suggestion] = []
    for kind in offer.kinds:
        suggestion: Suggestion = {
            "label": LABELS[kind],
            "uuid": suggestion_uuid(card_uuid, kind),
            "isRecommended": kind in offer.recommended,
        }
        resource = _resource(kind, patient_id)
        if resource is not None:
            suggestion["actions"] = [{"type": "create", "description": LABELS[kind], "resource": resource}]
        made.append(suggestion)
    return made


LABELS: Final[dict[Kind, str]] = {
    "emergency-now": (
        "Send to an emergency department now (call emergency services if the patient cannot get there safely)"
    ),
    "dvt-ultrasound": "Order a proximal leg vein ultrasound, result within 4 hours",
    "dvt-d-dimer": "Order a D-dimer blood test, result within 4 hours",
}
_ORDERS: Final[dict[Kind, tuple[str, str, str]]] = {
    # code, display, why (NG158's advice in our words)
    "dvt-ultrasound": (
        "proximal-leg-vein-ultrasound",
        "Proximal leg vein ultrasound scan",
        "Suspected deep vein thrombosis. With a two-level Wells score of 2 or more the scan comes first; "
        "after a negative scan a D-dimer follows. Result expected within 4 hours of the request.",
    ),
    "dvt-d-dimer": (
        "d-dimer",
        "D-dimer blood test",
        "Suspected deep vein thrombosis. With a two-level Wells score under 2 the D-dimer comes first; "
        "a positive result is followed by a proximal leg vein ultrasound. Result expected within 4 hours.",
    ),
}


def _resource(kind: Kind, patient_id: str | None) -> dict[str, Any] | None:
    """A FHIR R4 ServiceRequest proposal for an order (no LOINC or SNOMED CT code is claimed:
    the orderable D-dimer differs by laboratory unit, so the code is calfrules' own plus text)."""
    order = _ORDERS.get(kind)
    if order is None or not patient_id:
        return None
    code, display, why = order
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "priority": "urgent",
        "code": {"coding": [{"system": ORDER_SYSTEM, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"text": "Suspected deep vein thrombosis"}],
        "note": [{"text": f"{why} Source: {NG158}."}],
    }
