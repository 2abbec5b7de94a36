"""CDS Hooks cards: source.url, links, coded override reasons, suggestions with FHIR resources."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhirclient.models.servicerequest import ServiceRequest as ClientServiceRequest
from service_support import hook_request

from calfrules import Engine
from calfrules.audit import AuditStore
from calfrules.service import create_app
from calfrules.service.app import AUDIT_HEADER, SERVICE_ID
from calfrules.service.cards import card_for
from calfrules.service.suggestions import OVERRIDE_SYSTEM, offer_for, suggestion_uuid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
DVT = json.loads((EXAMPLES / "suspected_dvt.json").read_text())["findings"]
PE = {"calf_pain": True, "chest_pain": True, "swelling_unilateral": True}
SORE = json.loads((EXAMPLES / "sore_calves_after_layoff.json").read_text())["findings"]
CDS = f"/cds-services/{SERVICE_ID}"
BASE = "http://testserver"


def card_of(client: TestClient, findings: dict[str, Any], patient: str = "pat-1") -> dict[str, Any]:
    response = client.post(CDS, json=hook_request(findings, patient))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["uuid"] == response.headers[AUDIT_HEADER]  # the card's uuid is its audit record's id
    return dict(card)


def path_of(url: str) -> str:
    assert url.startswith(BASE + "/")
    return url.removeprefix(BASE)


def test_a_dvt_card_offers_both_tests_as_valid_fhir_service_requests(client: TestClient) -> None:
    card = card_of(client, DVT)
    assert card["selectionBehavior"] == "any"
    ultrasound, d_dimer = card["suggestions"]
    orders = []
    for suggestion in (ultrasound, d_dimer):
        assert suggestion["uuid"] == suggestion_uuid(card["uuid"], _kind(suggestion))
        [action] = suggestion["actions"]
        assert action["type"] == "create" and action["description"]
        order = ServiceRequest.model_validate(action["resource"])  # R4B, as the EHR reads it
        assert ClientServiceRequest(action["resource"], strict=True).as_json() == action["resource"]  # SMART's R4
        assert order.subject.reference == "Patient/pat-1" and order.intent == "proposal"
        assert "ng158" in order.note[0].text
        orders.append(order.code.coding[0].code)
    assert orders == ["proximal-leg-vein-ultrasound", "d-dimer"]
    # Wells 2 (likely): NICE NG158 gives the scan first
    assert ultrasound["isRecommended"] is True and d_dimer["isRecommended"] is False


def _kind(suggestion: dict[str, Any]) -> str:
    return "dvt-ultrasound" if "ultrasound" in suggestion["label"] else "dvt-d-dimer"


def test_an_unlikely_wells_score_recommends_the_d_dimer_first() -> None:
    assert offer_for("urgent", ["dvt"], 1.0).recommended == frozenset({"dvt-d-dimer"})
    assert offer_for("urgent", ["dvt"], 2.0).recommended == frozenset({"dvt-ultrasound"})
    assert offer_for("urgent", ["dvt"], None).recommended == frozenset()
    assert offer_for("see_clinician", [], None).kinds == ()


def test_suggestion_uuids_are_stable_for_a_card_and_differ_between_cards(client: TestClient) -> None:
    first, second = card_of(client, DVT), card_of(client, DVT)
    ids = [s["uuid"] for s in first["suggestions"]]
    assert ids == [suggestion_uuid(first["uuid"], kind) for kind in ("dvt-ultrasound", "dvt-d-dimer")]
    assert not set(ids) & {s["uuid"] for s in second["suggestions"]}


def test_an_emergency_card_carries_the_instruction_to_go_now(client: TestClient) -> None:
    card = card_of(client, PE)
    assert card["indicator"] == "critical" and card["extension"]["calfrules-level"] == "emergency"
    [instruction] = card["suggestions"]
    assert "emergency department now" in instruction["label"] and instruction["isRecommended"] is True
    assert "actions" not in instruction  # an instruction to the clinician, nothing for the EHR to create
    assert card["selectionBehavior"] == "at-most-one"


def test_a_self_care_card_offers_no_suggestions_but_can_be_overridden(client: TestClient) -> None:
    card = card_of(client, SORE)
    assert card["extension"]["calfrules-level"] in ("self_care", "see_clinician")
    assert "suggestions" not in card and "selectionBehavior" not in card
    codes = {reason["code"] for reason in card["overrideReasons"]}
    assert {"already-assessed", "clinical-judgement", "not-applicable", "patient-declined"} <= codes
    assert all(r["system"] == OVERRIDE_SYSTEM and r["display"] for r in card["overrideReasons"])


def test_source_url_documents_the_ruleset_that_decided(client: TestClient, engine: Engine) -> None:
    card = card_of(client, DVT)
    assert card["source"]["url"] == f"{BASE}/rulesets/red_flags"
    doc = client.get(path_of(card["source"]["url"]))
    assert doc.status_code == 200
    body = doc.json()
    red_flags = engine.ruleset("red_flags")
    assert red_flags is not None and (body["id"], body["version"]) == ("red_flags", red_flags.version)
    rule = next(r for r in body["rules"] if r["id"] == "dvt_wells_likely")
    assert rule["escalate"] == "urgent" and rule["references"] == ["nice_ng158", "nice_qs201"]
    assert any(ref["url"] == "https://www.nice.org.uk/guidance/ng158" for ref in body["references"])
    listing = client.get("/rulesets").json()["rulesets"]
    assert {"red_flags", "vocabulary"} <= {r["id"] for r in listing}
    missing = client.get("/rulesets/no_such")
    assert missing.status_code == 404 and "GET /rulesets lists them" in missing.json()["error"]


def test_the_link_resolves_to_the_full_recorded_assessment(client: TestClient, engine: Engine) -> None:
    card = card_of(client, DVT)
    [link] = card["links"]
    assert link["type"] == "absolute" and link["url"] == f"{BASE}/assessments/{card['uuid']}"
    response = client.get(path_of(link["url"]))
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(engine.assess({"findings": DVT}).to_dict()))
    unknown = client.get(f"/assessments/{uuid.uuid4()}")
    assert unknown.status_code == 404 and "no recorded assessment" in unknown.json()["error"]


def test_public_url_is_used_for_links_and_source(engine: Engine, store: AuditStore) -> None:
    with TestClient(create_app(engine, audit=store, public_url="https://cds.example.org/")) as client:
        card = card_of(client, DVT)
    assert card["source"]["url"] == "https://cds.example.org/rulesets/red_flags"
    assert card["links"][0]["url"] == f"https://cds.example.org/assessments/{card['uuid']}"


def test_without_an_audit_trail_there_is_no_link_and_the_uuid_is_still_a_uuid(engine: Engine) -> None:
    with TestClient(create_app(engine)) as client:
        [card] = client.post(CDS, json=hook_request(DVT)).json()["cards"]
        assert "links" not in card and uuid.UUID(card["uuid"])
        response = client.get(f"/assessments/{card['uuid']}")
    assert response.status_code == 404 and "keeps no audit trail" in response.json()["error"]


def test_without_a_patient_the_orders_are_labels_only(engine: Engine) -> None:
    card = card_for(engine.assess({"findings": DVT}), uuid=str(uuid.uuid4()), source_label="s")
    assert [s.get("actions") for s in card["suggestions"]] == [None, None]
    assert "links" not in card and "url" not in card["source"]  # no base URL given


def test_unknown_codes_are_listed_in_the_detail_never_guessed(engine: Engine) -> None:
    assessment = engine.assess({"findings": DVT})
    codes = ["http://loinc.org|9999-9", "http://snomed.info/sct|123456"]
    card = card_for(assessment, uuid="u", source_label="s", unknown_codes=codes)
    assert "Not used: `http://loinc.org|9999-9`, `http://snomed.info/sct|123456`." in card["detail"]
    assert card["extension"]["calfrules-level"] == "urgent"  # they changed nothing
    plain = card_for(assessment, uuid="u", source_label="s")
    assert "Not used" not in plain["detail"] and card["detail"].startswith(plain["detail"])
    many = card_for(assessment, uuid="u", source_label="s", unknown_codes=[f"c{i}" for i in range(25)])
    assert "`c19` and 5 more" in many["detail"] and "`c20`" not in many["detail"]


def test_the_new_routes_need_the_token_like_the_others(engine: Engine, store: AuditStore) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(engine, audit=store, token="s3cret")) as client:
        [card] = client.post(CDS, json=hook_request(DVT), headers=auth).json()["cards"]
        for path in (f"/assessments/{card['uuid']}", "/rulesets", "/rulesets/red_flags"):
            refused = client.get(path)
            assert refused.status_code == 401 and "bearer token" in refused.json()["error"], path
            assert client.get(path, headers=auth).status_code == 200, path
