"""A lean driver of durable_rules' C core (``durable_rules_engine``).

It never uses ``durable.engine.Host``: no background timer threads, no Python
action callbacks whose exceptions get swallowed, no batch asserts. Assessments
run one at a time under a lock (the C core has none) in a single session id.

A case runs in stages (see stages.py): a rule's stage comes after the stages of the
rules whose outputs it tests. Each stage asserts one fact per shard holding all that
is known (findings, scores, complements, names derived so far), fires every rule it
matches, and retracts it again, so each rule fires once. Every durable rule has one
pattern (see definitions.py): retracting a fact that completed a multi-fact rule
corrupts durable_rules' heap.

It never calls ``delete_state``: measured here, deleting a session that still holds
messages frees an invalid pointer and kills the process, depending on heap layout.
The session is checked to be empty after every case; if it is not, the C rulesets
are rebuilt.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from typing import Any

import durable_rules_engine as core

from calfrules.engine.durable.definitions import DurablePlan, build_plan
from calfrules.rules import condition
from calfrules.rules.condition import Atom
from calfrules.rules.errors import EngineFault
from calfrules.rules.evaluate import evaluate
from calfrules.rules.firing import Firing
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value

_HANDLED, _NOT_HANDLED, _OBSERVED = 0, 1, 2
_NONCE_RETRIES = 8
_ruleset_counter = itertools.count(1)
SESSION_ID = "calfrules"


def to_json(value: Any) -> str:
    """JSON that durable_rules' parser reads: it rejects exponents (``1e-05``: error 204)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return f"{value:.6f}" if ("e" in text or "E" in text) else text
    if isinstance(value, (int, str)) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} to durable_rules")


def _encode(value: Value) -> str:
    """One property value of a stage fact (the fast path of to_json)."""
    if value is True:
        return "true"
    if isinstance(value, float):
        text = repr(value)
        return f"{value:.6f}" if ("e" in text or "E" in text) else text
    if isinstance(value, int):
        return str(value)
    return to_json(value)


# name -> (shard index, '"key":', whether it can trigger a rule there) for every shard testing it
Routes = dict[str, tuple[tuple[int, str, bool], ...]]


# per rule, per alternative: (label in Firing.matched, the name whose value it shows, or None for 'not ...')
Labels = list[list[list[tuple[str, str | None]]]]


def _labels(program: Program) -> Labels:
    return [
        [
            [
                (atom.name, atom.name) if positive else ("not " + condition.to_text(atom), None)
                for atom, positive in branch
            ]
            for branch in rule.branches
        ]
        for rule in program.rules
    ]


def _negations(plan: DurablePlan) -> dict[str, tuple[tuple[str, Atom], ...]]:
    """name -> the complements whose atoms test it: only these can turn false for a case."""
    by_name: dict[str, list[tuple[str, Atom]]] = {}
    for complement, atom in plan.complements.items():
        by_name.setdefault(atom.name, []).append((complement, atom))
    return {name: tuple(entries) for name, entries in by_name.items()}


def _routes(plan: DurablePlan) -> Routes:
    routes: dict[str, list[tuple[int, str, bool]]] = {}
    for index, shard in enumerate(plan.shards):
        for name in shard.names:
            prefix = json.dumps(plan.fact_keys[name]) + ":"
            routes.setdefault(name, []).append((index, prefix, name in shard.triggers))
    return {name: tuple(entries) for name, entries in routes.items()}


