"""Model-server workloads: GPUs, probes sized for model loading, autoscaling, safe rollouts."""
from __future__ import annotations

import pytest

from helpers import ROOT, by_kind, model_deployments, objects_of, synth_data
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
        # the kubelet's own sleep action: no sleep binary needed in the image
        (hook,) = pod["containers"][0]["lifecycle"]["preStop"].items()
        assert hook[0] == "sleep" and set(hook[1]) == {"seconds"}
        assert pod["terminationGracePeriodSeconds"] > hook[1]["seconds"]
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


# --- issue 12: native sidecars, progress deadlines, scraping, HOME, pull policy, shared claims, mirrors ---


def _models(example, name: str) -> tuple[dict, list[dict]]:
    fleet, outputs = example(name)
    return next(iter(fleet.environments.values())).models, model_deployments(objects_of(outputs))


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_proxy_is_a_native_sidecar_so_downloads_have_network_and_generations_finish(name: str, example) -> None:
    for dep in _models(example, name)[1]:
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["sidecar.istio.io/nativeSidecar"] == "true"
        assert "proxy.istio.io/config" not in annotations  # holdApplicationUntilProxyStarts is moot for native sidecars


@pytest.mark.parametrize("name", EXAMPLES)
def test_progress_deadline_covers_the_pull_allowance_and_the_whole_startup_probe(name: str, example) -> None:
    models, deployments = _models(example, name)
    for dep in deployments:
        health = models[dep["metadata"]["labels"]["app"]].health
        startup = _pod(dep)["containers"][0]["startupProbe"]
        budget = startup.get("initialDelaySeconds", 0) + startup["failureThreshold"] * startup["periodSeconds"]
        assert dep["spec"]["progressDeadlineSeconds"] >= budget + parse_duration(health.pull_allowance)


def test_the_llm_may_load_for_twenty_minutes_without_argo_calling_it_degraded(example) -> None:
    # 600 s (the old fixed deadline) < 20 min startupTimeout: the controller gave up while vLLM was loading
    llm = _deployments(example, "fleet")["llm-v1"]
    assert llm["spec"]["progressDeadlineSeconds"] == 600 + 1200 + 10  # pull allowance + startup probe + one period


@pytest.mark.parametrize("name", EXAMPLES)
def test_home_and_the_caches_point_at_writable_empty_dirs(name: str, example) -> None:
    for dep in _models(example, name)[1]:
        container = _pod(dep)["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
        for var in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "TORCH_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR", "TMPDIR"):
            assert any(env[var] == w or env[var].startswith(w + "/") for w in writable), (var, env[var], writable)


@pytest.mark.parametrize("name", EXAMPLES)
def test_digest_pinned_images_are_pulled_only_when_absent(name: str, example) -> None:
    for dep in _models(example, name)[1]:
        for container in _pod(dep)["containers"] + _pod(dep).get("initContainers", []):
            pinned = "@sha256:" in container["image"]
            assert container["imagePullPolicy"] == ("IfNotPresent" if pinned else "Always")


