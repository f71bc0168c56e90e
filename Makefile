# Two commands for a fresh machine:  make lab   (JupyterLab on the notebooks)
#                                    make test  (the full test suite)
VENV   ?= .venv
BIN    := $(VENV)/bin

# A supported Python: PYTHON if given, else the first of these that is 3.11, 3.12 or 3.13.
SUPPORTED := (3, 11) <= sys.version_info[:2] <= (3, 13)
TESTED_ON := the pinned versions in constraints.txt are tested on 3.11, 3.12 and 3.13
ifeq ($(strip $(PYTHON)),)
PYTHON := $(shell for p in python3.11 python3.12 python3.13 python3; do \
            $$p -c 'import sys; sys.exit(not $(SUPPORTED))' 2>/dev/null && { echo $$p; break; }; \
          done)
endif

# Which torch build to install: "pypi" (PyPI's: on Linux the CUDA build, several GB; on macOS and Windows
# the only one), or the name of one of PyTorch's own wheel indexes: "cpu" (CPU only, a few hundred MB),
# "cu126", "cu128", ... Remembered in .venv/.torch; naming another one later recreates .venv with it.
TORCH_FILE := $(VENV)/.torch
ifndef TORCH
TORCH := $(or $(shell cat $(TORCH_FILE) 2>/dev/null),pypi)
endif
ifneq ($(or $(filter-out pypi cpu cu1% rocm%,$(TORCH)),$(filter cuda,$(TORCH))),)
$(error TORCH=$(TORCH) is not a torch build: use pypi, cpu, or one of PyTorch's indexes such as cu128 (see site/install.md))
endif
TORCH_INDEX_URL := $(if $(filter-out pypi,$(TORCH)),https://download.pytorch.org/whl/$(TORCH))
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL))
STAMP  := $(VENV)/.installed-$(TORCH)

.PHONY: install new-venv lab test test-faults notebooks export figures bench bench-train train pretrained student autograde smoke site site-check lock clean

# Create .venv (or reuse it, with its own Python) and install gpt2lib (editable) with the pinned versions;
# redone when the pins change. A .venv made with another torch build is deleted first (one made before
# .venv/.torch existed counts as "pypi").
$(STAMP): pyproject.toml constraints.txt
	@if [ -d $(VENV) ] && [ "$$(cat $(TORCH_FILE) 2>/dev/null || echo pypi)" != "$(TORCH)" ]; then \
	  echo "switching torch from '$$(cat $(TORCH_FILE) 2>/dev/null || echo pypi)' to '$(TORCH)': deleting $(VENV) to install anew"; \
	  rm -rf $(VENV); fi
	@if [ ! -x $(BIN)/python ]; then $(MAKE) --no-print-directory new-venv GOAL="$(or $(MAKECMDGOALS),install)"; fi
	@echo "Installing into $(VENV) ($$($(BIN)/python --version), torch build '$(TORCH)'); pip's progress follows."
	@echo "A first install downloads 0.35 GB with CPU torch, or 2.9 GB with CUDA torch, and takes a few minutes."
	$(BIN)/python -m pip install --progress-bar on --disable-pip-version-check --no-compile $(TORCH_INDEX) -c constraints.txt -e ".[dev]"
	@echo "Compiling the installed packages to bytecode, on every core (pip would use one)."
	@# A few of torch's files use newer Pythons' syntax and do not compile; pip skips them too, hence || true.
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	echo "$(TORCH)" > $(TORCH_FILE)
	touch $(STAMP)

# A new .venv from a supported Python, or a clear stop.
new-venv:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: no Python 3.11, 3.12 or 3.13 on the PATH (python3 is: $$(python3 --version 2>&1)); the pinned versions in" >&2; \
	  echo "constraints.txt are tested on those. Install one (python.org, your package manager, pyenv), or name it:" >&2; \
	  echo "  make $(GOAL) PYTHON=/path/to/python3.12" >&2; \
	  exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if $(SUPPORTED) else \
	  f"error: PYTHON=$(PYTHON) ($(origin PYTHON)) is Python {sys.version.split()[0]}; $(TESTED_ON)")'
	$(PYTHON) -m venv $(VENV)

install: $(STAMP)

# Jupyter refuses to run as root unless told; classroom VMs and containers often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# The server's root is the repository, so that notebooks can show the figures in assets/;
# the browser opens on notebooks/. LAB_ARGS adds options, e.g. LAB_ARGS="--no-browser --ip=0.0.0.0 --port=8888".
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks $(ROOT_FLAG) $(LAB_ARGS)

