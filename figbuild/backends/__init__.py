"""Image backends: the interface (:mod:`.base`), one module per backend, and this registry.

Adding an image API is one new module with an ``open_session`` context manager
that yields a :class:`~figbuild.backends.base.Backend`, plus one line in
:data:`BACKENDS`. Modules are imported only when chosen, so naming a backend
loads no HTTP stack.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from figbuild.errors import UsageError

if TYPE_CHECKING:
    from figbuild.backends.base import Backend
    from figbuild.report import Reporter
    from figbuild.request import Terms

#: Backend name -> module with its ``open_session``.
BACKENDS: dict[str, str] = {
    "paperbanana": "figbuild.backends.paperbanana.backend",
    "emulator": "figbuild.backends.emulated",
    "placeholder": "figbuild.backends.placeholder",
}
DEFAULT = "paperbanana"


def choose(*, placeholder: bool, emulator: bool) -> str:
    """The backend the ``--placeholder`` / ``--emulator`` flags name."""
    if placeholder and emulator:
        raise UsageError("--placeholder and --emulator exclude each other; pick one")
    return "placeholder" if placeholder else "emulator" if emulator else DEFAULT


def redact(text: str) -> str:
    """``text`` with every form of the configured API key (raw, stripped, each word of
    it) replaced, and control characters other than line breaks escaped: for anything
    printed, and anything from a server that is kept (a failure's reason in the lock)."""
    from figbuild.backends.paperbanana.settings import redaction_forms
    from figbuild.safetext import printable_lines

    for form in sorted(redaction_forms(os.environ), key=len, reverse=True):
        text = text.replace(form, "sk-***")
    return printable_lines(text)


def default_terms() -> Terms:
    """What the API the manifest targets charges and accepts: checked by validate and status."""
    from figbuild.backends.paperbanana.terms import TERMS

    return TERMS


@contextlib.contextmanager
def open_backend(
    name: str,
    *,
    reporter: Reporter,
    trace: Callable[[str], None] | None = None,
    fail_fast: bool = False,
) -> Iterator[Backend]:
    """Set up the backend called ``name`` for one command; torn down on exit.

    ``fail_fast`` (for build hooks): give up on an unreachable service after one
    retry, instead of backing off for minutes on every build.
    """
    module = importlib.import_module(BACKENDS[name])
    with module.open_session(reporter, trace, fail_fast=fail_fast) as backend:
        yield backend
