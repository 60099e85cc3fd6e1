"""The upload page in a real headless Chromium, against the real waitress server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import tiny_model as tm
from har.predict import Predictor
from serving import live_server, post_video, second_model
from videos import write_video

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL = "apt-get install -y chromium chromium-driver (.ci/run does this on CI)"


def browser_binaries() -> tuple[str, str]:
    """(chromium, chromedriver). Missing on CI is a failure; locally a skip, as docs/serving.md says
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


def _webm(path: Path, frames: np.ndarray) -> Path:
    """VP8 in WebM, which Chromium plays (unlike the AVI clips), so the page can seek it."""
    return write_video(path, frames, fps=tm.FPS, options={"crf": "4", "b:v": "2M"})


def test_a_long_upload_shows_the_class_over_time_and_seeks_on_click(browser, tiny_model, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # 3 s of MoveLeft, then 3 s of MoveUp: windows of 2 s every second start at 0, 1, .., 4 s.
    two = _webm(tmp_path / "left_then_up.webm", np.concatenate([
        tm.clip("MoveLeft", 15, 1, frames=75), tm.clip("MoveUp", 15, 1, frames=75)]))
    short = _webm(tmp_path / "short.webm", tm.clip("MoveUp", 14, 1, frames=30))  # 1.2 s
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with live_server([Predictor(tiny_model.checkpoint, clips=3)], uploads) as base:
        _, truth = post_video(base, two.name, two.read_bytes(), timeline="1")
        windows = truth["timeline"]["windows"]
        assert len(windows) == 5
        browser.get(base + "/")
        browser.find_element(By.ID, "file").send_keys(str(two))
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: b.find_element(By.ID, "timeline").is_displayed())
        bands = browser.find_elements(By.CSS_SELECTOR, "#bands .band")
        classes = [b.get_attribute("data-class") for b in bands]
        assert classes == [w["topk"][0]["class"] for w in windows]  # one band per window
        # Both classes, in order: MoveLeft first, MoveUp last, never back.
        assert classes[0] == "MoveLeft" and classes[-1] == "MoveUp"
        assert classes.index("MoveUp") > max(i for i, c in enumerate(classes) if c == "MoveLeft")
        # Left to right in time, covering the whole track; a class has one colour.
        lefts = [b.location["x"] for b in bands]
        widths = [b.size["width"] for b in bands]
        track = browser.find_element(By.ID, "bands")
        assert lefts == sorted(lefts) and lefts[0] == pytest.approx(track.location["x"], abs=1)
        assert sum(widths) == pytest.approx(track.size["width"], abs=len(bands))
        colours = {c: {b.value_of_css_property("background-color") for b, k in zip(bands, classes)
                       if k == c} for c in set(classes)}
        assert all(len(v) == 1 for v in colours.values()) and len(set().union(*colours.values())) == len(colours)
        legend = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#legend li")]
        assert legend == list(dict.fromkeys(classes))
        # Hovering shows the class and its probability.
        ActionChains(browser).move_to_element(bands[0]).perform()
        top = windows[0]["topk"][0]
        assert bands[0].get_attribute("title") == (f"{top['class']} {100 * top['probability']:.1f}% "
                                                    "· 0.0–2.0 s")
        # Clicking a window seeks the video to its start.
        wait.until(lambda b: b.execute_script("return document.getElementById('player').readyState") >= 1)
        bands[3].click()
        wait.until(lambda b: b.execute_script(
            "return Math.abs(document.getElementById('player').currentTime - 3.0) < 0.05"))
        assert "selected" in bands[3].get_attribute("class")
        screenshot = tmp_path / "serve-timeline.png"
        assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        print(f"screenshot: {screenshot}")

        # A clip shorter than one window keeps the plain view: no chart.
        browser.find_element(By.ID, "file").send_keys(str(short))
        wait.until(lambda b: b.find_element(By.ID, "file-name").text.startswith("short.webm"))
        wait.until(lambda b: b.find_element(By.ID, "result").is_displayed()
                   and not b.find_element(By.ID, "result").get_attribute("class").endswith("busy"))
        assert not browser.find_element(By.ID, "timeline").is_displayed()
        assert browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert list(uploads.iterdir()) == []
