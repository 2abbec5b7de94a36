"""A lean driver of durable_rules' C core (``durable_rules_engine``).

It never uses ``durable.engine.Host``: no background timer threads, no Python
action callbacks whose exceptions get swallowed, no batch asserts. Assessments
run one at a time under a lock (the C core has none) in a single session id.

It never calls ``delete_state``: measured here, deleting a session that holds a
partly matched rule (or never completed an action) frees an invalid pointer and
kills the process, depending on heap layout. Instead every fact asserted for a
case is retracted, byte for byte, when the case is done, and the session is
checked to be empty; if it is not, the C rulesets are rebuilt.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from typing import Any

import durable_rules_engine as core

from . import condition
from .compiler import Program
from .errors import EngineFault
from .firing import Firing
from .vocabulary import Value

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


class DurableRunner:
    """Runs a compiled Program on durable_rules; one instance per engine."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._lock = threading.Lock()
        self._handles: list[int] | None = None

    def _ensure_handles(self) -> list[int]:
        if self._handles is None:
            handles = []
            try:
                for shard in self.program.shards:
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

    def run(self, facts: Mapping[str, Value], complements: list[str]) -> list[Firing]:
        """Assert the case's facts, fire rules to a fixpoint, return the firings in order."""
        with self._lock:
            handles = self._ensure_handles()
            session = _Session(self.program, handles, SESSION_ID)
            try:
                return session.run(facts, complements)
            except core.error as exc:
                self._poison()
                raise EngineFault(f"durable_rules failed: {exc}") from exc
            except EngineFault:
                self._poison()
                raise
            finally:
                if self._handles is not None and not session.clear():
                    self._poison()

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
    def __init__(self, program: Program, handles: list[int], sid: str) -> None:
        self.program = program
        self.handles = handles
        self.sid = sid
        self.states: list[int | None] = [None] * len(handles)
        self.asserted: set[str] = set()
        self.messages: list[tuple[int, str]] = []  # (handle, exact JSON) to retract afterwards
        self.firings: dict[int, Firing] = {}
        self.order: list[int] = []
        self.budget = len(program.durable_names) + 1

    def run(self, facts: Mapping[str, Value], complements: list[str]) -> list[Firing]:
        for name in sorted(facts):  # a canonical order: same result whatever the input order
            # patterns test only {"f": name} for yes/no facts, so a "no" is never asserted
            if name in self.program.input_names and facts[name] is not False:
                self._assert(name, facts[name])
        for name in sorted(complements):
            self._assert(name, True)
        progress = True
        while progress:
            progress = False
            for index, handle in enumerate(self.handles):
                state = self.states[index]
                if state is None:
                    continue
                result = core.start_action_for_state(handle, state)
                while result:
                    progress = True
                    message = result if isinstance(result, str) else result[1]
                    self._fire(json.loads(message))
                    result = core.complete_and_start_action(handle, state)
        return [self.firings[i] for i in self.order]

    def _fire(self, message: dict[str, Any]) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise EngineFault("more rule firings than the rules allow; stopped to avoid a loop")
        for durable_name, frame in message.items():
            rule_index = self.program.durable_names.get(durable_name)
            if rule_index is None:
                raise EngineFault(f"durable_rules fired an unknown rule {durable_name!r}")
            matched = {self._label(fact): fact.get("v", True) for fact in frame.values()}
            known = self.firings.get(rule_index)
            if known is not None:  # another alternative of the same rule
                known.matched.update(matched)
                continue
            self.firings[rule_index] = Firing(rule_index, matched)
            self.order.append(rule_index)
            for name in self.program.rules[rule_index].outputs:
                self._assert(name, True)

    def _assert(self, name: str, value: Value) -> None:
        if name in self.asserted:
            return
        self.asserted.add(name)
        for index, handle in enumerate(self.handles):
            if name not in self.program.shards[index].names:
                continue
            fact: dict[str, Any] = {"sid": self.sid, "f": name, "v": value}
            for nonce in range(_NONCE_RETRIES):
                message = to_json(fact)
                code, state = core.assert_fact(handle, message)
                if code != _OBSERVED:
                    self.messages.append((handle, message))
                    break
                # durable_rules issue #376: a distinct fact taken for a duplicate by its hash
                fact["n"] = nonce + 1
            else:
                raise EngineFault(f"durable_rules kept rejecting fact {name!r} as a duplicate")
            if code not in (_HANDLED, _NOT_HANDLED):
                raise EngineFault(f"durable_rules answered code {code} for fact {name!r}")
            if self.states[index] is None:
                self.states[index] = state

    def _label(self, fact: Mapping[str, Any]) -> str:
        name = str(fact.get("f", "?"))
        atom = self.program.complements.get(name)
        return "not " + condition.to_text(atom) if atom is not None else name

    def clear(self) -> bool:
        """Retract what this case asserted; True when the session is empty again."""
        try:
            for handle, message in reversed(self.messages):
                core.retract_fact(handle, message)
            return all(
                core.get_facts(handle, self.sid) == "[]"
                for handle, state in zip(self.handles, self.states, strict=True)
                if state is not None
            )
        except core.error:
            return False


__all__ = ["DurableRunner", "to_json"]
