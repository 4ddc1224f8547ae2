"""The built book in headless Chromium: every page loads without JavaScript errors, every image
loads, every internal link and anchor exists, Table 1 has one row per registry model, and a
screenshot of the results page is saved (``_build/screenshots/results.png``).

Reuses the book built once per session by ``test_book.build_once`` (smoke profile). Needs
Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped otherwise.
"""

import functools
import http.server
import re
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from test_book import REPO, build_once

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]
SCREENSHOTS = REPO / "_build" / "screenshots"

pytestmark = [pytest.mark.book, pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")]


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The built book's HTML folder."""
    return build_once(tmp_path_factory) / "_build" / "html"


@pytest.fixture(scope="module")
def server(html):
    """``html`` served on 127.0.0.1 (a free port) for the module; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that closes early (Chromium's favicon probe) is not a page error


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through the system chromedriver (selenium-manager never runs)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="lungseg-chromium-")
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _pages(html: Path) -> list[str]:
    """Every HTML page of the book, relative to ``html``."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def _load_all_images(driver) -> list[dict]:
    """Make lazy images load, wait for all, return (src, naturalWidth) of each."""
    driver.execute_script("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });")
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const imgs = Array.from(document.images);
        Promise.all(imgs.map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })))
            .then(() => done());""")
    return driver.execute_script(
        "return Array.from(document.images).map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth}));")


def _internal_links(driver, base: str) -> list[str]:
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
    return [h for h in hrefs if h.startswith(base)]


_ids = functools.lru_cache(maxsize=None)(
    lambda path: set(re.findall(r'\bid="([^"]+)"', Path(path).read_text(encoding="utf-8", errors="replace"))))


def _broken(link: str, base: str, html: Path) -> str | None:
    """Why an internal link is broken (missing file or anchor), or None."""
    parsed = urllib.parse.urlparse(link)
    rel = urllib.parse.unquote(parsed.path[len(urllib.parse.urlparse(base).path):])
    target = html / rel
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"{link}: no file {target.relative_to(html)}"
    if parsed.fragment and target.suffix == ".html" and urllib.parse.unquote(parsed.fragment) not in _ids(str(target)):
        return f"{link}: no anchor #{parsed.fragment} in {target.relative_to(html)}"
    return None


def test_every_page_loads_clean(browser, server, html):
    """No SEVERE console message, no image without pixels, no broken internal link or anchor."""
    pages = _pages(html)
    assert len(pages) >= 10, pages
    problems, checked = [], set()
    for page in pages:
        browser.get(server + page)
        assert browser.title, f"{page}: no title"
        for image in _load_all_images(browser):
            if image["width"] == 0:
                problems.append(f"{page}: image does not load: {image['src']}")
        for link in _internal_links(browser, server):
            if link not in checked:
                checked.add(link)
                if reason := _broken(link, server, html):
                    problems.append(f"{page}: broken link {reason}")
        for entry in browser.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{page}: console error: {entry['message']}")
    assert not problems, "\n".join(problems)
    assert len(checked) > 50


def test_results_table_has_one_row_per_model_and_screenshot(browser, server):
    """Table 1 lists every registry model once; the results page is saved as a screenshot."""
    from selenium.webdriver.common.by import By

    from lungseg_lib.report.profile_runs import registry

    browser.get(server + "book/results.html")
    table = browser.find_element(By.ID, "tbl-results")
    assert "Table 1" in table.text or "Table" in table.find_element(By.CSS_SELECTOR, ".caption-number").text
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr:not(.reported)")
    titles = [r.find_element(By.CSS_SELECTOR, "th").text for r in rows]
    assert titles == registry()["title"].tolist()
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr.reported")) == 4  # Table 1: SegNet, U-Net, DeepLab, NASNet (raw and post)
    assert all("smoke/" in r.text for r in rows)  # the profile is named next to every number
    figures = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(figures) >= 3
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height + 100, 12000))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "results.png"))
    browser.get(server + "book/method.html")
    browser.save_screenshot(str(SCREENSHOTS / "method.png"))
    browser.set_window_size(1400, 1000)
