"""What the TUI pilot tests share: waiting for the app's workers, and reading a Static's text."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker (engine builds, golden runs, the safety gate) finish, then redraw."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def text_of(widget: Widget) -> str:
    assert isinstance(widget, Static)
    return str(widget.content)
