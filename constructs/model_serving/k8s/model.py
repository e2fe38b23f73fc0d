"""ServedModel: everything one model needs, composable in any cdk8s chart."""
from __future__ import annotations

from collections.abc import Sequence

import cdk8s_plus_27 as kplus

from constructs import Construct
from model_serving.fleet.environment import Jwt
from model_serving.fleet.model import Model
from model_serving.fleet.names import labels
from model_serving.fleet.routes import plan_routes
from model_serving.k8s.gateway import FleetGateway
from model_serving.k8s.security import GatewayIdentity, ModelAccess, request_principals
from model_serving.k8s.traffic import ModelDestinationRule, ModelInboundLimit, ModelRoutes
from model_serving.k8s.values import int_or_string
from model_serving.k8s.workload import ModelVersion

k8s = kplus.k8s
CLUSTER_DOMAIN = "cluster.local"
# Services are visible mesh-wide unless this annotation narrows them (istiod reads it per Service).
EXPORT_TO = "networking.istio.io/exportTo"


class ServedModel(Construct):
    """One model behind one stable name: its Service (Resource), versions, policies and routes.

    Children, in the order `kubectl apply` should create them: the ServiceAccount, one
    ModelVersion per version (`<version>`: Deployment, PodDisruptionBudget, autoscaler), the
    Service (Resource), the DestinationRule (one subset per version), ModelAccess
    (AuthorizationPolicy, NetworkPolicy), then ModelRoutes (VirtualServices), so routes never
    reach a subset that does not exist yet.

    Props, keyword-only:
    - `name`: the model's name: Service, ServiceAccount, `app` label and route names.
    - `namespace`: where every object lives.
    - `spec`: the model's settings (`fleet.model.Model`; every field documented there).
    - `gateway`: the FleetGateway that exposes `spec.host` and whose identity may call the model
      (default none: a mesh-only model callable by its consumers alone).
    - `jwt`: require a token of this issuer on gateway requests (default none).
    - `metrics_from`: namespaces that may scrape the sidecar metrics port (default none).
    - `cluster_domain`: the cluster's DNS domain (default `cluster.local`).
    - `egress`: hosts (`<namespace>/<host>`) the model calls beyond its own namespace and
      `istio-system`, as the namespace Sidecar states them (default none); the per-pod Sidecar of a
      model with `concurrency` replaces the namespace one for its pods, so it repeats them.

    Scope: the Service, DestinationRule and mesh VirtualService are exported to the model's
    namespace, the gateway's and the consumers' namespaces only; the edge VirtualService to the
    gateway's namespace only. A proxy anywhere else receives none of the model's configuration.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, namespace: str, spec: Model,
        gateway: FleetGateway | None = None, jwt: Jwt | None = None, metrics_from: tuple[str, ...] = (),
        cluster_domain: str = CLUSTER_DOMAIN, egress: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        if spec.host and gateway is None:
            raise ValueError(f"model {name} has host {spec.host} but no gateway; pass gateway=FleetGateway(...)")
        self.name, self.namespace, self.spec = name, namespace, spec
        self.host = f"{name}.{namespace}.svc.{cluster_domain}"
        k8s.KubeServiceAccount(
            self, "ServiceAccount",
            metadata=k8s.ObjectMeta(name=name, namespace=namespace, labels=labels(name)),
            automount_service_account_token=spec.service_account_token,
        )
        for version in spec.versions:
            self._version(version)
        gateway_namespace = gateway.workload.namespace if gateway is not None and spec.host else None
        self.export_to = export_to(namespace, gateway_namespace, [c.namespace for c in spec.consumers])
        self._service()
        ModelDestinationRule(
            self, "DestinationRule", app=name, namespace=namespace, host=self.host, versions=list(spec.versions),
            connection_pool=spec.caller_pool(), outlier_detection=spec.outlier_detection,
            load_balancer=spec.load_balancer, export_to=self.export_to,
        )
        if spec.concurrency:
            ModelInboundLimit(self, "InboundLimit", app=name, namespace=namespace, protocol=spec.protocol,
                              concurrency=spec.concurrency, egress_hosts=list(dict.fromkeys(["./*", "istio-system/*", *egress])))
        identity = None
        if gateway is not None:
            identity = GatewayIdentity(
                gateway.workload.namespace, gateway.workload.service_account, request_principals(jwt),
                tuple(sorted(gateway.workload.selector.items())),
            )
        ModelAccess(
            self, "Access", app=name, namespace=namespace, port=spec.port, gateway=identity,
            consumers=spec.consumers, metrics_from=metrics_from, metrics=spec.metrics,
        )
        self._routes(gateway)

    def _version(self, version: str) -> ModelVersion:
        spec, release = self.spec, self.spec.versions[version]
        return ModelVersion(
            self, version, app=self.name, version=version, namespace=self.namespace, image=release.image,
            port=spec.port, protocol=spec.protocol, replicas=release.replicas, resources=spec.resources,
            health=spec.health, autoscaling=spec.autoscaling, storage=spec.storage, writable_paths=spec.writable_paths,
            env={**spec.env, **release.env}, args=release.args if release.args is not None else spec.args,
            spread_zones=spec.spread_zones, max_unavailable=spec.max_unavailable,
            termination_grace_period=spec.termination_grace_period, drain_delay=spec.drain_delay,
            mount_token=spec.service_account_token, home=spec.home, metrics=spec.metrics,
            native_sidecar=spec.native_sidecar, shadow=version == spec.shadow_only,
        )

    def _service(self) -> None:
        # k8s.KubeService: Istio picks the protocol from appProtocol whatever the port's name.
        protocol = self.spec.protocol
        k8s.KubeService(
            self, "Resource",
            metadata=k8s.ObjectMeta(
                name=self.name, namespace=self.namespace, labels=labels(self.name),
                annotations={EXPORT_TO: ",".join(self.export_to)},
            ),
            spec=k8s.ServiceSpec(
                selector=labels(self.name),
                ports=[k8s.ServicePort(
                    name=protocol, port=self.spec.port, target_port=int_or_string(protocol),
                    app_protocol=protocol, protocol="TCP",
                )],
            ),
        )

    def _routes(self, gateway: FleetGateway | None) -> None:
        spec = self.spec
        if spec.host and gateway is not None:
            gateway.serve(self, spec.host, spec.prefix)
        ModelRoutes(
            self, "Routes", app=self.name, namespace=self.namespace, host=self.host, port=spec.port,
            routes=plan_routes(self.name, spec), secure_cookies=bool(gateway and gateway.secure),
            external_host=spec.host, prefix=spec.prefix, gateway=gateway.ref if gateway and spec.host else None,
            export_to=export_to(self.namespace, None, [c.namespace for c in spec.consumers]),
            edge_export_to=export_to(self.namespace, gateway.workload.namespace, [])[-1:] if gateway else None,
        )


def export_to(namespace: str, gateway_namespace: str | None, consumers: list[str]) -> list[str]:
    """Istio `exportTo`: `.` (the model's namespace), then the gateway's and consumers' namespaces, sorted."""
    others = sorted({ns for ns in [*consumers, *([gateway_namespace] if gateway_namespace else [])] if ns != namespace})
    return [".", *others]