class DurableRunner:
    """Runs a compiled Program on durable_rules; one instance per engine."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.plan = build_plan(program)
        self.routes = _routes(self.plan)
        self.labels = _labels(program)
        self.negations = _negations(self.plan)
        self.answers: dict[str, list[tuple[str, Atom]]] = {}  # finding -> its positive answer atoms
        for answer, atom in self.plan.answers.items():
            self.answers.setdefault(atom.name, []).append((answer, atom))
        # each shard's complement properties, all true until a finding makes its atom true
        self.complement_parts: list[list[tuple[str, str]]] = [[] for _ in self.plan.shards]
        for name in sorted(self.plan.complements):
            for index, prefix, _ in self.routes.get(name, ()):
                self.complement_parts[index].append((name, prefix + "true"))
        self._lock = threading.Lock()
        self._handles: list[int] | None = None

    def _ensure_handles(self) -> list[int]:
        if self._handles is None:
            handles = []
            try:
                for shard in self.plan.shards:
                    name = f"calfrules_{next(_ruleset_counter)}"
                    handles.append(core.create_ruleset(name, to_json(shard.definition)))
            except core.error as exc:
                self._delete(handles)
                raise EngineFault(f"durable_rules refused the compiled rules: {exc}") from exc
            self._handles = handles
        return self._handles

    def warm_up(self) -> None:
        with self._lock:
            self._ensure_handles()

    def run(self, facts: Mapping[str, Value]) -> list[Firing]:
        """Assert the case's facts, fire rules stage by stage, return the firings in order.

        ``facts`` holds findings and scores; for each ``not`` atom over them that is false
        here, its complement is set, so every compiled test is positive."""
        with self._lock:
            handles = self._ensure_handles()
            session = _Session(self.program, self.plan, self.routes, self.labels, handles, SESSION_ID)
            try:
                return session.run(self._with_answers(facts), self._true_complements(facts))
            except core.error as exc:
                self._poison()
                raise EngineFault(f"durable_rules failed: {exc}") from exc
            except EngineFault:
                self._poison()
                raise
            finally:
                if self._handles is not None and not session.clear():
                    self._poison()

    def _with_answers(self, facts: Mapping[str, Value]) -> Mapping[str, Value]:
        """The facts plus each ``x is no`` / ``x is recorded`` name that holds (only recorded findings can)."""
        holding = {
            answer: True for name in facts for answer, atom in self.answers.get(name, ()) if evaluate(atom, facts.get)
        }
        return {**facts, **holding} if holding else facts

    def _true_complements(self, facts: Mapping[str, Value]) -> list[list[str]]:
        """Per shard, the complement properties that hold: all but those whose atom is true."""
        falsified = {
            complement
            for name in facts
            for complement, atom in self.negations.get(name, ())
            if evaluate(atom, facts.get)
        }
        if not falsified:
            return [[part for _, part in parts] for parts in self.complement_parts]
        return [[part for name, part in parts if name not in falsified] for parts in self.complement_parts]

    def _poison(self) -> None:
        """After a fault the C rulesets may hold stale actions: start afresh next time."""
        if self._handles is not None:
            self._delete(self._handles)
            self._handles = None

    @staticmethod
    def _delete(handles: list[int]) -> None:
        for handle in handles:
            try:
                core.delete_ruleset(handle)
            except core.error:
                pass

    def close(self) -> None:
        with self._lock:
            if self._handles is not None:
                self._delete(self._handles)
                self._handles = None


class _Session:
    def __init__(
        self, program: Program, plan: DurablePlan, routes: Routes, labels: Labels, handles: list[int], sid: str
    ) -> None:
        self.program = program
        self.plan = plan
        self.routes = routes
        self.labels = labels
        self.handles = handles
        self.sid = sid
        self.tail = "," + json.dumps("sid") + ":" + json.dumps(sid)
        self.states: list[int | None] = [None] * len(handles)
        self.outstanding: list[tuple[int, str]] = []  # (handle, exact JSON) asserted and not yet retracted
        # a shard none of whose rules can fire yet is not asserted at all
        self.triggered = [shard.unconditional for shard in plan.shards]
        self.fired: dict[int, set[int]] = {}  # rule index -> the alternatives that fired
        self.order: list[int] = []

    def run(self, facts: Mapping[str, Value], complements: list[list[str]]) -> list[Firing]:
        parts = complements  # each shard's stage fact, property by property (a fresh list per case)
        known: dict[str, Value] = dict(facts)
        for name in sorted(facts):  # a canonical order: same result whatever the input order
            if facts[name] is not False:  # yes/no tests match only ``true``, so a "no" is never sent
                self._add(parts, name, facts[name])
        for stage in self.plan.stages:
            for _ in range(len(self.program.rules) + 1):  # a cyclic stage repeats while it derives
                derived = self._stage(parts, [i for i in stage.shards if parts[i] and self.triggered[i]])
                changed: set[int] = set()
                for name in sorted(derived - known.keys()):
                    known[name] = True
                    changed.update(self._add(parts, name, True))
                if not stage.cyclic or changed.isdisjoint(stage.shards):
                    break
            else:
                raise EngineFault("rules kept deriving new facts; stopped to avoid a loop")
        return [self._firing(index, known) for index in self.order]

    def _add(self, parts: list[list[str]], name: str, value: Value) -> list[int]:
        routes = self.routes.get(name, ())
        if routes:
            encoded = _encode(value)
            for index, prefix, trigger in routes:
                parts[index].append(prefix + encoded)
                if trigger:
                    self.triggered[index] = True
        return [index for index, _, _ in routes]

    def _stage(self, parts: list[list[str]], shards: list[int]) -> set[str]:
        """Assert the changed shards' facts, fire what they match, retract them again."""
        asserted = [(index, self._assert(index, "{" + ",".join(parts[index]))) for index in shards]
        derived: set[str] = set()
        for index, _ in asserted:
            handle, state = self.handles[index], self.states[index]
            assert state is not None
            result = core.start_action_for_state(handle, state)
            while result:
                message = result if isinstance(result, str) else result[1]
                derived.update(self._fire(message))
                result = core.complete_and_start_action(handle, state)
        for index, message in asserted:
            core.retract_fact(self.handles[index], message)
            self.outstanding.remove((self.handles[index], message))
        return derived

    def _assert(self, index: int, body: str) -> str:
        handle = self.handles[index]
        message = body + self.tail + "}"
        for nonce in range(1, _NONCE_RETRIES + 1):
            code, state = core.assert_fact(handle, message)
            if code != _OBSERVED:
                break
            # durable_rules issue #376: a distinct fact taken for a duplicate by its hash
            message = f'{body}{self.tail},"n":{nonce}}}'
        else:
            raise EngineFault("durable_rules kept rejecting a case fact as a duplicate")
        if code not in (_HANDLED, _NOT_HANDLED):
            raise EngineFault(f"durable_rules answered code {code} for a case fact")
        self.outstanding.append((handle, message))
        if self.states[index] is None:
            self.states[index] = state
        return message

    def _fire(self, message: str) -> tuple[str, ...]:
        """Record a firing; returns the names its rule derives when it fires for the first time."""
        durable_name = message[2 : message.index('"', 2)]  # the action's name: '{"r3b0":{...}}'
        found = self.plan.durable_names.get(durable_name)
        if found is None:
            raise EngineFault(f"durable_rules fired an unknown rule {durable_name!r}")
        rule_index, branch_index = found
        branches = self.fired.get(rule_index)
        if branches is not None:  # again in a later stage, or another alternative of the rule
            branches.add(branch_index)
            return ()
        self.fired[rule_index] = {branch_index}
        self.order.append(rule_index)
        return self.program.rules[rule_index].outputs

    def _firing(self, rule_index: int, known: Mapping[str, Value]) -> Firing:
        matched: dict[str, Value] = {}
        branches = self.labels[rule_index]
        for branch_index in sorted(self.fired[rule_index]):
            for label, name in branches[branch_index]:
                matched[label] = True if name is None else known[name]
        return Firing(rule_index, matched)

    def clear(self) -> bool:
        """Retract anything a failed stage left behind; True when the session is empty again."""
        try:
            for handle, message in reversed(self.outstanding):
                core.retract_fact(handle, message)
            return all(
                core.get_facts(handle, self.sid) == "[]"
                for handle, state in zip(self.handles, self.states, strict=True)
                if state is not None
            )
        except core.error:
            return False


__all__ = ["DurableRunner", "to_json"]
