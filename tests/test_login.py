"""`figbuild login` / `logout` / `login --status`, end to end against the emulator.

Each run is a real ``python -m figbuild`` process with a private config folder, so
that what one run stores the next one finds, as for a user whose build is started
from an editor without the shell's environment. The permission refusals run as a
user file modes apply to (see tests/test_permissions.py).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from figbuild.backends.paperbanana import credentials
from figbuild.backends.paperbanana.settings import Settings, find_key
from figbuild.emulator import Emulator
from figbuild.errors import UsageError

from .conftest import EmulatorFactory, PaperFactory, simple_manifest
from .test_permissions import PREFIX, THROWAWAY_ID

GOOD = "sk-good-0123456789"
OTHER = "sk-other-9876543210"

pytestmark = pytest.mark.slow


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass
class User:
    """A user's environment: a home, a config folder, the emulator as the API."""

    home: Path
    server: Emulator

    @property
    def config(self) -> Path:
        return self.home / ".config" / "figbuild"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PAPERBANANA_BASE_URL": self.server.base_url,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        env.update(extra)
        return env

    def figbuild(
        self, *args: str, stdin: str = "", prefix: list[str] | None = None, umask: int = 0o022, **extra: str
    ) -> Run:
        argv = [*(prefix or []), sys.executable, "-m", "figbuild", *args]
        done = subprocess.run(
            argv,
            env=self.env(**extra),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            umask=umask,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def user(tmp_path: Path, make_emulator: EmulatorFactory) -> User:
    home = tmp_path / "home"
    home.mkdir()
    return User(home, make_emulator(key=GOOD))


def _no_key_in(run: Run, *keys: str) -> None:
    for key in keys:
        assert key not in run.stdout
        assert key not in run.stderr


def test_a_key_checked_and_stored_by_login_is_found_by_every_later_command(
    user: User, make_paper: PaperFactory
) -> None:
    login = user.figbuild("-v", "login", "--with-key", stdin=GOOD + "\n")
    assert login.code == 0, login.stderr
    assert "credentials" in login.stderr
    assert "75000 credits" in login.stderr
    file = user.config / "credentials"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(user.config.stat().st_mode) == 0o700
    assert file.read_text() == GOOD + "\n"
    assert not (user.config / "keyring").exists()

    # No PAPERBANANA_API_KEY in any of these environments: the stored key is used.
    credits = user.figbuild("-v", "credits")
    assert credits.code == 0, credits.stderr
    assert "remaining credits: 75000" in credits.stdout
    assert user.figbuild("tasks").code == 0
    root = make_paper(simple_manifest(a={"prompt": "x"}))
    synced = user.figbuild("-v", "-C", str(root), "sync")
    assert synced.code == 0, synced.stderr
    assert (root / "figures" / "a.png").is_file()
    (root / "figures.yaml").write_text("version: 1\nfigures:\n  a:\n    prompt: y\n")
    hook = user.figbuild("-C", str(root), "sync", "--best-effort")
    assert hook.code == 0
    assert "warning" not in hook.stderr, "the best-effort sync found the key too"

    status = user.figbuild("login", "--status")
    assert status.code == 0
    assert status.stdout == f"API key: stored in {file}\n"
    for run in (login, credits, synced, hook, status):
        _no_key_in(run, GOOD, GOOD.removeprefix("sk-"))

    logout = user.figbuild("logout")
    assert logout.code == 0
    assert str(file) in logout.stderr
    assert list(user.config.iterdir()) == []
    after = user.figbuild("credits")
    assert after.code == 2
    assert "figbuild login" in after.stderr
    assert user.figbuild("login", "--status").code == 1


def test_a_key_the_api_refuses_is_not_stored(user: User) -> None:
    run = user.figbuild("login", "--with-key", stdin=OTHER + "\n")
    assert run.code == 1
    assert "refused the key" in run.stderr
    _no_key_in(run, OTHER)
    assert not (user.config / "credentials").exists()


def test_login_without_a_terminal_or_with_key_is_a_usage_error(user: User) -> None:
    run = user.figbuild("login")
    assert run.code == 2
    assert "--with-key" in run.stderr
    assert user.figbuild("login", "--with-key", stdin="\n").code == 2
    assert user.figbuild("login", "--with-key", stdin="pk-live-abcdef\n").code == 2
    assert not user.config.exists() or not any(user.config.iterdir())


def test_the_environment_key_wins_over_the_stored_one(user: User) -> None:
    assert user.figbuild("login", "--with-key", stdin=GOOD).code == 0
    # The emulator accepts only GOOD: a refusal proves the environment's key was sent.
    run = user.figbuild("credits", PAPERBANANA_API_KEY=OTHER)
    assert run.code == 1
    assert "refused the key" in run.stderr
    status = user.figbuild("login", "--status", PAPERBANANA_API_KEY=OTHER)
    assert status.stdout.startswith("API key: from the environment (PAPERBANANA_API_KEY)\n")
    assert "wins over the key stored in" in status.stdout
    _no_key_in(status, GOOD, OTHER)
    again = user.figbuild("login", "--with-key", stdin=GOOD, PAPERBANANA_API_KEY=OTHER)
    assert "PAPERBANANA_API_KEY is set in this environment and wins" in again.stderr


def test_a_readable_credentials_file_is_refused_with_the_chmod_that_fixes_it(user: User) -> None:
    assert user.figbuild("login", "--with-key", stdin=GOOD).code == 0
    file = user.config / "credentials"
    file.chmod(0o644)
    run = user.figbuild("credits")
    assert run.code == 2
    assert f"chmod 600 {file}" in run.stderr
    _no_key_in(run, GOOD)
    file.chmod(0o600)
    assert user.figbuild("credits").code == 0


# --- the keyring store ---------------------------------------------------------------------------


class _MemoryKeyring:
    """A keyring backend that keeps passwords in a dict (for the keyring store's tests)."""

    priority = 10

    def __init__(self) -> None:
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.passwords[(service, username)]


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[_MemoryKeyring]:
    keyring = pytest.importorskip("keyring", reason="the keyring extra is not installed")
    backend = _MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    monkeypatch.setattr(keyring, "get_password", backend.get_password)
    monkeypatch.setattr(keyring, "set_password", backend.set_password)
    monkeypatch.setattr(keyring, "delete_password", backend.delete_password)
    return backend


def test_with_a_usable_keyring_the_key_goes_there_and_a_marker_without_it_into_the_folder(
    memory_keyring: _MemoryKeyring,
) -> None:
    found = credentials.store(GOOD)
    assert found.source == "keyring"
    folder = credentials.config_dir()
    marker = folder / "keyring"
    assert GOOD not in marker.read_text()
    assert "_MemoryKeyring" in marker.read_text()
    assert not (folder / "credentials").exists()
    assert memory_keyring.passwords == {(credentials.SERVICE, credentials.USERNAME): GOOD}
    key = find_key()
    assert key is not None
    assert (key.key, key.source) == (GOOD, "keyring")
    assert Settings.from_env().key == GOOD


def test_logout_forgets_the_keyring_key_and_its_marker(memory_keyring: _MemoryKeyring) -> None:
    credentials.store(GOOD)
    removed = credentials.remove()
    assert len(removed) == 1
    assert "keyring" in removed[0]
    assert memory_keyring.passwords == {}
    assert list(credentials.config_dir().iterdir()) == []
    assert find_key() is None


def test_a_keyring_marker_without_the_keyring_package_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = credentials.config_dir()
    folder.mkdir(parents=True)
    (folder / "keyring").write_text("backend: some.Backend\n")
    monkeypatch.setattr(credentials, "_keyring_module", lambda: None)
    with pytest.raises(UsageError, match="keyring package is not installed") as caught:
        find_key()
    assert "figbuild[keyring]" in (caught.value.hint or "")


def test_without_a_usable_keyring_the_file_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "_keyring_module", lambda: None)
    assert credentials.store(GOOD).source == "file"
    assert (credentials.config_dir() / "credentials").read_text() == GOOD + "\n"


