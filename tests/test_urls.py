"""Which URLs figbuild talks to: https anywhere, plain http only to this machine."""

from __future__ import annotations

import pytest

from figbuild.errors import UsageError
from figbuild.urls import check_url, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("localhost.example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "url",
    [
        "https://paperbanana.run/api/v1",
        "https://10.0.0.1/x",
        "http://127.0.0.1:8080/api/v1",
        "http://[::1]:80/api/v1",
        "http://localhost:1/files/a.png",
    ],
)
def test_check_url_accepts_https_and_loopback_http(url: str) -> None:
    assert check_url(url, "base URL") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://paperbanana.run/api/v1",
        "http://10.0.0.1/api/v1",
        "ftp://paperbanana.run/",
        "paperbanana.run",
        "https://",
        "http:///no-host",
    ],
)
def test_check_url_refuses_the_rest_and_says_why(url: str) -> None:
    with pytest.raises(UsageError, match="only https://") as raised:
        check_url(url, "image URL")
    assert f"refusing image URL {url!r}" in str(raised.value)
    assert raised.value.hint is not None
    assert "emulator" in raised.value.hint
