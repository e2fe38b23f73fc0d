#!/bin/sh
# Installed by make as .venv/bin/cdk8s: the pinned cdk8s CLI (node_modules/) on the virtualenv's
# Node 24, whatever node PATH holds. The app it starts (cdk8s.yaml: `python -O main.py`) finds
# the virtualenv's python first on PATH, so `.venv/bin/cdk8s synth` needs no activated shell.
set -eu
# The CLI is pinned by package-lock.json: no upgrade check (a registry call, and a stack trace offline).
export CDK8S_CHECK_UPGRADE="${CDK8S_CHECK_UPGRADE:-false}"
bin=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
PATH="$bin:$PATH" exec "$bin/node" "$bin/../../node_modules/cdk8s-cli/bin/cdk8s" "$@"
