"""The French catalogue of click's messages: complete for the installed click, and compiled.

tools/click_catalogue.py updates the ``.po`` from click's sources and compiles the ``.mo``
that gettext reads; a click upgrade that adds a message, or a ``.po`` edited without
recompiling, fails here.
"""

from __future__ import annotations

import gettext
import io
import sys
from pathlib import Path

from babel.messages.mofile import write_mo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from click_catalogue import CATALOGUE, click_messages, read_catalogue, untranslated  # noqa: E402


def test_every_click_message_has_a_french_translation() -> None:
    catalogue = read_catalogue()
    missing = {str(message.id) for message in click_messages() if message.id} - {
        str(message.id) for message in catalogue if message.id
    }
    assert not missing, f"à ajouter avec tools/click_catalogue.py update : {sorted(missing)}"
    assert untranslated(catalogue) == []


def test_committed_mo_is_the_compiled_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue())
    assert CATALOGUE.with_suffix(".mo").read_bytes() == compiled.getvalue(), (
        "relancer tools/click_catalogue.py compile"
    )


def test_gettext_finds_the_catalogue() -> None:
    from caqes_docs.cli.french import DOMAIN, LOCALE_DIR

    french = gettext.translation(DOMAIN, LOCALE_DIR, languages=["fr"])
    assert french.gettext("Usage:") == "Utilisation :"
    assert french.ngettext(
        "Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2
    ) == ("(Vouliez-vous dire : {possibilities} ?)")
