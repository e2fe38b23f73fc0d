"""Built-in Kubernetes kinds, strict mode, with kubernetes-validate's schemas."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from model_serving.checks.validate import DEFAULT_KUBERNETES_VERSION, validate_builtin

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "ai-model-v1",
        "namespace": "ai-services",
        "labels": {"app": "ai-model", "version": "v1"},
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "ai-model", "version": "v1"}},
        "template": {
            "metadata": {"labels": {"app": "ai-model", "version": "v1"}},
            "spec": {
                "serviceAccountName": "ai-model",
                "containers": [
                    {
                        "name": "server",
                        "image": "ghcr.io/acme/model-server:1.0",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": {"memory": "2Gi"},
                        },
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    }
                ],
            },
        },
    },
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {
        "selector": {"app": "ai-model"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    },
}

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "ai-model-v1", "namespace": "ai-services"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-model-v1"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    },
}

PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "ai-model"}}},
}

NETWORK_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "ai-model", "namespace": "ai-services"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "ai-model"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": 8080}]}],
    },
}

VALID = [DEPLOYMENT, SERVICE, HPA, PDB, NETWORK_POLICY]


@pytest.mark.parametrize("obj", VALID, ids=lambda o: o["kind"])
def test_valid_builtin_object_passes(obj: dict) -> None:
    assert validate_builtin(copy.deepcopy(obj)) == []


def test_fails_when_deployment_has_unknown_field() -> None:
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    [error] = validate_builtin(deployment)
    assert error.resource == "Deployment ai-services/ai-model-v1"
    assert error.path == "spec.template.spec.containers[0].imagePullPolicyy"
    assert error.message == 'unknown field "imagePullPolicyy"'


def test_fails_when_service_port_has_wrong_type() -> None:
    service = copy.deepcopy(SERVICE)
    service["spec"]["ports"][0]["port"] = "80"
    [error] = validate_builtin(service)
    assert error.path == "spec.ports[0].port"
    assert "must be of type integer" in error.message


def test_reports_every_error_not_just_the_first() -> None:
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["replicas"] = "2"
    deployment["spec"]["paused"] = "no"
    deployment["spec"]["bogus"] = 1
    assert {e.path for e in validate_builtin(deployment)} == {
        "spec.replicas",
        "spec.paused",
        "spec.bogus",
    }


def test_fails_when_metadata_name_is_missing() -> None:
    service = copy.deepcopy(SERVICE)
    del service["metadata"]["name"]
    assert [e.path for e in validate_builtin(service)] == ["metadata.name"]


def test_fails_when_kind_has_no_schema() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    [error] = validate_builtin(obj)
    assert error.path == "apiVersion"
    assert "no schema for Gizmo" in error.message


def test_fails_when_api_version_is_missing() -> None:
    [error] = validate_builtin({"kind": "Service", "metadata": {"name": "s"}})
    assert "apiVersion and kind must be set" in error.message


def test_fails_when_kubernetes_version_is_older_than_any_shipped() -> None:
    with pytest.raises(ValueError, match="no schemas for Kubernetes 1.10"):
        validate_builtin(copy.deepcopy(SERVICE), kubernetes_version="1.10")


def test_kind_removed_later_is_checked_against_the_requested_version() -> None:
    # autoscaling/v2beta2 left in 1.26: the default version must not see it
    hpa = {**copy.deepcopy(HPA), "apiVersion": "autoscaling/v2beta2"}
    assert DEFAULT_KUBERNETES_VERSION == "1.30"
    assert "no schema" in validate_builtin(hpa)[0].message
    assert validate_builtin(hpa, kubernetes_version="1.25") == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: None,
        lambda o: o["spec"].update(bogus=1),
        lambda o: o["spec"].update(replicas="x"),
        lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("name"),
    ],
    ids=["valid", "unknown-field", "wrong-type", "missing-required"],
)
def test_agrees_with_kubernetes_validate(mutate) -> None:
    deployment = copy.deepcopy(DEPLOYMENT)
    mutate(deployment)
    try:
        kubernetes_validate.validate(deployment, DEFAULT_KUBERNETES_VERSION, strict=True)
        upstream_ok = True
    except kubernetes_validate.ValidationError:
        upstream_ok = False
    assert (validate_builtin(deployment) == []) == upstream_ok
