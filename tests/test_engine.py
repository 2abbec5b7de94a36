from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine, Level, RulesetError, load_engine

from helpers import durable_plan, engine_with, ruleset

CHAIN = ruleset(
    """
    [conditions.x_condition]
    label = "X condition"

    [[rules]]
    id = "derive_risk"
    when = "swelling_unilateral and calf_circumference_diff_cm >= 3"
    derive = ["leg_asymmetry"]
    rationale = "asymmetry"
    references = ["ref"]

    [[rules]]
    id = "conclude_x"
    when = "leg_asymmetry and calf_pain"
    conclude = "x_condition"
    escalate = "see_clinician"
    rationale = "chained"
    references = ["ref"]

    [[rules]]
    id = "lower_attempt"
    when = "calf_pain"
    escalate = "self_care"
    rationale = "a rule cannot lower the level"
    references = ["ref"]

    [[rules]]
    id = "no_fever"
    when = "calf_pain and not fever"
    derive = ["afebrile_pain"]
    rationale = "negation on a finding"
    references = ["ref"]
    """
)


@pytest.fixture(scope="module")
def chain_engine() -> Engine:
    return engine_with(CHAIN, builtins=False)


def test_forward_chaining_explains_itself(chain_engine: Engine) -> None:
    a = chain_engine.assess(
        {"findings": {"swelling_unilateral": True, "calf_circumference_diff_cm": 3.5, "calf_pain": True}}
    )
    assert a.condition_ids() == ["x_condition"]
    assert [step.rule.rule for step in a.trace][:2] == ["derive_risk", "conclude_x"] or {
        s.rule.rule for s in a.trace
    } >= {"derive_risk", "conclude_x"}
    by_rule = {step.rule.rule: step for step in a.trace}
    assert by_rule["derive_risk"].matched == {"swelling_unilateral": True, "calf_circumference_diff_cm": 3.5}
    assert by_rule["conclude_x"].matched == {"leg_asymmetry": True, "calf_pain": True}
    # fever was never recorded: it is not evidence, it is named apart
    assert by_rule["no_fever"].matched == {"calf_pain": True}
    assert by_rule["no_fever"].unrecorded == ("fever",)
    assert a.conditions[0].because[0].rule.ruleset == "t"
    # a painful one-sided swollen calf is a suspected DVT: the core floor makes it urgent (NICE NG158),
    # and the self_care rule did not lower it
    assert a.level == Level.URGENT
    assert a.unexplained_findings == ()  # swelling explained through the derived fact


def test_a_recorded_no_is_shown_as_recorded(chain_engine: Engine) -> None:
    a = chain_engine.assess({"findings": {"calf_pain": True, "fever": False}})
    step = next(s for s in a.trace if s.rule.rule == "no_fever")
    assert step.matched == {"calf_pain": True, "fever": False}
    assert step.unrecorded == ()


def test_negation_respects_an_explicit_yes(chain_engine: Engine) -> None:
    a = chain_engine.assess({"findings": {"calf_pain": True, "fever": True}})
    assert "no_fever" not in {s.rule.rule for s in a.trace}


def test_unexplained_symptoms_are_at_least_see_clinician(chain_engine: Engine) -> None:
    a = chain_engine.assess({"findings": {"night_pain": True, "age": 30}})
    assert a.level == Level.SEE_CLINICIAN
    assert a.unexplained_findings == ("night_pain",)
    assert "age" in a.unused_findings
    assert any(r.source == "uncertainty" for r in a.level_reasons)


def test_history_alone_is_self_care(chain_engine: Engine) -> None:
    a = chain_engine.assess({"findings": {"smoker": True}})
    assert a.level == Level.SELF_CARE and a.complete


