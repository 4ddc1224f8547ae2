"""The built book in headless Chromium: every page loads without JavaScript errors, every image
loads, every internal link and anchor exists, every table fits its column in a 1300 px window
(or scrolls in its own container, key column held), Table 1 has one row per registry model, and
a screenshot of the results page is saved (``_build/screenshots/results.png``).

Reuses the book built once per session by ``test_book.build_once`` (smoke profile), or the book
built before in ``$LUNGSEG_BOOK_HTML`` (e.g. ``_build/html`` of ``make book``). Needs Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped otherwise.
"""

import functools
import http.server
import os
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
    """The built book's HTML folder: ``$LUNGSEG_BOOK_HTML`` when set, else the smoke build."""
    given = os.environ.get("LUNGSEG_BOOK_HTML")
    return Path(given) if given else build_once(tmp_path_factory) / "_build" / "html"


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


# ---------------------------------------------------------------- tables fit their column

READER_WINDOW = (1300, 900)  # the reader's window of issue 30
#: the containers a wide table may scroll in: html_table's own, the theme's around Markdown
#: tables, and a notebook's output area (pandas tables)
SCROLLERS = ("lungseg-scroll", "pst-scrollable-table-container", "cell_output")
_TABLES_JS = """
const column = document.querySelector('article.bd-article');
if (!column) return null;
const style = getComputedStyle(column);
const width = column.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
const body = getComputedStyle(column.querySelector('p') || column).color;
return Array.from(column.querySelectorAll('table')).map((table, i) => {
  let scroller = null;
  for (let e = table.parentElement; e && e !== column; e = e.parentElement) {
    const x = getComputedStyle(e).overflowX;
    if (x === 'auto' || x === 'scroll') { scroller = e; break; }
  }
  const holder = table.closest('[id]');
  const firsts = Array.from(table.rows).map(r => r.cells[0]).filter(c => c);
  const cells = Array.from(table.querySelectorAll('td')).filter(c => !c.classList.contains('num'));
  return {
    name: (holder ? '#' + holder.id : '') + ' table ' + (i + 1) + ' (' + (table.rows[0] ? table.rows[0].innerText.slice(0, 60).replace(/\\s+/g, ' ') : '') + ')',
    width: Math.ceil(table.getBoundingClientRect().width), column: Math.floor(width),
    scroller: scroller ? {classes: (scroller.className + ' ' + (scroller.closest('.cell_output') ? 'cell_output' : '')),
                          width: scroller.clientWidth} : null,
    sticky: firsts.length > 0 && firsts.every(c => getComputedStyle(c).position === 'sticky'),
    in_figure: !!table.closest('figure, figcaption'),
    colours: Array.from(new Set(Array.from(table.querySelectorAll('td, th')).filter(c => !c.closest('.reported, .ci'))
                                  .map(c => getComputedStyle(c).color))),
    body: body,
    centred: cells.filter(c => getComputedStyle(c).textAlign === 'center').length,
  };
});"""


def table_problems(page: str, tables: list[dict]) -> list[str]:
    """Why the tables of one page (as :data:`_TABLES_JS` measures them) do not fit or read: wider
    than the text column outside a scrolling container of :data:`SCROLLERS` with its first column
    held in place, inside a figure (grey, centred caption text), in another colour than the
    body's, or with centred text cells."""
    problems = []
    for t in tables:
        where = f"{page} {t['name']}"
        if t["in_figure"]:
            problems.append(f"{where}: inside a figure (its text is the caption's: grey, centred)")
        if t["width"] > t["column"] + 1:
            scroller = t["scroller"]
            known = scroller and any(k in scroller["classes"].split() for k in SCROLLERS)
            if not known:
                problems.append(f"{where}: {t['width']} px wide in a {t['column']} px column, "
                                f"not in a table scroller ({', '.join(SCROLLERS)})")
            elif scroller["width"] > t["column"] + 1:
                problems.append(f"{where}: its scrolling container is {scroller['width']} px wide in a "
                                f"{t['column']} px column")
            elif not t["sticky"]:
                problems.append(f"{where}: scrolls ({t['width']} px in {t['column']} px) without its first "
                                "column held in place (position: sticky)")
        if any(c != t["body"] for c in t["colours"]):
            problems.append(f"{where}: text colour {', '.join(t['colours'])}, not the body's {t['body']}")
        if t["centred"]:
            problems.append(f"{where}: {t['centred']} text cells centred")
    return problems


def test_every_table_fits_its_column(browser, server, html):
    """In a 1300 px window, every table of every page fits the text column, or scrolls sideways
    inside its own container with its key column sticky; tables are in the body's colour,
    outside figures, with left-aligned text."""
    browser.set_window_size(*READER_WINDOW)
    problems, n_tables = [], 0
    try:
        for page in _pages(html):
            browser.get(server + page)
            tables = browser.execute_script(_TABLES_JS) or []
            n_tables += len(tables)
            problems += table_problems(page, tables)
    finally:
        browser.set_window_size(1400, 1000)
    assert n_tables >= 20, n_tables
    assert not problems, f"{len(problems)} table problems:\n" + "\n".join(problems)


def test_table_problems_are_found():
    """The rule itself: a wide table outside a scroller, in a figure, or scrolling without a
    sticky key column is reported; a fitting one and a held, scrolling one are not."""
    base = {"name": "t", "width": 600, "column": 700, "scroller": None, "sticky": False, "in_figure": False,
            "colours": ["rgb(0, 0, 0)"], "body": "rgb(0, 0, 0)", "centred": 0}
    wide = base | {"width": 1200}
    held = wide | {"scroller": {"classes": "lungseg-scroll", "width": 700}, "sticky": True}
    assert table_problems("p", [base, held]) == []
    assert len(table_problems("p", [wide])) == 1
    assert "held in place" in table_problems("p", [held | {"sticky": False}])[0]
    assert "not in a table scroller" in table_problems("p", [held | {"scroller": {"classes": "output", "width": 700}}])[0]
    assert "inside a figure" in table_problems("p", [base | {"in_figure": True}])[0]
    assert "colour" in table_problems("p", [base | {"colours": ["rgb(1, 2, 3)"]}])[0]
    assert "centred" in table_problems("p", [base | {"centred": 2}])[0]


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
