"""The engine: plugins and rulesets in, assessments out."""

from __future__ import annotations

import gc
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from calfrules._version import __version__
from calfrules.engine import policy
from calfrules.engine.assessment import Assessment
from calfrules.engine.compile import compile_registry
from calfrules.engine.outcome_plan import plan_for
from calfrules.engine.pipeline import Pipeline, RunOutput
from calfrules.engine.screening import SCREEN_POLICIES, ScreenPolicy
from calfrules.knowledge import installed
from calfrules.knowledge.case import Case, parse_case
from calfrules.knowledge.plugin_host import FAILED, PluginInfo, create_host, declared_rulesets
from calfrules.knowledge.registry import Registry, RulesetEntry, build_registry
from calfrules.rules.errors import CalfrulesError, CaseError, EngineFault, RulesetError
from calfrules.rules.model import Ruleset
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value, Vocabulary

if TYPE_CHECKING:  # imported when used: an in-process engine needs neither at start-up
    from calfrules.engine.isolation import IsolatedRunner

Evaluator = Literal["durable", "oracle"]
Isolation = Literal["process", "none"]


class AuditSink(Protocol):
    """Where an engine records its assessments (``calfrules.audit.AuditStore`` is one)."""

    def record(self, *, case: Any, assessment: Any, channel: str = "api", request_id: str | None = None) -> str: ...


