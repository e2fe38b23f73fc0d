"""Model server workloads: a Deployment per version, with its ServiceAccount, PDB and HPA."""
from __future__ import annotations

import json
import math
from typing import Any

import cdk8s
import cdk8s_plus_27 as kplus
from constructs import Construct

from model_serving.k8s import values
from model_serving.fleet.schema import Model, Version
from model_serving.fleet.units import parse_duration, parse_quantity

RUN_AS = 10001  # a high, non-root UID/GID: "restricted" Pod Security and image-agnostic
CONTAINER = "server"
SCRATCH_MIB = 2048  # per writable path: caches and temp files, not model weights
PROXY_CONFIG = json.dumps({"holdApplicationUntilProxyStarts": True}, separators=(",", ":"))


def labels(model: str, version: str | None = None) -> dict[str, str]:
    """Pod labels Istio keys on: `app` selects the model, `version` the subset."""
    return {"app": model} if version is None else {"app": model, "version": version}


def resources(model: Model) -> dict[str, Any]:
    """Container resources as Kubernetes writes them, including the GPU extended resource."""
    requests = {k: v for k, v in model.resources.requests.model_dump().items() if v}
    limits = {k: v for k, v in model.resources.limits.model_dump().items() if v}
    gpu = model.resources.gpu
    if gpu:
        # Extended resources may only be set as limits (requests default to them).
        limits[gpu.resource] = str(gpu.count)
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _quantities(requirements: dict[str, Any]) -> dict[str, Any]:
    """Wrap quantities as k8s.Quantity serializes them.

    KubeDeployment re-runs its typed converter after JSON patches, and that converter reads
    `quantity.value`: a bare string would come out as null.
    """
    return {kind: {k: {"value": v} for k, v in amounts.items()} for kind, amounts in requirements.items()}


