"""An assessment as FHIR R4 resources (plain dicts, no FHIR library needed at run time).

The Bundle (type ``collection``) holds:

- a **GuidanceResponse**: the result of the decision support. Its ``reasonCode`` lists
  the conditions considered; its ``note`` gives the level, then any red-flag screening
  questions still unanswered, then every reason, red flag and condition with what was
  recorded for it (a recorded no reads "x: no"; findings nobody recorded are named as
  such, never as a no). Unanswered screening questions also make its status
  ``data-requested`` (``data-required`` under the ``require`` screen policy) and are
  listed in ``dataRequirement``. Its ``result`` points at
- a **RequestGroup** with one action per recommendation (most important first), each with
  its dose, when to come back, and its sources as ``documentation`` citations labelled with
  their numbers ("[1]"), numbered as in the text rendering and listed in the notes;
- per score (such as the Wells score) an **Observation** with the value and the points
  each finding added, and a **RiskAssessment** based on it with the interpretation and a
  note naming the score's items nobody recorded;
- an **Observation** of the red-flag screen (code ``urn:calfrules:screen|red-flag-screen``,
  category survey), when a screen group applied: one component per screening question
  (code ``urn:calfrules:finding|<id>``, the question as display) with the recorded answer
  as ``valueBoolean``, or ``dataAbsentReason`` not-asked when nobody recorded it (never a
  no). Status ``final`` when every question is answered, ``preliminary`` while some are not;
- an **OperationOutcome** saying why, when the assessment is incomplete (the
  GuidanceResponse then has status ``failure``, yet still carries the fail-safe level
  and advice);
- a **Provenance** whose ``target`` is every other resource in the Bundle, naming the
  engine, every ruleset with its version and content hash, and every plugin with its
  version and status.

References between them use ``urn:uuid:`` full URLs, as FHIR asks inside a Bundle. With
``patient_id`` (the patient the request names, as ``fhir_input`` reads it), every resource
that has a subject refers to ``Patient/<id>``; without it the RiskAssessment names the case.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from calfrules.engine.assessment import Assessment
from calfrules.formats.references import References, number_references
from calfrules.formats.text import describe_facts, screen_title
from calfrules.rules.levels import Level
from calfrules.rules.numbers import format_number

Resource = dict[str, Any]
SYSTEM = "urn:calfrules"
# RequestGroup.priority codes (http://hl7.org/fhir/request-priority) for our levels
# resources whose subject is the patient, when the request names one
_HAS_SUBJECT = frozenset({"GuidanceResponse", "RequestGroup", "Observation", "RiskAssessment"})
_PRIORITY = {
    Level.EMERGENCY: "stat",
    Level.URGENT: "urgent",
    Level.SEE_CLINICIAN: "routine",
    Level.SELF_CARE: "routine",
}


DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def to_fhir_bundle(
    assessment: Assessment | Mapping[str, Any], *, now: datetime | None = None, patient_id: str | None = None
) -> Resource:
    """The assessment (or its ``to_dict()``) as a FHIR R4 Bundle of type collection."""
    data = assessment.to_dict() if isinstance(assessment, Assessment) else dict(assessment)
    builder = _Builder(data, (now or datetime.now(UTC)).astimezone(UTC), patient_id)
    return builder.bundle()


class _Builder:
    def __init__(self, data: Mapping[str, Any], now: datetime, patient_id: str | None = None) -> None:
        self.data = data
        self.patient = {"reference": f"Patient/{patient_id}"} if patient_id else None
        self.when = now.isoformat(timespec="seconds").replace("+00:00", "Z")
        self.entries: list[Resource] = []
        # numbered as in the text rendering: [1] is the same source in every output
        self.refs = number_references(data)

    def add(self, resource: Resource) -> str:
        full_url = f"urn:uuid:{uuid.uuid4()}"
        if self.patient is not None and resource["resourceType"] in _HAS_SUBJECT:
            resource["subject"] = self.patient
        self.entries.append({"fullUrl": full_url, "resource": resource})
        return full_url

    def bundle(self) -> Resource:
        request_group = self.add(self.request_group())
        for score in self.data["scores"]:
            self.add_score(score)
        screen = self.screen_observation()
        if screen is not None:
            self.add(screen)
        outcome = self.add(self.operation_outcome()) if not self.data["complete"] else None
        self.add(self.guidance_response(request_group, outcome))
        # the Provenance covers everything it produced: every resource but itself
        self.add(self.provenance([entry["fullUrl"] for entry in self.entries]))
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "collection",
            "timestamp": self.when,
            "entry": self.entries,
        }

    # --- the parts ----------------------------------------------------------------
    def guidance_response(self, request_group: str, outcome: str | None) -> Resource:
        data = self.data
        level = Level(data["level"])
        screen = data.get("red_flag_screen") or {}
        questions = _screen_questions(level, screen)
        notes = [f"Level: {level.value} ({level.label}). {level.meaning}"]
        if questions:
            notes.append(screen_title(level))
            notes += [f"Ask: {question} [{finding}]" for finding, question in questions]
        notes += [f"Why {r['level']}: {r['reason']} (source: {r['source']})" for r in data["level_reasons"]]
        notes += [
            f"Red flag ({f['level']}): {f['label']} (from {describe_facts(f['matched'])}){_cited(self.refs, f)}"
            for f in data["red_flags"]
        ]
        for condition in data["conditions"]:
            cited = self.refs.cite(s for because in condition["because"] for s in because.get("sources", ()))
            for reason in condition["because"][:1]:
                rule = reason["rule"]
                notes.append(
                    f"Condition considered: {condition['label']}, because "
                    f"{describe_facts(reason['matched'], reason.get('unrecorded', ()))} "
                    f"(rule {rule['rule']}, {rule['ruleset']}){f' {cited}' if cited else ''}"
                )
        notes += [f"Advice held back: {w['text']} Why: {w['reason']}" for w in data["withheld_recommendations"]]
        notes += [f"Incomplete: {reason}" for reason in data["incomplete_reasons"]]
        notes += [f"Reference [{n}]: {citation}{f' {url}' if url else ''}" for n, citation, url in self.refs.entries()]
        if not data["complete"]:
            status = "failure"
        elif questions:
            status = "data-required" if screen.get("policy") == "require" else "data-requested"
        else:
            status = "success"
        resource: Resource = {
            "resourceType": "GuidanceResponse",
            "moduleUri": f"{SYSTEM}:engine:{data['provenance'].get('engine_version', 'unknown')}",
            "status": status,
            "occurrenceDateTime": self.when,
            "performer": {"display": _engine_name(data)},
            "note": [{"text": text} for text in notes],
            "result": {"reference": request_group, "display": "recommendations"},
        }
        if data.get("case_id"):
            resource["requestIdentifier"] = {"system": f"{SYSTEM}:case", "value": data["case_id"]}
        if data["conditions"]:
            resource["reasonCode"] = [_concept("condition", c["id"], c["label"]) for c in data["conditions"]]
        if outcome is not None:
            resource["evaluationMessage"] = [{"reference": outcome}]
        if questions:
            resource["dataRequirement"] = [
                {
                    "type": "Observation",
                    "codeFilter": [
                        {
                            "path": "code",
                            "code": [{"system": f"{SYSTEM}:finding", "code": finding, "display": question}],
                        }
                    ],
                }
                for finding, question in questions
            ]
        return resource

    def request_group(self) -> Resource:
        level = self.data["level"]
        actions = [_action(rec, self.refs) for rec in self.data["recommendations"]]
        resource: Resource = {
            "resourceType": "RequestGroup",
            "status": "active" if actions else "completed",
            "intent": "proposal",
            "priority": _PRIORITY[Level(level)],
            "authoredOn": self.when,
            "code": _concept("level", level, Level(level).label),
        }
        if actions:
            resource["action"] = actions
        return resource

    def add_score(self, score: Mapping[str, Any]) -> str:
        observation: Resource = {
            "resourceType": "Observation",
            "status": "final",
            "code": _concept("score", score["id"], score["label"]),
            "effectiveDateTime": self.when,
            "valueQuantity": {"value": score["value"], "unit": "score"},
            "note": [{"text": f"computed by plugin {score['plugin']}"}],
        }
        components = [
            {"code": _concept("finding", finding, finding), "valueQuantity": {"value": points, "unit": "points"}}
            for finding, points in score["components"].items()
        ]
        if components:
            observation["component"] = components
        observation_ref = self.add(observation)
        risk: Resource = {
            "resourceType": "RiskAssessment",
            "status": "final",
            "code": _concept("score", score["id"], score["label"]),
            "subject": self.subject(),
            "occurrenceDateTime": self.when,
            "basis": [{"reference": observation_ref, "display": f"{score['label']}: {format_number(score['value'])}"}],
            "prediction": [{"outcome": {"text": score["label"]}, "qualitativeRisk": {"text": score["interpretation"]}}],
        }
        unrecorded = score.get("unrecorded") or ()
        if unrecorded:
            risk["note"] = [
                {
                    "text": f"Not recorded, so they added no points: {', '.join(unrecorded)}. "
                    "The score counts only what was recorded; a low score may only mean these were not asked."
                }
            ]
        return self.add(risk)

    def screen_observation(self) -> Resource | None:
        """The red-flag screen as asked: each question with its recorded answer, or not asked."""
        screen = self.data.get("red_flag_screen") or {}
        questions = screen.get("questions") or ()
        if not questions:
            return None
        recorded = self.data.get("findings") or {}
        components = []
        for question in questions:
            component: Resource = {"code": _concept("finding", question["id"], question["question"])}
            answer = recorded.get(question["id"])
            if isinstance(answer, bool):
                component["valueBoolean"] = answer
            else:
                component["dataAbsentReason"] = {
                    "coding": [{"system": DATA_ABSENT, "code": "not-asked", "display": "Not Asked"}],
                    "text": "not recorded",
                }
            components.append(component)
        groups = ", ".join(screen.get("groups") or ()) or "none"
        unanswered = len(screen.get("unanswered") or ())
        return {
            "resourceType": "Observation",
            "status": "final" if screen.get("complete", True) else "preliminary",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
            "code": _concept("screen", "red-flag-screen", "Red-flag screen"),
            "effectiveDateTime": self.when,
            "note": [
                {
                    "text": f"Screen groups: {groups}. {len(questions) - unanswered} of {len(questions)} questions "
                    f"answered; policy {screen.get('policy', 'prompt')}."
                }
            ],
            "component": components,
        }

    def operation_outcome(self) -> Resource:
        reasons = self.data["incomplete_reasons"] or ["the assessment is incomplete"]
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "incomplete",
                    "diagnostics": f"{reason}; the level was raised to at least urgent",
                }
                for reason in reasons
            ],
        }

    def provenance(self, targets: list[str]) -> Resource:
        prov = self.data["provenance"]
        entities = [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": f"{SYSTEM}:ruleset-hash", "value": r["hash"]},
                    "display": f"ruleset {r['id']} {r['version']} (plugin {r.get('plugin') or '-'}, "
                    f"{r.get('source') or 'no file'})",
                },
            }
            for r in prov.get("rulesets", [])
        ]
        entities += [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": f"{SYSTEM}:plugin", "value": f"{p['name']}@{p.get('version') or '-'}"},
                    "display": f"plugin {p['name']} {p.get('version') or '-'} ({p['status']})",
                },
            }
            for p in prov.get("plugins", [])
        ]
        resource: Resource = {
            "resourceType": "Provenance",
            "target": [{"reference": target} for target in targets],
            "recorded": self.when,
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "assembler",
                                "display": "Assembler",
                            }
                        ]
                    },
                    "who": {"display": _engine_name(self.data)},
                }
            ],
        }
        if entities:
            resource["entity"] = entities
        return resource

    def subject(self) -> Resource:
        case_id = self.data.get("case_id")
        if case_id:
            return {"identifier": {"system": f"{SYSTEM}:case", "value": case_id}, "display": f"case {case_id}"}
        return {"display": "the person assessed (no case id given)"}


def _action(rec: Mapping[str, Any], refs: References) -> Resource:
    description = rec["text"]
    if rec.get("dose_text"):
        description += f" Dose: {rec['dose_text']}."
    if rec.get("return_if"):
        description += f" Come back if {rec['return_if']}"
    action: Resource = {
        "title": rec["id"],
        "description": description,
        "code": [_concept("recommendation-kind", rec["kind"], rec["kind"])],
        "documentation": [
            {"type": "justification", "display": f"rule {rec['rule']['rule']} ({rec['rule']['ruleset']})"},
            *(_citation(source, refs) for source in rec["sources"]),
        ],
    }
    return action


def _citation(source: Mapping[str, Any], refs: References) -> Resource:
    # the label is the reference's number, as RelatedArtifact.label is meant for ("[1]")
    artifact: Resource = {"type": "citation", "label": f"[{refs.number(source)}]", "citation": source["citation"]}
    if source.get("url"):
        artifact["url"] = source["url"]
    return artifact


def _cited(refs: References, item: Mapping[str, Any]) -> str:
    cited = refs.cite(item.get("sources", ()))
    return f" {cited}" if cited else ""


def _concept(kind: str, code: str, text: str) -> Resource:
    return {"coding": [{"system": f"{SYSTEM}:{kind}", "code": code, "display": text}], "text": text}


def _engine_name(data: Mapping[str, Any]) -> str:
    return f"calfrules {data['provenance'].get('engine_version', '')}".strip()


def _screen_questions(level: Level, screen: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(finding, question) for each unanswered red-flag question worth asking: none once the
    screen is complete or at emergency (as ``render.screen_lines``)."""
    if screen.get("complete", True) or level == Level.EMERGENCY:
        return []
    asked = {q["id"]: q["question"] for q in screen.get("questions", ())}
    return [(finding, asked.get(finding, finding)) for finding in screen.get("unanswered", ())]
