"""CDS Hooks 2.0 as a conforming EHR sends it: FHIR prefetch, fetching from fhirServer, refusals.

The EHR side is built with the ``fhirclient`` package's models (a FHIR client nobody here
wrote); the FHIR server is a real HTTP server on loopback (tests/fhir_stub.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir_stub import closed_port_base, fhir_stub
from fhirclient.models.bundle import Bundle
from fhirclient.models.condition import Condition
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.models.questionnaireresponse import QuestionnaireResponse

from calfrules import Engine
from calfrules.audit import AuditStore
from calfrules.service import create_app
from calfrules.service.app import SERVICE_ID
from calfrules.service.fhir_fetch import PREFETCH, fill

CDS = f"/cds-services/{SERVICE_ID}"
FINDING = "urn:calfrules:finding"
PATIENT_ID, ENCOUNTER_ID, FHIR_TOKEN = "pat-1", "enc-7", "fhir-access-token-42"
CONTEXT = {"userId": "Practitioner/doc-1", "patientId": PATIENT_ID, "encounterId": ENCOUNTER_ID}
DVT = {
    "calf_pain": True,
    "swelling_unilateral": True,
    "calf_circumference_diff_cm": 3.5,
    "pitting_oedema": True,
    "recent_long_travel": True,
    "calf_warmth": True,
}
AFTER_FIRST_RUN = {"calf_soreness_after_run": True, "calf_tightness": True, "returning_after_layoff": True}
UNITS = {"calf_circumference_diff_cm": "cm"}


# --- what the EHR builds, with fhirclient's models -----------------------------------
def patient() -> dict[str, Any]:
    return Patient({"id": PATIENT_ID, "gender": "female", "birthDate": "1990-04-02"}).as_json()


def observation(finding: str, value: bool | float, *, system: str = FINDING, code: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": "final",
        "code": {"coding": [{"system": system, "code": code or finding}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "encounter": {"reference": f"Encounter/{ENCOUNTER_ID}"},
    }
    if isinstance(value, bool):
        data["valueBoolean"] = value
    else:
        unit = UNITS[finding]
        data["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    return Observation(data).as_json()


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return Bundle({"type": "searchset", "entry": [{"resource": r} for r in resources]}).as_json()


def observations(findings: dict[str, bool | float]) -> dict[str, Any]:
    return searchset([observation(name, value) for name, value in findings.items()])


def no_conditions() -> dict[str, Any]:
    return searchset([])


def hook_request(**extra: Any) -> dict[str, Any]:
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": dict(CONTEXT), **extra}


def full_prefetch(findings: dict[str, bool | float]) -> dict[str, Any]:
    return {
        "patient": patient(),
        "observations": observations(findings),
        "conditions": no_conditions(),
        "questionnaireResponses": None,
    }


def relative_urls() -> dict[str, str]:
    urls = {key: fill(template, CONTEXT) for key, template in PREFETCH.items()}
    assert all(urls.values())
    return {key: url for key, url in urls.items() if url}


# --- fixtures -----------------------------------------------------------------------
def refused(client: TestClient, store: AuditStore, body: Any, status: int, words: str) -> None:
    """``body`` gets ``status`` with one line holding ``words``, and nothing is recorded."""
    before = store.count()
    response = client.post(CDS, json=body)
    message = response.json()["error"]
    assert (response.status_code, "\n" in message) == (status, False), message
    assert words in message
    assert store.count() == before


# --- discovery ----------------------------------------------------------------------
def test_discovery_declares_standard_fhir_prefetch_templates(client: TestClient) -> None:
    [service] = client.get("/cds-services").json()["services"]
    assert service["hook"] == "patient-view"
    assert service["prefetch"] == {
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "questionnaireResponses": PREFETCH["questionnaireResponses"],
    }
    assert "calfrulesCase" not in str(service)
    assert PREFETCH["questionnaireResponses"].startswith("QuestionnaireResponse?subject=Patient/{{context.patientId}}")


# --- a conforming EHR's request -------------------------------------------------------
def test_a_suspected_dvt_from_prefetched_observations_escalates(client: TestClient, store: AuditStore) -> None:
    response = client.post(CDS, json=hook_request(prefetch=full_prefetch(DVT)))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["extension"]["calfrules-level"] == "urgent" and card["indicator"] == "critical"
    record = store.get(card["uuid"])
    assert record is not None and record.case["findings"].items() >= DVT.items()
    assert record.case["findings"]["sex"] == "female"  # from the Patient resource


def test_a_sore_calf_after_a_first_run_back_is_self_care(client: TestClient) -> None:
    [card] = client.post(CDS, json=hook_request(prefetch=full_prefetch(AFTER_FIRST_RUN))).json()["cards"]
    assert card["extension"]["calfrules-level"] == "self_care" and card["indicator"] == "info"


def test_an_active_condition_counts_and_a_chart_with_nothing_relevant_gets_no_card(client: TestClient) -> None:
    cancer = Condition(
        {
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "code": {"coding": [{"system": FINDING, "code": "active_cancer"}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }
    ).as_json()
    prefetch = full_prefetch({"calf_pain": True, "swelling_unilateral": True}) | {"conditions": searchset([cancer])}
    [card] = client.post(CDS, json=hook_request(prefetch=prefetch)).json()["cards"]
    assert "active_cancer" in card["detail"] or "cancer" in card["detail"].lower()
    empty = full_prefetch({}) | {"observations": None}
    response = client.post(CDS, json=hook_request(prefetch=empty))
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_unknown_codes_are_listed_in_the_detail_never_guessed(client: TestClient) -> None:
    odd = observation("calf_pain", True, system="http://example.org/ehr-codes", code="XYZ-123")
    prefetch = full_prefetch(DVT)
    prefetch["observations"]["entry"].append({"resource": odd})
    [card] = client.post(CDS, json=hook_request(prefetch=prefetch)).json()["cards"]
    assert "XYZ-123" in card["detail"]


def test_the_findings_extension_merges_with_the_fhir_data(client: TestClient, store: AuditStore) -> None:
    request = hook_request(prefetch=full_prefetch({"calf_pain": True}))
    request["context"]["findings"] = {"swelling_unilateral": True, "calf_pain": True}
    [card] = client.post(CDS, json=request).json()["cards"]
    record = store.get(card["uuid"])
    assert (
        record is not None
        and record.case["findings"].items() >= {"calf_pain": True, "swelling_unilateral": True}.items()
    )
    request["context"]["findings"] = {"calf_pain": False}
    refused(client, store, request, 422, "context.findings.calf_pain is False but the FHIR data says True")


def test_findings_alone_need_no_fhir_data(client: TestClient) -> None:
    request = hook_request()
    request["context"]["findings"] = DVT
    [card] = client.post(CDS, json=request).json()["cards"]
    assert card["extension"]["calfrules-level"] == "urgent"


# --- fetching what the prefetch left out --------------------------------------------------
def stub_resources() -> dict[str, Any]:
    urls = relative_urls()
    return {
        urls["patient"]: patient(),
        urls["observations"]: observations(DVT),
        urls["conditions"]: no_conditions(),
        urls["questionnaireResponses"]: searchset([]),
    }


def authorization() -> dict[str, Any]:
    return {
        "access_token": FHIR_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "calfrules",
    }


def test_missing_prefetch_is_read_from_the_fhir_server_with_the_bearer_token(engine: Engine, store: AuditStore) -> None:
    with fhir_stub(stub_resources(), token=FHIR_TOKEN) as stub:
        app = create_app(engine, audit=store, fhir_servers=[stub.base])
        request = hook_request(fhirServer=stub.base, fhirAuthorization=authorization(), prefetch={"patient": patient()})
        with TestClient(app) as client:
            response = client.post(CDS, json=request)
        assert response.status_code == 200, response.text
        [card] = response.json()["cards"]
        assert card["extension"]["calfrules-level"] == "urgent"
        urls = relative_urls()
        assert sorted(url for url, _ in stub.seen) == sorted(
            urls[k] for k in ("observations", "conditions", "questionnaireResponses")
        )
        assert {header for _, header in stub.seen} == {f"Bearer {FHIR_TOKEN}"}


def test_an_operation_outcome_in_the_prefetch_is_fetched_again(engine: Engine, store: AuditStore) -> None:
    with fhir_stub(stub_resources(), token=FHIR_TOKEN) as stub:
        failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
        prefetch = full_prefetch({}) | {"observations": failed}
        request = hook_request(fhirServer=stub.base, fhirAuthorization=authorization(), prefetch=prefetch)
        with TestClient(create_app(engine, audit=store, fhir_servers=[stub.base])) as client:
            [card] = client.post(CDS, json=request).json()["cards"]
        assert card["extension"]["calfrules-level"] == "urgent"
        assert [url for url, _ in stub.seen] == [relative_urls()["observations"]]


def test_a_search_of_several_pages_is_read_to_the_end(engine: Engine, store: AuditStore) -> None:
    resources = stub_resources()
    first_half = dict(list(DVT.items())[:3])
    second_half = dict(list(DVT.items())[3:])
    with fhir_stub(resources, token=FHIR_TOKEN) as stub:
        page_one = observations(first_half)
        page_one["link"] = [{"relation": "next", "url": f"{stub.base}/Observation?page=2"}]
        stub.resources[relative_urls()["observations"]] = page_one
        stub.resources["Observation?page=2"] = observations(second_half)
        prefetch = {key: value for key, value in full_prefetch({}).items() if key != "observations"}
        request = hook_request(fhirServer=stub.base, fhirAuthorization=authorization(), prefetch=prefetch)
        with TestClient(create_app(engine, audit=store, fhir_servers=[stub.base + "/"])) as client:
            [card] = client.post(CDS, json=request).json()["cards"]
        record = store.get(card["uuid"])
        assert record is not None and record.case["findings"].items() >= DVT.items()
        assert [url for url, _ in stub.seen] == [relative_urls()["observations"], "Observation?page=2"]


def test_a_bad_prefetch_value_is_refused_before_anything_is_fetched(engine: Engine, store: AuditStore) -> None:
    with fhir_stub(stub_resources(), token=FHIR_TOKEN) as stub:
        prefetch = {"conditions": {"entry": []}}  # no resourceType; the other keys are left out, to be fetched
        request = hook_request(fhirServer=stub.base, fhirAuthorization=authorization(), prefetch=prefetch)
        with TestClient(create_app(engine, audit=store, fhir_servers=[stub.base])) as client:
            refused(client, store, request, 422, "prefetch.conditions must be a FHIR resource")
        assert stub.seen == []


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("no fhirServer", "prefetch.observations is missing and the request has no fhirServer"),
        ("server not allowed", "may not read from fhirServer"),
        ("server down", "reading it from the FHIR server failed: ConnectError"),
        ("token refused", "answered HTTP 401 (the access token was refused)"),
        ("no encounter", "cannot be read without context.encounterId"),
    ],
)
def test_data_that_cannot_be_had_is_412_and_nothing_is_recorded(
    engine: Engine, store: AuditStore, case: str, words: str
) -> None:
    with fhir_stub(stub_resources(), token=FHIR_TOKEN) as stub:
        down = closed_port_base()
        allowed = [stub.base, down]
        request = hook_request(fhirServer=stub.base, fhirAuthorization=authorization(), prefetch={"patient": patient()})
        if case == "no fhirServer":
            del request["fhirServer"], request["fhirAuthorization"]
        elif case == "server not allowed":
            allowed = []
        elif case == "server down":
            request["fhirServer"] = down
        elif case == "token refused":
            request["fhirAuthorization"]["access_token"] = "stolen"
        elif case == "no encounter":
            del request["context"]["encounterId"]
        with TestClient(create_app(engine, audit=store, fhir_servers=allowed)) as client:
            refused(client, store, request, 412, words)


# --- refusals -----------------------------------------------------------------------------
def malformed(change: str) -> dict[str, Any]:
    request = hook_request(prefetch=full_prefetch(DVT))
    if change == "hook":
        request["hook"] = "order-sign"
    elif change == "hookInstance":
        request["hookInstance"] = "not-a-uuid"
    elif change == "patientId":
        del request["context"]["patientId"]
    elif change == "patientId injection":
        request["context"]["patientId"] = "1&code=x"
    elif change == "calfrulesCase":
        request["prefetch"]["calfrulesCase"] = {"findings": DVT}
    elif change == "prefetch not a resource":
        request["prefetch"]["observations"] = {"entry": []}
    elif change == "prefetch wrong resource":
        request["prefetch"]["observations"] = patient()
    elif change == "prefetch a string":
        request["prefetch"]["patient"] = "Patient/1"
    elif change == "another patient":
        request["prefetch"] = full_prefetch({}) | {"patient": Patient({"id": "someone-else"}).as_json()}
    elif change == "observation without code":
        request["prefetch"]["observations"]["entry"].append(
            {"resource": {"resourceType": "Observation", "status": "final", "valueBoolean": True}}
        )
    elif change == "bad fhirAuthorization":
        request["fhirServer"] = "http://127.0.0.1:9/fhir"
        request["fhirAuthorization"] = {"access_token": "x", "token_type": "MAC"}
    elif change == "bad finding in the extension":
        request["context"]["findings"] = {"calf_pian": True}
    return request


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ("hook", 400, "this service answers the patient-view hook, not 'order-sign'"),
        ("hookInstance", 400, "hookInstance must be a UUID"),
        ("patientId", 400, "context.patientId must be the patient's FHIR id"),
        ("patientId injection", 400, "context.patientId must be the patient's FHIR id"),
        ("calfrulesCase", 400, "prefetch.calfrulesCase is not a key this service declares"),
        ("prefetch not a resource", 422, "prefetch.observations must be a FHIR resource"),
        ("prefetch wrong resource", 422, "prefetch.observations must be a Bundle of Observation resources"),
        ("prefetch a string", 422, "prefetch: 'patient' must be an object or null"),
        ("another patient", 422, "the FHIR data is about patient 'someone-else'"),
        ("observation without code", 422, "resource 2 is prefetch.observations"),
        ("bad fhirAuthorization", 422, "fhirAuthorization: unknown token_type 'MAC'"),
        ("bad finding in the extension", 422, "did you mean calf_pain"),
    ],
)
def test_a_malformed_request_is_one_line_and_nothing_is_recorded(
    client: TestClient, store: AuditStore, change: str, status: int, words: str
) -> None:
    refused(client, store, malformed(change), status, words)


# --- POST /assess with a QuestionnaireResponse ------------------------------------------------
def questionnaire_response(findings: dict[str, bool | float]) -> dict[str, Any]:
    def answer(value: bool | float) -> dict[str, Any]:
        return {"valueBoolean": value} if isinstance(value, bool) else {"valueDecimal": value}

    items = [{"linkId": name, "answer": [answer(value)]} for name, value in findings.items()]
    return QuestionnaireResponse({"status": "completed", "item": items}).as_json()


def test_assess_takes_a_questionnaire_response(client: TestClient, engine: Engine) -> None:
    response = client.post("/assess", json=questionnaire_response(DVT))
    assert response.status_code == 200, response.text
    assert response.json()["level"] == engine.assess({"findings": DVT}).level.value == "urgent"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (Patient({"id": "1"}).as_json(), "POST /assess takes a case or a QuestionnaireResponse, not a 'Patient'"),
        ({"resourceType": "QuestionnaireResponse", "status": "completed", "item": "calf_pain"}, "item"),
    ],
)
def test_assess_refuses_other_resources_and_bad_answers(
    client: TestClient, store: AuditStore, body: dict[str, Any], words: str
) -> None:
    before = store.count()
    response = client.post("/assess", json=body)
    assert response.status_code == 422 and words in response.json()["error"]
    assert store.count() == before


# --- the clinic's code map, and a signed request end to end ------------------------------------
CODE_MAP = Path(__file__).resolve().parent.parent / "examples" / "code-map.toml"


def test_the_clinic_code_map_turns_its_own_codes_into_findings(engine: Engine, store: AuditStore) -> None:
    ehr = "http://example.org/clinic/ehr-codes"
    prefetch = full_prefetch({}) | {
        "observations": searchset(
            [
                observation("calf_pain", True, system=ehr, code="CALF-PAIN"),
                observation("calf_circumference_diff_cm", 3.5, system=ehr, code="CALF-DIFF"),
                *(observation(name, value) for name, value in DVT.items() if name not in UNITS and name != "calf_pain"),
            ]
        )
    }
    with TestClient(create_app(engine, audit=store, code_map=CODE_MAP)) as client:
        [card] = client.post(CDS, json=hook_request(prefetch=prefetch)).json()["cards"]
    record = store.get(card["uuid"])
    assert record is not None and record.case["findings"].items() >= DVT.items()
    assert "CALF-PAIN" not in card["detail"]  # mapped, so not listed as unknown


def test_a_signed_request_with_only_fhir_prefetch_gets_a_correct_card(
    engine: Engine, store: AuditStore, tmp_path: Path
) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "ehr.pem").write_bytes(pem)
    issuers = tmp_path / "issuers.toml"
    issuers.write_text(
        'base_url = "https://cds.example.org"\n\n[[issuer]]\niss = "https://ehr.example.org"\n'
        'key_file = "ehr.pem"\nkid = "ehr-1"\n'
    )
    now = int(time.time())
    claims = {
        "iss": "https://ehr.example.org",
        "aud": f"https://cds.example.org{CDS}",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "ehr-1"})
    app = create_app(engine, audit=store, token="static-secret", cds_issuers=issuers)
    with TestClient(app) as client:
        unsigned = client.post(CDS, json=hook_request(prefetch=full_prefetch(DVT)))
        signed = client.post(
            CDS, json=hook_request(prefetch=full_prefetch(DVT)), headers={"Authorization": f"Bearer {token}"}
        )
    assert unsigned.status_code == 401
    assert signed.status_code == 200, signed.text
    [card] = signed.json()["cards"]
    assert card["extension"]["calfrules-level"] == "urgent" and store.count() == 1


def test_serve_refuses_a_fhir_server_that_is_not_a_url(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from calfrules.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--no-audit", "--fhir-server", "ehr.example.org/fhir"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("calfrules: error: FHIR server 'ehr.example.org/fhir'")
