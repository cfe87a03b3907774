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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_ENV, "").strip()
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
