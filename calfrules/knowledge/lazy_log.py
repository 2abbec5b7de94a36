"""A module's logger, with ``logging`` imported only when something is logged: importing it
costs start-up, and the knowledge layer logs only when a plugin or a cache entry misbehaves."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def logger(name: str) -> logging.Logger:
    import logging

    return logging.getLogger(name)
