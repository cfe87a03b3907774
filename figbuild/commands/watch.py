"""`figbuild watch`: sync what each edit makes stale, until Ctrl-C or SIGTERM."""

from __future__ import annotations

from figbuild.commands import BackendOptions, Env
from figbuild.errors import ExitCode, FigbuildError, UsageError


def watch(env: Env, backend: BackendOptions, *, settle: float | None, poll: bool, draft: bool) -> int:
    """Watch the paper until Ctrl-C (exit 130) or SIGTERM (exit 0)."""
    import signal

    from figbuild import backends
    from figbuild.output import reporter_for
    from figbuild.sigint import stops_on_ctrl_c
    from figbuild.watch import Watcher, WatchOptions

    root = env.paper_root()
    terminated = []

    def on_term(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if draft and backend.emulator:
        raise UsageError("--draft draws placeholders; it excludes --emulator")
    if settle is None:
        settle = 0.5 if draft else 2.0
    options = WatchOptions(
        settle=settle, poll=poll, max_credits=backend.max_credits, jobs=backend.jobs, draft=draft
    )
    name = backend.backend_name(placeholder=draft)
    reporter = reporter_for(env.console)
    if draft:
        env.console.note("draft: placeholders for stale figures; `figbuild sync` makes the real ones")
    try:
        with (
            stops_on_ctrl_c(),
            backends.open_backend(name, reporter=reporter, trace=env.console.debug) as session,
        ):
            Watcher(root, session, reporter, options).run()
    except (KeyboardInterrupt, FigbuildError) as exc:
        if isinstance(exc, FigbuildError) and exc.exit_code != ExitCode.INTERRUPTED:
            raise
        env.console.note("stopped watching; every submitted task is recorded in figures.lock")
        return ExitCode.OK if terminated else ExitCode.INTERRUPTED
    finally:
        reporter.close()
    return ExitCode.OK
