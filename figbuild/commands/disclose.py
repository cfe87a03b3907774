"""`figbuild disclose`: the AI-usage statement, from the lock and the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from figbuild.commands import Env
from figbuild.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from figbuild.manifest import Manifest


def disclose(env: Env, *, fmt: str | None, output: Path | None) -> int:
    """Print (or write to ``output``) the statement; warn about images that only stand in."""
    from figbuild import atomic, disclosure

    paper = env.paper()
    manifest, lock = paper.manifest, paper.read_lock()
    fmt = fmt or _format_for(output) or _format_for(_configured(paper.root, manifest)) or "latex"
    if fmt not in disclosure.FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(disclosure.FORMATS)}")
    facts = disclosure.statement(manifest, lock)
    for warning in facts.warnings():
        env.console.error(f"warning: {warning}")
    if output is not None and fmt != "json" and disclosure.is_managed(manifest, output):
        text = disclosure.managed_text(manifest, lock, fmt)  # with the header status checks
    else:
        template = None if fmt == "json" else disclosure.template_text(manifest)
        text = disclosure.render(facts, fmt, template)
    if output is None:
        env.console.print(text.rstrip("\n"))
        return ExitCode.OK
    try:
        atomic.write_bytes(output, text.encode("utf-8"))
    except OSError as exc:
        from figbuild.errors import FileError

        raise FileError(atomic.explain(exc, output)) from None
    env.console.note(f"wrote {output}")
    return ExitCode.OK


def _configured(root: Path, manifest: Manifest) -> Path | None:
    """The paper's disclosure file, if the manifest names one."""
    disclosure = manifest.disclosure
    return root / disclosure.output if disclosure is not None and disclosure.output else None


def _format_for(path: Path | None) -> str | None:
    if path is None:
        return None
    return {".tex": "latex", ".md": "markdown", ".json": "json"}.get(path.suffix.lower())
