"""The upload page in a real headless Chromium, against the real waitress server."""

from __future__ import annotations

import os
import shutil

import pytest

from har.predict import Predictor
from serving import live_server, second_model

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL = "apt-get install -y chromium chromium-driver (.ci/run does this on CI)"


def browser_binaries() -> tuple[str, str]:
    """(chromium, chromedriver). Missing on CI is a failure; locally a skip, as the README says
    the browser is optional for development."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    missing = ", ".join(n for n, found in (("chromium", chromium), ("chromedriver", driver)) if not found)
    if os.environ.get("CI") == "true" or os.environ.get("HAR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test needs {missing}, not found on PATH: {INSTALL}")
    pytest.skip(f"{missing} not installed (optional locally): {INSTALL}")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}",
                                  "--window-size=1100,760"]:
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


def test_upload_shows_the_top_classes_as_bars(browser, tiny_model, videos, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    clip = videos / "mmaction2__tests_data__test.avi"
    predictors = [Predictor(tiny_model.checkpoint, clips=3), second_model(tiny_model, tmp_path)]
    expected = predictors[1].predict_file(clip).topk(predictors[1].classes, 5)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with live_server(predictors, uploads) as base:
        browser.get(base + "/")
        assert browser.title.startswith("Activity recognition")
        Select(browser.find_element(By.ID, "model")).select_by_value("other")
        browser.find_element(By.ID, "file").send_keys(str(clip))
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: b.find_element(By.ID, "result").is_displayed())
        wait.until(lambda b: b.find_element(By.ID, "poster").is_displayed())
        bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
        labels = [b.find_element(By.CLASS_NAME, "label").text for b in bars]
        values = [b.find_element(By.CLASS_NAME, "value").text for b in bars]
        assert labels == [t["class"] for t in expected]
        assert values == [f"{100 * t['probability']:.1f}%" for t in expected]
        track = bars[0].find_element(By.CLASS_NAME, "track").size["width"]
        fill = bars[0].find_element(By.CLASS_NAME, "fill").size["width"]
        assert fill == pytest.approx(track * max(expected[0]["probability"], 0.005), abs=2)
        timing = browser.find_element(By.ID, "timing").text
        assert timing.startswith("other · 6 frames · ") and " s on the server" in timing
        # AVI does not play in Chromium: the page shows the server's middle frame instead.
        assert browser.execute_script("return document.getElementById('poster').naturalWidth") > 0
        assert not browser.find_element(By.ID, "error").is_displayed()
        screenshot = tmp_path / "serve.png"
        assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        print(f"screenshot: {screenshot}")

        browser.set_window_size(390, 844)  # a phone: nothing may stick out sideways
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")
        assert bars[0].is_displayed()

        # An error comes back as a readable message, not a broken page.
        bad = tmp_path / "notes.mp4"
        bad.write_text("not a video")
        browser.find_element(By.ID, "file").send_keys(str(bad))
        wait.until(lambda b: b.find_element(By.ID, "error").is_displayed())
        assert "notes.mp4: not a readable video" in browser.find_element(By.ID, "error").text
    assert list(uploads.iterdir()) == []
