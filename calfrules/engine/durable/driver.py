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
from itertools import compress
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
SESSION_ID = "c"  # short: durable_rules parses it in every fact and writes it in every action
_TAIL = '"sid":' + json.dumps(SESSION_ID)  # every part before it ends in a comma
_CLOSE = _TAIL + "}"
_RULE, _FIRED = itemgetter(0), itemgetter(3)
_COMPLEMENT_TEXTS_KEPT = 4096  # complement sets recur from case to case; the cache stays bounded
_FIXED_KEPT = 8192  # firings (rule, alternatives) whose matched dict is remembered; bounded
_VARIES: dict[str, Value] = {}  # a firing whose matched values come from the case (never copied)
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
        # (handle, exact text, state) asserted and not yet retracted
        self._asserted: list[tuple[int, str, int]] = []
        self._used: set[int] = set()  # handles that hold a session (get_facts refuses the others)
        self._runs = 0
        self._shown: dict[int, tuple[Shown, ...]] = {}
        self._fixed: dict[Fired, dict[str, Value]] = {}  # a firing -> its matched dict to copy, or _VARIES
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
        fixed_of = self._fixed
        get = facts.get  # a label with no name (a 'not') or a name not given (a derived one) shows True
        out = []
        for item in fired:
            fixed = fixed_of.get(item)
            if fixed is None:  # the first time this rule fired by these alternatives
                fixed = self._fixed_matched(item)
                if len(fixed_of) < _FIXED_KEPT:
                    fixed_of[item] = fixed
            if fixed is not _VARIES:
                out.append(Firing(item[0], fixed.copy()))
                continue
            rule_index, branches = item
            alternatives = self._shown[rule_index]
            matched: dict[str, Value] = {}
            for branch in branches:
                for label, name in alternatives[branch][1]:
                    matched[label] = get(name, True)  # type: ignore[arg-type]
            out.append(Firing(rule_index, matched))
        return out

    def _fixed_matched(self, item: Fired) -> dict[str, Value]:
        """What a firing by these alternatives shows when that cannot depend on the case, else _VARIES."""
        rule_index, branches = item
        alternatives = self._shown.get(rule_index)
        if alternatives is None:
            alternatives = self._shown[rule_index] = shown_when_fired(self.program.rules[rule_index])
        if len(branches) == 1:
            fixed = alternatives[branches[0]][0]
            if fixed is not None:
                return fixed
        return _VARIES

    def _run(self, handles: list[int], facts: Mapping[str, Value]) -> list[Fired]:
        tables = self.tables
        entries = tables.names
        falsified = 0  # mask of the complements whose atom is true here (every other one holds)
        holding: list[str] = []  # each 'x is no' / 'x is recorded' name that holds
        pre_checks = tables.pre_checks
        known = 0  # mask of the names known
        # the known names' bits and '"x3":value,' parts, in the order they became known: the
        # findings and scores as given, the answers that hold, then what the rules derive (each
        # fact's text need only be the same when it is retracted; durable_rules matches in any order)
        part_bits: list[int] = []
        part_texts: list[str] = []
        # per stage, the alternatives that could match: the unanchored ones, and those anchored on a known name
        pending: list[list[Need]] = list(map(list, tables.first_needs))
        for name, value in facts.items():
            checked = pre_checks.get(name)
            if checked is not None:  # the complements it falsifies, the answers it makes
                when_yes, checks = checked
                if value is True:
                    falsified |= when_yes
                for bit, answer, check in checks:
                    if check(facts.get):
                        if answer is None:
                            falsified |= bit
                        else:
                            holding.append(answer)
            entry = entries.get(name)
            # a "no" is never sent (yes/no tests match only ``true``), nor a name no rule tests
            if value is False or entry is None:
                continue
            bit, prefix, true_part, anchored = entry
            known |= bit
            part_bits.append(bit)
            part_texts.append(true_part if value is True else prefix + _encode(value) + ",")
            for stage_number, filed in anchored:
                pending[stage_number] += filed
        for name in sorted(holding) if holding else ():  # an answer that holds is true
            answered = entries.get(name)
            if answered is None:
                continue
            bit, _, true_part, anchored = answered
            known |= bit
            part_bits.append(bit)
            part_texts.append(true_part)
            for stage_number, filed in anchored:
                pending[stage_number] += filed
        complement_mask = tables.complements
        shift = tables.shard_shift
        # the names not available to a fact: neither known nor a complement that holds (the
        # shard numbers above every name bit are never missing, so a Need's shard never fails)
        missing = ~(-1 << shift | complement_mask ^ falsified | known)
        hits: list[Hit] = []  # as durable_rules fired them
        complement_texts = self._complement_texts
        fire_info = tables.fire_info
        by_bit = tables.by_bit
        asserted = self._asserted
        used = self._used
        assert_fact, retract = core.assert_fact, core.retract_fact
        start, complete = core.start_action_for_state, core.complete_and_start_action
        rounds = range(len(self.program.rules) + 1)  # a cyclic stage repeats while it derives
        for stage, candidates in zip(tables.stages, pending, strict=True):
            if not candidates:
                continue
            for _ in rounds:
                # what each shard's fact must carry: the names of every alternative that could
                # match (all it tests is known, none of its 'not' atoms is false)
                masks: dict[int, int] = {}  # shard -> the names its fact carries (its number above them)
                for need in candidates:
                    if not need & missing:
                        shard = need >> shift
                        masks[shard] = masks.get(shard, 0) | need
                if not masks:  # every alternative tests something: nothing carried means none could match
                    break
                for shard, mask in sorted(masks.items()) if len(masks) > 1 else masks.items():
                    # '{', the complements named (none is falsified), then the known names as they became known
                    opening = complement_texts.get(mask & complement_mask)
                    if opening is None:
                        opening = self._complement_text(mask & complement_mask)
                    handle = handles[shard]
                    message = opening + "".join(compress(part_texts, map(mask.__and__, part_bits))) + _CLOSE
                    code, state = assert_fact(handle, message)
                    if code != _HANDLED and code != _NOT_HANDLED:
                        message, state = self._assert_again(handle, message[: -len(_CLOSE)], code)
                    asserted.append((handle, message, state))
                    used.add(handle)
                derives = 0  # mask of the tested names the stage's firings derive
                try:
                    for handle, _, state in asserted:
                        started = start(handle, state)  # (the state as JSON, the first action) or None
                        action: str | None = started[1] if started else None
                        while action:  # the action's name starts it: '{"r3b0":{...}}'
                            hit = fire_info[action[2 : action.index('"', 2)]]
                            hits.append(hit)
                            derives |= hit[2]
                            action = complete(handle, state)  # the next action, or None
                except KeyError as exc:
                    raise EngineFault(f"durable_rules fired an unknown rule {exc}") from None
                for handle, message, _ in asserted:
                    retract(handle, message)
                asserted.clear()
                new_names = derives & missing
                if not new_names:
                    break
                missing ^= new_names
                rest = new_names
                while rest:  # lowest bit first: name order
                    bit = rest & -rest
                    rest ^= bit
                    true_part, anchored = by_bit[bit]
                    part_bits.append(bit)
                    part_texts.append(true_part)
                    for later, filed in anchored:
                        pending[later] += filed
                if not stage.cyclic or not stage.names & new_names:
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
        """A fact's opening brace and the parts of the complements in ``mask``, in name order (bit order)."""
        text = self._complement_texts.get(mask)
        if text is None:
            held = []
            rest = mask
            while rest:
                lowest = rest & -rest
                held.append(self.tables.complement_parts[lowest.bit_length() - 1])
                rest ^= lowest
            text = "{" + "".join(held)
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
