"""FHIR R4 resources in: Patient, Observation, Condition, QuestionnaireResponse and Bundles of them.

Each resource's code is looked up in the clinic's code map, then in the vocabulary's codes
(``codes`` on each finding, and ``urn:calfrules:finding|<id>``). Codes nothing maps are
listed in ``unknown``, never guessed. What a resource says:

- Observation: ``valueBoolean``, a coded yes/no, ``valueQuantity`` (UCUM units, converted
  where exact: °F to °C, weeks to days), ``valueInteger``, ``valueCodeableConcept`` or
  ``valueString`` for a choice; each ``component`` the same way (a blood-pressure panel
  gives its systolic). ``dataAbsentReason`` means not recorded. Status entered-in-error or
  cancelled: ignored.
- Condition: active, recurrence or relapse means yes. Refuted or entered-in-error: ignored.
  Inactive, remission or resolved: not recorded, unless a code map entry says what it means
  (``condition_status``). Provisional, differential and unconfirmed conditions count: a
  suspected red flag is looked at, not dropped.
- QuestionnaireResponse: answers by linkId (the finding id), as ``questionnaire.py`` reads them.
- Patient: its id (every subject reference must name the same patient), and age from
  birthDate and sex from gender where no Observation or answer records them
  (``fhir_patient.py``).
- Other resource types say nothing about the findings and are passed over.

A finding nobody recorded stays absent (not recorded), never false. When two resources
disagree about one finding: for a yes/no finding the yes stands (a recorded sign is not
cancelled by a no elsewhere, so escalation only goes up); for a number or choice the most
recent reading stands when both are dated and their times differ; otherwise it is an error
naming both. Ask the EHR's prefetch for recent resources only: an old yes still counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from calfrules.formats.code_map import ACTIVE_STATUSES, CodeMap, CodeMapEntry
from calfrules.formats.fhir_codes import (
    FhirInputError,
    checked,
    coded_value,
    coding_text,
    quantity_value,
)
from calfrules.formats.fhir_patient import patient_findings
from calfrules.formats.questionnaire import questionnaire, response_answers
from calfrules.rules.vocabulary import Finding, Value, Vocabulary, shown

__all__ = [
    "FhirFindings",
    "FhirInputError",
    "case_from_questionnaire_response",
    "findings_from_resources",
    "questionnaire",
    "subject_patient_id",
]
BUNDLE_TYPES = ("searchset", "collection")
IGNORED_OBSERVATION = ("entered-in-error", "cancelled")
IGNORED_VERIFICATION = ("refuted", "entered-in-error")


@dataclass(frozen=True)
class FhirFindings:
    findings: dict[str, Value]  # finding id -> value, ready for a case
    unknown: tuple[str, ...]  # "system|code (display)" of codes nothing maps: listed, never guessed
    patient_id: str | None  # from Patient / subject references


@dataclass(frozen=True)
class _Reading:
    value: Value
    where: str
    when: datetime | None


def findings_from_resources(
    resources: Iterable[Mapping[str, Any]],
    vocabulary: Vocabulary,
    code_map: CodeMap | None = None,
    *,
    today: date | None = None,
) -> FhirFindings:
    """The findings these resources record; FhirInputError (one line) for anything malformed.

    ``today`` is the day ages are counted to from a Patient's birthDate (default: today, UTC).
    """
    if code_map is not None:
        code_map.check(vocabulary)
    reader = _Reader(vocabulary, code_map, today or datetime.now(UTC).date())
    if isinstance(resources, Mapping):  # one resource (or Bundle) given bare
        resources = [resources]
    for n, resource in enumerate(resources):
        reader.read(resource, f"resource {n + 1}")
    for finding, value in reader.from_patient.items():
        if finding in vocabulary and finding not in reader.readings:  # a recorded age or sex stands
            reader.readings[finding] = _Reading(value, "Patient", None)
    return FhirFindings(
        {finding: reading.value for finding, reading in reader.readings.items()},
        tuple(dict.fromkeys(reader.unknown)),
        reader.patient_id,
    )


def case_from_questionnaire_response(
    response: Mapping[str, Any], vocabulary: Vocabulary, *, case_id: str | None = None
) -> dict[str, Any]:
    """A case (``{"id": ..., "findings": {...}}``) from a QuestionnaireResponse answering ``questionnaire()``."""
    if not isinstance(response, Mapping) or response.get("resourceType") != "QuestionnaireResponse":
        got = response.get("resourceType") if isinstance(response, Mapping) else response
        raise FhirInputError(f"expected a QuestionnaireResponse, got {shown(got)}")
    where = _name(response, "the QuestionnaireResponse")
    if response.get("status") == "entered-in-error":
        raise FhirInputError(f"{where}: status is entered-in-error: it answers nothing; send the corrected response")
    case: dict[str, Any] = {}
    chosen_id = case_id or _text(response.get("id"))
    if chosen_id:
        case["id"] = chosen_id
    case["findings"] = dict(response_answers(response, vocabulary, where))
    return case


def subject_patient_id(resource: Mapping[str, Any]) -> str | None:
    """The id of the Patient a resource's subject refers to (``Patient/<id>``), if it names one."""
    subject = resource.get("subject")
    reference = subject.get("reference") if isinstance(subject, Mapping) else None
    if isinstance(reference, str) and reference.split("/")[-2:-1] == ["Patient"] and reference.split("/")[-1]:
        return reference.split("/")[-1]
    return None


