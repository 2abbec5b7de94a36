"""FHIR resources in: Observations, Conditions, Patients and Bundles to findings.

The input resources are built with fhirclient's R4 models (a FHIR library nobody here
wrote) and serialised with ``as_json()``, as an EHR's client would send them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhirclient.models.bundle import Bundle, BundleEntry, BundleEntrySearch
from fhirclient.models.codeableconcept import CodeableConcept
from fhirclient.models.coding import Coding as FhirCoding
from fhirclient.models.condition import Condition
from fhirclient.models.fhirdate import FHIRDate
from fhirclient.models.fhirdatetime import FHIRDateTime
from fhirclient.models.fhirreference import FHIRReference
from fhirclient.models.observation import Observation, ObservationComponent
from fhirclient.models.patient import Patient
from fhirclient.models.quantity import Quantity

from calfrules import Engine, Level
from calfrules.formats.code_map import load_code_map
from calfrules.formats.fhir_input import FhirInputError, findings_from_resources
from calfrules.knowledge.ruleset_io import loads
from calfrules.knowledge.ruleset_write import dumps
from calfrules.rules.errors import RulesetError
from calfrules.rules.vocabulary import FINDING_SYSTEM, Coding, Finding, Vocabulary

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def concept(system: str, code: str, display: str | None = None) -> CodeableConcept:
    coding = FhirCoding()
    coding.system, coding.code, coding.display = system, code, display
    result = CodeableConcept()
    result.coding = [coding]
    return result


def quantity(value: float, code: str | None, unit: str | None = None) -> Quantity:
    q = Quantity()
    q.value = value
    if code is not None:
        q.system, q.code = UCUM, code
    q.unit = unit or code
    return q


def observation(system: str, code: str, *, status: str = "final", when: str | None = None, **value: Any) -> Observation:
    obs = Observation()
    obs.status = status
    obs.code = concept(system, code)
    for key, item in value.items():
        setattr(obs, key, item)
    if when is not None:
        obs.effectiveDateTime = FHIRDateTime(when)
    return obs


def finding_obs(finding: str, **value: Any) -> Observation:
    return observation(FINDING_SYSTEM, finding, **value)


def condition(system: str, code: str, clinical: str = "active", verification: str | None = None) -> Condition:
    cond = Condition()
    cond.code = concept(system, code)
    cond.clinicalStatus = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
    if verification is not None:
        cond.verificationStatus = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification)
    cond.subject = reference("Patient/p1")
    return cond


def reference(text: str) -> FHIRReference:
    ref = FHIRReference()
    ref.reference = text
    return ref


def read(vocabulary: Vocabulary, *resources: Any, **kwargs: Any) -> Any:
    return findings_from_resources(
        [r.as_json() if hasattr(r, "as_json") else r for r in resources], vocabulary, **kwargs
    )


@pytest.fixture(scope="module")
def vocabulary(engine: Engine) -> Vocabulary:
    return engine.vocabulary


# --- codes on findings ---------------------------------------------------------------


def test_vital_signs_carry_their_loinc_codes_and_every_finding_its_own(vocabulary: Vocabulary) -> None:
    expected = {
        "heart_rate": "8867-4",
        "respiratory_rate": "9279-1",
        "systolic_bp": "8480-6",
        "temperature_c": "8310-5",
    }
    for finding_id, code in expected.items():
        assert Coding(LOINC, code, vocabulary[finding_id].codes[0].display) in vocabulary[finding_id].codes
    for finding in vocabulary:
        assert finding.codings()[0] == Coding(FINDING_SYSTEM, finding.id, finding.label)
    assert vocabulary.by_code()[(SCT, "386661006")].id == "fever"


def test_codes_survive_a_ruleset_round_trip_and_bad_codes_are_refused() -> None:
    text = """id = "coded"
