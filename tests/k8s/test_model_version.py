"""ModelVersion: a version's Deployment (Resource), PodDisruptionBudget and autoscaler."""
from __future__ import annotations

import json

import pytest

from conftest import kinds, one
from model_serving.fleet.workload import Autoscaling, Gpu, Health, Metrics, ModelStorage, Resources
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


def _pod_of(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]


def test_native_sidecar_by_default(synth) -> None:
    template = _pod_of(synth(lambda c: ModelVersion(c, "v2", **BASE)))
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/nativeSidecar": "true"}


def test_without_native_sidecars_the_proxy_drains_for_the_whole_grace_period(synth) -> None:
    objects = synth(lambda c: ModelVersion(c, "v2", **BASE, native_sidecar=False,
                                           termination_grace_period="600s", drain_delay="15s"))
    annotations = _pod_of(objects)["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/nativeSidecar"] == "false"  # Istio's auto mode must not flip it on
    config = json.loads(annotations["proxy.istio.io/config"])
    assert config["terminationDrainDuration"] == "600s"  # not Istio's 5s: in-flight generations finish
    # keep listening while endpoints are withdrawn, then exit once the last connection closes
    assert config["proxyMetadata"] == {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true", "MINIMUM_DRAIN_DURATION": "15s"}
    assert config["holdApplicationUntilProxyStarts"] is True


def test_pre_stop_is_the_kubelet_sleep_action(synth) -> None:
    server = _pod_of(synth(lambda c: ModelVersion(c, "v2", **BASE, drain_delay="15s")))["spec"]["containers"][0]
    assert server["lifecycle"] == {"preStop": {"sleep": {"seconds": 15}}}


def test_progress_deadline_is_pull_allowance_plus_startup_plus_a_period(synth) -> None:
    health = Health(startup_timeout="20m", period="10s", pull_allowance="5m")
    deployment = one(synth(lambda c: ModelVersion(c, "v2", **BASE, health=health)), "Deployment")
    assert deployment["spec"]["progressDeadlineSeconds"] == 300 + 1200 + 10


@pytest.mark.parametrize(("image", "policy"), [
    ("registry/chat@sha256:" + "b" * 64, "IfNotPresent"),
    ("registry/chat:1.2@sha256:" + "b" * 64, "IfNotPresent"),
    ("registry/chat:1.2", "Always"),
    ("registry/chat@sha256:short", "Always"),
])
def test_pull_policy_follows_digest_pinning(synth, image: str, policy: str) -> None:
    storage = ModelStorage(download_image=image)
    spec = _pod_of(synth(lambda c: ModelVersion(c, "v2", **{**BASE, "image": image}, storage=storage)))["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == policy
    assert spec["initContainers"][0]["imagePullPolicy"] == policy


def test_home_and_caches_are_set_and_the_servers_env_wins(synth) -> None:
    objects = synth(lambda c: ModelVersion(c, "v2", **BASE, writable_paths=["/tmp", "/work"], home="/work/home",
                                           env={"HF_HOME": "/models/hf"}))
    env = {e["name"]: e["value"] for e in _pod_of(objects)["spec"]["containers"][0]["env"]}
    assert env["HOME"] == "/work/home" and env["XDG_CACHE_HOME"] == "/work/home/.cache"
    assert env["VLLM_CACHE_ROOT"] == "/work/home/.cache/vllm" and env["TMPDIR"] == "/tmp"
    assert env["HF_HOME"] == "/models/hf"


def test_a_shadow_version_is_told_its_requests_are_copies(synth) -> None:
    for shadow in (True, False):
        env = {e["name"]: e["value"] for e in _pod_of(synth(lambda c, s=shadow: ModelVersion(
            c, "v2", **BASE, shadow=s)))["spec"]["containers"][0]["env"]}
        assert (env.get("MODEL_SERVING_MIRROR_TARGET") == "true") is shadow


def test_metrics_on_their_own_port_are_annotated_and_declared(synth) -> None:
    template = _pod_of(synth(lambda c: ModelVersion(c, "v2", **BASE, metrics=Metrics(port=8002))))
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert {"containerPort": 8002, "name": "metrics"} in template["spec"]["containers"][0]["ports"]
