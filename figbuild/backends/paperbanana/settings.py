"""Where the Paper Banana API is and which key to use: the environment, else the key
`figbuild login` stored (:mod:`.credentials`).

Standard library only: the status path (which redacts the key from output)
imports the variable names without loading an HTTP stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from figbuild.backends.paperbanana import credentials
from figbuild.errors import UsageError
from figbuild.urls import check_url

KEY_ENV = "PAPERBANANA_API_KEY"
BASE_URL_ENV = "PAPERBANANA_BASE_URL"
DEFAULT_BASE_URL = "https://paperbanana.run/api/v1"
EMULATOR_KEY = "sk-emulator"
KEY_HINT = (
    f"run `figbuild login` (or set {KEY_ENV}) with your sk-... key from the Paper Banana API Keys dashboard"
)
NETWORK_HINT = f"check your network connection and {BASE_URL_ENV}"


@dataclass(frozen=True)
class Settings:
    base_url: str
    key: str = field(repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: The rate limit's window; the server's is a minute, tests shorten it.
    window: float = 60.0
    #: Largest image download accepted, in bytes: far above a 4K image (~30 MB as PDF).
    max_download: int = 64 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The base URL from the environment; the key from ``PAPERBANANA_API_KEY``, else
        the one `figbuild login` stored for this user."""
        found = find_key(environ)
        if found is None:
            raise UsageError(
                f"{KEY_ENV} is not set and no key is stored; the Paper Banana API needs a key", hint=KEY_HINT
            )
        return cls(base_url=base_url(environ), key=found.key)

    @classmethod
    def with_key(cls, key: str, environ: Mapping[str, str] | None = None) -> Settings:
        """The base URL from the environment and ``key`` (`figbuild login` checks one);
        from now on output is redacted of ``key`` too."""
        _LOADED.update(_forms(key))
        return cls(base_url=base_url(environ), key=check_key(key, "the key", words=True))

    @classmethod
    def for_emulator(cls, base_url: str) -> Settings:
        return cls(base_url=check_url(base_url.rstrip("/"), "emulator URL"), key=EMULATOR_KEY)


def base_url(environ: Mapping[str, str] | None = None) -> str:
    """The API root: ``PAPERBANANA_BASE_URL`` (checked) or the default."""
    environ = os.environ if environ is None else environ
    configured = environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    return check_url(configured.rstrip("/"), BASE_URL_ENV)


def find_key(environ: Mapping[str, str] | None = None) -> credentials.Found | None:
    """The key to use and where it came from: ``PAPERBANANA_API_KEY`` wins, else the
    stored key; None when there is neither. A malformed key is a usage error naming
    where it came from; a stored key becomes one that output is redacted of."""
    mapping = os.environ if environ is None else environ
    key = read_key(mapping)
    if key:
        return credentials.Found(check_key(key, KEY_ENV), "environment", KEY_ENV)
    found = credentials.stored(environ)
    if found is None:
        return None
    _LOADED.update(_forms(found.key))
    check_key(found.key, f"the key stored in {found.where}", words=True)
    return found


def check_key(key: str, where: str, *, words: bool = False) -> str:
    """``key`` if it looks like a Paper Banana key, else a usage error naming ``where``."""
    if words:
        _check_characters(key, where)
    if not key.startswith("sk-"):
        raise UsageError(
            f"{where} does not look like a Paper Banana key (they start with sk-)", hint=KEY_HINT
        )
    return key


#: Every form of a stored key this process has read: redacted from output as the
#: environment's key is.
_LOADED: set[str] = set()


def read_key(environ: Mapping[str, str]) -> str:
    """The key from ``environ``, stripped of stray surrounding whitespace ("" when unset).

    A key with whitespace or a control character inside, or a character an HTTP
    header cannot carry (not Latin-1), is a usage error naming the variable: sent
    as is, it would only fail later as a traceback or a retried network error.
    """
    key = environ.get(KEY_ENV, "").strip()
    _check_characters(key, KEY_ENV)
    return key


def _check_characters(key: str, where: str) -> None:
    bad = next((char for char in key if char.isspace() or not char.isprintable()), None)
    if bad is None:
        try:
            key.encode("latin-1")
        except UnicodeEncodeError as exc:
            bad = key[exc.start]
    if bad is not None:
        what = "a line break" if bad in "\r\n" else f"the character U+{ord(bad):04X}"
        raise UsageError(
            f"{where} contains {what}; an API key is one word of plain characters", hint=KEY_HINT
        )


def key_forms(environ: Mapping[str, str]) -> set[str]:
    """Every spelling of the configured key that could appear in text, for redaction:
    the raw value, the stripped one, and each word of it long enough to be the key."""
    return _forms(environ.get(KEY_ENV, ""))


def redaction_forms(environ: Mapping[str, str]) -> set[str]:
    """:func:`key_forms` of ``environ`` and of every stored key this process read."""
    return key_forms(environ) | _LOADED


def _forms(raw: str) -> set[str]:
    forms = {raw, raw.strip(), *raw.split()}
    return {form for form in forms if len(form.strip()) >= 6}
