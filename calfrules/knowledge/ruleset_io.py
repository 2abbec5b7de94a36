"""Read and write rulesets as TOML files: strict on read, lossless and atomic on write.

The reading is in ruleset_read.py, the writing in ruleset_write.py; this module is the
one place callers go to (``load``, ``loads``, ``load_resource``, ``dumps``, ``save``).
"""

from __future__ import annotations

import os
from importlib import util

from calfrules.files import atomic_write_text
from calfrules.knowledge import ruleset_cache, ruleset_write
from calfrules.knowledge.ruleset_read import ruleset_from_data
from calfrules.knowledge.ruleset_write import dumps, ruleset_to_data, save
from calfrules.rules.errors import RulesetError
from calfrules.rules.model import Ruleset

__all__ = [
    "atomic_write_text",
    "content_hash",
    "dumps",
    "load",
    "load_resource",
    "loads",
    "ruleset_from_data",
    "ruleset_to_data",
    "save",
]


def content_hash(ruleset: Ruleset) -> str:
    """``sha256:...`` of the ruleset's content; known without work for one read from the cache."""
    return ruleset_cache.known_hash(ruleset) or ruleset_write.content_hash(ruleset)


def loads(text: str, source: str = "<string>") -> Ruleset:
    """Read a ruleset from TOML text (never cached: only files and resources are)."""
    import tomli  # not at start-up: a warm cache reads no TOML

    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise RulesetError(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:
        raise RulesetError("not valid TOML: arrays or tables nest too deeply", source=source) from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise RulesetError("not valid TOML: a number has too many digits", source=source) from None
    return ruleset_from_data(data, source)


def load(path: str | os.PathLike[str]) -> Ruleset:
    from pathlib import Path  # here, not at the top: importing pathlib costs start-up 5-10 ms

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulesetError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    return _cached(data, str(path))


def load_resource(package: str, name: str) -> Ruleset:
    """Load a ruleset shipped inside a Python package (how plugins ship theirs)."""
    return _cached(_resource_bytes(package, name), f"{package}/{name}")


def _resource_bytes(package: str, name: str) -> bytes:
    """The file's bytes, read from the package's folder; importlib.resources (10 ms to import) for any other layout."""
    spec = util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as file:
                return file.read()
    from importlib import resources

    return resources.files(package).joinpath(name).read_bytes()


def _cached(data: bytes, source: str) -> Ruleset:
    def build() -> Ruleset:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RulesetError("is not UTF-8 text", source=source) from None
        # newlines as reading in text mode gives them (universal newlines)
        return loads(text.replace("\r\n", "\n").replace("\r", "\n"), source)

    return ruleset_cache.cached_ruleset(data, source, build)
