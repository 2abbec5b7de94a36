"""CDS Hooks feedback: checked against what the card offered; a card's uuid always finds its record."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import hook_request

from calfrules import Engine
from calfrules.audit import AuditStore
from calfrules.service import create_app
from calfrules.service.app import AUDIT_FAILED_HEADER, AUDIT_HEADER, SERVICE_ID
from calfrules.service.suggestions import OVERRIDE_SYSTEM

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
DVT = json.loads((EXAMPLES / "suspected_dvt.json").read_text())["findings"]
PE = {"calf_pain": True, "chest_pain": True, "swelling_unilateral": True}
CDS = f"/cds-services/{SERVICE_ID}"
FEEDBACK = f"{CDS}/feedback"
WHEN = "2026-11-26T09:30:00Z"


def card_of(client: TestClient, findings: dict[str, Any]) -> dict[str, Any]:
    response = client.post(CDS, json=hook_request(findings))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    return dict(card)


def accepted(card: dict[str, Any], *suggestions: str, when: str = WHEN) -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": when,
        "acceptedSuggestions": [{"id": s} for s in suggestions],
    }


def overridden(card: dict[str, Any], code: str, system: str = OVERRIDE_SYSTEM) -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": WHEN,
        "overrideReason": {"reason": {"system": system, "code": code}, "userComment": "scan booked this morning"},
    }


def test_accepting_an_offered_suggestion_and_overriding_with_an_offered_reason_are_recorded(
    client: TestClient, store: AuditStore
) -> None:
    card, other = card_of(client, DVT), card_of(client, DVT)
    ultrasound = card["suggestions"][0]["uuid"]
    items = [accepted(card, ultrasound), overridden(other, "already-arranged")]
    response = client.post(FEEDBACK, json={"feedback": items})
    assert response.status_code == 200 and response.json() == {"recorded": 2}
    first, second = store.get(card["uuid"]), store.get(other["uuid"])
    assert first is not None and second is not None
    [yes] = first.feedback
    assert yes.outcome == "accepted" and yes.extra is not None
    assert yes.extra["acceptedSuggestions"] == [{"id": ultrasound}] and yes.extra["outcomeTimestamp"] == WHEN
    [no] = second.feedback
    assert no.outcome == "overridden" and no.comment == "scan booked this morning" and no.extra is not None
    assert no.extra["overrideReason"] == {"system": OVERRIDE_SYSTEM, "code": "already-arranged"}


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda card: accepted(card, when="not-a-time"), "feedback.1.outcomeTimestamp: 'not-a-time' is not"),
        (lambda card: accepted(card, when="2026-11-26"), "is not an ISO 8601 date and time"),
        (lambda card: accepted(card, when="2026-11-26T09:30:00"), "with a UTC offset"),  # no offset: which day?
        (lambda card: accepted(card, when="2026-13-26T09:30:00Z"), "is not an ISO 8601"),
        (lambda card: accepted(card, "not-offered"), "feedback.1.acceptedSuggestions: 'not-offered' is not"),
        (lambda card: overridden(card, "bored"), "overrideReason.reason: urn:calfrules:override-reason|bored"),
        (lambda card: overridden(card, "already-arranged", "http://example.org"), "is not one of the card's"),
        (
            lambda card: {**overridden(card, "already-arranged"), "acceptedSuggestions": [{"id": "x"}]},
            "acceptedSuggestions go with outcome 'accepted'",
        ),
        (
            lambda card: {
                **accepted(card),
                **{k: v for k, v in overridden(card, "x").items() if k == "overrideReason"},
            },
            "an overrideReason goes with outcome 'overridden'",
        ),
    ],
)
def test_feedback_the_card_did_not_offer_is_one_422_line_and_nothing_is_recorded(
    client: TestClient, store: AuditStore, make: Any, words: str
) -> None:
    card = card_of(client, DVT)
    good = accepted(card, card["suggestions"][0]["uuid"])  # a valid item first: the request is refused whole
    response = client.post(FEEDBACK, json={"feedback": [good, make(card)]})
    message = response.json()["error"]
    assert response.status_code == 422 and words in message and "\n" not in message, message
    record = store.get(card["uuid"])
    assert record is not None and record.feedback == ()


def test_offsets_and_fractions_are_valid_timestamps(client: TestClient) -> None:
    card = card_of(client, PE)
    [instruction] = card["suggestions"]
    for when in ("2026-11-26T09:30:00.123456+01:00", "2026-11-26t09:30:00z", "2026-11-26T09:30:00-05:00"):
        response = client.post(FEEDBACK, json={"feedback": [accepted(card, instruction["uuid"], when=when)]})
        assert response.status_code == 200, response.text


def test_feedback_from_one_card_cannot_name_another_cards_suggestion(client: TestClient, store: AuditStore) -> None:
    card, other = card_of(client, DVT), card_of(client, DVT)
    response = client.post(FEEDBACK, json={"feedback": [accepted(card, other["suggestions"][0]["uuid"])]})
    assert response.status_code == 422 and other["suggestions"][0]["uuid"] in response.json()["error"]
    record = store.get(card["uuid"])
    assert record is not None and record.feedback == ()


class FailsOnce:
    """An audit store whose first write fails; ``committed``: that write did commit (the connection broke after)."""

    def __init__(self, store: AuditStore, *, committed: bool) -> None:
        self.store = store
        self.committed = committed
        self.failures = 0

    def record(self, **kwargs: Any) -> str:
        if self.failures == 0:
            self.failures += 1
            if self.committed:
                self.store.record(**kwargs)
            raise OSError("connection lost")
        return self.store.record(**kwargs)

    def add_feedback(self, record_id: str, **kwargs: Any) -> None:
        self.store.add_feedback(record_id, **kwargs)

    def get(self, record_id: str) -> Any:
        return self.store.get(record_id)


@pytest.mark.parametrize("committed", [False, True], ids=["failed-then-retried", "committed-but-reported-failed"])
def test_a_card_whose_write_was_retried_finds_its_record(engine: Engine, store: AuditStore, committed: bool) -> None:
    trail = FailsOnce(store, committed=committed)
    with TestClient(create_app(engine, audit=trail)) as client:
        response = client.post(CDS, json=hook_request(DVT))
        [card] = response.json()["cards"]
        assert trail.failures == 1 and AUDIT_FAILED_HEADER not in response.headers
        assert response.headers[AUDIT_HEADER] == card["uuid"]
        item = overridden(card, "clinical-judgement")
        assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
        assert client.get(f"/assessments/{card['uuid']}").json()["level"] == "urgent"
    record = store.get(card["uuid"])
    assert record is not None and [f.outcome for f in record.feedback] == ["overridden"]
    assert store.count() == 1  # the retry wrote no second record


class NeverRecords:
    def record(self, **kwargs: Any) -> str:
        raise OSError("disk full")

    def add_feedback(self, record_id: str, **kwargs: Any) -> None:
        raise AssertionError("feedback on an unrecorded card must not be written")

    def get(self, record_id: str) -> None:
        return None


def test_feedback_on_a_card_whose_write_failed_is_409_one_line(engine: Engine) -> None:
    with TestClient(create_app(engine, audit=NeverRecords())) as client:
        response = client.post(CDS, json=hook_request(DVT))
        [card] = response.json()["cards"]
        assert AUDIT_FAILED_HEADER in response.headers and uuid.UUID(card["uuid"])
        assert "links" not in card  # it would lead nowhere
        answer = client.post(FEEDBACK, json={"feedback": [overridden(card, "clinical-judgement")]})
        shown = client.get(f"/assessments/{card['uuid']}")
        unknown = client.post(FEEDBACK, json={"feedback": [{**overridden(card, "x"), "card": str(uuid.uuid4())}]})
    message = answer.json()["error"]
    assert answer.status_code == 409 and "could not record it" in message and "\n" not in message
    assert shown.status_code == 409 and card["uuid"] in shown.json()["error"]
    assert unknown.status_code == 404 and "unknown card(s)" in unknown.json()["error"]


def test_without_an_audit_trail_feedback_is_404_one_line(engine: Engine) -> None:
    with TestClient(create_app(engine)) as client:
        card = card_of(client, DVT)
        response = client.post(FEEDBACK, json={"feedback": [accepted(card, card["suggestions"][0]["uuid"])]})
    assert response.status_code == 404 and "keeps no audit trail" in response.json()["error"]
