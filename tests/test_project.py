"""The project's own files agree with each other: install pins, conda env, CI and README."""

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


def test_the_site_pages_cut_the_readme_at_headings_it_has():
    """make site includes README sections between headings; renaming one would break the site build."""
    markers = re.findall(r'^:(?:start-after|end-before): "(.+)"$', "".join(
        page.read_text() for page in sorted((ROOT / "site").glob("*.md"))), flags=re.M)
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    assert len(markers) >= 5
    assert [marker for marker in markers if marker not in readme_lines] == []
