"""``figbuild gallery --serve``: the gallery on a loopback port, with working buttons.

Only a loopback address is ever bound, and access works as Jupyter's does. The
URL printed at start carries a one-time token; opening it sets an HttpOnly,
SameSite=Strict session cookie and redirects to the clean URL. Every page, file
and action then needs that cookie, so another user on the machine who finds the
port gets nothing but a page saying to open the printed URL. Every request must
also name this server in its ``Host`` header (so a page that rebinds a DNS name
to 127.0.0.1 is refused), and every action must come from the page's own origin
(``Origin``, ``Sec-Fetch-Site``) with a JSON body: anything else is refused with
403. Files are served only from the site's own folders: images (by what their
bytes are, never by their name) and the plain texts sent. The page polls
``/version``, a hash of the stats of the files a figure's card depends on, and
reloads when it changes; the site is rebuilt on the next page load.
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
import stat
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
from figbuild.images import sniff_format
from figbuild.paper import Paper
from figbuild.report import Reporter
from figbuild.store import location
from figbuild.urls import is_loopback
from figbuild.watch import WatchOptions

#: The query parameter of the printed URL that carries the one-time token.
TOKEN_PARAM = "token"  # noqa: S105 - the parameter's name, not a secret
#: The session cookie's name starts so; the port follows (cookies ignore ports).
COOKIE_PREFIX = "figbuild-gallery-"
#: The site's image folders, and the folder of the plain texts each figure sends.
_IMAGE_FOLDERS = {site.THUMBS, site.IMAGES}
_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+")
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
#: What the bytes of a served image are (never what its name says) -> its type.
_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
#: Anything but the page: no script, no style, no plugin, no frame, sandboxed.
_CSP_FILE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
#: The page: its own inline style, its own script (by hash) and nothing else.
_CSP_PAGE = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src {script}; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
#: Most bytes of an action's JSON body, and how deep its JSON may nest.
_MAX_BODY = 4096
_MAX_DEPTH = 8
#: Most bytes of a request's headers the server reads (the request line included).
_MAX_LINE = 8192


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
                stamp = f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
                digest.update(f"{path}\0{stamp}\n".encode())
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
            site.write(gallery, self.out, live=site.Live(version, self.watching))
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
    """The gallery on ``host:port`` (0: a free port) until :meth:`stop`.

    :attr:`login_url` is the URL to print: its token opens one browser session,
    once. :attr:`url` is the clean URL the browser is sent to."""

    def __init__(self, builder: Builder, actions: Actions, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.builder = builder
        self.actions = actions
        self._login = secrets.token_urlsafe(32)
        self._sessions: set[str] = set()
        self._access = threading.Lock()
        self._server = _Server((check_host(host), port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    @property
    def login_url(self) -> str:
        """The URL with the one-time token: the only way in."""
        return f"{self.url}?{TOKEN_PARAM}={self._login}"

    @property
    def cookie_name(self) -> str:
        return f"{COOKIE_PREFIX}{self._server.server_address[1]}"

    def allowed_hosts(self) -> set[str]:
        port = self._server.server_address[1]
        return {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")} | {self.url.split("/")[2]}

    def allowed_origins(self) -> set[str]:
        return {f"http://{host}" for host in self.allowed_hosts()}

    def open_session(self, token: str) -> str | None:
        """A new session for the printed token, which then no longer works; else None."""
        with self._access:
            if not self._login or not hmac.compare_digest(token.encode(), self._login.encode()):
                return None
            self._login = ""
            session = secrets.token_urlsafe(32)
            self._sessions.add(session)
            return session

    def has_session(self, cookie: str) -> bool:
        with self._access:
            return any(hmac.compare_digest(cookie.encode(), known.encode()) for known in self._sessions)

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


_NO_SESSION = (
    '<!doctype html><meta charset="utf-8"><title>figbuild gallery</title>'
    "<p>This gallery is open only to the browser that opened the URL "
    "<code>figbuild gallery --serve</code> printed (with its <code>?token=</code>). "
    "Open that URL; if it was opened already, restart <code>figbuild gallery --serve</code> "
    "for a new one.</p>"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "figbuild-gallery"
    sys_version = ""
    timeout = 30  # a slow client holds one thread for at most this long per read

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the terminal shows the URL and what the buttons did, not every request

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the HTTP layer finds (a bad request line, an unknown method): a bare
        answer with this server's headers, never the default page."""
        with contextlib.suppress(OSError):
            self._json(code, {"error": "bad request" if code < 500 else "not supported"})

    def handle_one_request(self) -> None:
        """Any failure in a handler is a bare 500, never a traceback on the terminal."""
        try:
            super().handle_one_request()
        except (OSError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            with contextlib.suppress(Exception):
                self._json(500, {"error": "internal error"})

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path, _, query = self.path.partition("?")
        if path == "/" and query:
            self._login(query)
            return
        if not self._session_ok(page=path in ("/", "/index.html")):
            return
        if path in ("/", "/index.html"):
            self._index()
        elif path == "/version":
            self._json(200, {"version": self.server.gallery.builder.version()})
        else:
            self._file(path)

    def do_POST(self) -> None:
        if not self._host_ok() or not self._session_ok(page=False):
            return
        gallery = self.server.gallery
        origin = self.headers.get("Origin", "")
        fetch_site = self.headers.get("Sec-Fetch-Site", "same-origin")
        if origin not in gallery.allowed_origins() or fetch_site != "same-origin":
            self._json(403, {"error": "refused: an action must come from the gallery's own page"})
            return
        name = self.path.split("?", 1)[0].removeprefix("/action/")
        if name not in ("pick", "restore", "accept", "sync") or not self.path.startswith("/action/"):
            self._json(404, {"error": "no such action"})
            return
        try:
            body = self._body()
            message = _dispatch(gallery.actions, name, body)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            self._json(400, {"error": f"bad request: {_reason(exc)}"})
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

    def _cookie(self) -> str:
        from http.cookies import CookieError, SimpleCookie

        wanted = self.server.gallery.cookie_name
        for header in self.headers.get_all("Cookie") or ():
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            if wanted in jar:
                return jar[wanted].value
        return ""

    def _session_ok(self, *, page: bool) -> bool:
        if self.server.gallery.has_session(self._cookie()):
            return True
        if page:
            self._send(403, _NO_SESSION.encode("utf-8"), _HTML, _CSP_FILE)
        else:
            self._json(403, {"error": "refused: open the URL figbuild gallery --serve printed"})
        return False

    def _login(self, query: str) -> None:
        """The printed URL: its token, once, becomes a session cookie; then the clean URL."""
        from urllib.parse import parse_qs

        gallery = self.server.gallery
        tokens = parse_qs(query, max_num_fields=4).get(TOKEN_PARAM, [])
        session = gallery.open_session(tokens[0]) if len(tokens) == 1 else None
        if session is None:
            if gallery.has_session(self._cookie()):
                self._redirect()  # this browser is in already: the token is not needed
            else:
                self._send(403, _NO_SESSION.encode("utf-8"), _HTML, _CSP_FILE)
            return
        self._redirect(
            f"{gallery.cookie_name}={session}; Path=/; HttpOnly; SameSite=Strict",
        )

    def _redirect(self, cookie: str | None = None) -> None:
        self.send_response(303)
        self.send_header("Location", "/")
        if cookie is not None:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self._common_headers(_CSP_FILE)
        self.end_headers()

    def _body(self) -> dict[str, Any]:
        if self.headers.get_content_type() != "application/json":
            raise ValueError("the body must be application/json")
        length = int(self.headers.get("Content-Length", "0"))
        if not 0 < length <= _MAX_BODY:
            raise ValueError("missing or oversized body")
        data = self.rfile.read(length)
        if _depth(data) > _MAX_DEPTH:
            raise ValueError("the body nests too deeply")
        body = json.loads(data)
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
            self._send(500, page.encode("utf-8"), _HTML, _CSP_FILE)
            return
        data = index.read_bytes()
        self._send(200, data, _HTML, _page_policy(data))

    def _file(self, path: str) -> None:
        """An image of the site's own folders, typed by its bytes, or a text it sent."""
        folder, _, name = path.lstrip("/").partition("/")
        allowed = folder in _IMAGE_FOLDERS or (folder == site.SENT and name.endswith(".txt"))
        if not allowed or not _NAME.fullmatch(name):
            self._json(404, {"error": "not found"})
            return
        target = self.server.gallery.builder.out / folder / name
        try:
            data = _read_regular(target)
        except OSError:
            self._json(404, {"error": "not found"})
            return
        if folder == site.SENT:
            self._send(200, data, _TEXT, _CSP_FILE)
            return
        kind = sniff_format(data[:16])
        if kind in _IMAGE_TYPES:
            self._send(200, data, _IMAGE_TYPES[kind], _CSP_FILE)
        elif kind == "PDF":  # a download, never a document rendered on this origin
            self._send(200, data, "application/pdf", _CSP_FILE, attachment=True)
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode("utf-8"), "application/json", _CSP_FILE)

    def _common_headers(self, policy: str) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Content-Security-Policy", policy)

    def _send(
        self, status: int, data: bytes, content_type: str, policy: str, *, attachment: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if attachment:
            self.send_header("Content-Disposition", "attachment")
        self._common_headers(policy)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


def _page_policy(page: bytes) -> str:
    """The page's CSP: only the scripts the page itself carries, by their hash."""
    import base64

    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(match.group(1)).digest()).decode() + "'"
        for match in _SCRIPT.finditer(page)
    ]
    return _CSP_PAGE.format(script=" ".join(hashes) or "'none'")


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file (a symlink is not followed)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _depth(data: bytes) -> int:
    """How deep brackets nest in a JSON text (strings skipped): checked before parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc}"
    return html.escape(str(exc))[:200]


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
        ready(server.login_url)
        server.serve_forever()


def _redacted(text: str) -> str:
    """The key never leaves in an answer, whatever an error says."""
    from figbuild.backends import redact

    return redact(text)
