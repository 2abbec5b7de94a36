"""The app's checks, each in a worker: the engine rebuilt after every edit, the golden cases, the safety gate.

``CalfrulesApp`` (app.py) builds on this; the reactives here are what the screens bind to.
"""

from __future__ import annotations

import time
from dataclasses import replace

from textual import work
from textual.app import App
from textual.reactive import var

from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.model import Ruleset
from calfrules.tooling.goldens import GoldenResult, run_all
from calfrules.tooling.safety import check_engine
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.checks import Checks, by_ruleset
from calfrules.tui.names import KnownNames
from calfrules.tui.workspace import Workspace


class CheckingApp(App[None]):
    """Owns the workspace and what the app last learned about it."""

    current: var[str] = var("")  # the ruleset the main screen shows
    engine: var[Engine | None] = var(None)  # rebuilt, in a worker, after every edit
    checks: var[Checks] = var(Checks)  # engine problems, golden results, safety gate
    revision: var[int] = var(0)  # counts edits to the workspace: screens showing it refresh on it

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.names = KnownNames()

    @property
    def browse(self) -> BrowseScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, BrowseScreen)), None)

    # --- the engine (rebuilt after every edit, in a worker) --------------------------------
    def refresh_engine(self) -> None:
        self._build_engine(self.workspace.file_rulesets())

    @work(thread=True, exclusive=True, group="engine")
    def _build_engine(self, rulesets: list[Ruleset]) -> None:
        try:
            engine = load_engine(rulesets=rulesets, isolation="process")
            started = time.perf_counter()
            results = run_all(engine)
            seconds = time.perf_counter() - started
        except Exception as exc:
            self.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error", title="Engine")
            return
        self.call_from_thread(self._engine_ready, engine, results, seconds)

    def _engine_ready(self, engine: Engine, results: list[GoldenResult], seconds: float) -> None:
        old, self.engine = self.engine, engine
        self.names = KnownNames.from_engine(engine)
        self.checks = replace(
            self.checks, problems=tuple(engine.problems), golden=by_ruleset(results), golden_seconds=seconds
        )
        if old is not None:
            old.close()

    def action_run_goldens(self) -> None:
        if self.engine is None:
            self.notify("The engine is still loading.", severity="warning")
            return
        self._run_goldens(self.engine)

    @work(thread=True, exclusive=True, group="goldens")
    def _run_goldens(self, engine: Engine) -> None:
        started = time.perf_counter()
        try:
            results = run_all(engine)
        except Exception as exc:
            self.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error")
            return
        seconds = time.perf_counter() - started
        self.call_from_thread(self._goldens_done, results, seconds)

    def _goldens_done(self, results: list[GoldenResult], seconds: float) -> None:
        self.checks = replace(self.checks, golden=by_ruleset(results), golden_seconds=seconds)
        if self.browse is not None:
            self.browse.show_tab("tab-golden")
        mine = self.checks.golden.get(self.current, ())
        failed = sum(not r.passed for r in mine)
        self.notify(
            f"{self.current}: {len(mine) - failed} pass, {failed} fail ({seconds * 1000:.0f} ms, all rulesets)",
            severity="error" if failed else "information",
            title="Golden cases",
        )

    def action_safety_check(self) -> None:
        if self.engine is None:
            return
        self.checks = replace(self.checks, safety="running…")
        self._run_safety(self.engine)

    @work(thread=True, exclusive=True, group="safety")
    def _run_safety(self, engine: Engine) -> None:
        try:
            report = check_engine(engine)
        except Exception as exc:
            self.call_from_thread(self._safety_done, f"could not run: {type(exc).__name__}: {exc}")
            return
        if report.ok:
            status = f"passed ({report.cases_tried} cases, {report.seconds:.1f} s)"
        else:
            status = "FAILED: " + report.violations[0]["message"]
        self.call_from_thread(self._safety_done, status)

    def _safety_done(self, status: str) -> None:
        self.checks = replace(self.checks, safety=status)
        self.notify(status, title="Safety gate", severity="information" if status.startswith("passed") else "error")
