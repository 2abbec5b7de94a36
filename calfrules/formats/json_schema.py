"""JSON Schema documents for the case, the assessment and the ruleset file, generated from their one description.

The case (``CaseInput`` in knowledge/case.py) and the assessment (the dataclasses of
engine/assessment.py) are typed classes; msgspec writes their JSON Schema, and this module
adds what msgspec cannot know: an output dataclass has every field present and no other,
the names published documents have always used (``Condition``, not ``ConditionResult``),
named shapes (``Findings``, ``Unrecorded``) as ``$defs`` of their own, and the findings of a
loaded vocabulary. The service's OpenAPI components come from the same generator
(``service/schemas.py``). The files in ``formats/schemas/`` are generated copies for readers
without Python; tests/test_schema.py fails when they drift (``python -m
calfrules.formats.json_schema`` rewrites them). The ruleset file's schema is laid out by
``formats/ruleset_schema.py`` (a file's tables differ from the dataclasses in places).
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from calfrules.engine.assessment import Assessment, DoseAmount, Matched, Unrecorded
from calfrules.knowledge.case import CaseInput, Findings
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.shapes import PUBLISHED_AS, FindingValue
from calfrules.rules.vocabulary import Finding, Vocabulary

SCHEMA_NAMES: tuple[str, ...] = ("case", "assessment", "ruleset")
JsonSchema = dict[str, Any]
DEFS = "#/$defs/{name}"

# The class names whose published name differs (clients know the published ones).
PUBLISHED_NAMES = {
    "CaseInput": "Case",
    "ConditionResult": "Condition",
    "RecommendationResult": "Recommendation",
    "ScoreResult": "Score",
}
# Shapes that are type aliases, not classes: named (by their Meta title) so they get a $def.
NAMED_SHAPES: dict[str, Any] = {
    "Findings": Findings,
    "Matched": Matched,
    "Unrecorded": Unrecorded,
    "DoseValue": DoseAmount,
    "Value": FindingValue,
}
# Where a class's docstring speaks to Python programmers, what the schema says instead.
DESCRIPTIONS = {"Level": "how soon to be seen, highest first: emergency, urgent, see_clinician, self_care"}
_DOCUMENTS: dict[str, tuple[Any, str]] = {
    "case": (
        CaseInput,
        " `calfrules schema case` fills in every finding the loaded vocabulary knows, with its type, unit and range.",
    ),
    "assessment": (Assessment, ""),
}


def components(roots: Sequence[Any], ref_template: str = DEFS) -> tuple[list[JsonSchema], dict[str, JsonSchema]]:
    """The schemas of ``roots`` (references to components) and every component they need."""
    classes = dict(_object_types(roots))
    published = {extra[PUBLISHED_AS] for t in classes.values() for extra in _field_extras(t).values()}
    tops, found = msgspec.json.schema_components([*roots, *published], ref_template=DEFS)
    comps: dict[str, JsonSchema] = dict(found)
    for cls, info in classes.items():
        body = comps.get(cls.__name__)
        if body is None:
            continue
        for name, extra in _field_extras(info).items():
            body["properties"][name] = {**body["properties"][name], **_ref_to(extra[PUBLISHED_AS])}
            body["properties"][name].pop("type", None)
        if isinstance(info, mi.DataclassType):  # an output: to_dict writes every field, and no other
            body["required"] = list(body["properties"])
            body["additionalProperties"] = False
            for prop in body["properties"].values():
                prop.pop("default", None)
    for top in tops:  # extra keywords on a root (Annotated[Root, Meta(...)]) belong to its component
        name = _ref_name(top.get("$ref", ""))
        if name and len(top) > 1:
            comps[name].update({key: value for key, value in top.items() if key != "$ref"})
    _name_shapes(comps)
    renamed = {old: new for old, new in PUBLISHED_NAMES.items() if old in comps}
    for old, new in renamed.items():
        comps[new] = {**comps.pop(old), "title": new}
    for name, body in comps.items():
        if "description" in body:
            body["description"] = DESCRIPTIONS.get(name) or _plain_text(body["description"])
    roots_schemas = [_with_refs({"$ref": top["$ref"]} if "$ref" in top else top, ref_template) for top in tops]
    return roots_schemas[: len(roots)], {name: _with_refs(body, ref_template) for name, body in comps.items()}


def _plain_text(docstring: str) -> str:
    """A docstring as schema text: paragraphs kept, lines joined, ``code`` as `code`."""
    paragraphs = inspect.cleandoc(docstring).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs).replace("``", "`")


def _object_types(roots: Sequence[Any]) -> Iterator[tuple[type, mi.Type]]:
    """Every dataclass, Struct and TypedDict the roots reach, once."""
    seen: set[type] = set()
    stack: list[mi.Type] = list(mi.multi_type_info(roots))
    while stack:
        t = stack.pop()
        if isinstance(t, (mi.DataclassType, mi.StructType, mi.TypedDictType)):
            if t.cls in seen:
                continue
            seen.add(t.cls)
            yield t.cls, t
            stack.extend(f.type for f in t.fields)
        elif isinstance(t, mi.Metadata):
            stack.append(t.type)
        elif isinstance(t, (mi.CollectionType, mi.DictType)):
            stack.append(t.value_type if isinstance(t, mi.DictType) else t.item_type)
        elif isinstance(t, (mi.UnionType, mi.TupleType)):
            stack.extend(t.types if isinstance(t, mi.UnionType) else t.item_types)


def _field_extras(info: mi.Type) -> dict[str, dict[str, Any]]:
    """The fields of a class whose Meta(extra=...) names a type to publish in place of their own."""
    found: dict[str, dict[str, Any]] = {}
    for field in getattr(info, "fields", ()):
        t = field.type
        while isinstance(t, mi.Metadata):
            if t.extra and PUBLISHED_AS in t.extra:
                found[field.encode_name] = t.extra
            t = t.type
    return found


def _ref_to(shape: Any) -> JsonSchema:
    return {"$ref": DEFS.format(name=shape.__name__)}


def _ref_name(ref: str) -> str:
    return ref.removeprefix(DEFS.format(name="")) if ref.startswith(DEFS.format(name="")) else ""


def _name_shapes(comps: dict[str, JsonSchema]) -> None:
    """Give each named shape a component, and refer to it wherever it is written out inline."""
    for name, shape in NAMED_SHAPES.items():
        [own], extra = msgspec.json.schema_components([shape], ref_template=DEFS)
        comps.update(extra)

        def replace(node: Any, own: JsonSchema = own, name: str = name) -> Any:
            if isinstance(node, list):
                return [replace(item) for item in node]
            if not isinstance(node, dict):
                return node
            if node.get("title") == name:  # keep what the field adds (its own description)
                return {"$ref": DEFS.format(name=name), **{k: v for k, v in node.items() if own.get(k) != v}}
            return {key: replace(value) for key, value in node.items()}

        used = False
        for comp_name, body in list(comps.items()):
            replaced = {key: replace(value) for key, value in body.items()}
            used = used or replaced != body
            comps[comp_name] = replaced
        if used:
            comps[name] = {key: value for key, value in own.items() if key != "title"}


def _with_refs(node: Any, template: str) -> Any:
    """References with published names, in ``template``'s form (``#/components/schemas/{name}``)."""
    if isinstance(node, list):
        return [_with_refs(item, template) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and _ref_name(value):
            name = _ref_name(value)
            out[key] = template.format(name=PUBLISHED_NAMES.get(name, name))
        else:
            out[key] = _with_refs(value, template)
    return out


@cache
def _generated(name: str) -> str:
    if name == "ruleset":
        from calfrules.formats.ruleset_schema import ruleset_schema

        return json.dumps(ruleset_schema(), ensure_ascii=False)
    root, note = _DOCUMENTS[name]
    [top], comps = components([root])
    body = comps.pop(_ref_name(top["$ref"]))
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:calfrules:schema:{name}",
        **body,
        "description": body.get("description", "") + note,
        "$defs": comps,
    }
    return json.dumps(document, ensure_ascii=False)


