"""Pilot-driven tests of the admin TUI at 80x24: each flow of issue 5, asserted on screen and on disk."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Label, OptionList, Tree
from tui_helpers import settle, text_of

from calfrules import Deriver, Level, Rule, Score, hookimpl
from calfrules.formats.text import screen_lines
from calfrules.knowledge.ruleset_io import load
from calfrules.rules.vocabulary import Value
from calfrules.tui.app import CalfrulesApp
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.dialogs import ConfirmScreen, GoldenPrompt, HelpScreen, PromptScreen
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.save_screen import SaveScreen
from calfrules.tui.yes_no import YesNo

from conftest import BUILTIN_PLUGINS

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))


@pytest.fixture
def copy_dir(tmp_path: Path) -> Path:
    return tmp_path / "rulesets-local"


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["underscore" if c == "_" else "space" if c == " " else c for c in text])


async def make_strains_copy(pilot: Pilot[Any]) -> None:
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(pilot.app.screen, PromptScreen)
    await pilot.press("enter")
    await settle(pilot)


def test_browse_lists_every_ruleset_with_its_status(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, BrowseScreen)
            options = app.screen.query_one("#rulesets", OptionList)
            prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            assert "🔒 strains ✓" in prompts and "🔒 red_flags ✓" in prompts
            assert app.current == "strains"
            rules = app.screen.query_one("#rules-table", DataTable)
            assert rules.row_count == len(app.workspace.doc("strains").ruleset.rules)
            assert "read-only" in text_of(app.screen.query_one("#ruleset-title"))
            # choose another ruleset with the keyboard
            options.focus()
            await pilot.press("up")
            await pilot.pause()
            assert app.current == "shin_splints"
            await pilot.click("#detail-tabs Tab#--content-tab-tab-status")
            await pilot.pause()
            status = text_of(app.screen.query_one("#status-text"))
            tests = len(app.workspace.doc("shin_splints").ruleset.tests)
            assert "valid: yes" in status and f"golden cases: {tests} pass, 0 fail" in status
            # editing a read-only ruleset points at the copy
            await pilot.press("n")
            await pilot.pause()
            assert isinstance(app.screen, BrowseScreen)
            # the app changes the ruleset shown (as the palette's "Open ruleset ..." does)
            app.select_ruleset("red_flags")
            await pilot.pause()
            highlighted = options.highlighted
            assert highlighted is not None and options.get_option_at_index(highlighted).id == "red_flags"
            shown = [str(key.value) for key in rules.rows]
            assert shown == [rule.id for rule in app.workspace.doc("red_flags").ruleset.rules]

    _run(run)


def test_done_when_flow_copy_add_rule_test_golden_impact_save(copy_dir: Path) -> None:
    """Issue 5, done-when 1: from the TUI alone, as a physio would."""

    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            path = copy_dir / "strains.toml"
            assert path.exists() and app.workspace.doc("strains").editable
            assert "file " in text_of(app.screen.query_one("#ruleset-title"))

            # add a rule in the form
            await pilot.press("n")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor)
            editor.query_one("#rule-id", Input).value = "calf_tight_at_night"
            when = editor.query_one("#rule-when", Input)
            when.focus()
            await type_text(pilot, "calf_tightness and and")
            await pilot.pause()
            status = text_of(editor.query_one("#when-status"))
            assert "column 20" in status and "unexpected 'and'" in status
            for _ in range(4):
                await pilot.press("backspace")
            await type_text(pilot, " night_p")
            await pilot.pause()
            await pilot.press("right")  # accept the suggested id
            await pilot.pause()
            assert when.value == "calf_tightness and night_pain"
            assert "valid" in text_of(editor.query_one("#when-status"))
            editor.query_one("#rule-conclude", Input).value = "calf_strain"
            editor.query_one("#rule-rationale", Input).value = "A tight calf at night after running."
            editor.query_one("#rule-references", Input).value = "article_calf_pulls"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, BrowseScreen)
            assert app.workspace.doc("strains").dirty
            assert "●" in text_of(app.screen.query_one("#ruleset-title"))

            # see it fire on a case
            await pilot.press("t")
            await pilot.pause()
            tester = app.screen
            assert isinstance(tester, CaseTester)
            tester.query_one("#f-calf_tightness", Checkbox).value = True
            tester.query_one("#f-night_pain", Checkbox).value = True
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert tester.assessment is not None
            assert "calf_tight_at_night" in [s.rule.rule for s in tester.assessment.trace]
            shown = text_of(tester.query_one("#assessment-text"))
            assert shown.startswith("LEVEL:") and "Calf strain" in shown
            level = tester.assessment.level

            # save the case on screen as a golden case
            await pilot.press("ctrl+g")
            await pilot.pause()
            prompt = app.screen
            assert isinstance(prompt, GoldenPrompt)
            prompt.query_one("#golden-id", Input).value = "tight_at_night"
            await pilot.click("#ok")
            await settle(pilot)
            tests = app.workspace.doc("strains").ruleset.tests
            added = next(t for t in tests if t.id == "tight_at_night")
            assert dict(added.findings) == {"calf_tightness": True, "night_pain": True}
            assert added.expect.conditions == ("calf_strain",)
            await pilot.press("escape")
            await pilot.pause()

            # save: impact preview, safety gate, then the file
            await pilot.press("ctrl+s")
            await settle(pilot)
            save = app.screen
            assert isinstance(save, SaveScreen)
            assert save.plan is not None and save.plan.allowed
            impact = text_of(save.query_one("#save-impact"))
            assert f"strains/tight_at_night: (new case) -> {level.value} (calf_strain) PASS" in impact
            assert "Safety gate PASSED" in text_of(save.query_one("#save-safety"))
            assert not save.query_one("#save", Button).disabled
            await pilot.click("#save")
            await settle(pilot)
            assert isinstance(app.screen, BrowseScreen)
            saved = load(path)
            assert saved.rule("calf_tight_at_night") is not None
            assert 'id = "calf_tight_at_night"' in path.read_text(encoding="utf-8")
            assert any(t.id == "tight_at_night" for t in saved.tests)
            assert path.with_name("strains.toml.~1~").exists()
            assert not app.workspace.doc("strains").dirty

    _run(run)


UNSAFE_RULE = Rule(
    id="swollen_calf_emergency_unless_numb",
    when="calf_pain and swelling_unilateral and not numbness",
    rationale="Deliberately unsafe.",
    escalate=Level.EMERGENCY,
)


def test_a_save_that_lowers_a_red_flag_is_refused_and_opens_the_counter_example(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            path = copy_dir / "strains.toml"
            before = path.read_text(encoding="utf-8")
            app.workspace.put_rule("strains", UNSAFE_RULE)
            app.edited()
            await settle(pilot)
            await pilot.press("ctrl+s")
            await settle(pilot)
            save = app.screen
            assert isinstance(save, SaveScreen)
            assert save.query_one("#save", Button).disabled
            summary = text_of(save.query_one("#save-summary"))
            assert summary.startswith("Save refused: the safety gate")
            safety = text_of(save.query_one("#save-safety"))
            assert app.engine is not None
            numbness = app.engine.vocabulary["numbness"].label
            assert "SAVE REFUSED" in safety and "Red flag raised: 'New numbness" in safety
            assert "Level without it: emergency   |   Level with it: urgent" in safety
            assert f"Then adding:\n  - {numbness}: yes" in safety and "{" not in safety
            await pilot.press("ctrl+s")  # the key cannot force it either
            await pilot.pause()
            assert path.read_text(encoding="utf-8") == before
            await pilot.click("#open-counter")
            await settle(pilot)
            tester = app.screen
            assert isinstance(tester, CaseTester)
            assert tester.findings() == {"calf_pain": True, "swelling_unilateral": True, "numbness": True}
            assert tester.assessment is not None and tester.assessment.level == Level.URGENT
            assert app.workspace.doc("strains").dirty  # nothing lost

    _run(run)


def test_quit_with_unsaved_changes_asks_first(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            await pilot.press("q")  # a fresh copy is already on disk: nothing to lose, no prompt
            await pilot.pause()
            assert app.return_code == 0
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.workspace.duplicate_rule("strains", "strain_peace")
            app.edited()
            await settle(pilot)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert "unsaved changes in strains" in str(app.screen.query_one("#question").render())
            await pilot.click("#no")
            await pilot.pause()
            assert isinstance(app.screen, BrowseScreen) and app.return_code is None
            await pilot.press("q")
            await pilot.pause()
            await pilot.click("#yes")
            await pilot.pause()
            assert app.return_code == 0

    _run(run)


def test_duplicate_and_delete_a_rule(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            table = app.screen.query_one("#rules-table", DataTable)
            first = app.workspace.doc("strains").ruleset.rules[0].id
            table.focus()
            await pilot.press("d")
            await settle(pilot)
            rules = [r.id for r in app.workspace.doc("strains").ruleset.rules]
            assert f"{first}_copy" in rules and table.row_count == len(rules)
            assert isinstance(app.screen, BrowseScreen) and app.screen.selected_rule() == f"{first}_copy"
            table.move_cursor(row=len(rules) - 1)
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#yes")
            await settle(pilot)
            assert f"{first}_copy" not in [r.id for r in app.workspace.doc("strains").ruleset.rules]
            # edit an existing rule: the form opens filled in
            table.move_cursor(row=0)
            await pilot.press("e")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor)
            assert editor.query_one("#rule-id", Input).value == first
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, BrowseScreen)

    _run(run)


def test_edit_advice_and_its_dose_in_the_form(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            await pilot.press("n")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor)
            values = {
                "#rule-id": "night_stretch",
                "#rule-when": "calf_tightness and night_pain",
                "#rule-rationale": "Stretching eases night tightness.",
                "#rec-id": "night_calf_stretch",
                "#rec-text": "Stretch the calf before bed.",
                "#rec-dose": "seconds=30-45, times_per_day=2",
                "#rec-references": "article_stretch",
            }
            for selector, value in values.items():
                editor.query_one(selector, Input).value = value
            await pilot.press("ctrl+s")
            await settle(pilot)
            rule = app.workspace.doc("strains").ruleset.rule("night_stretch")
            assert rule is not None
            (advice,) = rule.recommend
            assert advice.dose == (("seconds", (30.0, 45.0)), ("times_per_day", 2))
            assert advice.references == ("article_stretch",)
            # a bad dose is refused on the form, which stays open with the message
            await pilot.press("n")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor)
            for selector, value in {**values, "#rule-id": "other", "#rec-dose": "weeks=two"}.items():
                editor.query_one(selector, Input).value = value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, RuleEditor)
            assert "not a number" in text_of(editor.query_one("#form-error"))

    _run(run)


def test_golden_cases_run_with_pass_fail_and_the_difference(copy_dir: Path) -> None:
    async def run() -> None:
        from calfrules.rules.model import Expectation, GoldenCase

        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            wrong = GoldenCase("wrong_level", (("calf_pain", True),), Expectation(level=Level.EMERGENCY))
            app.workspace.put_golden("strains", wrong)
            app.edited()
            await settle(pilot)
            app.screen.query_one("#rules-table").focus()
            await pilot.press("g")
            await settle(pilot)
            results = {r.test: r for r in app.checks.golden["strains"]}
            assert not results["wrong_level"].passed
            assert app.screen.query_one("#detail-tabs").active == "tab-golden"  # type: ignore[attr-defined]
            table = app.screen.query_one("#golden-table", DataTable)
            cells = {str(table.get_row(key)[0]): str(table.get_row(key)[2]) for key in table.rows}
            assert cells["wrong_level"] == "FAIL" and cells["strain_grade_1_self_care"] == "PASS"
            table.move_cursor(row=table.get_row_index("wrong_level"))
            await pilot.pause()
            detail = text_of(app.screen.query_one("#golden-detail"))
            assert "level: expected emergency, got see_clinician" in detail
            # x on the golden-case table deletes the highlighted case (after a confirm)
            table.focus()
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#yes")
            await settle(pilot)
            assert "wrong_level" not in [t.id for t in app.workspace.doc("strains").ruleset.tests]
            assert all(r.passed for r in app.checks.golden["strains"])

    _run(run)


def test_why_not_explains_a_rule_that_did_not_fire(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.screen.query_one("#rules-table", DataTable).move_cursor(row=0)  # strain_grade_3_signs
            await pilot.press("w")
            await settle(pilot)
            tester = app.screen
            assert isinstance(tester, CaseTester)
            tester.query_one("#f-calf_pain", Checkbox).value = True
            tester.query_one("#f-achilles_pain", Checkbox).value = True
            await pilot.press("ctrl+r")
            await settle(pilot)
            tester.query_one("#case-tabs").active = "tab-whynot"  # type: ignore[attr-defined]
            await pilot.pause()
            text = text_of(tester.query_one("#whynot-text"))
            assert "rule strain_grade_3_signs does not fire" in text
            assert "✗ not achilles_pain: NOT met — achilles_pain is yes" in text
            assert (
                "✓ not positive_thompson_test: met — positive_thompson_test not recorded (a rule reads that as not yes)"
                in text
            )
            tree = tester.query_one("#explain-tree", Tree)
            assert str(tree.root.label).endswith(f"({tester.assessment.level.value})")  # type: ignore[union-attr]
            labels = [str(node.label) for node in tree.root.children]
            assert labels[0] == "Red-flag questions not yet answered (an answer of yes could raise the level):"
            assert labels[1] == "Why this level"

    _run(run)


def _labels(node: Any) -> list[str]:
    """Every label under a tree node, depth first."""
    return [str(child.label) for child in node.children] + [
        label for child in node.children for label in _labels(child)
    ]


def test_the_case_tester_asks_the_screen_first_and_keeps_a_no_apart_from_not_recorded(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            case = {"calf_soreness_after_run": True, "returning_after_layoff": True, "fever": False}
            tester = app.open_case_tester(case)
            await settle(pilot)
            assert tester.findings() == case  # the recorded no survives the form
            assessment = tester.assessment
            assert assessment is not None and assessment.level == Level.SELF_CARE
            screen = assessment.red_flag_screen
            assert not screen.complete and "fever" not in screen.unanswered
            asked = {q.id: q.question for q in screen.questions}

            # the result pane: the questions right under the level
            text = text_of(tester.query_one("#assessment-text")).splitlines()
            title = text.index("Before this can be self-care, ask:")
            assert title <= 3 and title < text.index("Conditions considered")
            # compact: the questions' labels on wrapped lines (the tree below has them in full)
            assert tester.engine is not None
            labels = [tester.engine.vocabulary[q].label for q in screen.unanswered]
            assert text[title + 1] == "  " + "; ".join(labels)

            # the explanation: the questions first, with their ids; a no as a no; unrecorded apart
            tree = tester.query_one("#explain-tree", Tree)
            first = tree.root.children[0]
            assert str(first.label) == screen_lines(assessment)[0] == "Before this can be self-care, ask:"
            assert [str(n.label) for n in first.children] == [f"? {asked[q]}  [{q}]" for q in screen.unanswered]
            everything = _labels(tree.root)
            assert "fever: no" in everything
            step = next(s for s in assessment.trace if "fever" in s.matched and s.unrecorded)
            assert f"not recorded (read as not yes): {', '.join(step.unrecorded)}" in everything
            assert not any(label.startswith("not ") and " " not in label[4:] for label in everything)

            # yes / no / not recorded, by keyboard
            fever = tester.query_one("#f-fever", YesNo)
            assert fever.answer is False and "✗" in str(fever.render())
            fever.focus()
            for key, expected, shown in (("space", None, " "), ("space", True, "✓"), ("n", False, "✗")):
                await pilot.press(key)
                await pilot.pause()
                assert fever.answer is expected and shown in str(fever.render()), key
            await pilot.press("delete")
            assert fever.answer is None and "fever" not in tester.findings()
            await pilot.press("y")
            assert tester.findings()["fever"] is True
            await pilot.press("ctrl+l")
            assert tester.findings() == {}

            # red flags at the level they applied; level reasons keep their "[level]"
            dvt = app.open_case_tester({"calf_pain": True, "swelling_unilateral": True, "pitting_oedema": True})
            await settle(pilot)
            assert dvt.assessment is not None and dvt.assessment.red_flags
            tree = dvt.query_one("#explain-tree", Tree)
            everything = _labels(tree.root)
            for flag in dvt.assessment.red_flags:
                assert f"{flag.label}: {flag.level.value}" in everything
            top = dvt.assessment.level_reasons[0]
            assert f"[{top.level.value}] {top.reason} ({top.source})" in everything

    _run(run)


def test_case_form_search_and_bad_numbers(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await pilot.pause()
            tester = app.screen
            assert isinstance(tester, CaseTester)
            await type_text(pilot, "tight")
            await pilot.pause()
            assert tester.query_one("#row-calf_tightness").display
            assert not tester.query_one("#row-chest_pain").display
            score = tester.query_one("#f-pain_score", Input)
            score.value = "15"
            await pilot.pause()  # refused as typed, beside the field, before any run
            label = tester.query_one("#row-pain_score .finding-label", Label)
            assert "out of range" in str(label.content) and score.has_class("-invalid")
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert score.has_focus and tester.assessment is None

    _run(run)


def test_help_and_command_palette(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, BrowseScreen)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await type_text(pilot, "test a case")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, CaseTester)

    _run(run)


class Crasher:
    """A plugin whose score kills the engine's process on one combination of findings."""

    calfrules_plugin_name = "crasher"

    @hookimpl
    def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
        def compute(findings: Mapping[str, Value]) -> Score | None:
            if findings.get("calf_warmth") and findings.get("night_pain"):
                os._exit(139)  # as a segfault in durable_rules' C core would
            return None

        register(Deriver(id="crash_score", label="Crash", inputs=(), compute=compute))


