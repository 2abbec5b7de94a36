from __future__ import annotations

import inspect
from importlib import metadata
from pathlib import Path

import pytest

from calfrules import Deriver, Finding, FloorEntry, Level, Score, hookimpl, load_engine
from calfrules.knowledge import hookspecs
from calfrules.knowledge.builtin import BUILTIN_PLUGINS, CORE, core_vocabulary

from helpers import ruleset

TESTS_DIR = Path(__file__).parent
README = TESTS_DIR.parent / "README.md"


@pytest.mark.parametrize("hook", hookspecs.HOOK_NAMES)
def test_every_hook_is_prefixed_typed_and_documented(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    assert hook.startswith("calfrules_")
    doc = inspect.getdoc(spec) or ""
    assert "Receives" in doc and "Example::" in doc, f"{hook} docstring must say what it receives and show an example"
    assert all(p.annotation is not inspect.Parameter.empty for p in inspect.signature(spec).parameters.values())
    assert hook in README.read_text(), f"{hook} is not documented in the README"


@pytest.mark.parametrize("hook", hookspecs.HOOK_NAMES)
def test_every_hook_has_a_test(hook: str) -> None:
    sources = "".join(p.read_text() for p in TESTS_DIR.glob("test_*.py") if p.name != Path(__file__).name)
    sources += Path(__file__).read_text().split("class " + "Pack:")[1]  # only the hook tests below
    assert f"def {hook}(" in sources, f"no test implements {hook}"


def test_hookspecs_module_defines_exactly_the_listed_hooks() -> None:
    found = {name for name in dir(hookspecs) if name.startswith("calfrules_")}
    assert found == set(hookspecs.HOOK_NAMES)


# --- hook tests ---


class Pack:
    calfrules_plugin_name = "pack"

    @hookimpl
    def calfrules_register_vocabulary(self, register):  # type: ignore[no-untyped-def]
        register(Finding(id="ankle_swelling", type="bool", label="Ankle swelling", question="?", kind="sign"))

    @hookimpl
    def calfrules_register_rulesets(self, register):  # type: ignore[no-untyped-def]
        register(
            ruleset(
                """
                [conditions.ankle_sprain]
                label = "Ankle sprain"

                [[rules]]
                id = "sprain"
                when = "ankle_swelling and swelling_points >= 1"
                conclude = "ankle_sprain"
                rationale = "x"

                [[rules.recommend]]
                id = "pack_rest"
                text = ""
                references = ["ref"]
                """,
                ruleset_id="pack_rules",
            )
        )

    @hookimpl
    def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
        register(
            Deriver(
                id="swelling_points",
                label="Swelling points",
                inputs=("ankle_swelling",),
                compute=lambda f: Score(1.0, {"ankle_swelling": 1.0}) if f.get("ankle_swelling") else None,
            )
        )

    @hookimpl
    def calfrules_register_texts(self, register):  # type: ignore[no-untyped-def]
        register("pack_rest", "Rest the ankle for two days.")

    @hookimpl
    def calfrules_register_floor(self, register):  # type: ignore[no-untyped-def]
        register(FloorEntry(id="pack_floor", when="ankle_swelling and fever", level=Level.URGENT, label="Hot ankle"))


def test_a_pack_contributes_through_every_hook() -> None:
    e = load_engine(plugins=[Pack()], allow=[])
    assert e.problems == []
    a = e.assess({"findings": {"ankle_swelling": True}})
    assert a.condition_ids() == ["ankle_sprain"]
    assert a.recommendations[0].text == "Rest the ankle for two days."
    assert a.scores[0].id == "swelling_points" and a.scores[0].plugin == "pack"
    assert e.assess({"findings": {"ankle_swelling": True, "fever": True}}).level == Level.URGENT
    assert "pack" in {p.name for p in e.plugins}


class Raises:
    calfrules_plugin_name = "raises"

    @hookimpl
    def calfrules_register_rulesets(self, register):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in the pack")


def test_a_plugin_that_raises_is_named_and_the_rest_still_load() -> None:
    e = load_engine(plugins=[Raises(), Pack()], allow=[])
    assert any("plugin raises" in p and "bug in the pack" in p for p in e.problems)
    assert {p.name: p.status for p in e.plugins}["raises"] == "failed"
    assert e.assess({"findings": {"ankle_swelling": True}}).condition_ids() == ["ankle_sprain"]


class Lowers:
    calfrules_plugin_name = "lowers"

    @hookimpl
    def calfrules_register_floor(self, register):  # type: ignore[no-untyped-def]
        register(FloorEntry(id="pack_floor", when="ankle_swelling and fever", level=Level.SELF_CARE, label="x"))
        register(FloorEntry(id="pack_floor", when="fever", level=Level.EMERGENCY, label="x"))


def test_the_floor_cannot_be_lowered_or_rewritten() -> None:
    e = load_engine(plugins=[Pack(), Lowers()], allow=[])
    refused = [p for p in e.problems if p.startswith("plugin lowers: refused")]
    assert len(refused) == 2 and "can only go up" in refused[0] and "cannot change" in refused[1]
    assert e.assess({"findings": {"ankle_swelling": True, "fever": True}}).level == Level.URGENT


def test_the_floor_can_be_raised() -> None:
    class Raiser:
        calfrules_plugin_name = "raiser"

        @hookimpl
        def calfrules_register_floor(self, register):  # type: ignore[no-untyped-def]
            register(FloorEntry(id="pack_floor", when="ankle_swelling and fever", level=Level.EMERGENCY, label="x"))

    e = load_engine(plugins=[Pack(), Raiser()], allow=[])
    assert e.assess({"findings": {"ankle_swelling": True, "fever": True}}).level == Level.EMERGENCY


def test_allow_and_block_lists_choose_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_BLOCK_PLUGINS", "cramps")
    statuses = {p.name: p.status for p in load_engine().plugins}
    assert statuses["cramps"] == "blocked" and statuses["strains"] == "loaded"
    monkeypatch.delenv("CALFRULES_BLOCK_PLUGINS")
    monkeypatch.setenv("CALFRULES_PLUGINS", "strains")
    statuses = {p.name: p.status for p in load_engine().plugins}
    assert statuses["strains"] == "loaded" and statuses["form"] == "not_allowed"


def test_builtin_plugins_are_registered_from_the_declared_tuple_and_marked_builtin() -> None:
    infos = {p.name: p for p in load_engine(isolation="none").plugins}
    assert [name for name, info in infos.items() if info.builtin] == [CORE, *BUILTIN_PLUGINS]
    for name in BUILTIN_PLUGINS:
        assert infos[name].status == "loaded" and infos[name].module == f"calfrules.plugins.{name}"
    # entry points are for third-party packs only
    assert not [ep for ep in metadata.entry_points(group="calfrules") if ep.value.startswith("calfrules.")]


def test_a_file_ruleset_replaces_a_plugin_ruleset_but_not_its_floor(tmp_path: Path) -> None:
    base = load_engine(allow=["strains"])
    original = base.ruleset("strains")
    assert original is not None
    from calfrules import save_ruleset
    from calfrules.rules.model import Ruleset

    copy = Ruleset(**{**vars(original), "rules": (), "tests": (), "floor": ()})
    path = save_ruleset(copy, tmp_path / "strains.toml")
    e = load_engine(rulesets=[path], allow=["strains"])
    entry = next(r for r in e.rulesets if r.ruleset.id == "strains")
    assert entry.plugin is None and entry.replaced == "strains"
    assert len(e.program.floor) == len(base.program.floor)


def test_blocking_every_plugin_keeps_the_vocabulary_the_floor_and_wells() -> None:
    full = load_engine()
    bare = load_engine(allow=[])
    assert {f.id for f in core_vocabulary().findings} <= set(bare.vocabulary.findings)
    assert {c.entry.id for c in bare.program.floor} == {c.entry.id for c in full.program.floor}
    a = bare.assess({"findings": {"chest_pain": True, "swelling": True, "calf_pain": True}})
    assert a.level == Level.EMERGENCY and a.red_flags
    assert bare.assess({"findings": {"entire_leg_swollen": True, "pitting_oedema": True}}).scores[0].value == 2


def test_the_readme_ruleset_example_is_a_valid_ruleset() -> None:
    """The pack section's TOML example documents every field: it must load as written."""
    import re

    from calfrules.knowledge import ruleset_io

    section = README.read_text().split("### Ruleset format (TOML)", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    ruleset = ruleset_io.loads(example[1], "README.md")
    assert ruleset.rules[0].recommend[0].dose == (("weeks", 12),) and ruleset.tests[0].expect.conditions


def test_an_unknown_key_error_lists_the_valid_keys() -> None:
    from calfrules.knowledge import ruleset_io
    from calfrules.rules.errors import RulesetError

    text = 'id = "t"\nversion = "1"\ntitle = "T"\n[[tests]]\nid = "g"\nfindings = {}\nexpect = { levl = "urgent" }\n'
    with pytest.raises(RulesetError) as caught:
        ruleset_io.loads(text, "t.toml")
    assert str(caught.value) == (
        "t.toml: test g expect: unknown field(s): levl (did you mean level?); the fields here are: level, "
        "conditions, absent_conditions, recommendations, red_flags, screen_complete, screen_groups"
    )
