"""Model-server workloads: GPUs, probes sized for model loading, autoscaling, safe rollouts."""
from __future__ import annotations

import pytest

from helpers import ROOT, by_kind, model_deployments, objects_of
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.units import parse_duration, parse_quantity

EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))


def _deployments(example, name: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in by_kind(objects_of(example(name)[1]), "Deployment")}


def _pod(dep: dict) -> dict:
    return dep["spec"]["template"]["spec"]


def test_gpu_model_requests_the_gpu_and_lands_on_gpu_nodes(example) -> None:
    pod = _pod(_deployments(example, "fleet")["llm-v1"])
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}


def test_cpu_models_request_no_gpu(example) -> None:
    for name, dep in _deployments(example, "fleet").items():
        if not name.startswith("llm"):
            limits = _pod(dep)["containers"][0]["resources"]["limits"]
            assert not any("gpu" in key for key in limits) and "tolerations" not in _pod(dep)


@pytest.mark.parametrize("name", EXAMPLES)
def test_requests_never_exceed_limits(name: str, example) -> None:
    for dep in _deployments(example, name).values():
        for container in _pod(dep)["containers"] + _pod(dep).get("initContainers", []):
            resources = container["resources"]
            for kind, request in resources.get("requests", {}).items():
                assert parse_quantity(request) <= parse_quantity(resources["limits"][kind])


@pytest.mark.parametrize("name", EXAMPLES)
def test_probes_are_explicit_and_the_startup_probe_covers_model_loading(name: str, example) -> None:
    fleet, outputs = example(name)
    models = next(iter(fleet.environments.values())).models
    for dep in model_deployments(objects_of(outputs)):
        model = models[dep["metadata"]["labels"]["app"]]
        container = _pod(dep)["containers"][0]
        startup = container["startupProbe"]
        assert startup["failureThreshold"] * startup["periodSeconds"] >= parse_duration(model.health.startup_timeout)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert "tcpSocket" not in container[probe]  # cdk8s-plus's TCP default says nothing about the model
            assert ("grpc" in container[probe]) == (model.health.protocol == "grpc")
        if model.health.protocol == "http":
            assert container["readinessProbe"]["httpGet"]["path"] == model.health.ready_path
            assert container["livenessProbe"]["httpGet"]["path"] == model.health.live_path


def test_default_probes_follow_the_open_inference_protocol(reference) -> None:
    container = _pod(model_deployments(objects_of(reference[1]))[0])["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


@pytest.mark.parametrize("name", EXAMPLES)
def test_rollouts_surge_and_never_take_capacity_down_first(name: str, example) -> None:
    objects = objects_of(example(name)[1])
    budgets = {p["metadata"]["name"]: p for p in by_kind(objects, "PodDisruptionBudget")}
    for dep in model_deployments(objects):
        assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        pod = _pod(dep)
        assert pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert pod["terminationGracePeriodSeconds"] > int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {"kubernetes.io/hostname"}
        pdb = budgets[dep["metadata"]["name"]]
        assert pdb["spec"]["maxUnavailable"] >= 1  # never blocks node drains
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_autoscaled_versions_leave_replicas_to_their_hpa(example) -> None:
    objects = objects_of(example("fleet")[1])
    hpas = {h["metadata"]["name"]: h for h in by_kind(objects, "HorizontalPodAutoscaler")}
    assert set(hpas) == {"llm-v1", "llm-v2", "fraud-detector-v1", "fraud-detector-v2", "ai-gateway"}  # + the gateway's
    for name, dep in _deployments(example, "fleet").items():
        assert ("replicas" in dep["spec"]) == (name not in hpas)
    assert hpas["llm-v1"]["spec"]["metrics"] == [{
        "pods": {"metric": {"name": "vllm_num_requests_waiting"}, "target": {"averageValue": "4", "type": "AverageValue"}},
        "type": "Pods",
    }]
    cpu = hpas["fraud-detector-v1"]["spec"]["metrics"][0]["resource"]
    assert cpu == {"name": "cpu", "target": {"averageUtilization": 70, "type": "Utilization"}}
    assert hpas["llm-v2"]["spec"]["scaleTargetRef"]["name"] == "llm-v2"


def test_model_storage_mounts_a_claim_or_a_filled_empty_dir(example) -> None:
    deps = _deployments(example, "fleet")
    llm = _pod(deps["llm-v1"])
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "llama-weights", "readOnly": True}} in llm["volumes"]
    assert {"mountPath": "/models", "name": "model", "readOnly": True} in llm["containers"][0]["volumeMounts"]
    fraud = _pod(deps["fraud-detector-v1"])
    (init,) = fraud["initContainers"]
    assert init["command"] == ["fetch-model", "--to", "/models"]
    assert init["volumeMounts"] == [{"mountPath": "/models", "name": "model"}]
    assert {"emptyDir": {"sizeLimit": "4096Mi"}, "name": "model"} in fraud["volumes"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_read_only_root_with_writable_scratch_where_servers_write(name: str, example) -> None:
    fleet, outputs = example(name)
    models = next(iter(fleet.environments.values())).models
    for dep in model_deployments(objects_of(outputs)):
        container = _pod(dep)["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        assert set(models[dep["metadata"]["labels"]["app"]].writable_paths) <= mounted


def test_server_env_and_args_reach_the_container(example) -> None:
    container = _pod(_deployments(example, "fleet")["llm-v2"])["containers"][0]
    assert container["args"][:2] == ["--model", "/models/llama"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in container["env"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("resources", {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}}, "cpu request 4 is above the limit 2; fix: raise limits.cpu"),
        ("resources", {"gpu": {"count": 1.5}}, "gpu.count: Input should be a valid integer; fix: use a whole number"),
        ("resources", {"gpu": {"count": 0}}, "gpu.count: Input should be greater than 0"),
        ("resources", {"requests": {"memory": "lots"}}, "'lots' is not a Kubernetes quantity"),
        ("health", {"readyPath": "ready"}, "'ready' does not start with '/'; fix: write it as /ready"),
        ("autoscaling", {"minReplicas": 5, "maxReplicas": 2, "cpuUtilization": 70}, "minReplicas 5 is above maxReplicas 2"),
        ("autoscaling", {"maxReplicas": 2}, "autoscaling needs cpuUtilization or metric"),
        ("maxUnavailable", 0, "maxUnavailable: Input should be greater than or equal to 1; fix: use a larger number (maxUnavailable: Pods of a version"),
        ("storage", {"pvc": "weights", "downloadImage": "x"}, "storage needs exactly one of pvc or downloadImage"),
    ],
)
def test_fails_when_workload_settings_are_unsafe(base_config: dict, field: str, value, message: str) -> None:
    base_config["models"]["ai-model"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_fleet(base_config, source="serving.yaml")
    text = str(caught.value)
    assert message in text and text.startswith("serving.yaml: models.ai-model") and "fix:" in text, text
