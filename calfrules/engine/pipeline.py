"""One case through plugin scores and the rule engine: the part that runs isolated.

Everything here runs plugin code or durable_rules, so it is what the child process
of IsolatedRunner executes; a sleeping deriver or a hung C core is then bounded by
the same time limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from calfrules.engine.assessment import ScoreResult
from calfrules.engine.durable.driver import DurableRunner
from calfrules.knowledge.derivers import Deriver
from calfrules.rules.errors import EngineFault
from calfrules.rules.firing import Fired, Firing
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value

# a ScoreResult as plain values: (id, label, value, components, interpretation, plugin, unrecorded)
ScoreTuple = tuple[str, str, float, dict[str, float], str, str, tuple[str, ...]]
# what crosses the pipe from the engine child for one case: scores, problems, what fired
CompactOutput = tuple[list[ScoreTuple], list[str], list[Fired]]


@dataclass
class RunOutput:
    scores: list[ScoreResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)


class Pipeline:
    def __init__(self, program: Program, derivers: Mapping[str, tuple[Deriver, str]]) -> None:
        self.program = program
        self.derivers = dict(derivers)
        self.durable = DurableRunner(program)

    def warm_up(self) -> None:
        self.durable.warm_up()

    def run(self, findings: Mapping[str, Value]) -> RunOutput:
        out, known = self.scores(findings)
        try:
            out.firings = self.durable.run(known)
        except EngineFault as exc:
            out.problems.append(f"the rule engine failed ({exc}); only the red-flag floor was applied")
        return out

    def run_many(self, cases: Sequence[Mapping[str, Value]]) -> list[RunOutput | EngineFault]:
        return [self.run(findings) for findings in cases]

    def run_compact(self, findings: Mapping[str, Value]) -> CompactOutput:
        """``run`` as plain values, cheap to send whatever the number of rules (see ``expand``)."""
        out, known = self.scores(findings)
        fired: list[Fired] = []
        try:
            fired = self.durable.run_fired(known)
        except EngineFault as exc:
            out.problems.append(f"the rule engine failed ({exc}); only the red-flag floor was applied")
        scores = [(s.id, s.label, s.value, s.components, s.interpretation, s.plugin, s.unrecorded) for s in out.scores]
        return scores, out.problems, fired

    def expand(self, compact: CompactOutput, findings: Mapping[str, Value]) -> RunOutput:
        """The RunOutput ``run_compact`` stands for: firings rebuilt from the program, here."""
        scores, problems, fired = compact
        results = [ScoreResult(*score) for score in scores]
        known = {**findings, **{score.id: score.value for score in results}} if results else findings
        return RunOutput(results, list(problems), self.durable.firings(fired, known))

    def scores(self, findings: Mapping[str, Value]) -> tuple[RunOutput, dict[str, Value]]:
        """Plugin scores for a case, and the findings with the scores added."""
        results: list[ScoreResult] = []
        problems: list[str] = []
        known: dict[str, Value] = dict(findings)
        for deriver, plugin in self.derivers.values():
            try:
                score = deriver.compute(findings)
                if score is None:
                    continue
                value = float(score.value)
                if not math.isfinite(value):
                    raise ValueError(f"returned {score.value!r}")
            except Exception as exc:  # a plugin's bug: fail safe, say so
                problems.append(f"score {deriver.id} from plugin {plugin} failed: {type(exc).__name__}: {exc}")
                continue
            known[deriver.id] = value
            unrecorded = tuple([name for name in deriver.inputs if name not in findings])
            results.append(
                ScoreResult(
                    deriver.id, deriver.label, value, dict(score.components), score.interpretation, plugin, unrecorded
                )
            )
        return RunOutput(results, problems, []), known

    def close(self) -> None:
        self.durable.close()
