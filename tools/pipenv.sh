#!/bin/sh
# Installed by make as .tools/bin/pipenv: pipenv with the project's settings, so a direct
# `.tools/bin/pipenv lock` (or sync, run, graph) behaves exactly as it does inside make.
# Every setting is a default: a value already in the environment wins.
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)

# Pipfile's source is "${PIPENV_INDEX_URL}": default it to the index pip itself is configured
# with (PIP_INDEX_URL, then pip.conf's install/global index-url), else pip's built-in default.
if [ -z "${PIPENV_INDEX_URL:-}" ]; then
  PIPENV_INDEX_URL=$("$here/python" - <<'PY'
from pip._internal.configuration import Configuration
from pip._internal.models.index import PyPI

config = Configuration(isolated=False)
config.load()
values = dict(config.items())
keys = (":env:.index-url", "install.index-url", "global.index-url")
print(next((values[key] for key in keys if values.get(key)), PyPI.simple_url))
PY
)
fi
export PIPENV_INDEX_URL
# The virtualenv is ./.venv, never one pipenv picks elsewhere; no spinner or courtesy notices.
export PIPENV_VENV_IN_PROJECT="${PIPENV_VENV_IN_PROJECT:-1}"
export PIPENV_IGNORE_VIRTUALENVS="${PIPENV_IGNORE_VIRTUALENVS:-1}"
export PIPENV_VERBOSITY="${PIPENV_VERBOSITY:--1}"
export PIPENV_NOSPIN="${PIPENV_NOSPIN:-1}"
exec "$here/python" -m pipenv "$@"
