"""The files git reads to decide whether a path is ignored, for the no-op fast path: a
snapshot that said "ignored by git" (or did not) is replayed only while none of them
changed. Standard library only, like :mod:`figbuild.fastpath`, which imports it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence


def inputs(root: str, outputs: Sequence[str]) -> list[str]:
    """The files git reads to decide whether an output is ignored: the repository's
    ``.git`` (or its absence in every directory above the root), the index (a tracked
    file is never ignored), ``info/exclude``, config and global excludes, and every
    ``.gitignore`` from the work tree's top down to each output's directory."""
    inputs = []
    top = os.path.realpath(root)
    while True:
        dot_git = os.path.join(top, ".git")
        inputs.append(dot_git)
        if os.path.lexists(dot_git):
            break
        parent = os.path.dirname(top)
        if parent == top:
            return inputs  # not in a work tree: only a new .git would change the answer
        top = parent
    git_dir = dot_git
    if os.path.isfile(dot_git):  # a worktree or submodule: "gitdir: <path>"
        with open(dot_git, encoding="utf-8") as handle:
            git_dir = os.path.join(top, handle.read().strip().removeprefix("gitdir:").strip())
    common = git_dir
    commondir = os.path.join(git_dir, "commondir")
    inputs.append(commondir)
    if os.path.isfile(commondir):
        with open(commondir, encoding="utf-8") as handle:
            common = os.path.join(git_dir, handle.read().strip())
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    configs = [
        os.path.join(common, "config"),
        os.path.join(git_dir, "config.worktree"),
        os.path.expanduser("~/.gitconfig"),
        os.path.join(config_home, "git", "config"),
        "/etc/gitconfig",
    ]
    read, excludes = configs_read(configs)
    inputs += read
    inputs += [
        os.path.join(git_dir, "index"),
        os.path.join(common, "info", "exclude"),
        os.path.join(config_home, "git", "ignore"),
    ]
    inputs += excludes
    directories = {top}
    for output in outputs:
        directory = os.path.dirname(os.path.realpath(output))
        while directory.startswith(top) and directory not in directories:
            directories.add(directory)
            directory = os.path.dirname(directory)
    inputs += [os.path.join(directory, ".gitignore") for directory in directories]
    return inputs


def configs_read(configs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Every config file git may read from ``configs`` (their ``[include]`` and
    ``[includeIf]`` paths followed, whatever the condition: reading one too many only
    costs a replay), and the files a ``core.excludesFile`` in any of them names."""
    read: list[str] = []
    excludes: list[str] = []
    queue = [(config, 0) for config in configs]
    while queue:
        config, depth = queue.pop(0)
        if config in read or depth > 10:
            continue
        read.append(config)
        try:
            with open(config, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        section = ""
        for raw in lines:
            line = raw.strip()
            if line.startswith("["):
                end = line.find("]")
                section = line[1:end].strip().lower() if end > 0 else ""
                line = line[end + 1 :].strip() if end > 0 else ""
            name, _, value = line.partition("=")
            name, value = name.strip().lower(), value.split("#")[0].split(";")[0].strip().strip('"')
            if not value:
                continue
            if name == "excludesfile":
                excludes.append(os.path.expanduser(value))
            elif name == "path" and (section == "include" or section.startswith("includeif")):
                included = os.path.expanduser(value)
                if not os.path.isabs(included):
                    included = os.path.join(os.path.dirname(config), included)
                queue.append((included, depth + 1))
    return read, excludes
