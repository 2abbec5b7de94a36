"""``calfrules new-pack NAME``: write a rule pack that installs, loads and passes its own tests.

The files come from templates shipped in ``calfrules/templates/pack`` (package data),
filled in with ``string.Template``: ``$name`` (the plugin, the ruleset id and the prefix of
its ids), ``$package`` (the Python package), ``$dist`` (the distribution) and ``$author``.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import click

from calfrules.knowledge import installed
from calfrules.knowledge.builtin import BUILTIN_PLUGINS, BUILTIN_RULESETS, CORE
from calfrules.knowledge.plugin_host import ENTRY_POINT_GROUP
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import ID_PATTERN

# template -> where it goes in the new pack
PACK_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "plugin.py.tmpl": "{package}/__init__.py",
    "ruleset.toml.tmpl": "{package}/{name}.toml",
    "test_pack.py.tmpl": "tests/test_{name}.py",
}
MAX_NAME = 40


@click.command("new-pack")
@click.argument("name")
@click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the pack (default: ./NAME). It must not exist yet.",
)
@click.option("--author", default="Your Name", show_default=True, help="Put in the ruleset's authors.")
def new_pack_cmd(name: str, directory: Path | None, author: str) -> None:
    """Write a ready rule pack NAME: pyproject with the entry point, the plugin module, a
    ruleset (one condition, one rule, one cited recommendation, golden cases), tests with
    the safety properties, and a README.

    \b
    Then:
      pip install -e './NAME[test]' && (cd NAME && pytest) && calfrules check
    """
    check_pack_name(name)
    if not author.isprintable():
        raise CalfrulesError("--author: use printable text on one line")
    target = directory if directory is not None else Path(name)
    written = write_pack(name, target, author=author)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: pip install -e '{target}[test]' && (cd {target} && pytest) && calfrules check")


def check_pack_name(name: str) -> None:
    """A name that is an id (it names the plugin, the ruleset and prefixes ids) and is not taken."""
    if not re.fullmatch(ID_PATTERN, name) or len(name) > MAX_NAME:
        raise CalfrulesError(
            f"pack name {name!r}: use lower case letters, digits and _ (starting with a letter, "
            f"at most {MAX_NAME} characters), e.g. heel_pain"
        )
    from importlib import resources  # this command only: not at start-up

    builtin_rulesets = [
        Path(item.name).stem for item in resources.files(BUILTIN_RULESETS).iterdir() if item.name.endswith(".toml")
    ]
    taken = {CORE, *BUILTIN_PLUGINS, *builtin_rulesets}
    if name in taken:
        raise CalfrulesError(f"pack name {name!r} is taken by calfrules' own plugins or rulesets; choose another")
    packs = {ep.name: ep.value for ep in installed.entry_points(ENTRY_POINT_GROUP)}
    if name in packs:
        raise CalfrulesError(f"pack name {name!r} is taken by the installed pack {packs[name]}; choose another")


def render_pack(name: str, *, author: str = "Your Name") -> dict[str, str]:
    """The pack's files (relative path -> text), filled in for ``name``."""
    package = f"calfrules_{name}"
    values = {
        "name": name,
        "package": package,
        "dist": f"calfrules-{name.replace('_', '-')}",
        "author": author.replace("\\", "\\\\").replace('"', '\\"'),
    }
    from importlib import resources

    templates = resources.files("calfrules") / "templates" / "pack"
    return {
        where.format(package=package, name=name): Template(
            (templates / template).read_text(encoding="utf-8")
        ).substitute(values)
        for template, where in PACK_FILES.items()
    }


def write_pack(name: str, target: Path, *, author: str = "Your Name") -> list[Path]:
    if target.exists():
        raise CalfrulesError(f"{target} already exists: choose a new directory (--directory) or remove it")
    files = render_pack(name, author=author)
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
