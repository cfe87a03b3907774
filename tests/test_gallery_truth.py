"""The gallery tells the truth, in a real headless Chromium: one current version, copies of
one image as one version, buttons only where they do something, the paper's name as title,
and the ledger's real credits apart from the emulator's pretend ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from figbuild import engine
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.settings import Settings
from figbuild.emulator import Emulator
from figbuild.gallery import site
from figbuild.gallery.actions import PaperActions
from figbuild.gallery.serve import Builder, GalleryServer
from figbuild.paper import Paper
from figbuild.report import NullReporter

from .conftest import PaperFactory
from .test_gallery import FAST_POLL, FILES, browser, cards, emulator, open_backend, sync, three_figures

__all__ = ["browser", "emulator"]  # fixtures, shared with test_gallery


@pytest.fixture
def revisited(make_paper: PaperFactory, emulator: Emulator) -> Path:
    """overview: generated (v1), edited and regenerated (v2), reverted (v1's bytes restored
    by sync: v3, a copy of v1). results is made stale; appendix stays fresh."""
    root = three_figures(make_paper)
    sync(emulator, root)
    method = root / "sections" / "method.tex"
    method.write_text(FILES["sections/method.tex"].replace("We fuse", "We blend"))
    sync(emulator, root, ids=("overview", "results"))
    method.write_text(FILES["sections/method.tex"])
    assert sync(emulator, root, ids=("overview",)).restored == ["overview"]
    return root


@pytest.fixture
def live(revisited: Path, emulator: Emulator) -> Iterator[str]:
    builder = Builder(revisited, revisited / ".figbuild" / "gallery", "test-token-" + "y" * 20)
    actions = PaperActions(revisited, open_backend(emulator), NullReporter())
    with GalleryServer(builder, actions) as server:
        yield server.login_url  # the printed URL: its one-time token lets this browser in


def test_copies_of_one_image_are_one_version_and_one_is_current(live: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live)
    overview = cards(browser)["overview"]
    tiles = overview.find_elements(By.CSS_SELECTOR, ".versions .tile")
    assert len(tiles) == 2, "v1 and its restored copy are one version"
    current = overview.find_elements(By.CSS_SELECTOR, ".versions .tile.is-current")
    assert len(current) == 1
    assert "restored" in current[0].text, "the copy shows as that version's history"
    # No button restores the image already in place; the other version has one.
    assert current[0].find_elements(By.CSS_SELECTOR, "button[data-action=restore]") == []
    others = [t for t in tiles if "is-current" not in (t.get_attribute("class") or "")]
    assert len(others[0].find_elements(By.CSS_SELECTOR, "button[data-action=restore]")) == 1


def test_sync_is_offered_only_where_it_does_something(live: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live)
    shown = cards(browser)
    states = {figure_id: card.get_attribute("data-state") for figure_id, card in shown.items()}
    assert states == {"overview": "fresh", "results": "fresh", "appendix": "fresh"}
    for figure_id, card in shown.items():
        buttons = card.find_elements(By.CSS_SELECTOR, "button[data-action=sync]")
        assert buttons == [], f"{figure_id} is fresh: nothing to sync"


def test_a_stale_figure_gets_the_sync_button_with_the_plans_cost(
    revisited: Path, emulator: Emulator, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    (revisited / "sections" / "appendix-a.tex").write_text("Appendix A, rewritten.\n")
    builder = Builder(revisited, revisited / ".figbuild" / "gallery", "test-token-" + "z" * 20)
    with GalleryServer(builder, PaperActions(revisited, open_backend(emulator), NullReporter())) as server:
        browser.get(server.login_url)
        shown = cards(browser)
        assert shown["appendix"].get_attribute("data-state") == "stale"
        [button] = shown["appendix"].find_elements(By.CSS_SELECTOR, "button[data-action=sync]")
        assert button.text == "Sync this figure (10 credits)"
        assert shown["overview"].find_elements(By.CSS_SELECTOR, "button[data-action=sync]") == []
        header = browser.find_element(By.CSS_SELECTOR, "header .summary").text
        assert "a sync would cost 10 credits" in header


def test_the_title_is_the_papers_name_from_its_own_folder(
    revisited: Path, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    monkeypatch.chdir(revisited)
    index = site.build(Paper.open(Path(".")))
    browser.get(index.resolve().as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == f"{revisited.name}: 3 figures"
    assert browser.title == f"{revisited.name}: figures"


def test_the_ledger_shows_real_credits_apart_from_the_emulators(
    make_paper: PaperFactory, emulator: Emulator, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    root = three_figures(make_paper)
    with Client(Settings(base_url=emulator.base_url, key="sk-test-key")) as client:
        engine.sync(Paper.open(root), ApiBackend(client, FAST_POLL, makes="emulator"), NullReporter())
    pretend = emulator.credits_charged
    sync(emulator, root)
    real = emulator.credits_charged - pretend
    browser.get(site.build(Paper.open(root)).as_uri())
    ledger = browser.find_element(By.CSS_SELECTOR, ".ledger").text
    assert f"Credits spent: {real}" in ledger
    assert f"{pretend} pretend" in ledger