class Engine:
    """Assesses cases with every loaded plugin and ruleset. Thread-safe.

    Build one with :func:`load_engine`; reuse it for many cases.
    """

    def __init__(
        self,
        registry: Registry,
        program: Program,
        *,
        isolation: Isolation = "process",
        timeout: float = 5.0,
        audit: AuditSink | None = None,
        screen: ScreenPolicy = "prompt",
    ) -> None:
        self.registry = registry
        self.program = program
        self.isolation = isolation
        self.screen = check_screen_policy(screen)
        # when set, every assessment is recorded there (`calfrules.audit.open_audit(...)`)
        self.audit = audit
        self.audit_channel = "api"
        self._pipeline = Pipeline(program, registry.derivers)
        self._runner: Pipeline | IsolatedRunner
        if isolation == "process":
            from calfrules.engine.isolation import IsolatedRunner

            self._runner = IsolatedRunner(self._pipeline, timeout)
        else:
            self._runner = self._pipeline
        self._runner.warm_up()
        if isolation == "process":
            # the outcome's plan, needed by the first assessment, is made here while the just
            # forked engine child builds its rulesets: on two cores a cold assess waits less
            plan_for(program, registry.vocabulary)
        self._provenance = self._make_provenance()
        # what each score is built from, for the policy's 'used' findings: fixed per engine
        self._score_inputs = {deriver.id: deriver.inputs for deriver, _ in registry.derivers.values()}

    # --- what is loaded ---------------------------------------------------------
    @property
    def vocabulary(self) -> Vocabulary:
        return self.registry.vocabulary

    @property
    def rulesets(self) -> list[RulesetEntry]:
        return list(self.registry.rulesets)

    @property
    def plugins(self) -> list[PluginInfo]:
        return list(self.registry.plugins)

    @property
    def problems(self) -> list[str]:
        """Everything refused or broken while loading, as sentences."""
        return [*self.registry.problems, *(str(e) for e in self.program.errors)]

    def ruleset(self, ruleset_id: str) -> Ruleset | None:
        entry = self.registry.ruleset(ruleset_id)
        return entry.ruleset if entry else None

    # --- assessing --------------------------------------------------------------
    def parse_case(self, data: object) -> Case:
        try:
            return parse_case(data, self.vocabulary)
        except CaseError as exc:
            raise missing_pack_error(exc, data, self.registry) from None

    def assess(
        self, case: Mapping[str, Any] | Case, *, evaluator: Evaluator = "durable", record: bool = True
    ) -> Assessment:
        """Assess one case. Raises CaseError for bad input; never under-triages on failure.

        With an audit store (``load_engine(audit=...)``), the assessment is recorded before it
        is returned (``record=False`` skips that, for what-if runs such as replay); a failed
        write raises AuditError rather than leaving an assessment unrecorded.
        """
        parsed = self.parse_case(case)
        assessment = self._assess(parsed, evaluator)
        if record and self.audit is not None:
            self.audit.record(case=parsed.to_dict(), assessment=assessment, channel=self.audit_channel)
        return assessment

    def assess_many(
        self, cases: Sequence[Mapping[str, Any] | Case], *, evaluator: Evaluator = "durable", record: bool = True
    ) -> list[Assessment | Exception]:
        """Assess several cases as ``assess`` would, each case's answer in its place: its assessment,
        or the exception assessing it raised (CaseError for bad input, AuditError for a failed audit
        write). In process isolation the rules run for many cases per round trip to the engine child
        (batch work, replay)."""
        parsed: list[Case | CalfrulesError] = []
        for case in cases:
            try:
                parsed.append(self.parse_case(case))
            except CalfrulesError as exc:
                parsed.append(exc)
        valid = [p for p in parsed if isinstance(p, Case)]
        outputs = iter(self._runner.run_many([p.findings for p in valid]) if evaluator == "durable" else [])
        results: list[Assessment | Exception] = []
        for item in parsed:
            if isinstance(item, CalfrulesError):
                results.append(item)
                continue
            try:
                assessment = self._assess(item, evaluator, next(outputs) if evaluator == "durable" else None)
                if record and self.audit is not None:
                    self.audit.record(case=item.to_dict(), assessment=assessment, channel=self.audit_channel)
            except Exception as exc:  # this case's own failure; the others stand
                results.append(exc)
            else:
                results.append(assessment)
        return results

    def _assess(self, parsed: Case, evaluator: Evaluator, ran: RunOutput | EngineFault | None = None) -> Assessment:
        try:
            if ran is None:
                ran = self._oracle(parsed.findings) if evaluator == "oracle" else self._runner.run(parsed.findings)
            elif isinstance(ran, EngineFault):
                raise ran
            output = ran
        except EngineFault as exc:
            output = RunOutput(problems=[f"{exc}; only the red-flag floor was applied"])
        # the findings themselves when nothing was scored (the policy reads them, never changes them)
        known = {**parsed.findings, **{s.id: s.value for s in output.scores}} if output.scores else parsed.findings
        incomplete = [*output.problems, *self._load_failures()]
        firings = output.firings
        run = policy.RunInput(
            findings=parsed.findings,
            known=known,
            scores=output.scores,
            firings=firings,
            incomplete=incomplete,
            warnings=self.problems,  # a new list each time
            case_id=parsed.id,
            provenance={**self._provenance, "evaluator": evaluator, "screen": self.screen},
            screen_policy=self.screen,
            score_inputs=self._score_inputs,
        )
        return policy.build(self.program, self.vocabulary, run)

    def _oracle(self, findings: Mapping[str, Value]) -> RunOutput:
        """The independent evaluator: same plugin scores, rules fired by plain Python."""
        from calfrules.engine import oracle

        output, known = self._pipeline.scores(findings)
        output.firings = oracle.run(self.program, known)
        return output

    def refused_rulesets(self) -> dict[str, str]:
        """Loaded rulesets none of whose rules compiled, each with the first reason."""
        compiled = {rule.ruleset.id for rule in self.program.rules}
        refused: dict[str, str] = {}
        for entry in self.registry.rulesets:
            reasons = [str(e) for e in self.program.errors if e.source and e.source == entry.ruleset.source]
            if entry.ruleset.rules and entry.ruleset.id not in compiled and reasons:
                refused[entry.ruleset.id] = reasons[0]
        return refused

    def _load_failures(self) -> list[str]:
        """Knowledge that should be here and is not: a failed plugin, a plugin's refused contribution.

        A pack counts as much as a built-in: a case it should have assessed is assessed
        without it, so the fail-safe applies (higher level, marked incomplete).
        """
        failures = []
        for p in self.registry.plugins:
            whose = "built-in plugin" if p.builtin else "plugin"
            if p.status == FAILED:
                failures.append(f"{whose} {p.name} is not working, so its knowledge is missing ({p.error})")
            elif p.problems:
                more = f" (and {len(p.problems) - 1} more)" if len(p.problems) > 1 else ""
                failures.append(
                    f"{whose} {p.name} is loaded with problems, so part of its knowledge is missing: "
                    f"{p.problems[0]}{more}"
                )
        if not self.program.rules:  # every plugin blocked, not allowed or failed, and no ruleset file
            failures.append("no rules are loaded: no plugin or ruleset file contributed a rule")
        return failures

    # --- provenance -------------------------------------------------------------
    def _make_provenance(self) -> dict[str, Any]:
        return {
            "engine": "calfrules",
            "engine_version": __version__,
            "durable_rules_version": _dist_version("durable_rules"),
            "python": platform.python_version(),
            "rulesets": [
                {
                    "id": e.ruleset.id,
                    "version": e.ruleset.version,
                    "hash": e.hash,
                    "plugin": e.plugin,
                    "source": e.ruleset.source,
                    "replaces_plugin": e.replaced,
                }
                for e in self.registry.rulesets
            ],
            "plugins": [{"name": p.name, "version": p.version, "status": p.status} for p in self.registry.plugins],
        }

    def close(self) -> None:
        """Free durable_rules' memory for this engine."""
        self._runner.close()
        self._pipeline.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dist_version(name: str) -> str | None:
    return installed.version(name)


