"""Build the course website from the executed notebooks:  python tools/build_site.py

Sphinx reads its pages from one folder, so the pages are first gathered in build/site/src,
laid out as in the repository (notebooks/, notebooks/exercises/, assets/, README.md at the top)
so that the notebooks' `../assets/...` images and the README's `notebooks/...` links resolve
unchanged. Next to them go the pages of site/ (conf.py, index.md, exercises.md). Sphinx then
writes the HTML to build/site/html. The notebooks are not executed: their stored outputs are
shown. Nothing is written outside build/site; every build starts afresh (about 15 s).

Warnings count as errors (-W), so that a broken link, image or README excerpt fails the build.
"""

import shutil
import sys
import time
from pathlib import Path

from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "site"
SRC, HTML, DOCTREES = OUT / "src", OUT / "html", OUT / "doctrees"


def stage() -> None:
    """Copy the site's pages, the notebooks, the figures and the README into SRC.

    The previous build is removed first: Sphinx builds only what changed, and would then neither
    repeat an earlier warning nor drop the page of a notebook that is gone.
    """
    for folder in (SRC, HTML, DOCTREES):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "site", SRC)
    for notebook in [*ROOT.glob("notebooks/[0-9]*.ipynb"), *ROOT.glob("notebooks/exercises/[0-9]*.ipynb")]:
        target = SRC / notebook.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, target)
    (SRC / "assets").mkdir()
    for figure in ROOT.glob("assets/*.png"):
        shutil.copy2(figure, SRC / "assets")
    shutil.copy2(ROOT / "README.md", SRC)


def main() -> int:
    """Stage the sources and run Sphinx; return its exit status."""
    start = time.perf_counter()
    stage()
    status = build_main(["-b", "html", "-W", "--keep-going", "-q", "-d", str(DOCTREES), str(SRC), str(HTML)])
    if status == 0:
        print(f"site built in {time.perf_counter() - start:.1f} s: {HTML / 'index.html'}")
    else:
        print("site build failed: see Sphinx's messages above (warnings count as errors)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
