"""Every citation is published evidence: no internal notes, and no recommendation without a source.

The seed article may stay cited where its advice is used, but never as the only source of
a recommendation or a red flag: each needs at least one published guideline, consensus
statement, trial or review with a URL or DOI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from calfrules import Engine
from calfrules.rules.model import Reference, Ruleset

INTERNAL_NOTES = re.compile(r"clinical-references|shared[ /_-]?notes|\bnotes?\b|\bnotes_", re.IGNORECASE)


def _rulesets(engine: Engine) -> Iterator[Ruleset]:
    for entry in engine.registry.rulesets:
        yield entry.ruleset


def _cited(ruleset: Ruleset, ids: tuple[str, ...]) -> list[Reference]:
    return [ref for ref in ruleset.references if ref.id in ids]


def test_no_citation_points_at_internal_notes(engine: Engine) -> None:
    offending = [
        f"{ruleset.id}: reference {ref.id!r}: {ref.citation[:80]}"
        for ruleset in _rulesets(engine)
        for ref in ruleset.references
        if INTERNAL_NOTES.search(ref.id) or INTERNAL_NOTES.search(ref.citation)
    ]
    assert not offending, "citations of internal notes:\n" + "\n".join(offending)


def test_every_url_is_https(engine: Engine) -> None:
    plain = [
        f"{ruleset.id}: {ref.id}: {ref.url}"
        for ruleset in _rulesets(engine)
        for ref in ruleset.references
        if ref.url is not None and not ref.url.startswith("https://")
    ]
    assert not plain, "\n".join(plain)


def test_every_recommendation_cites_published_evidence(engine: Engine) -> None:
    missing = []
    for ruleset in _rulesets(engine):
        for rule in ruleset.rules:
            for rec in rule.recommend:
                cited = _cited(ruleset, rec.references or rule.references)
                if not any(ref.url for ref in cited):
                    missing.append(f"{ruleset.id}: rule {rule.id}: recommendation {rec.id}")
    assert not missing, "recommendations without a published source (URL or DOI):\n" + "\n".join(missing)


def test_every_red_flag_cites_published_evidence(engine: Engine) -> None:
    missing = [
        f"{ruleset.id}: floor {entry.id}"
        for ruleset in _rulesets(engine)
        for entry in ruleset.floor
        if not any(ref.url for ref in _cited(ruleset, entry.references))
    ]
    assert not missing, "red flags without a published source (URL or DOI):\n" + "\n".join(missing)


@pytest.mark.parametrize("citation", ["see shared notes, section 2", "clinical-references.md: Wells", "Clinic notes"])
def test_the_notes_pattern_catches_internal_citations(citation: str) -> None:
    assert INTERNAL_NOTES.search(citation)


def test_the_notes_pattern_spares_published_titles() -> None:
    assert not INTERNAL_NOTES.search("NICE guideline NG158 (2020), Venous thromboembolic diseases")
