"""Snapshot tests (pytest-textual-snapshot) of the TUI's main screens at 80x24.

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

from calfrules.tui.app import CalfrulesApp
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.rule_editor import RuleEditor
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


def test_help_screen(snap_compare: SnapCompare) -> None:
    async def help_screen(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(CalfrulesApp(), terminal_size=(80, 24), run_before=help_screen)
