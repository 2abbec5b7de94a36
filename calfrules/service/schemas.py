"""The JSON Schemas of every request and response body, in one place.

One set of named schemas serves twice: the app validates requests with them
(``validator(name)``), and the OpenAPI description publishes them as components
(``openapi_components()``). The case and assessment schemas come from
``calfrules.formats.json_schema`` (the same documents ``calfrules schema`` prints), so the
OpenAPI description, the published schemas and the code cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from calfrules.formats.json_schema import JsonSchema, assessment_schema, case_schema
from calfrules.rules.errors import CaseError
from calfrules.rules.vocabulary import Vocabulary

CASE_PREFETCH_KEY = "calfrulesCase"


def named_schemas(vocabulary: Vocabulary) -> dict[str, JsonSchema]:
    """Every body schema by name; references between them are ``#/$defs/Name``."""
    schemas: dict[str, JsonSchema] = {}
    for name, document in (("Case", case_schema(vocabulary)), ("Assessment", assessment_schema())):
        defs = document.pop("$defs", {})
        for key in ("$schema", "$id"):
            document.pop(key, None)
        schemas[name] = document
        schemas.update(defs)
    schemas.update(_service_schemas())
    return schemas


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/$defs/{name}"}


def _service_schemas() -> dict[str, JsonSchema]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string", "description": "what is wrong and what to fix"}},
        },
        "CdsDiscovery": {
            "type": "object",
            "required": ["services"],
            "properties": {"services": {"type": "array", "items": _ref("CdsService")}},
        },
        "CdsService": {
            "type": "object",
            "required": ["hook", "id", "description"],
            "properties": {
                "hook": {"type": "string"},
                "id": {"type": "string"},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                "usageRequirements": {"type": "string"},
            },
        },
        "CdsRequest": {
            "type": "object",
            "description": (
                "A CDS Hooks request. The case comes from exactly one place: `context.findings` "
                "(with optional `context.caseId` and `context.note`), or `prefetch.calfrulesCase` "
                "holding a whole case as POST /assess takes it."
            ),
            "required": ["hook", "hookInstance", "context"],
            "properties": {
                "hook": {"type": "string"},
                "hookInstance": {"type": "string"},
                "fhirServer": {"type": "string"},
                "fhirAuthorization": {"type": "object"},
                "context": {
                    "type": "object",
                    "properties": {
                        "findings": _ref("Findings"),
                        "caseId": {"anyOf": case_schema()["properties"]["id"]["anyOf"]},  # the case's own id
                        "note": {"type": "string"},
                    },
                },
                "prefetch": {
                    "type": ["object", "null"],
                    "properties": {CASE_PREFETCH_KEY: _ref("Case")},
                },
            },
            "oneOf": [
                {
                    "properties": {"context": {"required": ["findings"]}},
                    "not": {
                        "required": ["prefetch"],
                        "properties": {"prefetch": {"type": "object", "required": [CASE_PREFETCH_KEY]}},
                    },
                },
                {
                    "required": ["prefetch"],
                    "properties": {
                        "context": {"not": {"required": ["findings"]}},
                        "prefetch": {"type": "object", "required": [CASE_PREFETCH_KEY]},
                    },
                },
            ],
        },
        "CdsResponse": {
            "type": "object",
            "required": ["cards"],
            "properties": {"cards": {"type": "array", "items": _ref("Card")}},
        },
        "Card": {
            "type": "object",
            "required": ["summary", "indicator", "source"],
            "properties": {
                "uuid": {"type": "string", "description": "the audit record id when the service keeps an audit trail"},
                "summary": {"type": "string", "maxLength": 139},
                "detail": {"type": "string", "description": "markdown: level, reasons, red flags, advice, sources"},
                "indicator": {"type": "string", "enum": ["info", "warning", "critical"]},
                "source": {
                    "type": "object",
                    "required": ["label"],
                    "properties": {"label": {"type": "string"}, "url": {"type": "string"}},
                },
                "extension": {
                    "type": "object",
                    "required": ["calfrules-level", "calfrules-complete", "calfrules-screen-complete"],
                    "properties": {
                        "calfrules-level": _ref("Level"),
                        "calfrules-complete": {
                            "type": "boolean",
                            "description": (
                                "false when a plugin or the rule engine failed; the level is then urgent or above"
                            ),
                        },
                        "calfrules-screen-complete": {
                            "type": "boolean",
                            "description": (
                                "false while a red-flag screening question for this case is unanswered; "
                                "the detail lists them near the top"
                            ),
                        },
                    },
                },
            },
        },
        "CdsFeedbackRequest": {
            "type": "object",
            "required": ["feedback"],
            "properties": {
                "feedback": {"type": "array", "minItems": 1, "maxItems": 100, "items": _ref("CdsFeedback")},
            },
        },
        "CdsFeedback": {
            "type": "object",
            "required": ["card", "outcome", "outcomeTimestamp"],
            "properties": {
                "card": {"type": "string", "description": "the uuid of the card"},
                "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
                "acceptedSuggestions": {
                    "type": "array",
                    "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                },
                "overrideReason": {
                    "type": "object",
                    "properties": {
                        "reason": {"type": "object"},
                        "userComment": {"type": "string", "maxLength": 10000},
                    },
                },
                "outcomeTimestamp": {"type": "string"},
                "clinician": {
                    "type": "string",
                    "maxLength": 10000,
                    "description": "calfrules extension: who gave the feedback",
                },
            },
        },
        "FeedbackResult": {
            "type": "object",
            "required": ["recorded"],
            "properties": {"recorded": {"type": "integer", "minimum": 0}},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["ok"]}},
        },
    }


class SchemaSet:
    """Validators for the named schemas, compiled once."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.schemas = named_schemas(vocabulary)
        self._validators: dict[str, Draft202012Validator] = {}

    def validate(self, name: str, instance: object) -> None:
        """Raise CaseError with one readable line for the most relevant problem."""
        validator = self._validators.get(name)
        if validator is None:
            validator = Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": self.schemas})
            self._validators[name] = validator
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            where = ".".join(str(part) for part in error.absolute_path) or "the body"
            message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
            raise CaseError(f"{where}: {message}")

    def openapi_components(self) -> dict[str, Any]:
        """The schemas with references rewritten for OpenAPI's ``#/components/schemas/``."""
        rewritten: dict[str, Any] = _rewrite_refs(copy.deepcopy(self.schemas))
        return rewritten


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (
                item.replace("#/$defs/", "#/components/schemas/")
                if key == "$ref" and isinstance(item, str)
                else _rewrite_refs(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(item) for item in value]
    return value


def component_ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}
