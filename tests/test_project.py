"""The project's own files agree with each other: install pins, conda env, CI, README and site pages."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_packages():
    """Every package pyproject.toml asks for, with all its extras (not gpt2lib[hf] itself)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["hf"] + extras["dev"] + extras["site"]
    names = {normalize(re.match(r"[A-Za-z0-9_.\-]+", req).group()) for req in requirements}
    return names - {"gpt2lib"}


def constraints():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    return {normalize(name): version for name, version in pins.items()}


def test_environment_yml_is_generated_from_the_constraints():
    from write_environment import environment_text  # tools/, on pytest's path

    assert (ROOT / "environment.yml").read_text() == environment_text(), "run make lock (or python tools/write_environment.py)"


def test_environment_yml_pins_everything_without_relative_files():
    """micromamba moves the pip section into a temporary directory: no -r/-c file may be named there."""
    text = (ROOT / "environment.yml").read_text()
    pip_lines = re.findall(r"^\s+-\s+(\S.*)$", text.split("- pip:", 1)[1], flags=re.M)
    assert "python=3.11" in text and pip_lines[-1] == "-e .[dev,site]"
    assert not [line for line in pip_lines if line.startswith(("-r", "-c", "--requirement", "--constraint"))]
    pinned = dict(line.split("==") for line in pip_lines[:-1])
    assert {normalize(name): version for name, version in pinned.items()} == constraints()


def test_every_dependency_is_pinned_and_torch_is_the_cached_cpu_version():
    pins = constraints()
    assert pyproject_packages() <= set(pins)
    assert pins["torch"] == "2.13.0"
    assert all("+" not in version for version in pins.values()), "local version labels break installs elsewhere"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_commands = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_commands == ["make test"]
    assert "```bash\nmake test\n```" in readme


def test_pytest_runs_nbval_strictly_over_the_notebooks():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"]
    assert "--nbval " in options["addopts"] + " " and "--nbval-lax" not in options["addopts"]


def test_make_test_leaves_out_the_fault_loops_and_nothing_else():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test: .*\n\t(.*)$", makefile, flags=re.M).group(1)
    assert '-m "not fault_loop"' in recipe
    assert not re.search(r"--ignore|--deselect|\s-k\s|--nbval-lax", recipe)  # every notebook, strictly


def test_the_slowest_first_list_names_test_files_and_notebooks_that_exist():
    conftest = (ROOT / "tests" / "conftest.py").read_text()  # not imported: notebooks/ has a conftest module too
    listed = re.findall(r'^    "([^"]+)",$', conftest.split("SLOWEST_FIRST = [")[1].split("]")[0], flags=re.M)
    assert len(listed) >= 5 and all((ROOT / path).is_file() for path in listed), listed


MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCED_CODE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def local_links(path: Path) -> list[str]:
    """The link and image targets of a Markdown file that are files of this repository (code blocks left out)."""
    text = FENCED_CODE.sub("", path.read_text(encoding="utf-8"))
    targets = [target.split("#")[0] for target in MARKDOWN_LINK.findall(text)]
    return [target for target in targets if target and not re.match(r"[a-z]+:", target)]


def test_the_readme_is_a_front_door_whose_links_all_resolve():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 200, "the README is the front door: move details to a page in site/"
    links = local_links(readme)
    assert [link for link in links if not (ROOT / link).exists()] == []
    assert {f"site/{page.name}" for page in (ROOT / "site").glob("*.md") if page.name != "index.md"} <= set(links)


def test_the_site_pages_link_to_files_that_exist():
    """In site/, a link starting with / means the repository's root (on GitHub and on the site alike)."""
    broken = []
    for page in sorted((ROOT / "site").glob("*.md")):
        for link in local_links(page):
            target = ROOT / link.lstrip("/") if link.startswith("/") else page.parent / link
            if not target.exists():
                broken.append(f"{page.name}: {link}")
    assert broken == []


def test_every_site_page_is_in_the_navigation():
    """A page of site/ left out of index.md's tables of contents would be built, but no menu would reach it."""
    index = (ROOT / "site" / "index.md").read_text()
    toctrees = re.findall(r"^```\{toctree\}\n(.*?)^```", index, flags=re.M | re.S)
    entries = {line.strip() for tree in toctrees for line in tree.splitlines() if line.strip() and ":" not in line}
    pages = {page.stem for page in (ROOT / "site").glob("*.md")} - {"index"}
    assert pages - entries == set(), "add these pages to a toctree in site/index.md"
    assert {"notebooks/[0-9]*", "notebooks/exercises/[0-9]*"} <= entries
    assert {entry for entry in entries - pages if "*" not in entry} == set(), "a toctree names a page that is gone"


def test_the_front_doors_list_every_notebook():
    readme, index = (ROOT / "README.md").read_text(), (ROOT / "site" / "index.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        assert f"(notebooks/{notebook.name})" in readme, f"README.md does not list {notebook.name}"
        assert f"(/notebooks/{notebook.name})" in index, f"site/index.md does not list {notebook.name}"
