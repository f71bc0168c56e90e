"""Draw the diagrams in assets/ (run with `make figures`).

Each diagram lives in its own module `assets/fig_NN_name.py`, with a FILENAME and a
`draw(path)` function. This script imports every such module and redraws its figure.
Figures that show computed results are drawn by the notebooks themselves.
"""

import importlib
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent


def figure_modules() -> list:
    """Every fig_*.py module beside this script, in name order."""
    sys.path.insert(0, str(ASSETS))
    return [importlib.import_module(path.stem) for path in sorted(ASSETS.glob("fig_*.py"))]


def main() -> None:
    for module in figure_modules():
        path = ASSETS / module.FILENAME
        module.draw(path)
        print("wrote", path.relative_to(ASSETS.parent))


if __name__ == "__main__":
    main()
