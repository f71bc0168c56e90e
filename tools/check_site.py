"""Check the built website in headless Chromium:  python tools/check_site.py [SCREENSHOT.png]

Run after `make site`. The site in build/site/html is served on 127.0.0.1, and Chromium (Debian's
`chromium` and `chromium-driver`, driven by selenium) opens every page written in site/ (the home page,
install, exercises, training, performance, design, contributing, ...) and one notebook page that has both
math and figures. The checks:

1. no page refers to a script, stylesheet or font on another server, and no page opened loaded anything
   from one (the site must work offline);
2. each page opened loaded, MathJax (served from the site itself) typeset every formula on it without
   errors, and every image on it loaded; the notebook page has formulas, a figure from assets/ and a
   plot stored in a cell;
3. the navigation lists every page of site/, and the notebooks in series order (00 to 09), then the
   exercise notebooks.

Screenshots: the notebook page, around its first figure, in SCREENSHOT.png (default
build/site/screenshot.png), and each page of site/ in pages/ beside it.
Exits with status 1 and one line per failed check, or 2 when Chromium is missing.
"""

import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site" / "html"
PAGE = "notebooks/05_transformer_block_and_model.html"  # math, a figure from assets/ and a plot
# Debian's chromium and chromium-driver; elsewhere, name a Chromium or Chrome and its driver.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1800"]


def external_references() -> list[str]:
    """The pages' <script src> and <link href> that point to another server, as 'page: url'."""
    pattern = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]*)"')
    return [f"{page.relative_to(SITE)}: {url}" for page in sorted(SITE.rglob("*.html"))
            for url in pattern.findall(page.read_text(encoding="utf-8"))]


def series_order() -> list[str]:
    """The notebooks' pages as the navigation must list them: in series order, then the exercises."""
    return [notebook.relative_to(ROOT).with_suffix("").as_posix()
            for folder in ("notebooks", "notebooks/exercises")
            for notebook in sorted((ROOT / folder).glob("[0-9]*.ipynb"))]


