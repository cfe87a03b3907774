"""`figbuild gallery`: the static page and the served one, checked in a real headless Chromium.

Figures are made by the bundled emulator over loopback; what a button costs is
read from the emulator's own ledger of requests.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from figbuild import engine, history
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.retry import PollSchedule, RetryPolicy
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.content import ContentReader
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.errors import UsageError
from figbuild.gallery import site, thumbs
from figbuild.gallery.actions import PaperActions
from figbuild.gallery.serve import Builder, GalleryServer, check_host
from figbuild.lockfile import read
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.store import How, Store

from .conftest import PaperFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FAST_POLL = RetryPolicy(poll=PollSchedule(initial=0.02, factor=1.5, cap=0.2))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,900",
)


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, from Debian's packages: nothing is downloaded."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # An explicit driver path: selenium-manager (which would download one) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.25)) as server:
        yield server


def open_backend(server: Emulator) -> Callable[[], Any]:
    """A backend factory for the gallery's actions: the API client against ``server``."""
    import contextlib

    @contextlib.contextmanager
    def factory() -> Iterator[ApiBackend]:
        with Client(Settings(base_url=server.base_url, key="sk-test-key")) as client:
            yield ApiBackend(client, FAST_POLL)

    return factory


def sync(server: Emulator, root: Path, **options: Any) -> engine.SyncResult:
    with open_backend(server)() as backend:
        return engine.sync(Paper.open(root), backend, NullReporter(), **options)


def posts(server: Emulator) -> int:
    return server.count("POST", "/api/v1/generate")


FILES = {
    "sections/method.tex": "\\section{Method}\nWe fuse colour and depth.\n\\section{Results}\nIt works.\n",
    "sections/appendix-a.tex": "Appendix A text.\n",
}


def three_figures(make_paper: PaperFactory, prompt: str = "Overview of {{ method }}") -> Path:
    figures = {
        "overview": {"prompt": prompt, "content": "sections/method.tex"},
        "results": {
            "prompt": "Results of {{ method }}",
            "content": [{"file": "sections/method.tex", "section": "Results"}],
            "output": "figures/results.jpg",
        },
        "appendix": {
            "prompt": "Appendix schematic",
            "content": "sections/appendix-*.tex",
            "output": "figures/appendix.pdf",
        },
    }
    return make_paper({"version": 1, "vars": {"method": "FlowNet"}, "figures": figures}, FILES)


def make_candidates(server: Emulator, root: Path, figure_id: str, count: int) -> list[bytes]:
    """``count`` candidates of one request, as `sync --candidates N` makes them (each
    drawn by the emulator, so each image differs); the last one is picked."""
    result = sync(server, root, ids=(figure_id,), force=True, candidates=count)
    assert result.generated == [figure_id]
    history.pick(Paper.open(root), figure_id, count)
    generated = read(root / "figures.lock").figures[figure_id].generated
    assert generated is not None
    store = Store.at(root)
    made = {e.candidate: store.read(e) for e in store.lookup(generated.fingerprint) if e.how is How.CANDIDATE}
    assert sorted(made) == list(range(1, count + 1))
    images = [made[k] or b"" for k in range(1, count + 1)]
    assert len(set(images)) == count
    return images


def reloaded(driver: Any) -> Any:
    """A wait across the page's own reloads: elements found just before one go stale."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    # A node dropped by a reload mid-call may also surface as chromedriver's "Node with
    # given id does not belong to the document", a plain WebDriverException.
    return WebDriverWait(
        driver,
        30,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException, WebDriverException),
    )


def images_loaded(driver: Any) -> list[tuple[str, int]]:
    """Every <img> on the page with its natural width, after scrolling each into view
    (the page lazy-loads images) and waiting for it to finish loading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    found = []
    for image in driver.find_elements(By.TAG_NAME, "img"):
        driver.execute_script("arguments[0].scrollIntoView();", image)
        WebDriverWait(driver, 10).until(
            lambda d, i=image: d.execute_script("return arguments[0].complete", i)
        )
        found.append(
            (image.get_attribute("alt"), driver.execute_script("return arguments[0].naturalWidth", image))
        )
    return found