def test_an_engine_crash_shows_an_incomplete_assessment_and_loses_no_edit(
    copy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import calfrules.tui.app_checks as app_module
    import calfrules.tui.workspace as workspace_module

    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join([*BUILTIN_PLUGINS, "crasher"]))
    for module in (app_module, workspace_module):
        monkeypatch.setattr(module, "load_engine", partial(module.load_engine, plugins=[Crasher()]))

    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            app.workspace.duplicate_rule("strains", "strain_peace")
            app.edited()
            await settle(pilot)
            await pilot.press("t")
            await pilot.pause()
            tester = app.screen
            assert isinstance(tester, CaseTester)
            tester.query_one("#f-calf_warmth", Checkbox).value = True
            tester.query_one("#f-night_pain", Checkbox).value = True
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert tester.assessment is not None and not tester.assessment.complete
            assert tester.assessment.level >= Level.URGENT
            assert "INCOMPLETE ASSESSMENT" in text_of(tester.query_one("#assessment-text"))
            assert app.workspace.doc("strains").dirty
            assert app.workspace.doc("strains").ruleset.rule("strain_peace_copy") is not None
            # the engine restarts its child: the next case is assessed normally
            tester.query_one("#f-night_pain", Checkbox).value = False
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert tester.assessment is not None and tester.assessment.complete

    _run(run)


