"""Generate a large, realistic rule pack over the built-in vocabulary, for scaling runs.

    python benchmarks/generate_pack.py --rules 3200 [--seed 1] [-o pack.toml]

The rules look like the built-in ones: a presenting finding and'ed with a bracket of
alternatives, numeric thresholds (pain score, days since onset, run duration), choices
(``pain_location == 'achilles'``, ``mechanism in [...]``), the Wells and NEWS2 scores, runs of
``not`` over red-flag findings to rule a benign pattern in, and chains through conditions and
derived facts that earlier rules conclude. Most rules conclude a self-care condition (some with
advice); about one in ten sends to a clinician, and a few are red-flag-like (urgent or
emergency). The same seed always gives the same text.

The pack passes `calfrules check`: an escalating rule only tests findings and scores being
present (so adding a red-flag finding can only raise the level), and only non-escalating rules
use ``not``. It is benchmark data, not clinical knowledge: every sentence says it was generated.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from calfrules.knowledge.builtin import core_vocabulary
from calfrules.rules.vocabulary import Finding

REFERENCE = {
    "id": "generated",
    "citation": "Synthetic benchmark pack written by benchmarks/generate_pack.py; not clinical advice",
}
THRESHOLDS = {  # finding: thresholds a rule compares it with, as the built-ins do
    "pain_score": (3, 5, 7, 8),
    "days_since_onset": (3, 7, 14, 42, 90),
    "run_duration_min": (45, 60, 90, 240),
    "weekly_mileage_increase_pct": (10, 30, 50),
    "age": (16, 40, 50, 65),
    "calf_circumference_diff_cm": (1, 2, 3),
    "temperature_c": (37.5, 38, 39, 40),
    "heart_rate": (90, 100, 130),
    "onset_hours": (6, 24, 72),
    "wells_score": (1, 2, 3),
    "news2_score": (3, 5, 7),
}


@dataclass
class _Pool:
    """The names a generated rule may test, by what they are."""

    symptoms: list[str]  # yes/no symptoms and signs
    others: list[str]  # yes/no history, risk factors, context
    red_flags: list[str]  # yes/no findings a built-in red-flag rule or floor tests
    numbers: list[str]
    choices: dict[str, tuple[str, ...]]
    concluded: list[str] = field(default_factory=list)  # conditions and facts earlier rules produce


def _pool() -> _Pool:
    findings: list[Finding] = list(core_vocabulary().findings)
    bools = [f for f in findings if f.type == "bool"]
    symptoms = [f.id for f in bools if f.kind in ("symptom", "sign")]
    red = {"calf_warmth", "swelling_unilateral", "fever", "skin_redness", "pain_out_of_proportion", "palpable_gap"}
    red |= {"chest_pain", "shortness_of_breath", "dark_urine", "tense_compartment", "cold_pale_foot", "foot_drop"}
    return _Pool(
        symptoms=symptoms,
        others=[f.id for f in bools if f.kind not in ("symptom", "sign")],
        red_flags=sorted(red & {f.id for f in bools}),
        numbers=[name for name in THRESHOLDS if name in {f.id for f in findings} or name.endswith("_score")],
        choices={f.id: f.choices for f in findings if f.type == "choice"},
    )


class _Writer:
    def __init__(self, rnd: random.Random, pool: _Pool) -> None:
        self.rnd = rnd
        self.pool = pool

    def number_test(self, *, rising_only: bool = False) -> str:
        """A threshold; ``rising_only``: one a higher (more alarming) value can only make true."""
        name = self.rnd.choice(self.pool.numbers)
        op = self.rnd.choice((">=", ">") if rising_only else (">=", ">", "<", "<="))
        return f"{name} {op} {self.rnd.choice(THRESHOLDS[name])}"

    def choice_test(self) -> str:
        name = self.rnd.choice(sorted(self.pool.choices))
        options = self.pool.choices[name]
        if self.rnd.random() < 0.7:
            return f"{name} == '{self.rnd.choice(options)}'"
        picked = self.rnd.sample(options, min(len(options), self.rnd.randint(2, 3)))
        return f"{name} in [{', '.join(repr(o) for o in picked)}]"

    def positive(self, *, chains: bool) -> str:
        """One test that can only turn true as findings are added."""
        roll = self.rnd.random()
        if roll < 0.15:
            return self.number_test(rising_only=not chains)
        if roll < 0.25 and chains:  # a red-flag rule never tests a choice: another answer could switch it off
            return self.choice_test()
        if chains and self.pool.concluded and roll < 0.40:
            return self.rnd.choice(self.pool.concluded)
        return self.rnd.choice(self.pool.others if roll < 0.55 else self.pool.symptoms)

    def alternatives(self, *, chains: bool) -> str:
        options = dict.fromkeys(self.positive(chains=chains) for _ in range(self.rnd.randint(2, 4)))
        return "(" + " or ".join(options) + ")"

    def benign(self) -> str:
        """A self-care pattern: a presenting symptom, a bracket or threshold, maybe red flags ruled out."""
        parts = [self.rnd.choice(self.pool.symptoms)]
        for _ in range(self.rnd.randint(0, 2)):
            parts.append(self.alternatives(chains=True) if self.rnd.random() < 0.5 else self.positive(chains=True))
        if self.rnd.random() < 0.35:
            excluded = self.rnd.sample(self.pool.red_flags, self.rnd.randint(1, 5))
            parts += [f"not {name}" for name in excluded if name not in parts]
        return " and ".join(dict.fromkeys(parts))

    def alarming(self) -> str:
        """A red-flag-like pattern: red-flag findings or a high score, all tested as present."""
        parts = [self.rnd.choice(self.pool.red_flags)]
        if self.rnd.random() < 0.6:
            parts.append(self.rnd.choice([*self.pool.red_flags, *self.pool.symptoms]))
        if self.rnd.random() < 0.4:
            parts.append(self.number_test(rising_only=True))
        if self.rnd.random() < 0.3:
            parts.append(self.alternatives(chains=False))
        return " and ".join(dict.fromkeys(parts))


def generate_pack(rules: int, seed: int = 1, pack_id: str = "generated") -> dict[str, Any]:
    """The pack as TOML-ready data: ``rules`` rules, deterministic by ``seed``."""
    rnd = random.Random(seed)
    pool = _pool()
    writer = _Writer(rnd, pool)
    conditions: dict[str, dict[str, Any]] = {}
    written: list[dict[str, Any]] = []
    for n in range(1, rules + 1):
        rule_id = f"{pack_id}_r{n:05d}"
        rule: dict[str, Any] = {"id": rule_id, "rationale": "Generated for a scaling benchmark."}
        roll = rnd.random()
        if roll < 0.04:  # red-flag-like
            condition_id = f"{pack_id}_red_flag_{n:05d}"
            conditions[condition_id] = {"label": f"Generated red flag {n}", "red_flag": True}
            rule |= {"when": writer.alarming(), "conclude": condition_id}
            rule["escalate"] = rnd.choice(("urgent", "emergency"))
        elif roll < 0.12:  # see a clinician
            rule |= {"when": writer.alarming(), "escalate": "see_clinician"}
        else:  # self-care, mostly concluding a condition that later rules may build on
            rule["when"] = writer.benign()
            if rnd.random() < 0.8:
                condition_id = f"{pack_id}_condition_{n:05d}"
                conditions[condition_id] = {"label": f"Generated condition {n}"}
                rule["conclude"] = condition_id
                pool.concluded.append(condition_id)
            else:
                fact = f"{pack_id}_fact_{n:05d}"
                rule["derive"] = [fact]
                pool.concluded.append(fact)
        if rnd.random() < 0.3 or not (rule.get("conclude") or rule.get("derive") or rule.get("escalate")):
            rule["references"] = ["generated"]
            rule["recommend"] = [
                {
                    "id": f"{rule_id}_advice",
                    "text": f"Generated advice {n}, for benchmarking only.",
                    "kind": "education" if "escalate" in rule else rnd.choice(("self_care", "exercise", "education")),
                }
            ]
        written.append(rule)
    return {
        "id": pack_id,
        "version": "0.1.0",
        "title": f"Generated pack of {rules} rules (seed {seed})",
        "authors": ["benchmarks/generate_pack.py"],
        "references": [REFERENCE],
        "conditions": conditions,
        "rules": written,
    }


def generate_pack_text(rules: int, seed: int = 1, pack_id: str = "generated") -> str:
    return tomli_w.dumps(generate_pack(rules, seed, pack_id))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, required=True, help="how many rules")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--id", default="generated", help="the ruleset id (lower case, digits, _)")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.rules < 1:
        parser.error("--rules must be at least 1")
    text = generate_pack_text(args.rules, args.seed, args.id)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
