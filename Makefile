# The two commands of the README: `make claims` (set up, run the catalogue, write the reports)
# and `make test` (the engine's tests, fast calibration and the smoke claims).
#
# Installs are reproducible: `make setup` installs requirements.lock (every package, transitive ones
# too, pinned with hashes, for Python 3.11 on Linux x86_64; torch is the CPU build 2.13.0+cpu that
# pip finds in the machine's local wheel folder, its find-links), then the checkout with --no-deps.
# It reinstalls when requirements.lock or pyproject.toml changes, and fails if pyproject.toml
# needs something the lock lacks. pyproject.toml keeps open ranges (for people who install the
# plugin into their own project); requirements.in holds the pins for this repo only (torch +cpu).
#
# Refreshing the lock (pip-tools' pip-compile of pyproject.toml + its dev, dask and slurm extras + requirements.in,
# run with Python 3.11 from a tool venv, .venv-lock):
#   make lock                     after editing dependencies: re-resolves, keeping current pins
#                                 where they still fit
#   make lock P="pytest numpy"    also moves those packages to their newest allowed release
#   make lock UPGRADE=1           moves every package to its newest allowed release
# then review `git diff requirements.lock`, run `make test` (setup reinstalls) and commit both files.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
LOCK ?= requirements.lock
N ?= auto

.PHONY: setup lock claims test gate report lint clean gpu-check example

setup: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check || { echo "pyproject.toml needs what $(LOCK) lacks: run make lock" >&2; exit 1; }
	touch $@

LOCK_VENV ?= .venv-lock
LOCK_TOOLS ?= pip==26.3 pip-tools==7.6.2
UPGRADE ?=
P ?=

lock: $(LOCK_VENV)/.installed
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	  pyproject.toml requirements.in --extra dev --extra dask --extra slurm --output-file $(LOCK) \
	  --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  $(if $(UPGRADE),--upgrade) $(foreach p,$(P),--upgrade-package $(p))

$(LOCK_VENV)/.installed:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "the lock is for Python 3.11: make lock PYTHON=python3.11")'
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q $(LOCK_TOOLS)
	touch $@

BASELINE ?= reports/baseline/smoke.json

claims: setup
	$(PY) -m pytest claims -n $(N) -m "not timing" --claims-baseline $(BASELINE); a=$$?; \
	$(PY) -m pytest claims -m timing --claims-merge --claims-baseline $(BASELINE); b=$$?; \
	$(MAKE) --no-print-directory report; [ $$a -eq 0 ] && [ $$b -eq 0 ]

# Smoke runs are bit-reproducible on one kind of CPU: there an effect that moves beyond 1pp, or any verdict
# flip, is a regression. On another CPU (the environment's cpu / cpu_capability differ) the float kernels
# differ and training amplifies the last bit, so the gate compares the run as a random one: Holm over
# flips and effect drops, a drop counting only when it is significantly beyond 1pp.
# The smoke catalogue must stay under 15 minutes on 2 workers: 30 serial minutes of claim time, counted
# on the baseline's machine (the gate divides by the median current/baseline claim-time ratio).
gate: setup
	$(VENV)/bin/instincts gate --baseline $(BASELINE) --current reports/claims.json --tolerance 0.01 \
	  --effect-tolerance 0.01 --max-claim-minutes 30

report: setup node_modules/.package-lock.json
	$(VENV)/bin/instincts report

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

# A claim REFUTED in the baseline too is a finding on record (xfail); a new REFUTED fails.
# Every claim's arms are rerun without the cache (--claims-check-determinism: a callable's first seed, a
# config's first batch); numbers that change make the claim an ERROR.
# Timing claims run alone afterwards (no xdist workers beside them) and merge into claims.json.
test: setup
	$(PY) -m pytest -n $(N) -m "not slow and not timing" --claims-baseline $(BASELINE) --claims-check-determinism
	$(PY) -m pytest claims -m timing --claims-merge --claims-baseline $(BASELINE)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf reports/allure-results reports/claims.json .instincts-cache .hypothesis

# The GPU check (scripts/gpu_check.py) runs with the GPU machine's own python3, no setup; it skips without CUDA.
GPU_PYTHON ?= python3

gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) scripts/gpu_check.py

# The example project as a user meets it: a wheel of this checkout, a fresh venv (torch first, then the
# wheel, then the rerun/random-order plugins for the good-neighbour test), the example's claim with the
# determinism check, its report and its gate, run from a copy; the checkout must stay clean. Every
# package is pinned: requirements.lock's versions as constraints (its hashes stripped: pip's hash mode
# would demand hashes of the plugins too), the neighbour plugins and coverage by NEIGHBOURS.
EXAMPLE_DIR ?= /tmp/instincts-example
TORCH ?= torch==2.13.0
NEIGHBOURS ?= pytest-rerunfailures==16.7 flaky==3.8.1 pytest-randomly==5.1.0 pytest-timeout==2.4.0 \
  pytest-cov==7.1.0 coverage==7.17.5

example: setup
	rm -rf $(EXAMPLE_DIR) && mkdir -p $(EXAMPLE_DIR)
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(EXAMPLE_DIR)/dist .
	$(PYTHON) -m venv $(EXAMPLE_DIR)/venv
	sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' $(LOCK) > $(EXAMPLE_DIR)/constraints.txt
	$(EXAMPLE_DIR)/venv/bin/pip install -q -c $(EXAMPLE_DIR)/constraints.txt $(TORCH)
	$(EXAMPLE_DIR)/venv/bin/pip install -q -c $(EXAMPLE_DIR)/constraints.txt $(EXAMPLE_DIR)/dist/instincts-*.whl
	$(EXAMPLE_DIR)/venv/bin/pip install -q -c $(EXAMPLE_DIR)/constraints.txt $(NEIGHBOURS)
	cp -r examples/own-model $(EXAMPLE_DIR)/project
	cd $(EXAMPLE_DIR)/project && INSTINCTS_CACHE_HOME=$(EXAMPLE_DIR)/cache ../venv/bin/python -m pytest \
	  -p no:cacheprovider --claims-check-determinism
	cd $(EXAMPLE_DIR)/project && INSTINCTS_CACHE_HOME=$(EXAMPLE_DIR)/cache ../venv/bin/instincts report
	cd $(EXAMPLE_DIR)/project && ../venv/bin/instincts gate --baseline reports/baseline.json \
	  --current reports/claims.json --tolerance 0.01
	INSTINCTS_USER_PYTHON=$(EXAMPLE_DIR)/venv/bin/python $(PY) -m pytest -p no:cacheprovider tests/engine/test_own_project.py
	@test -z "$$(git status --porcelain)" || { echo "the build left files git does not ignore:"; git status --porcelain; exit 1; }