def test_the_autoscaling_metric_is_scraped_and_the_scraper_is_admitted(example) -> None:
    objects = objects_of(example("fleet")[1])
    annotations = _deployments(example, "fleet")["llm-v1"]["spec"]["template"]["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/path": "/metrics", "prometheus.io/port": "8000", "prometheus.io/scrape": "true",
    }
    [network] = [n for n in by_kind(objects, "NetworkPolicy") if n["metadata"]["name"] == "llm"]
    scraper = next(r for r in network["spec"]["ingress"]
                   if r["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}])
    assert {p["port"] for p in scraper["ports"]} == {8000, 15020}  # the server, and istio-agent's merged metrics
    [policy] = [p for p in by_kind(objects, "AuthorizationPolicy") if p["metadata"]["name"] == "llm"]
    assert {"from": [{"source": {"namespaces": ["monitoring"]}}],
            "to": [{"operation": {"methods": ["GET"], "paths": ["/metrics"], "ports": ["8000"]}}]} in policy["spec"]["rules"]


def test_models_without_metrics_get_no_scrape_annotations(example) -> None:
    annotations = _deployments(example, "fleet")["embedder-v1"]["spec"]["template"]["metadata"]["annotations"]
    assert not any(k.startswith("prometheus.io/") for k in annotations)


@pytest.mark.parametrize(("name", "shadow"), [("fleet", "fraud-detector-v2"), ("shadow", "fraud-detector-v2")])
def test_only_a_version_that_gets_nothing_but_mirrored_copies_is_told_so(name: str, shadow: str, example) -> None:
    for dep_name, dep in _deployments(example, name).items():
        env = {e["name"]: e.get("value") for e in _pod(dep)["containers"][0].get("env", [])}
        assert (env.get("MODEL_SERVING_MIRROR_TARGET") == "true") == (dep_name == shadow), dep_name


def test_a_mirror_target_that_also_takes_live_traffic_is_not_told_it_is_a_shadow(base_config: dict) -> None:
    model = base_config["models"]["ai-model"]
    model["mirror"] = {"version": "v2", "percent": 50}  # v2 also has weight 10
    fleet, outputs = synth_data(base_config)
    for dep in model_deployments(objects_of(outputs)):
        assert all(e["name"] != "MODEL_SERVING_MIRROR_TARGET" for e in _pod(dep)["containers"][0]["env"])
    assert any("cannot tell mirrored copies" in w for w in fleet.warnings), fleet.warnings


def _with_claim(config: dict, mode: str, **model: object) -> dict:
    config["models"]["ai-model"].update({"storage": {"pvc": "weights", "accessMode": mode}, **model})
    return config


@pytest.mark.parametrize(
    ("mode", "model", "pods"),
    [
        ("ReadWriteOnce", {}, "4 pods of 2 version"),  # two versions of two replicas each
        ("ReadWriteOncePod", {}, "4 pods"),
        ("ReadWriteOnce", {"versions": {"v1": {"image": "r/m@sha256:" + "a" * 64, "weight": 100, "replicas": 1}},
                           "autoscaling": {"maxReplicas": 3, "cpuUtilization": 70}}, "3 pods of 1 version"),
    ],
)
def test_fails_when_a_single_node_claim_is_shared_across_nodes(base_config: dict, mode: str, model: dict, pods: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(_with_claim(base_config, mode, **model), source="serving.yaml")
    text = str(caught.value)
    assert text.startswith(f"serving.yaml: models.ai-model: storage.accessMode {mode}") and pods in text, text
    assert "fix: use a ReadOnlyMany (or ReadWriteMany) claim" in text and "\n" not in text


@pytest.mark.parametrize("mode", ["ReadOnlyMany", "ReadWriteMany"])
def test_a_claim_every_node_can_mount_is_accepted(base_config: dict, mode: str) -> None:
    _, outputs = synth_data(_with_claim(base_config, mode))
    for dep in model_deployments(objects_of(outputs)):
        claim = next(v for v in _pod(dep)["volumes"] if v["name"] == "model")["persistentVolumeClaim"]
        assert claim == {"claimName": "weights", "readOnly": True}


def test_a_single_pod_on_a_single_node_claim_is_accepted_with_a_warning(base_config: dict) -> None:
    model = {"versions": {"v1": {"image": "r/m@sha256:" + "a" * 64, "weight": 100, "replicas": 1}}}
    fleet, _ = synth_data(_with_claim(base_config, "ReadWriteOnce", **model))
    assert any("storage.accessMode ReadWriteOnce" in w and "surge" in w for w in fleet.warnings), fleet.warnings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("storage", {"pvc": "weights"}, "storage.pvc weights needs its accessMode (synth cannot read the claim); fix: add accessMode"),
        ("storage", {"downloadImage": "x", "accessMode": "ReadOnlyMany"}, "storage.accessMode describes a pvc; fix:"),
        ("storage", {"pvc": "weights", "accessMode": "ReadMany"}, "accessMode"),
        ("home", "/srv/model", "home /srv/model is not on a writable path ['/tmp', '/home/model']; fix: add /srv/model"),
        ("autoscaling", {"maxReplicas": 4, "metric": "queue", "metricTarget": "2"},
         "autoscaling.metric queue is never collected without metrics; fix: add metrics: {path: /metrics}"),
    ],
)
def test_fails_when_storage_home_or_metrics_are_inconsistent(base_config: dict, field: str, value, message: str) -> None:
    base_config["models"]["ai-model"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_fleet(base_config, source="serving.yaml")
    text = str(caught.value)
    assert message in text and text.startswith("serving.yaml: models.ai-model") and "fix:" in text, text


def test_the_pull_policy_waiver_is_written_only_where_every_image_is_pinned(base_config: dict) -> None:
    base_config["models"]["ai-model"]["versions"]["v2"]["image"] = "registry.example.com/ai/ai-model:2.0.0"
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects_of(synth_data(base_config)[1]), "Deployment")}
    def waivers(name: str) -> list[str]:
        return [v for k, v in deployments[name]["metadata"].get("annotations", {}).items() if k.startswith("checkov.io/skip")]
    assert [w.split("=")[0] for w in waivers("ai-model-v1")] == ["CKV_K8S_15"]
    assert waivers("ai-model-v2") == []  # a tag: Always, which checkov accepts
    assert _pod(deployments["ai-model-v2"])["containers"][0]["imagePullPolicy"] == "Always"


def test_a_download_without_native_sidecars_is_warned_about(base_config: dict) -> None:
    model = base_config["models"]["ai-model"]
    model["storage"] = {"downloadImage": "registry.example.com/fetch:1"}
    assert not any("nativeSidecar" in w for w in synth_data(base_config)[0].warnings)
    model["nativeSidecar"] = False
    fleet, outputs = synth_data(base_config)
    assert any("nativeSidecar: false with storage.downloadImage" in w for w in fleet.warnings), fleet.warnings
    for dep in model_deployments(objects_of(outputs)):
        config = dep["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"]
        assert '"terminationDrainDuration":"120s"' in config and "EXIT_ON_ZERO_ACTIVE_CONNECTIONS" in config
