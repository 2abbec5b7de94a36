"""The admin TUI (``calfrules tui``): browse, author, test and safely save rulesets.

``app`` owns the state; the screens show it (bound reactives, constructor arguments) and
post messages for what the user does. ``workspace``, ``saving``, ``checks`` and ``names``
are headless (no Textual).
"""
