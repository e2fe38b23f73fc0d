"""Gateway server checks: host namespace scoping and the 301 of httpsRedirect."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import GATEWAY_HOST_NOT_SCOPED, HTTPS_REDIRECT_301, Finding
from ..index import Index, Resource, as_dict, as_list, dig, string_list
from .routing import gateway_key


def _binding_namespaces(index: Index, gateway: Resource) -> list[str]:
    """Namespaces of the VirtualServices in the input that attach to `gateway` (top-level gateways)."""
    return sorted(
        {
            vs.namespace
            for vs in index.virtual_services
            if gateway.key in {gateway_key(ref, vs.namespace) for ref in string_list(vs.spec.get("gateways"))}
        }
    )


def check_gateway_host_namespaces(index: Index) -> Iterator[Finding]:
    """Gateway server hosts say which namespace may bind them (`ns/host` or `./host`)."""
    for gateway in index.gateways.values():
        servers = [as_dict(server) for server in as_list(gateway.spec.get("servers"))]
        # A bare host means */host: a VirtualService of any namespace can bind it, and Istio
        # merges the routes of every VirtualService on that gateway host, oldest first, so a
        # route someone else created earlier can shadow ours.
        bare = sorted({host for server in servers for host in string_list(server.get("hosts")) if "/" not in host})
        if not bare:
            continue
        owners = _binding_namespaces(index, gateway) or ["."]
        examples = ", ".join(f"{owner}/{host}" for owner in owners for host in bare)
        yield Finding.of(
            GATEWAY_HOST_NOT_SCOPED,
            gateway.ref,
            f"server hosts [{', '.join(bare)}] have no namespace prefix, so they mean */<host>: a VirtualService "
            "of any namespace can bind them, and Istio merges the routes of all of them oldest first, so a "
            "foreign route can shadow ours",
            f"scope each host to the namespace of its VirtualServices: {examples} (./<host> is the Gateway's namespace)",
        )


def check_https_redirect(index: Index) -> Iterator[Finding]:
    """No server answers plain HTTP with httpsRedirect, whose 301 turns many clients' POST into GET."""
    for gateway in index.gateways.values():
        for number, server in enumerate(as_list(gateway.spec.get("servers"))):
            # Envoy's require_tls: ALL, which answers 301 and never reaches the routes.
            if dig(server, "tls", "httpsRedirect") is not True:
                continue
            port = dig(server, "port", "number")
            yield Finding.of(
                HTTPS_REDIRECT_301,
                gateway.ref,
                f"servers[{number}] (port {port}) sets tls.httpsRedirect, which answers every request with 301; "
                "many HTTP clients follow a 301 for POST /v1/... with a GET without body, so an inference call "
                "over http:// fails in a confusing way instead of being sent again over HTTPS",
                f"drop httpsRedirect (it redirects before any route is read) and redirect with 308, which keeps "
                f"method and body: a VirtualService route matching port {port} with redirect: "
                "{scheme: https, redirectCode: 308}; or do not listen on port 80 at all",
            )
