"""The files a paper's figures are made from, for build tools (``figbuild deps``).

A build tool that knows these files rebuilds after an edit to any of them alone:
the manifest, the lock and every file a content source names. Never fails on a
manifest or content problem: it lists what it can, and the sync reports the rest.

The manifest is taken from the per-paper cache when its bytes passed every check
before, and each content part from the stat cache when none of its files changed:
an unchanged paper is listed without parsing YAML or reading LaTeX (and, through
the fast path, without starting the rest of figbuild at all).
"""

from __future__ import annotations

from pathlib import Path

from figbuild import lockfile
from figbuild import manifest as manifests
from figbuild.cache import Cache
from figbuild.content import ContentError, ContentReader
from figbuild.digests import StatCache
from figbuild.errors import FigbuildError


def dependencies(directory: Path, *, search_parents: bool = False) -> list[str]:
    """The manifest, the lock and every existing content file, relative to the paper root.

    Raises UsageError only when there is no manifest at all.
    """
    return listing(directory, search_parents=search_parents)[1]


def listing(directory: Path, *, search_parents: bool = False) -> tuple[Path, list[str]]:
    """The paper root and :func:`dependencies`."""
    path = manifests.find(directory, search_parents=search_parents)
    files = [manifests.MANIFEST_NAME, lockfile.LOCK_NAME]
    cache = Cache(path.parent)
    try:
        manifest, _ = manifests.check(path, cache)
    except FigbuildError:
        manifest = None
    if manifest is None:
        return path.parent, files
    if manifest.disclosure is not None:
        # The statement's template is an input; its file is written by sync and included by the paper.
        files.extend(name for name in (manifest.disclosure.template, manifest.disclosure.output) if name)
    reader = ContentReader(manifest.root, StatCache(cache, "content"))
    for figure in manifest.figures:
        for source in figure.content:
            try:
                # Every file a part was read from: \input-ed ones too.
                files.extend(file for part in reader.parts(source) for file in part.files)
                continue
            except ContentError:
                pass
            try:
                matched = reader.expand(source.pattern)
            except ContentError:
                continue
            files.extend(p.relative_to(manifest.root).as_posix() for p in matched)
    cache.save()
    return manifest.root, list(dict.fromkeys(files))
