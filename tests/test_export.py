"""The notebooks are the source of gpt2lib: the exported modules must match them exactly."""

import json
import shutil

import pytest

import exporter  # tools/exporter.py: a repository tool, not in the wheel (pytest puts tools/ on the path)
from exporter import ExportError, GENERATED_MARK, REPO_ROOT


def test_gpt2lib_is_in_sync_with_the_notebooks():
    problems = exporter.out_of_sync()
    assert problems == [], "gpt2lib differs from the notebooks; run `make export`:\n" + "\n".join(problems)


def test_every_notebook_with_export_cells_produces_a_module():
    planned = exporter.plan_export()
    assert (REPO_ROOT / "gpt2lib" / "scaffold.py") in planned
    for path, text in planned.items():
        assert text.startswith(GENERATED_MARK)
        assert "notebooks/" in text.splitlines()[1], f"{path.name} does not name its source notebook"


def write_notebook(path, cells):
    cells = [{"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None} for src in cells]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture()
def repo_copy(tmp_path):
    """A copy of the notebooks and gpt2lib, to edit without touching the real repo."""
    shutil.copytree(REPO_ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(REPO_ROOT / "gpt2lib", tmp_path / "gpt2lib")
    return tmp_path


def test_hand_edit_of_a_generated_module_is_detected(repo_copy):
    module = repo_copy / "gpt2lib" / "scaffold.py"
    module.write_text(module.read_text().replace("vocab_size: int = 50257", "vocab_size: int = 50000"))
    assert exporter.out_of_sync(repo_copy) == ["gpt2lib/scaffold.py differs from its notebook"]


def test_export_restores_a_hand_edited_module(repo_copy):
    module = repo_copy / "gpt2lib" / "scaffold.py"
    original = module.read_text()
    module.write_text(original + "\nEXTRA = 1\n")
    exporter.export(repo_copy)
    assert module.read_text() == original
    assert exporter.out_of_sync(repo_copy) == []


def test_stale_generated_module_is_reported(repo_copy):
    (repo_copy / "gpt2lib" / "orphan.py").write_text(GENERATED_MARK + "\nX = 1\n")
    assert "gpt2lib/orphan.py is generated but no notebook exports it" in exporter.out_of_sync(repo_copy)


def test_export_cell_without_module_is_refused_with_notebook_and_cell(tmp_path):
    notebook = tmp_path / "99_nameless.ipynb"
    write_notebook(notebook, ["import torch", "#| export\nX = 1"])
    with pytest.raises(ExportError, match=r"99_nameless\.ipynb, cell 1: .*names no module"):
        exporter.read_notebook(notebook)


def test_cells_are_exported_in_order_without_their_marker(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ["#| default_exp demo", "#| export\nA = 1", "B = 2", "#| export\nC = A + 1"])
    export = exporter.read_notebook(notebook)
    assert export.module == "demo"
    assert [cell.source for cell in export.modules["demo"]] == ["A = 1", "C = A + 1"]
    text = exporter.render(export, tmp_path)
    assert "# Source: nb.ipynb." in text
    assert text.index("A = 1") < text.index("C = A + 1") and "B = 2" not in text


def test_module_named_twice_is_refused(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ["#| default_exp one", "#| default_exp two"])
    with pytest.raises(ExportError, match="a second"):
        exporter.read_notebook(notebook)


def test_a_dotted_module_name_writes_into_a_package_with_all_and_cell_markers(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "gpt2lib" / "pkg").mkdir(parents=True)
    (tmp_path / "gpt2lib" / "pkg" / "__init__.py").write_text("")
    write_notebook(tmp_path / "notebooks" / "01_x.ipynb", [
        "#| default_exp pkg.first", "#| export\nimport math\n\nA = 1\n_HIDDEN = 2", "#| export pkg.second\ndef f():\n    pass",
    ])
    planned = exporter.plan_export(tmp_path)
    first, second = tmp_path / "gpt2lib/pkg/first.py", tmp_path / "gpt2lib/pkg/second.py"
    assert set(planned) == {first, second}
    assert '__all__ = ["A"]' in planned[first]  # helpers (_HIDDEN) and imports (math) are not public
    assert '__all__ = ["f"]' in planned[second] and "A = 1" not in planned[second]
    assert "# %% notebooks/01_x.ipynb, cell 1\nimport math" in planned[first]
    exporter.export(tmp_path)
    assert first.read_text() == planned[first] and exporter.out_of_sync(tmp_path) == []


def test_patch_functions_become_methods_in_the_class_body(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, [
        "#| default_exp demo",
        "#| export\nclass Runner:\n    def __init__(self):\n        self.n = 0",
        "#| export\n@patch\ndef step(self: Runner, k: int = 1) -> int:\n    self.n += k\n    return self.n\n\n\n"
        "@patch\n@classmethod\ndef fresh(cls: Runner) -> 'Runner':\n    return cls()\n\n\nAFTER = 1",
    ])
    text = exporter.render(exporter.read_notebook(notebook), tmp_path)
    assert "@patch\n" not in text and "self: Runner" not in text and "cls: Runner" not in text
    namespace = {}
    exec(text, namespace)  # the class works on its own, with both methods defined in its body
    runner = namespace["Runner"].fresh()
    assert runner.step(2) == 2 and runner.step() == 3
    assert text.index("def step") < text.index("AFTER = 1")
    assert namespace["__all__"] == ["Runner", "AFTER"]


def test_a_patch_for_a_class_the_module_does_not_define_is_refused(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ["#| default_exp demo", "#| export\n@patch\ndef step(self: Missing):\n    pass"])
    with pytest.raises(ExportError, match="Missing"):
        exporter.render(exporter.read_notebook(notebook), tmp_path)


def test_a_module_written_by_two_notebooks_is_refused(tmp_path):
    (tmp_path / "notebooks").mkdir()
    write_notebook(tmp_path / "notebooks" / "01_a.ipynb", ["#| default_exp shared", "#| export\nA = 1"])
    write_notebook(tmp_path / "notebooks" / "02_b.ipynb", ["#| default_exp other", "#| export shared\nB = 1"])
    with pytest.raises(ExportError, match="already exported by 01_a.ipynb"):
        exporter.plan_export(tmp_path)