def test_provenance_names_rulesets_plugins_and_hashes(chain_engine: Engine) -> None:
    prov = chain_engine.assess({"findings": {"calf_pain": True}}).provenance
    assert prov["engine"] == "calfrules" and prov["durable_rules_version"] == "2.0.28"
    ids = {r["id"]: r for r in prov["rulesets"]}
    assert ids["t"]["hash"].startswith("sha256:") and ids["t"]["version"] == "1.0.0"
    assert ids["vocabulary"]["plugin"] == "core" and ids["vocabulary"]["hash"].startswith("sha256:")
    assert {p["status"] for p in prov["plugins"]} <= {"loaded", "not_allowed", "blocked", "failed"}


def test_to_dict_is_plain_json(chain_engine: Engine) -> None:
    import json

    data = chain_engine.assess({"findings": {"calf_pain": True}}).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["level"] in {level.value for level in Level}
    assert set(data) >= {
        "level",
        "conditions",
        "recommendations",
        "red_flags",
        "trace",
        "unused_findings",
        "provenance",
    }


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("calf_pian", "unknown id 'calf_pian'; did you mean calf_pain"),
        ("pain_score", "pain_score is a number: compare it"),
        ("calf_pain >= 3", "calf_pain is yes/no"),
        ("not leg_asymmetry", "'not' may only test findings"),
    ],
)
def test_compile_errors_point_at_rule_and_column(when: str, message: str) -> None:
    bad = ruleset(
        f"""
        [[rules]]
        id = "d"
        when = "swelling"
        derive = ["leg_asymmetry"]
        rationale = "x"

        [[rules]]
        id = "bad"
        when = "{when}"
        escalate = "urgent"
        rationale = "x"
        """
    )
    with pytest.raises(RulesetError) as info:
        load_engine(rulesets=[bad], allow=[], strict=True)
    assert "rule bad: column" in str(info.value) and message in str(info.value)


def test_too_long_conjunction_is_refused_before_durable_rules_sees_it() -> None:
    # durable_rules allows at most 32 expressions in one node (error 113); we stop at 30 tests
    tests = [*BOOL_NAMES, *(f"pain_score > {i / 10}" for i in range(31 - len(BOOL_NAMES)))]
    rule = '[[rules]]\nid = "long"\nwhen = "{}"\nescalate = "urgent"\nrationale = "x"\n'
    long_rule = ruleset(rule.format(" and ".join(tests)))
    with pytest.raises(RulesetError, match="at most 30"):
        load_engine(rulesets=[long_rule], allow=[], strict=True)
    ok_rule = ruleset(rule.format(" and ".join(tests[:30])))
    engine = load_engine(rulesets=[ok_rule], allow=[], strict=True, isolation="none")
    findings: dict[str, object] = {**dict.fromkeys(BOOL_NAMES, True), "pain_score": 10}
    fired = engine.assess({"findings": findings})
    assert [step.rule.rule for step in fired.trace] == ["long"] and len(fired.trace[0].matched) == 18
    assert engine.assess({"findings": {**findings, "pain_score": 1}}).trace == ()  # "pain_score > 1.2" unmet


BOOL_NAMES = [
    "calf_pain",
    "swelling",
    "fever",
    "bruising",
    "numbness",
    "night_pain",
    "foot_drop",
    "chest_pain",
    "skin_redness",
    "calf_warmth",
    "dark_urine",
    "pain_on_hop",
    "achilles_pain",
    "palpable_gap",
    "saddle_numbness",
    "coughing_blood",
    "pitting_oedema",
]


BUILTIN_BOOLS = st.sampled_from(
    [
        "calf_pain",
        "swelling",
        "swelling_unilateral",
        "fever",
        "calf_warmth",
        "sudden_sharp_pain",
        "pop_or_snap_felt",
        "cramp_during_run",
        "night_pain",
        "chest_pain",
        "shortness_of_breath",
        "returning_after_layoff",
        "calf_soreness_after_run",
        "shin_pain_medial_diffuse",
        "focal_bone_tenderness",
        "pain_on_hop",
        "hot_weather",
        "unable_to_bear_weight",
        "bruising",
        "tense_compartment",
        "pain_out_of_proportion",
        "recent_long_travel",
    ]
)