def load_engine(
    *,
    rulesets: Iterable[str | os.PathLike[str] | Ruleset] = (),
    plugins: Iterable[object] = (),
    entry_points: bool = True,
    allow: Iterable[str] | None = None,
    block: Iterable[str] = (),
    strict: bool = False,
    isolation: Isolation = "process",
    timeout: float = 5.0,
    audit: AuditSink | None = None,
    screen: ScreenPolicy = "prompt",
) -> Engine:
    """Load plugins (built-in and installed packs) and ruleset files, compile, and return an Engine.

    - ``rulesets``: extra ruleset files (or Ruleset objects); one with the id of a
      plugin's ruleset replaces it (the plugin's floor entries stay).
    - ``plugins``: plugin objects or modules to register directly (tests, embedding).
    - ``entry_points``: load installed packs from the ``calfrules`` entry-point group (the
      built-in plugins are registered by name, whatever this says).
    - ``allow`` / ``block``: plugin names to keep / drop (also $CALFRULES_PLUGINS,
      $CALFRULES_BLOCK_PLUGINS); a name that matches no plugin raises PluginError, and
      the core (vocabulary, red-flag floor and screen, Wells score) cannot be blocked.
    - ``strict``: raise on the first ruleset error instead of reporting and skipping.
    - ``isolation``: ``"process"`` (default) runs durable_rules in a child process, so a
      hang (past ``timeout`` seconds) or a crash fails safe instead of taking the caller
      down; ``"none"`` runs it in this process, faster, for trusted batch work.
    - ``audit``: a store from ``calfrules.audit.open_audit(...)``; every assessment is recorded there.
    - ``screen``: the red-flag screen policy. ``"prompt"`` (default, for clinicians) lists the
      unanswered screening questions and leaves the level as it is; ``"require"`` (self-triage,
      patient-facing use) keeps the level at see_clinician or above until every question for
      the case's presenting groups is answered yes or no.
    """
    # Loading makes many long-lived objects and little garbage: collecting midway only costs
    # time (a third of compiling thousands of rules). Not over Engine(): it may start the child.
    collecting = gc.isenabled()
    gc.disable()
    try:
        host = create_host(extra_plugins=plugins, entry_points=entry_points, allow=allow, block=block)
        registry = build_registry(host, rulesets)
        program = compile_registry(registry)
    finally:
        if collecting:
            gc.enable()
    registry.hold_against_plugins(program.errors)
    if strict and (program.errors or registry.problems):
        if program.errors:
            raise program.errors[0]
        raise RulesetError(registry.problems[0])
    check_screen_policy(screen)
    return Engine(registry, program, isolation=isolation, timeout=timeout, audit=audit, screen=screen)


def missing_pack_error(error: CaseError, data: object, registry: Registry) -> CaseError:
    """A case naming findings no loaded plugin knows, while a plugin failed: say which one.

    The finding is most likely that plugin's: the error names the plugin and why it failed,
    not just a finding the vocabulary lacks.
    """
    failed = [p for p in registry.plugins if p.status == FAILED]
    findings = data.get("findings") if isinstance(data, Mapping) else None
    if not failed or not isinstance(findings, Mapping):
        return error
    unknown = [str(name) for name in findings if str(name) not in registry.vocabulary]
    for plugin in failed:
        owned = [name for declared in declared_rulesets(plugin) for name in declared.findings if name in unknown]
        if owned:
            return CaseError(
                f"unknown finding {owned[0]!r}: plugin {plugin.name}, which defines it, failed to load "
                f"({plugin.error}); fix or remove that plugin (`calfrules plugins --verbose` shows where it failed)"
            )
    if not unknown:
        return error
    names = ", ".join(p.name for p in failed)
    return CaseError(f"{error}; plugin(s) {names} failed to load, so any finding they define is unknown too")


def check_screen_policy(screen: str) -> ScreenPolicy:
    if screen not in SCREEN_POLICIES:
        raise CalfrulesError(f"unknown screen policy {screen!r}; use one of: {', '.join(SCREEN_POLICIES)}")
    return screen  # type: ignore[return-value]


__all__ = ["CalfrulesError", "Engine", "load_engine"]
