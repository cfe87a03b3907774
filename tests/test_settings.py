"""Where the Paper Banana API is and which key to use, read from the environment."""

from __future__ import annotations

import pytest

from figbuild.backends.paperbanana.settings import EMULATOR_KEY, Settings
from figbuild.errors import UsageError

KEY = "sk-test-very-secret-0123456789"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://paperbanana.run/api/v1", True),
        ("http://127.0.0.1:8080/api/v1", True),
        ("http://127.1.2.3/api/v1", True),
        ("http://[::1]:80/api/v1", True),
        ("http://localhost:1/api/v1", True),
        ("http://paperbanana.run/api/v1", False),
        ("http://10.0.0.1/api/v1", False),
        ("ftp://paperbanana.run/", False),
        ("paperbanana.run", False),
    ],
)
def test_base_url_rules(url: str, ok: bool) -> None:
    environ = {"PAPERBANANA_API_KEY": KEY, "PAPERBANANA_BASE_URL": url}
    if ok:
        assert Settings.from_env(environ).base_url == url
    else:
        with pytest.raises(UsageError, match="https"):
            Settings.from_env(environ)


def test_missing_and_malformed_keys_are_refused_without_echoing() -> None:
    with pytest.raises(UsageError, match="PAPERBANANA_API_KEY is not set"):
        Settings.from_env({})
    with pytest.raises(UsageError) as raised:
        Settings.from_env({"PAPERBANANA_API_KEY": "pk-live-abcdef"})
    assert "pk-live-abcdef" not in str(raised.value)
    assert "sk-" in str(raised.value)


def test_default_base_url() -> None:
    assert Settings.from_env({"PAPERBANANA_API_KEY": KEY}).base_url == "https://paperbanana.run/api/v1"


def test_trailing_slashes_are_dropped_and_blank_means_the_default() -> None:
    environ = {"PAPERBANANA_API_KEY": f"  {KEY} ", "PAPERBANANA_BASE_URL": "https://api.example.test/api/v1/"}
    settings = Settings.from_env(environ)
    assert (settings.base_url, settings.key) == ("https://api.example.test/api/v1", KEY)
    blank = Settings.from_env({"PAPERBANANA_API_KEY": KEY, "PAPERBANANA_BASE_URL": "  "})
    assert blank.base_url == "https://paperbanana.run/api/v1"


def test_for_emulator_uses_the_emulator_key_and_loopback_only() -> None:
    settings = Settings.for_emulator("http://127.0.0.1:8123/api/v1/")
    assert (settings.base_url, settings.key) == ("http://127.0.0.1:8123/api/v1", EMULATOR_KEY)
    with pytest.raises(UsageError, match="emulator URL"):
        Settings.for_emulator("http://example.org/api/v1")
