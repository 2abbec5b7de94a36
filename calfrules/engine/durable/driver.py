"""A lean driver of durable_rules' C core (``durable_rules_engine``).

It never uses ``durable.engine.Host``: no background timer threads, no Python
action callbacks whose exceptions get swallowed, no batch asserts. Assessments
run one at a time under a lock (the C core has none) in a single session id.

A case runs in stages (see stages.py): a rule's stage comes after the stages of the
rules whose outputs it tests. Each stage asserts one fact per shard holding all that
is known (findings, scores, complements, names derived so far), fires every rule it
matches, and retracts it again, so each rule fires once. Every durable rule has one
pattern (see definitions.py): retracting a fact that completed a multi-fact rule
corrupts durable_rules' heap. A shard none of whose alternatives could match is not
asserted at all (tables.py); everything the driver looks up per case is built once.

It never calls ``delete_state``: measured here, deleting a session that still holds
messages frees an invalid pointer and kills the process, depending on heap layout.
Every fact asserted is retracted by its exact text; after a fault the C rulesets are
rebuilt, and every ``CHECK_EVERY`` runs the session is checked to be empty (if not, they
are rebuilt too).
"""

from __future__ import annotations

import gc
import itertools
import json
import threading
from collections.abc import Mapping

import durable_rules_engine as core

from calfrules.engine.durable.definitions import DurablePlan, build_plan, to_json
from calfrules.engine.durable.tables import DriverTables, Need, RuleLabels, build_tables, rule_labels
from calfrules.rules.errors import EngineFault
from calfrules.rules.evaluate import evaluate
from calfrules.rules.firing import Fired, Firing
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value

_HANDLED, _NOT_HANDLED, _OBSERVED = 0, 1, 2
_NONCE_RETRIES = 8
_ruleset_counter = itertools.count(1)
SESSION_ID = "calfrules"
_TAIL = ',"sid":' + json.dumps(SESSION_ID)
CHECK_EVERY = 1024  # runs between checks that the session holds no fact (each run retracts its own)


def _encode(value: Value) -> str:
    """One property value of a stage fact (the fast path of to_json)."""
    if isinstance(value, float):
        text = repr(value)
        return f"{value:.6f}" if ("e" in text or "E" in text) else text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return to_json(value)


