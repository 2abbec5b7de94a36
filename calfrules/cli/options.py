"""Options more than one command takes, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from calfrules.engine.screening import SCREEN_POLICIES


def screen_option(help_text: str) -> Callable[[Any], Any]:
    """``--screen prompt|require``: the red-flag screen policy (see load_engine)."""
    return click.option(
        "--screen", type=click.Choice(SCREEN_POLICIES), default="prompt", show_default=True, help=help_text
    )
