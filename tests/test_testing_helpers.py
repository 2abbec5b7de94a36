"""calfrules.testing works as documented: the helpers fail when they should, the conftest advice runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from calfrules import Engine, Level, load_engine
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.model import Recommendation
from calfrules.testing import (
    assert_golden_cases_pass,
    assert_red_flags_never_lower,
    assert_safety_gate_passes,
    golden_cases,
    make_engine,
    pack_findings,
)

from helpers import ruleset

PACK = ruleset(
    """
    [findings.arch_ache]
    type = "bool"
    label = "Arch ache"
    question = "Does the arch ache?"
    kind = "symptom"

    [conditions.arch_strain]
    label = "Arch strain"

    [[rules]]
    id = "arch"
    when = "arch_ache and not fever"
    conclude = "arch_strain"
    rationale = "x"

    [[tests]]
    id = "ache"
    findings = { arch_ache = true }
    expect = { conditions = ["arch_strain"] }
    """,
    "archpack",
)


@pytest.fixture(scope="module")
def pack_engine() -> Any:
    with load_engine(rulesets=[PACK], allow=BUILTIN_PLUGINS, isolation="none") as built:
        yield built


def test_golden_cases_and_pack_findings_are_public(pack_engine: Engine) -> None:
    assert [case.id for case in golden_cases(pack_engine, "archpack")] == ["ache"]
    assert [r.test for r in assert_golden_cases_pass(pack_engine, "archpack")] == ["ache"]
    assert sorted(f.id for f in pack_findings(pack_engine, "archpack")) == ["arch_ache", "fever"]
    with pytest.raises(AssertionError, match="'nope' is not loaded"):
        golden_cases(pack_engine, "nope")


def test_red_flags_never_lower_holds_for_a_sound_pack(pack_engine: Engine) -> None:
    assert_red_flags_never_lower(pack_engine, "archpack", max_examples=30)


class _LowersWhenTheArchAches:
    """The engine, except that a red flag is dropped whenever the pack's finding is yes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def assess(self, case: dict[str, Any], **kwargs: Any) -> Any:
        import dataclasses

        a = self._engine.assess(case, **kwargs)
        if case["findings"].get("arch_ache") is True:
            return dataclasses.replace(a, level=Level.SELF_CARE, red_flags=())
        return a


def test_red_flags_never_lower_fails_when_a_pack_finding_holds_a_red_flag_down(pack_engine: Engine) -> None:
    with pytest.raises(AssertionError, match=r"not raised|below"):
        assert_red_flags_never_lower(_LowersWhenTheArchAches(pack_engine), "archpack", max_examples=30)  # type: ignore[arg-type]


def test_the_safety_gate_helper_fails_on_under_triage() -> None:
    unsafe = ruleset(
        """
        [[rules]]
        id = "clot"
        when = "calf_pain and swelling_unilateral and not fever"
        escalate = "emergency"
        rationale = "x"
        """,
        "unsafe",
    )
    with (
        load_engine(rulesets=[unsafe], allow=BUILTIN_PLUGINS, isolation="none") as engine,
        pytest.raises(AssertionError, match="the safety gate found under-triage"),
    ):
        assert_safety_gate_passes(engine, max_examples=20)


def test_make_engine_refuses_to_start_with_load_problems() -> None:
    broken = ruleset(
        """
        [[rules]]
        id = "typo"
        when = "calf_pian"
        escalate = "urgent"
        rationale = "x"
        """,
        "typo",
    )
    with pytest.raises(AssertionError, match="calfrules reported load problems"):
        make_engine(rulesets=[broken], entry_points=False)


@pytest.mark.parametrize(
    ("dose", "text"),
    [
        ((("times_per_day", 1),), "once a day"),
        ((("times_per_day", 2), ("weeks", 6)), "twice a day, 6 weeks"),
        ((("times_per_day", 3),), "3 times a day"),
        ((("times_per_week", (2, 3)),), "2-3 times a week"),
        ((("sets", 1), ("reps", 10)), "1 set, 10 reps"),
    ],
)
def test_doses_read_as_words(dose: Any, text: str) -> None:
    assert Recommendation("r", "t", dose=dose).dose_text() == text


CONFTEST_TEST = """
def test_the_fixture_is_there(calfrules_engine):
    assert any(p.name == "core" for p in calfrules_engine.plugins)
"""


@pytest.mark.parametrize("autoload", [True, False], ids=["autoload", "no-autoload"])
@pytest.mark.parametrize("conftest", [True, False], ids=["conftest", "no-conftest"])
def test_the_documented_conftest_advice_works(tmp_path: Path, autoload: bool, conftest: bool) -> None:
    (tmp_path / "test_it.py").write_text(textwrap.dedent(CONFTEST_TEST))
    if conftest:
        (tmp_path / "conftest.py").write_text('pytest_plugins = ["calfrules.testing"]\n')
    env = {**os.environ, "CALFRULES_PLUGINS": ",".join(BUILTIN_PLUGINS)}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if autoload or conftest:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "1 passed" in done.stdout
    else:  # autoloading off and no conftest: the fixture is (rightly) missing
        assert done.returncode == 1 and "fixture 'calfrules_engine' not found" in done.stdout
