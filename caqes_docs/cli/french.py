"""French for the messages click itself prints (usage, help headings, argument errors).

click marks its messages with the standard library's gettext and ships no translation. The
French catalogue of those messages lives in ``locale/fr/LC_MESSAGES/caqes.po`` (compiled to
``caqes.mo`` by ``tools/click_catalogue.py``); :func:`use_french` makes it the process's
gettext domain and asks gettext for French, whatever the user's locale, since everything
else the toolkit prints is French. It runs before any click parameter type is created:
``click.Path`` translates its name (``fichier``) when it is built.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "caqes"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def use_french() -> None:
    # gettext reads the language from the environment on every lookup; LANGUAGE comes first.
    os.environ["LANGUAGE"] = "fr"
    gettext.bindtextdomain(DOMAIN, LOCALE_DIR)
    gettext.textdomain(DOMAIN)
