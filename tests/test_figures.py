"""The figures: diagrams are redrawn by `make figures`, and every image a notebook shows is served by `make lab`."""

import importlib
import json
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]*\bsrc=\"([^\"]+)\"")


def image_links(notebook: Path) -> list[str]:
    """Every image a notebook's markdown cells reference."""
    links = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            links += [a or b for a, b in IMAGE_LINK.findall(text)]
    return links


def figure_modules():
    sys.path.insert(0, str(ASSETS))
    return [importlib.import_module(path.stem) for path in sorted(ASSETS.glob("fig_*.py"))]


@pytest.mark.parametrize("module", figure_modules(), ids=lambda m: m.__name__)
def test_each_diagram_is_redrawn_identically_by_its_code(module, tmp_path):
    committed = ASSETS / module.FILENAME
    assert committed.exists(), f"{module.FILENAME} is missing; run `make figures`"
    module.draw(tmp_path / module.FILENAME)
    assert (tmp_path / module.FILENAME).read_bytes() == committed.read_bytes(), (
        f"assets/{module.FILENAME} differs from what {module.__name__}.py draws; run `make figures`"
    )


def test_every_referenced_image_exists_and_every_diagram_is_used():
    used = set()
    for notebook in NOTEBOOKS:
        for link in image_links(notebook):
            assert not link.startswith(("http:", "https:", "data:")), f"{notebook.name}: use a figure in assets/, not {link}"
            path = (notebook.parent / link).resolve()
            assert path.is_file(), f"{notebook.name} shows {link}, which does not exist"
            used.add(path)
    diagrams = {(ASSETS / module.FILENAME).resolve() for module in figure_modules()}
    assert diagrams <= used, f"diagrams no notebook shows: {sorted(p.name for p in diagrams - used)}"


def lab_command(port: int, token: str) -> list[str]:
    """The command `make lab` runs, with a port and token for the test, and no browser."""
    printed = subprocess.run(["make", "-n", "-s", "lab", "LAB_ARGS="], cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(ln for ln in printed.stdout.splitlines() if "jupyter lab" in ln)
    return shlex.split(line) + ["--no-browser", f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server():
    port, token = free_port(), "figures-test"
    process = subprocess.Popen(lab_command(port, token), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert process.poll() is None, "make lab's server exited: " + process.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_make_lab_serves_every_image_the_notebooks_show(lab_server):
    base, token = lab_server
    checked = 0
    for notebook in NOTEBOOKS:
        for link in image_links(notebook):
            relative = (notebook.parent / link).resolve().relative_to(ROOT)  # the server's root is the repository
            with urllib.request.urlopen(f"{base}/files/{relative.as_posix()}?token={token}", timeout=10) as reply:
                assert reply.status == 200 and reply.headers["Content-Type"] == "image/png", f"{notebook.name}: {link}"
                assert reply.read(8) == b"\x89PNG\r\n\x1a\n"
            checked += 1
    assert checked > 0
