"""The optional compiled build: everything else about the package is in pyproject.toml.

By default calfrules is pure Python. ``CALFRULES_COMPILE=mypyc pip install .`` (or building
the release wheel that way) compiles the modules every assessment runs through with mypyc,
from the same typed source (mypy --strict): the same answers, byte for byte, in about
10% less CPU time a case (README, "Speed"). It needs a C compiler and the Python headers.
"""

from __future__ import annotations

import os

from setuptools import setup

# what every assessment runs through, and nothing that plugins, tests or users subclass or patch
# (a compiled class takes no attribute it does not declare: Pipeline stays Python so that a
# test or a caller can still replace its run method)
HOT_PATH = [
    "calfrules/engine/policy.py",
    "calfrules/engine/outcome_plan.py",
    "calfrules/engine/advice.py",
    "calfrules/engine/screening.py",
    "calfrules/engine/durable/driver.py",
    "calfrules/rules/firing.py",  # made for every rule fired: a native class is cheaper to build and read
]


def compiled_modules() -> list[object]:
    choice = os.environ.get("CALFRULES_COMPILE", "").strip().lower()
    if choice in ("", "0", "no", "python"):
        return []
    if choice != "mypyc":
        raise SystemExit(f"CALFRULES_COMPILE={choice!r} is not known: set it to 'mypyc', or unset it for pure Python")
    from mypyc.build import mypycify

    return list(mypycify(HOT_PATH, opt_level="3"))


setup(ext_modules=compiled_modules())