def cards(driver: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    return {
        card.get_attribute("data-figure"): card
        for card in driver.find_elements(By.CSS_SELECTOR, "article.card")
    }


# -- the static page ---------------------------------------------------------------


def test_the_static_page_shows_every_figure_with_its_image_versions_and_ledger(
    make_paper: PaperFactory, emulator: Emulator, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    root = three_figures(make_paper)
    sync(emulator, root, ids=("results", "appendix"))
    make_candidates(emulator, root, "overview", 3)
    index = site.build(Paper.open(root))
    assert index == root / ".figbuild" / "gallery" / "index.html"

    browser.get(index.as_uri())
    shown = cards(browser)
    assert list(shown) == ["overview", "results", "appendix"]
    loaded = images_loaded(browser)
    assert loaded, "no image on the page"
    assert all(width > 0 for _, width in loaded), loaded
    # The current image of every card, its alt text the id and the prompt's start.
    alts = {alt for alt, _ in loaded}
    assert "overview: Overview of FlowNet" in alts
    assert "results: Results of FlowNet" in alts
    assert "appendix: Appendix schematic" in alts  # a PDF, shown by its first page
    for figure_id, card in shown.items():
        assert card.find_element(By.CSS_SELECTOR, ".state").text == "fresh"
        tiles = card.find_elements(By.CSS_SELECTOR, ".versions .tile")
        assert len(tiles) >= 1, figure_id
        assert "current" in tiles[0].text
    # Versions (the store's, newest first) and the candidates of the current request, side by side.
    versions = shown["overview"].find_elements(By.CSS_SELECTOR, ".versions .tile")
    assert [t.get_attribute("data-version") for t in versions] == ["3", "2", "1"]
    candidates = shown["overview"].find_elements(By.CSS_SELECTOR, ".candidates .tile")
    assert [t.get_attribute("data-candidate") for t in candidates] == ["1", "2", "3"]
    assert "current" in candidates[2].text
    assert "candidate" in versions[0].text
    assert "overview version 1, candidate 1: Overview of FlowNet" in alts
    # The exact content sent is one link away, and is what the request carried.
    shown["results"].find_element(By.CSS_SELECTOR, ".sources summary").click()
    link = shown["results"].find_element(By.LINK_TEXT, "the exact text sent")
    paper = Paper.open(root)
    request = ContentReader(root).filled(paper.resolve(("results",))[0].request)
    sent = (index.parent / link.get_attribute("href").split("gallery/", 1)[1]).read_text(encoding="utf-8")
    assert sent == request.content_text
    assert "It works." in sent
    ledger = browser.find_element(By.CSS_SELECTOR, ".ledger").text
    assert f"Credits spent: {emulator.credits_charged}" in ledger
    # Nothing on the page comes from the network: every reference is relative.
    html = index.read_text(encoding="utf-8")
    assert "http://" not in html
    assert "https://" not in html


def test_a_script_in_a_prompt_is_shown_as_text(make_paper: PaperFactory, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    evil = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> & {{ method }}'
    root = three_figures(make_paper, prompt=evil)
    index = site.build(Paper.open(root), tmp_path_out := root.parent / "site")
    assert index == tmp_path_out / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html

    browser.get(index.as_uri())
    assert browser.execute_script("return window.pwned === undefined")
    prompt = cards(browser)["overview"].find_element(By.CSS_SELECTOR, ".prompt-text").text
    assert prompt == evil.replace("{{ method }}", "FlowNet")
    # A figure never generated has a card too, saying so.
    assert "no image yet" in cards(browser)["overview"].text


def test_thumbnails_are_made_once_per_image(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = three_figures(make_paper)
    sync(emulator, root)
    site.build(Paper.open(root))

    def no_decoding(data: bytes) -> bytes:
        raise AssertionError("a thumbnail was made again")

    monkeypatch.setattr(thumbs, "_scaled", no_decoding)
    index = site.build(Paper.open(root), root / "elsewhere")
    assert len(list((index.parent / "thumbs").iterdir())) == 3


def test_the_cli_writes_the_site_and_prints_where(make_paper: PaperFactory, run_cli: Any) -> None:
    root = three_figures(make_paper)
    result = run_cli("gallery", root=root)
    assert result.exit_code == 0, result.output
    index = root / ".figbuild" / "gallery" / "index.html"
    assert result.output.strip() == index.resolve().as_uri()
    result = run_cli("gallery", "-o", str(root / "out"), root=root)
    assert result.exit_code == 0, result.output
    assert (root / "out" / "index.html").exists()


def test_the_server_refuses_any_address_but_loopback(make_paper: PaperFactory, run_cli: Any) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.org", "::"):
        with pytest.raises(UsageError):
            check_host(host)
    assert check_host("127.0.0.1") == "127.0.0.1"
    root = three_figures(make_paper)
    result = run_cli("gallery", "--serve", "--host", "0.0.0.0", root=root)
    assert result.exit_code == 2
    assert "only loopback addresses" in result.output


# -- the served page ---------------------------------------------------------------


@pytest.fixture
def served(make_paper: PaperFactory, emulator: Emulator) -> Iterator[tuple[GalleryServer, Path]]:
    root = three_figures(make_paper)
    sync(emulator, root)
    builder = Builder(root, root / ".figbuild" / "gallery")
    actions = PaperActions(root, open_backend(emulator), NullReporter())
    with GalleryServer(builder, actions) as server:
        yield server, root


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def log_in(server: GalleryServer | str) -> dict[str, str]:
    """Open the printed URL as a browser does; the headers a request of its page then carries."""
    login_url = server if isinstance(server, str) else server.login_url
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(login_url, timeout=30)  # a redirect not followed
    assert raised.value.code == 303
    assert raised.value.headers["Location"] == "/"
    cookie = raised.value.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    return {"Cookie": cookie.split(";", 1)[0], "Origin": login_url.split("/?", 1)[0]}


def request(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_action_without_the_session_cookie_is_refused(
    served: tuple[GalleryServer, Path], emulator: Emulator
) -> None:
    server, root = served
    before = (root / "figures.lock").read_bytes()
    calls = len(emulator.records())
    origin = {"Origin": server.url.rstrip("/")}
    for headers in ({}, origin, {**origin, "Cookie": f"{server.cookie_name}=guessed"}):
        status, answer = request(server.url + "action/sync", {"figure": "overview"}, headers)
        assert status == 403, answer
        assert "printed" in answer["error"]
    session = log_in(server)
    # A page that rebinds its own name to 127.0.0.1 is refused too, cookie or not.
    status, _ = request(server.url + "version", headers={**session, "Host": "evil.example:80"})
    assert status == 403
    # The cookie without the page's own origin: another site's form or script.
    cookie = {"Cookie": session["Cookie"]}
    for headers in (
        {**cookie, "Origin": "http://evil.example"},
        {**cookie, "Origin": "null"},
        {**session, "Sec-Fetch-Site": "cross-site"},
        cookie,
    ):
        status, answer = request(server.url + "action/sync", {"figure": "overview"}, headers)
        assert status == 403, (headers, answer)
    assert (root / "figures.lock").read_bytes() == before
    assert len(emulator.records()) == calls
    # With the cookie, from the page: a fresh figure needs nothing, and costs nothing.
    status, answer = request(server.url + "action/sync", {"figure": "overview"}, session)
    assert status == 200, answer
    assert "nothing to do" in answer["message"]
    assert len(emulator.records()) == calls


def test_the_sync_button_regenerates_a_stale_figure_and_the_page_follows(
    served: tuple[GalleryServer, Path], emulator: Emulator, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    server, root = served
    results = root / "figures" / "results.jpg"
    before_image = results.read_bytes()
    before_lock = read(root / "figures.lock").figures["results"].generated
    (root / "sections" / "method.tex").write_text(
        FILES["sections/method.tex"].replace("It works.", "It works well.")
    )

    browser.get(server.login_url)
    shown = cards(browser)
    assert list(shown) == ["overview", "results", "appendix"]
    assert shown["results"].get_attribute("data-state") == "stale"
    assert shown["overview"].get_attribute("data-state") == "stale"
    assert all(width > 0 for _, width in images_loaded(browser))
    generated = posts(emulator)
    button = shown["results"].find_element(By.CSS_SELECTOR, "button[data-action=sync]")
    browser.execute_script("arguments[0].scrollIntoView();", button)
    button.click()

    # The page reloads itself once the figure changed, showing it fresh.
    reloaded(browser).until(
        lambda d: d.find_element(By.ID, "fig-results").get_attribute("data-state") == "fresh"
    )
    assert results.read_bytes() != before_image
    after_lock = read(root / "figures.lock").figures["results"].generated
    assert after_lock is not None
    assert before_lock is not None
    assert after_lock.sha256 != before_lock.sha256
    assert posts(emulator) == generated + 1  # this figure only
    assert browser.find_element(By.ID, "fig-overview").get_attribute("data-state") == "stale"
    assert "results: written" in browser.find_element(By.ID, "status").text


def test_the_pick_button_puts_a_candidate_in_place_for_no_request(
    served: tuple[GalleryServer, Path], emulator: Emulator, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    server, root = served
    made = make_candidates(emulator, root, "overview", 3)
    output = root / "figures" / "overview.png"
    assert output.read_bytes() == made[2]
    before = read(root / "figures.lock").figures["overview"].generated
    calls = len(emulator.records())

    browser.get(server.login_url)
    assert all(width > 0 for _, width in images_loaded(browser))

    def click_pick(driver: Any) -> bool:
        # Found and clicked in one go: the page may reload itself (the candidates were
        # made just before it was served), and an element found before that goes stale.
        button = cards(driver)["overview"].find_element(
            By.CSS_SELECTOR, ".candidates button[data-action=pick][data-k='1']"
        )
        driver.execute_script("arguments[0].scrollIntoView();", button)
        button.click()
        return True

    reloaded(browser).until(click_pick)

    reloaded(browser).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#fig-overview .candidates .tile.is-current").get_attribute(
                "data-candidate"
            )
            == "1"
        )
    )
    assert output.read_bytes() == made[0]
    after = read(root / "figures.lock").figures["overview"].generated
    assert after is not None
    assert before is not None
    assert after.sha256 != before.sha256
    assert after.fingerprint == before.fingerprint
    assert len(emulator.records()) == calls  # not one request: not even /credits
    assert browser.find_element(By.ID, "fig-overview").get_attribute("data-state") == "fresh"
    assert "candidate 1 is in place" in browser.find_element(By.ID, "status").text


def test_restore_and_accept_cost_nothing_and_keep_every_image(
    served: tuple[GalleryServer, Path], emulator: Emulator
) -> None:
    server, root = served
    output = root / "figures" / "overview.png"
    first = output.read_bytes()
    (root / "sections" / "method.tex").write_text(FILES["sections/method.tex"] + "More.\n")
    sync(emulator, root, ids=("overview",))  # the engine keeps both images in history
    second = output.read_bytes()
    assert second != first
    calls = len(emulator.records())
    token = log_in(server)
    stored = sorted(Store.at(root).history("overview"), key=lambda e: e.order)
    assert [e.how for e in stored][-2:] == [How.GENERATED, How.GENERATED]
    second_version = len(stored)  # numbered from 1, the oldest

    # There is no version 99.
    status, answer = request(server.url + "action/restore", {"figure": "overview", "version": 99}, token)
    assert status == 409, answer

    # A hand edit, accepted: stored, then fresh for the current inputs.
    output.write_bytes(first)
    assert _state(root, "overview") == "modified"
    status, answer = request(server.url + "action/accept", {"figure": "overview"}, token)
    assert status == 200, answer
    assert _state(root, "overview") == "fresh"
    # Restoring the second generated image puts its bytes back, pinned to the current inputs.
    status, answer = request(
        server.url + "action/restore", {"figure": "overview", "version": second_version}, token
    )
    assert status == 200, answer
    assert output.read_bytes() == second
    assert _state(root, "overview") == "fresh"
    hows = [entry.how for entry in sorted(Store.at(root).history("overview"), key=lambda e: e.order)]
    assert hows[-2:] == [How.ACCEPTED, How.RESTORED]
    assert len(emulator.records()) == calls
    status, answer = request(server.url + "action/pick", {"figure": "overview", "k": 0}, token)
    assert status == 400, answer


def _fingerprint(root: Path) -> str:
    generated = read(root / "figures.lock").figures["overview"].generated
    assert generated is not None
    return generated.fingerprint


def _state(root: Path, figure_id: str) -> str:
    paper = Paper.open(root)
    (status,) = paper.statuses(paper.resolve((figure_id,)), paper.read_lock())
    return status.state.value


def test_the_served_page_serves_only_its_own_files(served: tuple[GalleryServer, Path]) -> None:
    server, root = served
    session = log_in(server)
    (root / "secret.txt").write_text("nope")
    for path in (
        "thumbs/../../../secret.txt",
        "../figures.lock",
        "sent/..%2F..%2Ffigures.yaml",
        "figures.yaml",
    ):
        try:
            with urllib.request.urlopen(
                urllib.request.Request(server.url + path, headers=session), timeout=10
            ) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 404, path


def test_ctrl_c_stops_the_server_cleanly(make_paper: PaperFactory) -> None:
    """`run` serves until KeyboardInterrupt, then closes its port."""
    import _thread

    from figbuild.gallery import serve

    root = three_figures(make_paper)
    urls: list[str] = []

    def ready(url: str) -> None:
        urls.append(url)
        threading.Timer(0.3, _thread.interrupt_main).start()

    with pytest.raises(KeyboardInterrupt):
        serve.run(Paper.open(root), "placeholder", NullReporter(), ready)
    assert urls
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urls[0].split("?")[0] + "version", timeout=2)


def test_the_page_fits_a_phone_and_moves_by_keyboard(make_paper: PaperFactory, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root = three_figures(make_paper)
    index = site.build(Paper.open(root))
    browser.set_window_size(390, 800)
    try:
        browser.get(index.as_uri())
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        ActionChains(browser).send_keys("j").perform()
        assert browser.switch_to.active_element.get_attribute("id") == "fig-overview"
        ActionChains(browser).send_keys("j").send_keys("j").send_keys("k").perform()
        assert browser.switch_to.active_element.get_attribute("id") == "fig-results"
        # The skip link is the first stop of the Tab key.
        browser.get(index.as_uri())
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("\ue004")  # Tab
        assert browser.switch_to.active_element.text == "Skip to the figures"
    finally:
        browser.set_window_size(1200, 900)


def test_a_pdf_without_poppler_is_shown_by_an_icon(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = three_figures(make_paper)
    sync(emulator, root, ids=("appendix",))
    monkeypatch.setattr(thumbs.shutil, "which", lambda name: None)
    html = site.build(Paper.open(root)).read_text(encoding="utf-8")
    assert 'class="icon"' in html
    assert 'aria-label="appendix: Appendix schematic"' in html


def test_serving_with_watch_syncs_what_an_edit_made_stale(make_paper: PaperFactory) -> None:
    """`--serve --watch`: the watcher runs beside the server, and stops with it."""
    import _thread

    from figbuild.gallery import serve
    from figbuild.watch import WatchOptions

    root = three_figures(make_paper)
    urls: list[str] = []

    def ready(url: str) -> None:
        urls.append(url)

        def edit_then_stop() -> None:
            deadline = time.monotonic() + 20

            def recorded() -> str | None:
                generated = read(root / "figures.lock").figures.get("results")
                return generated.generated.fingerprint if generated and generated.generated else None

            while recorded() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            first = recorded()
            (root / "sections" / "method.tex").write_text(FILES["sections/method.tex"] + "Edited.\n")
            while recorded() == first and time.monotonic() < deadline:
                time.sleep(0.05)
            _thread.interrupt_main()

        threading.Thread(target=edit_then_stop, daemon=True).start()

    with pytest.raises(KeyboardInterrupt):
        serve.run(
            Paper.open(root), "placeholder", NullReporter(), ready, watch=WatchOptions(settle=0.1, poll=True)
        )
    assert urls
    status = Paper.open(root)
    (results,) = status.statuses(status.resolve(("results",)), status.read_lock())
    # Drawn again after the edit (else a reason would name the changed content).
    assert results.reasons == ("placeholder",)
    assert "Edited." in (root / "sections" / "method.tex").read_text()


def test_writing_never_clobbers_a_folder_that_is_not_a_gallery(make_paper: PaperFactory) -> None:
    root = three_figures(make_paper)
    docs = root / "docs"
    (docs / "images").mkdir(parents=True)
    (docs / "images" / "diagram.png").write_bytes(b"mine")
    site.build(Paper.open(root), docs)
    assert (docs / "images" / "diagram.png").read_bytes() == b"mine"  # not one of the site's files
    (root / "other").mkdir()
    (root / "other" / "index.html").write_text("<p>my page</p>")
    with pytest.raises(UsageError, match="not a figbuild gallery"):
        site.build(Paper.open(root), root / "other")
    assert (root / "other" / "index.html").read_text() == "<p>my page</p>"


def test_figures_left_in_the_lock_are_listed(make_paper: PaperFactory, emulator: Emulator) -> None:
    root = three_figures(make_paper)
    sync(emulator, root)
    manifest = (root / "figures.yaml").read_text()
    (root / "figures.yaml").write_text(manifest.replace("appendix:", "appendix-renamed:"))
    html = site.build(Paper.open(root)).read_text(encoding="utf-8")
    assert "no longer in figures.yaml" in html
    assert "appendix: <code>figures/appendix.pdf</code>" in html


def test_with_a_key_the_page_shows_the_balance_and_never_the_key(
    make_paper: PaperFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    root = three_figures(make_paper)
    sync(emulator, root)
    key = "sk-gallery-secret-0123456789"
    monkeypatch.setenv("PAPERBANANA_API_KEY", key)
    monkeypatch.setenv("PAPERBANANA_BASE_URL", emulator.base_url)
    result = run_cli("gallery", root=root)
    assert result.exit_code == 0, result.output
    assert key not in result.output
    out = root / ".figbuild" / "gallery"
    assert f"balance: {emulator.remaining_credits} credits" in (out / "index.html").read_text(
        encoding="utf-8"
    )
    for path in out.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_the_installed_command_prints_the_url_and_stops_cleanly_on_ctrl_c(make_paper: PaperFactory) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = three_figures(make_paper)
    process = subprocess.Popen(
        [sys.executable, "-m", "figbuild", "-C", str(root), "gallery", "--serve", "--placeholder"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("figbuild gallery: http://127.0.0.1:"), line
        url, _, token = line.split(": ", 1)[1].strip().partition("?token=")
        assert token
        status, answer = request(url + "version")
        assert status == 403  # no cookie yet
        status, answer = request(url + "version", headers=log_in(f"{url}?token={token}"))
        assert status == 200
        assert answer["version"]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "gallery server stopped" in stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "version", timeout=2)


def test_each_card_shows_its_provenance_and_the_page_the_statement(
    make_paper: PaperFactory, emulator: Emulator
) -> None:
    root = three_figures(make_paper)
    sync(emulator, root, ids=("overview", "results"))
    engine.sync(Paper.open(root), PlaceholderBackend(), NullReporter(), ids=("appendix",))
    task = read(root / "figures.lock").record("overview").generated.task_id  # type: ignore[union-attr]
    html = site.build(Paper.open(root)).read_text(encoding="utf-8")
    overview = html.split('id="fig-overview"', 1)[1].split("</article>", 1)[0]
    assert "Provenance" in overview
    assert f"task <code>{task}</code>" in overview
    assert "trainedAlgorithmicMedia" in overview
    appendix = html.split('id="fig-appendix"', 1)[1].split("</article>", 1)[0]
    assert "a placeholder (no AI source type" in appendix
    statement = html.split('class="disclosure"', 1)[1].split("</section>", 1)[0]
    assert "AI-usage statement" in statement
    assert "2 figures in this paper were generated with generative AI" in statement
    assert task in statement
    assert "Figure `overview`" in statement
    assert "Figure `appendix`" not in statement, "a placeholder is never listed as generated"
