"""Shared pieces of the audit tests: the backends to run against, small engines, a record's wholeness."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calfrules import Engine, load_engine
from calfrules.audit import AuditRecord

from helpers import ruleset

POSTGRES_ENV = "CALFRULES_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

RULES_V1 = ruleset(
    """
    [findings.t_marker]
    type = "bool"
    label = "Test marker"
    question = "Is the test marker present?"
    kind = "history"

    [conditions.t_strain]
    label = "Test strain"

    [[rules]]
    id = "strain"
    when = "calf_pain and sudden_sharp_pain"
    conclude = "t_strain"
    rationale = "A sudden sharp calf pain suggests a strain."
    references = ["ref"]

    [[rules.recommend]]
    id = "t_rest"
    text = "Rest the calf for two days."
    kind = "treatment"
    priority = 10

    [[rules]]
    id = "marker"
    when = "t_marker"
    derive = ["t_marked"]
    rationale = "The marker is noted."
    references = ["ref"]
    """
)
# v2: the strain now needs a clinician and gets different advice; the marker finding is gone
RULES_V2 = ruleset(
    """
    [conditions.t_strain]
    label = "Test strain"

    [[rules]]
    id = "strain"
    when = "calf_pain and sudden_sharp_pain"
    conclude = "t_strain"
    escalate = "see_clinician"
    rationale = "A sudden sharp calf pain suggests a strain; have it examined."
    references = ["ref"]

    [[rules.recommend]]
    id = "t_physio"
    text = "Book a physiotherapist."
    kind = "seek_care"
    priority = 5
    """
)
STRAIN = {"id": "strain", "findings": {"calf_pain": True, "sudden_sharp_pain": True}}
QUIET = {"id": "quiet", "findings": {"pain_score": 2}}
MARKED = {"id": "marked", "findings": {"t_marker": True}}


def small_engine(rules: Any = RULES_V1, **kwargs: Any) -> Engine:
    """Only the core vocabulary and floor plus ``rules``, in-process for speed."""
    return load_engine(rulesets=[rules], allow=[], isolation="none", **kwargs)


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if IN_CI:
        pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run must start PostgreSQL so these tests never skip in CI")
    pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV}=postgresql://user:password@host/db to run these")


def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped afterwards): tests never see each other."""
    import psycopg

    base = postgres_url()
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def audit_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    else:
        yield from fresh_postgres_schema()


def assert_whole(record: AuditRecord) -> None:
    """Every part of a record is present and agrees with the stored assessment."""
    a = record.assessment
    assert a["level"] == record.level and a["complete"] == record.complete
    assert list(record.incomplete_reasons) == a["incomplete_reasons"]
    assert list(record.fired_rules) == [f"{s['rule']['ruleset']}/{s['rule']['rule']}" for s in a["trace"]]
    assert [r["hash"] for r in record.rulesets] == [r["hash"] for r in a["provenance"]["rulesets"]]
    assert [p["name"] for p in record.plugins] == [p["name"] for p in a["provenance"]["plugins"]]
    assert record.case["findings"] == a["findings"]
    json.dumps(record.to_dict())
