"""Which URLs figbuild talks to: https anywhere, plain http only to this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from figbuild.errors import UsageError


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """``url`` if it is https://, or http:// to a loopback host; else a UsageError."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise UsageError(
        f"refusing {what} {url!r}: only https:// URLs (or http:// to a loopback host) are allowed",
        hint="the Paper Banana API is served over https; http is for the local emulator",
    )
