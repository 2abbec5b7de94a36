"""calfrules.engine.why_not: which literals of each alternative of a rule's condition a case missed."""

from __future__ import annotations

from calfrules import Engine, Rule
from calfrules.engine.why_not import CaseFacts, why_not


def _rule(when: str) -> Rule:
    return Rule(id="r", when=when, rationale="test")


def test_a_rule_that_fires_says_so() -> None:
    answer = why_not(_rule("calf_pain and swelling"), {"calf_pain": True, "swelling": True})
    assert answer.fires
    assert answer.lines() == ["rule r fires on this case: its condition is met."]


def test_each_alternative_lists_the_literals_the_case_missed() -> None:
    answer = why_not(
        _rule("(calf_pain and not chest_pain) or pain_score >= 7"), {"calf_pain": True, "chest_pain": True}
    )
    assert not answer.fires
    by_text = {alt.literals[0].text: alt for alt in answer.alternatives}
    first = by_text["calf_pain"]
    assert [lit.text for lit in first.missing] == ["not chest_pain"]
    assert first.missing[0].actual is True
    second = by_text["pain_score >= 7"]
    assert [lit.text for lit in second.missing] == ["pain_score >= 7"]
    assert second.missing[0].actual is None
    assert answer.closest() in (first, second)
    text = "\n".join(answer.lines())
    assert "✗ not chest_pain: NOT met — chest_pain is yes" in text
    assert "✓ calf_pain: met — calf_pain is yes" in text
    assert "✗ pain_score >= 7: NOT met — pain_score not recorded / not concluded" in text  # plain facts: no kinds


def test_a_negated_comparison_reads_with_brackets() -> None:
    answer = why_not(_rule("calf_pain and not pain_score >= 7"), {"calf_pain": True, "pain_score": 8.0})
    (alternative,) = answer.alternatives
    assert [lit.text for lit in alternative.missing] == ["not (pain_score >= 7)"]


def test_a_condition_that_does_not_parse_reports_the_column() -> None:
    answer = why_not(_rule("calf_pain and and"), {"calf_pain": True})
    assert not answer.fires and answer.error is not None
    assert "column 15" in answer.error
    assert "does not parse" in answer.lines()[0]


def test_facts_from_an_assessment_include_concluded_and_derived_names(engine: Engine) -> None:
    strains = engine.ruleset("strains")
    assert strains is not None
    assessment = engine.assess({"findings": {"calf_pain": True, "sudden_sharp_pain": True}})
    facts = CaseFacts.from_assessment(assessment)
    assert facts.values["calf_pain"] is True
    fired = {step.rule.rule for step in assessment.trace}
    # every rule of the ruleset agrees with the engine: fires in why_not exactly when it fired
    for rule in strains.rules:
        assert why_not(rule, facts).fires == (rule.id in fired), rule.id
    derived = {name for step in assessment.trace for name in step.derived}
    assert derived and derived <= set(facts.values)


def test_a_recorded_no_and_a_finding_nobody_recorded_read_differently() -> None:
    vocabulary = frozenset({"calf_pain", "night_pain", "fever"})  # swelling is, here, a condition
    facts = CaseFacts({"calf_pain": True, "night_pain": False}, findings=vocabulary, vocabulary=True)
    answer = why_not(_rule("calf_pain and not night_pain and not fever and swelling"), facts)
    by_text = {lit.text: lit for lit in answer.alternatives[0].literals}
    assert by_text["not night_pain"].met and by_text["not fever"].met  # both "not yes" to the rule...
    assert by_text["not night_pain"].explain() == "not night_pain: met — night_pain is no (recorded)"
    # ...but only one was answered
    assert by_text["not fever"].explain() == "not fever: met — fever not recorded (a rule reads that as not yes)"
    assert by_text["swelling"].explain() == "swelling: NOT met — swelling not concluded"


def test_facts_from_an_assessment_know_findings_scores_and_conclusions_apart(engine: Engine) -> None:
    assessment = engine.assess({"findings": {"calf_pain": True, "sudden_sharp_pain": True, "bruising": False}})
    facts = CaseFacts.from_assessment(assessment, (f.id for f in engine.vocabulary), engine.registry.derivers)
    rule = _rule("calf_pain and not bruising and not fever and wells_score >= 2 and calf_strain and calf_dvt")
    lines = "\n".join(why_not(rule, facts).lines())
    assert "✓ not bruising: met — bruising is no (recorded)" in lines
    assert "✓ not fever: met — fever not recorded (a rule reads that as not yes)" in lines
    assert "✗ wells_score >= 2: NOT met — wells_score not computed" in lines
    assert "✓ calf_strain: met — calf_strain concluded" in lines
    assert "✗ calf_dvt: NOT met — calf_dvt not concluded" in lines
    # without the vocabulary, an unrecorded finding cannot be told from a condition not concluded
    bare = "\n".join(why_not(rule, CaseFacts.from_assessment(assessment)).lines())
    assert "fever not recorded / not concluded" in bare and "bruising is no (recorded)" in bare
