"""Sphinx configuration for the course website (`make site`; built by tools/build_site.py).

The site is Jupyter Book 1's own stack used directly: Sphinx, MyST-NB to read the notebooks
and sphinx-book-theme for the look. The pages are the Markdown files of site/, each its own
source; the notebooks are shown with their stored outputs and are never executed. MathJax is
served from the site itself (sphinx-mathjax-offline), not from a CDN, so the pages render
without internet.
"""

project = "Build GPT-2 in notebooks"
author = "gpt2lib authors"
copyright = "gpt2lib authors, MIT license"

extensions = [
    "myst_nb",                 # .md and .ipynb pages, written in MyST Markdown
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static/ and points mathjax_path at it
]

root_doc = "index"
# The benchmarks' result files are not pages: the performance page includes them.
exclude_patterns = ["benchmarks/**"]

# The notebooks as committed: stored outputs, no kernel started.
nb_execution_mode = "off"
# $...$ and $$...$$ math, as Jupyter shows it.
myst_enable_extensions = ["dollarmath", "amsmath"]
# Anchors for headings down to ###, named as GitHub names them, so that a link such as
# design.md#offline works both on the site and on GitHub.
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
}
html_show_sourcelink = False
