"""Replay: recorded cases re-assessed with changed rules; only the cases that would change are reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_support import MARKED, QUIET, RULES_V1, RULES_V2, STRAIN, audit_url, small_engine

from calfrules.audit import AuditStore, open_audit, replay


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    for url in audit_url(request.param, tmp_path):
        opened = open_audit(url)
        yield opened
        opened.close()


def test_replay_reports_exactly_the_cases_a_rule_change_would_change(store: AuditStore) -> None:
    with small_engine(RULES_V1, audit=store) as before:
        for case in (STRAIN, QUIET, MARKED):
            before.assess(case)
    ids = {r.case["id"]: r.id for r in store.list()}
    seen: list[tuple[int, int]] = []
    with small_engine(RULES_V2) as after:
        report = replay(after, store, progress=lambda done, total: seen.append((done, total)))
    assert report.replayed == 3 and seen[-1] == (3, 3) and len(seen) == 3
    changes = {c.record_id: c for c in report.changes}
    assert set(changes) == {ids["strain"], ids["marked"]}  # the quiet case is the same under both
    strain = changes[ids["strain"]]
    assert (strain.old_level, strain.new_level, strain.level_changed) == ("self_care", "see_clinician", True)
    assert strain.conditions_added == () and strain.conditions_removed == ()
    assert strain.recommendations_added == ("t_physio",) and strain.recommendations_removed == ("t_rest",)
    assert strain.case_id == "strain" and strain.error is None
    marked = changes[ids["marked"]]  # the finding it used no longer exists: reported, not dropped
    assert marked.new_level is None and marked.error is not None and "t_marker" in marked.error
    assert store.count() == 3  # replay records nothing
    data = report.to_dict()
    assert data["changed"] == 2 and data["level_changed"] == 2


def test_replay_with_the_same_rules_changes_nothing(store: AuditStore) -> None:
    with small_engine(RULES_V1, audit=store) as engine:
        for case in (STRAIN, QUIET, MARKED):
            engine.assess(case)
        report = replay(engine, store)
    assert report.replayed == 3 and report.changes == ()


def test_replay_of_an_empty_trail_is_an_empty_report(store: AuditStore) -> None:
    with small_engine(RULES_V2) as engine:
        report = replay(engine, store)
    assert report.replayed == 0 and report.to_dict()["changes"] == []
