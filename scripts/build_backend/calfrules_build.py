"""calfrules' build backend: setuptools, compiling the hot path with mypyc when
``CALFRULES_COMPILE=mypyc`` is set (setup.py). A plain build needs nothing but setuptools.

Only ``build_wheel`` compiles: metadata and sdists are the same either way, and an editable
install refuses to (a compiled module beside its source is imported instead of it, so edits
to the source would silently not take effect)."""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Iterator
from typing import Any

from setuptools import build_meta as _setuptools

# the mypy whose mypyc compiles the hot path (its generated C needs no runtime package)
MYPYC = "mypy>=1.15"
# left out of the compiled build's environment: untyped (a C build of its own) either way
UNTYPED = ("durable-rules",)
_SWITCH = "CALFRULES_COMPILE"
Settings = dict[str, Any] | None


def _compiling() -> bool:
    return os.environ.get(_SWITCH, "").strip().lower() not in ("", "0", "no", "python")


@contextlib.contextmanager
def _pure() -> Iterator[None]:
    """setup.py run without compiling (it runs for metadata and requirements too)."""
    saved = os.environ.pop(_SWITCH, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[_SWITCH] = saved


def _typed_dependencies() -> list[str]:
    """calfrules' dependencies, so that mypyc type-checks with their types as CI's mypy does."""
    with open("pyproject.toml", "rb") as file:
        wanted = tomllib.load(file)["project"]["dependencies"]
    return [need for need in wanted if not need.startswith(UNTYPED)]


def _no_editable() -> None:
    if _compiling():
        raise SystemExit(
            f"{_SWITCH} is set, but an editable install runs the source as you edit it: unset "
            f"{_SWITCH} for `pip install -e`, or install a wheel (`pip install .`) to compile"
        )


def get_requires_for_build_wheel(config_settings: Settings = None) -> list[str]:
    compiling = _compiling()
    with _pure():
        needs = list(_setuptools.get_requires_for_build_wheel(config_settings))
    return [*needs, MYPYC, *_typed_dependencies()] if compiling else needs


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Settings = None) -> str:
    with _pure():
        return str(_setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def build_wheel(wheel_directory: str, config_settings: Settings = None, metadata_directory: str | None = None) -> str:
    return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))


def get_requires_for_build_sdist(config_settings: Settings = None) -> list[str]:
    with _pure():
        return list(_setuptools.get_requires_for_build_sdist(config_settings))


def build_sdist(sdist_directory: str, config_settings: Settings = None) -> str:
    with _pure():
        return str(_setuptools.build_sdist(sdist_directory, config_settings))


def get_requires_for_build_editable(config_settings: Settings = None) -> list[str]:
    _no_editable()
    return list(_setuptools.get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_editable(metadata_directory: str, config_settings: Settings = None) -> str:
    _no_editable()
    return str(_setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings))


def build_editable(
    wheel_directory: str, config_settings: Settings = None, metadata_directory: str | None = None
) -> str:
    _no_editable()
    return str(_setuptools.build_editable(wheel_directory, config_settings, metadata_directory))
