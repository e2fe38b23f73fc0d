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
from constructs import Construct

from model_serving.fleet.units import parse_duration


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
def _patch_add(path: str, value_json: str) -> cdk8s.JsonPatch:
    return cdk8s.JsonPatch.add(path, json.loads(value_json))


def patch_add(path: str, value: Any) -> cdk8s.JsonPatch:
    """A cached JSON-patch `add` (for fields cdk8s-plus-27 does not model), keyed by its JSON."""
    return _patch_add(path, json.dumps(value, sort_keys=True))


@lru_cache(maxsize=None)
def patch_remove(path: str) -> cdk8s.JsonPatch:
    """A cached JSON-patch `remove`."""
    return cdk8s.JsonPatch.remove(path)


@lru_cache(maxsize=None)
def int_or_string(value: int) -> Any:
    """A Kubernetes IntOrString holding a number."""
    return kplus.k8s.IntOrString.from_number(value)


@lru_cache(maxsize=None)
def gibibytes(amount: int) -> cdk8s.Size:
    """A cdk8s Size in GiB."""
    return cdk8s.Size.gibibytes(amount)


@lru_cache(maxsize=None)
def mebibytes(amount: int) -> cdk8s.Size:
    """A cdk8s Size in MiB."""
    return cdk8s.Size.mebibytes(amount)


@lru_cache(maxsize=None)
def millicpu(amount: int) -> kplus.Cpu:
    """A cdk8s-plus CPU amount in millicores."""
    return kplus.Cpu.millis(amount)


@lru_cache(maxsize=None)
def env_value(value: str) -> kplus.EnvValue:
    """A literal environment variable value (the same values recur in every version)."""
    return kplus.EnvValue.from_value(value)


@lru_cache(maxsize=None)
def pods_metric(name: str, average_value: float) -> kplus.Metric:
    """An autoscaler target on a per-pod custom metric."""
    return kplus.Metric.pods(name=name, target=kplus.MetricTarget.average_value(average_value))


@lru_cache(maxsize=None)
def cpu_metric(utilization: int) -> kplus.Metric:
    """An autoscaler target on CPU utilization."""
    return kplus.Metric.resource_cpu(kplus.MetricTarget.average_utilization(utilization))


@lru_cache(maxsize=None)
def int_or_name(value: str) -> Any:
    """A Kubernetes IntOrString holding a name (a named port)."""
    return kplus.k8s.IntOrString.from_string(value)


@lru_cache(maxsize=None)
def empty_dir(scope: Construct, name: str, mib: int) -> kplus.Volume:
    """An emptyDir volume of `mib` MiB, made once per chart: every model mounts the same few."""
    return kplus.Volume.from_empty_dir(scope, f"EmptyDir.{name}.{mib}Mi", name, size_limit=mebibytes(mib))


@lru_cache(maxsize=None)
def claim_volume(scope: Construct, name: str, claim: str) -> kplus.Volume:
    """A read-only volume on an existing PersistentVolumeClaim, made once per chart."""
    pvc = kplus.PersistentVolumeClaim.from_claim_name(scope, f"Claim.{name}.{claim}", claim)
    return kplus.Volume.from_persistent_volume_claim(scope, f"ClaimVolume.{name}.{claim}", pvc, name=name, read_only=True)
