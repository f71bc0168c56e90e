"""The project's own files agree with each other: install pins, conda env, CI and README."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {normalize(re.match(r"[A-Za-z0-9_.\-]+", req).group()) for req in requirements}


def environment_pip_packages():
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    entries = re.findall(r"^\s+-\s+(\S.*)$", pip_section, flags=re.M)
    return {normalize(e) for e in entries if not e.startswith("-")}


def constraints():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    return {normalize(name): version for name, version in pins.items()}


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert environment_pip_packages() == pyproject_packages()


def test_environment_yml_uses_python_311_and_the_constraints():
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text and "-c constraints.txt" in text and "-e ." in text


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
