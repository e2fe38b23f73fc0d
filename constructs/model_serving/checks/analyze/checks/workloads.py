"""Service and Namespace checks: port naming, selectors that select pods, sidecar injection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..findings import (
    MULTIPLE_INJECTION_LABELS,
    NAMESPACE_NOT_INJECTED,
    NO_MATCHING_WORKLOADS,
    PORT_NAME_CONVENTION,
    SERVICE_WITHOUT_PORTS,
    Finding,
)
from ..index import ROOT_NAMESPACE, Index, as_dict, as_list, format_labels, label_map

# Istio reads the protocol from `<protocol>[-<suffix>]` port names (or from appProtocol).
PROTOCOLS: Final = frozenset(
    {"http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "udp", "mongo", "mysql", "redis"}
)
# Namespaces istioctl never reports on: the control plane's and those injection always ignores.
SYSTEM_NAMESPACES: Final = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage", ROOT_NAMESPACE}
)
INJECTION: Final = "istio-injection"
REVISION: Final = "istio.io/rev"
DATAPLANE_MODE: Final = "istio.io/dataplane-mode"


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
        if service.namespace not in index.workload_namespaces:
            continue  # the namespace's workloads are not in the input: absence proves nothing
        if not index.workloads_selected(service.namespace, selector):
            yield Finding.of(
                NO_MATCHING_WORKLOADS,
                service.ref,
                f"selector {format_labels(selector)} matches the pods of no workload in namespace {service.namespace}",
                "align the selector with the workload's pod template labels, or deploy the workload",
            )


def check_service_ports(index: Index) -> Iterator[Finding]:
    """Every Service (but ExternalName) declares ports: without one there is nothing to route to."""
    for service in index.services.values():
        if service.spec.get("type") == "ExternalName" or as_list(service.spec.get("ports")):
            continue
        # A headless Service may omit ports as far as Kubernetes goes; Istio still has nothing to build.
        headless = service.spec.get("clusterIP") == "None"
        admitted = "the API server admits it (headless)" if headless else "the API server rejects it"
        yield Finding.of(
            SERVICE_WITHOUT_PORTS,
            service.ref,
            f"the Service has no ports: {admitted}, and Istio builds no listener, "
            "cluster or route for it, so every VirtualService destination to it fails",
            "add spec.ports with the model server's port, e.g. [{name: http, port: 8080, appProtocol: http}]",
        )


def _injection_labels(labels: dict[str, str]) -> list[str]:
    """The labels istioctl counts for IST0123: istio-injection, plus istio.io/rev and the dataplane mode
    unless istio-injection says anything but `enabled` (an opt-out wins and is not a conflict)."""
    found = [f"istio-injection={labels[INJECTION]}"] if INJECTION in labels else []
    if labels.get(INJECTION, "enabled") == "enabled":
        found += [f"{key}={labels[key]}" for key in (REVISION, DATAPLANE_MODE) if key in labels]
    return found


def check_namespace_injection(index: Index) -> Iterator[Finding]:
    """Namespaces without sidecar injection or ambient mode, by istioctl's own rule (injection.Analyzer)."""
    for name, namespace in sorted(index.namespaces.items()):
        if name in SYSTEM_NAMESPACES:
            continue
        labels = label_map(as_dict(namespace.body.get("metadata")).get("labels"))
        found = _injection_labels(labels)
        if len(found) > 1:
            yield Finding.of(
                MULTIPLE_INJECTION_LABELS,
                namespace.ref,
                f"{', '.join(found)} are all set; only one decides how pods are injected",
                "keep only one of the labels",
            )
        # Any other istio-injection value (disabled, false, ...) and ambient mode are deliberate choices.
        if labels.get(DATAPLANE_MODE) == "ambient" or labels.get(INJECTION) or REVISION in labels:
            continue
        yield Finding.of(
            NAMESPACE_NOT_INJECTED,
            namespace.ref,
            f"namespace {name} is not enabled for sidecar injection (no istio-injection or istio.io/rev label), "
            "so its pods run without a proxy",
            "label the namespace istio-injection=enabled (or istio.io/rev=<revision>)",
        )