def serve(directory: Path) -> http.server.HTTPServer:
    """Serve directory on 127.0.0.1 (a free port) from a background thread; quiet."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_chromium(profile: str) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile, through Debian's chromedriver (nothing downloaded)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


def wait_for_mathjax(browser: webdriver.Chrome) -> None:
    """Wait until MathJax has loaded and finished typesetting the page (at most 30 s)."""
    browser.set_script_timeout(30)
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"))
    browser.execute_async_script("MathJax.startup.promise.then(arguments[0], arguments[0])")


def site_pages() -> list[str]:
    """The pages written in site/, as the site names them: index, install, exercises, ..."""
    return sorted(page.stem for page in (ROOT / "site").glob("*.md"))


def open_page(browser: webdriver.Chrome, base: str, page: str) -> tuple[dict, list[str]]:
    """Open page, wait for its math, and check what every page must satisfy; return its counts and failures."""
    browser.get(f"{base}/{page}.html")
    failures = []
    if not browser.execute_script("return !!document.querySelector('article h1')"):
        return {"formulas": 0, "typeset": 0, "images": []}, [f"{page}: no page with a title at {page}.html"]
    if browser.execute_script("return !!document.querySelector('script[src*=\"mathjax\" i]')"):
        try:
            wait_for_mathjax(browser)
        except WebDriverException as error:  # timed out, or a script error
            failures.append(f"{page}: MathJax did not load or finish typesetting within 30 s ({type(error).__name__})")
    math = browser.execute_script("""
        const formulas = [...document.querySelectorAll('.math')];
        return {formulas: formulas.length,
                typeset: formulas.filter(f => f.querySelector('mjx-container')).length,
                errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
                        .map(e => e.getAttribute('data-mjx-error') || e.textContent)};""")
    if math["typeset"] < math["formulas"]:
        failures.append(f"{page}: MathJax typeset {math['typeset']} of {math['formulas']} formulas")
    failures += [f"{page}: MathJax error: {error}" for error in math["errors"]]

    images = browser.execute_script("""
        return [...document.querySelectorAll('article img')].map(img => ({
            src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
            plot: !!img.closest('.cell_output')}));""")
    failures += [f"{page}: image did not load: {image['src']}" for image in images if not image["loaded"]]

    foreign = browser.execute_script("""
        return performance.getEntriesByType('resource').map(r => r.name)
               .filter(url => !url.startsWith(location.origin));""")
    failures += [f"{page}: loaded from another server: {url}" for url in foreign]
    return {**math, "images": images}, failures


def check_navigation(browser: webdriver.Chrome, base: str) -> list[str]:
    """The navigation of the page open now lists every page of site/, and the notebooks in series order."""
    links = browser.execute_script("""
        return [...document.querySelectorAll('nav.bd-docs-nav a')].map(a => a.href);""")
    listed = [re.sub(r"\.html(#.*)?$", "", link.removeprefix(base + "/")) or "index" for link in links]
    failures = [f"the navigation does not list the page {page}" for page in site_pages() if page not in listed]
    notebooks, expected = [page for page in listed if page.startswith("notebooks/")], series_order()
    if notebooks != expected:
        failures.append(f"navigation lists the notebooks {notebooks}, expected {expected}")
    return failures


def check_pages(browser: webdriver.Chrome, base: str, screenshots: Path) -> list[str]:
    """Open every page of site/ and the notebook page PAGE; return the failures. Screenshots of the site's pages."""
    failures = []
    screenshots.mkdir(parents=True, exist_ok=True)
    for page in site_pages():
        counts, page_failures = open_page(browser, base, page)
        failures += page_failures
        if page == "index":
            failures += check_navigation(browser, base)
        browser.save_screenshot(str(screenshots / f"{page}.png"))
        print(f"{page}: {counts['typeset']} formulas typeset, "
              f"{sum(image['loaded'] for image in counts['images'])} of {len(counts['images'])} images loaded")

    notebook = PAGE.removesuffix(".html")
    counts, page_failures = open_page(browser, base, notebook)
    failures += page_failures + check_navigation(browser, base)
    if counts["formulas"] == 0:
        failures.append(f"{notebook}: no formula on the page")
    if not any(not image["plot"] for image in counts["images"]):
        failures.append(f"{notebook}: no figure from assets/ on the page")
    if not any(image["plot"] for image in counts["images"]):
        failures.append(f"{notebook}: no plot from a cell's stored output on the page")
    print(f"{notebook}: {counts['typeset']} formulas typeset, "
          f"{sum(image['loaded'] for image in counts['images'])} of {len(counts['images'])} images loaded")
    return failures


def main() -> int:
    """Run the checks; print what failed and return 1, or 0 when all passed."""
    screenshot = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "site" / "screenshot.png")
    if not (SITE / "index.html").exists():
        print(f"FAIL: no site in {SITE}; build it first: make site")
        return 1
    if not (CHROMIUM and CHROMEDRIVER):
        print("FAIL: Chromium or chromedriver not found. Debian: apt-get install chromium chromium-driver; "
              "elsewhere set CHROMIUM and CHROMEDRIVER to the browser's and its driver's paths")
        return 2

    failures = [f"not offline: {reference}" for reference in external_references()]
    server = serve(SITE)
    with tempfile.TemporaryDirectory() as profile:
        browser = start_chromium(profile)
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            failures += check_pages(browser, base, screenshot.parent / "pages")
            browser.execute_script(  # the first figure from assets/ and the text above it, if there is one
                "document.querySelector('article img:not(.cell_output img)')?.scrollIntoView({block: 'end'})")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(screenshot))
            print(f"screenshots: {screenshot} ({PAGE}) and {screenshot.parent / 'pages'}/ (the pages of site/)")
        finally:
            browser.quit()
            server.shutdown()

    for failure in failures:
        print(f"FAIL: {failure}")
    print("site check failed" if failures else "site check passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
