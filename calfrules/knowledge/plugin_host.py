"""The plugin host: finds plugins by entry point, isolates each one, collects contributions."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from calfrules.knowledge import hookspecs

ENTRY_POINT_GROUP = "calfrules"
ALLOW_ENV = "CALFRULES_PLUGINS"
BLOCK_ENV = "CALFRULES_BLOCK_PLUGINS"


@dataclass
class PluginInfo:
    name: str
    version: str | None
    module: str
    status: str = "loaded"  # loaded | failed | blocked | not_allowed
    error: str | None = None
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "builtin": self.builtin,
        }


@dataclass
class PluginHost:
    """A pluggy manager plus what happened to each plugin."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def loaded(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "loaded"]

    def call_each(self, hook_name: str, make_register: Callable[[str], Callable[..., None]]) -> None:
        """Call one hook on every plugin separately, so one that raises spoils nothing else."""
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order
            plugin_name = impl.plugin_name
            try:
                impl.function(register=make_register(plugin_name))
            except Exception as exc:  # a plugin's bug must not stop the others
                self.fail(plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}")

    def fail(self, plugin_name: str, message: str) -> None:
        self.problems.append(f"plugin {plugin_name}: {message}")
        for info in self.plugins:
            if info.name == plugin_name and info.status == "loaded":
                info.status = "failed"
                info.error = message


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def create_host(
    *,
    extra_plugins: Iterable[object] = (),
    entry_points: bool = True,
    allow: Iterable[str] | None = None,
    block: Iterable[str] = (),
) -> PluginHost:
    """Load plugins from entry points (built-in and third-party alike) and ``extra_plugins``.

    ``allow`` (or $CALFRULES_PLUGINS, comma separated) keeps only the named plugins;
    ``block`` (or $CALFRULES_BLOCK_PLUGINS) drops the named ones.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    host = PluginHost(manager)
    allowed = set(allow) if allow is not None else _names_from_env(ALLOW_ENV)
    blocked = set(block) | (_names_from_env(BLOCK_ENV) or set())

    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            version = ep.dist.version if ep.dist else None
            info = PluginInfo(ep.name, version, ep.value, builtin=ep.value.startswith("calfrules."))
            host.plugins.append(info)
            if ep.name in blocked:
                info.status = "blocked"
                continue
            if allowed is not None and ep.name not in allowed:
                info.status = "not_allowed"
                continue
            _register(host, info, ep.load)

    for index, plugin in enumerate(extra_plugins):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"
        name = getattr(plugin, "calfrules_plugin_name", name)
        info = PluginInfo(name, getattr(plugin, "__version__", None), getattr(plugin, "__module__", name) or name)
        host.plugins.append(info)
        if name in blocked:
            info.status = "blocked"
            continue
        _register(host, info, functools.partial(_identity, plugin))
    return host


def _identity(plugin: object) -> object:
    return plugin


def _register(host: PluginHost, info: PluginInfo, load: Callable[[], object]) -> None:
    try:
        plugin = load()
        host.manager.register(plugin, name=info.name)
    except Exception as exc:  # import errors, bad hook signatures, name clashes
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}"
        host.problems.append(f"plugin {info.name}: could not load: {info.error}")
