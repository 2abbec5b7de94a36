"""The TUI's headless model: editable copies, edits, the save plan (diff, impact, safety gate)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from calfrules import Level, Rule, RulesetError
from calfrules.engine.engine import load_engine
from calfrules.knowledge.ruleset_io import load, loads
from calfrules.rules.model import Expectation, GoldenCase, Recommendation
from calfrules.tui.names import KnownNames, check_when
from calfrules.tui.saving import SaveRefused, commit, plan_save
from calfrules.tui.workspace import Workspace

from conftest import BUILTIN_PLUGINS

NEW_RULE = Rule(
    id="calf_tight_at_night",
    when="calf_tightness and night_pain",
    rationale="Test rule: a tight calf at night is treated as a strain here.",
    conclude="calf_strain",
    references=("article_calf_pulls",),
)
# Escalates to emergency unless numbness: adding numbness (a red flag at urgent) lowers the level.
UNSAFE_RULE = Rule(
    id="swollen_calf_emergency_unless_numb",
    when="calf_pain and swelling_unilateral and not numbness",
    rationale="Deliberately unsafe.",
    escalate=Level.EMERGENCY,
)


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(copy_dir=tmp_path / "local")


def test_plugin_rulesets_are_read_only_until_copied(workspace: Workspace, tmp_path: Path) -> None:
    doc = workspace.doc("strains")
    assert not doc.editable and doc.plugin == "strains"
    with pytest.raises(RulesetError, match="read-only"):
        workspace.put_rule("strains", NEW_RULE)
    copy = workspace.make_copy("strains")
    assert copy.editable and copy.path == tmp_path / "local" / "strains.toml"
    assert load(copy.path) == doc.ruleset  # the copy holds exactly what the plugin ships
    assert copy.replaces == "strains"
    # a second workspace over the same folder opens the copy as a file ruleset
    again = Workspace(copy_dir=tmp_path / "local")
    assert again.doc("strains").editable and again.doc("strains").replaces == "strains"


def test_edits_stay_in_memory_until_saved(workspace: Workspace) -> None:
    copy = workspace.make_copy("strains")
    on_disk = copy.path.read_text(encoding="utf-8") if copy.path else ""
    workspace.put_rule("strains", NEW_RULE)
    assert copy.dirty and workspace.dirty == [copy]
    assert copy.path is not None and copy.path.read_text(encoding="utf-8") == on_disk
    duplicate = workspace.duplicate_rule("strains", NEW_RULE.id)
    assert duplicate.id == "calf_tight_at_night_copy"
    workspace.delete_rule("strains", duplicate.id)
    with pytest.raises(RulesetError, match="already exists"):
        workspace.put_rule("strains", NEW_RULE)
    with pytest.raises(RulesetError, match="no source"):
        workspace.put_rule(
            "strains",
            Rule(id="no_source", when="calf_pain", rationale="x", recommend=(Recommendation("rest", "Rest."),)),
        )


def test_save_plan_shows_diff_impact_and_passes_the_gate(workspace: Workspace) -> None:
    copy = workspace.make_copy("strains")
    workspace.put_rule("strains", NEW_RULE)
    golden = GoldenCase(
        "tight_at_night",
        (("calf_tightness", True), ("night_pain", True)),
        Expectation(level=Level.SEE_CLINICIAN, conditions=("calf_strain",)),
    )
    workspace.put_golden("strains", golden)
    plan = plan_save(workspace, "strains", safety_examples=50)
    assert plan.allowed, plan.refusal()
    assert '+id = "calf_tight_at_night"' in plan.diff and '+id = "tight_at_night"' in plan.diff
    assert [row.test for row in plan.impact] == ["tight_at_night"]
    assert plan.impact[0].before is None and plan.impact[0].after is not None
    assert "calf_strain" in plan.impact[0].after.conditions
    path = commit(workspace, plan)
    assert path == copy.path
    saved = load(path)
    assert saved.rule(NEW_RULE.id) == NEW_RULE
    assert any(t.id == "tight_at_night" for t in saved.tests)
    backup = path.with_name("strains.toml.~1~")  # numbered backups, the newest highest
    assert backup.exists() and "calf_tight_at_night" not in backup.read_text(encoding="utf-8")
    assert not copy.dirty


def test_a_rule_that_lowers_a_red_flag_is_refused_with_a_counter_example(workspace: Workspace) -> None:
    copy = workspace.make_copy("strains")
    assert copy.path is not None
    before = copy.path.read_text(encoding="utf-8")
    workspace.put_rule("strains", UNSAFE_RULE)
    plan = plan_save(workspace, "strains", safety_examples=50)
    assert not plan.allowed
    assert plan.safety is not None and plan.safety.violations
    violation = plan.safety.violations[0]
    assert violation["added"] == {"numbness": True}
    assert violation["case"]["findings"] == {"calf_pain": True, "swelling_unilateral": True}
    assert UNSAFE_RULE.id in violation["rules_lost"]
    # the impact preview shows golden cases the rule pushes up to emergency
    assert any(row.after and row.after.level == "emergency" for row in plan.impact)
    with pytest.raises(SaveRefused, match="safety gate"):
        commit(workspace, plan)
    assert copy.path.read_text(encoding="utf-8") == before
    assert copy.dirty  # the edit is kept, not lost


def test_commit_refuses_a_plan_older_than_the_edits(workspace: Workspace) -> None:
    workspace.make_copy("strains")
    workspace.put_rule("strains", NEW_RULE)
    plan = plan_save(workspace, "strains", safety_examples=20)
    workspace.delete_rule("strains", NEW_RULE.id)
    with pytest.raises(SaveRefused, match="changed after the preview"):
        commit(workspace, plan)


def test_live_validation_points_at_the_column_and_completes_ids(workspace: Workspace) -> None:
    with workspace.build_engine() as engine:
        names = KnownNames.from_engine(engine)
    assert check_when("calf_pain and swelling", names) is None
    problem = check_when("calf_pain and and", names)
    assert problem is not None and problem.column == 15
    unknown = check_when("calf_pain and sweling", names)
    assert unknown is not None and unknown.column == 15 and "did you mean swelling" in unknown.message
    negated = check_when("calf_pain and not calf_strain", names)
    assert negated is not None and "'not' may only test findings" in negated.message
    number = check_when("pain_score", names)
    assert number is not None and "compare it" in number.message
    assert names.complete("calf_pain and swel") == "calf_pain and swelling"
    assert names.complete("calf_pain and") is None


WITH_A_CHOICE = """\
id = "mine"
version = "0.1.0"
title = "Mine"

