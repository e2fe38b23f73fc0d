"""The edge: an Istio Gateway on the ingress gateway pods, HTTPS unless plain HTTP is declared."""
from __future__ import annotations

import cdk8s
from constructs import Construct

from imports.io.istio import networking as istio

from model_serving.fleet.schema import Env

TLS_MODE = istio.GatewaySpecServersTlsMode
MIN_TLS = {
    "TLSV1_2": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_2,
    "TLSV1_3": istio.GatewaySpecServersTlsMinProtocolVersion.TLSV1_UNDERSCORE_3,
}


class ModelGateway:
    """Gateway `<name>`: port 443 with the declared TLS Secret, port 80 redirecting to HTTPS.

    Not a construct of its own (a construct level costs a jsii call): the Gateway is added to `scope`.
    """

    def __init__(self, scope: Construct, id: str, *, env: Env) -> None:
        gateway = env.gateway
        # Exactly the declared hosts (config refuses an empty list): never an implicit "*".
        hosts = list(gateway.hosts)
        servers = []
        if gateway.tls is not None:
            tls = gateway.tls
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
        if gateway.plain_http or (gateway.tls is not None and gateway.tls.https_redirect):
            redirect = not gateway.plain_http
            servers.append(
                istio.GatewaySpecServers(
                    name="http",
                    port=istio.GatewaySpecServersPort(number=80, name="http", protocol="HTTP"),
                    hosts=hosts,
                    tls=istio.GatewaySpecServersTls(https_redirect=True) if redirect else None,
                )
            )
        istio.Gateway(
            scope,
            id,
            metadata=cdk8s.ApiObjectMetadata(name=env.gateway_name, namespace=env.namespace),
            spec=istio.GatewaySpec(selector=dict(gateway.workload.selector), servers=servers),
        )
