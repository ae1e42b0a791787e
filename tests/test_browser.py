"""The app in a real browser (Debian's chromium through Playwright): pick a sample, Compare, read the tabs.

Screenshots go to test-artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["conftest_app"]
pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def page(server):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright import sync_api  # a dev requirement: missing, the test fails (only the browser may skip)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(server[0])
        yield pg
        browser.close()


def test_compare_a_sample_then_read_the_tabs(page, server):
    models = server[1].segcompare.catalog.tasks[0].models
    page.locator("#sc-compare").wait_for()
    page.locator("#sc-samples img").first.click()
    page.locator("#sc-image img").first.wait_for()  # the sample landed in the image input
    page.locator("#sc-compare").click()

    results = page.locator("#sc-results img")
    for i in range(len(models)):
        results.nth(i).wait_for()
    for m in models:
        page.locator("#sc-results").get_by_text(m.label, exact=False).first.wait_for()
    page.locator("#sc-legend .sc-swatch").first.wait_for()
    page.locator("#sc-reference").get_by_text("Ground truth", exact=False).first.wait_for()
    page.locator("#sc-table [role=gridcell]").filter(has_text=models[0].label).first.wait_for()
    assert results.count() == len(models)
    assert "Pet" in page.locator("#sc-legend").inner_text()
    page.screenshot(path=str(ARTIFACTS / "app-compare.png"), full_page=True)

    page.locator("#sc-view label", has_text="Correctness").click()
    page.locator("#sc-legend").get_by_text("Wrong").wait_for()
    page.screenshot(path=str(ARTIFACTS / "app-correctness.png"), full_page=True)

    page.get_by_role("tab", name="Leaderboard").click()
    page.locator("#sc-leaderboard [role=gridcell]").filter(has_text=models[0].label).first.wait_for()
    page.locator("text=up and to the left").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "app-leaderboard.png"), full_page=True)

    page.get_by_role("tab", name="Confusion matrices").click()
    page.locator("text=Where does").first.wait_for()
    page.get_by_text("biggest mix-ups").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "app-confusion.png"), full_page=True)
