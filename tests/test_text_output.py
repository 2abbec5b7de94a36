"""The text an assessment reads as: one screen by default, numbered references, labels not ids,
each rationale once, "not used" that is true, and the safety content in every length."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from calfrules import Deriver, Engine, hookimpl, load_engine
from calfrules.cli import cli
from calfrules.engine.assessment import Assessment
from calfrules.formats.fhir import to_fhir_bundle
from calfrules.formats.labels import LATER_KINDS, gist, now_and_later, short_name
from calfrules.formats.references import number_list, number_references, short_citation, short_label
from calfrules.formats.text import DETAILS, WIDTH, render_text
from calfrules.service.cards import detail as card_detail

EXAMPLES = Path(__file__).parent.parent / "examples" / "cases"
STRAIN = tomllib.loads((EXAMPLES / "calf_strain.toml").read_text(encoding="utf-8"))
DVT = json.loads((EXAMPLES / "suspected_dvt.json").read_text(encoding="utf-8"))
LAYOFF = json.loads((EXAMPLES / "sore_calves_after_layoff.json").read_text(encoding="utf-8"))
# a calf 1.5 cm bigger scores no Wells point, yet the score was computed from it
WELLS_BELOW_THRESHOLD = {"findings": {"calf_pain": True, "calf_circumference_diff_cm": 1.5, "active_cancer": False}}
# a DVT picture over a grade II strain: the strain's advice is held back at urgent
HELD_BACK = {"findings": {**STRAIN["findings"], "calf_warmth": True, "recent_long_travel": True}}
CASES = {"strain": STRAIN, "dvt": DVT, "layoff": LAYOFF, "wells": WELLS_BELOW_THRESHOLD, "held": HELD_BACK}
CITED = re.compile(r"\[(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)\]")


def text(engine: Engine, case: dict[str, Any], detail: str = "default") -> str:
    return render_text(engine.assess(case), engine.vocabulary, detail=detail)  # type: ignore[arg-type]


def section(lines: list[str], title: str) -> list[str]:
    """The lines of one section: from its title to the next line that is blank or not indented."""
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith(" ")), len(lines))
    return lines[start:end]


def numbers(cited: str) -> set[int]:
    """{1, 6, 7, 8} for "1,6-8"."""
    found: set[int] = set()
    for part in cited.split(","):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def test_the_grade_two_strain_reads_in_one_screen(engine: Engine) -> None:
    lines = text(engine, STRAIN).splitlines()
    assert len(lines) <= 45, "\n".join(lines)
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    assert len(lines) < len(text(engine, STRAIN, "full").splitlines())
    brief = text(engine, STRAIN, "brief").splitlines()
    assert len(brief) <= 32, "\n".join(brief)
    assert all(len(line) <= WIDTH for line in brief), max(brief, key=len)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_piece_of_advice_is_there_now_in_full_or_later_by_name(engine: Engine, name: str) -> None:
    assessment = engine.assess(CASES[name])
    now, later = now_and_later(assessment.recommendations, assessment.level)
    assert now or not assessment.recommendations
    rendered = render_text(assessment, engine.vocabulary, width=None)
    for rec in now:  # what to do now, whole, with its safety net
        assert rec.text in rendered
        assert rec.return_if is None or f"Come back if: {rec.return_if}" in rendered
    for rec in later:
        assert rec.text not in rendered and short_name(rec.text) in rendered
    if later:
        assert "(whole in --full)" in rendered
    full = render_text(assessment, engine.vocabulary, detail="full", width=None)
    assert all(rec.text in full for rec in assessment.recommendations)


def test_the_strain_gives_first_aid_now_and_the_loading_stages_later(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    now, later = now_and_later(assessment.recommendations, assessment.level)
    assert {"seek_care", "stop", "treatment", "education"} <= {rec.kind for rec in now}
    assert {rec.kind for rec in now}.isdisjoint(LATER_KINDS)
    assert {"exercise", "return_to_run"} <= {rec.kind for rec in later}
    brief = text(engine, STRAIN, "brief")
    assert all(short_name(rec.text) not in brief for rec in later)
    assert all(" ".join(rec.text.split()[:6]) in " ".join(brief.split()) for rec in now)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_reference_is_listed_once_and_every_number_cited_is_listed(engine: Engine, name: str) -> None:
    assessment = engine.assess(CASES[name])
    rendered = render_text(assessment, engine.vocabulary)
    refs = number_references(assessment)
    body, _, listed = rendered.partition("References (whole: --full): ")
    # each number once in the list, each work once: [3,5,7] when sections of one article share a label
    listed = " ".join(listed.split())
    entries = [numbers(group) for group in CITED.findall(listed)]
    assert sorted(n for entry in entries for n in entry) == list(range(1, len(refs.sources) + 1))
    assert len(set(listed.split(" · "))) == len(entries)
    cited = {n for group in CITED.findall(body) for n in numbers(group)}
    assert cited == set(range(1, len(refs.sources) + 1))
    assert all(len(line) <= WIDTH for line in rendered.splitlines())
    for rec in now_and_later(assessment.recommendations, assessment.level)[0]:  # the later ones: cited together
        if rec.sources:
            assert refs.cite(rec.sources) in rendered
    assert len({(s.id, s.citation) for s in refs.sources}) == len(refs.sources)
    assert ".;" not in rendered and "; ;" not in rendered


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_internal_id_reaches_the_default_text(engine: Engine, name: str) -> None:
    rendered = text(engine, CASES[name])
    ids = {f.id for f in engine.vocabulary} | set(engine.program.conditions) | set(engine.program.derived_names)
    ids |= {rule.rule.id for rule in engine.program.rules}  # rule ids are for the full view
    found = [i for i in ids if "_" in i and re.search(rf"(?<![\w/.-]){re.escape(i)}(?![\w])", rendered)]
    assert not found, found
    assert "(rule " not in rendered


def test_findings_read_as_labels_with_their_values(engine: Engine) -> None:
    strain, dvt = text(engine, STRAIN), text(engine, DVT)
    vocabulary = engine.vocabulary
    assert f"{vocabulary['pop_or_snap_felt'].label}: yes" in strain
    assert f"{vocabulary['calf_circumference_diff_cm'].label}: 3.5 cm" in dvt


@pytest.mark.parametrize("detail", DETAILS)
@pytest.mark.parametrize("name", ["strain", "dvt"])
def test_a_rationale_is_written_once(engine: Engine, detail: str, name: str) -> None:
    assessment = engine.assess(CASES[name])
    rendered = " ".join(render_text(assessment, engine.vocabulary, detail=detail, width=None).split())  # type: ignore[arg-type]
    rationales = {r.reason for r in assessment.level_reasons}
    rationales |= {b.rationale for c in assessment.conditions for b in c.because}
    for rationale in rationales:
        assert rendered.count(" ".join(rationale.split())) <= 1, rationale
    if detail == "full":  # the condition points at the reason given for the level
        assert "why: see Why this level" in rendered


def test_brief_is_the_level_reasons_questions_and_advice(engine: Engine) -> None:
    brief = text(engine, STRAIN, "brief")
    assert brief.startswith("LEVEL: SEE A CLINICIAN")
    for part in ("Red-flag questions not yet answered", "Red flags (!) and why this level", "Advice"):
        assert part in brief
    for part in ("Conditions considered", "Scores", "References", "Recorded, not used"):
        assert part not in brief
    assert not CITED.search(brief)  # no reference numbers without their list


def test_full_keeps_every_question_rule_and_citation(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    full = render_text(assessment, engine.vocabulary, detail="full", width=None)
    for question in assessment.red_flag_screen.questions:
        if question.id in assessment.red_flag_screen.unanswered:
            assert f"? {question.question}  [{question.id}]" in full
    assert "Rules fired" in full and all(step.rule.rule in full for step in assessment.trace)
    for source in number_references(assessment).sources:
        assert source.citation in full


def test_the_default_lists_the_unanswered_questions_by_label_near_the_top(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    lines = render_text(assessment, engine.vocabulary).splitlines()
    asked = section(lines, "Red-flag questions not yet answered")
    assert lines.index(asked[0]) <= 3 and lines.index(asked[-1]) < 15
    joined = " ".join(line.strip() for line in asked[1:])
    assert joined == "; ".join(engine.vocabulary[q].label for q in assessment.red_flag_screen.unanswered)


def test_a_score_uses_its_inputs_even_when_no_rule_used_the_score(engine: Engine) -> None:
    assessment = engine.assess(WELLS_BELOW_THRESHOLD)
    [wells] = assessment.scores
    assert "calf_circumference_diff_cm" not in wells.components  # no point, but computed from it
    assert {"calf_circumference_diff_cm", "active_cancer"}.isdisjoint(assessment.unused_findings)
    rendered = text(engine, WELLS_BELOW_THRESHOLD)
    unused = next((line for line in rendered.splitlines() if line.startswith("Recorded, not used")), "")
    assert engine.vocabulary["calf_circumference_diff_cm"].label not in unused
    dvt = engine.assess(DVT)
    assert "calf_circumference_diff_cm" not in dvt.unused_findings


def test_a_finding_nothing_used_is_still_named(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    assert assessment.unused_findings == ("pain_score",)
    assert "Recorded, not used by any rule or score: Pain score: 6" in text(engine, STRAIN)


@pytest.fixture(scope="module")
def broken() -> Iterator[Engine]:
    class Broken:
        calfrules_plugin_name = "broken"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="bad_score", label="Bad", inputs=(), compute=lambda f: 1 / 0))

    built = load_engine(plugins=[Broken()], isolation="none")
    yield built
    built.close()


@pytest.mark.parametrize("detail", DETAILS)
def test_every_length_keeps_the_safety_content(engine: Engine, broken: Engine, detail: str) -> None:
    incomplete = render_text(broken.assess(STRAIN), broken.vocabulary, detail=detail)  # type: ignore[arg-type]
    assert incomplete.splitlines()[0].startswith("LEVEL: URGENT")
    assert incomplete.splitlines()[1] == "INCOMPLETE ASSESSMENT - the level was raised to be safe:"
    held: Assessment = engine.assess(HELD_BACK)
    assert held.withheld_recommendations
    rendered = render_text(held, engine.vocabulary, detail=detail)  # type: ignore[arg-type]
    assert rendered.startswith("LEVEL: URGENT")
    assert "Red flags" in rendered and all(flag.label.split(",")[0] in rendered for flag in held.red_flags)
    assert "Advice held back (not given at this level)" in rendered
    assert rendered.index("Red-flag questions not yet answered") < rendered.lower().index("why this level")
    strict = load_engine(screen="require", isolation="none")
    try:
        layoff = render_text(strict.assess(LAYOFF), strict.vocabulary, detail=detail)  # type: ignore[arg-type]
    finally:
        strict.close()
    assert "red-flag screen not finished" in layoff


def test_the_card_and_fhir_number_the_references_as_the_text_does(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    refs = number_references(assessment)
    rendered = render_text(assessment, engine.vocabulary, detail="full", width=None)
    card = card_detail(assessment)
    bundle = to_fhir_bundle(assessment)
    notes = [
        n["text"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "GuidanceResponse"
        for n in e["resource"]["note"]
    ]
    actions = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RequestGroup")["action"]
    for number, source in enumerate(refs.sources, start=1):
        assert f"[{number}] {source.citation}" in rendered
        assert f"- [{number}] {source.citation}" in card
        assert any(n.startswith(f"Reference [{number}]: {source.citation}") for n in notes)
    for rec, action in zip(assessment.recommendations, actions, strict=True):
        labels = [d["label"] for d in action["documentation"] if d["type"] == "citation"]
        assert labels == [f"[{refs.number(s)}]" for s in rec.sources]
        assert f"*({refs.cite(rec.sources)})*" in card


def test_short_citation_drops_only_a_closing_summary() -> None:
    assert (
        short_citation("Smith J. A trial. BMJ 2020;1:2 (what it found; in brief)") == "Smith J. A trial. BMJ 2020;1:2"
    )
    assert short_citation("NICE guideline NG158 (2020)") == "NICE guideline NG158 (2020)"
    assert short_citation("A review, section 'x'") == "A review, section 'x'"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_gives_three_lengths_and_refuses_two_at_once() -> None:
    path = str(EXAMPLES / "calf_strain.toml")
    lengths = {}
    for flag in ("--brief", None, "--full"):
        code, out, _ = run("assess", path, *([flag] if flag else []))
        assert code == 0 and out.startswith("LEVEL: ")
        lengths[flag] = len(out.splitlines())
    assert lengths["--brief"] < lengths[None] < lengths["--full"]
    code, _, err = run("assess", path, "--brief", "--full")
    assert code == 2 and err.strip() == "calfrules: error: --brief and --full ask for different lengths: give one"
    code, _, err = run("assess", path, "--full", "--json")
    assert code == 2 and err.startswith("calfrules: error: --full is for the text output")


def test_short_labels_name_the_work() -> None:
    assert short_label("Dixon JB. Gastrocnemius vs. soleus strain. Curr Rev 2009;2:74-7 (what it says)") == "Dixon 2009"
    assert short_label("Dubois B, Esculier JF. Soft-tissue injuries. Br J Sports Med 2020;54:72") == (
        "Dubois & Esculier 2020"
    )
    assert short_label("Boyd RPR, Dimock R, Solan MC, Porter E. Achilles. Br J Gen Pract 2015;65:668") == (
        "Boyd et al. 2015"
    )
    assert short_label("Björck M, Earnshaw JJ, et al. ESVS 2020 guidelines. Eur J 2020;59:173") == "Björck et al. 2020"
    assert short_label("NICE guideline NG158 (2020), Venous thromboembolic diseases (summary)") == (
        "NICE guideline NG158 (2020)"
    )
    assert short_label("Runner article 'How Do I Stop my Calves from Hurting When I Run', section 'See A Doctor'") == (
        "Runner article"
    )


def test_numbers_in_a_row_read_as_a_range() -> None:
    assert number_list([1, 6, 7, 8, 9, 10, 12, 13]) == "1,6-10,12,13"
    assert numbers("1,6-10,12,13") == {1, 6, 7, 8, 9, 10, 12, 13}


def test_short_names_say_what_to_do_not_when() -> None:
    assert short_name("Stage 1, from day 2 or 3: calf holds. Standing on both feet, rise.") == "Stage 1: calf holds"
    assert short_name("Once the calf no longer hurts, stretch both calves slowly after runs, holding each.") == (
        "Stretch both calves slowly after runs"
    )
    assert short_name("Before you run again, and only once raises are easy, test yourself: stand on one leg.") == (
        "Test yourself"
    )
    long = short_name("Build back with walk/run sessions timed rather than measured by distance, working up.")
    assert len(long) <= 40 and long.endswith("…") and long.startswith("Build back with")


def test_the_gist_of_a_reason_is_its_first_sentence() -> None:
    assert (
        gist("A grade II strain should be examined; the article agrees.") == "A grade II strain should be examined (…)"
    )
    assert gist("One sentence only.") == "One sentence only."


def test_a_safety_net_given_by_several_items_is_said_once(engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    now, _ = now_and_later(assessment.recommendations, assessment.level)
    repeated = replace(now[1], return_if=now[0].return_if)
    twice = replace(assessment, recommendations=(now[0], repeated, *assessment.recommendations[2:]))
    rendered = render_text(twice, engine.vocabulary, width=None)
    assert now[0].return_if is not None and rendered.count(f"Come back if: {now[0].return_if}") == 1
    assert repeated.text in rendered