version = "1.0.0"
title = "x"
[findings.zz_rate]
type = "number"
label = "Rate"
question = "What rate?"
kind = "measurement"
codes = [{ system = "http://example.org/codes", code = "R-1", display = "Rate" }]
"""
    ruleset = loads(text, "coded.toml")
    assert ruleset.findings[0].codes == (Coding("http://example.org/codes", "R-1", "Rate"),)
    assert loads(dumps(ruleset), "again.toml") == ruleset
    with pytest.raises(RulesetError, match="must be a URI"):
        loads(text.replace("http://example.org/codes", "loinc"), "bad.toml")
    with pytest.raises(RulesetError, match=r"finding zz_rate code: unknown field.*dispaly .did you mean display"):
        loads(text.replace('display = "Rate"', 'dispaly = "Rate"'), "bad.toml")


def test_a_code_can_mean_only_one_finding() -> None:
    vocabulary = Vocabulary()
    vocabulary.add(Finding("a_one", "bool", "A", "A?", codes=(Coding(SCT, "1"),)), "first")
    with pytest.raises(ValueError, match="already has"):
        vocabulary.add(Finding("b_two", "bool", "B", "B?", codes=(Coding(SCT, "1"),)), "second")


# --- Observations --------------------------------------------------------------------


def test_vital_sign_observations_become_findings_with_units_converted(vocabulary: Vocabulary) -> None:
    panel = observation(LOINC, "85354-9")  # blood pressure panel: the systolic is a component
    systolic = ObservationComponent()
    systolic.code, systolic.valueQuantity = concept(LOINC, "8480-6"), quantity(88, "mm[Hg]")
    diastolic = ObservationComponent()
    diastolic.code, diastolic.valueQuantity = concept(LOINC, "8462-4"), quantity(50, "mm[Hg]")
    panel.component = [systolic, diastolic]
    result = read(
        vocabulary,
        observation(LOINC, "8867-4", valueQuantity=quantity(118, "/min")),
        observation(LOINC, "8310-5", valueQuantity=quantity(101.3, "[degF]")),
        observation(LOINC, "59408-5", valueQuantity=quantity(93, "%")),
        panel,
    )
    assert result.findings == {
        "heart_rate": 118.0,
        "temperature_c": 38.5,
        "oxygen_saturation_pct": 93.0,
        "systolic_bp": 88.0,
    }
    assert result.unknown == (f"{LOINC}|8462-4",)  # the diastolic: listed, never guessed


def test_a_no_is_a_no_an_absent_value_is_not_recorded_and_errors_are_ignored(vocabulary: Vocabulary) -> None:
    absent = finding_obs("chest_pain")
    absent.dataAbsentReason = concept("http://terminology.hl7.org/CodeSystem/data-absent-reason", "asked-unknown")
    result = read(
        vocabulary,
        finding_obs("calf_pain", valueBoolean=True),
        finding_obs("fever", valueBoolean=False),
        absent,
        finding_obs("coughing_blood", status="entered-in-error", valueBoolean=True),
        finding_obs("dark_urine", valueCodeableConcept=concept("http://terminology.hl7.org/CodeSystem/v2-0136", "Y")),
    )
    assert result.findings == {"calf_pain": True, "fever": False, "dark_urine": True}


def test_choices_come_from_their_own_codes_or_the_clinic_map(vocabulary: Vocabulary) -> None:
    code_map = load_code_map(EXAMPLES / "code-map.toml", vocabulary)
    side = finding_obs("pain_side", valueCodeableConcept=concept(SCT, "7771000", "Left"))
    where = finding_obs(
        "pain_location", valueCodeableConcept=concept(f"{FINDING_SYSTEM}:pain_location", "posterior_calf")
    )
    local = observation("http://example.org/clinic/ehr-codes", "CALF-PAIN", valueBoolean=True)
    result = read(vocabulary, side, where, local, code_map=code_map)
    assert result.findings == {"pain_side": "left", "pain_location": "posterior_calf", "calf_pain": True}
    with pytest.raises(FhirInputError, match="does not answer pain_side"):
        read(vocabulary, side)  # without the map, SNOMED "Left" means nothing here


# --- Conditions ----------------------------------------------------------------------


def test_conditions_active_count_refuted_and_resolved_do_not_unless_mapped(vocabulary: Vocabulary) -> None:
    code_map = load_code_map(EXAMPLES / "code-map.toml", vocabulary)
    result = read(
        vocabulary,
        condition(SCT, "386661006"),  # fever, active
        condition(SCT, "73211009", verification="refuted"),  # diabetes, refuted
        condition(SCT, "29857009", clinical="resolved"),  # chest pain, resolved
        condition(SCT, "66857006", verification="provisional"),  # haemoptysis, suspected: counts
        condition(SCT, "128053003", clinical="resolved"),  # a past DVT: previous_dvt through the map
        condition(SCT, "128053003", clinical="active"),  # an active DVT is not a "previous" one: not mapped
        code_map=code_map,
    )
    assert result.findings == {"fever": True, "coughing_blood": True, "previous_dvt": True}
    assert result.patient_id == "p1"


# --- Bundles, patients, conflicts ----------------------------------------------------


def search_bundle(*resources: Any) -> Bundle:
    bundle = Bundle()
    bundle.type = "searchset"
    bundle.entry = []
    for resource in resources:
        entry = BundleEntry()
        entry.resource = resource
        bundle.entry.append(entry)
    return bundle


def test_a_searchset_bundle_is_read_and_gives_the_patient(vocabulary: Vocabulary) -> None:
    patient = Patient()
    patient.id = "p1"
    obs = finding_obs("calf_pain", valueBoolean=True)
    obs.subject = reference("Patient/p1")
    bundle = search_bundle(patient, obs)
    note = BundleEntry()
    note.resource, note.search = observation(LOINC, "0000-0", valueBoolean=True), BundleEntrySearch()
    note.search.mode = "outcome"
    bundle.entry.append(note)  # the server's own note is skipped (not even as unknown)
    result = read(vocabulary, bundle)
    assert (result.findings, result.patient_id, result.unknown) == ({"calf_pain": True}, "p1", ())
    other = finding_obs("fever", valueBoolean=True)
    other.subject = reference("Patient/p2")
    with pytest.raises(FhirInputError, match=r"Patient/p2.*Patient/p1"):
        read(vocabulary, bundle, other)


def test_a_yes_stands_against_a_no_and_the_latest_number_stands(vocabulary: Vocabulary) -> None:
    result = read(
        vocabulary,
        finding_obs("fever", valueBoolean=True, when="2026-11-01"),
        finding_obs("fever", valueBoolean=False, when="2026-11-02"),
        observation(LOINC, "8867-4", valueQuantity=quantity(130, "/min"), when="2026-11-28T08:00:00Z"),
        observation(LOINC, "8867-4", valueQuantity=quantity(80, "/min"), when="2026-11-28T08:30:00+01:00"),
    )
    assert result.findings == {"fever": True, "heart_rate": 130.0}  # 08:30+01:00 is before 08:00Z
    with pytest.raises(FhirInputError, match=r"heart_rate = 80\.0, but .* says 130\.0"):
        read(
            vocabulary,
            observation(LOINC, "8867-4", valueQuantity=quantity(130, "/min")),
            observation(LOINC, "8867-4", valueQuantity=quantity(80, "/min")),
        )


def test_observations_assess_like_the_json_case(engine: Engine) -> None:
    case = json.loads((EXAMPLES / "cases" / "suspected_dvt.json").read_text())
    resources = []
    for finding, value in case["findings"].items():
        if isinstance(value, bool):
            resources.append(finding_obs(finding, valueBoolean=value))
        else:
            resources.append(finding_obs(finding, valueQuantity=quantity(value, "cm")))
    result = read(engine.vocabulary, search_bundle(*resources))
    assert result.findings == case["findings"]
    assessed = engine.assess({"findings": result.findings})
    assert assessed.level == engine.assess(case).level == Level.URGENT


# --- every malformed resource: one clear line ----------------------------------------

HR = {"coding": [{"system": LOINC, "code": "8867-4"}]}
MALFORMED: list[tuple[Any, str]] = [
    ("not a resource", "expected a FHIR resource"),
    ({"status": "final"}, "no resourceType"),
    ({"resourceType": "Observation", "code": HR, "valueQuantity": {"value": 80, "code": "/min"}}, "status is required"),
    ({"resourceType": "Observation", "status": "final", "code": HR}, "no value"),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": HR,
            "valueQuantity": {"value": 80, "system": UCUM, "code": "kg"},
        },
        "unit 'kg' does not fit heart_rate",
    ),
    (
        {"resourceType": "Observation", "status": "final", "code": HR, "valueQuantity": {"value": 80}},
        "unit None does not fit",
    ),
    (
        {"resourceType": "Observation", "status": "final", "code": HR, "valueQuantity": {"value": 900, "code": "/min"}},
        "out of range",
    ),
    (
        {"resourceType": "Observation", "status": "final", "code": HR, "valueQuantity": {"value": "80"}},
        "must be a number",
    ),
    (
        {"resourceType": "Observation", "status": "final", "code": HR, "valueBoolean": True, "valueInteger": 3},
        "give one value",
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": HR,
            "valueQuantity": {"value": 8, "code": "/min"},
            "effectiveDateTime": "yesterday",
        },
        "not a FHIR dateTime",
    ),
    (
        {"resourceType": "Observation", "id": "o1", "status": "final", "code": "8867-4"},
        "Observation/o1: code: a CodeableConcept is required",
    ),
    (
        {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "386661006"}]}},
        "clinicalStatus is required",
    ),
    ({"resourceType": "Bundle", "type": "transaction", "entry": []}, "send a searchset or collection"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{}]}, "entry 1 has no resource"),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {
                "coding": [
                    {"system": FINDING_SYSTEM, "code": "fever"},
                    {"system": FINDING_SYSTEM, "code": "chest_pain"},
                ]
            },
            "valueBoolean": True,
        },
        "mean different findings",
    ),
]


@pytest.mark.parametrize(("resource", "message"), MALFORMED)
def test_a_malformed_resource_gets_one_clear_line(vocabulary: Vocabulary, resource: Any, message: str) -> None:
    with pytest.raises(FhirInputError) as caught:
        findings_from_resources([resource], vocabulary)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def patient(gender: str | None = None, born: str | None = None) -> dict[str, Any]:
    resource = Patient()
    resource.id = "p1"
    resource.gender = gender
    if born is not None:
        resource.birthDate = FHIRDate(born)
    return dict(resource.as_json())


@pytest.mark.parametrize(
    ("gender", "born", "today", "expected"),
    [
        ("female", "1970-06-15", date(2026, 6, 14), {"sex": "female", "age": 55.0}),
        ("male", "1970-06-15", date(2026, 6, 15), {"sex": "male", "age": 56.0}),
        ("other", None, date(2026, 1, 1), {}),  # administrative gender other: sex not recorded
        ("unknown", "1976", date(2026, 12, 31), {"age": 50.0}),  # every day of 1976 gives 50
        (None, "1976", date(2026, 6, 1), {}),  # 49 or 50: not recorded rather than guessed
        (None, "1976-02", date(2026, 3, 1), {"age": 50.0}),
    ],
)
def test_a_patient_gives_sex_and_age_only_where_they_are_certain(
    vocabulary: Vocabulary, gender: str | None, born: str | None, today: date, expected: dict[str, Any]
) -> None:
    found = findings_from_resources([patient(gender, born)], vocabulary, today=today)
    assert found.findings == expected
    assert found.patient_id == "p1"


def test_a_recorded_age_or_sex_stands_against_the_patient_resource(vocabulary: Vocabulary) -> None:
    age = observation(LOINC, "30525-0", valueQuantity=quantity(49, "a"))
    found = findings_from_resources(
        [patient("female", "1960-01-01"), age.as_json()], vocabulary, today=date(2026, 1, 2)
    )
    assert found.findings == {"sex": "female", "age": 49.0}


@pytest.mark.parametrize("born", ["1976-13", "76", "2030-01-01", "yesterday"])
def test_a_bad_birth_date_gets_one_clear_line(vocabulary: Vocabulary, born: str) -> None:
    resource = {"resourceType": "Patient", "id": "p1", "birthDate": born}
    with pytest.raises(FhirInputError, match=r"Patient/p1: Patient\.birthDate") as caught:
        findings_from_resources([resource], vocabulary, today=date(2026, 1, 1))
    assert "\n" not in str(caught.value)
