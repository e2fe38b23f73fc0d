"""ModelVersion: a version's Deployment (Resource), PodDisruptionBudget and autoscaler."""
from __future__ import annotations

import pytest

from conftest import kinds, one
from model_serving.fleet.workload import Autoscaling, Gpu, Health, ModelStorage, Resources
from model_serving.k8s.workload import ModelVersion

BASE = {"app": "chat", "version": "v2", "namespace": "ai", "image": "registry/chat@sha256:" + "a" * 64, "port": 8000}


def test_a_version_is_a_deployment_and_a_disruption_budget(synth) -> None:
    objects = synth(lambda c: ModelVersion(c, "v2", **BASE, replicas=3))
    assert kinds(objects) == ["Deployment", "PodDisruptionBudget"]
    deployment = one(objects, "Deployment", "chat-v2")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "chat", "version": "v2"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "chat", "version": "v2"}
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_main_child_is_resource(synth) -> None:
    holder: list[ModelVersion] = []
    synth(lambda c: holder.append(ModelVersion(c, "v2", **BASE)))
    assert holder[0].node.default_child is not None
    assert holder[0].node.default_child.node.id == "Resource"


def test_pods_are_restricted_and_probe_model_loading(synth) -> None:
    objects = synth(lambda c: ModelVersion(c, "v2", **BASE, health=Health(startup_timeout="20m", period="10s")))
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert server["startupProbe"]["failureThreshold"] == 120  # 20 minutes of 10-second periods
    assert server["ports"] == [{"containerPort": 8000, "name": "http"}]


def test_gpu_versions_request_the_device_and_tolerate_its_taint(synth) -> None:
    resources = Resources(gpu=Gpu(count=2, node_selector={"gpu": "l4"}))
    pod = one(synth(lambda c: ModelVersion(c, "v2", **BASE, resources=resources)), "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert pod["nodeSelector"] == {"gpu": "l4"}


def test_autoscaled_versions_get_an_hpa_and_no_replica_count(synth) -> None:
    scaling = Autoscaling(min_replicas=2, max_replicas=6, metric="queue", metric_target="4")
    objects = synth(lambda c: ModelVersion(c, "v2", **BASE, autoscaling=scaling))
    assert kinds(objects) == ["Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"]
    assert "replicas" not in one(objects, "Deployment")["spec"]
    hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], hpa["scaleTargetRef"]["name"]) == (2, 6, "chat-v2")


def test_downloaded_weights_come_from_an_init_container(synth) -> None:
    storage = ModelStorage(download_image="fetcher:1", download_command=["fetch"], size_limit="4Gi")
    pod = one(synth(lambda c: ModelVersion(c, "v2", **BASE, storage=storage)), "Deployment")["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"] == ["fetch"]
    model = next(v for v in pod["volumes"] if v["name"] == "model")
    assert model["emptyDir"]["sizeLimit"] == "4096Mi"
    assert {"mountPath": "/models", "name": "model", "readOnly": True} in pod["containers"][0]["volumeMounts"]


def test_fails_when_max_unavailable_blocks_evictions(synth) -> None:
    with pytest.raises(ValueError, match="max_unavailable 0 would block every eviction"):
        synth(lambda c: ModelVersion(c, "v2", **BASE, max_unavailable=0))
