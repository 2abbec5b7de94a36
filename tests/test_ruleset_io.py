from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import CalfrulesError, Level, RulesetError, load_ruleset, save_ruleset
from calfrules.knowledge.ruleset_io import content_hash, dumps, loads
from calfrules.rules.model import (
    ConditionInfo,
    Expectation,
    FloorEntry,
    GoldenCase,
    Recommendation,
    Reference,
    Rule,
    Ruleset,
)

from helpers import ruleset

BUILTIN = sorted((Path(__file__).parent.parent / "rulesets").glob("*.toml"))


@pytest.mark.parametrize("path", BUILTIN, ids=lambda p: p.stem)
def test_builtin_rulesets_survive_load_dump_load(path: Path) -> None:
    first = load_ruleset(path)
    again = loads(dumps(first))
    assert again == first
    assert content_hash(again) == content_hash(first)


def test_errors_name_file_rule_and_column() -> None:
    with pytest.raises(RulesetError) as info:
        ruleset(
            """
            [[rules]]
            id = "bad"
            when = "calf_pain and and swelling"
            rationale = "x"
            escalate = "urgent"
            """
        )
    text = str(info.value)
    assert text.startswith("t.toml: rule bad: column 15: ")
    assert "unexpected 'and'" in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\nescalte = "urgent"\n', "unknown field(s): escalte"),
        ('[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\n', "does nothing"),
        ('[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\nescalate = "soon"\n', "unknown level 'soon'"),
        ('[[rules]]\nid = "R"\nwhen = "calf_pain"\nrationale = "x"\nescalate = "urgent"\n', "must be lower case"),
        (
            '[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\n[[rules.recommend]]\nid = "a"\ntext = "t"\n',
            "recommendation a has no source",
        ),
        (
            '[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\nescalate = "urgent"\nreferences = ["nope"]\n',
            "unknown reference 'nope'",
        ),
    ],
)
def test_structural_errors_are_precise(body: str, message: str) -> None:
    with pytest.raises(RulesetError) as info:
        ruleset(body)
    assert message in str(info.value)


RULE = '[[rules]]\nid = "r"\nwhen = "calf_pain"\nrationale = "x"\nreferences = ["ref"]\n'
REC = RULE + '[[rules.recommend]]\nid = "a"\ntext = "t"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (RULE + "escalte = 'urgent'\n", "t.toml: rule r: rule: unknown field(s): escalte (did you mean escalate?)"),
        (RULE + "when_ = 'x'\nescalate = 'urgent'\n", "unknown field(s): when_ (did you mean when?)"),
        (RULE + "escalate = 3\n", "rule r: rule: 'escalate' must be text, not a whole number (3)"),
        (RULE + "conclude = 'Bad'\n", "rule r: rule: id 'Bad' must be lower case letters"),
        (REC + "kind = 'foo'\n", "rule r: recommendation: unknown kind 'foo'; use one of: seek_care, stop"),
        (REC + "priority = 1.5\n", "recommendation: 'priority' must be a whole number, not a number (1.5)"),
        (REC + "dose = { bogus = 3 }\n", "recommendation: unknown dose field 'bogus'; use sets, reps"),
        (REC + "dose = { weeks = 'x' }\n", "dose 'weeks' must be a positive number or a range [low, high]"),
        (REC + "dose = { weeks = [3, 1] }\n", "dose 'weeks' must be a positive number or a range [low, high]"),
        (REC + "dose = 3\n", "recommendation: 'dose' must be a table, not a whole number (3)"),
        (
            '[findings.x]\ntype = "boolean"\nlabel = "X"\nquestion = "?"\n',
            "finding x: unknown type 'boolean' (did you mean bool?)",
        ),
        (
            '[findings.x]\nid = "x"\ntype = "bool"\nlabel = "X"\nquestion = "?"\n',
            "finding x: 'id' is the key of this table",
        ),
        ('[findings.X]\ntype = "bool"\nlabel = "X"\nquestion = "?"\n', "finding X: id 'X' must be lower case letters"),
        ("[findings]\nx = 3\n", "finding x: must be a table, not a whole number (3)"),
        (
            '[conditions.c]\nlabel = "C"\nred_flag = "yes"\n',
            "condition c: 'red_flag' must be true or false, not text ('yes')",
        ),
        ('[[floor]]\nid = "f"\nwhen = "calf_pain"\nlabel = "x"\n', "floor entry: missing 'level'"),
        (
            '[[tests]]\nid = "g"\nfindings = { a = true }\nexpect = { levl = "urgent" }\n',
            "test g expect: unknown field(s): levl",
        ),
        ('[[tests]]\nid = "g"\nfindings = [1]\nexpect = {}\n', "test: 'findings' must be a table, not a list"),
    ],
)
def test_what_the_description_refuses_is_worded_for_the_author(body: str, message: str) -> None:
    with pytest.raises(RulesetError) as info:
        ruleset(body)
    assert message in str(info.value)
    assert str(info.value).startswith("t.toml: ")


