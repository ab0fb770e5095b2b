"""Keeping the ``.po`` catalogues in step with the templates and code (a developer tool).

::

    python -m timeseal.server.web.catalogue update   # extract, merge into every .po
    python -m timeseal.server.web.catalogue check    # exit 1 if a message is missing/untranslated

Messages are extracted with Babel from ``templates/*.html`` (Jinja2's extractor) and from the
``web`` package's Python (``_``, ``gettext``, ``ngettext``, ``N_``). Translators edit the
``.po`` files; the server compiles them at start-up (:mod:`timeseal.server.web.i18n`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from timeseal.server.web.i18n import DOMAIN, LANG_INFO, LANGS, po_path

WEB_DIR = Path(__file__).parent
METHOD_MAP = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract() -> Catalog:
    """Every translatable message of the web pages (the template for the ``.po`` files)."""
    catalog = Catalog(project="TimeSeal", domain=DOMAIN, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        WEB_DIR, METHOD_MAP, OPTIONS, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def problems() -> list[str]:
    """What ``check`` complains about: messages missing from a catalogue, untranslated, fuzzy,
    or left over in a catalogue though no longer used."""
    template = extract()
    wanted = {m.id for m in template if m.id}
    found: list[str] = []
    for lang in LANGS:
        with po_path(lang).open("rb") as f:
            catalog = read_po(f, locale=LANG_INFO[lang].locale)
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted - set(have), key=str):
            found.append(f"{lang}: missing {msgid!r}")
        for msgid in sorted(set(have) - wanted, key=str):
            found.append(f"{lang}: unused {msgid!r}")
        for msgid, message in have.items():
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if msgid in wanted and (message.fuzzy or not all(strings)):
                found.append(f"{lang}: untranslated {msgid!r}")
    return found


def update() -> None:
    """Merge the extracted messages into every ``.po``, keeping existing translations."""
    template = extract()
    for lang in LANGS:
        path = po_path(lang)
        with path.open("rb") as f:
            catalog = read_po(f, locale=LANG_INFO[lang].locale)
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, ignore_obsolete=True)


def main(argv: list[str]) -> int:
    if argv == ["update"]:
        update()
        return 0
    if argv == ["check"]:
        issues = problems()
        for line in issues:
            print(line, file=sys.stderr)
        return 1 if issues else 0
    print("usage: python -m timeseal.server.web.catalogue update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