def cases() -> st.SearchStrategy[dict[str, object]]:
    bools = st.dictionaries(BUILTIN_BOOLS, st.booleans(), min_size=1, max_size=10)
    numbers = st.fixed_dictionaries(
        {},
        optional={
            "pain_score": st.integers(0, 10),
            "calf_circumference_diff_cm": st.floats(0, 6, allow_nan=False),
            "run_duration_min": st.integers(0, 240),
            "weekly_mileage_increase_pct": st.integers(0, 100),
        },
    )
    return st.builds(lambda b, n: {**b, **n}, bools, numbers)


@given(cases(), st.randoms(use_true_random=False))
def test_order_of_findings_changes_nothing(engine: Engine, findings: dict[str, object], rnd: random.Random) -> None:
    items = list(findings.items())
    rnd.shuffle(items)
    first = engine.assess({"findings": findings}).to_dict()
    second = engine.assess({"findings": dict(items)}).to_dict()
    for key in ("level", "conditions", "recommendations", "red_flags", "unused_findings"):
        assert first[key] == second[key]
    assert sorted(s["rule"]["rule"] for s in first["trace"]) == sorted(s["rule"]["rule"] for s in second["trace"])


@given(cases())
def test_durable_rules_agrees_with_the_oracle(engine: Engine, findings: dict[str, object]) -> None:
    fast = engine.assess({"findings": findings})
    slow = engine.assess({"findings": findings}, evaluator="oracle")
    assert fast.level == slow.level
    assert fast.condition_ids() == slow.condition_ids()
    assert fast.recommendation_ids() == slow.recommendation_ids()


@given(cases(), BUILTIN_BOOLS)
def test_adding_a_finding_never_lowers_a_rule_escalation(
    engine: Engine, findings: dict[str, object], extra: str
) -> None:
    before = engine.assess({"findings": findings})
    rule_levels = [r.level for r in before.level_reasons if r.source.startswith(("rule", "floor"))]
    after = engine.assess({"findings": {**findings, extra: True}})
    assert after.level >= Level.highest(rule_levels) or findings.get(extra) is False


def test_two_tests_on_one_number_share_one_pattern() -> None:
    # durable_rules never matches one fact to two patterns of a rule (found by the strains helper)
    ranged = ruleset(
        '[[rules]]\nid = "band"\nwhen = "pain_score >= 3 and pain_score <= 5 and calf_pain and calf_pain"\n'
        'escalate = "urgent"\nrationale = "x"\n'
    )
    e = load_engine(rulesets=[ranged], allow=[], isolation="none", strict=True)
    assert e.assess({"findings": {"pain_score": 4, "calf_pain": True}}).level == Level.URGENT
    assert e.assess({"findings": {"pain_score": 6, "calf_pain": True}}).level != Level.URGENT
    patterns = durable_plan(e).shards[0].definition["r0b0"]["all"]
    assert len(patterns) == 1  # one pattern over the stage fact: calf_pain once, pain_score twice
    key = durable_plan(e).fact_keys
    assert sorted(map(str, patterns[0]["m"]["$and"])) == sorted(
        map(str, [{key["calf_pain"]: True}, {"$gte": {key["pain_score"]: 3.0}}, {"$lte": {key["pain_score"]: 5.0}}])
    )


def test_tiny_numbers_reach_durable_rules_without_exponents() -> None:
    # durable_rules' JSON parser rejects 1e-05 (error 204); numbers keep 6 decimals
    tiny = ruleset(
        '[[rules]]\nid = "any_diff"\nwhen = "calf_circumference_diff_cm > 0.000001"\n'
        'escalate = "urgent"\nrationale = "x"\n'
    )
    e = load_engine(rulesets=[tiny], allow=[], isolation="none", strict=True)
    for value, expected in ((1e-05, Level.URGENT), (1e-9, Level.SELF_CARE), (25.0, Level.URGENT)):
        a = e.assess({"findings": {"calf_circumference_diff_cm": value}})
        assert a.complete and a.level == expected
        assert a.level == e.assess({"findings": {"calf_circumference_diff_cm": value}}, evaluator="oracle").level


