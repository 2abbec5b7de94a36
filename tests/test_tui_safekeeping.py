"""Issue 14: the TUI never loses a physio's work (items 1, 2, 4, 5, 6), at 80x24."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from tui_helpers import settle, text_of

from calfrules import Rule
from calfrules.knowledge.ruleset_io import load
from calfrules.tui.app import CalfrulesApp
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.dialogs import ConfirmScreen, PromptScreen
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.save_screen import SaveScreen
from calfrules.tui.yes_no import YesNo

from conftest import BUILTIN_PLUGINS

SIZE = (80, 24)
HAND_WRITTEN = (
    '\n[[rules]]\nid = "colleague_rule"\nwhen = "calf_pain and cramp_at_rest"\n'
    'conclude = "calf_strain"\nrationale = "Added by hand."\n'
)


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))


def in_app(copy_dir: Path, body: Callable[[CalfrulesApp, Pilot[Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        app = CalfrulesApp(copy_dir=copy_dir)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("enter")
            await settle(pilot)
            await body(app, pilot)

    asyncio.run(run())


def first_rule(app: CalfrulesApp) -> Rule:
    return app.workspace.doc("strains").ruleset.rules[0]


async def open_editor(app: CalfrulesApp, pilot: Pilot[Any]) -> RuleEditor:
    app.screen.query_one("#rules-table", DataTable).focus()
    await pilot.press("e")
    await pilot.pause()
    editor = app.screen
    assert isinstance(editor, RuleEditor)
    return editor


def test_ctrl_q_and_escape_in_the_rule_form_ask_before_dropping_it(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        editor = await open_editor(app, pilot)
        editor.query_one("#rule-rationale", Input).value = "A better reason."
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.return_code is None
        assert "rule form" in str(app.screen.query_one("#question").render())
        await pilot.press("escape")  # keep working
        await pilot.pause()
        assert app.screen is editor
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#no")
        await pilot.pause()
        assert app.screen is editor and editor.query_one("#rule-rationale", Input).value == "A better reason."

    in_app(tmp_path / "local", body)


def test_the_case_tester_keeps_the_case_when_left_and_opened_again(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        await pilot.press("t")
        await pilot.pause()
        tester = app.screen
        assert isinstance(tester, CaseTester)
        tester.query_one("#f-calf_pain", YesNo).answer = True
        tester.query_one("#f-night_pain", YesNo).answer = False
        await pilot.pause()
        assert "Calf pain" in text_of(tester.query_one("#recorded"))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("t")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, CaseTester)
        assert again.findings() == {"calf_pain": True, "night_pain": False}

    in_app(tmp_path / "local", body)


def test_e_selects_nothing_and_ctrl_z_undoes_edits_and_deletions(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        original = first_rule(app)
        editor = await open_editor(app, pilot)
        when = editor.query_one("#rule-when", Input)
        assert when.has_focus and when.selection.is_empty
        await pilot.press("end", "space", "a", "n", "d", "space", "f", "e", "v", "e", "r")
        assert when.value == f"{original.when} and fever"  # typing added to it, replaced nothing
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert first_rule(app).when == f"{original.when} and fever"
        table = app.screen.query_one("#rules-table", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#yes")
        await settle(pilot)
        assert first_rule(app).id != original.id
        await pilot.press("ctrl+z")  # the deletion
        await settle(pilot)
        assert first_rule(app).when == f"{original.when} and fever"
        await pilot.press("ctrl+z")  # the edit
        await settle(pilot)
        assert first_rule(app) == original and not app.workspace.doc("strains").dirty

    in_app(tmp_path / "local", body)


def test_clicking_the_highlighted_row_does_not_open_the_form(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        app.screen.query_one("#rules-table", DataTable).focus()
        await pilot.pause()
        await pilot.click("#rules-table", offset=(3, 1))
        await pilot.click("#rules-table", offset=(3, 1))
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)

    in_app(tmp_path / "local", body)


def test_right_arrow_and_tab_accept_the_did_you_mean_fix(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        editor = await open_editor(app, pilot)
        when = editor.query_one("#rule-when", Input)
        when.value = "calf_pian and swelling"
        when.cursor_position = len(when.value)
        await pilot.pause()
        assert "calf_pain" in text_of(editor.query_one("#when-status"))
        await pilot.press("right")
        await pilot.pause()
        assert when.value == "calf_pain and swelling"
        when.value = "calf_pain and sweling_unilateral"
        when.cursor_position = len(when.value)
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        assert when.value == "calf_pain and swelling_unilateral" and when.has_focus

    in_app(tmp_path / "local", body)


def test_saving_with_failing_golden_cases_asks_with_the_count(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        path = tmp_path / "local" / "strains.toml"
        before = path.read_bytes()
        for rule in list(app.workspace.doc("strains").ruleset.rules):
            app.workspace.delete_rule("strains", rule.id)
        app.edited()
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        save = app.screen
        assert isinstance(save, SaveScreen) and save.plan is not None
        failing = len(save.plan.golden_failing)
        assert failing > 0
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#question").render())
        assert f"{failing} golden cases will FAIL" in question and "save anyway?" in question
        await pilot.click("#no")
        await pilot.pause()
        assert path.read_bytes() == before
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.click("#yes")
        await settle(pilot)
        assert load(path).rules == ()

    in_app(tmp_path / "local", body)


def test_a_file_changed_by_someone_else_is_never_overwritten(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        path = tmp_path / "local" / "strains.toml"
        app.workspace.duplicate_rule("strains", first_rule(app).id)
        app.edited()
        await settle(pilot)
        path.write_text(path.read_text(encoding="utf-8") + HAND_WRITTEN, encoding="utf-8")  # a colleague
        theirs = path.read_text(encoding="utf-8")
        await pilot.press("ctrl+s")
        await settle(pilot)
        prompt = app.screen
        assert not isinstance(prompt, SaveScreen) or prompt.plan is None or prompt.plan.conflict is not None
        shown = "\n".join(text_of(s) for s in prompt.query(Static) if s.id in {"theirs", "mine"})
        assert "colleague_rule" in shown and f"{first_rule(app).id}_copy" in shown
        assert path.read_text(encoding="utf-8") == theirs
        await pilot.click("#merge")
        await settle(pilot)
        merged = app.workspace.doc("strains").ruleset
        assert merged.rule("colleague_rule") is not None and merged.rule(f"{first_rule(app).id}_copy") is not None
        await pilot.press("ctrl+s")
        await settle(pilot)
        save = app.screen
        assert isinstance(save, SaveScreen) and save.plan is not None and save.plan.conflict is None
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = load(path)
        assert saved.rule("colleague_rule") is not None and saved.rule(f"{first_rule(app).id}_copy") is not None
        assert (path.parent / "strains.toml.~1~").read_text(encoding="utf-8") == theirs

    in_app(tmp_path / "local", body)


def test_the_case_form_puts_the_red_flag_questions_not_yet_asked_first(tmp_path: Path) -> None:
    async def body(app: CalfrulesApp, pilot: Pilot[Any]) -> None:
        tester = app.open_case_tester({"calf_soreness_after_run": True, "returning_after_layoff": True})
        await settle(pilot)
        assert tester.assessment is not None and not tester.assessment.red_flag_screen.complete
        unanswered = list(tester.assessment.red_flag_screen.unanswered)
        form = tester.query_one("#finding-form")
        ids = [child.id for child in form.children]
        start = ids.index("screen-title")
        assert tester.query_one("#screen-title").display
        assert ids[start + 1 : start + 1 + len(unanswered)] == [f"row-{q}" for q in unanswered]

    in_app(tmp_path / "local", body)
