"""The plugin host: registers the built-in plugins and installed packs, and calls their hooks.

Built-in plugins come from :data:`calfrules.knowledge.builtin.BUILTIN_PLUGINS` (as pytest's
``default_plugins``); third-party packs from the ``calfrules`` entry-point group. Hooks are
called through pluggy, one plugin per call, so each contribution is attributed to its
plugin and one that raises spoils nothing else. A plugin ends ``loaded``, ``loaded_with_problems``
(some of what it contributed was refused), ``failed``, ``blocked`` or ``not_allowed``.
"""

from __future__ import annotations

import functools
import importlib
import os
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import util
from typing import Any

import pluggy

from calfrules._version import __version__
from calfrules.knowledge import hookspecs, installed
from calfrules.knowledge.builtin import BUILTIN_PLUGIN_PACKAGE, BUILTIN_PLUGINS, CORE, CORE_CONTENTS
from calfrules.knowledge.lazy_log import logger
from calfrules.rules.errors import PluginError
from calfrules.rules.vocabulary import suggest

ENTRY_POINT_GROUP = "calfrules"
ALLOW_ENV = "CALFRULES_PLUGINS"
BLOCK_ENV = "CALFRULES_BLOCK_PLUGINS"
LOADED = "loaded"
WITH_PROBLEMS = "loaded_with_problems"
FAILED = "failed"
# a plugin in one of these states takes part: its hooks are called
ACTIVE = (LOADED, WITH_PROBLEMS)


@dataclass
class PluginInfo:
    """One plugin as `calfrules plugins` shows it: where it came from and how loading went."""

    name: str
    version: str | None
    module: str
    status: str = LOADED  # loaded | loaded_with_problems | failed | blocked | not_allowed
    error: str | None = None  # why it failed
    builtin: bool = False
    problems: list[str] = field(default_factory=list)  # contributions refused while it stayed loaded
    traceback: str | None = None  # where a failed plugin raised, as Python prints it

    @property
    def broken(self) -> bool:
        """Failed, or loaded with part of its knowledge refused: knowledge is missing."""
        return self.status in (FAILED, WITH_PROBLEMS)

    def refuse(self, message: str) -> None:
        """One of its contributions was refused; a loaded plugin becomes loaded_with_problems."""
        self.problems.append(message)
        if self.status == LOADED:
            self.status = WITH_PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "builtin": self.builtin,
            "problems": list(self.problems),
            "traceback": self.traceback,
        }


