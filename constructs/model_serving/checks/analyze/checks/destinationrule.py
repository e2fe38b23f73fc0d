"""DestinationRule checks: known host, subsets that select pods, server certificate verification."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import (
    NO_CERT_VERIFICATION_DESTINATION,
    NO_CERT_VERIFICATION_PORT,
    OUTLIER_COUNTS_LOCAL_TIMEOUTS,
    REFERENCE_OUTSIDE_INPUT,
    SUBSET_SELECTS_NO_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    Finding,
)
from ..index import (
    CLUSTER_SUFFIX,
    EXPORT_TO_ANNOTATION,
    Index,
    Resource,
    as_dict,
    as_list,
    format_labels,
    fqdn,
    is_topology_label,
    label_map,
    selects,
    service_export_scope,
    service_name,
    viewers,
    visible_to,
)


def traffic_policies(rule: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`trafficPolicy` | `subset "v1"`, policy) for the rule's top-level and per-subset policies."""
    top = as_dict(rule.spec.get("trafficPolicy"))
    if top:
        yield "trafficPolicy", top
    for subset in as_list(rule.spec.get("subsets")):
        policy = as_dict(as_dict(subset).get("trafficPolicy"))
        if policy:
            yield f'subset "{as_dict(subset).get("name")}"', policy


