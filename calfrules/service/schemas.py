"""The OpenAPI components of every request and response body, and checking requests.

All come from the one description of each shape: the case (``knowledge/case.py``), the
assessment (``engine/assessment.py``) and the service's own bodies (``bodies.py``), through
the generator that also writes ``calfrules schema`` (``formats/json_schema.py``). Requests
are checked against the same classes with msgspec, so the OpenAPI description, the
published schemas and the checks cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from calfrules.engine.assessment import Assessment
from calfrules.formats.json_schema import JsonSchema, components, fill_findings
from calfrules.knowledge.case import CaseInput
from calfrules.rules.errors import CaseError
from calfrules.rules.shapes import ShapeError, convert, json_integers, sentence
from calfrules.rules.vocabulary import Vocabulary
from calfrules.service.bodies import BODIES

COMPONENTS = "#/components/schemas/{name}"
T = TypeVar("T")


class ServiceSchemas:
    """The components for the OpenAPI description, with the vocabulary's findings filled in."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        _, self.components = components([CaseInput, Assessment, *BODIES], ref_template=COMPONENTS)
        fill_findings(self.components["Findings"], vocabulary)

    def openapi_components(self) -> dict[str, JsonSchema]:
        return copy.deepcopy(self.components)


def checked(body: object, shape: type[T]) -> T:
    """The request body as ``shape``; CaseError (answered 422) names the first problem and where."""
    try:
        return convert(json_integers(body), shape)
    except ShapeError as exc:
        problem = exc.problem
        inside = problem.path if problem.kind in ("missing", "unknown") else problem.path[:-1]
        where = ".".join(str(step) for step in inside) or "the body"
        message = sentence(problem, shape, body)
        raise CaseError(f"{where}: {message if len(message) <= 300 else message[:297] + '...'}") from None


def component_ref(name: str) -> dict[str, Any]:
    return {"$ref": COMPONENTS.format(name=name)}
