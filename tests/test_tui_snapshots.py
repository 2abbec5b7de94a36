"""Snapshot tests (pytest-textual-snapshot) of the TUI's main screens at 80x24 (one at 120x40).

Update after an intended change of layout: ``pytest tests/test_tui_snapshots.py --snapshot-update``,
then look at the report it writes before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from calfrules import Level, Rule
from calfrules.tui.app import CalfrulesApp
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.rule_view import RuleView
from calfrules.tui.save_screen import ConflictScreen, SaveScreen
from calfrules.tui.yes_no import YesNo

from conftest import BUILTIN_PLUGINS

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def fixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Same plugins and relative paths on every machine, so the screens are byte-identical."""
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))
    monkeypatch.chdir(tmp_path)


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    pilot.app.clear_notifications()  # toasts come and go with time; keep them out of the pictures
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # a blinking cursor shows or not by the clock; this hides it
    await pilot.pause()


def test_main_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=settle)


def test_main_screen_with_an_editable_copy(snap_compare: SnapCompare) -> None:
    async def copy(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("c", "enter")
        await settle(pilot)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=copy)


def test_rule_editor_with_a_live_error(snap_compare: SnapCompare) -> None:
    async def edit(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("c", "enter")
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        editor = pilot.app.screen
        assert isinstance(editor, RuleEditor)
        editor.query_one("#rule-id", Input).value = "calf_tight_at_night"
        editor.query_one("#rule-when", Input).value = "calf_tightness and and"
        await settle(pilot)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=edit)


def test_case_tester_assessment(snap_compare: SnapCompare) -> None:
    async def assess(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        tester = pilot.app.screen
        assert isinstance(tester, CaseTester)
        tester.query_one("#f-calf_pain", Checkbox).value = True
        tester.query_one("#f-sudden_sharp_pain", Checkbox).value = True
        await pilot.press("ctrl+r")
        await settle(pilot)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=assess)


def test_case_tester_explanation_asks_the_screen_first(snap_compare: SnapCompare) -> None:
    """Unanswered red-flag questions at the top of the explanation; a recorded no is not unrecorded."""

    async def explain(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, CalfrulesApp)
        tester = app.open_case_tester({"calf_soreness_after_run": True, "returning_after_layoff": True, "fever": False})
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert tester.assessment is not None and not tester.assessment.red_flag_screen.complete

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=explain)


def test_case_tester_yes_no_and_not_recorded(snap_compare: SnapCompare) -> None:
    async def form(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        tester = pilot.app.screen
        assert isinstance(tester, CaseTester)
        tester.query_one("#f-calf_pain", YesNo).answer = True
        tester.query_one("#f-calf_warmth", YesNo).answer = False
        tester.query_one("#finding-search", Input).value = "calf_"
        await settle(pilot)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=form)


def test_case_tester_asks_the_screen_first_before_running(snap_compare: SnapCompare) -> None:
    """Before any run, the calf group's red-flag questions not yet asked head the form; an answered one has left."""

    async def form(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        tester = pilot.app.screen
        assert isinstance(tester, CaseTester)
        tester.query_one("#f-calf_pain", YesNo).answer = True
        tester.query_one("#f-chest_pain", YesNo).answer = False
        await settle(pilot)
        assert tester.assessment is None

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=form)


def test_help_screen(snap_compare: SnapCompare) -> None:
    async def help_screen(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=help_screen)


async def copy_strains(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("c", "enter")
    await settle(pilot)


def test_rule_editor_with_an_error_beside_its_field(snap_compare: SnapCompare) -> None:
    """Keep with no rationale: the error is under the rationale box, which has the focus."""

    async def edit(pilot: Pilot[Any]) -> None:
        await copy_strains(pilot)
        await pilot.press("n")
        await pilot.pause()
        editor = pilot.app.screen
        assert isinstance(editor, RuleEditor)
        editor.query_one("#rule-id", Input).value = "calf_tight_at_night"
        editor.query_one("#rule-when", Input).value = "calf_tightness and night_pain"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert editor.query_one("#rule-rationale", Input).has_focus

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=edit)


def test_read_only_rule_view(snap_compare: SnapCompare) -> None:
    async def view(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#rules-table").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, RuleView)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=view)


def test_save_refusal_in_plain_words(snap_compare: SnapCompare) -> None:
    async def refuse(pilot: Pilot[Any]) -> None:
        await copy_strains(pilot)
        app = pilot.app
        assert isinstance(app, CalfrulesApp)
        app.workspace.put_rule("strains", UNSAFE_RULE)
        app.edited()
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SaveScreen) and app.screen.plan is not None

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=refuse)


def test_conflict_prompt(snap_compare: SnapCompare) -> None:
    async def conflict(pilot: Pilot[Any]) -> None:
        await copy_strains(pilot)
        app = pilot.app
        assert isinstance(app, CalfrulesApp)
        app.workspace.duplicate_rule("strains", app.workspace.doc("strains").ruleset.rules[0].id)
        app.edited()
        await settle(pilot)
        path = Path("rulesets-local/strains.toml")
        path.write_text(path.read_text(encoding="utf-8").replace("version = ", "# a colleague\nversion = ", 1))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConflictScreen)

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=conflict)


def test_main_screen_at_120_columns(snap_compare: SnapCompare) -> None:
    """Wide enough for the ruleset list; at 80 columns (test_main_screen) it folds away."""
    assert snap_compare(CalfrulesApp(), terminal_size=(120, 40), run_before=settle)


UNSAFE_RULE = Rule(
    id="swollen_calf_emergency_unless_numb",
    when="calf_pain and swelling_unilateral and not numbness",
    rationale="Deliberately unsafe.",
    escalate=Level.EMERGENCY,
)