class _Reader:
    def __init__(self, vocabulary: Vocabulary, code_map: CodeMap | None, today: date) -> None:
        self.vocabulary = vocabulary
        self.today = today
        self.from_patient: dict[str, Value] = {}
        self.code_map = code_map
        self.by_code = vocabulary.by_code()
        self.readings: dict[str, _Reading] = {}
        self.unknown: list[str] = []
        self.patient_id: str | None = None
        self.patient_where = ""

    def read(self, resource: object, fallback: str) -> None:
        if not isinstance(resource, Mapping):
            raise FhirInputError(f"{fallback}: expected a FHIR resource (a JSON object), got {shown(resource)}")
        kind = resource.get("resourceType")
        where = _name(resource, fallback)
        if kind == "Bundle":
            self.bundle(resource, where)
        elif kind == "Patient":
            self.patient(_text(resource.get("id")), where)
            self.from_patient.update(patient_findings(resource, self.today, where))
        elif kind == "Observation":
            self.observation(resource, where)
        elif kind == "Condition":
            self.condition(resource, where)
        elif kind == "QuestionnaireResponse":
            self.subject(resource, where)
            if resource.get("status") != "entered-in-error":
                when = _when(resource.get("authored"), f"{where}: authored")
                for finding, value in response_answers(resource, self.vocabulary, where).items():
                    self.record(finding, value, where, when)
        elif not isinstance(kind, str) or not kind:
            raise FhirInputError(f"{where}: no resourceType: send FHIR resources (Observation, Condition, ...)")
        # other resource types (Encounter, OperationOutcome, ...) say nothing about the findings

    def bundle(self, bundle: Mapping[str, Any], where: str) -> None:
        if bundle.get("type") not in BUNDLE_TYPES:
            raise FhirInputError(f"{where}: Bundle type {shown(bundle.get('type'))}: send a searchset or collection")
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            raise FhirInputError(f"{where}: Bundle.entry must be a list")
        for n, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "resource" not in entry:
                raise FhirInputError(f"{where}: entry {n + 1} has no resource")
            if (entry.get("search") or {}).get("mode") == "outcome":
                continue  # the server's note about the search, not about the patient
            self.read(entry["resource"], f"{where} entry {n + 1}")

    def patient(self, patient_id: str | None, where: str) -> None:
        if patient_id is None:
            return
        if self.patient_id is not None and self.patient_id != patient_id:
            raise FhirInputError(
                f"{where}: is about Patient/{patient_id}, but {self.patient_where} is about Patient/{self.patient_id}; "
                "send one patient's resources"
            )
        self.patient_id, self.patient_where = patient_id, self.patient_where or where

    def subject(self, resource: Mapping[str, Any], where: str) -> None:
        self.patient(subject_patient_id(resource), where)

    def observation(self, obs: Mapping[str, Any], where: str) -> None:
        status = obs.get("status")
        if not isinstance(status, str):
            raise FhirInputError(f"{where}: Observation.status is required (final, amended, ...)")
        if status in IGNORED_OBSERVATION:
            return
        self.subject(obs, where)
        when = _observation_time(obs, where)
        self.observed(obs, where, when, "Observation")
        components = obs.get("component", [])
        if not isinstance(components, list):
            raise FhirInputError(f"{where}: Observation.component must be a list")
        for n, component in enumerate(components):
            if not isinstance(component, Mapping):
                raise FhirInputError(f"{where}: component {n + 1} must be an object")
            self.observed(component, f"{where} component {n + 1}", when, "component")

    def observed(self, part: Mapping[str, Any], where: str, when: datetime | None, kind: str) -> None:
        values = [key for key in part if key.startswith("value")]
        absent = part.get("dataAbsentReason") is not None
        if len(values) > 1 or (values and absent):
            raise FhirInputError(f"{where}: give one value[x] or a dataAbsentReason, not {', '.join(values)}")
        if not values and not absent and kind == "component":
            raise FhirInputError(f"{where}: a component needs a value[x] or a dataAbsentReason")
        if not values and not absent and part.get("component"):
            return  # a panel: its components carry the values
        mapped = self.concept(part.get("code"), f"{where}: code")
        if mapped is None or absent:
            return  # absent: not recorded, never a no
        finding, entry = mapped
        if not values:
            if entry is None or entry.value is None:
                raise FhirInputError(
                    f"{where}: {finding.id} has no value[x] and no dataAbsentReason; send the value, "
                    "or dataAbsentReason when it was not recorded"
                )
            self.record(finding.id, entry.value, where, when)
            return
        value = self.value(part[values[0]], values[0], finding, entry, f"{where}: {values[0]}")
        if value is not None:
            self.record(finding.id, value, where, when)

    def value(self, raw: Any, key: str, finding: Finding, entry: CodeMapEntry | None, where: str) -> Value | None:
        fixed = entry.value if entry is not None else None
        if key == "valueBoolean" and isinstance(raw, bool):
            if fixed is None:
                return checked(finding, raw, where)
            if isinstance(fixed, bool):  # "pregnancy: no" with pregnancy mapped to a yes
                return fixed if raw else not fixed
        elif fixed is not None:
            raise FhirInputError(f"{where}: the code map fixes {finding.id} = {fixed}; send valueBoolean or no value")
        elif key == "valueQuantity":
            return checked(finding, quantity_value(raw, finding, where), where)
        elif key == "valueInteger" or (key == "valueString" and finding.type == "choice"):
            return checked(finding, raw, where)
        elif key == "valueCodeableConcept":
            return self.coded(raw, finding, where)
        raise FhirInputError(f"{where}: {shown(raw)} does not answer {finding.id} ({_expected(finding)})")

    def coded(self, concept: object, finding: Finding, where: str) -> Value:
        codings = concept.get("coding", []) if isinstance(concept, Mapping) else None
        if not isinstance(codings, list):
            raise FhirInputError(f"{where}: a CodeableConcept needs a 'coding' list")
        for coding in codings:
            if not isinstance(coding, Mapping):
                continue
            value = coded_value(coding, finding, where)
            if value is None and self.code_map is not None:
                entry = self.code_map.lookup(str(coding.get("system")), str(coding.get("code")))
                value = entry.value if entry is not None and entry.finding == finding.id else None
            if value is not None:
                return value
        answers = ", ".join(coding_text(c) for c in codings if isinstance(c, Mapping)) or "no coding"
        raise FhirInputError(
            f"{where}: {answers} does not answer {finding.id} ({_expected(finding)}); map it in the code map"
        )

    def condition(self, condition: Mapping[str, Any], where: str) -> None:
        verification = _status_code(condition.get("verificationStatus"))
        if verification in IGNORED_VERIFICATION:
            return
        clinical = _status_code(condition.get("clinicalStatus"))
        if clinical is None:
            raise FhirInputError(f"{where}: Condition.clinicalStatus is required (active, resolved, ...)")
        self.subject(condition, where)
        mapped = self.concept(condition.get("code"), f"{where}: code")
        if mapped is None:
            return
        finding, entry = mapped
        statuses = entry.condition_status if entry is not None else ACTIVE_STATUSES
        if clinical not in statuses:
            return  # a past condition: not recorded unless the code map says what it means
        value: Value | None = entry.value if entry is not None else None
        if value is None:
            if finding.type != "bool":
                raise FhirInputError(f"{where}: a Condition can only say yes, and {finding.id} is a {finding.type}")
            value = True
        when = _when(condition.get("recordedDate"), f"{where}: recordedDate")
        self.record(finding.id, value, where, when)

    def concept(self, concept: object, where: str) -> tuple[Finding, CodeMapEntry | None] | None:
        """The finding a CodeableConcept means (code map first), None when nothing maps (listed as unknown)."""
        if not isinstance(concept, Mapping):
            raise FhirInputError(f"{where}: a CodeableConcept is required")
        codings = concept.get("coding", [])
        if not isinstance(codings, list) or not all(isinstance(c, Mapping) for c in codings):
            raise FhirInputError(f"{where}: 'coding' must be a list of Codings")
        found: dict[str, tuple[Finding, CodeMapEntry | None]] = {}
        for coding in codings:
            key = (str(coding.get("system")), str(coding.get("code")))
            entry = self.code_map.lookup(*key) if self.code_map is not None else None
            finding = self.vocabulary[entry.finding] if entry is not None else self.by_code.get(key)
            if finding is not None:
                found.setdefault(finding.id, (finding, entry))
        if len(found) > 1:
            raise FhirInputError(f"{where}: its codings mean different findings ({', '.join(found)}); send one concept")
        if not found:
            texts = [coding_text(c) for c in codings] or [f"text {shown(concept.get('text'))} (no coding)"]
            self.unknown.extend(texts)
            return None
        return next(iter(found.values()))

    def record(self, finding: str, value: Value, where: str, when: datetime | None) -> None:
        known = self.readings.get(finding)
        reading = _Reading(value, where, when)
        if known is None or known.value == value:
            self.readings.setdefault(finding, reading)
            return
        if isinstance(value, bool):
            if value:
                self.readings[finding] = reading  # a yes stands against a no
            return
        if known.when is not None and when is not None and known.when != when:
            if when > known.when:
                self.readings[finding] = reading
            return
        raise FhirInputError(
            f"{where}: {finding} = {shown(value)}, but {known.where} says {shown(known.value)}, and neither is "
            "dated later; send one reading, or date them"
        )


