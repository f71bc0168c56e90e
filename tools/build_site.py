"""Build the course website from site/ and the executed notebooks:  python tools/build_site.py

Sphinx reads its pages from one folder, so they are first gathered in build/site/src, laid out as
in the repository: the pages of site/ (conf.py, index.md, install.md, ...) at the top, beside
notebooks/, notebooks/exercises/, assets/ and benchmarks/results/. A link or image path that starts
with `/` therefore means the repository's root both on GitHub and on the site, and the notebooks'
`../assets/...` images resolve unchanged. Sphinx then writes the HTML to build/site/html. The
notebooks are not executed: their stored outputs are shown. Nothing is written outside build/site;
every build starts afresh (about 15 s).

The performance page includes the benchmarks' result files. One that does not exist yet (the
benchmark has not been run) is replaced by a note that says so, and the build goes on: a missing
measurement is not a broken site.

Warnings count as errors (-W), so that a broken link, image or include fails the build.
"""

import re
import shutil
import sys
import time
from pathlib import Path

from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "site"
SRC, HTML, DOCTREES = OUT / "src", OUT / "html", OUT / "doctrees"
RESULTS = "benchmarks/results"
INCLUDE = re.compile(r"^```\{include\} /(" + RESULTS + r"/[\w.-]+\.md)\s*$", flags=re.M)


def not_yet_run(result: str) -> str:
    """What the page shows in place of a result file that no benchmark has written yet."""
    script = "benchmarks/" + Path(result).stem + ".py"
    return f"*Not yet run: `{script}` writes `{result}` when it runs.*\n"


def stage() -> list[str]:
    """Copy the site's pages, the notebooks, the figures and the result files into SRC.

    The previous build is removed first: Sphinx builds only what changed, and would then neither
    repeat an earlier warning nor drop the page of a notebook that is gone. Returns the result files
    the pages include that do not exist yet.
    """
    for folder in (SRC, HTML, DOCTREES):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "site", SRC)
    files = [*ROOT.glob("notebooks/[0-9]*.ipynb"), *ROOT.glob("notebooks/exercises/[0-9]*.ipynb"),
             *ROOT.glob("assets/**/*.png"), *ROOT.glob(RESULTS + "/*.md")]
    for path in files:
        target = SRC / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    missing = []
    for page in sorted((ROOT / "site").glob("*.md")):
        for result in INCLUDE.findall(page.read_text(encoding="utf-8")):
            if not (ROOT / result).is_file():
                missing.append(result)
                (SRC / result).parent.mkdir(parents=True, exist_ok=True)
                (SRC / result).write_text(not_yet_run(result), encoding="utf-8")
    return missing


def main() -> int:
    """Stage the sources and run Sphinx; return its exit status."""
    start = time.perf_counter()
    for result in stage():
        print(f"note: {result} does not exist yet; the page says the benchmark has not been run")
    status = build_main(["-b", "html", "-W", "--keep-going", "-q", "-d", str(DOCTREES), str(SRC), str(HTML)])
    if status == 0:
        print(f"site built in {time.perf_counter() - start:.1f} s: {HTML / 'index.html'}")
    else:
        print("site build failed: see Sphinx's messages above (warnings count as errors)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
