"""The red-flag screen in the case tester, live before the case is run (issue 14): the questions not
yet asked for the case's presenting group(s) come first, and leave the top as they are answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_helpers import settle

from calfrules.engine.assessment import RedFlagScreen
from calfrules.tui.app import CalfrulesApp
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.case_words import screen_title
from calfrules.tui.form_fields import row_home
from calfrules.tui.yes_no import YesNo

from conftest import BUILTIN_PLUGINS

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))


def with_tester(tmp_path: Path, body: Callable[[Pilot[Any], CaseTester], Awaitable[None]]) -> None:
    """Open an empty case tester (as the `t` key does) and run ``body`` on it."""

    async def run() -> None:
        app = CalfrulesApp(copy_dir=tmp_path / "rulesets-local")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            tester = app.screen
            assert isinstance(tester, CaseTester)
            await body(pilot, tester)

    asyncio.run(run())


def asked_first(tester: CaseTester) -> list[str]:
    """The finding ids of the rows right under the screen's title, while the title shows."""
    form = tester.query_one("#finding-form")
    title = tester.query_one("#screen-title")
    if not title.display:
        return []
    rows = list(form.children)[form.children.index(title) + 1 :]
    first: list[str] = []
    for row in rows:
        if not row.has_class("-ask-first"):
            break
        first.append((row.id or "").removeprefix("row-"))
    return first


def group_questions(tester: CaseTester, group_id: str) -> list[str]:
    """A screen group's questions as the loaded rulesets declare them."""
    assert tester.engine is not None
    group = next(g for g in tester.engine.program.screen if g.group.id == group_id)
    return [q.id for q in group.questions]


def answer(tester: CaseTester, finding_id: str, value: bool | None) -> None:
    tester.query_one(f"#f-{finding_id}", YesNo).answer = value


def test_a_calf_case_shows_the_calf_questions_first_before_it_is_run(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any], tester: CaseTester) -> None:
        answer(tester, "calf_pain", True)
        await pilot.pause()
        calf = group_questions(tester, "calf")
        assert tester.assessment is None  # nothing run yet
        assert asked_first(tester) == calf
        assert "chest_pain" in calf and "focal_bone_tenderness" not in calf  # the calf group, not the shin one
        title = str(tester.query_one("#screen-title").render())
        assert f"{len(calf)} RED-FLAG QUESTIONS NOT YET ASKED (CALF)" in title

        # the engine, once run, counts the same questions as unanswered
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert tester.assessment is not None
        assert list(tester.assessment.red_flag_screen.unanswered) == asked_first(tester) == calf

    with_tester(tmp_path, body)


def test_answering_a_question_yes_or_no_takes_it_off_the_top_and_not_recorded_puts_it_back(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any], tester: CaseTester) -> None:
        answer(tester, "calf_tightness", True)
        await pilot.pause()
        calf = group_questions(tester, "calf")
        answer(tester, "chest_pain", True)
        await pilot.pause()
        assert asked_first(tester) == [q for q in calf if q != "chest_pain"]
        answer(tester, "fever", False)  # a recorded no is an answer too
        await pilot.pause()
        assert asked_first(tester) == [q for q in calf if q not in {"chest_pain", "fever"}]
        assert f"{len(calf) - 2} RED-FLAG QUESTIONS" in str(tester.query_one("#screen-title").render())

        # an answered question is back among its group's findings
        form = tester.query_one("#finding-form")
        fever = tester.query_one("#row-fever")
        assert tester.engine is not None
        home = tester.query_one(f"#{row_home(tester.engine.vocabulary, 'fever', asked_first(tester))}")
        assert form.children.index(fever) == form.children.index(home) + 1
        assert not fever.has_class("-ask-first")

        answer(tester, "fever", None)  # not recorded again: asked first again, in the screen's order
        await pilot.pause()
        assert asked_first(tester) == [q for q in calf if q != "chest_pain"]

    with_tester(tmp_path, body)


def test_answered_by_keyboard_a_question_leaves_the_top_when_the_focus_moves_on(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any], tester: CaseTester) -> None:
        answer(tester, "calf_pain", True)
        await pilot.pause()
        calf = group_questions(tester, "calf")
        tester.query_one(f"#f-{calf[0]}").focus()
        await pilot.press("n")
        await pilot.pause()
        assert tester.findings()[calf[0]] is False
        assert asked_first(tester) == calf  # still there while being answered: space can go on to "no"
        await pilot.press("tab")
        await pilot.pause()
        assert asked_first(tester) == calf[1:]
        assert tester.focused is tester.query_one(f"#f-{calf[1]}")  # tab goes on to the next question

    with_tester(tmp_path, body)


def test_an_empty_case_shows_the_default_group(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any], tester: CaseTester) -> None:
        assert tester.engine is not None
        default = next(g for g in tester.engine.program.screen if g.group.default)
        assert default.group.id == "whole_leg"
        assert tester.findings() == {}
        assert asked_first(tester) == [q.id for q in default.questions]
        assert "(WHOLE LEG)" in str(tester.query_one("#screen-title").render())

    with_tester(tmp_path, body)


def test_the_search_hides_the_screen_title_with_its_questions(tmp_path: Path) -> None:
    async def body(pilot: Pilot[Any], tester: CaseTester) -> None:
        answer(tester, "calf_pain", True)
        search = tester.query_one("#finding-search")
        search.focus()
        await pilot.press(*"tiptoe")
        await pilot.pause()
        assert not tester.query_one("#screen-title").display  # no calf question is about tiptoe
        await pilot.press(*["backspace"] * 6)
        await pilot.pause()
        assert tester.query_one("#screen-title").display and asked_first(tester)

    with_tester(tmp_path, body)


def test_screen_title_counts_and_names_the_groups() -> None:
    one = RedFlagScreen(complete=False, unanswered=("fever",), groups=("calf", "whole_leg"))
    assert screen_title(one) == "ASK THESE FIRST: 1 RED-FLAG QUESTION NOT YET ASKED (CALF, WHOLE LEG)"
