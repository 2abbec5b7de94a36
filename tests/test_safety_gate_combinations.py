"""Issue 14, item 3: the gate tries a two-finding red flag on top of the rule's own findings,
names the red flag it raised, and says its refusal in plain words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calfrules.engine.engine import load_engine
from calfrules.knowledge.ruleset_io import loads
from calfrules.tooling.safety import check_engine, combination_additions, refusal_lines, search_additions

# A floor entry that needs two findings, neither of which raises anything alone; the rule
# stops escalating only when both come with a third finding of its own (bruising).
HIDDEN_PAIR = (
    'id = "hidden_pair"\nversion = "1"\ntitle = "t"\n'
    '[[floor]]\nid = "test_pair"\nwhen = "recent_trauma and hot_weather"\nlevel = "urgent"\n'
    'label = "Injured in the heat"\nrationale = "test"\n'
    '[[rules]]\nid = "r"\nwhen = "calf_pain and not (recent_trauma and hot_weather and bruising)"\n'
    'escalate = "emergency"\nrationale = "forgets that the pair is a red flag"\n'
)


def test_a_two_finding_red_flag_is_tried_with_the_rules_own_findings() -> None:
    engine = load_engine(rulesets=[loads(HIDDEN_PAIR)], allow=[], isolation="none")
    try:
        assert not engine.problems, engine.problems
        violation = search_additions(engine, combination_additions(engine.program, engine.vocabulary))
        report = check_engine(engine, max_examples=20, seconds=0.2)
    finally:
        engine.close()
    assert violation is not None
    assert violation["case"] == {"findings": {"bruising": True, "calf_pain": True}}
    assert violation["added"] == {"hot_weather": True, "recent_trauma": True}
    assert [flag["id"] for flag in violation["raised"]] == ["test_pair"]
    assert violation["before"] == "emergency" and violation["after"] == "urgent"
    assert not report.ok and report.violations[0]["added"] == violation["added"]


def test_the_refusal_names_the_flag_raised_and_the_case_in_words() -> None:
    unsafe = loads(
        'id = "unsafe"\nversion = "1"\ntitle = "t"\n'
        '[[rules]]\nid = "r"\nwhen = "calf_pain and swelling_unilateral and not numbness"\n'
        'escalate = "emergency"\nrationale = "deliberately unsafe"\n'
    )
    engine = load_engine(rulesets=[unsafe], allow=[], isolation="none")
    try:
        report = check_engine(engine, max_examples=20, seconds=0.2)
        vocabulary = engine.vocabulary
        raised = {flag["id"] for flag in report.violations[0]["raised"]}
        # the flag numbness raises on its own here, not the first entry that mentions numbness
        assert "neurological_deficit" in raised and "acute_limb_ischaemia" not in raised
        lines = refusal_lines(report.violations[0], vocabulary)
    finally:
        engine.close()
    text = "\n".join(lines)
    assert vocabulary["numbness"].label in text
    assert "Level without it: emergency" in text and "Level with it: urgent" in text
    assert f"{vocabulary['calf_pain'].label}: yes" in text
    assert f"{vocabulary['swelling_unilateral'].label}: yes" in text
    assert "{" not in text and '"' not in text  # not JSON


def test_the_gate_writes_nothing_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    engine = load_engine(rulesets=[loads(HIDDEN_PAIR)], allow=[], isolation="none")
    try:
        check_engine(engine, max_examples=20, seconds=0.2)
    finally:
        engine.close()
    assert os.listdir(tmp_path) == []
