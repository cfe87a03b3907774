"""`figbuild gallery`: the static page, or the served one with its buttons."""

from __future__ import annotations

from pathlib import Path

from figbuild.commands import BackendOptions, Env
from figbuild.errors import ExitCode, UsageError


def gallery(
    env: Env,
    backend: BackendOptions,
    *,
    out: Path | None,
    serve: bool,
    host: str,
    port: int,
    watching: bool,
) -> int:
    """Write the gallery, or serve it on loopback until Ctrl-C."""
    from figbuild.gallery import serve as serving
    from figbuild.gallery import site

    if not serve:
        if watching or port or backend.any_set:
            raise UsageError("--watch, --port and the backend options need --serve")
        index = site.build(env.paper(), out, balance=site.key_balance())
        env.console.print(index.resolve().as_uri())
        return ExitCode.OK
    from figbuild.output import reporter_for
    from figbuild.sigint import stops_on_ctrl_c
    from figbuild.watch import WatchOptions

    serving.check_host(host)
    name = backend.backend_name()
    reporter = reporter_for(env.console)
    watch = WatchOptions(max_credits=backend.max_credits, jobs=backend.jobs) if watching else None

    def ready(url: str) -> None:
        env.console.print(f"figbuild gallery: {url}")
        env.console.note(
            "open that URL in your browser (its token lets one browser in, once); Ctrl-C stops it."
        )

    try:
        with stops_on_ctrl_c():
            serving.run(
                env.paper(),
                name,
                reporter,
                ready,
                out=out,
                host=host,
                port=port,
                watch=watch,
                max_credits=backend.max_credits,
                jobs=backend.jobs,
            )
    except KeyboardInterrupt:
        env.console.note("gallery server stopped")
    finally:
        reporter.close()
    return ExitCode.OK
