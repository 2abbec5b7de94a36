"""The CLI's red-flag surfaces: the table, the screen, and the screen policy on assess."""

from __future__ import annotations

import json

from click.testing import CliRunner

from calfrules.cli import cli

FIRST_RUN_BACK = '{"findings": {"calf_soreness_after_run": true, "returning_after_layoff": true}}'


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_safety_json_publishes_each_entry_with_its_level_kind_and_source() -> None:
    code, out, _ = run("safety", "--json")
    rows = json.loads(out)
    assert code == 0 and rows
    assert {row["kind"] for row in rows} == {"sign", "combination"}
    for row in rows:
        assert row["level"] in ("see_clinician", "urgent", "emergency")
        assert row["findings"] and row["sources"], f"{row['id']} needs findings and a published source"


def test_screen_lists_every_group_with_its_questions() -> None:
    code, out, _ = run("screen", "--json")
    groups = {row["id"]: row for row in json.loads(out)}
    assert code == 0 and {"calf", "shin", "achilles", "whole_leg"} <= set(groups)
    assert all(q["question"].endswith("?") for row in groups.values() for q in row["questions"])
    code, text, _ = run("screen")
    assert code == 0 and "? " in text


def test_assess_prompts_by_default_and_requires_on_request() -> None:
    code, out, _ = run("assess", "-", "--json", stdin=FIRST_RUN_BACK)
    prompted = json.loads(out)
    assert code == 0 and prompted["red_flag_screen"]["policy"] == "prompt"
    assert prompted["red_flag_screen"]["complete"] is False
    code, out, _ = run("assess", "-", "--json", "--screen", "require", stdin=FIRST_RUN_BACK)
    required = json.loads(out)
    assert code == 0 and required["level"] == "see_clinician"
    assert any(reason["source"] == "screen" for reason in required["level_reasons"])


def test_assess_text_asks_the_unanswered_questions_near_the_top() -> None:
    code, out, _ = run("assess", "-", stdin=FIRST_RUN_BACK)
    assert code == 0
    head = out.split("Conditions considered")[0]
    assert "Before this can be self-care, ask:" in head


def test_an_unknown_screen_policy_is_refused_by_the_cli() -> None:
    code, _, err = run("assess", "-", "--screen", "sometimes", stdin=FIRST_RUN_BACK)
    assert code == 2 and "sometimes" in err
