"""The edge: an Istio Gateway on the ingress gateway pods, HTTPS unless plain HTTP is declared."""
from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import jsii

from constructs import Construct, IValidation
from imports.io.istio import networking as istio
from model_serving.fleet.environment import GatewayWorkload, Tls
from model_serving.fleet.rules import duplicate_claims, host_covered

TLS_MODE = istio.GatewaySpecServersTlsMode
MIN_TLS = {
    "TLSV1_2": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_2,
    "TLSV1_3": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_3,
}


class FleetGateway(Construct):
    """Gateway `<name>` (Resource): port 443 with the declared TLS Secret, port 80 redirecting to HTTPS.

    Props: `name`, `namespace`, `hosts` (exactly these: never an implicit "*"); `tls` (HTTPS,
    required unless `plain_http`); `plain_http` (default false); `workload` (the gateway pods
    and their identity, default Istio's istioctl-installed ingress gateway).

    Every ServedModel routed through it registers its host here, and a validation checks at
    synth that each host is served by the Gateway and claimed by one model only.
    """

    def __init__(
        self, scope: Construct, id: str, *, name: str, namespace: str, hosts: Sequence[str],
        tls: Tls | None = None, plain_http: bool = False, workload: GatewayWorkload = GatewayWorkload(),
    ) -> None:
        super().__init__(scope, id)
        if not hosts:
            raise ValueError(f"gateway {name} has no hosts; list the external hosts it serves")
        if tls is None and not plain_http:
            raise ValueError(f"gateway {name} has no tls; pass tls=Tls(credential_name=...) or plain_http=True")
        self.name, self.namespace, self.hosts, self.workload = name, namespace, list(hosts), workload
        self.secure = tls is not None
        self._claims: list[tuple[str, str, str]] = []  # (model path, host, host+prefix)
        istio.Gateway(
            self, "Resource",
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace),
            spec=istio.GatewaySpec(selector=dict(workload.selector), servers=_servers(self.hosts, tls, plain_http)),
        )
        self.node.add_validation(_HostsServed(self))

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
    if plain_http or (tls is not None and tls.https_redirect):
        servers.append(
            istio.GatewaySpecServers(
                name="http",
                port=istio.GatewaySpecServersPort(number=80, name="http", protocol="HTTP"),
                hosts=hosts,
                tls=istio.GatewaySpecServersTls(https_redirect=True) if not plain_http else None,
            )
        )
    return servers