class DurableRunner:
    """Runs a compiled Program on durable_rules; one instance per engine."""

    def __init__(self, program: Program) -> None:
        self.program = program
        collecting = gc.isenabled()
        gc.disable()  # building the plan makes many long-lived objects and no garbage: collecting only costs
        try:
            self.plan: DurablePlan = build_plan(program)
            self.tables: DriverTables = build_tables(program, self.plan)
        finally:
            if collecting:
                gc.enable()
        self._lock = threading.Lock()
        self._handles: list[int] | None = None
        self._asserted: list[tuple[int, str]] = []  # (handle, exact text) asserted and not yet retracted
        self._used: set[int] = set()  # handles that hold a session (get_facts refuses the others)
        self._runs = 0
        self._labels: dict[int, RuleLabels] = {}

    def _ensure_handles(self) -> list[int]:
        if self._handles is None:
            handles = []
            try:
                for shard in self.plan.shards:
                    name = f"calfrules_{next(_ruleset_counter)}"
                    handles.append(core.create_ruleset(name, shard.text))
            except core.error as exc:
                self._delete(handles)
                raise EngineFault(f"durable_rules refused the compiled rules: {exc}") from exc
            self._handles = handles
            self._used = set()
        return self._handles

    def warm_up(self) -> None:
        with self._lock:
            self._ensure_handles()

    def run(self, facts: Mapping[str, Value]) -> list[Firing]:
        """Assert the case's facts, fire rules stage by stage, return the firings in order.

        ``facts`` holds findings and scores; for each ``not`` atom over them that is false
        here, its complement is set, so every compiled test is positive."""
        return self.firings(self.run_fired(facts), facts)

    def run_fired(self, facts: Mapping[str, Value]) -> list[Fired]:
        """What fired, as (rule index, alternatives): small to send, rebuilt by ``firings``."""
        with self._lock:
            handles = self._ensure_handles()
            try:
                fired = self._run(handles, facts)
            except core.error as exc:
                self._poison()
                raise EngineFault(f"durable_rules failed: {exc}") from exc
            except BaseException:  # EngineFault, or a bug: nothing half-done may reach the next case
                self._poison()
                raise
            self._runs += 1
            if self._runs % CHECK_EVERY == 0 and not self._session_empty():
                self._poison()
            return fired

    def firings(self, fired: list[Fired], facts: Mapping[str, Value]) -> list[Firing]:
        """Firings with the facts each matched; ``facts``: findings and scores (derived names are true)."""
        labels = self._labels
        out = []
        for rule_index, branches in fired:
            alternatives = labels.get(rule_index)
            if alternatives is None:  # worked out for the rules that fire, the first time they do
                alternatives = labels[rule_index] = rule_labels(self.program.rules[rule_index])
            if len(branches) == 1:
                matched = {
                    label: True if name is None else facts.get(name, True) for label, name in alternatives[branches[0]]
                }
            else:
                matched = {}
                for branch in branches:
                    for label, name in alternatives[branch]:
                        matched[label] = True if name is None else facts.get(name, True)
            out.append(Firing(rule_index, matched))
        return out

    def _run(self, handles: list[int], facts: Mapping[str, Value]) -> list[Fired]:
        tables = self.tables
        prefixes, true_parts, anchored, unanchored = (
            tables.prefixes,
            tables.true_parts,
            tables.anchored,
            tables.unanchored,
        )
        falsified = self._falsified(facts)
        present: set[str] = set()
        parts: list[tuple[str, str]] = []  # (name, '"x3":value') in a canonical order: findings sorted, then derived
        candidates: dict[int, list[tuple[Need, ...]]] = {}

        def add(name: str, value: Value) -> None:
            prefix = prefixes.get(name)
            if prefix is None:  # no rule tests it
                return
            present.add(name)
            parts.append((name, true_parts[name] if value is True else prefix + _encode(value)))
            for shard, needs in anchored.get(name, ()):
                candidates.setdefault(shard, []).append(needs)

        holding = self._answers(facts)
        for name in sorted(facts.keys() | holding if holding else facts):
            value = True if name in holding else facts[name]
            if value is not False:  # yes/no tests match only ``true``, so a "no" is never sent
                add(name, value)
        fired: dict[int, list[int]] = {}
        order: list[int] = []
        derived: set[str] = set()
        for stage in tables.stages:
            for _ in range(len(self.program.rules) + 1):  # a cyclic stage repeats while it derives
                ready = []
                for shard in stage.shards:
                    if shard in candidates or unanchored[shard]:
                        names = self._fact_names(shard, candidates, present, falsified)
                        if names is not None:
                            ready.append((shard, names))
                if not ready:
                    break
                new = sorted(set(self._stage(handles, ready, parts, fired, order)) - derived)
                derived.update(new)
                for name in new:
                    add(name, True)
                if not stage.cyclic or stage.names.isdisjoint(new):
                    break
            else:
                raise EngineFault("rules kept deriving new facts; stopped to avoid a loop")
        return [(index, tuple(sorted(fired[index]))) for index in order]

    def _fact_names(
        self,
        shard: int,
        candidates: dict[int, list[tuple[Need, ...]]],
        present: set[str],
        falsified: set[str],
    ) -> set[str] | None:
        """What the shard's fact must carry: the names of every alternative that could match
        (all it tests is known, none of its 'not' atoms is false); None when none could."""
        names: set[str] = set()
        for needs in candidates.get(shard, ()):
            for need, complements in needs:
                if need <= present and complements.isdisjoint(falsified):
                    names |= need
                    names |= complements
        for complements in self.tables.unanchored[shard]:
            if complements.isdisjoint(falsified):
                names |= complements
        return names or None  # every alternative tests something: an empty set means none could match

    def _stage(
        self,
        handles: list[int],
        ready: list[tuple[int, set[str]]],
        parts: list[tuple[str, str]],
        fired: dict[int, list[int]],
        order: list[int],
    ) -> list[str]:
        """Assert the ready shards' facts, fire what they match, retract them; returns the names derived."""
        true_parts = self.tables.true_parts
        asserted: list[tuple[int, int]] = []  # (handle, state)
        for shard, names in ready:
            # the complements named hold (none is falsified), then the known names in canonical order
            body = [true_parts[name] for name in sorted(names) if name[0] == "!"]
            body.extend(part for name, part in parts if name in names)
            asserted.append((handles[shard], self._assert(handles[shard], "{" + ",".join(body))))
        derived: list[str] = []
        fire_info = self.tables.fire_info
        for handle, state in asserted:
            result = core.start_action_for_state(handle, state)
            while result:
                message = result if isinstance(result, str) else result[1]
                durable_name = message[2 : message.index('"', 2)]  # the action's name: '{"r3b0":{...}}'
                found = fire_info.get(durable_name)
                if found is None:
                    raise EngineFault(f"durable_rules fired an unknown rule {durable_name!r}")
                rule_index, branch_index, outputs = found
                branches = fired.get(rule_index)
                if branches is None:
                    fired[rule_index] = [branch_index]
                    order.append(rule_index)
                    derived.extend(outputs)
                elif branch_index not in branches:  # another alternative of the rule
                    branches.append(branch_index)
                result = core.complete_and_start_action(handle, state)
        for handle, message in self._asserted:
            core.retract_fact(handle, message)
        self._asserted.clear()
        return derived

    def _assert(self, handle: int, body: str) -> int:
        message = body + _TAIL + "}"
        for nonce in range(1, _NONCE_RETRIES + 1):
            code, state = core.assert_fact(handle, message)
            if code != _OBSERVED:
                break
            # durable_rules issue #376: a distinct fact taken for a duplicate by its hash
            message = f'{body}{_TAIL},"n":{nonce}}}'
        else:
            raise EngineFault("durable_rules kept rejecting a case fact as a duplicate")
        if code not in (_HANDLED, _NOT_HANDLED):
            raise EngineFault(f"durable_rules answered code {code} for a case fact")
        self._asserted.append((handle, message))
        self._used.add(handle)
        return int(state)

    def _answers(self, facts: Mapping[str, Value]) -> set[str]:
        """Each ``x is no`` / ``x is recorded`` name that holds (only recorded findings can)."""
        answers = self.tables.answers
        return {answer for name in facts for answer, atom in answers.get(name, ()) if evaluate(atom, facts.get)}

    def _falsified(self, facts: Mapping[str, Value]) -> set[str]:
        """The complements whose atom is true here: every other complement property holds."""
        negations = self.tables.negations
        return {
            complement for name in facts for complement, atom in negations.get(name, ()) if evaluate(atom, facts.get)
        }

    def _session_empty(self) -> bool:
        try:
            return all(core.get_facts(handle, SESSION_ID) == "[]" for handle in self._used)
        except core.error:
            return False

    def _poison(self) -> None:
        """After a fault the C rulesets may hold stale facts or actions: start afresh next time.

        Nothing is retracted first: a session with actions still pending is what crashed
        durable_rules in delete_state, so a faulted one is left alone."""
        self._asserted.clear()
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


__all__ = ["DurableRunner", "to_json"]
