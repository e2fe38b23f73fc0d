"""The edge: the fleet's own ingress gateway pods and an Istio Gateway on them, HTTPS unless plain HTTP is declared.

Server hosts are written `<namespace>/<host>`: a bare host means `*/<host>`, and then a
VirtualService in any namespace could bind to our Gateway for a model's host (istiod merges
gateway routes of one host oldest-first, so a foreign catch-all would shadow the model).
"""
from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import jsii

from constructs import Construct, IValidation
from imports.io.istio import networking as istio
from model_serving.fleet.environment import GatewayDeployment, GatewayWorkload, Tls
from model_serving.fleet.names import principal
from model_serving.fleet.rules import duplicate_claims, host_covered
from model_serving.k8s.ingress import IngressGateway, gateway_labels

TLS_MODE = istio.GatewaySpecServersTlsMode
MIN_TLS = {
    "TLSV1_2": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_2,
    "TLSV1_3": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_3,
}


class FleetGateway(Construct):
    """Gateway `<name>` (Resource) on the fleet's own gateway pods (Workload), HTTPS on 443.

    Props: `name`, `namespace`, `hosts` (exactly these, scoped to `namespace`: never an implicit
    "*"); `tls` (HTTPS, required unless `plain_http`); `plain_http` (default false: port 80 is
    not served); `workload` (a shared gateway elsewhere, named explicitly; default none: an
    IngressGateway `<name>` in `namespace`, shaped by `deployment`, injected with `revision`,
    scraped from `metrics_from`).

    With `tls.https_redirect`, a second Gateway `<name>-http` (Http) takes port 80 and its
    VirtualService `<name>-https-redirect` (Redirect) answers 308, so POSTs stay POSTs.

    What other constructs may rely on: `ref`, `namespace` (the Gateway object's), `workload`
    (the pods' namespace, service account and selector labels), `principal` and `owned`.
    Every ServedModel routed through it registers its host here, and a validation checks at
    synth that each host is served by the Gateway and claimed by one model only.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, namespace: str, hosts: Sequence[str],
        tls: Tls | None = None, plain_http: bool = False, workload: GatewayWorkload | None = None,
        deployment: GatewayDeployment = GatewayDeployment(), revision: str | None = None, metrics_from: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        if not hosts:
            raise ValueError(f"gateway {name} has no hosts; list the external hosts it serves")
        if tls is None and not plain_http:
            raise ValueError(f"gateway {name} has no tls; pass tls=Tls(credential_name=...) or plain_http=True")
        self.name, self.namespace, self.hosts = name, namespace, list(hosts)
        self.owned = workload is None
        self.workload = workload or GatewayWorkload(namespace=namespace, service_account=name, selector=gateway_labels(name))
        self.secure = tls is not None
        self._claims: list[tuple[str, str, str]] = []  # (model path, host, host+prefix)
        scoped = [f"{namespace}/{host}" for host in self.hosts]
        redirect = tls is not None and tls.https_redirect
        if workload is None:
            ports = [443] if tls is not None else []
            ports += [80] if plain_http or redirect else []
            IngressGateway(
                self, "Workload", name=name, namespace=namespace, ports=ports, deployment=deployment, revision=revision,
                metrics_from=metrics_from,
            )
        istio.Gateway(
            self, "Resource",
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace),
            spec=istio.GatewaySpec(selector=dict(self.workload.selector), servers=_servers(scoped, tls, plain_http)),
        )
        if redirect:
            self._redirect(scoped)
        self.node.add_validation(_HostsServed(self))

    def _redirect(self, scoped: list[str]) -> None:
        """Port 80 on a Gateway of its own, so no model route is ever served there: 308 to HTTPS."""
        http = f"{self.name}-http"
        istio.Gateway(
            self, "Http",
            metadata=cdk8s.ApiObjectMetadata(name=http, namespace=self.namespace),
            spec=istio.GatewaySpec(selector=dict(self.workload.selector), servers=[_plain(scoped)]),
        )
        istio.VirtualService(
            self, "Redirect",
            metadata=cdk8s.ApiObjectMetadata(name=f"{self.name}-https-redirect", namespace=self.namespace),
            spec=istio.VirtualServiceSpec(
                hosts=list(self.hosts), gateways=[f"{self.namespace}/{http}"], export_to=[self._pods_namespace],
                http=[istio.VirtualServiceSpecHttp(
                    name="https-redirect",
                    redirect=istio.VirtualServiceSpecHttpRedirect(scheme="https", redirect_code=308),
                )],
            ),
        )

    @property
    def _pods_namespace(self) -> str:
        """The gateway pods' namespace as `exportTo` writes it: their proxies must see the VirtualService."""
        return "." if self.workload.namespace == self.namespace else self.workload.namespace

    @property
    def principal(self) -> str:
        """The gateway pods' mesh identity, as authorization policies write it."""
        return principal(self.workload.namespace, self.workload.service_account)

    @property
    def ref(self) -> str:
        """How a VirtualService names this Gateway: `<namespace>/<name>`."""
        return f"{self.namespace}/{self.name}"

    def serve(self, model: Construct, host: str, prefix: str | None = None) -> None:
        """Record that `model` routes `host` (under `prefix`) through this Gateway, for validation."""
        self._claims.append((model.node.path, host, f"{host}{prefix or ''}"))

    def problems(self) -> list[str]:
        """Hosts not served by the Gateway, and hosts (with prefix) claimed by two models."""
        out = [
            f"{path}: host {host} is not among the hosts of Gateway {self.ref} ({', '.join(self.hosts)}); add it there"
            for path, host, _ in self._claims
            if not host_covered(host, self.hosts)
        ]
        out += [
            f"{path}: {key} is already routed by {owner}; give one of them another host or a distinct prefix"
            for path, key, owner in duplicate_claims((path, key) for path, _, key in self._claims)
        ]
        return out


@jsii.implements(IValidation)
class _HostsServed:
    """Runs FleetGateway.problems() when the app synthesizes."""

    def __init__(self, gateway: FleetGateway) -> None:
        self._gateway = gateway

    def validate(self) -> list[str]:
        return self._gateway.problems()


def _plain(hosts: list[str]) -> istio.GatewaySpecServers:
    return istio.GatewaySpecServers(
        name="http", port=istio.GatewaySpecServersPort(number=80, name="http", protocol="HTTP"), hosts=hosts,
    )


def _servers(hosts: list[str], tls: Tls | None, plain_http: bool) -> list[istio.GatewaySpecServers]:
    servers = []
    if tls is not None:
        servers.append(
            istio.GatewaySpecServers(
                name="https",
                port=istio.GatewaySpecServersPort(number=443, name="https", protocol="HTTPS"),
                hosts=hosts,
                tls=istio.GatewaySpecServersTls(
                    mode=TLS_MODE.SIMPLE if tls.mode == "SIMPLE" else TLS_MODE.MUTUAL,
                    credential_name=tls.credential_name,
                    min_protocol_version=MIN_TLS[tls.min_protocol_version],
                ),
            )
        )
    if plain_http:
        servers.append(_plain(hosts))
    return servers
