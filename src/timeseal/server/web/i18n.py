"""Languages of the web pages: gettext catalogues compiled from the ``.po`` files with Babel.

Message ids are English; ``locale/<lang>/LC_MESSAGES/messages.po`` hold the translations
(``zh_CN``, the default, and ``en``). Only the ``.po`` files are in the repository: they are
compiled in memory (Babel ``read_po`` + ``write_mo``) the first time a language is needed, so a
fresh clone, an editable install and a wheel all work without a build step, and an edited
``.po`` takes effect at the next start.

Which language a request gets: ``?lang=zh`` or ``?lang=en`` (the page then remembers it in the
``ts_lang`` cookie), else that cookie, else ``Accept-Language`` (the same rule as the JSON API's
error messages), else Chinese.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

from timeseal.server.api.errors import preferred_language

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
LANG_COOKIE = "ts_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


@dataclass(frozen=True, slots=True)
class LangInfo:
    code: Lang
    locale: str  # gettext / Babel locale of the catalogue
    html_lang: str  # BCP 47, for <html lang>
    name: str  # the language's own name, for the switch


LANG_INFO: dict[Lang, LangInfo] = {
    "zh": LangInfo("zh", "zh_CN", "zh-CN", "简体中文"),
    "en": LangInfo("en", "en", "en", "English"),
}


def po_path(lang: Lang) -> Path:
    return LOCALE_DIR / LANG_INFO[lang].locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: Lang) -> Translations:
    """The compiled catalogue of ``lang`` (compiled once per process, from the ``.po``)."""
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=LANG_INFO[lang].locale, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def parse_lang(value: str | None) -> Lang | None:
    value = (value or "").strip().lower().replace("_", "-")
    if value in ("zh", "zh-cn", "zh-hans"):
        return "zh"
    if value == "en" or value.startswith("en-"):
        return "en"
    return None


def request_lang(request: Request) -> tuple[Lang, bool]:
    """The request's language, and whether it was chosen now by ``?lang=`` (to remember)."""
    chosen = parse_lang(request.query_params.get("lang"))
    if chosen is not None:
        return chosen, True
    remembered = parse_lang(request.cookies.get(LANG_COOKIE))
    if remembered is not None:
        return remembered, False
    return preferred_language(request.headers.get("accept-language")), False


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks a message for extraction; it is translated where it is shown."""
    return message
