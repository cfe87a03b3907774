"""``figbuild gallery --serve``: the gallery on a loopback port, with working buttons.

Only a loopback address is ever bound. Every request must name this server in
its ``Host`` header (so a web page that rebinds a DNS name to 127.0.0.1 cannot
read the page and its token), and every action must carry the per-run token
that only the served page holds (so another page in the browser cannot post to
it): anything else is refused with 403. The page polls ``/version``, a hash of
the stats of the files a figure's card depends on, and reloads when it changes;
the site is rebuilt on the next page load.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from figbuild import lockfile
from figbuild.errors import FigbuildError, UsageError
from figbuild.gallery import site
from figbuild.gallery.actions import Actions, PaperActions
from figbuild.gallery.model import Gallery
from figbuild.paper import Paper
from figbuild.report import Reporter
from figbuild.store import location
from figbuild.urls import is_loopback
from figbuild.watch import WatchOptions

TOKEN_HEADER = "X-Figbuild-Token"  # noqa: S105 - the header's name, not a secret
#: The site's subfolders the server hands out, each file by a plain name.
_FILES = {site.THUMBS, site.IMAGES, site.SENT}
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
}
#: The page's own inline style and script, and nothing from anywhere else.
_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: Most bytes of an action's JSON body.
_MAX_BODY = 4096


def check_host(host: str) -> str:
    """``host`` if it is a loopback address; the gallery is never served elsewhere."""
    if not is_loopback(host):
        raise UsageError(
            f"refusing to serve the gallery on {host!r}: only loopback addresses are allowed",
            hint="use 127.0.0.1 (the default), ::1 or localhost; the page's buttons spend credits",
        )
    return host


@dataclass
class Builder:
    """Builds the site on demand and says when what it shows may have changed."""

    paper_root: Path
    out: Path
    token: str
    watching: bool = False
    build: Callable[[Paper], Gallery] = site.collect
    _built: str | None = None
    _watched: tuple[Path, ...] = ()
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def version(self) -> str:
        """A hash of the stats of the manifest, the lock, the outputs, the content
        sources and the store: cheap enough to poll every second."""
        digest = hashlib.sha256()
        # The store's index folder gains a file with every image stored (a new candidate).
        store_index = location(self.paper_root, os.environ) / "index"
        paths = (
            self.paper_root / "figures.yaml",
            self.paper_root / lockfile.LOCK_NAME,
            store_index,
            *self._watched,
        )
        for path in paths:
            try:
                st = path.stat()
                digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
            except OSError:
                digest.update(f"{path}\0-\n".encode())
        return digest.hexdigest()[:16]

    def index(self) -> Path:
        """The site's index page, rebuilt first if anything changed since it was built.

        The version the page carries is taken before the files are read, so that a
        change made during a build makes the page reload, never go unnoticed."""
        with self._mutex:
            index = self.out / site.INDEX
            version = self.version()
            if version == self._built and index.exists():
                return index
            while True:
                gallery = self.build(Paper.open(self.paper_root))
                watched = tuple(_watched_paths(gallery))
                if watched == self._watched:
                    break
                # The first build, or figures came or went: take the version over
                # the files this gallery shows, then read them again.
                self._watched = watched
                version = self.version()
            site.write(gallery, self.out, live=site.Live(self.token, version, self.watching))
            self._built = version
            return index


def _watched_paths(gallery: Gallery) -> Iterator[Path]:
    seen: set[str] = set()
    for card in gallery.cards:
        for relative in (card.output, *(source.file for source in card.sources)):
            if relative not in seen:
                seen.add(relative)
                yield gallery.root / relative


class GalleryServer:
    """The gallery on ``host:port`` (0: a free port) until :meth:`stop`."""

    def __init__(self, builder: Builder, actions: Actions, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.builder = builder
        self.actions = actions
        self.token = builder.token
        self._server = _Server((check_host(host), port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def allowed_hosts(self) -> set[str]:
        port = self._server.server_address[1]
        return {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")} | {self.url.split("/")[2]}

    def start(self) -> GalleryServer:
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="figbuild-gallery")
        self._thread.daemon = True
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until Ctrl-C (KeyboardInterrupt propagates) or :meth:`stop`."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> GalleryServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gallery: GalleryServer) -> None:
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.gallery = gallery
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "figbuild-gallery"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the terminal shows the URL and what the buttons did, not every request

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._index()
        elif path == "/version":
            self._json(200, {"version": self.server.gallery.builder.version()})
        else:
            self._file(path)

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        gallery = self.server.gallery
        sent = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(sent.encode(), gallery.token.encode()):
            self._json(403, {"error": "refused: this request does not carry the gallery's token"})
            return
        name = self.path.split("?", 1)[0].removeprefix("/action/")
        if name not in ("pick", "restore", "accept", "sync") or not self.path.startswith("/action/"):
            self._json(404, {"error": f"no such action: {self.path}"})
            return
        try:
            body = self._body()
            message = _dispatch(gallery.actions, name, body)
        except (ValueError, KeyError, TypeError) as exc:
            self._json(400, {"error": f"bad request: {exc}"})
        except FigbuildError as exc:
            self._json(409, {"error": _redacted(str(exc))})
        else:
            self._json(200, {"ok": True, "message": message})

    def _host_ok(self) -> bool:
        host = self.headers.get("Host", "")
        if host in self.server.gallery.allowed_hosts():
            return True
        self._json(403, {"error": "refused: unexpected Host header"})
        return False

    def _body(self) -> dict[str, Any]:
        if self.headers.get_content_type() != "application/json":
            raise ValueError("the body must be application/json")
        length = int(self.headers.get("Content-Length", "0"))
        if not 0 < length <= _MAX_BODY:
            raise ValueError("missing or oversized body")
        body = json.loads(self.rfile.read(length))
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return body

    def _index(self) -> None:
        try:
            index = self.server.gallery.builder.index()
        except FigbuildError as exc:
            # Mid-edit manifests are normal: say what is wrong and look again shortly.
            page = (
                '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2">'
                f"<title>figbuild gallery</title><pre>{html.escape(_redacted(str(exc)))}</pre>"
            )
            self._send(500, page.encode("utf-8"), _TYPES[".html"])
            return
        self._send(200, index.read_bytes(), _TYPES[".html"])

    def _file(self, path: str) -> None:
        folder, _, name = path.lstrip("/").partition("/")
        target = self.server.gallery.builder.out / folder / name
        if folder not in _FILES or not _NAME.fullmatch(name) or name.startswith("."):
            self._json(404, {"error": "not found"})
            return
        try:
            data = target.read_bytes()
        except OSError:
            self._json(404, {"error": "not found"})
            return
        self._send(200, data, _TYPES.get(target.suffix.lower(), "application/octet-stream"))

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode("utf-8"), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


def _dispatch(actions: Actions, name: str, body: dict[str, Any]) -> str:
    figure_id = body["figure"]
    if not isinstance(figure_id, str):
        raise TypeError("figure must be a string")
    if name == "sync":
        return actions.sync(figure_id)
    if name == "accept":
        return actions.accept(figure_id)
    if name == "pick":
        return actions.pick(figure_id, _number(body, "k"))
    return actions.restore(figure_id, _number(body, "version"))


def _number(body: dict[str, Any], key: str) -> int:
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be a whole number from 1")
    return value


def run(
    paper: Paper,
    backend: str,
    reporter: Reporter,
    ready: Callable[[str], None],
    *,
    out: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    watch: WatchOptions | None = None,
    max_credits: int | None = None,
    jobs: int | None = None,
) -> None:
    """Serve the gallery of ``paper`` until Ctrl-C (KeyboardInterrupt propagates, after
    everything is stopped). ``backend`` names the backend that syncs use; with
    ``watch``, figbuild's watcher runs beside the server. ``ready`` gets the URL;
    ``max_credits`` caps each sync a button starts."""
    from figbuild import backends

    check_host(host)
    balance = site.key_balance()
    builder = Builder(
        paper.root,
        out or site.default_dir(paper.root),
        secrets.token_urlsafe(32),
        watching=watch is not None,
        build=lambda current: site.collect(current, balance=balance),
    )
    builder.index()  # a manifest problem shows now, before a URL is printed
    actions = PaperActions(
        paper.root,
        lambda: backends.open_backend(backend, reporter=reporter),
        reporter,
        max_credits=max_credits,
        jobs=jobs,
    )
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        server = GalleryServer(builder, actions, host=host, port=port)
        stack.callback(server.stop)
        if watch is not None:
            from figbuild.watch import Watcher

            watching = stack.enter_context(backends.open_backend(backend, reporter=reporter))
            thread = threading.Thread(
                target=Watcher(paper.root, watching, reporter, watch, stop).run, name="figbuild-watch"
            )
            thread.daemon = True
            thread.start()
            stack.callback(thread.join)
            stack.callback(watching.stop.set)
            stack.callback(stop.set)
        ready(server.url)
        server.serve_forever()


def _redacted(text: str) -> str:
    """The key never leaves in an answer, whatever an error says."""
    from figbuild.backends import redact

    return redact(text)
