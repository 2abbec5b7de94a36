"""The plugin host: built-ins by name, packs by entry point, hooks through pluggy, no silent misconfiguration."""

from __future__ import annotations

import linecache
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner

from calfrules import Engine, Level, PluginError, Ruleset, hookimpl, load_engine
from calfrules.cli import cli
from calfrules.knowledge import builtin, installed, plugin_host
from calfrules.knowledge.builtin import BUILTIN_PLUGINS, CORE
from calfrules.knowledge.plugin_host import create_host
from calfrules.knowledge.registry import build_registry

from helpers import PAIN_RULE, engine_with, ruleset

RULES = ruleset(PAIN_RULE)


class Contributes:
    """Registers a one-rule ruleset named after the plugin, so the order of contributions shows."""

    def __init__(self, name: str) -> None:
        self.calfrules_plugin_name = name

    @hookimpl
    def calfrules_register_rulesets(self, register: Callable[[Ruleset], None]) -> None:
        rule = '[[rules]]\nid = "r"\nwhen = "calf_pain"\nderive = ["seen"]\nrationale = "x"\n'
        register(ruleset(rule, self.calfrules_plugin_name))


class GoesFirst(Contributes):
    @hookimpl(tryfirst=True)
    def calfrules_register_rulesets(self, register: Callable[[Ruleset], None]) -> None:
        super().calfrules_register_rulesets(register)


class Raises:
    calfrules_plugin_name = "raises"

    @hookimpl
    def calfrules_register_rulesets(self, register: Callable[[Ruleset], None]) -> None:
        raise RuntimeError("bug in the pack")


class Misspelt:
    calfrules_plugin_name = "misspelt"

    @hookimpl
    def calfrules_register_rulset(self, register: Callable[[Ruleset], None]) -> None:
        register(RULES)


# --- built-ins by name, packs by entry point ---


def test_packs_come_from_entry_points_and_entry_points_false_keeps_only_the_builtins() -> None:
    with_packs = {p.name: p for p in load_engine(isolation="none").plugins}
    without = {p.name: p for p in load_engine(isolation="none", entry_points=False).plugins}
    assert list(without) == [CORE, *BUILTIN_PLUGINS] and all(p.builtin for p in without.values())
    packs = [ep for ep in metadata.entry_points(group="calfrules")]
    assert [name for name, p in with_packs.items() if not p.builtin] == sorted(ep.name for ep in packs)
    if "tibpost" in with_packs:  # examples/tibpost_pack, installed in CI
        assert with_packs["tibpost"].status == "loaded" and with_packs["tibpost"].module == "calfrules_tibpost"


