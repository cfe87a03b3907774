"""The commented starter manifest ``figbuild init`` writes."""

from __future__ import annotations

from pathlib import Path

from figbuild import atomic
from figbuild.errors import UsageError
from figbuild.manifest import MANIFEST_NAME

STARTER = """\
# figbuild manifest: every generated figure of this paper.
# Paths are relative to this file. Run `figbuild status` to see what is out of
# date and `figbuild sync` to generate it (PAPERBANANA_API_KEY must be set;
# never put the key in this file). For completion in editors, add a first line
# "# yaml-language-server: $schema=PATH", PATH being figbuild's
# schemas/figures.schema.json (`figbuild validate --schema-path` prints it).
version: 1
output_dir: figures          # where figures go unless a figure sets `output`

defaults:                    # apply to every figure unless it sets its own
  mode: pipeline             # pipeline: prompt + paper content | standard: prompt only
  model: nano-banana-pro     # nano-banana-pro | nano-banana | nano-banana-2
  resolution: 1K             # 1K (10 credits) | 2K (15) | 4K (25)
  aspect_ratio: "16:9"       # 1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9

vars:                        # values the prompts can use as {{ name }}
  method: MyMethod

figures:
  overview:                  # the id: letters, digits, - and _
    prompt: >-
      A clean architecture overview of {{ method }} for an academic paper,
      showing its main components and the data flow between them.
    # content: sections/method.tex          # a file, a glob, or a list of them
    # content:
    #   - {file: paper.md, section: Method}   # one section of a file
    # output: figures/overview.pdf          # .png (default), .jpg or .pdf
"""


def write_starter(directory: Path) -> Path:
    """Write the starter manifest into ``directory``; refuse to overwrite one."""
    path = directory / MANIFEST_NAME
    if path.exists():
        raise UsageError(f"{path} already exists; not overwriting it", hint="edit it, or remove it first")
    atomic.write_bytes(path, STARTER.encode("utf-8"))
    return path


def install_git(directory: Path) -> list[str]:
    """Make git merge ``figures.lock`` with ``figbuild merge-lock`` in the repository that
    holds ``directory``; returns what was done, in words."""
    from figbuild import vcs

    if vcs.toplevel(directory) is None:
        raise UsageError(
            f"{directory} is not in a git work tree", hint="run `git init` first, then `figbuild init --git`"
        )
    try:
        return vcs.install_merge_driver(directory)
    except OSError as exc:
        raise UsageError(f"could not install the merge driver: {exc}") from None
