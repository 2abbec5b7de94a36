"""The FHIR Questionnaire out and its QuestionnaireResponse in: CLI, API, and a round trip.

The Questionnaire is validated with fhir.resources (R4B models); the responses are filled
in with fhirclient's R4 models, as an EHR's client would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse as R4BResponse
from fhirclient.models.coding import Coding as FhirCoding
from fhirclient.models.fhirreference import FHIRReference
from fhirclient.models.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine, Level
from calfrules.cli import cli
from calfrules.formats.fhir_input import FhirInputError, case_from_questionnaire_response, findings_from_resources
from calfrules.formats.questionnaire import questionnaire
from calfrules.rules.vocabulary import FINDING_SYSTEM, Finding, Value, Vocabulary

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DVT = json.loads((EXAMPLES / "cases" / "suspected_dvt.json").read_text())


def form_of(engine: Engine) -> dict[str, Any]:
    return questionnaire(engine.vocabulary, [compiled.group for compiled in engine.program.screen])


def fill(form: dict[str, Any], findings: dict[str, Value], *, patient: str | None = None) -> dict[str, Any]:
    """A QuestionnaireResponse answering ``form`` with these findings, built with fhirclient."""

    def items(asked: list[dict[str, Any]]) -> list[QuestionnaireResponseItem]:
        answered = []
        for question in asked:
            item = QuestionnaireResponseItem()
            item.linkId = question["linkId"]
            if question["type"] == "group":
                item.item = items(question["item"]) or None
                if item.item:
                    answered.append(item)
                continue
            if question["linkId"] not in findings:
                continue
            value, answer = findings[question["linkId"]], QuestionnaireResponseItemAnswer()
            if question["type"] == "boolean":
                answer.valueBoolean = value
            elif question["type"] == "decimal":
                answer.valueDecimal = value
            else:
                [option] = [o["valueCoding"] for o in question["answerOption"] if o["valueCoding"]["code"] == value]
                answer.valueCoding = FhirCoding(option)
            item.answer = [answer]
            answered.append(item)
        return answered

    response = QuestionnaireResponse()
    response.status, response.questionnaire = "completed", form["url"]
    response.item = items(form["item"])
    if patient is not None:
        response.subject = FHIRReference({"reference": f"Patient/{patient}"})
    data: dict[str, Any] = response.as_json()
    return data


def test_the_questionnaire_is_valid_sdc_with_the_red_flag_screen_first(engine: Engine) -> None:
    form = form_of(engine)
    Questionnaire.model_validate(form)
    groups = [item["linkId"] for item in form["item"]]
    screen_groups = [f"screen.{compiled.group.id}" for compiled in engine.program.screen]
    assert groups[: len(screen_groups)] == screen_groups and all(
        g.startswith("group.") for g in groups[len(screen_groups) :]
    )
    questions = [q for group in form["item"] for q in group["item"]]
    assert sorted(q["linkId"] for q in questions) == sorted(f.id for f in engine.vocabulary)  # each finding once
    asked_first = {q["linkId"] for group in form["item"][: len(screen_groups)] for q in group["item"]}
    assert asked_first == {q for compiled in engine.program.screen for q in compiled.group.ask}
    assert all("enableWhen" not in q for group in form["item"][: len(screen_groups)] for q in group["item"])


def by_link(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["linkId"]: q for group in form["item"] for q in group["item"]}


def test_items_carry_types_codes_units_ranges_choices_and_follow_ups(engine: Engine) -> None:
    items = by_link(form_of(engine))
    heart = items["heart_rate"]
    assert heart["type"] == "decimal"
    assert heart["code"][:2] == [
        {"system": FINDING_SYSTEM, "code": "heart_rate", "display": "Heart rate"},
        {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
    ]
    ext = {e["url"].rsplit("/", 1)[1]: e for e in heart["extension"]}
    assert ext["questionnaire-unit"]["valueCoding"]["code"] == "/min"
    assert (ext["minValue"]["valueDecimal"], ext["maxValue"]["valueDecimal"]) == (20.0, 250.0)
    temperature = {e["url"].rsplit("/", 1)[1]: e for e in items["temperature_c"]["extension"]}
    assert temperature["questionnaire-unit"]["valueCoding"]["code"] == "Cel"
    assert items["calf_pain"]["type"] == "boolean" and "extension" not in items["calf_pain"]
    side = items["pain_side"]
    assert side["type"] == "choice" and [o["valueCoding"]["code"] for o in side["answerOption"]] == [
        "left",
        "right",
        "both",
    ]
    assert items["numbness_new"]["enableWhen"] == [{"question": "numbness", "operator": "=", "answerBoolean": True}]
    assert items["cramps_recurrent"]["enableBehavior"] == "any"
    assert not any(q.get("required") for q in items.values())  # unanswered is "not recorded", never a no


def test_a_filled_response_is_valid_fhir_and_reads_back_as_the_case(engine: Engine) -> None:
    response = fill(form_of(engine), DVT["findings"], patient="p7")
    R4BResponse.model_validate(response)
    case = case_from_questionnaire_response(response, engine.vocabulary, case_id="qr-1")
    assert case == {"id": "qr-1", "findings": DVT["findings"]}
    via_resources = findings_from_resources([response], engine.vocabulary)
    assert (via_resources.findings, via_resources.patient_id) == (DVT["findings"], "p7")
    assert engine.assess(case).level == engine.assess(DVT).level == Level.URGENT


def test_the_cli_exports_the_questionnaire(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["export", "--fhir-questionnaire"])
    assert printed.exit_code == 0, printed.output
    Questionnaire.model_validate(json.loads(printed.output))
    target = tmp_path / "q.json"
    written = runner.invoke(cli, ["export", "--fhir-questionnaire", "-o", str(target)])
    assert written.exit_code == 0 and "questions to" in written.output
    assert json.loads(target.read_text()) == json.loads(printed.output)
    both = runner.invoke(cli, ["export", "--fhir-questionnaire", "--clips"])
    assert both.exit_code == 2 and both.output.startswith("calfrules: error: choose one format")


def test_round_trip_from_the_cli_in_process_and_in_a_subprocess(tmp_path: Path) -> None:
    runner = CliRunner()
    form = json.loads(runner.invoke(cli, ["export", "--fhir-questionnaire"]).output)
    response = tmp_path / "response.json"
    response.write_text(json.dumps(fill(form, DVT["findings"], patient="p7")))
    expected = json.loads(
        runner.invoke(cli, ["assess", str(EXAMPLES / "cases" / "suspected_dvt.json"), "--json"]).output
    )
    in_process = runner.invoke(cli, ["assess", str(response), "--json"])
    assert in_process.exit_code == 0, in_process.output
    done = subprocess.run(
        [sys.executable, "-m", "calfrules", "assess", str(response), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for output in (in_process.output, done.stdout):
        assessed = json.loads(output)
        assert assessed["level"] == expected["level"] == "urgent"
        assert assessed["findings"] == expected["findings"]
    bundle = json.loads(runner.invoke(cli, ["assess", str(response), "--format", "fhir"]).output)
    risks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RiskAssessment"]
    assert risks and all(r["subject"] == {"reference": "Patient/p7"} for r in risks)


def test_the_example_response_answers_the_example_questionnaire(engine: Engine) -> None:
    form = json.loads((EXAMPLES / "fhir" / "questionnaire.json").read_text())
    Questionnaire.model_validate(form)
    # the built-in vocabulary's form; when the vocabulary changes, regenerate it with
    # `calfrules export --fhir-questionnaire -o examples/fhir/questionnaire.json` with no packs installed
    assert {**form, "version": None} == {**form_of(engine), "version": None}
    example = json.loads((EXAMPLES / "fhir" / "suspected-dvt-response.json").read_text())
    R4BResponse.model_validate(example)
    assert case_from_questionnaire_response(example, engine.vocabulary)["findings"] == DVT["findings"]
    assert {q["linkId"] for q in by_link(form).values()} >= set(DVT["findings"])


def response(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": list(items), **fields}


BAD_RESPONSES: list[tuple[dict[str, Any], str]] = [
    ({"resourceType": "Observation"}, "expected a QuestionnaireResponse"),
    (
        response({"linkId": "calf_pian", "answer": [{"valueBoolean": True}]}),
        "'calf_pian' is not a finding (did you mean calf_pain",
    ),
    (
        response({"linkId": "calf_pain", "answer": [{"valueBoolean": True}, {"valueBoolean": False}]}),
        "exactly one answer",
    ),
    (response({"linkId": "calf_pain", "answer": [{"valueString": "yes"}]}), "valueString does not answer a bool"),
    (response({"linkId": "heart_rate", "answer": [{"valueDecimal": 900}]}), "out of range"),
    (response({"linkId": "heart_rate", "answer": [{"valueBoolean": True}]}), "expected a number"),
    (
        response({"linkId": "pain_side", "answer": [{"valueCoding": {"system": "x:y", "code": "left"}}]}),
        "is not an answer to pain_side",
    ),
    (response({"answer": [{"valueBoolean": True}]}), "every item needs a linkId"),
    (response({"linkId": "calf_pain", "answer": [{}]}), "exactly one value[x]"),
    (response(status="entered-in-error"), "entered-in-error"),
    (response(questionnaire="http://example.org/Questionnaire/phq9"), "answers questionnaire 'http://example.org"),
    ({"resourceType": "QuestionnaireResponse", "status": "completed", "item": "calf_pain"}, "'item' must be a list"),
]


@pytest.mark.parametrize(("data", "message"), BAD_RESPONSES)
def test_a_malformed_response_is_one_clear_error_in_the_api_and_the_cli(
    engine: Engine, tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(FhirInputError) as caught:
        case_from_questionnaire_response(data, engine.vocabulary)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["assess", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("calfrules: error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def answers(vocabulary: Vocabulary) -> st.SearchStrategy[dict[str, Value]]:
    def value(finding: Finding) -> st.SearchStrategy[Value]:
        if finding.type == "bool":
            return st.booleans()
        if finding.type == "choice":
            return st.sampled_from(finding.choices)
        return st.floats(finding.minimum, finding.maximum, allow_nan=False, allow_infinity=False)

    findings = list(vocabulary)
    return st.lists(st.sampled_from(findings), unique_by=lambda f: f.id, max_size=25).flatmap(
        lambda chosen: st.fixed_dictionaries({f.id: value(f) for f in chosen})
    )


@given(data=st.data())
def test_any_response_answering_the_vocabulary_reads_as_the_json_case(engine: Engine, data: st.DataObject) -> None:
    findings = data.draw(answers(engine.vocabulary))
    filled = json.loads(json.dumps(fill(form_of(engine), findings)))  # over the wire, as JSON
    read = case_from_questionnaire_response(filled, engine.vocabulary)["findings"]
    assert read == engine.vocabulary.validate(findings)
