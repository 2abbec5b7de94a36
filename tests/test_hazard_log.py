"""The clinical safety case: every red flag has a hazard, and every control names a real test."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from calfrules import Engine

ROOT = Path(__file__).resolve().parents[1]


def _hazard_log() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hazard_log", ROOT / "scripts" / "hazard_log.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HAZARD_LOG = _hazard_log()
HAZARDS: list[dict[str, Any]] = HAZARD_LOG.load()


def _ids(key: str) -> set[str]:
    return {name for hazard in HAZARDS for name in hazard[key]}


def test_every_floor_entry_has_a_hazard(engine: Engine) -> None:
    floor = {entry.id for entry in engine.registry.floor}
    assert floor - _ids("floor") == set(), "floor entries without a hazard in docs/clinical-safety/hazards.toml"


def test_every_red_flag_condition_has_a_hazard(engine: Engine) -> None:
    red_flags = {
        condition.id
        for entry in engine.registry.rulesets
        for condition in entry.ruleset.conditions
        if condition.red_flag
    }
    assert red_flags - _ids("conditions") == set(), "red-flag conditions without a hazard"


def test_hazards_name_only_controls_that_exist(engine: Engine) -> None:
    floor = {entry.id for entry in engine.registry.floor}
    conditions = {c.id for entry in engine.registry.rulesets for c in entry.ruleset.conditions}
    assert _ids("floor") - floor == set(), "hazards name floor entries that do not exist"
    assert _ids("conditions") - conditions == set(), "hazards name conditions that do not exist"


def _test_exists(reference: str, engine: Engine) -> bool:
    if reference.startswith("golden:"):
        ruleset_id, _, case_id = reference.removeprefix("golden:").partition("/")
        return any(
            entry.ruleset.id == ruleset_id and any(case.id == case_id for case in entry.ruleset.tests)
            for entry in engine.registry.rulesets
        )
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    return re.search(rf"^\s*def {re.escape(name)}\(", file.read_text(encoding="utf-8"), re.M) is not None


@pytest.mark.parametrize("hazard", HAZARDS, ids=[hazard["id"] for hazard in HAZARDS])
def test_each_hazard_is_complete_and_verified(hazard: dict[str, Any], engine: Engine) -> None:
    for key in ("cause", "effect", "residual"):
        assert hazard[key].strip(), f"{hazard['id']}: {key} is empty"
    assert hazard["tests"], f"{hazard['id']} names no test"
    missing = [ref for ref in hazard["tests"] if not _test_exists(ref, engine)]
    assert not missing, f"{hazard['id']} names tests that do not exist: {missing}"
    before = HAZARD_LOG.rating(hazard["severity"], hazard["likelihood"])
    after = HAZARD_LOG.rating(hazard["residual_severity"], hazard["residual_likelihood"])
    assert after <= before, f"{hazard['id']}: residual risk {after} is above the initial {before}"


def test_hazard_ids_are_unique() -> None:
    ids = [hazard["id"] for hazard in HAZARDS]
    assert len(ids) == len(set(ids))


def test_the_readable_log_is_up_to_date() -> None:
    log = ROOT / "docs" / "clinical-safety" / "hazard-log.md"
    assert log.read_text(encoding="utf-8") == HAZARD_LOG.render(HAZARDS), (
        "docs/clinical-safety/hazard-log.md is out of date: run python scripts/hazard_log.py"
    )
