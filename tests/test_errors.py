"""One error root; every error carries its fix, and its class carries its exit code."""

from __future__ import annotations

import pytest

from figbuild import errors
from figbuild.errors import (
    AmbiguousSubmission,
    ApiError,
    BudgetExceeded,
    ExitCode,
    FigbuildError,
    Interrupted,
    LockFileError,
    ManifestError,
    Problem,
    UsageError,
)


def test_exit_codes() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 130]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), ExitCode.USAGE),
        (ManifestError([]), ExitCode.USAGE),
        (LockFileError("x"), ExitCode.USAGE),
        (ApiError("x"), ExitCode.FAILED),
        (errors.NotFound("x", status=404), ExitCode.FAILED),
        (AmbiguousSubmission("x", submitted_after=1.0), ExitCode.FAILED),
        (BudgetExceeded("x"), ExitCode.FAILED),
        (Interrupted("x"), ExitCode.INTERRUPTED),
    ],
)
def test_every_error_is_a_figbuild_error_with_its_exit_code(error: FigbuildError, code: ExitCode) -> None:
    assert isinstance(error, FigbuildError)
    assert error.exit_code is code


def test_the_hint_follows_the_message() -> None:
    assert str(UsageError("no key")) == "no key"
    assert str(UsageError("no key", hint="set it")) == "no key\n  hint: set it"
    error = ApiError("refused", status=403, hint="upgrade")
    assert (error.message, error.status, error.hint) == ("refused", 403, "upgrade")
    ambiguous = AmbiguousSubmission("dropped", submitted_after=12.5, status=502)
    assert (ambiguous.submitted_after, ambiguous.status, ambiguous.hint) == (12.5, 502, None)


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("figures.yaml", "bad"), "figures.yaml: bad"),
        (Problem("figures.yaml", "bad", line=3), "figures.yaml:3: bad"),
        (
            Problem("figures.yaml", "bad", line=3, figure="a", key="prompt", hint="fix it"),
            "figures.yaml:3: figure 'a', key 'prompt': bad (hint: fix it)",
        ),
        (Problem("figures.yaml", "bad", key="version"), "figures.yaml: key 'version': bad"),
    ],
)
def test_a_problem_says_where(problem: Problem, text: str) -> None:
    assert str(problem) == text


def test_a_manifest_error_lists_every_problem() -> None:
    one = ManifestError([Problem("figures.yaml", "bad")])
    assert str(one) == "1 problem in the manifest; nothing was sent or written\n  figures.yaml: bad"
    two = ManifestError([Problem("f.yaml", "a", line=1), Problem("f.yaml", "b", line=2)])
    assert str(two).splitlines() == [
        "2 problems in the manifest; nothing was sent or written",
        "  f.yaml:1: a",
        "  f.yaml:2: b",
    ]
    assert len(two.problems) == 2
