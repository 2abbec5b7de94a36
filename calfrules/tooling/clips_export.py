"""Translate the loaded rules into CLIPS, and run them with clipspy to check and compare.

The translation follows ``calfrules.engine.oracle``, which defines the semantics:

- Every finding, score, concluded condition and derived fact is one fact
  ``(finding (name ID) (value V))``: yes/no as the symbols TRUE/FALSE, numbers as
  floats, choices as strings. Concluded and derived names are asserted with value TRUE.
- A bare name holds when its value is TRUE; a comparison holds only for a recorded value
  of the right type (a missing finding makes every comparison false, ``!=`` too).
- ``not X`` holds when X does not hold, so a missing finding satisfies ``not calf_pain``
  and ``not pain_score >= 7``, exactly as in the oracle. It is CLIPS' own ``not``
  conditional element: calfrules only allows ``not`` over findings and scores, which are
  all asserted before the run, so the result cannot depend on the order of firing.
- Each rule is split into its alternatives (disjunctive normal form, as the compiler does);
  one defrule per alternative, named ``ruleset--rule--bN``. A rule fired when any of its
  alternatives did: each asserts ``(fired (ruleset R) (rule ID))`` (CLIPS keeps one copy of
  a duplicate fact), the rule's outputs, and ``(escalation ...)`` when the rule escalates.

The red-flag floor, scores and the assessment itself stay in Python: CLIPS receives the
findings with the scores already computed (what the rules see in calfrules too).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from calfrules._version import __version__
from calfrules.rules.condition import Answer, Compare, Literal, Truthy, to_dnf, to_text
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import Value

TEMPLATES = (
    "(deftemplate finding (slot name (type SYMBOL)) (slot value))",
    "(deftemplate fired (slot ruleset (type SYMBOL)) (slot rule (type SYMBOL)))",
    "(deftemplate escalation (slot level (type SYMBOL)) (slot ruleset (type SYMBOL)) (slot rule (type SYMBOL)))",
)
# Helpers for callers: assert every finding in one call, read the results as plain values.
# (From Python, one call each keeps clipspy from creating a wrapper per fact: wrapped facts
# that reset retracts are never freed, and every case then runs slower than the last.)
FUNCTIONS = (
    "(deffunction assert-findings ($?pairs)\n"
    "  (loop-for-count (?i 1 (div (length$ ?pairs) 2))\n"
    "    (assert (finding (name (nth$ (- (* 2 ?i) 1) ?pairs)) (value (nth$ (* 2 ?i) ?pairs)))))\n"
    "  TRUE)",
    "(deffunction fired-rules ()\n"
    "  (bind ?found (create$))\n"
    "  (do-for-all-facts ((?f fired)) TRUE (bind ?found (create$ ?found ?f:ruleset ?f:rule)))\n"
    "  ?found)",
    "(deffunction true-names ()\n"
    "  (bind ?found (create$))\n"
    "  (do-for-all-facts ((?f finding)) (eq ?f:value TRUE) (bind ?found (create$ ?found ?f:name)))\n"
    "  ?found)",
    "(deffunction escalation-levels ()\n"
    "  (bind ?found (create$))\n"
    "  (do-for-all-facts ((?f escalation)) TRUE (bind ?found (create$ ?found ?f:level)))\n"
    "  ?found)",
)
_NUMBER_TESTS = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "==": "=", "!=": "<>"}


@dataclass(frozen=True)
class ClipsOutcome:
    """What a CLIPS run reached: the rules that fired, the names they concluded or derived."""

    fired: frozenset[tuple[str, str]]  # (ruleset id, rule id)
    outputs: frozenset[str]
    escalations: frozenset[str]  # level values


def rule_key(rule: CompiledRule) -> tuple[str, str]:
    return (rule.ruleset.id, rule.rule.id)


def constructs(program: Program) -> list[str]:
    """Every CLIPS construct, in order: the templates, then one defrule per alternative."""
    return [*TEMPLATES, *FUNCTIONS, *(text for rule in program.rules for text in _defrules(rule))]


def export_program(program: Program) -> str:
    """The whole program as a CLIPS source file (load it with ``(load "file.clp")``)."""
    header = [
        f";; calfrules {__version__}: {len(program.rules)} rules exported to CLIPS.",
        ";; (reset), assert one (finding (name ID) (value V)) per finding and score (TRUE/FALSE,",
        ';; numbers, "choices"), for example (assert-findings calf_pain TRUE pain_score 4.0), then',
        ";; (run). Fired rules appear as (fired ...), conclusions as findings: (fired-rules).",
        ";; A missing finding is 'not recorded': comparisons on it are false, 'not' on it is true.",
        "",
    ]
    body = [*TEMPLATES, "", *FUNCTIONS]
    for rule in program.rules:
        body.append("")
        body.append(f";; {rule.ruleset.id} / {rule.rule.id}: when {to_text(rule.expr)}")
        body.extend(_defrules(rule))
    return "\n".join(header + body) + "\n"


def _defrules(rule: CompiledRule) -> Iterator[str]:
    branches = to_dnf(rule.expr)
    actions = [f"(assert (fired (ruleset {rule.ruleset.id}) (rule {rule.rule.id})))"]
    actions += [f"(assert (finding (name {name}) (value TRUE)))" for name in rule.outputs]
    if rule.rule.escalate is not None:
        level = rule.rule.escalate.value
        actions.append(f"(assert (escalation (level {level}) (ruleset {rule.ruleset.id}) (rule {rule.rule.id})))")
    for number, branch in enumerate(branches):
        patterns = [_pattern(literal, index) for index, literal in enumerate(branch)]
        name = f"{rule.ruleset.id}--{rule.rule.id}--b{number}"
        yield f"(defrule {name}\n  " + "\n  ".join(patterns) + "\n  =>\n  " + "\n  ".join(actions) + ")"


def _pattern(literal: Literal, index: int) -> str:
    atom, positive = literal
    if isinstance(atom, Truthy):
        fact = f"(finding (name {atom.name}) (value TRUE))"
    elif isinstance(atom, Answer):  # a recorded no is the symbol FALSE; recorded is any value
        value = "FALSE" if atom.answer == "no" else f"?v{index}"
        fact = f"(finding (name {atom.name}) (value {value}))"
    else:
        assert isinstance(atom, Compare)
        fact = f"(finding (name {atom.name}) (value ?v{index}&{_test(atom, f'?v{index}')}))"
    return fact if positive else f"(not {fact})"


def _test(atom: Compare, var: str) -> str:
    if isinstance(atom.value, str):
        compare = "eq" if atom.op == "==" else "neq"
        return f":(stringp {var})&:({compare} {var} {clips_string(atom.value)})"
    return f":(numberp {var})&:({_NUMBER_TESTS[atom.op]} {var} {clips_float(atom.value)})"


def clips_float(value: float) -> str:
    if not math.isfinite(value):
        raise CalfrulesError(f"cannot export the number {value!r} to CLIPS")
    return repr(float(value))


def clips_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ClipsRunner:
    """The exported rules loaded into one clipspy environment, run one case at a time."""

    def __init__(self, program: Program) -> None:
        try:
            import clips
        except ImportError:
            raise CalfrulesError("clipspy is not installed: pip install clipspy") from None
        self._clips: Any = clips
        self.env: Any = clips.Environment()
        for text in constructs(program):
            self.env.build(text)
        self._finding = self.env.find_template("finding")
        self._true = clips.Symbol("TRUE")
        self._false = clips.Symbol("FALSE")
        self._symbols: dict[str, Any] = {}
        self._derived = program.derived_names

    def _symbol(self, name: str) -> Any:
        symbol = self._symbols.get(name)
        if symbol is None:
            symbol = self._symbols[name] = self._clips.Symbol(name)
        return symbol

    def run(self, known: Mapping[str, Value]) -> ClipsOutcome:
        """Reset, assert the findings and scores, run to completion, read what fired."""
        env = self.env
        env.reset()
        pairs: list[Any] = []
        for name, value in known.items():
            if isinstance(value, bool):
                pairs += (self._symbol(name), self._true if value else self._false)
            else:
                pairs += (self._symbol(name), value if isinstance(value, str) else float(value))
        env.call("assert-findings", *pairs)
        env.run()
        flat = env.call("fired-rules")
        fired = frozenset((str(flat[i]), str(flat[i + 1])) for i in range(0, len(flat), 2))
        outputs = frozenset(str(name) for name in env.call("true-names") if name in self._derived)
        escalations = frozenset(str(level) for level in env.call("escalation-levels"))
        return ClipsOutcome(fired, outputs, escalations)


def oracle_outcome(program: Program, known: Mapping[str, Value]) -> ClipsOutcome:
    """The same summary from the pure-Python oracle, to compare with a CLIPS run."""
    from calfrules.engine import oracle

    rules = [program.rules[firing.rule_index] for firing in oracle.run(program, known)]
    return ClipsOutcome(
        frozenset(rule_key(rule) for rule in rules),
        frozenset(name for rule in rules for name in rule.outputs),
        frozenset(rule.rule.escalate.value for rule in rules if rule.rule.escalate is not None),
    )


def known_values(engine_derivers: Mapping[str, Any], findings: Mapping[str, Value]) -> dict[str, Value]:
    """Findings plus every score a deriver computes (what the rules see)."""
    known: dict[str, Value] = dict(findings)
    for deriver, _plugin in engine_derivers.values():
        try:
            score = deriver.compute(findings)
        except Exception:  # a broken plugin score is simply absent, as in the engine
            continue
        if score is not None and math.isfinite(float(score.value)):
            known[deriver.id] = float(score.value)
    return known