@dataclass
class PluginHost:
    """A pluggy manager plus what happened to each plugin."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def loaded(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status in ACTIVE]

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == name and p.status in (*ACTIVE, FAILED)), None)

    def call_each(self, spec: Callable[..., None], make_register: Callable[[str], Callable[..., None]]) -> None:
        """Call the hook ``spec`` declares on each plugin in turn, through pluggy.

        The order is pluggy's (tryfirst, then the others, then trylast); each call goes through
        a subset hook caller holding one plugin (plus any wrappers), so tracing and hook-call
        monitoring see it, ``register`` knows whose contribution it takes, and a plugin that
        raises is reported with where it raised while the others still run.
        """
        name = spec.__name__
        impls = getattr(self.manager.hook, name).get_hookimpls()
        wrappers = [impl for impl in impls if impl.wrapper or impl.hookwrapper]
        plain = [impl for impl in impls if impl not in wrappers]
        for impl in reversed(plain):  # get_hookimpls() lists them in reverse call order
            others = [other.plugin for other in plain if other is not impl]
            try:
                self.manager.subset_hook_caller(name, others)(register=make_register(impl.plugin_name))
            except Exception as exc:  # a plugin's bug must not stop the others
                culprit = _raising_impl(exc, [impl, *wrappers]) or impl
                self.fail(culprit.plugin_name, f"{name} raised {_explain(exc, _source_file(culprit.function))}", exc)

    def fail(self, plugin_name: str, message: str, exc: BaseException | None = None) -> None:
        info = next((i for i in self.plugins if i.name == plugin_name and i.status in ACTIVE), None)
        if info is None:  # failed before: it keeps its first error, and this one is listed too
            self.problems.append(f"plugin {plugin_name}: {message}")
        else:
            self.mark_failed(info, message, exc)

    def mark_failed(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        info.status = FAILED
        info.error = message
        if exc is not None:
            info.traceback = "".join(traceback.format_exception(exc)).rstrip()
        self.problems.append(f"plugin {info.name}: {message}")
        logger(__name__).debug("plugin %s: %s", info.name, message, exc_info=exc)


@dataclass
class _Candidate:
    """A plugin found but not yet loaded."""

    info: PluginInfo
    load: Callable[[], object]
    allow_applies: bool = True  # plugins handed over in code are kept whatever ``allow`` says


def create_host(
    *,
    extra_plugins: Iterable[object] = (),
    entry_points: bool = True,
    allow: Iterable[str] | None = None,
    block: Iterable[str] = (),
) -> PluginHost:
    """Register the built-in plugins, installed packs (``entry_points``) and ``extra_plugins``.

    ``allow`` (or $CALFRULES_PLUGINS, comma separated; empty for none) keeps only the named
    built-in plugins and packs; ``block`` (or $CALFRULES_BLOCK_PLUGINS) drops the named ones.
    The core cannot be blocked, and a name that matches no plugin raises PluginError.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    host = PluginHost(manager, [PluginInfo(CORE, __version__, "calfrules.knowledge.builtin", builtin=True)])
    packs_installed = sorted(installed.entry_points(ENTRY_POINT_GROUP), key=lambda e: e.name)
    packs = _pack_candidates(packs_installed) if entry_points else []
    candidates = [*_builtin_candidates(), *packs, *_extra_candidates(extra_plugins)]
    known = list(dict.fromkeys([CORE, *(c.info.name for c in candidates), *(ep.name for ep in packs_installed)]))
    allowed = _checked(allow, "allow", known) if allow is not None else _from_env(ALLOW_ENV, known)
    blocked = _checked(block, "block", known) | (_from_env(BLOCK_ENV, known) or set())
    if CORE in blocked:
        raise PluginError(f"plugin {CORE!r} cannot be blocked: it is {CORE_CONTENTS}, which every engine keeps")

    to_register: list[tuple[PluginInfo, object]] = []
    for candidate in candidates:
        info = candidate.info
        host.plugins.append(info)
        if info.name in blocked:
            info.status = "blocked"
            manager.set_blocked(info.name)
        elif allowed is not None and candidate.allow_applies and info.name not in allowed:
            info.status = "not_allowed"
        elif taken := next((other for other, _ in to_register if other.name == info.name), None):
            host.mark_failed(info, f"the name {info.name!r} is already taken by {taken.module}")
        else:
            plugin = _load(host, info, candidate.load)
            if plugin is not None:
                to_register.append((info, plugin))
    # pluggy calls the last registered plugin first: registering in reverse makes the hooks
    # run built-ins first (in BUILTIN_PLUGINS order), then packs by name, then extra_plugins
    for info, plugin in reversed(to_register):
        _register(host, info, plugin)
    return host


def _builtin_candidates() -> list[_Candidate]:
    return [
        _Candidate(
            PluginInfo(name, __version__, f"{BUILTIN_PLUGIN_PACKAGE}.{name}", builtin=True),
            functools.partial(importlib.import_module, f"{BUILTIN_PLUGIN_PACKAGE}.{name}"),
        )
        for name in BUILTIN_PLUGINS
    ]


def _pack_candidates(packs: Sequence[installed.EntryPoint]) -> list[_Candidate]:
    return [_Candidate(PluginInfo(ep.name, ep.version, ep.value), ep.load) for ep in packs]


def _extra_candidates(plugins: Iterable[object]) -> list[_Candidate]:
    candidates = []
    for index, plugin in enumerate(plugins):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"
        name = getattr(plugin, "calfrules_plugin_name", name)
        module = getattr(plugin, "__module__", name) or name
        info = PluginInfo(name, getattr(plugin, "__version__", None), module)
        candidates.append(_Candidate(info, functools.partial(_identity, plugin), allow_applies=False))
    return candidates


def _identity(plugin: object) -> object:
    return plugin


def _from_env(var: str, known: Sequence[str]) -> set[str] | None:
    """The names in $var (comma separated; empty for none), or None when it is not set."""
    raw = os.environ.get(var)
    if raw is None:
        return None
    return _checked((name.strip() for name in raw.split(",") if name.strip()), f"${var}", known)


