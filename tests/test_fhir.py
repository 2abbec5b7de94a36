"""The assessment as FHIR R4, validated with fhir.resources (R4B models: see below)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

# fhir.resources 7+ models R5 by default and R4B (4.3) in a subpackage; the resources used
# here (Bundle, GuidanceResponse, RequestGroup, RiskAssessment, Observation, Provenance,
# OperationOutcome) are the same in R4 and R4B. fhir.resources 6 (true R4) needs pydantic 1,
# which FastAPI's pydantic 2 rules out.
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from calfrules import Deriver, Engine, Level, hookimpl, load_engine
from calfrules.cli import cli
from calfrules.formats.fhir import to_fhir_bundle
from calfrules.formats.references import number_references
from calfrules.formats.text import screen_lines

from conftest import BUILTIN_PLUGINS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
DVT = json.loads((EXAMPLES / "suspected_dvt.json").read_text())
SORE = json.loads((EXAMPLES / "sore_calves_after_layoff.json").read_text())
AFTER_LAYOFF = {"findings": {"calf_soreness_after_run": True, "returning_after_layoff": True}}
# fhir.resources checks structure and types, not required code bindings: check those here
REQUIRED_CODES = {
    ("GuidanceResponse", "status"): {"success", "data-requested", "data-required", "in-progress", "failure"},
    ("RequestGroup", "status"): {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    ("RequestGroup", "intent"): {"proposal", "plan", "directive", "order", "original-order", "option"},
    ("RequestGroup", "priority"): {"routine", "urgent", "asap", "stat"},
    ("RiskAssessment", "status"): {"registered", "preliminary", "final", "amended"},
    ("Observation", "status"): {"registered", "preliminary", "final", "amended"},
    ("Bundle", "type"): {"collection"},
}


def resources(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def validate(bundle: dict[str, Any]) -> None:
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        for (kind, field), allowed in REQUIRED_CODES.items():
            if resource["resourceType"] == kind and field in resource:
                assert resource[field] in allowed, (kind, field, resource[field])
    assert bundle["type"] in REQUIRED_CODES[("Bundle", "type")]
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    for reference in _references(bundle["entry"]):
        # the patient lives in the EHR, not in the Bundle: a relative reference to it is right
        assert reference in urls or reference.startswith("Patient/"), f"dangling reference {reference}"


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def test_a_suspected_dvt_gives_guidance_a_wells_risk_assessment_and_provenance(engine: Engine) -> None:
    assessment = engine.assess(DVT)
    bundle = to_fhir_bundle(assessment, now=datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    validate(bundle)
    found = resources(bundle)
    [guidance] = found["GuidanceResponse"]
    assert not assessment.red_flag_screen.complete  # so more data is requested, though the level stands
    assert guidance["status"] == "data-requested" and guidance["occurrenceDateTime"] == "2026-11-26T01:00:00Z"
    assert guidance["requestIdentifier"]["value"] == "example-2"
    assert any("Level: urgent" in note["text"] for note in guidance["note"])
    assert any(assessment.level_reasons[0].reason in note["text"] for note in guidance["note"])
    [group] = found["RequestGroup"]
    assert guidance["result"]["reference"] in [e["fullUrl"] for e in bundle["entry"] if e["resource"] is group]
    assert group["priority"] == "urgent"
    assert [a["title"] for a in group["action"]] == assessment.recommendation_ids()
    first = group["action"][0]
    assert first["description"].startswith(assessment.recommendations[0].text)
    refs = number_references(assessment)
    labels = {d.get("label") for d in first["documentation"]}
    assert labels >= {f"[{refs.number(s)}]" for s in assessment.recommendations[0].sources}
    [risk] = found["RiskAssessment"]
    assert risk["code"]["coding"][0]["code"] == "wells_score"
    assert "DVT likely" in risk["prediction"][0]["qualitativeRisk"]["text"]
    [observation] = [o for o in found["Observation"] if o["code"]["coding"][0]["code"] == "wells_score"]
    assert observation["valueQuantity"]["value"] == 2.0
    assert {c["code"]["text"] for c in observation["component"]} == {"pitting_oedema", "calf_circumference_diff_cm"}
    [provenance] = found["Provenance"]
    hashes = {e["what"]["identifier"]["value"] for e in provenance["entity"]}
    assert {r["hash"] for r in assessment.provenance["rulesets"]} <= hashes
    # everything it produced: guidance, recommendations, Wells observation and risk, screen observation
    others = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    assert [t["reference"] for t in provenance["target"]] == others and len(others) == 5
    assert "OperationOutcome" not in found


def guidance_of(bundle: dict[str, Any]) -> dict[str, Any]:
    [guidance] = resources(bundle)["GuidanceResponse"]
    return guidance


def notes_of(bundle: dict[str, Any]) -> list[str]:
    return [note["text"] for note in guidance_of(bundle)["note"]]


def test_unanswered_screen_questions_are_the_first_notes_and_the_data_requested(engine: Engine) -> None:
    assessment = engine.assess(AFTER_LAYOFF)
    screen = assessment.red_flag_screen
    assert assessment.level == Level.SELF_CARE and screen.unanswered
    bundle = to_fhir_bundle(assessment)
    validate(bundle)
    notes = notes_of(bundle)
    assert notes[0].startswith("Level: self_care")
    assert notes[1] == screen_lines(assessment)[0] == "Before this can be self-care, ask:"
    asked = {q.id: q.question for q in screen.questions}
    assert notes[2 : 2 + len(screen.unanswered)] == [f"Ask: {asked[q]} [{q}]" for q in screen.unanswered]
    guidance = guidance_of(bundle)
    assert guidance["status"] == "data-requested"
    wanted = [r["codeFilter"][0]["code"][0] for r in guidance["dataRequirement"]]
    assert [c["code"] for c in wanted] == list(screen.unanswered)
    assert {c["system"] for c in wanted} == {"urn:calfrules:finding"}
    assert all(r["type"] == "Observation" for r in guidance["dataRequirement"])


def test_under_the_require_policy_the_data_is_required() -> None:
    strict = load_engine(allow=BUILTIN_PLUGINS, screen="require", isolation="none")
    try:
        assessment = strict.assess(AFTER_LAYOFF)
    finally:
        strict.close()
    assert assessment.level == Level.SEE_CLINICIAN
    bundle = to_fhir_bundle(assessment.to_dict())
    validate(bundle)
    assert guidance_of(bundle)["status"] == "data-required"
    assert notes_of(bundle)[1] == screen_lines(assessment)[0]
    assert notes_of(bundle)[1].startswith("Red-flag questions not yet answered")


def test_an_answered_screen_or_an_emergency_asks_nothing(engine: Engine) -> None:
    first = engine.assess(AFTER_LAYOFF)
    answered = {**AFTER_LAYOFF["findings"], **dict.fromkeys(first.red_flag_screen.unanswered, False)}
    emergency = engine.assess({"findings": {"calf_pain": True, "chest_pain": True, "swelling_unilateral": True}})
    assert emergency.level == Level.EMERGENCY and not emergency.red_flag_screen.complete
    for assessment in (engine.assess({"findings": answered}), emergency):
        bundle = to_fhir_bundle(assessment)
        validate(bundle)
        guidance = guidance_of(bundle)
        assert guidance["status"] == "success" and "dataRequirement" not in guidance
        assert not any(text.startswith(("Ask:", "Before this", "Red-flag questions")) for text in notes_of(bundle))


def test_evidence_notes_show_what_was_recorded_and_name_what_was_not(engine: Engine) -> None:
    assessment = engine.assess({"findings": {"pain_on_hop": True, "sudden_sharp_pain": False}})
    condition = next(c for c in assessment.conditions if c.because[0].unrecorded)
    reason = condition.because[0]
    notes = notes_of(to_fhir_bundle(assessment))
    refs = number_references(assessment)
    cited = refs.cite(s for because in condition.because for s in because.sources)
    expected = (
        f"Condition considered: {condition.label}, because pain_on_hop, sudden_sharp_pain: no, "
        f"and {', '.join(reason.unrecorded)} not recorded (rule {reason.rule.rule}, {reason.rule.ruleset}) {cited}"
    )
    assert expected in notes
    flag = assessment.red_flags[0]
    assert f"Red flag ({flag.level.value}): {flag.label} (from pain_on_hop) {refs.cite(flag.sources)}" in notes
    assert not any("not sudden_sharp_pain" in text or "=False" in text for text in notes)


def test_the_wells_risk_assessment_names_the_items_nobody_recorded(engine: Engine) -> None:
    assessment = engine.assess(DVT)
    [wells] = assessment.scores
    assert wells.unrecorded
    [risk] = resources(to_fhir_bundle(assessment))["RiskAssessment"]
    [note] = risk["note"]
    assert note["text"].startswith("Not recorded, so they added no points: " + ", ".join(wells.unrecorded) + ".")
    everything = {**DVT["findings"], **dict.fromkeys(wells.unrecorded, False)}
    [complete] = resources(to_fhir_bundle(engine.assess({"findings": everything})))["RiskAssessment"]
    assert "note" not in complete


def test_self_care_has_no_risk_assessment_and_routine_priority(engine: Engine) -> None:
    bundle = to_fhir_bundle(engine.assess(SORE))
    validate(bundle)
    found = resources(bundle)
    assert "RiskAssessment" not in found
    assert found["RequestGroup"][0]["priority"] == "routine"


def test_an_incomplete_assessment_says_so_in_fhir() -> None:
    class Broken:
        calfrules_plugin_name = "broken"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="bad_score", label="Bad", inputs=(), compute=lambda f: 1 / 0))

    broken = load_engine(plugins=[Broken()], isolation="none")
    try:
        bundle = to_fhir_bundle(broken.assess({"findings": {"calf_pain": True}}).to_dict())
    finally:
        broken.close()
    validate(bundle)
    found = resources(bundle)
    [guidance] = found["GuidanceResponse"]
    assert guidance["status"] == "failure"
    [outcome] = found["OperationOutcome"]
    assert "ZeroDivisionError" in outcome["issue"][0]["diagnostics"]
    assert found["RequestGroup"][0]["priority"] in ("urgent", "stat")  # the fail-safe level, at least urgent
    [provenance] = found["Provenance"]
    targets = {t["reference"] for t in provenance["target"]}
    outcome_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is outcome)
    assert outcome_url in targets
    assert targets == {e["fullUrl"] for e in bundle["entry"] if e["resource"] is not provenance}


def test_the_validator_is_not_vacuous(engine: Engine) -> None:
    bundle = to_fhir_bundle(engine.assess(DVT))
    [risk] = resources(bundle)["RiskAssessment"]
    del risk["subject"]  # required in R4
    with pytest.raises(ValueError, match="subject"):
        validate(bundle)


@pytest.mark.parametrize("args", [["--format", "fhir"], ["--format", "json"], ["--json"]])
def test_assess_format_option(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["assess", str(EXAMPLES / "suspected_dvt.json"), *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    if args == ["--format", "fhir"]:
        validate(data)
    else:
        assert data["level"] == "urgent"


def test_a_named_patient_is_the_subject_of_every_resource_that_has_one(engine: Engine) -> None:
    bundle = to_fhir_bundle(engine.assess(DVT), patient_id="p-42")
    validate(bundle)
    found = resources(bundle)
    for kind in ("GuidanceResponse", "RequestGroup", "Observation", "RiskAssessment"):
        for resource in found[kind]:
            assert resource["subject"] == {"reference": "Patient/p-42"}, kind
    anonymous = resources(to_fhir_bundle(engine.assess(DVT)))
    assert all("subject" not in o for o in anonymous["Observation"])
    assert anonymous["RiskAssessment"][0]["subject"]["identifier"]["value"] == "example-2"  # the case stands in


def screen_of(bundle: dict[str, Any]) -> dict[str, Any]:
    [screen] = [o for o in resources(bundle)["Observation"] if o["code"]["coding"][0]["code"] == "red-flag-screen"]
    return screen


def test_the_red_flag_screen_is_an_observation_with_each_answer_or_not_asked(engine: Engine) -> None:
    case = {"findings": {**DVT["findings"], "chest_pain": False, "fever": True}}
    assessment = engine.assess(case)
    screen = screen_of(to_fhir_bundle(assessment))
    answers = {c["code"]["coding"][0]["code"]: c for c in screen["component"]}
    assert list(answers) == [q.id for q in assessment.red_flag_screen.questions]
    assert answers["chest_pain"]["valueBoolean"] is False  # a recorded no stays a no
    assert answers["fever"]["valueBoolean"] is True
    assert answers["swelling_unilateral"]["valueBoolean"] is True
    unrecorded = answers["coughing_blood"]
    assert "valueBoolean" not in unrecorded and unrecorded["dataAbsentReason"]["coding"][0]["code"] == "not-asked"
    assert screen["status"] == "preliminary" and not assessment.red_flag_screen.complete
    question = next(q for q in assessment.red_flag_screen.questions if q.id == "chest_pain").question
    assert answers["chest_pain"]["code"]["coding"][0]["display"] == question


def test_a_fully_answered_screen_is_final(engine: Engine) -> None:
    first = engine.assess(AFTER_LAYOFF)
    answered = {**AFTER_LAYOFF["findings"], **dict.fromkeys(first.red_flag_screen.unanswered, False)}
    bundle = to_fhir_bundle(engine.assess({"findings": answered}))
    validate(bundle)
    screen = screen_of(bundle)
    assert screen["status"] == "final"
    assert all("valueBoolean" in c for c in screen["component"])
