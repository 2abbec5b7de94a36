"""The red-flag screen: the questions that must be answered before self-care can stand.

Groups are data (``[[screen]]`` in a ruleset; the built-in ones are core, like the
floor). A ruleset may add a group or add questions to one, never remove or change
one, so a pack cannot shorten the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from calfrules.rules.errors import PluginError
from calfrules.rules.model import ScreenGroup
from calfrules.rules.vocabulary import Vocabulary


@dataclass
class Screen:
    groups: dict[str, ScreenGroup] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def add(self, group: ScreenGroup, origin: str) -> None:
        """Add a group, or questions to a group; refuse a change of who it applies to."""
        known = self.groups.get(group.id)
        if known is None:
            self.groups[group.id] = group
            self.origin[group.id] = origin
            return
        if known.when != group.when:
            raise PluginError(
                f"screen group {group.id!r} from {origin} changes whom it applies to "
                f"({known.when!r} -> {group.when!r}); a screen group can only gain questions"
            )
        added = tuple(q for q in group.ask if q not in known.ask)
        if added:
            self.groups[group.id] = replace(known, ask=known.ask + added)
            self.origin[group.id] = f"{self.origin[group.id]}, extended by {origin}"

    def __iter__(self) -> Iterator[ScreenGroup]:
        return iter(self.groups.values())

    def __len__(self) -> int:
        return len(self.groups)


def check_group(group: ScreenGroup, vocabulary: Vocabulary) -> str | None:
    """What is wrong with a group's questions, in words, or None."""
    for finding_id in group.ask:
        finding = vocabulary.findings.get(finding_id)
        if finding is None:
            hint = vocabulary.suggest(finding_id)
            tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
            return f"screen group {group.id} asks {finding_id!r}, which is not a finding{tip}"
        if finding.type != "bool":
            return f"screen group {group.id} asks {finding_id!r}, which is not a yes/no finding"
    return None
