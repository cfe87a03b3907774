"""Where the Paper Banana API is and which key to use, read from the environment.

Standard library only: the status path (which redacts the key from output)
imports the variable names without loading an HTTP stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from figbuild.errors import UsageError
from figbuild.urls import check_url

KEY_ENV = "PAPERBANANA_API_KEY"
BASE_URL_ENV = "PAPERBANANA_BASE_URL"
DEFAULT_BASE_URL = "https://paperbanana.run/api/v1"
EMULATOR_KEY = "sk-emulator"
KEY_HINT = f"set {KEY_ENV} to your sk-... key from the Paper Banana API Keys dashboard"
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
        environ = os.environ if environ is None else environ
        key = read_key(environ)
        if not key:
            raise UsageError(f"{KEY_ENV} is not set; the Paper Banana API needs a key", hint=KEY_HINT)
        if not key.startswith("sk-"):
            raise UsageError(
                f"{KEY_ENV} does not look like a Paper Banana key (they start with sk-)", hint=KEY_HINT
            )
        base_url = environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
        return cls(base_url=check_url(base_url.rstrip("/"), BASE_URL_ENV), key=key)

    @classmethod
    def for_emulator(cls, base_url: str) -> Settings:
        return cls(base_url=check_url(base_url.rstrip("/"), "emulator URL"), key=EMULATOR_KEY)


def read_key(environ: Mapping[str, str]) -> str:
    """The key from ``environ``, stripped of stray surrounding whitespace ("" when unset).

    A key with whitespace or a control character inside, or a character an HTTP
    header cannot carry (not Latin-1), is a usage error naming the variable: sent
    as is, it would only fail later as a traceback or a retried network error.
    """
    key = environ.get(KEY_ENV, "").strip()
    bad = next((char for char in key if char.isspace() or not char.isprintable()), None)
    if bad is None:
        try:
            key.encode("latin-1")
        except UnicodeEncodeError as exc:
            bad = key[exc.start]
    if bad is not None:
        what = "a line break" if bad in "\r\n" else f"the character U+{ord(bad):04X}"
        raise UsageError(
            f"{KEY_ENV} contains {what}; an API key is one word of plain characters", hint=KEY_HINT
        )
    return key


def key_forms(environ: Mapping[str, str]) -> set[str]:
    """Every spelling of the configured key that could appear in text, for redaction:
    the raw value, the stripped one, and each word of it long enough to be the key."""
    raw = environ.get(KEY_ENV, "")
    forms = {raw, raw.strip(), *raw.split()}
    return {form for form in forms if len(form.strip()) >= 6}
