# The two commands of the README: `make claims` (set up, run the catalogue, write the reports)
# and `make test` (the engine's tests, fast calibration and the smoke claims).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on a CPU box; on a CUDA machine pip takes the CUDA build of the same release.
TORCH ?= torch==2.13.0
N ?= auto

.PHONY: setup claims test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

claims: setup
	$(PY) -m pytest claims -n $(N)

test: setup
	$(PY) -m pytest -n $(N) -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf reports/allure-results reports/claims.json .instincts-cache .hypothesis
