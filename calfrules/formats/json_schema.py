"""JSON Schema documents for the case and the assessment.

The documents are kept as JSON files in ``calfrules/schemas/`` (so a clinic can read
them without Python); the case schema is filled in with every finding of a loaded
vocabulary, giving each its type, range and choices. The tests check real outputs
against them with ``jsonschema``, and the HTTP service validates requests with them,
so the published schema, the OpenAPI description and the code agree.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import Finding, Vocabulary

SCHEMA_NAMES: tuple[str, ...] = ("case", "assessment")
JsonSchema = dict[str, Any]


@cache
def _load(name: str) -> str:
    return (resources.files("calfrules.formats") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> JsonSchema:
    """The schema document as shipped (the case schema then accepts any finding id)."""
    if name not in SCHEMA_NAMES:
        raise CalfrulesError(f"unknown schema {name!r}; use one of: {', '.join(SCHEMA_NAMES)}")
    data: JsonSchema = json.loads(_load(name))
    return data


def assessment_schema() -> JsonSchema:
    return load_schema("assessment")


def case_schema(vocabulary: Vocabulary | None = None) -> JsonSchema:
    """The case schema; with a vocabulary, ``findings`` lists exactly the findings it knows."""
    schema = load_schema("case")
    if vocabulary is not None:
        findings = schema["$defs"]["Findings"]
        findings["properties"] = {f.id: finding_schema(f) for f in vocabulary}
        findings["additionalProperties"] = False
    return schema


def finding_schema(finding: Finding) -> JsonSchema:
    """One finding's value: its JSON type, plus range or choices, with the question as description."""
    unit = f" (in {finding.unit})" if finding.unit else ""
    schema: JsonSchema = {"title": finding.label, "description": finding.question + unit}
    if finding.type == "bool":
        schema["type"] = "boolean"
    elif finding.type == "number":
        schema["type"] = "number"
        if finding.minimum is not None:
            schema["minimum"] = finding.minimum
        if finding.maximum is not None:
            schema["maximum"] = finding.maximum
    else:
        schema["type"] = "string"
        schema["enum"] = list(finding.choices)
    return schema


def schema_for(name: str, vocabulary: Vocabulary | None = None) -> JsonSchema:
    """``case`` or ``assessment``, as ``calfrules schema`` publishes it."""
    if name == "case":
        return case_schema(vocabulary)
    return copy.deepcopy(load_schema(name))
