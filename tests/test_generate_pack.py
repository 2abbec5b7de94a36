"""The generated packs of benchmarks/generate_pack.py load, pass the checks, and fire alike everywhere.

A differential test on generated rulesets: durable_rules, the oracle and CLIPS must fire the
same rules on every case.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calfrules import Engine, load_engine
from calfrules.engine import oracle
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.tooling.bench import generate_cases, golden_findings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generate_pack import generate_pack, generate_pack_text

RULES = 40


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pack") / "generated.toml"
    path.write_text(generate_pack_text(RULES, seed=7), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engine(pack: Path) -> Iterator[Engine]:
    built = load_engine(rulesets=[pack], isolation="none", allow=BUILTIN_PLUGINS, entry_points=False)
    yield built
    built.close()


def test_the_same_seed_gives_the_same_pack() -> None:
    assert generate_pack_text(30, seed=3) == generate_pack_text(30, seed=3)
    assert generate_pack_text(30, seed=3) != generate_pack_text(30, seed=4)


def test_a_pack_has_the_shapes_the_built_ins_have() -> None:
    rules = generate_pack(400, seed=1)["rules"]
    whens = [rule["when"] for rule in rules]
    assert len(rules) == 400
    assert any(" or " in w for w in whens) and any("not " in w for w in whens)
    assert any(">=" in w for w in whens) and any("== '" in w for w in whens) and any("_score" in w for w in whens)
    assert any("generated_condition_" in w or "generated_fact_" in w for w in whens)  # chains
    escalating = [rule for rule in rules if "escalate" in rule]
    assert 0.05 < len(escalating) / len(rules) < 0.25  # mostly low levels
    assert {"urgent", "emergency", "see_clinician"} <= {rule["escalate"] for rule in escalating}
    assert not any("not " in rule["when"] for rule in escalating)  # so adding a finding never lowers the level


def test_a_generated_pack_loads_whole(engine: Engine) -> None:
    assert engine.problems == []
    assert sum(rule.ruleset.id == "generated" for rule in engine.program.rules) == RULES


def test_a_generated_pack_passes_calfrules_check(pack: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "calfrules", "-r", str(pack), "check"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "safety: passed" in done.stdout


def test_durable_oracle_and_clips_fire_the_same_rules(engine: Engine) -> None:
    pytest.importorskip("clips")
    from calfrules.tooling.clips_export import ClipsRunner, known_values, rule_key

    program = engine.program
    clips = ClipsRunner(program)
    cases = generate_cases(engine.vocabulary, 150, seed=11, goldens=golden_findings(engine))
    fired_generated = 0
    for case in cases:
        findings = engine.parse_case(case).findings
        known = known_values(engine.registry.derivers, findings)
        durable = {rule_key(program.rules[f.rule_index]) for f in engine._pipeline.run(findings).firings}
        reference = {rule_key(program.rules[f.rule_index]) for f in oracle.run(program, known)}
        assert durable == reference == set(clips.run(known).fired), case
        fired_generated += any(ruleset == "generated" for ruleset, _ in durable)
    assert fired_generated >= 10  # the cases reach the generated rules, not only the built-ins
