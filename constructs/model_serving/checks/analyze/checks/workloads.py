"""Service and Namespace checks: port naming, selectors that select pods, sidecar injection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..findings import (
    MULTIPLE_INJECTION_LABELS,
    NAMESPACE_NOT_INJECTED,
    NO_MATCHING_WORKLOADS,
    PORT_NAME_CONVENTION,
    Finding,
)
from ..index import ROOT_NAMESPACE, Index, as_dict, as_list, format_labels, label_map

# Istio reads the protocol from `<protocol>[-<suffix>]` port names (or from appProtocol).
PROTOCOLS: Final = frozenset(
    {"http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "udp", "mongo", "mysql", "redis"}
)
# Control-plane namespaces are not ours to lint.
SYSTEM_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease", ROOT_NAMESPACE})


def follows_port_naming(name: str) -> bool:
    """True for `http`, `http-api`, `grpc-web`, ...: a known protocol, optionally followed by `-suffix`."""
    lowered = name.lower()
    return any(lowered == protocol or lowered.startswith(f"{protocol}-") for protocol in PROTOCOLS)


def _declares_protocol(port: dict[str, Any]) -> bool:
    app_protocol, name = port.get("appProtocol"), port.get("name")
    return bool(app_protocol and isinstance(app_protocol, str)) or (isinstance(name, str) and follows_port_naming(name))


def check_service_port_names(index: Index) -> Iterator[Finding]:
    """Service ports declare their protocol by name or appProtocol."""
    for service in index.services.values():
        if service.namespace in SYSTEM_NAMESPACES:
            continue
        for port in as_list(service.spec.get("ports")):
            port = as_dict(port)
            name = port.get("name")
            if _declares_protocol(port):
                continue
            label = f'"{name}"' if isinstance(name, str) and name else "(unnamed)"
            yield Finding.of(
                PORT_NAME_CONVENTION,
                service.ref,
                f"port {label} (port {port.get('port')}, targetPort {port.get('targetPort', port.get('port'))}) "
                "is not named <protocol>[-<suffix>] and has no appProtocol, so Istio has to sniff the protocol",
                'rename the port (e.g. "http-api", "grpc") or set appProtocol',
            )


def check_service_selectors(index: Index) -> Iterator[Finding]:
    """A Service's selector matches the pods of at least one workload in its namespace."""
    for service in index.services.values():
        selector = label_map(service.spec.get("selector"))
        if not selector or service.spec.get("type") == "ExternalName":
            continue
        if not index.workloads_selected(service.namespace, selector):
            yield Finding.of(
                NO_MATCHING_WORKLOADS,
                service.ref,
                f"selector {format_labels(selector)} matches the pods of no workload in namespace {service.namespace}",
                "align the selector with the workload's pod template labels, or deploy the workload",
            )


def check_namespace_injection(index: Index) -> Iterator[Finding]:
    """Namespaces that run workloads have sidecar injection (or ambient mode) switched on."""
    for name, namespace in sorted(index.namespaces.items()):
        if name in SYSTEM_NAMESPACES or not index.workloads_in(name):
            continue
        labels = label_map(as_dict(namespace.body.get("metadata")).get("labels"))
        injection = labels.get("istio-injection")
        revision = labels.get("istio.io/rev")
        if injection is not None and revision is not None:
            yield Finding.of(
                MULTIPLE_INJECTION_LABELS,
                namespace.ref,
                f"both istio-injection={injection} and istio.io/rev={revision} are set; "
                "istio-injection wins and the revision is ignored",
                "keep only one of the two labels",
            )
        # An explicit `disabled` and ambient mode are deliberate choices, as in istioctl.
        if injection in ("enabled", "disabled") or revision or labels.get("istio.io/dataplane-mode") == "ambient":
            continue
        yield Finding.of(
            NAMESPACE_NOT_INJECTED,
            namespace.ref,
            f"namespace {name} runs workloads but is not enabled for sidecar injection",
            "label the namespace istio-injection=enabled (or istio.io/rev=<revision>)",
        )
