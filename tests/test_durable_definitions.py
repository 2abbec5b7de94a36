"""The durable_rules definitions are written as JSON text once, while the plan is built
(calfrules/engine/durable/definitions.py): the text must be what durable_rules reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from calfrules import Engine, load_engine
from calfrules.engine.durable.definitions import MAX_RULES_PER_SHARD, to_json
from calfrules.knowledge.builtin import BUILTIN_PLUGINS

from helpers import durable_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generate_pack import generate_pack_text


def _check_texts(engine: Engine) -> None:
    plan = durable_plan(engine)
    assert plan.shards
    for shard in plan.shards:
        definition = json.loads(shard.text)
        assert list(definition) == shard.rules  # one entry per durable rule, in order
        assert 0 < len(shard.rules) <= MAX_RULES_PER_SHARD
        assert to_json(definition) == shard.text  # canonical: no spaces, no exponent in a number
        for name, rule in definition.items():
            assert plan.durable_names[name][0] == int(name[1:].split("b")[0])
            assert list(rule) == ["all"] and len(rule["all"]) == 1  # one pattern per rule


def test_builtin_shards_are_written_as_durable_rules_reads_them(engine: Engine) -> None:
    _check_texts(engine)


def test_generated_pack_shards_are_written_as_durable_rules_reads_them(tmp_path: Path) -> None:
    pack = tmp_path / "generated.toml"
    pack.write_text(generate_pack_text(150, seed=3), encoding="utf-8")
    built = load_engine(rulesets=[pack], isolation="none", allow=BUILTIN_PLUGINS, entry_points=False)
    try:
        assert not built.problems
        assert len(durable_plan(built).shards) > 5
        _check_texts(built)
    finally:
        built.close()