def port_level_settings(policy: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(port number, settings) for each `portLevelSettings` entry."""
    for settings in as_list(policy.get("portLevelSettings")):
        settings = as_dict(settings)
        yield as_dict(settings.get("port")).get("number"), settings


def _host(rule: Resource) -> str | None:
    host = rule.spec.get("host")
    return host if isinstance(host, str) and host.strip() else None


def check_destination_rule_hosts(index: Index) -> Iterator[Finding]:
    """A DestinationRule for an in-cluster host names a Service (or a ServiceEntry host) it can see."""
    for rule in index.destination_rules:
        host = _host(rule)
        if host is None:
            continue
        target = fqdn(host, rule.namespace)
        if not target.endswith(CLUSTER_SUFFIX):
            continue  # external hosts (api.example.com, *.local) are not ours to resolve
        seen_from = viewers(rule)
        if target.startswith("*"):
            known = any(visible_to(service_export_scope(s), seen_from) for s in index.services_matching(target))
        else:
            service = index.resolve_service(host, rule.namespace)
            known = service is not None and visible_to(service_export_scope(service), seen_from)
        if known or index.service_entry_matches(host, rule.namespace, seen_from):
            continue
        named = service_name(target)
        if named and named[0] not in index.service_namespaces:
            yield Finding.of(
                REFERENCE_OUTSIDE_INPUT,
                rule.ref,
                f'host "{host}" is Service {named[1]} of namespace {named[0]}, which the given files do not describe '
                "(no Namespace object or Service of it), so it is not checked",
                f"analyze together with the manifests of namespace {named[0]} to check it",
            )
            continue
        yield Finding.of(
            UNKNOWN_DESTINATION_RULE_HOST,
            rule.ref,
            f'host "{host}" matches no Service or ServiceEntry visible to {", ".join(seen_from)} (looked for {target})',
            "correct the host (use the FQDN for another namespace's Service), create the Service, "
            f"or export it ({EXPORT_TO_ANNOTATION}) to the DestinationRule's namespaces",
        )


def _pod_labels_only(labels: dict[str, str]) -> dict[str, str]:
    """Subset labels without the topology keys Istio adds to endpoints from their node (zone, hostname, ...):
    no manifest says where a pod will be scheduled, so any value of those can match."""
    return {key: value for key, value in labels.items() if not is_topology_label(key)}


def check_subsets_select_pods(index: Index) -> Iterator[Finding]:
    """Every subset, together with the host Service's selector, selects some workload's pods."""
    for rule in index.destination_rules:
        host = _host(rule)
        service = index.resolve_service(host, rule.namespace) if host else None
        if service is None or service.spec.get("type") == "ExternalName":
            continue
        selector = label_map(service.spec.get("selector"))
        if not selector or service.namespace not in index.workload_namespaces:
            continue  # endpoints managed by hand, or the namespace's workloads are not in the input
        workloads = index.workloads_selected(service.namespace, selector)
        for subset in as_list(rule.spec.get("subsets")):
            subset = as_dict(subset)
            labels = _pod_labels_only(label_map(subset.get("labels")))
            if any(selects(labels, workload.pod_labels) for workload in workloads):
                continue
            wanted = format_labels({**selector, **labels})
            yield Finding.of(
                SUBSET_SELECTS_NO_PODS,
                rule.ref,
                f'subset "{subset.get("name")}" selects no pods: no workload in namespace {service.namespace} '
                f"has pod labels {wanted} (Service {service.key} selector plus subset labels); "
                "requests to it fail with 503 UH",
                "fix the subset labels or the workload's pod template labels, or remove the subset",
            )


def _unverified_mode(tls: dict[str, Any]) -> str | None:
    """The TLS mode if it originates TLS without any way to verify the server's certificate."""
    mode = tls.get("mode")
    if mode not in ("SIMPLE", "MUTUAL"):
        return None
    if tls.get("caCertificates") or tls.get("credentialName"):
        return None
    # insecureSkipVerify: true is an explicit, reviewed opt-out; do not nag about it.
    return None if tls.get("insecureSkipVerify") is True else str(mode)


def check_tls_certificates(index: Index) -> Iterator[Finding]:
    """SIMPLE/MUTUAL TLS origination names a CA (caCertificates or credentialName)."""
    fix = "set tls.caCertificates (or credentialName) so the server certificate is verified"
    for rule in index.destination_rules:
        host = _host(rule) or "?"
        for where, policy in traffic_policies(rule):
            mode = _unverified_mode(as_dict(policy.get("tls")))
            if mode:
                yield Finding.of(
                    NO_CERT_VERIFICATION_DESTINATION,
                    rule.ref,
                    f"{where} sets tls mode {mode} for host {host} but no caCertificates, "
                    "so the server certificate is not verified",
                    fix,
                )
            for port, settings in port_level_settings(policy):
                mode = _unverified_mode(as_dict(settings.get("tls")))
                if mode:
                    yield Finding.of(
                        NO_CERT_VERIFICATION_PORT,
                        rule.ref,
                        f"{where} port {port} sets tls mode {mode} for host {host} but no caCertificates, "
                        "so the server certificate is not verified",
                        fix,
                    )


def _counters_with_local_timeouts(outlier: dict[str, Any]) -> list[str]:
    """The consecutive-error counters that will count Envoy's own timeouts, given this outlierDetection.

    Without splitExternalLocalOriginErrors, Envoy reports a timed-out try to outlier detection as
    a 504 (putResultNoLocalExternalSplit), which counts toward consecutive 5xx and gateway errors.
    Istio leaves consecutive_5xx to Envoy's default (5, enforced) unless consecutive5xxErrors is
    set, and enforces gateway errors only when consecutiveGatewayErrors is above 0.
    """
    if outlier.get("splitExternalLocalOriginErrors") is True:
        return []
    counters = []
    five_xx = outlier.get("consecutive5xxErrors")
    if five_xx is None:
        counters.append("consecutive 5xx (Envoy's default of 5, as consecutive5xxErrors is unset)")
    elif five_xx != 0:
        counters.append(f"consecutive5xxErrors {five_xx}")
    gateway = outlier.get("consecutiveGatewayErrors")
    if gateway not in (None, 0):
        counters.append(f"consecutiveGatewayErrors {gateway}")
    return counters


def check_outlier_detection_timeouts(index: Index) -> Iterator[Finding]:
    """Outlier detection does not eject a replica for answering slowly (Envoy's own timeouts)."""
    for rule in index.destination_rules:
        for where, policy in traffic_policies(rule):
            scopes = [(where, policy)] + [(f"{where} port {port}", settings) for port, settings in port_level_settings(policy)]
            for scope, settings in scopes:
                outlier = settings.get("outlierDetection")
                counters = _counters_with_local_timeouts(outlier) if isinstance(outlier, dict) else []
                if not counters:
                    continue
                yield Finding.of(
                    OUTLIER_COUNTS_LOCAL_TIMEOUTS,
                    rule.ref,
                    f"{scope} outlierDetection ejects on {' and '.join(counters)} without "
                    "splitExternalLocalOriginErrors: true, so Envoy counts its own timeouts (504) toward them and "
                    "ejects a replica that is merely busy with long generations, moving its load onto the rest",
                    "count only failures the replica answers itself: consecutiveGatewayErrors with "
                    "splitExternalLocalOriginErrors: true (timeouts then count toward consecutiveLocalOriginFailures, "
                    "Envoy's default 5, so set that deliberately too)",
                )
