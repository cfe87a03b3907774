"""What git thinks of a paper's files: which outputs it would leave out of a commit."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def ignored(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """The ``paths`` (relative to ``root``) that git ignores and does not track, each with
    the rule that ignores it (``.gitignore:3: *.pdf``).

    Empty when ``root`` is not in a git work tree or git is not installed: then there
    is nothing to warn about.
    """
    if not paths:
        return {}
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--verbose", "-z", "--stdin"],
            input="\0".join(paths) + "\0",
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
    return rules
