"""Coverage-guided fuzzing with atheris (libFuzzer): ``python scripts/fuzz_atheris.py [libFuzzer flags]``.

Not collected by pytest. Needs ``pip install atheris`` (a wheel for Linux x86-64; elsewhere
clang). Example: ``python scripts/fuzz_atheris.py -max_total_time=300 -rss_limit_mb=4096``.

Each input picks one entry point with its first byte and feeds it the rest:

0. case text (JSON, or TOML when the second byte is odd) -> parse -> ``Engine.assess``
1. a ``when`` condition -> ``condition.parse`` -> ``to_text`` -> ``parse`` (must agree)
2. ruleset TOML text -> ``ruleset_io.loads`` -> ``dumps`` -> ``loads`` (must agree)
3. a case built from the vocabulary with fuzzed values -> ``Engine.assess``, checked against
   the oracle evaluator (same level and conditions)

Every input must end in a CalfrulesError or a result; any other exception is a finding
(libFuzzer saves the input as ``crash-*``). Hypothesis covers the same entry points in
``tests/test_fuzz_*.py``; atheris adds coverage feedback, so it reaches parser corners
that random generation rarely does.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["calfrules", "lark", "tomllib", "json"]):
    from calfrules import CalfrulesError, load_engine
    from calfrules.knowledge.case import parse_case_text
    from calfrules.knowledge.ruleset_io import dumps, loads
    from calfrules.rules import condition as condition_language

ENGINE = load_engine(isolation="none", allow=["cramps", "strains", "red_flags", "dehydration"])
FINDINGS = list(ENGINE.vocabulary)


def case_text(fdp: atheris.FuzzedDataProvider) -> None:
    toml = fdp.ConsumeBool()
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        ENGINE.assess(parse_case_text(text, "fuzz", toml=toml))  # type: ignore[arg-type]
    except CalfrulesError:
        pass


def condition(fdp: atheris.FuzzedDataProvider) -> None:
    text = fdp.ConsumeUnicode(fdp.remaining_bytes())
    try:
        expr = condition_language.parse(text)
    except CalfrulesError:
        return
    again = condition_language.to_text(expr)
    if len(again) <= condition_language.MAX_CONDITION_LENGTH:
        assert condition_language.to_text(condition_language.parse(again)) == again, (text, again)


def ruleset(fdp: atheris.FuzzedDataProvider) -> None:
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        loaded = loads(text, "fuzz.toml")
    except CalfrulesError:
        return
    assert loads(dumps(loaded), "again.toml") == loaded


def vocabulary_case(fdp: atheris.FuzzedDataProvider) -> None:
    findings: dict[str, object] = {}
    for _ in range(fdp.ConsumeIntInRange(1, 12)):
        finding = FINDINGS[fdp.ConsumeIntInRange(0, len(FINDINGS) - 1)]
        kind = fdp.ConsumeIntInRange(0, 4)
        value: object
        if kind == 0:
            value = fdp.ConsumeBool()
        elif kind == 1:
            value = fdp.ConsumeRegularFloat()
        elif kind == 2:
            value = fdp.ConsumeFloat()  # NaN and infinities too
        elif kind == 3:
            value = fdp.ConsumeInt(8)
        else:
            value = fdp.ConsumeUnicode(8)
        findings[finding.id] = value
    case = {"findings": findings}
    try:
        assessment = ENGINE.assess(case)
    except CalfrulesError:
        return
    reference = ENGINE.assess(case, evaluator="oracle")
    assert assessment.complete, assessment.incomplete_reasons
    assert assessment.level == reference.level and assessment.condition_ids() == reference.condition_ids(), case


TARGETS = (case_text, condition, ruleset, vocabulary_case)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)](fdp)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