def test_a_lone_string_reads_as_a_list_of_one() -> None:
    loaded = ruleset(RULE + 'escalate = "urgent"\nderive = "leg_sign"\n')
    assert loaded.rules[0].derive == ("leg_sign",)


def test_save_is_atomic_a_crash_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.toml"
    original = ruleset('[conditions.x]\nlabel = "X"\n')
    save_ruleset(original, target)
    before = target.read_bytes()
    changed = Ruleset(**{**vars(original), "title": "changed"})

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CalfrulesError, match=r"could not be written .disk full.; nothing was changed"):
        save_ruleset(changed, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.toml"]  # no temp file left behind


def test_save_keeps_a_backup_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "r.toml"
    first = ruleset("")
    save_ruleset(first, target)
    save_ruleset(Ruleset(**{**vars(first), "version": "2.0.0"}), target, backup=True)
    assert load_ruleset(target.with_suffix(".toml.bak")).version == "1.0.0"
    assert load_ruleset(target).version == "2.0.0"


ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
levels = st.sampled_from(list(Level))


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    ref = Reference(draw(ids), draw(texts), draw(st.none() | st.just("https://example.org")))
    recs = draw(
        st.lists(
            st.builds(
                Recommendation,
                id=ids,
                text=texts,
                kind=st.sampled_from(["treatment", "exercise", "seek_care"]),
                priority=st.integers(0, 100),
                dose=st.lists(
                    st.tuples(
                        st.sampled_from(["sets", "reps", "minutes"]),
                        st.integers(1, 50) | st.tuples(st.just(1.0), st.just(2.5)),
                    ),
                    max_size=2,
                    unique_by=lambda kv: kv[0],
                ).map(tuple),
                references=st.just((ref.id,)),
                return_if=st.none() | texts,
            ),
            max_size=2,
        )
    )
    rule_ids = draw(st.lists(ids, min_size=1, max_size=3, unique=True))
    rules = tuple(
        Rule(
            id=rid,
            when=draw(st.sampled_from(["calf_pain", "a and not b", "pain_score >= 3 or swelling"])),
            rationale=draw(texts),
            references=(ref.id,),
            conclude=draw(st.none() | st.just("x")),
            derive=tuple(draw(st.lists(ids, max_size=2, unique=True))),
            escalate=draw(st.none() | levels),
            recommend=tuple(recs) if i == 0 else (),
        )
        for i, rid in enumerate(rule_ids)
    )
    rules = tuple(
        r if (r.conclude or r.derive or r.escalate or r.recommend) else Rule(**{**vars(r), "escalate": Level.URGENT})
        for r in rules
    )
    tests = (
        GoldenCase(
            id="g",
            findings=(("calf_pain", True), ("pain_score", 4.5)),
            expect=Expectation(level=draw(st.none() | levels), conditions=("x",)),
            description=draw(st.just("") | texts),
        ),
    )
    return Ruleset(
        id=draw(ids),
        version="1.2.3",
        title=draw(texts),
        authors=tuple(draw(st.lists(texts, max_size=2))),
        description=draw(st.just("") | texts),
        references=(ref,),
        conditions=(ConditionInfo("x", draw(texts), draw(st.just("") | texts), draw(st.booleans())),),
        rules=rules,
        floor=(FloorEntry("f", "calf_pain and swelling", draw(levels), draw(texts), "", (ref.id,)),),
        tests=tests,
    )


@given(rulesets())
def test_any_ruleset_round_trips_through_toml(original: Ruleset) -> None:
    assert loads(dumps(original)) == original


def test_a_loaded_ruleset_holds_every_field_like_one_built_in_python() -> None:
    # msgspec would leave defaulted fields to the class; the explanation reads them per case
    loaded = ruleset(
        '[conditions.x]\nlabel = "X"\n[[rules]]\nid = "r"\nwhen = "calf_pain"\nconclude = "x"\nrationale = "y"\n'
    )
    rule = loaded.rules[0]
    assert set(vars(rule)) == {f.name for f in dataclasses.fields(rule)}
    assert vars(rule) == vars(Rule(**vars(rule)))
