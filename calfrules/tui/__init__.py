"""The admin TUI (``calfrules tui``): browse, author, test and safely save rulesets.

Only ``app`` and the screens import Textual; ``workspace`` and ``saving`` are headless.
"""
