# Two commands for a fresh machine:  make lab   (JupyterLab on the notebooks)
#                                    make test  (the full test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lab test notebooks export figures bench bench-train train student autograde lock clean

# Create .venv and install gpt2lib (editable) with the pinned versions; redone when the pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Jupyter refuses to run as root unless told; classroom VMs and containers often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# The server's root is the repository, so that notebooks can show the figures in assets/;
# the browser opens on notebooks/. LAB_ARGS adds options, e.g. LAB_ARGS="--no-browser --ip=0.0.0.0 --port=8888".
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

# Regenerate gpt2lib from the notebooks' `#| export` cells.
export: $(STAMP)
	$(BIN)/python gpt2lib/exporter.py

# Re-execute every notebook in place, each in a fresh kernel, top to bottom (the exercises' too).
notebooks: export
	for nb in notebooks/[0-9][0-9]_*.ipynb notebooks/exercises/[0-9][0-9]_*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
	done

# gpt2lib versus Hugging Face transformers, side by side (a few minutes; not part of the tests).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_gpt2.py

# One training step of gpt2lib versus Hugging Face, side by side (about 10 minutes; not part of the tests).
bench-train: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

# Pretrain a small GPT-2 on tiny Shakespeare (about 15 minutes on a 2-core CPU) into runs/shakespeare.
# TRAIN_ARGS adds options, e.g. TRAIN_ARGS="--resume" or TRAIN_ARGS="--minutes 5"; see python -m gpt2lib.train --help.
train: $(STAMP)
	$(BIN)/python -m gpt2lib.train $(TRAIN_ARGS)

# Student copies of the exercise notebooks, solutions replaced by stubs, with nbgrader (config: nbgrader_config.py).
student: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nbgrader generate_assignment exercises --force
	@echo "student copies: student/exercises/"

# nbgrader's autograder on the reference solutions (full marks) and on the blank copies (zero); a few minutes.
autograde: $(STAMP)
	GPT2LIB_AUTOGRADE=1 $(BIN)/python -m pytest -q -s tests/test_autograde.py

figures: $(STAMP)
	$(BIN)/python assets/make_figures.py

# Re-pin constraints.txt to what is installed in .venv now.
lock: $(STAMP)
	{ echo "# Exact versions the committed notebook outputs were produced with (Python 3.11, CPU)."; \
	  echo "# Used as: pip install -c constraints.txt -e \".[dev]\"   (regenerate: make lock)"; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu//' | sort -f; } > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info gpt2lib/*.egg-info
