# redislab: `make lab` opens the notebooks, `make test` runs every test and notebook.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Every claim a notebook asserts is recorded here (redislab.kit.claims); `make claims` reports them.
CLAIMS_DIR ?= build/claims
export REDISLAB_CLAIMS_DIR := $(abspath $(CLAIMS_DIR))
# Test files (and notebooks) run on this many workers (pytest-xdist, one file per worker):
# most of a notebook's time is spent waiting on servers, not on the CPU. WORKERS=1: serial.
WORKERS ?= 2
XDIST   := $(if $(filter 1,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

.PHONY: lock lab test test-unit test-notebooks test-external test-browser claims soak report bench lint format strip compose clean help

help:
	@echo "make lab            build .venv and open JupyterLab on notebooks/"
	@echo "make test           the whole test suite and every notebook (pytest --nbval-lax)"
	@echo "make test-notebooks only the notebooks (REDISLAB_SERVER=redis8|valkey to switch engine)"
	@echo "make test-browser   JupyterLab driven by a headless Chromium; screenshots in build/browser/"
	@echo "make test-external  the notebooks against a server reached only by REDISLAB_URL"
	@echo "make claims         run the notebooks on every engine found here; build/claims/claims.html"
	@echo "make soak           the notebooks RUNS=5 times per engine (NEIGHBOUR=1: a core kept busy);"
	@echo "                    per-claim margins in build/soak/soak.html (ENGINES=..., ONLY=06.01,08.01)"
	@echo "make report         execute every notebook: the course site in build/site/ (index.html)"
	@echo "make bench          print the speed benchmarks (ratios against baselines)"
	@echo "make lock           refresh uv.lock to the newest releases pyproject.toml allows"
	@echo "make lint           ruff check + format check + mypy; make strip: strip notebook outputs"
	@echo "make compose        regenerate docker-compose.yml from the topology specs"

# .venv is exactly uv.lock (scripts/setup: uv from PyPI, then `uv sync --locked`).
$(STAMP): uv.lock pyproject.toml scripts/setup
	PYTHON=$(PYTHON) UV_PROJECT_ENVIRONMENT=$(VENV) scripts/setup
	@touch $@

# Refresh the lock to the newest releases pyproject.toml allows (then run make test).
lock: $(STAMP)
	.uv/bin/uv lock --upgrade

# JupyterLab refuses to run as root unless told; containers often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

test: $(STAMP)
	$(BIN)/pytest $(XDIST) tests $(NOTEBOOKS) --nbval-lax --ignore=tests/browser --ignore=tests/external

test-unit: $(STAMP)
	$(BIN)/pytest $(XDIST) tests --ignore=tests/browser --ignore=tests/external

# JupyterLab in a headless Chromium (Debian: apt-get install chromium chromium-driver);
# skipped, with the reason, where none is found. Screenshots in build/browser/.
test-browser: $(STAMP)
	$(BIN)/pytest tests/browser -v

# The notebooks against a server started apart from them (`redislab up`), reached only
# by REDISLAB_URL: local-only notebooks and sections skip with their reasons, and the
# server keeps its keys and configuration. Against your own: REDISLAB_URL=... make test-notebooks
test-external: $(STAMP)
	$(BIN)/pytest tests/external -v

test-notebooks: $(STAMP)
	$(BIN)/pytest $(XDIST) --nbval-lax $(NOTEBOOKS)

# The notebooks on every engine found here (one after another: they measure), then the table.
claims: $(STAMP)
	@engines="$$($(BIN)/python -c 'from redislab import available_servers as a; print(" ".join(s.source for s in a()))')"; \
	for e in $$engines; do echo "== notebooks on $$e"; REDISLAB_SERVER=$$e $(BIN)/pytest -q --nbval-lax $(NOTEBOOKS) || exit 1; done
	$(BIN)/redislab claims $(CLAIMS_DIR)

# The notebooks RUNS times per engine, round by round (redislab.soak); NEIGHBOUR=1 keeps one
# core busy meanwhile, ENGINES=system,valkey and ONLY=06.01,08.01 narrow it. The per-claim
# table: build/soak/soak.html (copied to $(CLAIMS_DIR)/, which the claims report links).
soak: $(STAMP)
	$(BIN)/redislab soak --runs $(or $(RUNS),5) --workers $(WORKERS) \
	  $(if $(filter 1 yes true,$(NEIGHBOUR)),--neighbour) \
	  $(if $(ENGINES),--engines $(ENGINES)) $(if $(ONLY),--notebooks $(ONLY))

report: $(STAMP)
	$(BIN)/redislab site --out build/site
	@echo "open build/site/index.html"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_startup.py
	@for b in benchmarks/bench_*.py; do [ "$$b" = benchmarks/bench_startup.py ] || $(BIN)/python $$b; done

lint: $(STAMP)
	.uv/bin/uv lock --check
	$(BIN)/ruff check redislab tests benchmarks
	$(BIN)/ruff format --check redislab tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix redislab tests benchmarks
	$(BIN)/ruff format redislab tests benchmarks

strip: $(STAMP)
	$(BIN)/nbstripout $(NOTEBOOKS)

compose: $(STAMP)
	$(BIN)/redislab compose -o docker-compose.yml

clean:
	rm -rf build .pytest_cache
	-$(BIN)/redislab down --all
