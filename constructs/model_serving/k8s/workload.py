"""A model version's workload: Deployment `<model>-<version>`, its PodDisruptionBudget and autoscaler."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import cdk8s_plus_27 as kplus

from constructs import Construct
from model_serving.fleet.names import labels, workload_name
from model_serving.fleet.workload import Autoscaling, Health, Metrics, ModelStorage, Resources, home_env, is_digest_pinned
from model_serving.k8s import pod
from model_serving.k8s.values import int_or_string, quantity
from model_serving.units import parse_duration

k8s = kplus.k8s
# checkov's "tokens only where necessary" check, waived on the objects that declare the need.
TOKEN_WAIVER = "CKV_K8S_38=serviceAccountToken: true in serving.yaml (the server calls the API)"
# checkov's "pull policy Always", waived where every image is pinned by digest (IfNotPresent).
PULL_WAIVER = "CKV_K8S_15=images pinned by digest cannot change; IfNotPresent avoids re-pulling many GB per start"
# Slow, calm scaling: a GPU replica takes minutes to load and is expensive to lose.
SCALE_UP = k8s.HpaScalingRulesV2(
    policies=[k8s.HpaScalingPolicyV2(period_seconds=60, type="Pods", value=4),
              k8s.HpaScalingPolicyV2(period_seconds=60, type="Percent", value=200)],
    select_policy="Max", stabilization_window_seconds=0,
)
# Set on a version that only receives mirrored copies (their responses are discarded), so the
# server can skip side effects (writes, callbacks, billing). Istio 1.30 keeps the Host of a
# mirrored request as it is (DISABLE_SHADOW_HOST_SUFFIX defaults to true), so the request itself
# does not say it is a copy.
MIRROR_ENV = "MODEL_SERVING_MIRROR_TARGET"


class ModelVersion(Construct):
    """One version of a model: its pods (Resource, a Deployment), their disruption budget and autoscaler.

    Props, keyword-only:
    - `app`, `version`, `namespace`, `image`, `port`: required.
    - `protocol`: "http" (default) or "grpc"; names the container port.
    - `replicas`: pods when not autoscaled (default 1).
    - `service_account`: the pods' identity (default: `app`).
    - `resources`, `health`: the fleet's defaults (1-2 CPU, 2-4 GiB; OIP health paths).
    - `autoscaling`: an HPA instead of fixed replicas (default none).
    - `storage`: a weights volume (default none: weights in the image).
    - `writable_paths`: emptyDirs under the read-only root (default /tmp, /home/model).
    - `home`: $HOME, with the cache variables under it (default /home/model).
    - `env`, `args`: the server's environment and arguments (default none; `env` wins over `home`'s).
    - `metrics`: Prometheus scrape annotations for the server's metrics (default none).
    - `native_sidecar`: Istio's proxy as a native sidecar (default true); off, its drain is configured.
    - `shadow`: every request is a mirrored copy; sets MODEL_SERVING_MIRROR_TARGET=true (default false).
    - `spread_zones`: spread over zones as well as nodes (default true).
    - `max_unavailable`: pods evictable at once (default 1).
    - `termination_grace_period`, `drain_delay`: "120s" and "10s" by default.
    - `mount_token`: mount the API token (default false).
    """

    def __init__(
        self, scope: Construct, id: str, *, app: str, version: str, namespace: str, image: str, port: int,
        protocol: str = "http", replicas: int = 1, service_account: str | None = None,
        resources: Resources = Resources(), health: Health = Health(), autoscaling: Autoscaling | None = None,
        storage: ModelStorage | None = None, writable_paths: Sequence[str] = ("/tmp", "/home/model"),
        home: str = "/home/model", env: Mapping[str, str] | None = None, args: Sequence[str] | None = None,
        spread_zones: bool = True, max_unavailable: int = 1, termination_grace_period: str = "120s",
        drain_delay: str = "10s", mount_token: bool = False, metrics: Metrics | None = None,
        native_sidecar: bool = True, shadow: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if max_unavailable < 1:
            raise ValueError(f"max_unavailable {max_unavailable} would block every eviction; use 1 or more")
        name, pod_labels = workload_name(app, version), labels(app, version)
        vols, mounts = pod.volumes(writable_paths, storage)
        grace, drain = int(parse_duration(termination_grace_period)), int(parse_duration(drain_delay))
        server_env = {**home_env(home, tuple(writable_paths)), **(env or {}), **({MIRROR_ENV: "true"} if shadow else {})}
        server = pod.server(
            image=image, port=port, protocol=protocol, args=args, env=server_env, resources=resources,
            health=health, mounts=mounts, metrics_port=(metrics.port or port) if metrics else None,
        )
        annotations = {**_sidecar_annotations(native_sidecar, grace, drain), **_scrape_annotations(metrics, port)}
        spec = k8s.PodSpec(
            automount_service_account_token=mount_token,
            containers=[server],
            init_containers=[pod.fetch_container(storage)] if storage and storage.download_image else None,
            dns_policy="ClusterFirst", host_network=False, restart_policy="Always", set_hostname_as_fqdn=False,
            security_context=pod.pod_security(),
            service_account_name=service_account or app,
            termination_grace_period_seconds=grace,
            topology_spread_constraints=pod.spread(pod_labels, zones=spread_zones),
            node_selector=pod.gpu_node_selector(resources.gpu),
            tolerations=pod.gpu_tolerations(resources.gpu),
            volumes=vols or None,
        )
        self.deployment = _Deployment(
            self, "Resource", pre_stop=pod.pre_stop_sleep(drain),
            metadata=k8s.ObjectMeta(name=name, namespace=namespace, labels=pod_labels,
                                    annotations=_waivers(mount_token, [c.image or "" for c in spec.containers or []]
                                                         + [c.image or "" for c in spec.init_containers or []])),
            spec=_deployment_spec(pod_labels, annotations, spec, health, None if autoscaling else replicas),
        )
        self._budget(name, namespace, pod_labels, max_unavailable)
        if autoscaling is not None:
            self._autoscaler(name, namespace, pod_labels, autoscaling)

    def _budget(self, name: str, namespace: str, pod_labels: dict[str, str], max_unavailable: int) -> None:
        k8s.KubePodDisruptionBudget(
            self, "Disruption",
            metadata=k8s.ObjectMeta(name=name, namespace=namespace, labels=pod_labels),
            spec=k8s.PodDisruptionBudgetSpec(
                max_unavailable=int_or_string(max_unavailable),
                selector=k8s.LabelSelector(match_labels=pod_labels),
            ),
        )

    def _autoscaler(self, name: str, namespace: str, pod_labels: dict[str, str], scaling: Autoscaling) -> None:
        if scaling.metric:
            metric = k8s.MetricSpecV2(type="Pods", pods=k8s.PodsMetricSourceV2(
                metric=k8s.MetricIdentifierV2(name=scaling.metric),
                target=k8s.MetricTargetV2(type="AverageValue", average_value=quantity(scaling.metric_target or "0")),
            ))
        else:
            metric = k8s.MetricSpecV2(type="Resource", resource=k8s.ResourceMetricSourceV2(
                name="cpu",
                target=k8s.MetricTargetV2(type="Utilization", average_utilization=scaling.cpu_utilization or 80),
            ))
        k8s.KubeHorizontalPodAutoscalerV2(
            self, "Autoscaler",
            metadata=k8s.ObjectMeta(name=name, namespace=namespace, labels=pod_labels),
            spec=k8s.HorizontalPodAutoscalerSpecV2(
                behavior=k8s.HorizontalPodAutoscalerBehaviorV2(scale_down=_scale_down(scaling.min_replicas), scale_up=SCALE_UP),
                max_replicas=scaling.max_replicas, min_replicas=scaling.min_replicas, metrics=[metric],
                scale_target_ref=k8s.CrossVersionObjectReferenceV2(api_version="apps/v1", kind="Deployment", name=name),
            ),
        )


def _waivers(mount_token: bool, images: list[str]) -> dict[str, str] | None:
    """checkov skips (`checkov.io/skipN`) for the choices this Deployment makes on purpose."""
    reasons = [TOKEN_WAIVER] * mount_token + [PULL_WAIVER] * all(is_digest_pinned(i) for i in images)
    return {f"checkov.io/skip{n}": reason for n, reason in enumerate(reasons, 1)} or None


def _deployment_spec(
    pod_labels: dict[str, str], annotations: dict[str, str], spec: k8s.PodSpec, health: Health, replicas: int | None,
) -> k8s.DeploymentSpec:
    """Surge rollouts whose progress deadline covers a new pod's whole start (see Health.progress_deadline)."""
    return k8s.DeploymentSpec(
        min_ready_seconds=0, progress_deadline_seconds=health.progress_deadline, replicas=replicas,
        selector=k8s.LabelSelector(match_labels=pod_labels),
        strategy=_rolling_update(),
        template=k8s.PodTemplateSpec(metadata=k8s.ObjectMeta(labels=pod_labels, annotations=annotations), spec=spec),
    )


