"""The OpenAPI description: FastAPI's paths, with the components of service/schemas.py."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from calfrules.service.schemas import ServiceSchemas, component_ref

_STATUS_TEXT = {
    400: "the body is not JSON",
    401: "missing or wrong bearer token",
    404: "unknown service, card, ruleset or assessment (or no audit trail kept)",
    408: "the request body did not arrive in time",
    409: "the card was answered while the audit trail could not record it: there is no record",
    412: "CDS Hooks: FHIR data the service needs is neither in the prefetch nor readable from fhirServer",
    413: "request body too large",
    415: "the body is not sent as JSON (Content-Type: application/json)",
    422: "the request is JSON but not a valid request (the message says what to fix)",
    503: "the assessment did not finish in time, or (GET /health) the audit trail cannot record",
}
BEARER = "bearerToken"


# POST /assess also takes a QuestionnaireResponse; FHIR's own schema is too large to inline,
# so this says what the service reads and links to the specification for the rest
QUESTIONNAIRE_RESPONSE: dict[str, Any] = {
    "title": "QuestionnaireResponse",
    "description": "A FHIR R4 QuestionnaireResponse (https://hl7.org/fhir/R4/questionnaireresponse.html) "
    "answering the Questionnaire `calfrules export --fhir-questionnaire` writes: each item's linkId is a "
    "finding id and its answer the finding's value. A linkId that is not a finding, or an answer of the "
    "wrong type, is refused (422).",
    "type": "object",
    "required": ["resourceType", "status"],
    "properties": {
        "resourceType": {"const": "QuestionnaireResponse"},
        "id": {"type": "string"},
        "questionnaire": {"type": "string", "description": "the canonical URL of calfrules' Questionnaire"},
        "status": {"enum": ["in-progress", "completed", "amended", "entered-in-error", "stopped"]},
        "authored": {"type": "string"},
        "item": {"type": "array", "items": {"$ref": "#/components/schemas/QuestionnaireResponseItem"}},
    },
}
QUESTIONNAIRE_RESPONSE_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["linkId"],
    "properties": {
        "linkId": {"type": "string", "description": "a finding id"},
        "answer": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "valueBoolean, valueDecimal, valueInteger or valueCoding, as the question's type",
                "properties": {
                    "item": {"type": "array", "items": {"$ref": "#/components/schemas/QuestionnaireResponseItem"}}
                },
            },
        },
        "item": {"type": "array", "items": {"$ref": "#/components/schemas/QuestionnaireResponseItem"}},
    },
}


def request_body(*names: str) -> dict[str, Any]:
    """A JSON request body of the named component, or of any one of several."""
    schema = component_ref(names[0]) if len(names) == 1 else {"anyOf": [component_ref(name) for name in names]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def responses(
    status: int, schema: str, *, errors: tuple[int, ...] = (), token: str | None = None, error_schema: str = "Error"
) -> dict[int | str, dict[str, Any]]:
    found: dict[int | str, dict[str, Any]] = {
        status: {"description": "OK", "content": {"application/json": {"schema": component_ref(schema)}}}
    }
    for code in errors:
        if code == 401 and not token:
            continue
        found[code] = {
            "description": _STATUS_TEXT[code],
            "content": {"application/json": {"schema": component_ref(error_schema)}},
        }
    return found


def openapi(app: FastAPI, schemas: ServiceSchemas, *, secured: bool) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(schemas.openapi_components())
        components["schemas"]["QuestionnaireResponse"] = QUESTIONNAIRE_RESPONSE
        components["schemas"]["QuestionnaireResponseItem"] = QUESTIONNAIRE_RESPONSE_ITEM
        for path in document.get("paths", {}).values():
            for operation in path.values():
                # FastAPI documents its own validation error body; ours is the one-line Error
                if "422" in operation.get("responses", {}):
                    operation["responses"]["422"]["content"] = {"application/json": {"schema": component_ref("Error")}}
        if secured:  # the token is checked in limits.RequestGate, for every path but /health
            components["securitySchemes"] = {
                BEARER: {"type": "http", "scheme": "bearer", "description": "the token `calfrules serve` was given"}
            }
            for route, path in document.get("paths", {}).items():
                for operation in path.values():
                    if route != "/health":
                        operation["security"] = [{BEARER: []}]
        for unused in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema
