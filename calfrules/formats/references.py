"""The sources an assessment cites, numbered once, in the order a reader meets them.

Red flags first, then the conditions' reasons, then the advice: the order of the text
rendering. The text, the case tester, the CDS card detail and the FHIR Bundle all number
with :func:`number_references`, so [2] is the same source in each.
"""

from __future__ import annotations

import re
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
        """ "[1,3]" or "[1,6-10]" for the sources given ("" for none); no space, so it never breaks
        across lines."""
        numbers = self.numbers(cited)
        return f"[{number_list(numbers)}]" if numbers else ""

    def entries(self, *, full: bool = True) -> Iterator[tuple[int, str, str | None]]:
        """(number, citation, URL or None) per source; ``full=False`` drops a citation's closing
        parenthetical summary of what the source says (the short form for one screen)."""
        for number, source in enumerate(self.sources, start=1):
            yield number, source.citation if full else short_citation(source.citation), source.url

    def labelled(self) -> list[str]:
        """ "[1] Dixon 2009" per work, in the order of their first number; sources sharing a short
        label share the entry and keep their numbers: "[3,5,13-16] Runner article"."""
        groups: dict[str, list[int]] = {}
        for number, source in enumerate(self.sources, start=1):
            groups.setdefault(short_label(source.citation), []).append(number)
        return [f"[{number_list(numbers)}] {label}" for label, numbers in groups.items()]


def number_list(numbers: Iterable[int]) -> str:
    """ "1,3,6-10": a run of three or more numbers as a range."""
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)) for run in runs)


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


_LABEL_LENGTH = 40  # a short label names the work; the full view has the rest
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_QUOTED = re.compile(r"""\s*(?:'[^']*'|"[^"]*"|\([^)]*\))""")


def short_label(citation: str) -> str:
    """A few words that name a cited work: "Dixon 2009", "Boyd et al. 2015", "Dubois & Esculier
    2020", "NICE guideline NG158 (2020)", "Runner article" (a quoted title or a parenthetical
    dropped when the name is too long without it)."""
    text = short_citation(citation)
    surnames = _surnames(text)
    if surnames:
        year = _YEAR.search(text.split(". ", 1)[-1])
        named = " & ".join(surnames) if len(surnames) <= 2 else f"{surnames[0]} et al."
        return f"{named} {year.group()}" if year else named
    head = _head(text)
    if len(head) > _LABEL_LENGTH:
        head = _QUOTED.sub("", head).strip() or head
    if len(head) > _LABEL_LENGTH:
        head = head[: _LABEL_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return head


def _surnames(text: str) -> list[str]:
    """The surnames of a "Surname AB, Surname C, et al. Title." author list ([] when it is not
    one); "et al." counts as two more, so that it reads "First et al."."""
    names = text.split(". ", 1)[0].split(", ")
    surnames = []
    for name in names:
        if name in ("et al", "et al."):
            surnames += ["et", "al"]
            continue
        surname, _, initials = name.rpartition(" ")
        if not surname or not (initials.isalpha() and initials.isupper() and len(initials) <= 3):
            return []
        surnames.append(surname)
    return surnames


def _head(text: str) -> str:
    """The text before its first ", " or ": " outside quotes and parentheses."""
    depth, quoted = 0, False
    for index, char in enumerate(text):
        if char == "'" and (quoted or index == 0 or not text[index - 1].isalpha()):
            quoted = not quoted
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char in ",:" and not quoted and depth == 0 and text[index + 1 : index + 2] == " ":
            return text[:index]
    return text


def _as_source(source: Source | Mapping[str, Any]) -> Source:
    if isinstance(source, Source):
        return source
    return Source(str(source["id"]), str(source["citation"]), source.get("url"))


def _key(source: Source) -> tuple[str, ...]:
    # one work, one number: two rulesets citing the same DOI or URL share it (their wording may differ)
    return (source.url,) if source.url else (source.id, source.citation)
