"""The vocabulary as a FHIR R4 (SDC) Questionnaire, and its QuestionnaireResponse read back.

The Questionnaire (``calfrules export --fhir-questionnaire``) asks, in this order:

1. the red-flag screen, one group per screen group (``screen.<id>``), always shown: a red
   flag is asked whatever the complaint. A question shared by two screen groups is asked
   once, in the first;
2. the rest of the vocabulary, one group per vocabulary group (``group.<name>``).

Every question's linkId is its finding id; its ``code`` lists the finding's codes
(``urn:calfrules:finding|<id>`` first). Yes/no findings are ``boolean`` items; numbers are
``decimal`` items with their unit (``questionnaire-unit``, UCUM) and range (``minValue``,
``maxValue``); choices are ``choice`` items whose answers are codes in
``urn:calfrules:finding:<id>``. A follow-up question (``FOLLOW_UPS``) is shown only when its
parent is answered yes (``enableWhen``). Nothing is required: an unanswered question is
"not recorded", never a no.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from calfrules.formats.fhir_codes import (
    UCUM,
    FhirInputError,
    checked,
    choice_system,
    coded_value,
    quantity_value,
    ucum_code,
)
from calfrules.rules.model import ScreenGroup
from calfrules.rules.vocabulary import Finding, Value, Vocabulary, shown

URL = "urn:calfrules:questionnaire"
SDC_PROFILE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"
EXT = "http://hl7.org/fhir/StructureDefinition/"
# follow-up -> the yes/no findings of which a yes shows it (any of them)
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "numbness_new": ("numbness",),
    "cramps_recurrent": ("cramp_during_run", "cramp_at_rest"),
}
ANSWER_KEYS = ("valueBoolean", "valueDecimal", "valueInteger", "valueQuantity", "valueCoding", "valueString")


def questionnaire(
    vocabulary: Vocabulary, screen: Iterable[ScreenGroup], *, version: str | None = None
) -> dict[str, Any]:
    """The R4 SDC Questionnaire: the red-flag screen first, then every other finding by group."""
    asked: set[str] = set()
    screen_items = []
    for group in screen:
        questions = [q for q in group.ask if q in vocabulary and q not in asked]
        asked.update(questions)
        if questions:
            screen_items.append(
                _group(f"screen.{group.id}", f"Red-flag screen: {group.label}", questions, vocabulary, asked)
            )
    groups: dict[str, list[str]] = {}
    for finding in vocabulary:
        if finding.id not in asked:
            groups.setdefault(finding.group, []).append(finding.id)
    # follow-ups asked in the screen are always shown: a red-flag question is never hidden
    items = screen_items + [
        _group(f"group.{name}", name.replace("_", " ").capitalize(), ids, vocabulary, asked)
        for name, ids in groups.items()
    ]
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "meta": {"profile": [SDC_PROFILE]},
        "url": URL,
        "name": "CalfrulesAssessment",
        "title": "Calf and lower-leg pain in runners: the questions calfrules asks",
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    }
    if version:
        resource["version"] = version
    return resource


def _group(link_id: str, text: str, ids: list[str], vocabulary: Vocabulary, screened: set[str]) -> dict[str, Any]:
    return {
        "linkId": link_id,
        "text": text,
        "type": "group",
        "item": [_item(vocabulary[i], vocabulary, screened) for i in ids],
    }


def _item(finding: Finding, vocabulary: Vocabulary, screened: set[str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": finding.id,
        "code": [coding.to_dict() for coding in finding.codings()],
        "text": finding.question,
        "type": {"bool": "boolean", "number": "decimal", "choice": "choice"}[finding.type],
        "required": False,
    }
    extensions: list[dict[str, Any]] = []
    unit = ucum_code(finding.unit)
    if unit is not None:
        extensions.append(
            {"url": EXT + "questionnaire-unit", "valueCoding": {"system": UCUM, "code": unit, "display": finding.unit}}
        )
    if finding.minimum is not None:
        extensions.append({"url": EXT + "minValue", "valueDecimal": finding.minimum})
    if finding.maximum is not None:
        extensions.append({"url": EXT + "maxValue", "valueDecimal": finding.maximum})
    if extensions:
        item["extension"] = extensions
    if finding.type == "choice":
        item["answerOption"] = [
            {"valueCoding": {"system": choice_system(finding.id), "code": c, "display": c.replace("_", " ")}}
            for c in finding.choices
        ]
    parents = [p for p in FOLLOW_UPS.get(finding.id, ()) if p in vocabulary and vocabulary[p].type == "bool"]
    if parents and finding.id not in screened:
        item["enableWhen"] = [{"question": p, "operator": "=", "answerBoolean": True} for p in parents]
        if len(parents) > 1:
            item["enableBehavior"] = "any"
    return item


def response_answers(response: Mapping[str, Any], vocabulary: Vocabulary, where: str) -> dict[str, Value]:
    """Finding id -> value for every answered question of a QuestionnaireResponse; FhirInputError if malformed."""
    answered = response.get("questionnaire")
    if answered is not None and (not isinstance(answered, str) or answered.split("|")[0] != URL):
        raise FhirInputError(
            f"{where}: it answers questionnaire {shown(answered)}, not {URL}; "
            "answer the one `calfrules export --fhir-questionnaire` writes"
        )
    found: dict[str, Value] = {}
    _answers(response.get("item", []), vocabulary, where, found)
    return found


def _answers(items: object, vocabulary: Vocabulary, where: str, found: dict[str, Value]) -> None:
    if not isinstance(items, list):
        raise FhirInputError(f"{where}: 'item' must be a list of items")
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("linkId"), str):
            raise FhirInputError(f"{where}: every item needs a linkId (got {shown(item)})")
        link_id = item["linkId"]
        answers = item.get("answer", [])
        if not isinstance(answers, list):
            raise FhirInputError(f"{where}: item {link_id}: 'answer' must be a list")
        if answers:
            value = _answer(link_id, answers, vocabulary, f"{where}: item {link_id}")
            if link_id in found and found[link_id] != value:
                raise FhirInputError(f"{where}: item {link_id} is answered twice, differently; answer it once")
            found[link_id] = value
        for answer in answers:
            if isinstance(answer, Mapping) and "item" in answer:
                _answers(answer["item"], vocabulary, where, found)
        if "item" in item:
            _answers(item["item"], vocabulary, where, found)


def _answer(link_id: str, answers: list[Any], vocabulary: Vocabulary, where: str) -> Value:
    finding = vocabulary.findings.get(link_id)
    if finding is None:
        hint = vocabulary.suggest(link_id)
        tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
        raise FhirInputError(f"{where}: linkId {link_id!r} is not a finding{tip}; answer the calfrules Questionnaire")
    if len(answers) != 1 or not isinstance(answers[0], Mapping):
        raise FhirInputError(f"{where}: give exactly one answer, not {len(answers)}")
    keys = [key for key in answers[0] if key.startswith("value")]
    if len(keys) != 1:
        raise FhirInputError(f"{where}: an answer needs exactly one value[x] ({', '.join(ANSWER_KEYS)})")
    key, raw = keys[0], answers[0][keys[0]]
    if key == "valueQuantity":
        return checked(finding, quantity_value(raw, finding, where), where)
    if key == "valueCoding":
        value = coded_value(raw, finding, where) if isinstance(raw, Mapping) else None
        if value is None:
            raise FhirInputError(f"{where}: {shown(raw)} is not an answer to {finding.id}")
        return value
    if key in ("valueBoolean", "valueDecimal", "valueInteger") or (key == "valueString" and finding.type == "choice"):
        return checked(finding, raw, where)
    raise FhirInputError(f"{where}: {key} does not answer a {finding.type} question")