def _checked(names: Iterable[str], where: str, known: Sequence[str]) -> set[str]:
    """A name that matches no plugin is a typo or a missing pack: an error, never fewer rules."""
    chosen = set(names)
    for name in sorted(chosen - set(known)):
        hint = suggest(name, known)
        tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
        raise PluginError(f"{where}: no plugin is named {name!r}{tip}; the plugins are: {', '.join(known)}")
    return chosen


def _load(host: PluginHost, info: PluginInfo, load: Callable[[], object]) -> object | None:
    try:
        return load()
    except Exception as exc:  # import errors, errors raised by the module itself
        host.mark_failed(info, f"could not load: {_explain(exc)}", exc)
        return None


def _register(host: PluginHost, info: PluginInfo, plugin: object) -> None:
    try:
        host.manager.register(plugin, name=info.name)
    except Exception as exc:  # bad hook signatures, the same object registered twice
        host.mark_failed(info, f"could not register: {type(exc).__name__}: {exc}", exc)
        return
    unknown = [
        caller.name
        for caller in host.manager.get_hookcallers(plugin) or ()
        if caller.spec is None
        and not any(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
    ]
    if unknown:  # a misspelt hook would otherwise never be called, silently
        host.manager.unregister(plugin)
        hint = suggest(unknown[0], hookspecs.HOOK_NAMES, limit=1)
        tip = f"did you mean {hint[0]}?" if hint else f"the hooks are: {', '.join(hookspecs.HOOK_NAMES)}"
        host.mark_failed(info, f"implements {unknown[0]}, which is no calfrules hook ({tip})")


def _raising_impl(exc: BaseException, called: Sequence[pluggy.HookImpl]) -> pluggy.HookImpl | None:
    """Of the implementations one call ran (a plugin's and the wrappers), the nearest to where ``exc`` was raised."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        for impl in called:
            if getattr(impl.function, "__code__", None) is frame.f_code:
                return impl
    return None


def _source_file(function: object) -> str | None:
    code = getattr(function, "__code__", None)
    return code.co_filename if code is not None else None


def _explain(exc: BaseException, home: str | None = None) -> str:
    """``Type: message (at file:line)``; with ``home`` (the plugin's file), its own line comes first."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc} (at {exc.filename}:{exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    if not frames:
        return f"{type(exc).__name__}: {exc}"
    raised = frames[-1]
    own = next((f for f in reversed(frames) if f.filename == home), raised)
    where = f"{own.filename}:{own.lineno}"
    if own is not raised:
        where += f", raised in {raised.filename}:{raised.lineno}"
    return f"{type(exc).__name__}: {exc} (at {where})"


@dataclass(frozen=True)
class DeclaredRuleset:
    """What a failed pack's ruleset file declares, read as plain TOML, without the pack's code."""

    source: str
    id: str
    findings: tuple[str, ...]
    tests: tuple[str, ...]


def declared_rulesets(info: PluginInfo, *, limit: int = 50) -> list[DeclaredRuleset]:
    """The ruleset files shipped in a plugin's package, found without importing it.

    For a plugin that failed to load: which findings and golden cases went missing with it,
    so an "unknown finding" or a skipped golden case can name the pack. Best effort: a
    file that is not a TOML table with an ``id`` is passed over.
    """
    top = info.module.split(":", 1)[0].split(".", 1)[0]
    try:
        spec = util.find_spec(top)  # finding a top-level package does not run its code
    except (ImportError, ValueError):
        return []
    from pathlib import Path  # both only for a pack with no rulesets() hook: not at start-up

    import tomli

    declared: list[DeclaredRuleset] = []
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in sorted(Path(folder).rglob("*.toml"))[:limit]:
            try:
                data = tomli.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomli.TOMLDecodeError, RecursionError, ValueError):
                continue
            findings, tests = data.get("findings"), data.get("tests")
            if not isinstance(data.get("id"), str):
                continue
            declared.append(
                DeclaredRuleset(
                    str(path),
                    data["id"],
                    tuple(str(key) for key in findings) if isinstance(findings, dict) else (),
                    tuple(
                        str(test["id"]) for test in tests if isinstance(test, dict) and isinstance(test.get("id"), str)
                    )
                    if isinstance(tests, list)
                    else (),
                )
            )
    return declared
