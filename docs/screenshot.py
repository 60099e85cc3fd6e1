"""Make docs/serve.png: `har serve` in headless Chromium after an upload (needs chromium, chromium-driver).

    python docs/screenshot.py VIDEO --model models/cnn3d/seed0/model.pt --model models/crnn/seed0/model.pt
    python docs/screenshot.py LONG.webm --model cnn3d.onnx --out docs/serve-timeline.png

A video the browser plays (WebM, MP4) is shown in its player, with the timeline under it
when it is longer than one window; others (AVI) by the server's middle frame.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1000,640"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "har.cli", "serve", "--port", str(args.port),
                               *[a for m in args.model for a in ("--model", m)]], cwd=ROOT)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        with tempfile.TemporaryDirectory() as profile:
            options = webdriver.ChromeOptions()
            options.binary_location = "/usr/bin/chromium"
            for flag in FLAGS + [f"--user-data-dir={profile}"]:
                options.add_argument(flag)
            browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                browser.get(f"http://127.0.0.1:{args.port}/")
                browser.find_element(By.ID, "file").send_keys(str(args.video.resolve()))
                WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "result").is_displayed() and (
                    b.find_element(By.ID, "poster").is_displayed()
                    or b.execute_script("return document.getElementById('player').readyState >= 2")))
                # Grow the window until the whole page fits the viewport.
                height = browser.execute_script("return document.documentElement.scrollHeight")
                chrome = browser.get_window_size()["height"] - browser.execute_script(
                    "return window.innerHeight")
                browser.set_window_size(1000, height + chrome)
                shot = Path(profile) / "shot.png"
                browser.save_screenshot(str(shot))
            finally:
                browser.quit()
            # A palette of 64 colours keeps the flat UI sharp at a fraction of the bytes.
            Image.open(shot).convert("RGB").quantize(64).save(args.out, optimize=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
