"""Memoized jsii values (durations, probes, patches).

Each Python -> node (jsii) call costs ~0.4 ms; the same few values recur in every Deployment,
so they are built once per process and reused (see bench/ for the calls-per-object budget).
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import cdk8s
import cdk8s_plus_27 as kplus

from .quantity import parse_duration


@lru_cache(maxsize=None)
def seconds(value: int) -> cdk8s.Duration:
    """A cdk8s Duration of whole seconds."""
    return cdk8s.Duration.seconds(value)


def duration(text: str) -> cdk8s.Duration:
    """A cdk8s Duration from an Istio-style duration string (rounded to whole seconds)."""
    return seconds(int(parse_duration(text)))


@lru_cache(maxsize=None)
def http_probe(path: str, port: int, period: int, failures: int, timeout: int) -> kplus.Probe:
    """An HTTP GET probe; cached because every version of a model shares it."""
    return kplus.Probe.from_http_get(
        path,
        port=port,
        period_seconds=seconds(period),
        failure_threshold=failures,
        timeout_seconds=seconds(timeout),
    )


@lru_cache(maxsize=None)
def sleep_handler(secs: int) -> kplus.Handler:
    """A preStop hook that keeps the server up while the mesh stops routing to it."""
    return kplus.Handler.from_command(["sleep", str(secs)])


@lru_cache(maxsize=None)
def rolling_update() -> kplus.DeploymentStrategy:
    """Surge one new pod and never take an old one down first: no capacity dip mid-rollout."""
    return kplus.DeploymentStrategy.rolling_update(
        max_surge=kplus.PercentOrAbsolute.absolute(1),
        max_unavailable=kplus.PercentOrAbsolute.absolute(0),
    )


@lru_cache(maxsize=None)
def _patch(op: str, path: str, value_json: str) -> cdk8s.JsonPatch:
    value = json.loads(value_json)
    if op == "add":
        return cdk8s.JsonPatch.add(path, value)
    return cdk8s.JsonPatch.replace(path, value)


def patch_add(path: str, value: Any) -> cdk8s.JsonPatch:
    """A cached JSON-patch `add` (for fields cdk8s-plus-27 does not model)."""
    return _patch("add", path, json.dumps(value, sort_keys=True))


def patch_replace(path: str, value: Any) -> cdk8s.JsonPatch:
    """A cached JSON-patch `replace`."""
    return _patch("replace", path, json.dumps(value, sort_keys=True))


@lru_cache(maxsize=None)
def patch_remove(path: str) -> cdk8s.JsonPatch:
    """A cached JSON-patch `remove`."""
    return cdk8s.JsonPatch.remove(path)


@lru_cache(maxsize=None)
def int_or_string(value: int) -> Any:
    """A Kubernetes IntOrString holding a number."""
    return kplus.k8s.IntOrString.from_number(value)
