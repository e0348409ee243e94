"""Learner-facing text in more than one language: message catalogs and the current language.

Check code calls `t("kind.case", **params)`; the text lives in grader/locales/<lang>/*.yaml
(one file per check family, keys unique across files). English is the fallback.
"""

from __future__ import annotations

import os
import string
from functools import lru_cache
from pathlib import Path

import yaml

# libyaml's loader when PyYAML was built with it: 5-15x faster than the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"
_chosen: str | None = None


def available_languages() -> list[str]:
    """Languages that have a catalog folder."""
    return sorted(p.name for p in LOCALES.iterdir() if p.is_dir())


def language_from_environment() -> str:
    """The language asked for by LABKIT_LANG, else the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), as gettext reads it."""
    explicit = os.environ.get("LABKIT_LANG", "").lower()
    if explicit in available_languages():
        return explicit
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if not value:
            continue
        code = value.split(":")[0].split("_")[0].split(".")[0].lower()
        if code in ("c", "posix"):
            return DEFAULT_LANGUAGE  # the C locale means untranslated text
        if code in available_languages():
            return code
        if variable != "LANGUAGE":
            break  # the first set locale variable decides, as in gettext
    return DEFAULT_LANGUAGE


def set_language(language: str | None) -> str:
    """Choose the language for this process (None: from the locale); returns the one in force."""
    global _chosen
    if language is not None and language not in available_languages():
        raise ValueError(f"no messages in `{language}`; available: {', '.join(available_languages())}")
    _chosen = language
    return current_language()


def current_language() -> str:
    """The language learner-facing text is rendered in."""
    return _chosen or language_from_environment()


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    """Every message of one language, merged from its YAML files."""
    messages: dict[str, str] = {}
    folder = LOCALES / language
    for path in sorted(folder.glob("*.yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        for key, text in document.items():
            if key in messages:
                raise ValueError(f"message `{key}` is defined twice in {folder} ({path.name})")
            messages[key] = text
    return messages


def t(key: str, **params: object) -> str:
    """The message `key` in the current language, formatted with `params` (English as fallback)."""
    text = catalog(current_language()).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no message `{key}` in grader/locales/{DEFAULT_LANGUAGE}")
    return text.format(**params)


def placeholders(text: str) -> set[str]:
    """The `{names}` a message uses, to check that translations use the same ones."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
