"""The fleet's own ingress gateway pods: Istio's `gateway` injection template on a bare Deployment.

What Istio's Helm chart `istio/gateway` renders, written out so it lives, and is reviewed, in
the fleet's namespace: a Deployment whose single container `istio-proxy` (image `auto`) the
injection webhook fills in from its `gateway` template, its ServiceAccount (the gateway's mesh
identity), a Service, an autoscaler on CPU and a disruption budget.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cdk8s_plus_27 as kplus

from constructs import Construct
from model_serving.fleet.environment import GatewayDeployment
from model_serving.k8s.values import int_or_string

k8s = kplus.k8s
# The pod annotations and labels Istio's injector keys on (kube-inject: the `gateway` template).
INJECT_TEMPLATE = {"inject.istio.io/templates": "gateway"}
# Istio's readiness and metrics ports on every proxy: 15021 (/healthz/ready), 15090 (Envoy stats).
STATUS_PORT = 15021
# checkov's policies read the Deployment before injection; what the injector fills in is waived here,
# each with its reason (checkov splits the value on '=', so a reason holds none).
CHECKOV_WAIVERS = {
    "checkov.io/skip1": "CKV_K8S_14=image auto is replaced by the injector with the mesh's pinned proxy image",
    "checkov.io/skip2": "CKV_K8S_43=image auto is replaced by the injector with the mesh's pinned proxy image",
    "checkov.io/skip3": "CKV_K8S_40=the gateway injection template sets the proxy's UID",
    "checkov.io/skip4": "CKV_K8S_8=a liveness probe on readiness would restart a proxy that only lost istiod",
}
EXPORT_TO = "networking.istio.io/exportTo"


def gateway_labels(name: str) -> dict[str, str]:
    """The pod labels of the fleet's gateway (the Helm chart's convention: `app` and `istio`)."""
    return {"app": name, "istio": name}


class IngressGateway(Construct):
    """Gateway pods (Resource, a Deployment `<name>`), their ServiceAccount, Service, autoscaler and budget.

    Props: `name` (every object's name, the service account, the `app`/`istio` labels),
    `namespace`; `ports` (the server ports the Gateway listens on, e.g. (443,)); `deployment`
    (Service type, replicas, CPU target; default LoadBalancer, 2-5 pods at 80 % CPU);
    `revision` (an Istio revision or tag to inject; default the namespace's); `metrics_from`
    (namespaces that may scrape the proxy's metrics on 15020/15090; default none).
    A NetworkPolicy (Network) admits anyone to the server ports and 15021, and nothing else.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, namespace: str, ports: Sequence[int],
        deployment: GatewayDeployment = GatewayDeployment(), revision: str | None = None,
        metrics_from: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        self.labels = gateway_labels(name)
        meta = k8s.ObjectMeta(name=name, namespace=namespace, labels=self.labels)
        k8s.KubeServiceAccount(self, "ServiceAccount", metadata=meta, automount_service_account_token=False)
        waived = k8s.ObjectMeta(name=name, namespace=namespace, labels=self.labels, annotations=dict(CHECKOV_WAIVERS))
        pod_labels = {**self.labels, "sidecar.istio.io/inject": "true", **({"istio.io/rev": revision} if revision else {})}
        k8s.KubeDeployment(
            self, "Resource", metadata=waived,
            spec=k8s.DeploymentSpec(
                selector=k8s.LabelSelector(match_labels=self.labels),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=pod_labels, annotations=dict(INJECT_TEMPLATE)),
                    spec=_pod(name),
                ),
            ),
        )
        # Clients come in through the load balancer; no sidecar elsewhere needs a cluster for it.
        k8s.KubeService(
            self, "Service",
            metadata=k8s.ObjectMeta(name=name, namespace=namespace, labels=self.labels, annotations={EXPORT_TO: "."}),
            spec=k8s.ServiceSpec(type=deployment.service_type, selector=self.labels, ports=_service_ports(ports)),
        )
        _scaling(self, meta, name, self.labels, deployment)
        # Clients may come from anywhere, but only to the server ports and the load balancer's health check.
        k8s.KubeNetworkPolicy(
            self, "Network", metadata=meta,
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=self.labels), policy_types=["Ingress"],
                ingress=[k8s.NetworkPolicyIngressRule(ports=_tcp(sorted({*ports, STATUS_PORT})))] + ([
                    k8s.NetworkPolicyIngressRule(from_=[
                        k8s.NetworkPolicyPeer(namespace_selector=k8s.LabelSelector(
                            match_labels={"kubernetes.io/metadata.name": ns})) for ns in sorted(set(metrics_from))
                    ], ports=_tcp([15020, 15090]))
                ] if metrics_from else []),
            ),
        )