def test_core_tests_never_see_installed_packs(engine: Engine) -> None:
    with engine_with() as helper_engine:
        for built in (engine, helper_engine):
            assert {p.name for p in built.plugins if p.status == "loaded"} == {CORE, *BUILTIN_PLUGINS}


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_the_core_cannot_be_blocked(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "environment":
        monkeypatch.setenv("CALFRULES_BLOCK_PLUGINS", "cramps, core")
    with pytest.raises(PluginError, match="'core' cannot be blocked: it is the vocabulary, the red-flag floor"):
        load_engine(block=["core"] if how == "argument" else (), isolation="none")


def test_allowing_and_blocking_work_for_builtins_and_packs_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = {p.name: p.status for p in load_engine(block=["strains"], isolation="none").plugins}
    assert statuses["strains"] == "blocked" and statuses["cramps"] == "loaded" and statuses[CORE] == "loaded"
    monkeypatch.setenv("CALFRULES_PLUGINS", "")  # empty: none but the core
    statuses = {p.name: p.status for p in load_engine(isolation="none").plugins}
    assert statuses[CORE] == "loaded" and {statuses[name] for name in BUILTIN_PLUGINS} == {"not_allowed"}


# --- a name that matches no plugin is an error ---


@pytest.mark.parametrize(
    ("allow", "block", "env", "where"),
    [
        (["cramp"], (), {}, "allow"),
        (None, ["cramp"], {}, "block"),
        (None, (), {"CALFRULES_PLUGINS": "strains,cramp"}, "$CALFRULES_PLUGINS"),
        (None, (), {"CALFRULES_BLOCK_PLUGINS": "cramp"}, "$CALFRULES_BLOCK_PLUGINS"),
    ],
)
def test_an_unknown_plugin_name_is_an_error_with_a_suggestion(
    allow: list[str] | None, block: list[str], env: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(PluginError) as raised:
        load_engine(allow=allow, block=block, isolation="none")
    message = str(raised.value)
    assert message.startswith(f"{where}: no plugin is named 'cramp' (did you mean cramps?)")
    assert f"the plugins are: {CORE}, {', '.join(BUILTIN_PLUGINS)}" in message


def test_the_cli_turns_an_unknown_plugin_name_into_one_line() -> None:
    result = CliRunner().invoke(cli, ["check"], env={"CALFRULES_PLUGINS": "nosuch"})
    assert result.exit_code == 2
    assert result.stderr.startswith("calfrules: error: $CALFRULES_PLUGINS: no plugin is named 'nosuch'")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_a_plugin_handed_over_in_code_can_be_allowed_by_name() -> None:
    engine = load_engine(plugins=[Contributes("mine")], allow=["mine"], isolation="none")
    assert engine.ruleset("mine") is not None and engine.problems == []


# --- hooks through pluggy ---


def test_hook_calls_go_through_pluggy_one_plugin_at_a_time() -> None:
    host = create_host(extra_plugins=[Contributes("one"), Contributes("two")], allow=[])
    calls: list[tuple[str, list[str]]] = []

    def before(name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        calls.append((name, [impl.plugin_name for impl in impls]))

    host.manager.add_hookcall_monitoring(before, lambda *args: None)
    build_registry(host)
    assert calls == [("calfrules_register_rulesets", ["one"]), ("calfrules_register_rulesets", ["two"])]


def test_pluggy_tracing_sees_the_hook_calls() -> None:
    host = create_host(allow=["cramps"])
    lines: list[str] = []
    host.manager.trace.root.setwriter(lines.append)
    host.manager.enable_tracing()
    build_registry(host)
    assert any("calfrules_register_rulesets" in line for line in lines)


def test_plugins_run_in_order_and_tryfirst_goes_first() -> None:
    plain = load_engine(plugins=[Contributes("a"), Contributes("b")], allow=["cramps"], isolation="none")
    assert [e.ruleset.id for e in plain.rulesets] == ["vocabulary", "cramps", "a", "b"]
    eager = load_engine(plugins=[Contributes("a"), GoesFirst("b")], allow=["cramps"], isolation="none")
    assert [e.ruleset.id for e in eager.rulesets] == ["vocabulary", "b", "cramps", "a"]


def test_a_wrapper_wraps_each_plugins_call_and_contributions_stay_attributed() -> None:
    seen: list[str] = []

    class Watcher:
        calfrules_plugin_name = "watcher"

        @hookimpl(wrapper=True)
        def calfrules_register_rulesets(self, register: Callable[[Ruleset], None]) -> object:
            seen.append("call")
            return (yield)

    engine = load_engine(plugins=[Watcher(), Contributes("a"), Contributes("b")], allow=[], isolation="none")
    assert seen == ["call", "call"]
    assert {e.ruleset.id: e.plugin for e in engine.rulesets if e.plugin != CORE} == {"a": "a", "b": "b"}


def test_a_raising_wrapper_is_blamed_not_the_plugin_it_wraps() -> None:
    class Breaks:
        calfrules_plugin_name = "breaks"

        @hookimpl(wrapper=True)
        def calfrules_register_rulesets(self, register: Callable[[Ruleset], None]) -> object:
            yield
            raise ValueError("wrapper bug")

    engine = load_engine(plugins=[Breaks(), Contributes("a")], allow=[], isolation="none")
    assert engine.problems and all(
        p.startswith("plugin breaks: calfrules_register_rulesets raised") for p in engine.problems
    )
    statuses = {p.name: p.status for p in engine.plugins}
    assert statuses["breaks"] == "failed" and statuses["a"] == "loaded" and engine.ruleset("a") is not None


def test_a_raising_plugin_is_reported_with_file_and_line_and_the_others_load() -> None:
    engine = load_engine(plugins=[Raises(), Contributes("fine")], allow=[], isolation="none")
    [problem] = engine.problems
    found = re.search(r"\(at (.+):(\d+)\)$", problem)
    assert problem.startswith("plugin raises: calfrules_register_rulesets raised RuntimeError: bug in the pack")
    assert found and found[1] == __file__
    assert 'raise RuntimeError("bug in the pack")' in linecache.getline(found[1], int(found[2]))
    assert {p.name: p.status for p in engine.plugins}["raises"] == "failed" and engine.ruleset("fine") is not None


def test_a_pack_that_fails_to_import_is_reported_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "calfrules_broken_pack.py").write_text(
        textwrap.dedent("""\
        import os

        raise ImportError("needs a library that is not installed")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pack = installed.EntryPoint(name="broken", value="calfrules_broken_pack", group="calfrules", version=None)
    monkeypatch.setattr(plugin_host.installed, "entry_points", lambda group: [pack])
    engine = load_engine(rulesets=[RULES], isolation="none")
    assert {p.name: p.status for p in engine.plugins}["broken"] == "failed"
    [problem] = engine.problems
    assert problem.startswith("plugin broken: could not load: ImportError: needs a library that is not installed")
    assert problem.endswith(f"(at {tmp_path / 'calfrules_broken_pack.py'}:3)")
    # its knowledge is missing: the fail-safe covers a pack as it covers a built-in
    assessment = engine.assess({"findings": {"calf_pain": True}})
    assert not assessment.complete
    assert any(r.startswith("plugin broken is not working") for r in assessment.incomplete_reasons)


def test_a_misspelt_hook_fails_its_plugin_instead_of_being_ignored() -> None:
    engine = load_engine(plugins=[Misspelt()], rulesets=[RULES], allow=[], isolation="none")
    assert engine.problems == [
        "plugin misspelt: implements calfrules_register_rulset, which is no calfrules hook "
        "(did you mean calfrules_register_rulesets?)"
    ]


# --- red_flags.toml parsed once ---


def test_red_flags_toml_is_parsed_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    load_resource = builtin.load_resource

    def counting(package: str, name: str) -> Ruleset:
        parsed.append(name)
        return load_resource(package, name)

    monkeypatch.setattr(builtin, "load_resource", counting)
    builtin.builtin_ruleset.cache_clear()
    try:
        engines = [load_engine(allow=["red_flags"], isolation="none") for _ in range(2)]
    finally:
        builtin.builtin_ruleset.cache_clear()
    assert parsed.count("red_flags.toml") == 1
    assert engines[0].ruleset("red_flags") is engines[1].ruleset("red_flags")


# --- no rules, no silent "complete" ---


def test_an_engine_with_no_rules_says_its_assessments_are_incomplete() -> None:
    bare = load_engine(allow=[], isolation="none")
    a = bare.assess({"findings": {"calf_pain": True}})
    assert not a.complete and a.level >= Level.URGENT
    assert a.incomplete_reasons == ("no rules are loaded: no plugin or ruleset file contributed a rule",)
    assert engine_with(RULES, builtins=False).assess({"findings": {"calf_pain": True}}).complete
