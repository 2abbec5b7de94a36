"""Validated rulesets kept between processes, so a start-up does not re-read and re-check them.

An entry is the Ruleset built from a file, the parse of each of its conditions and its
content hash, stored under a key hashed from everything that built it: the file's bytes, its
source name, calfrules' version, the source of the modules that read and check a ruleset,
and the versions of tomli, msgspec and lark. A changed file or a changed calfrules gives a
new key, so a stale entry is never found; an entry is used only when the key stored inside
it matches. A corrupt, truncated or unreadable entry is passed over and rebuilt, never an
error. Entries live in the private cache folder (``$CALFRULES_CACHE_DIR``, else the user
cache folder; ``CALFRULES_NO_CACHE=1`` turns caching off), are written atomically, and the
folder is safe to delete.

Pickle, not msgspec: a Ruleset is a graph of frozen dataclasses, enums and condition trees,
which pickle restores exactly and fastest (about 3 ms for the built-in rulesets against about
90 ms to read and check them) with no second description of the types to keep in step. An
unpickled file can run code, which is why only a folder of ours alone is ever read (the same
rule as lark's grammar cache in ``rules/condition.py``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import weakref
from collections.abc import Callable
from importlib import util

from calfrules._version import __version__
from calfrules.files import atomic_write_bytes
from calfrules.knowledge.lazy_log import logger
from calfrules.knowledge.ruleset_write import content_hash
from calfrules.rules import condition
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import FloorEntry, Rule, Ruleset, ScreenGroup
from calfrules.rules.private_cache import private_cache_folder

FORMAT = "calfrules-ruleset-cache-1"
PREFIX = "ruleset-"
SUFFIX = ".pickle"
# the folder is pruned to this many entries (oldest used first) whenever one is written
MAX_ENTRIES = 256
# what builds a Ruleset from a file's bytes: a change to any of these gives new keys
# (os.path, not pathlib: importing pathlib would cost every start-up 5-10 ms)
_KNOWLEDGE = os.path.dirname(os.path.realpath(__file__))
# (folder, file name prefix): every .py file in it whose name starts so
_BUILDER_SOURCES = (os.path.join(os.path.dirname(_KNOWLEDGE), "rules"), ""), (_KNOWLEDGE, "ruleset_")
_LIBRARIES = ("tomli", "msgspec._version", "lark")  # each file named holds the library's version

_fingerprint: bytes | None = None
# content hashes known without computing them (from cache entries), by id of a live Ruleset
_HASHES: dict[int, tuple[weakref.ref[Ruleset], str]] = {}


def cached_ruleset(data: bytes, source: str, build: Callable[[], Ruleset]) -> Ruleset:
    """The ruleset ``build()`` makes of ``data``, from the cache when an entry matches.

    ``build`` raises for a bad ruleset; nothing is cached then, so the error is raised each time.
    """
    folder = private_cache_folder()
    key = _key(data, source) if folder else None
    if folder is None or key is None:
        return build()
    path = os.path.join(folder, f"{PREFIX}{key}{SUFFIX}")
    entry = _read(path, key)
    if entry is not None:
        ruleset, parsed, digest = entry
        for text, expr in parsed:
            condition.remember(text, expr)
        remember_hash(ruleset, digest)
        return ruleset
    ruleset = build()
    _write(folder, path, key, ruleset)
    return ruleset


def known_hash(ruleset: Ruleset) -> str | None:
    """The content hash of ``ruleset`` if a cache entry brought it, else None."""
    known = _HASHES.get(id(ruleset))
    return known[1] if known is not None and known[0]() is ruleset else None


def remember_hash(ruleset: Ruleset, digest: str) -> None:
    ident = id(ruleset)
    _HASHES[ident] = (weakref.ref(ruleset, lambda _: _HASHES.pop(ident, None)), digest)


def conditions_of(ruleset: Ruleset) -> list[str]:
    """Every ``when`` in a ruleset: its rules', floor entries' and screen groups'."""
    items: list[Rule | FloorEntry | ScreenGroup] = [*ruleset.rules, *ruleset.floor, *ruleset.screen]
    return list(dict.fromkeys(item.when for item in items))


def _key(data: bytes, source: str) -> str | None:
    fingerprint = _code_fingerprint()
    if fingerprint is None:
        return None
    digest = hashlib.sha256(fingerprint)
    for part in (source.encode("utf-8", "surrogatepass"), data):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _code_fingerprint() -> bytes | None:
    """A hash of calfrules' version and the code that builds a Ruleset (None: unknown, do not cache)."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{sys.version}\0".encode())
        try:
            files = [
                os.path.join(folder, name)
                for folder, prefix in _BUILDER_SOURCES
                for name in sorted(os.listdir(folder))
                if name.startswith(prefix) and name.endswith(".py")
            ]
            for module in _LIBRARIES:
                spec = util.find_spec(module)
                if spec is None or spec.origin is None:
                    return None
                files.append(spec.origin)
            for path in files:
                with open(path, "rb") as file:
                    digest.update(os.path.basename(path).encode() + b"\0" + file.read())
        except (OSError, ImportError, ValueError):
            return None
        _fingerprint = digest.digest()
    return _fingerprint


def _read(path: str, key: str) -> tuple[Ruleset, tuple[tuple[str, condition.Expr], ...], str] | None:
    collecting = gc.isenabled()
    gc.disable()  # unpickling makes many objects and no garbage: a collection midway only costs (2.4x)
    try:
        with open(path, "rb") as handle:
            stored = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt or foreign entry of any kind is rebuilt, never an error
        logger(__name__).debug("ruleset cache: ignoring %s: %s", path, exc)
        return None
    finally:
        if collecting:
            gc.enable()
    if not (isinstance(stored, tuple) and len(stored) == 5 and stored[:2] == (FORMAT, key)):
        logger(__name__).debug("ruleset cache: ignoring %s: not an entry for this key", path)
        return None
    _, _, ruleset, parsed, digest = stored
    if not (isinstance(ruleset, Ruleset) and isinstance(parsed, tuple) and isinstance(digest, str)):
        return None
    _touch(path)
    return ruleset, parsed, digest


def _write(folder: str, path: str, key: str, ruleset: Ruleset) -> None:
    parsed = tuple((text, condition.parse(text)) for text in conditions_of(ruleset))
    digest = content_hash(ruleset)
    remember_hash(ruleset, digest)
    try:
        atomic_write_bytes(path, pickle.dumps((FORMAT, key, ruleset, parsed, digest), pickle.HIGHEST_PROTOCOL))
        _prune(folder)
    except (CalfrulesError, OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError) as exc:
        logger(__name__).debug("ruleset cache: could not write %s: %s", path, exc)  # caching is optional


def _touch(path: str) -> None:
    try:
        os.utime(path)  # pruning drops the entries used longest ago
    except OSError:
        pass


def _prune(folder: str) -> None:
    entries = [entry for entry in os.scandir(folder) if entry.name.startswith(PREFIX) and entry.name.endswith(SUFFIX)]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda entry: entry.stat().st_mtime_ns)
    for entry in entries[: len(entries) - MAX_ENTRIES * 3 // 4]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass
