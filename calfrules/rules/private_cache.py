"""A cache folder only this user can write to: what is read back from it is trusted.

``$CALFRULES_CACHE_DIR`` moves it, ``CALFRULES_NO_CACHE=1`` turns every cache off; the folder
is safe to delete at any time.
"""

from __future__ import annotations

import os
import stat
import sys

from calfrules.rules.errors import CalfrulesError

CACHE_DIR_ENV = "CALFRULES_CACHE_DIR"
NO_CACHE_ENV = "CALFRULES_NO_CACHE"


def private_cache_folder() -> str | None:
    """The cache folder (made 0700) if it is ours alone, else None (then nothing is cached)."""
    if _caching_off():
        return None
    folder = os.environ.get(CACHE_DIR_ENV) or _user_cache_dir()
    try:
        info = os.stat(folder)  # before any mkdir: that locks the parent folder, and can wait ms on a busy one
    except FileNotFoundError:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            info = os.stat(folder)
        except OSError:
            return None
    except OSError:
        return None
    private = (
        stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )
    return folder if private and os.access(folder, os.W_OK) else None


def private_cache_file(name: str) -> str | None:
    """``NAME`` in the private cache folder, or None when there is none."""
    folder = private_cache_folder()
    return os.path.join(folder, name) if folder else None


def _caching_off() -> bool:
    value = os.environ.get(NO_CACHE_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise CalfrulesError(
            f"${NO_CACHE_ENV} is {value!r}; set it to 1 to turn the caches off, or 0 (or unset) to keep them"
        )
    return value == "1"


def _user_cache_dir() -> str:
    if sys.platform.startswith("linux"):
        # what platformdirs.user_cache_dir("calfrules") answers on Linux, without its ~7 ms import
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "calfrules")
    import platformdirs

    return platformdirs.user_cache_dir("calfrules", appauthor=False)
