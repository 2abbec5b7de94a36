"""schemathesis against the service's own OpenAPI description, in-process (ASGI).

Every operation gets generated requests, schema-valid and schema-invalid; the checks:
no 5xx, every status code and content type documented, every response body matching
its schema, valid requests accepted and invalid ones rejected.

(schemathesis' pytest integration, ``from_fixture``/``parametrize``, does not run on
pytest 9 yet, so each operation's hypothesis strategy is driven directly.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from calfrules import Engine
from calfrules.audit import open_audit
from calfrules.service import create_app
from calfrules.service.app import SERVICE_ID

from conftest import IN_CI

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
TOKEN = "test-token"
EXAMPLES = 100 if IN_CI else 20
OPERATIONS = [
    "GET /assessments/{card_id}",
    "GET /cds-services",
    "GET /health",
    "GET /rulesets",
    "GET /rulesets/{ruleset_id}",
    "POST /assess",
    "POST /cds-services/{service_id}",
    "POST /cds-services/{service_id}/feedback",
]


def _config() -> SchemathesisConfig:
    """A body over the size limit is refused with 413 before it is read, valid or not: an answer as documented.

    A CDS Hooks call the schema allows may still lack its FHIR data (412, as the spec
    answers it) or carry a FHIR resource the schema cannot describe in full, such as an
    Observation without a code (422); so may a QuestionnaireResponse sent to POST /assess.
    """
    checks = SchemathesisConfig().projects.default.checks
    positive = [*checks.positive_data_acceptance.expected_statuses, "413"]
    return SchemathesisConfig.from_dict(
        {
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [*checks.negative_data_rejection.expected_statuses, "413"]
                },
                "positive_data_acceptance": {"expected-statuses": positive},
            },
            "operations": [
                {
                    "include-path": "/cds-services/{service_id}",
                    "include-method": "POST",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*positive, "412", "422"]}},
                },
                {  # a QuestionnaireResponse the schema allows may still name a question we do not ask
                    "include-path": "/assess",
                    "include-method": "POST",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*positive, "422"]}},
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def api_schema(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    folder: Path = tmp_path_factory.mktemp("audit")
    with open_audit(f"sqlite:///{folder / 'audit.sqlite3'}") as store:
        app = create_app(engine, audit=store, token=TOKEN)
        # the description is behind the token too
        headers = {"Authorization": f"Bearer {TOKEN}"}
        yield schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(), headers=headers)


def _operations(schema: schemathesis.BaseSchema) -> dict[str, schemathesis.APIOperation]:
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def test_every_operation_is_described(api_schema: schemathesis.BaseSchema) -> None:
    assert sorted(_operations(api_schema)) == OPERATIONS


def test_the_description_shows_the_screen_and_unrecorded_findings(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(engine)) as client:
        components = client.get("/openapi.json").json()["components"]["schemas"]
    assert "red_flag_screen" in components["Assessment"]["required"]
    assert components["Assessment"]["properties"]["red_flag_screen"] == {"$ref": "#/components/schemas/RedFlagScreen"}
    screen = components["RedFlagScreen"]
    assert set(screen["required"]) == {"complete", "unanswered", "questions", "groups", "policy"}
    assert screen["additionalProperties"] is False
    assert screen["properties"]["policy"]["enum"] == ["prompt", "require"]
    assert screen["properties"]["questions"]["items"] == {"$ref": "#/components/schemas/ScreenQuestion"}
    assert set(components["ScreenQuestion"]["required"]) == {"id", "question"}
    for name in ("Reason", "TraceStep", "Score"):
        assert "unrecorded" in components[name]["required"], name
        assert components[name]["properties"]["unrecorded"]["$ref"] == "#/components/schemas/Unrecorded"
    assert components["Unrecorded"]["items"] == {"type": "string"}
    assert components["Card"]["properties"]["extension"] == {"$ref": "#/components/schemas/CardExtension"}
    extension = components["CardExtension"]
    assert "calfrules-screen-complete" in extension["required"]
    assert extension["properties"]["calfrules-screen-complete"]["type"] == "boolean"


def test_the_description_says_assess_takes_a_questionnaire_response(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(engine)) as client:
        document = client.get("/openapi.json").json()
    body = document["paths"]["/assess"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {
        "anyOf": [{"$ref": "#/components/schemas/Case"}, {"$ref": "#/components/schemas/QuestionnaireResponse"}]
    }
    response = document["components"]["schemas"]["QuestionnaireResponse"]
    assert response["properties"]["resourceType"] == {"const": "QuestionnaireResponse"}
    assert response["properties"]["item"]["items"] == {"$ref": "#/components/schemas/QuestionnaireResponseItem"}
    assert document["components"]["schemas"]["QuestionnaireResponseItem"]["required"] == ["linkId"]


# GET /health and GET /rulesets take no input at all, so there is nothing to make invalid for them
CALLS = [
    (label, mode)
    for label in OPERATIONS
    for mode in GenerationMode
    if (label, mode.value) not in (("GET /health", "negative"), ("GET /rulesets", "negative"))
]


@pytest.mark.parametrize(("label", "mode"), CALLS)
def test_the_service_keeps_to_its_openapi_description(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = _operations(api_schema)[label]
    # requests go to the one real service id, so their bodies reach the engine, not a 404
    path = {"service_id": SERVICE_ID} if "{service_id}" in label else None
    path = {"ruleset_id": "red_flags"} if "{ruleset_id}" in label else path
    statuses: Counter[int] = Counter()

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
        statuses[response.status_code] += 1

    run()
    # feedback and GET /assessments need a card recorded earlier, which generated requests never name;
    # a CDS Hooks call without its FHIR data is answered 412 once it has passed every check of the request
    answered = statuses[200] + (statuses[412] if label == "POST /cds-services/{service_id}" else 0)
    if mode is GenerationMode.POSITIVE and not label.endswith(("/feedback", "{card_id}")):
        assert answered > 0, f"no generated request was answered: {dict(statuses)}"
