"""Write gpt2lib/data/course_notes.txt: the prose of notebooks 01 to 09, the "your own text" of notebook 10.

Notebook 10 continues training the small Shakespeare model on a text unlike Shakespeare. This project's own
explanations are such a text (modern technical English about transformers), written by its authors, shipped
with it under its licence, and available offline. The file is a snapshot: notebook 10's stored outputs depend on
it, so it is written once and committed, not rebuilt when the notebooks change. Rebuild it deliberately with

    python tools/make_course_notes.py

and then re-execute notebook 10. Markdown cells are kept as they are, except image lines, and the spelling of
GPT-2's special token, which tokenize() refuses in ordinary text: "<|endoftext|>" becomes "<endoftext>". Cells are
separated by a blank line.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "gpt2lib" / "data" / "course_notes.txt"


def markdown_cells(notebook: Path) -> list[str]:
    """The markdown cells of a notebook, without their image lines."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    texts = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            lines = "".join(cell["source"]).splitlines()
            texts.append("\n".join(line for line in lines if not line.lstrip().startswith("![")).strip())
    return [text for text in texts if text]


def main() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
    text = "\n\n".join(cell for notebook in notebooks for cell in markdown_cells(notebook)) + "\n"
    text = text.replace("<|endoftext|>", "<endoftext>")
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}: {len(text):,} characters from {len(notebooks)} notebooks")


if __name__ == "__main__":
    main()
