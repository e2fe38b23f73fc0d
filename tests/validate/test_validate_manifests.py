"""validate_manifests routing, bundle location and speed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from model_serving.checks.validate import (
    default_crd_path,
    validate_manifests,
)

VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {
        "hosts": ["ai-model"],
        "http": [
            {
                "timeout": "30s",
                "route": [
                    {"destination": {"host": "ai-model", "subset": "v1"}, "weight": 90},
                    {"destination": {"host": "ai-model", "subset": "v2"}, "weight": 10},
                ],
            }
        ],
    },
}
DESTINATION_RULE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {
        "host": "ai-model",
        "trafficPolicy": {"outlierDetection": {"interval": "10s", "baseEjectionTime": "30s"}},
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ],
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {"selector": {"app": "ai-model"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {
        "selector": {"matchLabels": {"app": "ai-model"}},
        "template": {
            "metadata": {"labels": {"app": "ai-model"}},
            "spec": {"containers": [{"name": "server", "image": "model:1"}]},
        },
    },
}


def test_valid_manifests_pass() -> None:
    objects = [VIRTUAL_SERVICE, DESTINATION_RULE, SERVICE, DEPLOYMENT]
    assert validate_manifests(copy.deepcopy(objects), crd_path=default_crd_path()) == []


def test_routes_istio_objects_to_the_crd_and_others_to_builtin_schemas() -> None:
    vs, service = copy.deepcopy(VIRTUAL_SERVICE), copy.deepcopy(SERVICE)
    vs["spec"]["http"][0]["timeout"] = "0s"  # only a CEL rule of the CRD catches this
    service["spec"]["clusterIPP"] = "None"  # only the strict built-in schema catches this
    errors = validate_manifests([vs, service], crd_path=default_crd_path())
    assert [str(e) for e in errors] == [
        "VirtualService ai-services/ai-model: spec.http[0].timeout: must be a valid duration greater than 1ms",
        'Service ai-services/ai-model: spec.clusterIPP: unknown field "clusterIPP"',
    ]


def test_fails_when_item_is_not_a_mapping() -> None:
    [error] = validate_manifests([["not", "a", "dict"]], crd_path=default_crd_path())  # type: ignore[list-item]
    assert "expected a mapping, got array" in error.message


def test_uses_default_crd_path_when_none_given() -> None:
    vs = copy.deepcopy(VIRTUAL_SERVICE)
    vs["spec"]["bogus"] = True
    assert [e.path for e in validate_manifests([vs])] == ["spec.bogus"]


def test_fails_when_crd_path_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing.yaml"):
        validate_manifests([copy.deepcopy(VIRTUAL_SERVICE)], crd_path=tmp_path / "missing.yaml")