def _scheduling(name: str, version: str, model: Model) -> list[tuple[str, Any]]:
    """Pod-spec fields cdk8s-plus-27 does not model: seccomp, spread, GPU placement."""
    spec = "/spec/template/spec"
    selector = {"matchLabels": labels(name, version)}
    spread = [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector},
    ]
    if model.spread_zones:
        spread.append(
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        )
    ops: list[tuple[str, Any]] = [
        # cdk8s-plus labels pods with its construct address; Istio and Services key on app/version only.
        ("/spec/template/metadata/labels/cdk8s.io~1metadata.addr", None),
        # Pod-level, not per container: it then also covers the injected istio-proxy (restricted PSS).
        (f"{spec}/securityContext/seccompProfile", {"type": "RuntimeDefault"}),
        (f"{spec}/topologySpreadConstraints", spread),
        (f"{spec}/containers/0/resources", _quantities(resources(model))),
        # cdk8s-plus-27's Capability enum has no ALL.
        (f"{spec}/containers/0/securityContext/capabilities", {"drop": ["ALL"]}),
    ]
    if model.storage is not None and model.storage.download_image:
        ops.append((f"{spec}/initContainers/0/securityContext/capabilities", {"drop": ["ALL"]}))
    gpu = model.resources.gpu
    if gpu:
        tolerations = gpu.tolerations
        if tolerations is None:
            tolerations = [{"key": gpu.resource, "operator": "Exists", "effect": "NoSchedule"}]
        ops.append((f"{spec}/tolerations", tolerations))
        if gpu.node_selector:
            ops.append((f"{spec}/nodeSelector", dict(gpu.node_selector)))
    if model.health.protocol == "grpc":
        # cdk8s-plus-27 has no gRPC probe: the kubelet's native one uses the standard health service.
        period = int(parse_duration(model.health.period))
        grpc = {"port": model.port}
        ops += [
            (f"{spec}/containers/0/startupProbe",
             {"grpc": grpc, "periodSeconds": period,
              "failureThreshold": max(1, int(parse_duration(model.health.startup_timeout)) // period)}),
            (f"{spec}/containers/0/readinessProbe", {"grpc": grpc, "periodSeconds": period, "failureThreshold": 3}),
            (f"{spec}/containers/0/livenessProbe", {"grpc": grpc, "periodSeconds": period, "failureThreshold": 3}),
        ]
    return ops


class ModelWorkloads:
    """The ServiceAccount and writable volumes of a model, and one VersionWorkload per version.

    Like every part of a model, not a construct of its own: it adds its objects to `scope` under
    ids starting with `id` (a construct level costs a jsii call and changes nothing in the output).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, namespace: str, model: Model) -> None:
        self.service_account = kplus.ServiceAccount(
            scope,
            f"{id}.ServiceAccount",
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace, labels=labels(name)),
            automount_token=model.service_account_token,
        )
        # Read-only root filesystem: give the server writable scratch space where it expects it.
        mounts = [
            kplus.VolumeMount(path=path, volume=values.empty_dir(scope, f"scratch-{i}", SCRATCH_MIB))
            for i, path in enumerate(model.writable_paths)
        ]
        init: list[kplus.ContainerProps] = []
        storage = model.storage
        if storage is not None:
            if storage.pvc:
                volume = values.claim_volume(scope, "model", storage.pvc)
                mounts.append(kplus.VolumeMount(path=storage.mount_path, volume=volume, read_only=True))
            else:
                volume = values.empty_dir(scope, "model", math.ceil(parse_quantity(storage.size_limit) / 2**20))
                mounts.append(kplus.VolumeMount(path=storage.mount_path, volume=volume, read_only=True))
                init.append(
                    kplus.ContainerProps(
                        name="fetch-model",
                        image=storage.download_image or "",
                        command=list(storage.download_command) or None,
                        volume_mounts=[kplus.VolumeMount(path=storage.mount_path, volume=volume)],
                        security_context=_container_security(),
                        resources=kplus.ContainerResources(
                            cpu=kplus.CpuResources(request=values.millicpu(250), limit=values.millicpu(1000)),
                            memory=kplus.MemoryResources(request=values.mebibytes(256), limit=values.gibibytes(1)),
                        ),
                    )
                )
        self.versions = {
            version_name: VersionWorkload(
                scope,
                f"{id}.{version_name}",
                name=name,
                version_name=version_name,
                namespace=namespace,
                model=model,
                version=version,
                service_account=self.service_account,
                mounts=mounts,
                init_containers=init,
            )
            for version_name, version in model.versions.items()
        }


# checkov's "tokens only where necessary" check, waived on the objects that declare the need.
TOKEN_WAIVER = {"checkov.io/skip1": "CKV_K8S_38=serviceAccountToken: true in serving.yaml (the server calls the API)"}


def _deployment_annotations(model: Model) -> dict[str, str] | None:
    """Deployment annotations: the record of a deliberate API token mount, for policy scanners."""
    return dict(TOKEN_WAIVER) if model.service_account_token else None


def _container_security() -> kplus.ContainerSecurityContextProps:
    return kplus.ContainerSecurityContextProps(
        ensure_non_root=True,
        user=RUN_AS,
        group=RUN_AS,
        privileged=False,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
    )


class VersionWorkload:
    """One version of a model: Deployment `<model>-<version>` plus its PDB and optional HPA (added to `scope`)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        version_name: str,
        namespace: str,
        model: Model,
        version: Version,
        service_account: kplus.ServiceAccount,
        mounts: list[kplus.VolumeMount],
        init_containers: list[kplus.ContainerProps],
    ) -> None:
        full_name = f"{name}-{version_name}"
        pod_labels = labels(name, version_name)
        health = model.health
        period = int(parse_duration(health.period))
        http = health.protocol == "http"
        drain = int(parse_duration(model.drain_delay))
        env = {**model.env, **version.env}
        self.deployment = kplus.Deployment(
            scope,
            f"{id}.Deployment",
            metadata=cdk8s.ApiObjectMetadata(
                name=full_name, namespace=namespace, labels=pod_labels, annotations=_deployment_annotations(model)
            ),
            pod_metadata=cdk8s.ApiObjectMetadata(
                labels=pod_labels, annotations={"proxy.istio.io/config": PROXY_CONFIG}
            ),
            select=False,
            replicas=None if model.autoscaling else version.replicas,
            strategy=values.rolling_update(),
            service_account=service_account,
            automount_service_account_token=model.service_account_token,
            termination_grace_period=values.duration(model.termination_grace_period),
            security_context=kplus.PodSecurityContextProps(
                ensure_non_root=True, user=RUN_AS, group=RUN_AS, fs_group=RUN_AS,
                # Model volumes hold many GB: re-chown only when the root's owner is wrong.
                fs_group_change_policy=kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
            ),
            init_containers=init_containers or None,
            containers=[
                kplus.ContainerProps(
                    name=CONTAINER,
                    image=version.image,
                    ports=[kplus.ContainerPort(number=model.port, name=model.protocol)],
                    args=version.args if version.args is not None else (list(model.args) or None),
                    env_variables={k: values.env_value(v) for k, v in sorted(env.items())} or None,
                    security_context=_container_security(),
                    volume_mounts=mounts,
                    lifecycle=kplus.ContainerLifecycle(pre_stop=values.sleep_handler(drain)),
                    # Model loading takes minutes: the startup probe holds readiness and liveness off.
                    startup=values.http_probe(
                        health.ready_path, model.port, period,
                        max(1, int(parse_duration(health.startup_timeout)) // period), 5,
                    ) if http else None,
                    readiness=values.http_probe(health.ready_path, model.port, period, 3, 5) if http else None,
                    liveness=values.http_probe(health.live_path, model.port, period, 3, 5) if http else None,
                )
            ],
        )
        # The selector is a patch too: select(LabelSelector.of(...)) would cost two jsii calls.
        selector = ("/spec/selector", {"matchLabels": pod_labels})
        cdk8s.ApiObject.of(self.deployment).add_json_patch(
            *[
                values.patch_remove(path) if value is None else values.patch_add(path, value)
                for path, value in [selector, *_scheduling(name, version_name, model)]
            ]
        )
        kplus.k8s.KubePodDisruptionBudget(
            scope,
            f"{id}.Disruption",
            metadata=kplus.k8s.ObjectMeta(name=full_name, namespace=namespace, labels=pod_labels),
            spec=kplus.k8s.PodDisruptionBudgetSpec(
                max_unavailable=values.int_or_string(model.max_unavailable),
                selector=kplus.k8s.LabelSelector(match_labels=pod_labels),
            ),
        )
        scaling = model.autoscaling
        if scaling is not None:
            if scaling.metric:
                metric = values.pods_metric(scaling.metric, float(scaling.metric_target or 0))
            else:
                metric = values.cpu_metric(scaling.cpu_utilization or 80)
            kplus.HorizontalPodAutoscaler(
                scope,
                f"{id}.Autoscaler",
                metadata=cdk8s.ApiObjectMetadata(name=full_name, namespace=namespace, labels=pod_labels),
                target=self.deployment,
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[metric],
            )
