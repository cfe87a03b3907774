"""The files a paper's figures are made from, for build tools (``figbuild deps``).

A build tool that knows these files rebuilds after an edit to any of them alone:
the manifest, the lock and every file a content source names. Never fails on a
manifest or content problem: it lists what it can, and the sync reports the rest.
"""

from __future__ import annotations

from pathlib import Path

from figbuild import lockfile
from figbuild import manifest as manifests
from figbuild.content import ContentError, ContentReader
from figbuild.errors import FigbuildError


def dependencies(directory: Path, *, search_parents: bool = False) -> list[str]:
    """The manifest, the lock and every existing content file, relative to the paper root.

    Raises UsageError only when there is no manifest at all.
    """
    path = manifests.find(directory, search_parents=search_parents)
    files = [manifests.MANIFEST_NAME, lockfile.LOCK_NAME]
    try:
        manifest, _ = manifests.check(path)
    except FigbuildError:
        manifest = None
    if manifest is None:
        return files
    if manifest.disclosure is not None:
        # The statement's template is an input; its file is written by sync and included by the paper.
        files.extend(name for name in (manifest.disclosure.template, manifest.disclosure.output) if name)
    reader = ContentReader(manifest.root)
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
    return list(dict.fromkeys(files))
