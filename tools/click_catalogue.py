"""The French catalogue of click's own messages (usage, help headings, argument errors).

click marks its messages with the standard library's gettext and ships no translation;
``caqes_docs/cli/french.py`` binds this catalogue. Two steps, both with Babel:

- ``update``: extract the messages of the installed click and merge them into
  ``caqes_docs/cli/locale/fr/LC_MESSAGES/caqes.po`` (existing translations kept; new
  messages listed, to translate by hand in the ``.po``);
- ``compile``: compile the ``.po`` into the ``.mo`` file that gettext reads (committed, so
  that an installation needs neither Babel nor this script).

Usage: .venv/bin/python tools/click_catalogue.py [update] [compile]   (default: both)
A test checks that the committed ``.mo`` matches the ``.po`` and covers every click message.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "caqes_docs" / "cli" / "locale" / "fr" / "LC_MESSAGES" / "caqes.po"


def click_messages() -> Catalog:
    """Every message click marks with gettext (``_``, ``ngettext``), as a template."""
    template = Catalog(project="click", version=version("click"))
    source = Path(click.__file__).parent
    for _file, line, message, comments, context in extract_from_dir(source):
        template.add(message, None, [("click", line)], auto_comments=comments, context=context)
    return template


def read_catalogue(path: Path = CATALOGUE) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale="fr")


def update() -> list[str]:
    """Merge click's messages into the catalogue; return the messages still untranslated."""
    if CATALOGUE.exists():
        catalogue = read_catalogue()
    else:
        catalogue = Catalog(locale="fr", project="caqes-docs", fuzzy=False)
    catalogue.update(click_messages(), no_fuzzy_matching=True)
    with open(CATALOGUE, "wb") as handle:
        write_po(handle, catalogue, omit_header=False, no_location=True, width=100)
    return untranslated(catalogue)


def untranslated(catalogue: Catalog) -> list[str]:
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(str(message.id))
    return missing


def compile_catalogue() -> Path:
    target = CATALOGUE.with_suffix(".mo")
    with open(target, "wb") as handle:
        write_mo(handle, read_catalogue())
    return target


def main(steps: list[str]) -> None:
    for step in steps or ["update", "compile"]:
        if step == "update":
            missing = update()
            print(f"{CATALOGUE.relative_to(ROOT)} : {len(missing)} message(s) à traduire")
            for message in missing:
                print(f"  {message!r}")
        elif step == "compile":
            print(f"{compile_catalogue().relative_to(ROOT)} écrit")
        else:
            sys.exit(f"étape inconnue : {step} (update, compile)")


if __name__ == "__main__":
    main(sys.argv[1:])
