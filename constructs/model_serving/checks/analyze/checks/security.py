"""mTLS consistency between PeerAuthentication and DestinationRule TLS settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ..findings import MTLS_MODE_CONFLICT, Finding
from ..index import ROOT_NAMESPACE, Index, Resource, as_dict, dig, fqdn, label_map
from .destinationrule import port_level_settings, traffic_policies

# (PeerAuthentication mode, DestinationRule tls mode) pairs whose connections fail.
_CONFLICTS: Final[dict[str, frozenset[str]]] = {
    "STRICT": frozenset({"DISABLE", "SIMPLE"}),
    "DISABLE": frozenset({"ISTIO_MUTUAL"}),
}


def _namespace_modes(index: Index) -> tuple[tuple[str, Resource] | None, dict[str, tuple[str, Resource]]]:
    """The mesh-wide mode and each namespace's own mode, from selector-less PeerAuthentications."""
    mesh: tuple[str, Resource] | None = None
    namespaces: dict[str, tuple[str, Resource]] = {}
    for policy in sorted(index.peer_authentications, key=lambda r: (r.namespace, r.name)):
        if label_map(dig(policy.spec, "selector", "matchLabels")):
            continue  # workload-specific policies are out of scope
        mode = dig(policy.spec, "mtls", "mode")
        if not isinstance(mode, str) or mode == "UNSET":
            continue
        if policy.namespace == ROOT_NAMESPACE and mesh is None:
            mesh = (mode, policy)
        namespaces.setdefault(policy.namespace, (mode, policy))
    return mesh, namespaces


def _target_namespaces(index: Index, rule: Resource) -> list[str]:
    host = rule.spec.get("host")
    if not isinstance(host, str) or not host:
        return []
    target = fqdn(host, rule.namespace)
    if target.startswith("*"):
        services = index.services_matching(target)
    else:
        service = index.resolve_service(host, rule.namespace)
        services = [service] if service is not None else []
    return sorted({service.namespace for service in services})


def _tls_modes(rule: Resource) -> Iterator[tuple[str, str]]:
    for where, policy in traffic_policies(rule):
        mode = dig(policy, "tls", "mode")
        if isinstance(mode, str):
            yield where, mode
        for port, settings in port_level_settings(policy):
            mode = dig(settings, "tls", "mode")
            if isinstance(mode, str):
                yield f"{where} port {port}", mode


def check_mtls_consistency(index: Index) -> Iterator[Finding]:
    """DestinationRule TLS modes agree with the PeerAuthentication mode of the host's namespace."""
    mesh, own = _namespace_modes(index)
    for rule in index.destination_rules:
        for namespace in _target_namespaces(index, rule):
            effective = own.get(namespace, mesh)
            if effective is None:
                continue
            peer_mode, policy = effective
            for where, tls_mode in _tls_modes(rule):
                if tls_mode not in _CONFLICTS.get(peer_mode, frozenset()):
                    continue
                yield Finding.of(
                    MTLS_MODE_CONFLICT,
                    rule.ref,
                    f"{where} sets tls mode {tls_mode} but {policy.ref} makes namespace {namespace} "
                    f"{peer_mode}, so connections to {as_dict(rule.spec).get('host')} fail",
                    "use tls mode ISTIO_MUTUAL (or drop the tls block) under STRICT mTLS; "
                    "under DISABLE do not use ISTIO_MUTUAL",
                )
