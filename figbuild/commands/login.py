"""`figbuild login` / `logout` / `login --status`: keep the API key for this user.

The key is checked against ``/credits`` before it is kept (:mod:`figbuild.backends.
paperbanana.credentials` says where); it is never printed, only where it lives.
"""

from __future__ import annotations

from figbuild.commands import Env
from figbuild.errors import ExitCode, UsageError


def login(env: Env, key: str) -> int:
    """Check ``key`` against the API, then keep it for this user."""
    from figbuild.backends.paperbanana import credentials
    from figbuild.backends.paperbanana.client import Client
    from figbuild.backends.paperbanana.settings import KEY_ENV, KEY_HINT, Settings

    key = key.strip()
    if not key:
        raise UsageError("no key given; nothing stored", hint=KEY_HINT)
    settings = Settings.with_key(key)
    with Client(settings, trace=env.console.debug) as client:
        balance = client.credits()  # a refused key is an error here, and nothing is stored
    found = credentials.store(key)
    where = "the system keyring" if found.source == "keyring" else found.where
    env.console.note(
        f"logged in to {settings.base_url}: key stored in {where} "
        f"({balance.remaining_credits} credits left, plan {balance.team_plan})"
    )
    if _environment_sets_key():
        env.console.note(f"note: {KEY_ENV} is set in this environment and wins over the stored key")
    return ExitCode.OK


def status(env: Env) -> int:
    """Where the key in use comes from (never the key); exit 1 when there is none."""
    from figbuild.backends.paperbanana.settings import KEY_ENV, KEY_HINT, find_key

    found = find_key()
    if found is None:
        env.console.print("no API key: PAPERBANANA_API_KEY is not set and no key is stored")
        env.console.note(f"hint: {KEY_HINT}")
        return ExitCode.FAILED
    if found.source == "environment":
        env.console.print(f"API key: from the environment ({KEY_ENV})")
        shadowed = _stored_quietly()
        if shadowed:
            env.console.print(f"  (it wins over the key stored in {shadowed})")
    elif found.source == "keyring":
        env.console.print(f"API key: stored in the system keyring ({found.where})")
    else:
        env.console.print(f"API key: stored in {found.where}")
    return ExitCode.OK


def logout(env: Env) -> int:
    """Forget the stored key, wherever it is."""
    from figbuild.backends.paperbanana import credentials
    from figbuild.backends.paperbanana.settings import KEY_ENV

    removed = credentials.remove()
    if removed:
        env.console.note("removed " + " and ".join(removed))
    else:
        env.console.note("no stored key; nothing to remove")
    if _environment_sets_key():
        env.console.note(f"note: {KEY_ENV} is still set in this environment; unset it to stop using it")
    return ExitCode.OK


def _environment_sets_key() -> bool:
    """Whether ``PAPERBANANA_API_KEY`` is set (a malformed one counts)."""
    import os

    from figbuild.backends.paperbanana.settings import KEY_ENV

    return bool(os.environ.get(KEY_ENV, "").strip())


def _stored_quietly() -> str | None:
    """Where a stored key is, from the marker files alone (the key is not read)."""
    from figbuild.backends.paperbanana.credentials import FILE_NAME, MARKER_NAME, config_dir

    folder = config_dir()
    if (folder / FILE_NAME).exists():
        return str(folder / FILE_NAME)
    if (folder / MARKER_NAME).exists():
        return "the system keyring"
    return None
