"""Everything the plugins and ruleset files contribute, gathered and checked."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from calfrules.knowledge import builtin, hookspecs, ruleset_io
from calfrules.knowledge.derivers import Deriver
from calfrules.knowledge.floor import Floor, resolve_sources
from calfrules.knowledge.plugin_host import ACTIVE, PluginHost, PluginInfo
from calfrules.knowledge.screen import Screen
from calfrules.rules.errors import CalfrulesError, PluginError, RulesetError
from calfrules.rules.model import FloorEntry, Ruleset, Source
from calfrules.rules.vocabulary import Finding, Vocabulary

# how a plugin's floor entries and screen groups name where they came from
_PLUGIN_ORIGIN = re.compile(r"plugin (\S+)")


@dataclass
class RulesetEntry:
    """A loaded ruleset, the plugin it came from and its content hash."""

    ruleset: Ruleset
    plugin: str | None  # None: loaded from a file the user named
    hash: str
    replaced: str | None = None  # the plugin whose ruleset of the same id this one replaces


@dataclass
class Registry:
    """Everything the plugins contributed: vocabulary, rulesets, derivers, floor and screen."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    rulesets: list[RulesetEntry] = field(default_factory=list)
    derivers: dict[str, tuple[Deriver, str]] = field(default_factory=dict)
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)
    floor: Floor = field(default_factory=Floor)
    screen: Screen = field(default_factory=Screen)
    # the core's published source for the urgency levels (cited by the engine's own seek-care advice)
    level_source: Source | None = None
    plugins: list[PluginInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def ruleset(self, ruleset_id: str) -> RulesetEntry | None:
        return next((e for e in self.rulesets if e.ruleset.id == ruleset_id), None)

    def refuse(self, plugin: str | None, message: str) -> None:
        """A contribution was refused: listed in ``problems``, and held against its plugin."""
        self.problems.append(message)
        info = next((p for p in self.plugins if p.name == plugin and p.status in ACTIVE), None)
        if info is not None:
            info.refuse(message)

    def plugin_of(self, source: str | None) -> str | None:
        """The plugin whose ruleset (or floor entry, screen group) came from ``source``."""
        for entry in self.rulesets:
            if source and entry.plugin and source == entry.ruleset.source:
                return entry.plugin
        found = _PLUGIN_ORIGIN.match(source or "")
        return found[1] if found else None

    def hold_against_plugins(self, errors: Iterable[RulesetError]) -> None:
        """Compile errors in plugins' rulesets: each plugin that made one is loaded with problems."""
        for error in errors:
            plugin = self.plugin_of(error.source)
            info = next((p for p in self.plugins if p.name == plugin and p.status in ACTIVE), None)
            if info is not None:
                info.refuse(str(error))


def build_registry(host: PluginHost, files: Iterable[str | os.PathLike[str] | Ruleset] = ()) -> Registry:
    registry = Registry(plugins=host.plugins, problems=host.problems)
    _add_core(registry)

    def guarded(plugin: str, *, add: Callable[..., None]) -> Callable[..., None]:
        def register(*args: object) -> None:
            try:
                add(plugin, *args)
            except (CalfrulesError, ValueError, TypeError) as exc:
                registry.refuse(plugin, f"plugin {plugin}: refused: {exc}")

        return register

    # hook by hook (findings first, so every plugin's rulesets can use every plugin's findings)
    contributions: tuple[tuple[Callable[..., None], Callable[..., None]], ...] = (
        (hookspecs.calfrules_register_vocabulary, lambda p, f: _add_finding(registry, f, p)),
        (hookspecs.calfrules_register_rulesets, lambda p, r: _add_plugin_ruleset(registry, r, p)),
        (hookspecs.calfrules_register_derivers, lambda p, d: _add_deriver(registry, d, p)),
        (hookspecs.calfrules_register_texts, lambda p, i, t: _add_text(registry, i, t, p)),
        (hookspecs.calfrules_register_floor, lambda p, e: _add_floor(registry, e, p)),
    )
    for spec, add in contributions:
        host.call_each(spec, functools.partial(guarded, add=add))

    for item in files:
        try:
            ruleset = item if isinstance(item, Ruleset) else ruleset_io.load(item)
        except CalfrulesError as exc:
            registry.problems.append(str(exc))
            continue
        _add_file_ruleset(registry, ruleset)
    return registry


def _add_core(registry: Registry) -> None:
    """The vocabulary, the built-in floor and screen, and the Wells score, before any plugin runs."""
    vocabulary = builtin.core_vocabulary()
    registry.rulesets.append(RulesetEntry(vocabulary, builtin.CORE, ruleset_io.content_hash(vocabulary)))
    for finding in vocabulary.findings:
        registry.vocabulary.add(finding, builtin.CORE)
    floor_source = builtin.core_floor_source()
    for entry in floor_source.floor:
        registry.floor.add(entry, f"{builtin.CORE} ({floor_source.id} {floor_source.version})", floor_source)
    registry.level_source = next(iter(resolve_sources(floor_source, (builtin.LEVELS_REFERENCE,))), None)
    for group in floor_source.screen:
        registry.screen.add(group, f"{builtin.CORE} ({floor_source.id} {floor_source.version})")
    for deriver in builtin.core_derivers():
        registry.derivers[deriver.id] = (deriver, builtin.CORE)


def _add_finding(registry: Registry, finding: Finding, origin: str) -> None:
    if not isinstance(finding, Finding):
        raise PluginError(f"register_vocabulary expects a Finding, got {type(finding).__name__}")
    registry.vocabulary.add(finding, origin)


def _add_floor(registry: Registry, entry: FloorEntry, origin: str) -> None:
    if not isinstance(entry, FloorEntry):
        raise PluginError(f"register_floor expects a FloorEntry, got {type(entry).__name__}")
    registry.floor.add(entry, origin)


def _add_deriver(registry: Registry, deriver: Deriver, plugin: str) -> None:
    if not isinstance(deriver, Deriver):
        raise PluginError(f"register_derivers expects a Deriver, got {type(deriver).__name__}")
    if deriver.id in registry.derivers:
        raise PluginError(f"deriver {deriver.id!r} is already registered by {registry.derivers[deriver.id][1]}")
    registry.derivers[deriver.id] = (deriver, plugin)


def _add_text(registry: Registry, rec_id: str, text: str, plugin: str) -> None:
    if not (isinstance(rec_id, str) and isinstance(text, str) and text.strip()):
        raise PluginError("register_texts expects (recommendation id, non-empty text)")
    if rec_id in registry.texts:
        raise PluginError(f"text for {rec_id!r} is already registered by {registry.texts[rec_id][1]}")
    registry.texts[rec_id] = (text, plugin)


def _absorb(registry: Registry, ruleset: Ruleset, origin: str, plugin: str | None = None) -> None:
    """Take a ruleset's own findings, floor entries and screen groups into the shared registries."""
    for finding in ruleset.findings:
        try:
            registry.vocabulary.add(finding, origin)
        except ValueError as exc:
            registry.refuse(plugin, f"{origin}: refused: {exc}")
    for entry in ruleset.floor:
        try:
            registry.floor.add(entry, origin, ruleset)
        except PluginError as exc:
            registry.refuse(plugin, f"{origin}: refused: {exc}")
    for group in ruleset.screen:
        try:
            registry.screen.add(group, origin)
        except PluginError as exc:
            registry.refuse(plugin, f"{origin}: refused: {exc}")


def _add_plugin_ruleset(registry: Registry, ruleset: Ruleset, plugin: str) -> None:
    if not isinstance(ruleset, Ruleset):
        raise PluginError(f"register_rulesets expects a Ruleset, got {type(ruleset).__name__}")
    if registry.ruleset(ruleset.id):
        raise PluginError(f"ruleset id {ruleset.id!r} is already registered")
    registry.rulesets.append(RulesetEntry(ruleset, plugin, ruleset_io.content_hash(ruleset)))
    _absorb(registry, ruleset, f"plugin {plugin} ruleset {ruleset.id}", plugin)


def _add_file_ruleset(registry: Registry, ruleset: Ruleset) -> None:
    """A ruleset file replaces a plugin's ruleset of the same id; its floor entries stay."""
    entry = RulesetEntry(ruleset, None, ruleset_io.content_hash(ruleset))
    existing = registry.ruleset(ruleset.id)
    if existing is not None:
        if existing.plugin is None:
            registry.problems.append(
                f"{ruleset.source}: refused: ruleset id {ruleset.id!r} was already loaded from a file"
            )
            return
        entry.replaced = existing.plugin
        registry.rulesets[registry.rulesets.index(existing)] = entry
    else:
        registry.rulesets.append(entry)
    _absorb(registry, ruleset, ruleset.source or f"ruleset {ruleset.id}")