def test_a_stored_key_is_redacted_from_output_like_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    from figbuild.backends import redact

    monkeypatch.setattr(credentials, "_keyring_module", lambda: None)
    credentials.store(GOOD)
    find_key()
    assert GOOD not in redact(f"the server echoed {GOOD}")


# --- as a user file modes apply to ---------------------------------------------------------------


@pytest.fixture
def demoted(tmp_path: Path, make_emulator: EmulatorFactory) -> Iterator[User]:
    if PREFIX is None:
        pytest.skip("running as root without setpriv or runuser: file modes cannot be tested")
    probe = [*PREFIX, sys.executable, "-c", "import figbuild.cli, requests"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False, cwd="/")
    if done.returncode != 0:
        pytest.skip(f"a non-root user cannot run {sys.executable} with figbuild: {done.stderr[-200:]}")
    base = Path(tempfile.mkdtemp(prefix="figbuild-login-"))
    base.chmod(0o755)
    home = base / "home"
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, THROWAWAY_ID, THROWAWAY_ID)
    try:
        yield User(home, make_emulator(key=GOOD))
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _as_user(user: User, *args: str, stdin: str = "", umask: int = 0o022) -> Run:
    """figbuild run as the demoted user under ``umask``."""
    return user.figbuild(*args, stdin=stdin, prefix=PREFIX, umask=umask)


def test_login_creates_a_private_file_in_a_private_folder_whatever_the_umask(demoted: User) -> None:
    run = _as_user(demoted, "login", "--with-key", stdin=GOOD, umask=0)
    assert run.code == 0, run.stderr
    assert stat.S_IMODE(demoted.config.stat().st_mode) == 0o700
    assert stat.S_IMODE((demoted.config / "credentials").stat().st_mode) == 0o600
    assert _as_user(demoted, "credits").code == 0


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_group_or_world_readable_credentials_file_is_refused_as_its_owner(demoted: User, mode: int) -> None:
    assert _as_user(demoted, "login", "--with-key", stdin=GOOD).code == 0
    file = demoted.config / "credentials"
    file.chmod(mode)
    run = _as_user(demoted, "credits")
    assert run.code == 2
    assert "may be read by other users" in run.stderr
    assert f"run `chmod 600 {file}`" in run.stderr
    _no_key_in(run, GOOD)
    hook = _as_user(demoted, "login", "--status")
    assert hook.code == 2
    assert "chmod 600" in hook.stderr


def test_a_credentials_file_of_another_user_is_refused(demoted: User) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    assert _as_user(demoted, "login", "--with-key", stdin=GOOD).code == 0
    file = demoted.config / "credentials"
    os.chown(file, 0, 0)
    file.chmod(0o644)  # readable, so that it is its owner, not its mode, that is refused
    run = _as_user(demoted, "credits")
    assert run.code == 2
    assert "belongs to another user" in run.stderr
    _no_key_in(run, GOOD)


def test_the_prompt_hides_the_key_typed_at_a_terminal(user: User) -> None:
    pty = pytest.importorskip("pty")
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: figbuild login on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "figbuild", "login"], user.env())
    seen = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal seen
        import time

        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk

    read_until(b"API key")
    os.write(fd, GOOD.encode() + b"\n")
    read_until(b"credits left")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert b"logged in" in seen
    assert GOOD.encode() not in seen, "the key typed is not echoed"
    assert (user.config / "credentials").read_text() == GOOD + "\n"