[findings.sex]
type = "choice"
label = "Sex"
question = "Sex?"
choices = ["female", "male"]
kind = "context"

[[references]]
id = "ref"
citation = "c"
"""
# mistakes on choices, operators and answers that the form's own checks once let through
MISTAKES = {
    "calf_pain and sex == 'x'": "'x' is not a choice of sex; use one of female, male",
    "sex in ['female', 'x']": "'x' is not a choice of sex",
    "sex < 'female'": "sex is a choice: use == or !=",
    "sex": "sex is a choice: compare it",
    "pain_score == 'high'": "pain_score is a number: compare it with a number, not 'high'",
    "pain_score is no": "pain_score is not yes/no",
    "calf_strain is recorded": "calf_strain is not a finding",
    "pain_score": "pain_score is a number: compare it",
}


def test_the_form_says_what_the_compiler_says_about_a_condition() -> None:
    base = loads(WITH_A_CHOICE, "mine.toml")
    with load_engine(rulesets=[base], isolation="none") as engine:
        names = KnownNames.from_engine(engine)
    # each mistake in a ruleset of its own: the compiler reports the first problem of each
    broken = [
        dataclasses.replace(
            base,
            id=f"bad{n}",
            source=f"bad{n}.toml",
            findings=(),
            rules=(Rule(id="r", when=when, rationale="x", derive=(f"fact_{n}",)),),
        )
        for n, when in enumerate(MISTAKES)
    ]
    with load_engine(rulesets=[base, *broken], isolation="none") as engine:
        problems = engine.problems
    for n, (when, expected) in enumerate(MISTAKES.items()):
        problem = check_when(when, names)
        assert problem is not None and expected in problem.message, when
        from_compiler = next(p for p in problems if p.startswith(f"bad{n}.toml: rule r: "))
        assert from_compiler.endswith(f"column {problem.column}: in 'when': {problem.message}"), when
    assert check_when("calf_pain and sex == 'female' and pain_score >= 3", names) is None
    assert check_when("sex is recorded and calf_pain is no", names) is None


def test_a_ruleset_file_named_on_the_command_line_is_editable_in_place(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'id = "mine"\nversion = "0.1.0"\ntitle = "Mine"\n\n[[references]]\nid = "ref"\ncitation = "c"\n',
        encoding="utf-8",
    )
    workspace = Workspace([path], copy_dir=tmp_path / "local")
    doc = workspace.doc("mine")
    assert doc.editable and doc.path == path and doc.replaces is None
    workspace.put_rule("mine", Rule(id="r", when="calf_pain", rationale="x", derive=("mine_fact",)))
    plan = plan_save(workspace, "mine", safety_examples=20)
    assert plan.allowed, plan.refusal()
    commit(workspace, plan)
    assert load(path).rule("r") is not None


def test_a_rule_naming_an_unknown_finding_cannot_be_saved(workspace: Workspace) -> None:
    workspace.make_copy("strains")
    # parses, so the form's round trip accepts it; the engine's compiler refuses it
    workspace.put_rule("strains", Rule(id="typo", when="calf_pian", rationale="x", derive=("typo_fact",)))
    plan = plan_save(workspace, "strains", safety_examples=20)
    assert not plan.allowed
    refusal = plan.refusal()
    assert refusal is not None and "unknown id 'calf_pian'" in refusal
    with pytest.raises(SaveRefused):
        commit(workspace, plan)
