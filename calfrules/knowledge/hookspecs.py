"""The hooks a calfrules plugin can implement.

Every hook is handed a ``register`` callback rather than returning values, so
the host validates each contribution, names the plugin that made it, and keeps
loading when one contribution is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from calfrules.knowledge.derivers import Deriver
from calfrules.rules.model import FloorEntry, Ruleset
from calfrules.rules.vocabulary import Finding

PROJECT = "calfrules"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def calfrules_register_vocabulary(register: Callable[[Finding], None]) -> None:
    """Add findings a case may carry.

    Receives ``register(finding)``; call it once per :class:`calfrules.Finding`.
    An id already registered with a different definition is refused and reported.

    Example::

        @hookimpl
        def calfrules_register_vocabulary(register):
            register(Finding(id="ankle_swelling", type="bool", label="Ankle swelling",
                             question="Is the ankle swollen?", kind="sign"))
    """


@hookspec
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    """Add rulesets (rules, conditions, findings, floor entries, golden cases).

    Receives ``register(ruleset)``; call it once per :class:`calfrules.Ruleset`,
    usually loaded from TOML shipped in the plugin's package.

    Example::

        @hookimpl
        def calfrules_register_rulesets(register):
            register(load_ruleset_resource(__name__, "achilles.toml"))
    """


@hookspec
def calfrules_register_derivers(register: Callable[[Deriver], None]) -> None:
    """Add facts computed in Python from the findings before the rules run.

    Receives ``register(deriver)``; each :class:`calfrules.Deriver` names the
    findings it reads and returns a :class:`calfrules.Score` (or None). Rules
    use the result like a number finding. If ``compute`` raises, the
    assessment is marked incomplete and escalated, never silently wrong.

    Example::

        @hookimpl
        def calfrules_register_derivers(register):
            register(Deriver(id="swelling_count", label="Swelling signs",
                             inputs=("swelling", "pitting_oedema"),
                             compute=lambda f: Score(sum(bool(f.get(i)) for i in ("swelling", "pitting_oedema")))))
    """


@hookspec
def calfrules_register_texts(register: Callable[[str, str], None]) -> None:
    """Supply the text of recommendations whose ruleset entry leaves ``text`` empty.

    Receives ``register(recommendation_id, text)``. Text never overrides text
    a ruleset already has: such a clash is refused and reported.

    Example::

        @hookimpl
        def calfrules_register_texts(register):
            register("ice_calf", "Ice the calf for 15-20 minutes, three times a day.")
    """


@hookspec
def calfrules_register_floor(register: Callable[[FloorEntry], None]) -> None:
    """Add red-flag floor entries, or raise the level of an existing one.

    Receives ``register(entry)``. An entry with a new id is added; one with a
    known id must keep the same ``when`` and may only raise the level. Anything
    that would remove or lower an entry is refused and reported.

    Example::

        @hookimpl
        def calfrules_register_floor(register):
            register(FloorEntry(id="hot_swollen_calf", when="calf_warmth and swelling",
                                level=Level.SEE_CLINICIAN, label="Hot, swollen calf"))
    """


# every function above marked @hookspec, in the order they are defined
HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in list(globals().items()) if hasattr(value, f"{PROJECT}_spec")
)