def load_schema(name: str) -> JsonSchema:
    """The schema document as published (the case schema then accepts any finding id)."""
    if name not in SCHEMA_NAMES:
        raise CalfrulesError(f"unknown schema {name!r}; use one of: {', '.join(SCHEMA_NAMES)}")
    data: JsonSchema = json.loads(_generated(name))
    return data


def assessment_schema() -> JsonSchema:
    return load_schema("assessment")


def case_schema(vocabulary: Vocabulary | None = None) -> JsonSchema:
    """The case schema; with a vocabulary, ``findings`` lists exactly the findings it knows."""
    schema = load_schema("case")
    if vocabulary is not None:
        fill_findings(schema["$defs"]["Findings"], vocabulary)
    return schema


def fill_findings(findings: JsonSchema, vocabulary: Vocabulary) -> None:
    """The Findings schema, narrowed to the vocabulary's findings with their types and ranges."""
    findings["properties"] = {f.id: finding_schema(f) for f in vocabulary}
    findings["additionalProperties"] = False


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


def schema_file(name: str) -> Path:
    return Path(str(resources.files("calfrules.formats") / "schemas" / f"{name}.schema.json"))


def schema_file_text(name: str) -> str:
    """What the published file for ``name`` holds: the generated document, indented."""
    return json.dumps(load_schema(name), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # rewrite the published files from the description
    for schema_name in SCHEMA_NAMES:
        schema_file(schema_name).write_text(schema_file_text(schema_name), encoding="utf-8")
        print(f"wrote {schema_file(schema_name)}")
