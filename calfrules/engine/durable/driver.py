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
asserted at all (tables.py); everything the driver looks up per case is built once, on
first use, and names are bits of Python ints, so a case costs a few mask operations
per alternative it touches.

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
from itertools import chain, compress
from operator import itemgetter

import durable_rules_engine as core

from calfrules.engine.durable.definitions import DurablePlan, build_plan, to_json
from calfrules.engine.durable.tables import DriverTables, Hit, Need, Shown, build_tables, shown_when_fired
from calfrules.rules.errors import EngineFault
from calfrules.rules.firing import Fired, Firing
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value

_HANDLED, _NOT_HANDLED, _OBSERVED = 0, 1, 2
_NONCE_RETRIES = 8
_ruleset_counter = itertools.count(1)
SESSION_ID = "calfrules"
_TAIL = ',"sid":' + json.dumps(SESSION_ID)
_RULE, _OUTPUTS, _FIRED = itemgetter(0), itemgetter(2), itemgetter(3)
_COMPLEMENT_TEXTS_KEPT = 4096  # complement sets recur from case to case; the cache stays bounded
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
        # the plan and tables are built on first use: an engine child builds them after the
        # fork, and a parent that only rebuilds firings (``firings``) never needs them
        self._plan: DurablePlan | None = None
        self._tables: DriverTables | None = None
        self._build_lock = threading.Lock()
        self._lock = threading.Lock()
        self._handles: list[int] | None = None
        self._asserted: list[tuple[int, str]] = []  # (handle, exact text) asserted and not yet retracted
        self._used: set[int] = set()  # handles that hold a session (get_facts refuses the others)
        self._runs = 0
        self._shown: dict[int, tuple[Shown, ...]] = {}
        self._complement_texts: dict[int, str] = {}

    @property
    def plan(self) -> DurablePlan:
        if self._plan is None:
            self._build()
        assert self._plan is not None
        return self._plan

    @property
    def tables(self) -> DriverTables:
        if self._tables is None:
            self._build()
        assert self._tables is not None
        return self._tables

    def _build(self) -> None:
        with self._build_lock:
            if self._tables is not None:
                return
            collecting = gc.isenabled()
            gc.disable()  # building the plan makes many long-lived objects and no garbage: collecting only costs
            try:
                plan = build_plan(self.program)
                tables = build_tables(self.program, plan)
            finally:
                if collecting:
                    gc.enable()
            self._plan, self._tables = plan, tables

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
        shown = self._shown
        get = facts.get  # a label with no name (a 'not') or a name not given (a derived one) shows True
        out = []
        for rule_index, branches in fired:
            alternatives = shown.get(rule_index)
            if alternatives is None:  # worked out for the rules that fire, the first time they do
                alternatives = shown[rule_index] = shown_when_fired(self.program.rules[rule_index])
            if len(branches) == 1:
                fixed, labels = alternatives[branches[0]]
                if fixed is not None:
                    matched = fixed.copy()
                else:
                    matched = {label: get(name, True) for label, name in labels}  # type: ignore[arg-type]
            else:
                matched = {}
                for branch in branches:
                    for label, name in alternatives[branch][1]:
                        matched[label] = get(name, True)  # type: ignore[arg-type]
            out.append(Firing(rule_index, matched))
        return out

    def _run(self, handles: list[int], facts: Mapping[str, Value]) -> list[Fired]:
        tables = self.tables
        entries = tables.names
        falsified = 0  # mask of the complements whose atom is true here (every other one holds)
        holding: list[str] = []  # each 'x is no' / 'x is recorded' name that holds
        pre_checks = tables.pre_checks
        for name in facts.keys() & pre_checks.keys():
            when_yes, checks = pre_checks[name]
            if facts[name] is True:
                falsified |= when_yes
            for bit, answer, check in checks:
                if check(facts.get):
                    if answer is None:
                        falsified |= bit
                    else:
                        holding.append(answer)
        present = 0  # mask of the names known
        # the known names' bits and '"x3":value' parts, in a canonical order: findings sorted, then derived
        part_bits: list[int] = []
        part_texts: list[str] = []
        # per stage, the alternatives anchored on a known name
        pending: list[list[Need]] = list(map(list, tables.no_needs))
        for name in sorted(facts.keys() | holding) if holding else sorted(facts):
            value = facts.get(name, True)  # an answer name is never a finding
            entry = entries.get(name)
            # a "no" is never sent (yes/no tests match only ``true``), nor a name no rule tests
            if value is False or entry is None:
                continue
            bit, prefix, true_part, anchored = entry
            present |= bit
            part_bits.append(bit)
            part_texts.append(true_part if value is True else prefix + _encode(value))
            for stage_number, filed in anchored:
                pending[stage_number] += filed
        hits: list[Hit] = []  # as durable_rules fired them
        derived: set[str] = set()
        complement_mask = tables.complements
        complement_texts = self._complement_texts
        fire_info = tables.fire_info
        asserted = self._asserted
        used = self._used
        for stage, candidates in zip(tables.stages, pending, strict=True):
            if not candidates and not stage.unanchored:
                continue
            for _ in range(len(self.program.rules) + 1):  # a cyclic stage repeats while it derives
                # what each shard's fact must carry: the names of every alternative that could
                # match (all it tests is known, none of its 'not' atoms is false)
                masks: dict[int, int] = {}
                for shard, need, complements in candidates:
                    if need & present == need and not complements & falsified:
                        masks[shard] = masks.get(shard, 0) | need | complements
                for shard, complements in stage.unanchored:
                    if not complements & falsified:
                        masks[shard] = masks.get(shard, 0) | complements
                if not masks:  # every alternative tests something: nothing carried means none could match
                    break
                states: list[tuple[int, int]] = []  # (handle, state)
                assert_fact = core.assert_fact
                for shard, mask in sorted(masks.items()):
                    # the complements named hold (none is falsified), then the known names in canonical order
                    known = ",".join(compress(part_texts, map(mask.__and__, part_bits)))
                    held = complement_texts.get(mask & complement_mask)
                    if held is None:
                        held = self._complement_text(mask & complement_mask)
                    handle = handles[shard]
                    message: str = "{" + (held + "," + known if held and known else held or known) + _TAIL + "}"
                    code, state = assert_fact(handle, message)
                    if code != _HANDLED and code != _NOT_HANDLED:
                        message, state = self._assert_again(handle, message[: -len(_TAIL) - 1], code)
                    asserted.append((handle, message))
                    states.append((handle, state))
                    used.add(handle)
                names: list[str] = []  # the durable rule names of the actions, in order
                start, complete = core.start_action_for_state, core.complete_and_start_action
                for handle, state in states:
                    started = start(handle, state)  # (the state as JSON, the first action) or None
                    action: str | None = started[1] if started else None
                    while action:
                        names.append(action[2 : action.index('"', 2)])  # the action's name: '{"r3b0":{...}}'
                        action = complete(handle, state)  # the next action, or None
                retract = core.retract_fact
                for handle, message in asserted:
                    retract(handle, message)
                asserted.clear()
                try:
                    new_hits = list(map(fire_info.__getitem__, names))
                except KeyError as exc:
                    raise EngineFault(f"durable_rules fired an unknown rule {exc}") from None
                hits += new_hits
                new_names = set(chain.from_iterable(map(_OUTPUTS, new_hits))) - derived
                if not new_names:
                    break
                derived.update(new_names)
                new_mask = 0
                for name in sorted(new_names):
                    entry = entries.get(name)
                    if entry is not None:
                        bit, _, true_part, anchored = entry
                        present |= bit
                        new_mask |= bit
                        part_bits.append(bit)
                        part_texts.append(true_part)
                        for later, filed in anchored:
                            pending[later] += filed
                if not stage.cyclic or not stage.names & new_mask:
                    break
            else:
                raise EngineFault("rules kept deriving new facts; stopped to avoid a loop")
        if len(set(map(_RULE, hits))) == len(hits):  # each rule fired once, by one alternative
            return list(map(_FIRED, hits))
        fired: dict[int, list[int]] = {}  # in the order the rules first fired
        for rule_index, branch_index, _, _ in hits:
            branches = fired.get(rule_index)
            if branches is None:
                fired[rule_index] = [branch_index]
            elif branch_index not in branches:  # another alternative of the rule
                branches.append(branch_index)
        return [(index, tuple(sorted(branches))) for index, branches in fired.items()]

    def _complement_text(self, mask: int) -> str:
        """The parts of the complements in ``mask``, in name order (bit order), joined."""
        text = self._complement_texts.get(mask)
        if text is None:
            held = []
            rest = mask
            while rest:
                lowest = rest & -rest
                held.append(self.tables.complement_parts[lowest.bit_length() - 1])
                rest ^= lowest
            text = ",".join(held)
            if len(self._complement_texts) < _COMPLEMENT_TEXTS_KEPT:
                self._complement_texts[mask] = text
        return text

    def _assert_again(self, handle: int, body: str, code: int) -> tuple[str, int]:
        """A fact durable_rules did not take: retried with a nonce when taken for a duplicate."""
        for nonce in range(1, _NONCE_RETRIES + 1):
            if code != _OBSERVED:
                break
            # durable_rules issue #376: a distinct fact taken for a duplicate by its hash
            message = f'{body}{_TAIL},"n":{nonce}}}'
            code, state = core.assert_fact(handle, message)
        else:
            raise EngineFault("durable_rules kept rejecting a case fact as a duplicate")
        if code not in (_HANDLED, _NOT_HANDLED):
            raise EngineFault(f"durable_rules answered code {code} for a case fact")
        return message, int(state)

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
