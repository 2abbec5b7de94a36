"""A cache folder only this user can write to: what is read back from it is trusted."""

from __future__ import annotations

import os
import stat


def private_cache_file(name: str) -> str | None:
    """``$XDG_CACHE_HOME/calfrules/NAME`` if that folder is ours alone (made 0700), else None."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "calfrules")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError:
        return None
    private = info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return os.path.join(folder, name) if private and os.access(folder, os.W_OK) else None
