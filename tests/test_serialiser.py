"""The specialised serialiser writes exactly what the old one did.

``Assessment.to_dict()`` is msgspec's ``to_builtins`` and ``to_json()`` encodes straight from
the dataclasses; the reference below is the walk over the dataclasses that ``to_dict()`` was
before (issue 16). Both are compared byte for byte, through the json module, on every bench
case, golden case and vignette (these also through the oracle and the require screen policy).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from calfrules import Engine, load_engine
from calfrules.engine.assessment import Assessment
from calfrules.rules.levels import Level
from calfrules.tooling import bench

from conftest import BUILTIN_PLUGINS

VIGNETTES = Path(__file__).parent / "vignettes"


def reference_to_dict(value: Any) -> Any:
    """The serialiser before issue 16, kept as the reference: dataclasses to dicts, levels as ids."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, Level):
        return value.value
    if isinstance(value, dict):
        return {key: reference_to_dict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [reference_to_dict(item) for item in value]
    if not is_dataclass(value):
        return value
    return {f.name: reference_to_dict(getattr(value, f.name)) for f in fields(value)}


def compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def indented(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


@pytest.fixture(scope="module")
def in_process() -> Iterator[Engine]:
    built = load_engine(isolation="none", allow=BUILTIN_PLUGINS)
    yield built
    built.close()


def all_cases(engine: Engine) -> list[dict[str, Any]]:
    """The bench's cases (its default count and seed), then every golden case and vignette."""
    cases = bench.generate_cases(
        engine.vocabulary, bench.DEFAULT_CASES, bench.DEFAULT_SEED, bench.golden_findings(engine)
    )
    cases += [test.case() for entry in engine.rulesets for test in entry.ruleset.tests]
    for path in sorted(VIGNETTES.glob("*.toml")):
        with path.open("rb") as file:
            cases += [{"id": v["id"], "findings": v["findings"]} for v in tomllib.load(file)["vignettes"]]
    return cases


def assert_same_as_reference(assessment: Assessment, *, with_indent: bool = True) -> None:
    expected = reference_to_dict(assessment)
    got = assessment.to_dict()
    assert got == expected
    assert compact(got) == compact(expected)
    assert assessment.to_json() == compact(expected)
    if with_indent:
        assert assessment.to_json(indent=2) == indented(expected)


def test_every_bench_golden_and_vignette_case_serialises_byte_for_byte_as_before(in_process: Engine) -> None:
    cases = all_cases(in_process)
    assert len(cases) > bench.DEFAULT_CASES + 100  # goldens and vignettes came too
    for n, case in enumerate(cases):
        # the indented form on every 5th case: the same encoder, only msgspec.json.format on top
        assert_same_as_reference(in_process.assess(case), with_indent=n % 5 == 0)
        if n >= bench.DEFAULT_CASES:  # the golden cases and vignettes through the oracle too
            assert_same_as_reference(in_process.assess(case, evaluator="oracle"))


def test_golden_cases_under_the_require_screen_policy_too() -> None:
    engine = load_engine(isolation="none", allow=BUILTIN_PLUGINS, screen="require")
    try:
        for entry in engine.rulesets:
            for test in entry.ruleset.tests:
                assert_same_as_reference(engine.assess(test.case()))
    finally:
        engine.close()


@pytest.mark.parametrize("value", [2.5e-05, 0.0001, 0.00012, 0.0, 999.5])
def test_numbers_msgspec_would_spell_otherwise_come_out_as_the_json_module_writes_them(
    in_process: Engine, value: float
) -> None:
    assessment = in_process.assess({"findings": {"onset_hours": value, "calf_pain": True}})
    assert assessment.findings["onset_hours"] == value
    assert_same_as_reference(assessment)
    # numbers no case could hold (findings are range-checked), written as the json module would
    for odd in (1e16, 3.0e20, -1e-9, float("nan"), float("inf")):
        assert_same_as_reference(replace(assessment, findings={**assessment.findings, "onset_hours": odd}))


def test_text_utf8_cannot_hold_comes_out_escaped_and_other_text_as_it_is(in_process: Engine) -> None:
    accented = in_process.assess({"id": "patiënt-7 ☂", "findings": {"calf_pain": True}})
    assert "patiënt-7 ☂".encode() in accented.to_json()
    assert_same_as_reference(accented)
    surrogate = in_process.assess({"id": "bad \udc80 id", "findings": {"calf_pain": True}})
    encoded = surrogate.to_json()
    assert b"bad \\udc80 id" in encoded and encoded.isascii()
    assert encoded == json.dumps(reference_to_dict(surrogate), separators=(",", ":")).encode()
    assert json.loads(encoded)["case_id"] == "bad \udc80 id"


def test_to_dict_is_a_fresh_copy_and_no_two_assessments_share_a_dose(in_process: Engine) -> None:
    case = next(
        test.case()
        for entry in in_process.rulesets
        for test in entry.ruleset.tests
        if any(r.dose for r in in_process.assess(test.case()).recommendations)
    )
    first, second = in_process.assess(case), in_process.assess(case)
    plain = first.to_dict()
    plain["recommendations"][0]["dose"]["changed"] = 1
    plain["findings"].clear()
    assert first.to_dict() == second.to_dict()
    dosed = next(r for r in first.recommendations if r.dose)
    dosed.dose["changed"] = 1
    assert all("changed" not in r.dose for r in second.recommendations)
    assert all("changed" not in r.dose for r in in_process.assess(case).recommendations)
