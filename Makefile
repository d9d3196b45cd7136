# make test   installs everything, then runs lint, types and every test tier
# make demo   runs the main job on a local control plane and cleans up after itself

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test venv system-deps controlplane lint typecheck unit integration e2e demo demo-up bench clean

test: lint typecheck unit integration e2e

$(STAMP): pyproject.toml sdk_client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'sdk_client[dev]' -e '.[dev]'
	touch $@

venv: $(STAMP)

system-deps:
	bash hack/install-system-deps.sh

controlplane:
	bash hack/build-controlplane.sh

lint: venv
	$(VENV)/bin/ruff check operator sdk_client tests bench hack
	$(VENV)/bin/ruff format --check operator sdk_client tests bench hack
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

unit: venv controlplane
	bash hack/run-tier.sh unit

integration: venv system-deps controlplane
	bash hack/run-tier.sh integration

e2e: venv system-deps controlplane
	bash hack/run-tier.sh e2e

demo: venv system-deps controlplane
	PYTHONPATH=hack $(PY) -m devenv.demo

demo-up: venv system-deps controlplane
	PYTHONPATH=hack $(PY) -m devenv.demo --keep-running

bench: venv system-deps controlplane
	bash hack/run-benchmarks.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