def _expected(finding: Finding) -> str:
    if finding.type == "bool":
        return "valueBoolean, or a coded yes/no"
    if finding.type == "number":
        return f"valueQuantity in {finding.unit}" if finding.unit else "valueQuantity or valueInteger"
    return f"one of {', '.join(finding.choices)}"


def _name(resource: Mapping[str, Any], fallback: str) -> str:
    kind, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(kind, str) and isinstance(rid, str):
        return f"{kind}/{rid}"
    return f"{fallback} ({kind})" if isinstance(kind, str) and kind not in fallback else fallback


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _status_code(concept: object) -> str | None:
    if not isinstance(concept, Mapping):
        return None
    codes: Iterator[object] = (c.get("code") for c in concept.get("coding", []) if isinstance(c, Mapping))
    return next((code for code in codes if isinstance(code, str)), None)


def _observation_time(obs: Mapping[str, Any], where: str) -> datetime | None:
    period = obs.get("effectivePeriod")
    for key, text in (
        ("effectiveDateTime", obs.get("effectiveDateTime")),
        ("effectiveInstant", obs.get("effectiveInstant")),
        ("effectivePeriod.end", period.get("end") if isinstance(period, Mapping) else None),
        ("effectivePeriod.start", period.get("start") if isinstance(period, Mapping) else None),
        ("issued", obs.get("issued")),
    ):
        if text is not None:
            return _when(text, f"{where}: {key}")
    return None


def _when(text: object, where: str) -> datetime | None:
    """A FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or a full time with zone) as UTC; None if absent."""
    if text is None:
        return None
    if isinstance(text, str):
        padded = {4: "-01-01", 7: "-01"}.get(len(text), "")
        try:
            moment = datetime.fromisoformat((text + padded).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    raise FhirInputError(f"{where}: {shown(text)} is not a FHIR dateTime (such as 2025-03-01T10:00:00Z)")