def test_contraindicated_and_deferred_advice_is_withheld_with_a_reason() -> None:
    rules = ruleset(
        """
        [conditions.bleed]
        label = "Bleed"

        [[rules]]
        id = "sore"
        when = "calf_pain"
        rationale = "x"
        references = ["ref"]

        [[rules.recommend]]
        id = "painkiller"
        text = "Take a painkiller."
        kind = "treatment"
        avoid_with = ["bleed"]

        [[rules.recommend]]
        id = "raises"
        text = "Do calf raises."
        kind = "exercise"

        [[rules]]
        id = "bleeding"
        when = "bruising"
        conclude = "bleed"
        escalate = "urgent"
        rationale = "x"
        """
    )
    e = load_engine(rulesets=[rules], allow=[], isolation="none")
    calm = e.assess({"findings": {"calf_pain": True}})
    # unexplained calf pain is see_clinician: the engine's own line says so, the rule's advice stays
    assert calm.recommendation_ids() == ["level_advice_see_clinician", "painkiller", "raises"]
    assert calm.withheld_recommendations == ()
    urgent = e.assess({"findings": {"calf_pain": True, "bruising": True}})
    assert urgent.recommendation_ids() == ["level_advice_urgent"]
    reasons = {w.id: w.reason for w in urgent.withheld_recommendations}
    assert reasons == {
        "painkiller": "not advised with bleed",
        "raises": "held back until the urgent problem has been assessed",
    }


def test_no_builtin_painkiller_advice_next_to_rhabdomyolysis(engine: Engine) -> None:
    a = engine.assess({"findings": {"calf_pain": True, "sudden_sharp_pain": True, "pain_score": 9, "dark_urine": True}})
    # anti-inflammatories may only be named to warn against them (PEACE & LOVE; Nye 2021)
    texts = [r.text.lower() for r in a.recommendations]
    naming = [text for text in texts if "anti-inflammator" in text or "ibuprofen" in text]
    assert all(any(w in text for w in ("leave out", "avoid", "do not", "don't")) for text in naming), naming


def test_floor_entries_are_skipped_only_when_they_cannot_hold() -> None:
    # explain skips a floor entry none of whose inputs is known, unless it holds on an empty case
    rules = ruleset(
        """
        [[rules]]
        id = "derive"
        when = "calf_pain and swelling"
        derive = ["painful_swelling"]
        rationale = "x"

        [[floor]]
        id = "through_a_rule"
        when = "painful_swelling"
        level = "urgent"
        label = "Painful swelling"

        [[floor]]
        id = "by_absence"
        when = "not fever"
        level = "see_clinician"
        label = "No fever"
        """
    )
    engine = load_engine(rulesets=[rules], allow=[], strict=True, isolation="none")
    by_id = {entry.entry.id: entry for entry in engine.program.floor}
    assert by_id["through_a_rule"].inputs == {"calf_pain", "swelling"}
    assert by_id["by_absence"].holds_when_nothing_is_known
    flags = {f.id for f in engine.assess({"findings": {"bruising": True}}).red_flags}
    assert "by_absence" in flags and "through_a_rule" not in flags
    flags = {f.id for f in engine.assess({"findings": {"calf_pain": True, "swelling": True, "fever": True}}).red_flags}
    assert "through_a_rule" in flags and "by_absence" not in flags


def test_to_dict_is_asdict_with_levels_as_ids_and_a_fresh_copy(engine: Engine) -> None:
    import dataclasses
    import json

    def reference(value: object) -> object:
        if isinstance(value, Level):
            return value.value
        if isinstance(value, dict):
            return {k: reference(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [reference(v) for v in value]
        return value

    a = engine.assess({"findings": {"calf_pain": True, "swelling_unilateral": True, "pain_score": 6}})
    plain = a.to_dict()
    assert json.dumps(plain) == json.dumps(reference(dataclasses.asdict(a)))
    plain["provenance"]["engine"] = "changed"
    assert a.to_dict()["provenance"]["engine"] == "calfrules"
