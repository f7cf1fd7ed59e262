# The two commands of the README: `make claims` (set up, run the catalogue, write the reports)
# and `make test` (the engine's tests, fast calibration and the smoke claims).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on a CPU box; on a CUDA machine pip takes the CUDA build of the same release.
TORCH ?= torch==2.13.0
N ?= auto

.PHONY: setup claims test gate report lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

BASELINE ?= reports/baseline/smoke.json

claims: setup
	$(PY) -m pytest claims -n $(N) -m "not timing" --claims-baseline $(BASELINE); a=$$?; \
	$(PY) -m pytest claims -m timing --claims-merge --claims-baseline $(BASELINE); b=$$?; \
	$(MAKE) --no-print-directory report; [ $$a -eq 0 ] && [ $$b -eq 0 ]

# Smoke runs are deterministic on one machine; across CPUs an image or two may flip in training,
# so effects may drift by up to 1pp before the gate calls it a regression (verdict flips always count).
gate: setup
	$(VENV)/bin/instincts gate --baseline $(BASELINE) --current reports/claims.json --tolerance 0.01

report: setup node_modules/.package-lock.json
	$(VENV)/bin/instincts report

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

# A claim REFUTED in the baseline too is a finding on record (xfail); a new REFUTED fails.
# Timing claims run alone afterwards (no xdist workers beside them) and merge into claims.json.
test: setup
	$(PY) -m pytest -n $(N) -m "not slow and not timing" --claims-baseline $(BASELINE)
	$(PY) -m pytest claims -m timing --claims-merge --claims-baseline $(BASELINE)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf reports/allure-results reports/claims.json .instincts-cache .hypothesis