# Two workers of one thread each; --dist loadscope keeps each notebook's cells (and each test file) on one
# worker, in order. One thread each, because two workers of two threads on two cores spin-wait on each
# other (on this project's 2-core machine the suite once took 4.4 minutes so, and 11.7 without
# OMP_NUM_THREADS=1). --no-loadscope-reorder keeps the order of tests/conftest.py: the slowest files first.
# The slow loops of injected faults (random kills) are left to make test-faults.
TEST_WORKERS ?= 2
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not fault_loop"

# The loops of injected faults: training runs killed at random moments, in 1 process and under torchrun,
# must continue to the uninterrupted run's losses (about a minute; not part of make test).
test-faults: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m fault_loop tests

# Regenerate gpt2lib from the notebooks' `#| export` cells.
export: $(STAMP)
	$(BIN)/python tools/exporter.py

# Re-execute every notebook in place, each in a fresh kernel, top to bottom (the exercises' too). Notebook 10
# starts from the shipped small model, as in the tests, whatever weights this machine has (gpt2lib/finetune/start.py).
notebooks: export
	for nb in notebooks/[0-9][0-9]_*.ipynb notebooks/exercises/[0-9][0-9]_*.ipynb; do \
	  GPT2LIB_START=shipped $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
	done

# gpt2lib versus Hugging Face transformers, side by side (10 to 15 minutes on 2 cores; not part of the tests).
# Writes benchmarks/results/bench_gpt2.md and .json, which the site's performance page shows.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_gpt2.py

# One training step of gpt2lib versus Hugging Face, side by side (about 10 minutes; not part of the tests).
# Writes benchmarks/results/bench_training.md and .json, which the site's performance page shows.
bench-train: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

# Pretrain a small GPT-2 on tiny Shakespeare (about 15 minutes on a 2-core CPU) into runs/shakespeare.
# TRAIN_ARGS adds options, e.g. TRAIN_ARGS="--resume" or TRAIN_ARGS="--minutes 5"; see python -m gpt2lib.train --help.
train: $(STAMP)
	$(BIN)/python -m gpt2lib.train $(TRAIN_ARGS)

# Rebuild the shipped small model, assets/pretrained/shakespeare-4x192 (the default run of `make train`, stored in
# bfloat16 with its provenance); about 15 minutes on a 2-core CPU. Notebook 10 starts from it.
pretrained: $(STAMP)
	$(BIN)/python tools/make_pretrained.py

# Student copies of the exercise notebooks, solutions replaced by stubs, with nbgrader (config: nbgrader_config.py).
student: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nbgrader generate_assignment exercises --force
	@echo "student copies: student/exercises/"

# nbgrader's autograder on the reference solutions (full marks) and on the blank copies (zero); a few minutes.
autograde: $(STAMP)
	GPT2LIB_AUTOGRADE=1 $(BIN)/python -m pytest -q -s tests/test_autograde.py

figures: $(STAMP)
	$(BIN)/python assets/make_figures.py

# Build the wheel and smoke-test it on every supported Python found here (python3.11, 3.12, 3.13);
# a few minutes per Python (torch downloads); not part of the tests.
# It uses the same TORCH build as .venv.
smoke: $(STAMP)
	$(if $(TORCH_INDEX_URL),PIP_EXTRA_INDEX_URL=$(TORCH_INDEX_URL)) $(BIN)/python tools/smoke_wheel.py

# The website's tools (the `site` extra) on top of the usual install.
$(VENV)/.installed-site: $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check $(TORCH_INDEX) -c constraints.txt -e ".[dev,site]"
	touch $@

# The course as a static website in build/site/html: the pages of site/ and the notebooks with their
# stored outputs (not re-run).
site: $(VENV)/.installed-site
	$(BIN)/python tools/build_site.py

# Open every page of site/ and a notebook page in headless Chromium and check their math, images, navigation
# and that nothing comes from another server; screenshots in build/site/screenshot.png (SCREENSHOT=path for
# another) and build/site/pages/. Needs Chromium and chromedriver
# (Debian: apt-get install chromium chromium-driver; elsewhere set CHROMIUM and CHROMEDRIVER to their paths).
site-check: site
	$(BIN)/python tools/check_site.py $(SCREENSHOT)

# Re-pin constraints.txt (and environment.yml, generated from it) to what is installed in .venv now,
# the site extra included. CUDA's own packages are left out: they exist only for Linux.
lock: $(VENV)/.installed-site
	{ echo "# Exact versions the committed notebook outputs were produced with (Python 3.11, CPU)."; \
	  echo "# Used as: pip install -c constraints.txt -e \".[dev]\"   (regenerate: make lock)"; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu//' | grep -viE '^(nvidia-|cuda-|triton==)' | sort -f; \
	} > constraints.txt
	$(BIN)/python tools/write_environment.py

clean:
	rm -rf $(VENV) build *.egg-info gpt2lib/*.egg-info