def _run(coroutine: Any) -> None:
    import asyncio

    asyncio.run(coroutine())


def test_a_rule_can_declare_the_new_condition_it_concludes(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            await pilot.press("n")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor)
            values = {
                "#rule-id": "night_tightness_rule",
                "#rule-when": "calf_tightness and night_pain",
                "#rule-conclude": "night_calf_tightness",
                "#rule-rationale": "Tightness at night is its own picture.",
            }
            for selector, value in values.items():
                editor.query_one(selector, Input).value = value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, RuleEditor)  # an unknown condition needs a name first
            assert "not a known condition" in text_of(editor.query_one("#form-error"))
            editor.query_one("#rule-condition-label", Input).value = "Night-time calf tightness"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, BrowseScreen)
            ruleset = app.workspace.doc("strains").ruleset
            assert [c.label for c in ruleset.conditions if c.id == "night_calf_tightness"] == [
                "Night-time calf tightness"
            ]
            assert app.engine is not None and app.checks.problems_of(app.workspace.doc("strains")) == []
            assessment = app.engine.assess({"findings": {"calf_tightness": True, "night_pain": True}})
            assert "night_calf_tightness" in assessment.condition_ids()

    _run(run)


def test_the_rule_form_checks_like_the_compiler_and_the_app_refuses_a_taken_id(copy_dir: Path) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await make_strains_copy(pilot)
            # enter on a rule's row opens it in the form
            table = app.screen.query_one("#rules-table", DataTable)
            table.focus()
            table.move_cursor(row=1)
            taken = app.workspace.doc("strains").ruleset.rules[0].id
            await pilot.press("enter")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, RuleEditor) and editor.rule is not None
            assert editor.query_one("#rule-id", Input).value == app.workspace.doc("strains").ruleset.rules[1].id
            # a number finding answered like a yes/no one: the old form let it through
            when = editor.query_one("#rule-when", Input)
            when.value = "calf_pain and pain_score is no"
            await pilot.pause()
            status = text_of(editor.query_one("#when-status"))
            assert "✗ column 15: 'pain_score is no': pain_score is not yes/no" in status
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, RuleEditor)
            assert "when: column 15: 'pain_score is no'" in text_of(editor.query_one("#form-error"))
            # a valid rule under an id another rule has: the app refuses it, the form stays open
            when.value = "calf_pain and pain_score >= 3"
            editor.query_one("#rule-id", Input).value = taken
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, RuleEditor)
            assert f"a rule with id {taken!r} already exists" in text_of(editor.query_one("#form-error"))
            assert not app.workspace.doc("strains").dirty

    _run(run)


def test_no_screen_imports_the_app_and_the_package_has_no_import_cycle() -> None:
    """Screens talk to the app through messages and bound reactives, never by importing it."""
    import ast

    package = Path(__file__).parent.parent / "calfrules" / "tui"
    imports: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # TYPE_CHECKING blocks too
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        imports[path.stem] = {name.split(".")[2] for name in found if name.startswith("calfrules.tui.")} & {
            p.stem for p in package.glob("*.py")
        }
    assert [module for module, names in imports.items() if "app" in names] == []

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in imports[start])

    assert [module for module in imports if reaches(module, module, set())] == []
