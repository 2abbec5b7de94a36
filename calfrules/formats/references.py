"""The sources an assessment cites, numbered once, in the order a reader meets them.

Red flags first, then the conditions' reasons, then the advice: the order of the text
rendering. The text, the case tester, the CDS card detail and the FHIR Bundle all number
with :func:`number_references`, so [2] is the same source in each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from calfrules.engine.assessment import Assessment
from calfrules.rules.model import Source


@dataclass(frozen=True)
class References:
    sources: tuple[Source, ...]

    def number(self, source: Source | Mapping[str, Any]) -> int:
        wanted = _key(_as_source(source))
        for number, known in enumerate(self.sources, start=1):
            if _key(known) == wanted:
                return number
        raise KeyError(f"source {_as_source(source).id!r} is not among the assessment's references")

    def numbers(self, cited: Iterable[Source | Mapping[str, Any]]) -> list[int]:
        return sorted({self.number(source) for source in cited})

    def cite(self, cited: Iterable[Source | Mapping[str, Any]]) -> str:
        """ "[1,3]" for the sources given ("" for none); no space, so it never breaks across lines."""
        numbers = self.numbers(cited)
        return f"[{','.join(str(n) for n in numbers)}]" if numbers else ""

    def entries(self, *, full: bool = True) -> Iterator[tuple[int, str, str | None]]:
        """(number, citation, URL or None) per source; ``full=False`` drops a citation's closing
        parenthetical summary of what the source says (the short form for one screen)."""
        for number, source in enumerate(self.sources, start=1):
            yield number, source.citation if full else short_citation(source.citation), source.url


def number_references(assessment: Assessment | Mapping[str, Any]) -> References:
    """Every source of the assessment (or its ``to_dict()``), once, numbered from 1."""
    data = assessment.to_dict() if isinstance(assessment, Assessment) else assessment
    found: dict[tuple[str, ...], Source] = {}
    groups = [
        *(flag.get("sources", ()) for flag in data.get("red_flags", ())),
        *(reason.get("sources", ()) for c in data.get("conditions", ()) for reason in c.get("because", ())),
        *(rec.get("sources", ()) for rec in data.get("recommendations", ())),
    ]
    for group in groups:
        for cited in group:
            source = _as_source(cited)
            found.setdefault(_key(source), source)
    return References(tuple(found.values()))


def short_citation(citation: str) -> str:
    """The citation without a closing "(...)" that sums up what the source says, when it has one."""
    text = citation.rstrip().rstrip(".")
    if not text.endswith(")"):
        return citation.strip()
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            head = text[:index].rstrip(" ,;:")
            # "(2020)" and other short parts of the reference itself stay
            return head if len(text) - index > 12 and head else citation.strip()
    return citation.strip()


def _as_source(source: Source | Mapping[str, Any]) -> Source:
    if isinstance(source, Source):
        return source
    return Source(str(source["id"]), str(source["citation"]), source.get("url"))


def _key(source: Source) -> tuple[str, ...]:
    # one work, one number: two rulesets citing the same DOI or URL share it (their wording may differ)
    return (source.url,) if source.url else (source.id, source.citation)
