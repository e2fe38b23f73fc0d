"""The pod of a model version, as typed Kubernetes structs (no jsii calls until the Deployment).

Restricted Pod Security throughout: non-root UID/GID, no privilege escalation, every
capability dropped, seccomp RuntimeDefault, a read-only root with emptyDirs where servers write.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import cdk8s_plus_27 as kplus

from model_serving.fleet.workload import Gpu, Health, ModelStorage, Resources, is_digest_pinned
from model_serving.k8s.values import int_or_string, quantity
from model_serving.units import parse_duration, parse_quantity

k8s = kplus.k8s
RUN_AS = 10001  # a high, non-root UID/GID: "restricted" Pod Security and image-agnostic
CONTAINER = "server"
SCRATCH_MIB = 2048  # per writable path: caches and temp files, not model weights
FETCH_RESOURCES = {"limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}}


def server(
    *, image: str, port: int, protocol: str, args: Sequence[str] | None, env: Mapping[str, str],
    resources: Resources, health: Health, mounts: list[k8s.VolumeMount], metrics_port: int | None = None,
) -> k8s.Container:
    """The model server container: its ports, probes, resources, restricted security and mounts.

    Its preStop hook is the kubelet's `sleep` action, which these typed structs (Kubernetes 1.27)
    cannot express: the Deployment adds it (`pre_stop_sleep`).
    """
    startup, readiness, liveness = probes(health, port)
    ports = [k8s.ContainerPort(container_port=port, name=protocol)]
    if metrics_port is not None and metrics_port != port:
        ports.append(k8s.ContainerPort(container_port=metrics_port, name="metrics"))
    return k8s.Container(
        name=CONTAINER, image=image, image_pull_policy=pull_policy(image),
        args=list(args) if args else None,
        env=[k8s.EnvVar(name=k, value=v) for k, v in sorted(env.items())] or None,
        ports=ports,
        resources=requirements(resource_amounts(resources)),
        security_context=container_security(),
        startup_probe=startup, readiness_probe=readiness, liveness_probe=liveness,
        volume_mounts=mounts or None,
    )


def pull_policy(image: str) -> str:
    """IfNotPresent for a digest (its content cannot change), Always for a tag (it can move)."""
    return "IfNotPresent" if is_digest_pinned(image) else "Always"


def container_security() -> k8s.SecurityContext:
    """A restricted container: non-root, read-only root filesystem, no capabilities."""
    return k8s.SecurityContext(
        allow_privilege_escalation=False,
        capabilities=k8s.Capabilities(drop=["ALL"]),
        privileged=False,
        read_only_root_filesystem=True,
        run_as_group=RUN_AS,
        run_as_non_root=True,
        run_as_user=RUN_AS,
    )


def pod_security() -> k8s.PodSecurityContext:
    """Pod-level: it also covers the injected istio-proxy (restricted Pod Security)."""
    return k8s.PodSecurityContext(
        fs_group=RUN_AS,
        # Model volumes hold many GB: re-chown only when the root's owner is wrong.
        fs_group_change_policy="OnRootMismatch",
        run_as_group=RUN_AS,
        run_as_non_root=True,
        run_as_user=RUN_AS,
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def requirements(amounts: Mapping[str, Mapping[str, str]]) -> k8s.ResourceRequirements:
    """Container resources from plain quantities by kind (`limits`, `requests`)."""
    return k8s.ResourceRequirements(
        limits={k: quantity(v) for k, v in amounts.get("limits", {}).items()} or None,
        requests={k: quantity(v) for k, v in amounts.get("requests", {}).items()} or None,
    )


def resource_amounts(resources: Resources) -> dict[str, dict[str, str]]:
    """Requests and limits as Kubernetes writes them, including the GPU extended resource."""
    requests = {k: v for k, v in resources.requests.model_dump().items() if v}
    limits = {k: v for k, v in resources.limits.model_dump().items() if v}
    if resources.gpu:
        # Extended resources may only be set as limits (requests default to them).
        limits[resources.gpu.resource] = str(resources.gpu.count)
    return {kind: amounts for kind, amounts in (("limits", limits), ("requests", requests)) if amounts}


def probes(health: Health, port: int) -> tuple[k8s.Probe, k8s.Probe, k8s.Probe]:
    """Startup (sized for model loading), readiness and liveness probes, HTTP or gRPC."""
    period = int(parse_duration(health.period))
    startup_failures = health.startup_failures

    def probe(path: str, failures: int) -> k8s.Probe:
        if health.protocol == "grpc":
            # The kubelet's native gRPC probe calls the standard health service.
            return k8s.Probe(grpc=k8s.GrpcAction(port=port), period_seconds=period, failure_threshold=failures)
        return k8s.Probe(
            http_get=k8s.HttpGetAction(path=path, port=int_or_string(port), scheme="HTTP"),
            period_seconds=period, failure_threshold=failures, timeout_seconds=5,
        )

    return probe(health.ready_path, startup_failures), probe(health.ready_path, 3), probe(health.live_path, 3)


def volumes(writable_paths: Sequence[str], storage: ModelStorage | None) -> tuple[list[k8s.Volume], list[k8s.VolumeMount]]:
    """The pod's volumes and the server's mounts: scratch emptyDirs, then the model weights."""
    vols = [
        k8s.Volume(name=f"scratch-{i}", empty_dir=k8s.EmptyDirVolumeSource(size_limit=quantity(f"{SCRATCH_MIB}Mi")))
        for i in range(len(writable_paths))
    ]
    mounts = [k8s.VolumeMount(mount_path=path, name=f"scratch-{i}") for i, path in enumerate(writable_paths)]
    if storage is not None:
        if storage.pvc:
            claim = k8s.PersistentVolumeClaimVolumeSource(claim_name=storage.pvc, read_only=True)
            vols.append(k8s.Volume(name="model", persistent_volume_claim=claim))
        else:
            mib = math.ceil(parse_quantity(storage.size_limit) / 2**20)
            vols.append(k8s.Volume(name="model", empty_dir=k8s.EmptyDirVolumeSource(size_limit=quantity(f"{mib}Mi"))))
        mounts.append(k8s.VolumeMount(mount_path=storage.mount_path, name="model", read_only=True))
    return vols, mounts


def fetch_container(storage: ModelStorage) -> k8s.Container:
    """The init container that downloads the weights into the model volume."""
    return k8s.Container(
        name="fetch-model",
        image=storage.download_image or "",
        image_pull_policy=pull_policy(storage.download_image or ""),
        command=list(storage.download_command) or None,
        resources=requirements(FETCH_RESOURCES),
        security_context=container_security(),
        volume_mounts=[k8s.VolumeMount(mount_path=storage.mount_path, name="model")],
    )


def spread(selector: Mapping[str, str], *, zones: bool) -> list[k8s.TopologySpreadConstraint]:
    """Spread a version's pods over nodes (and zones): one node or zone going down costs a share."""
    keys = ["kubernetes.io/hostname", *(["topology.kubernetes.io/zone"] if zones else [])]
    return [
        k8s.TopologySpreadConstraint(
            label_selector=k8s.LabelSelector(match_labels=dict(selector)),
            max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
        )
        for key in keys
    ]


def pre_stop_sleep(seconds: int) -> dict[str, object]:
    """A preStop pause that keeps the server up while the mesh stops routing to it.

    The kubelet's own `sleep` action (beta and on by default since Kubernetes 1.30, GA in 1.34):
    unlike `exec: [sleep, N]` it needs no sleep binary in the image (distroless servers have none).
    """
    return {"preStop": {"sleep": {"seconds": seconds}}}


def gpu_node_selector(gpu: Gpu | None) -> dict[str, str] | None:
    """Node labels GPU pods require (e.g. a GPU product), if any were declared."""
    return dict(gpu.node_selector) if gpu and gpu.node_selector else None


def gpu_tolerations(gpu: Gpu | None) -> list[k8s.Toleration] | None:
    """Tolerations for GPU nodes: the declared ones, else the resource's NoSchedule taint."""
    if gpu is None:
        return None
    declared = gpu.tolerations
    if declared is None:
        return [k8s.Toleration(effect="NoSchedule", key=gpu.resource, operator="Exists")]
    return [
        k8s.Toleration(
            key=t.key, operator=t.operator, value=t.value, effect=t.effect, toleration_seconds=t.toleration_seconds
        )
        for t in declared
    ]
