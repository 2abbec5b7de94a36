"""Which build of calfrules is running: pure Python, or with the hot path compiled by mypyc
(``CALFRULES_COMPILE=mypyc pip install .``; see setup.py)."""

from __future__ import annotations

import importlib.machinery
import sys


def compiled_modules() -> list[str]:
    """The calfrules modules imported so far that are compiled extensions, by name."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("calfrules.") and (getattr(module, "__file__", None) or "").endswith(suffixes)
    )


def build_kind() -> str:
    """``mypyc`` when any imported calfrules module is compiled, else ``python``."""
    return "mypyc" if compiled_modules() else "python"
