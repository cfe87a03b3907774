"""What git thinks of a paper's files: which outputs it would leave out of a commit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where git is run: a status outside git never loads it
    import subprocess


def ignored(root: Path, paths: Sequence[str], manifest: str | None = None) -> dict[str, str]:
    """The ``paths`` (relative to ``root``) that git ignores and does not track, each with
    the rule that ignores it (``.gitignore:3: *.pdf``).

    Empty when ``root`` is not in a git work tree or git is not installed, and when git
    ignores the paper's ``manifest`` too (a paper kept out of the repository it sits in,
    such as ``figbuild example`` inside a clone): then there is nothing to warn about.
    """
    if not paths or not _maybe_in_work_tree(root):
        return {}
    import subprocess

    asked = [*paths, manifest] if manifest is not None else list(paths)
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--verbose", "-z", "--stdin"],
            input="\0".join(asked) + "\0",
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if result.returncode != 0:  # 1: nothing ignored; 128: not a work tree
        return {}
    # --verbose -z: source NUL line NUL pattern NUL path NUL, per matched path. --verbose
    # also lists paths whose last matching pattern is a negation (!pattern): not ignored.
    fields = result.stdout.split("\0")
    rules = {}
    for start in range(0, len(fields) - 3, 4):
        source, line, pattern, path = fields[start : start + 4]
        if not pattern.startswith("!"):
            rules[path] = f"{source}:{line}: {pattern}"
    if manifest is not None and rules.pop(manifest, None) is not None:
        return {}
    return rules


def _maybe_in_work_tree(root: Path) -> bool:
    """False when git could not find a work tree for ``root``: no ``.git`` in it or any
    folder above it, and no ``GIT_*`` variable that could point git elsewhere. A paper
    outside git then costs no git process (a few milliseconds of every status), also in a
    shell that sets variables git only reads for other work (``GIT_SSL_CAINFO``,
    ``GIT_EDITOR``, an author's name: :func:`_elsewhere`)."""
    if any(_elsewhere(name) for name in os.environ if name.startswith("GIT_")):
        return True
    folder = os.path.realpath(root)
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):  # noqa: PTH118 - per status
            return True
        parent = os.path.dirname(folder)  # noqa: PTH120
        if parent == folder:
            return False
        folder = parent


#: ``GIT_*`` variables git reads only to transport, authenticate, edit, page, sign or
#: trace: none of them can make git find a repository, so none makes a paper outside
#: git worth a git process. Any other ``GIT_*`` variable (``GIT_DIR``, ``GIT_WORK_TREE``,
#: ``GIT_CONFIG_*``, one added by a future git) still does.
_UNRELATED_PREFIXES = ("GIT_SSL_", "GIT_SSH", "GIT_HTTP_", "GIT_CURL_", "GIT_PROXY_", "GIT_TRACE")
_UNRELATED = frozenset(
    {
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_EDITOR",
        "GIT_SEQUENCE_EDITOR",
        "GIT_PAGER",
        "GIT_ASKPASS",
        "GIT_TERMINAL_PROMPT",
        "GIT_MERGE_VERBOSITY",
        "GIT_FLUSH",
    }
)


def _elsewhere(name: str) -> bool:
    """Whether the ``GIT_*`` variable ``name`` might make git find a repository elsewhere."""
    return name not in _UNRELATED and not name.startswith(_UNRELATED_PREFIXES)


#: What `figbuild init --git` installs: git merges figures.lock with figbuild's driver.
ATTRIBUTES_LINE = "figures.lock merge=figbuild"
DRIVER = "figbuild merge-lock %O %A %B"


def git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``git -C root args``; None when git is not installed or hangs."""
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def toplevel(root: Path) -> Path | None:
    """The top of the git work tree ``root`` is in, or None outside one."""
    result = git(root, "rev-parse", "--show-toplevel")
    if result is None or result.returncode != 0:
        return None
    return Path(result.stdout.decode("utf-8", "replace").strip())


def install_merge_driver(root: Path, driver: str = DRIVER) -> list[str]:
    """Make git merge ``figures.lock`` with figbuild: a ``.gitattributes`` line beside the
    manifest and the ``merge.figbuild.driver`` setting of the repository. Returns what
    was done, in words; raises OSError when git refuses."""
    done: list[str] = []
    attributes = root / ".gitattributes"
    lines = attributes.read_text(encoding="utf-8").splitlines() if attributes.exists() else []
    if ATTRIBUTES_LINE not in (line.strip() for line in lines):
        lines.append(ATTRIBUTES_LINE)
        attributes.write_text("\n".join(lines) + "\n", encoding="utf-8")
        done.append(f"added '{ATTRIBUTES_LINE}' to {attributes.name}")
    for key, value in (("merge.figbuild.name", "figbuild lock merge"), ("merge.figbuild.driver", driver)):
        result = git(root, "config", key, value)
        if result is None or result.returncode != 0:
            why = result.stderr.decode("utf-8", "replace").strip() if result is not None else "git not found"
            raise OSError(f"git config {key} failed: {why}")
    done.append(f'set git config merge.figbuild.driver "{driver}"')
    return done


def blob(root: Path, revision: str, path: str) -> bytes | None:
    """The bytes of ``path`` (relative to the work tree's top) at ``revision``, or None."""
    result = git(root, "cat-file", "blob", f"{revision}:{path}")
    return result.stdout if result is not None and result.returncode == 0 else None


def revisions(root: Path) -> list[str]:
    """Commits a merge's other side may be: MERGE_HEAD, FETCH_HEAD, then every ref's tip."""
    found: list[str] = []
    for name in ("MERGE_HEAD", "FETCH_HEAD", "ORIG_HEAD"):
        result = git(root, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        if result is not None and result.returncode == 0:
            found.append(result.stdout.decode().strip())
    result = git(root, "for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes", "refs/tags")
    if result is not None and result.returncode == 0:
        found.extend(result.stdout.decode().split())
    return list(dict.fromkeys(found))


def tracked_path_of(root: Path, data: bytes, name: str) -> str | None:
    """The path (from the work tree's top) of the tracked file called ``name`` whose bytes
    in the index are ``data``: which ``figures.lock`` git is merging."""
    import subprocess

    hashed = subprocess.run(
        ["git", "-C", str(root), "hash-object", "--stdin"], input=data, capture_output=True, check=False
    )
    listed = git(root, "ls-files", "-s", "-z")
    if hashed.returncode != 0 or listed is None or listed.returncode != 0:
        return None
    wanted = hashed.stdout.decode().strip()
    for line in listed.stdout.decode("utf-8", "replace").split("\0"):
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) >= 2 and parts[1] == wanted and path.rsplit("/", 1)[-1] == name:
            return path
    return None