class _Deployment(k8s.KubeDeployment):
    """A Deployment whose server container gets its preStop `sleep` action.

    The Kubernetes 1.27 structs of cdk8s-plus-27 have no `sleep`, and KubeDeployment.toJson drops
    fields they do not know, JSON patches included; so the hook is added after that filter.
    """

    def __init__(self, scope: Construct, id: str, *, pre_stop: dict[str, Any], **props: Any) -> None:
        super().__init__(scope, id, **props)
        self._pre_stop = pre_stop

    def to_json(self) -> Any:
        """The manifest, with the server container's lifecycle (keys sorted, as the rest)."""
        manifest = super().to_json()
        containers = manifest["spec"]["template"]["spec"]["containers"]
        containers[0] = dict(sorted({**containers[0], "lifecycle": self._pre_stop}.items()))
        return manifest


def _sidecar_annotations(native: bool, grace: int, drain: int) -> dict[str, str]:
    """How Istio injects and stops the proxy: natively, or with its drain set for long requests.

    Native (an init container with restartPolicy Always, Kubernetes 1.29+): it starts before the
    weights download (which then has network under Istio CNI) and stops only after the server has
    exited, so in-flight generations finish. The annotation wins over Istio's own choice, which
    turns native sidecars on only when every kubelet is 1.33 or newer. Off: the proxy gets SIGTERM
    with the server and would stop after terminationDrainDuration (5s by default), so it keeps
    listening for drainDelay (MINIMUM_DRAIN_DURATION) and then exits when its last connection
    closes (EXIT_ON_ZERO_ACTIVE_CONNECTIONS), within the grace period.
    """
    if native:
        return {"sidecar.istio.io/nativeSidecar": "true"}
    config = {
        "holdApplicationUntilProxyStarts": True,
        "proxyMetadata": {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true", "MINIMUM_DRAIN_DURATION": f"{drain}s"},
        "terminationDrainDuration": f"{grace}s",
    }
    return {"proxy.istio.io/config": json.dumps(config, separators=(",", ":")), "sidecar.istio.io/nativeSidecar": "false"}


def _scrape_annotations(metrics: Metrics | None, port: int) -> dict[str, str]:
    """Prometheus's pod annotations; Istio moves them to its agent (15020), which merges the metrics."""
    if metrics is None:
        return {}
    return {"prometheus.io/path": metrics.path, "prometheus.io/port": str(metrics.port or port), "prometheus.io/scrape": "true"}


def _scale_down(pods: int) -> k8s.HpaScalingRulesV2:
    """Remove at most `pods` (the minimum) per 5 minutes, after 5 minutes of lower load."""
    return k8s.HpaScalingRulesV2(
        policies=[k8s.HpaScalingPolicyV2(period_seconds=300, type="Pods", value=pods)],
        select_policy="Max", stabilization_window_seconds=300,
    )


@cache
def _rolling_update() -> k8s.DeploymentStrategy:
    """Surge one new pod and never take an old one down first: no capacity dip mid-rollout."""
    return k8s.DeploymentStrategy(
        type="RollingUpdate",
        rolling_update=k8s.RollingUpdateDeployment(max_surge=int_or_string(1), max_unavailable=int_or_string(0)),
    )
