"""Issue 14, item 7: the editable copy is the same file, and an edit changes only what it edits."""

from __future__ import annotations

import dataclasses
import difflib
from importlib import resources
from pathlib import Path

import pytest

from calfrules.knowledge.ruleset_edit import edited_text
from calfrules.knowledge.ruleset_io import loads
from calfrules.tui.saving import commit, plan_save
from calfrules.tui.workspace import Workspace

from conftest import BUILTIN_PLUGINS


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join(BUILTIN_PLUGINS))


def shipped(name: str) -> bytes:
    return resources.files("calfrules.rulesets").joinpath(name).read_bytes()


def test_the_copy_is_byte_for_byte_and_an_edit_touches_only_its_rule(tmp_path: Path) -> None:
    workspace = Workspace(copy_dir=tmp_path)
    doc = workspace.make_copy("strains")
    assert doc.path is not None and doc.path.read_bytes() == shipped("strains.toml")
    assert not doc.dirty
    rule = doc.ruleset.rules[1]
    workspace.put_rule("strains", dataclasses.replace(rule, rationale="A new reason."), rule.id)
    plan = plan_save(workspace, "strains", safety_examples=20)
    original = shipped("strains.toml").decode("utf-8")
    changed = [
        line
        for line in difflib.unified_diff(original.splitlines(), plan.text.splitlines(), n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [f"-rationale = {_quoted(rule.rationale)}", '+rationale = "A new reason."']
    commit(workspace, plan)
    text = doc.path.read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in original.splitlines() if line.startswith("#")
    ]
    assert len(text.splitlines()) == len(original.splitlines())


def test_added_changed_and_removed_rules_keep_the_rest_of_the_file() -> None:
    base = (
        '# a comment\nid = "x"\nversion = "1"\ntitle = "t"\n\n'
        '[[rules]]\nid = "a"  # why a\nwhen = "calf_pain"\nescalate = "see_clinician"\nrationale = "r"\n\n'
        '[[rules]]\nid = "gone"\nwhen = "fever"\nescalate = "see_clinician"\nrationale = "r"\n'
    )
    old = loads(base)
    changed = dataclasses.replace(old.rules[0], rationale="new")
    added = dataclasses.replace(old.rules[0], id="b")
    new = dataclasses.replace(old, rules=(changed, added))
    text = edited_text(base, old, new)
    assert text.startswith("# a comment\n") and 'id = "a"  # why a\n' in text
    assert [r.id for r in loads(text).rules] == ["a", "b"] and loads(text).rules[0].rationale == "new"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
