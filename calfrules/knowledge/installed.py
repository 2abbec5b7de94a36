"""Installed distributions' entry points and versions, read the way importlib.metadata reads them.

Importing importlib.metadata (email, zipfile, csv, inspect...) and its scan cost about 15 ms of
every start-up. On the usual layout, folders on ``sys.path`` and no import hook that finds
distributions, this module reads the same ``*.dist-info``/``*.egg-info`` folders, in the same
order, keeping the first distribution of each name as importlib.metadata does. On any other
layout (zip files or eggs on the path, another finder of distributions) it asks
importlib.metadata itself. Nothing is cached: a pack installed or removed is seen by the next
start-up.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys

# importlib.metadata's own syntax for an entry point's value: module[:attr.attr] [extras]
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INFO_SUFFIXES = (".dist-info", ".egg-info")


class EntryPoint:
    """One entry point of an installed distribution, and that distribution's version."""

    __slots__ = ("group", "name", "value", "version")

    def __init__(self, name: str, value: str, group: str, version: str | None) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.version = version

    def load(self) -> object:
        """The module, or the object in it, that the value names (as ``importlib.metadata.EntryPoint.load``)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name} = {self.value!r} is not 'module' or 'module:attribute'")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution, as ``importlib.metadata.entry_points``."""
    folders = _metadata_folders()
    if folders is None:
        return _entry_points_from_importlib(group)
    found: list[EntryPoint] = []
    for folder in _first_of_each_name(folders):
        pairs = _section(_read(os.path.join(folder, "entry_points.txt")), group)
        if pairs:
            version = _version(folder)
            found.extend(EntryPoint(name, value, group, version) for name, value in pairs)
    return found


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    folders = _metadata_folders()
    if folders is None:
        from importlib import metadata

        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return None
    wanted = _normalize(distribution)
    for folder in folders:
        if _normalize(_stem_name(folder)) == wanted:
            return _version(folder)
    return None


def _entry_points_from_importlib(group: str) -> list[EntryPoint]:
    from importlib import metadata

    return [
        EntryPoint(ep.name, ep.value, ep.group, ep.dist.version if ep.dist else None)
        for ep in metadata.entry_points(group=group)
    ]


def _metadata_folders() -> list[str] | None:
    """Every metadata folder on sys.path in importlib.metadata's order, or None on a layout it reads otherwise."""
    from importlib.machinery import PathFinder

    if any(getattr(finder, "find_distributions", None) for finder in sys.meta_path if finder is not PathFinder):
        return None
    folders: list[str] = []
    for root in sys.path:
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(root or ".")
        except NotADirectoryError:
            return None  # a zip file on the path
        except OSError:
            continue
        by_name: dict[str, list[str]] = {}  # grouped by name, in the order first seen, as importlib.metadata does
        for child in children:
            if child.lower().endswith(_INFO_SUFFIXES):
                by_name.setdefault(_normalize(_stem_name(child)), []).append(os.path.join(root, child))
        for paths in by_name.values():
            folders.extend(paths)
    return folders


def _first_of_each_name(folders: list[str]) -> list[str]:
    seen: set[str] = set()
    first = []
    for folder in folders:
        name = _normalize(_stem_name(folder))
        if name not in seen:
            seen.add(name)
            first.append(folder)
    return first


def _stem_name(path: str) -> str:
    return os.path.basename(path).lower().rpartition(".")[0].partition("-")[0]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return ""


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` lines of the ``[group]`` section (importlib.metadata's reading of entry_points.txt)."""
    pairs = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs


def _version(folder: str) -> str | None:
    """The Version header of the metadata (an egg-info may be the metadata file itself)."""
    text = _read(os.path.join(folder, "METADATA")) or _read(os.path.join(folder, "PKG-INFO")) or _read(folder)
    for line in text.splitlines():
        if not line.strip():
            break  # the end of the headers
        key, _, value = line.partition(":")
        if key.strip().lower() == "version":
            return value.strip()
    return None