def _pod(service_account: str) -> k8s.PodSpec:
    # The injector replaces `auto` with the proxy image and merges its gateway template into this
    # container; what we set is what the Pod Security "restricted" level asks of it.
    proxy = k8s.Container(
        name="istio-proxy", image="auto",
        ports=[k8s.ContainerPort(container_port=15090, name="http-envoy-prom", protocol="TCP")],
        # What the injector would add (Istio's chart values): ready once istiod's config arrived.
        readiness_probe=k8s.Probe(
            http_get=k8s.HttpGetAction(path="/healthz/ready", port=int_or_string(STATUS_PORT), scheme="HTTP"),
            failure_threshold=30, initial_delay_seconds=1, period_seconds=2, success_threshold=1, timeout_seconds=1,
        ),
        resources=k8s.ResourceRequirements(
            requests={"cpu": k8s.Quantity.from_string("100m"), "memory": k8s.Quantity.from_string("128Mi")},
            limits={"cpu": k8s.Quantity.from_string("2"), "memory": k8s.Quantity.from_string("1Gi")},
        ),
        security_context=k8s.SecurityContext(
            allow_privilege_escalation=False, capabilities=k8s.Capabilities(drop=["ALL"]), privileged=False,
            read_only_root_filesystem=True, run_as_non_root=True,
        ),
    )
    return k8s.PodSpec(
        # The injector mounts its own short-lived `istio-token` for istiod; no API token is needed.
        automount_service_account_token=False,
        containers=[proxy],
        service_account_name=service_account,
        # The proxy runs as non-root yet binds 80/443: a "safe" sysctl since Kubernetes 1.22.
        security_context=k8s.PodSecurityContext(
            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
            sysctls=[k8s.Sysctl(name="net.ipv4.ip_unprivileged_port_start", value="0")],
        ),
        topology_spread_constraints=[k8s.TopologySpreadConstraint(
            label_selector=k8s.LabelSelector(match_labels=gateway_labels(service_account)), max_skew=1,
            topology_key="kubernetes.io/hostname", when_unsatisfiable="ScheduleAnyway",
        )],
    )


def _tcp(ports: Sequence[int]) -> list[k8s.NetworkPolicyPort]:
    return [k8s.NetworkPolicyPort(port=int_or_string(p), protocol="TCP") for p in ports]


def _service_ports(ports: Sequence[int]) -> list[k8s.ServicePort]:
    names = {80: "http2", 443: "https"}
    out = [k8s.ServicePort(
        name="status-port", port=STATUS_PORT, target_port=int_or_string(STATUS_PORT), protocol="TCP", app_protocol="tcp",
    )]
    out += [
        k8s.ServicePort(name=names.get(p, f"tcp-{p}"), port=p, target_port=int_or_string(p), protocol="TCP")
        for p in sorted(set(ports))
    ]
    return out


def _scaling(scope: Construct, meta: k8s.ObjectMeta, name: str, labels: Mapping[str, str], spec: GatewayDeployment) -> None:
    """CPU autoscaling (a gateway's load is CPU) and a budget that keeps one pod serving during drains."""
    k8s.KubeHorizontalPodAutoscalerV2(
        scope, "Autoscaler", metadata=meta,
        spec=k8s.HorizontalPodAutoscalerSpecV2(
            min_replicas=spec.min_replicas, max_replicas=spec.max_replicas,
            metrics=[k8s.MetricSpecV2(type="Resource", resource=k8s.ResourceMetricSourceV2(
                name="cpu", target=k8s.MetricTargetV2(type="Utilization", average_utilization=spec.cpu_utilization),
            ))],
            scale_target_ref=k8s.CrossVersionObjectReferenceV2(api_version="apps/v1", kind="Deployment", name=name),
        ),
    )
    # With one pod minimum a budget of 1 would block every drain; then allow the eviction.
    k8s.KubePodDisruptionBudget(
        scope, "Disruption", metadata=meta,
        spec=k8s.PodDisruptionBudgetSpec(
            min_available=int_or_string(1) if spec.min_replicas > 1 else None,
            max_unavailable=int_or_string(1) if spec.min_replicas == 1 else None,
            selector=k8s.LabelSelector(match_labels=dict(labels)),
        ),
    )
