"""The red-flag screen: questions per presenting group, the prompt and require policies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calfrules import Engine, Level, load_engine
from calfrules.formats.text import render_text
from calfrules.rules.errors import CalfrulesError

from helpers import engine_with, ruleset

FIRST_RUN_BACK = {"calf_soreness_after_run": True, "returning_after_layoff": True, "days_since_onset": 2}


@pytest.fixture(scope="module")
def requiring() -> Iterator[Engine]:
    from conftest import BUILTIN_PLUGINS

    built = load_engine(allow=BUILTIN_PLUGINS, screen="require", isolation="none")
    yield built
    built.close()


def test_every_presenting_group_is_declared(engine: Engine) -> None:
    groups = {g.group.id: g.group for g in engine.program.screen}
    assert {"calf", "shin", "achilles", "whole_leg"} <= set(groups)
    assert [g.id for g in groups.values() if g.default] == ["whole_leg"]
    for group in groups.values():
        assert group.ask and group.references, f"screen group {group.id} needs questions and a source"


def test_prompt_lists_the_questions_and_leaves_the_level(engine: Engine) -> None:
    a = engine.assess({"findings": FIRST_RUN_BACK})
    screen = a.red_flag_screen
    assert a.level == Level.SELF_CARE
    assert "calf" in screen.groups and not screen.complete and screen.policy == "prompt"
    assert set(screen.unanswered) == {q.id for q in screen.questions}
    data = a.to_dict()["red_flag_screen"]
    assert data["complete"] is False and data["unanswered"] == list(screen.unanswered)
    assert all(set(q) == {"id", "question"} for q in data["questions"])
    text = render_text(a)
    assert "Before this can be self-care, ask:" in text
    assert text.index("Before this can be self-care") < text.index("Conditions considered")


def test_require_keeps_unanswered_cases_at_see_clinician_and_says_why(requiring: Engine) -> None:
    a = requiring.assess({"findings": FIRST_RUN_BACK})
    assert a.level == Level.SEE_CLINICIAN
    assert any(r.source == "screen" for r in a.level_reasons)


def test_answering_every_question_no_completes_the_screen(engine: Engine, requiring: Engine) -> None:
    questions = engine.assess({"findings": FIRST_RUN_BACK}).red_flag_screen.unanswered
    answered = {**FIRST_RUN_BACK, **dict.fromkeys(questions, False)}
    for built in (engine, requiring):
        a = built.assess({"findings": answered})
        assert a.red_flag_screen.complete and a.red_flag_screen.unanswered == ()
        assert a.level == Level.SELF_CARE, [r.reason for r in a.level_reasons]
        assert "Before this can be self-care" not in render_text(a)


@pytest.mark.parametrize(
    ("findings", "group"),
    [
        ({"calf_pain": True}, "calf"),
        ({"shin_pain_medial_diffuse": True}, "shin"),
        ({"achilles_pain": True}, "achilles"),
        ({"fever": True}, "whole_leg"),
    ],
)
def test_each_presenting_group_applies_to_its_presentation(
    engine: Engine, findings: dict[str, object], group: str
) -> None:
    assert group in engine.assess({"findings": findings}).red_flag_screen.groups


def _group(ruleset_id: str, when: str, ask: str) -> object:
    return ruleset(
        f"""
        [[screen]]
        id = "pack_group"
        label = "A pack's group"
        when = "{when}"
        ask = ["{ask}"]
        references = ["ref"]
        """,
        ruleset_id,
    )


def test_a_pack_can_add_questions_but_not_change_whom_a_group_applies_to() -> None:
    first = _group("pack_a", "calf_pain", "chest_pain")
    more = _group("pack_b", "calf_pain", "prior_stress_fracture")
    changed = _group("pack_c", "shin_pain_focal", "fever")
    built = engine_with(first, more, changed, builtins=False)  # type: ignore[arg-type]
    try:
        group = next(g.group for g in built.program.screen if g.group.id == "pack_group")
        assert group.when == "calf_pain"
        assert group.ask == ("chest_pain", "prior_stress_fracture")
        assert any("screen group 'pack_group'" in p and "can only gain questions" in p for p in built.problems)
    finally:
        built.close()


def test_a_screen_question_must_be_a_yes_no_finding() -> None:
    bad = ruleset(
        """
        [[screen]]
        id = "hips"
        label = "Hips"
        when = "calf_pain"
        ask = ["age"]
        """,
        "bad_screen",
    )
    built = engine_with(bad, builtins=False)
    try:
        assert any("asks 'age', which is not a yes/no finding" in p for p in built.problems)
    finally:
        built.close()


def test_an_unknown_screen_policy_is_a_clear_error() -> None:
    with pytest.raises(CalfrulesError, match="unknown screen policy 'strict'; use one of: prompt, require"):
        load_engine(screen="strict")  # type: ignore[arg-type]
