"""A typed, indexed view over plain manifest dicts, with Istio's host and label semantics."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

NETWORKING: Final = "networking.istio.io"
SECURITY: Final = "security.istio.io"
EXTENSIONS: Final = "extensions.istio.io"
ISTIO_VERSIONS: Final = frozenset({"v1", "v1beta1", "v1alpha3"})
CLUSTER_SUFFIX: Final = ".svc.cluster.local"
MESH_GATEWAY: Final = "mesh"
ROOT_NAMESPACE: Final = "istio-system"
EXPORT_TO_ANNOTATION: Final = "networking.istio.io/exportTo"
EVERYWHERE: Final = "*"
HERE: Final = "."
NOWHERE: Final = "~"
# `name.namespace.svc.cluster.local`: the only dotted form that names a Kubernetes Service.
_SERVICE_FQDN: Final = re.compile(r"^([^.]+)\.([^.]+)\.svc\.cluster\.local$")

# Kinds without a namespace; everything else defaults to the analyzer's default namespace.
CLUSTER_SCOPED_KINDS: Final = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "GatewayClass",
    }
)

# Labels Istio adds to every endpoint from its node and cluster (pilot's AugmentLabels), so a
# DestinationRule subset may select on them although no pod template carries them.
TOPOLOGY_LABELS: Final = frozenset(
    {
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
        "topology.istio.io/subzone",
        "topology.istio.io/cluster",
        "topology.istio.io/network",
    }
)

# Where each workload kind keeps the labels its pods get.
_POD_LABEL_PATHS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("", "Pod"): ("metadata", "labels"),
    ("apps", "Deployment"): ("spec", "template", "metadata", "labels"),
    ("apps", "StatefulSet"): ("spec", "template", "metadata", "labels"),
    ("apps", "DaemonSet"): ("spec", "template", "metadata", "labels"),
    ("apps", "ReplicaSet"): ("spec", "template", "metadata", "labels"),
    ("batch", "Job"): ("spec", "template", "metadata", "labels"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
}


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty dict (manifests are untrusted input)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def string_list(value: Any) -> list[str]:
    """The non-empty strings of `value` if it is a list, else an empty list."""
    return [item for item in as_list(value) if isinstance(item, str) and item]


def dig(value: Any, *keys: str) -> Any:
    """Follow mapping keys, returning None as soon as one is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def label_map(value: Any) -> dict[str, str]:
    """Labels as strings: YAML may have turned `version: 1` into an int."""
    result: dict[str, str] = {}
    for key, item in as_dict(value).items():
        if isinstance(item, bool):
            result[str(key)] = "true" if item else "false"
        elif item is not None:
            result[str(key)] = str(item)
    return result


def is_topology_label(key: str) -> bool:
    """True for a node or mesh topology label (zone, region, hostname, topology.istio.io/*), never a pod template's own."""
    return key in TOPOLOGY_LABELS or key.startswith("topology.istio.io/")


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Kubernetes equality-based selection: every selector pair is present in `labels`."""
    return all(labels.get(key) == value for key, value in selector.items())


def format_labels(labels: Mapping[str, str]) -> str:
    """`a=1,b=2`, sorted, as kubectl prints selectors."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def host_matches(pattern: str, host: str) -> bool:
    """True if `host` is within `pattern`, where `*` and `*.suffix` are wildcards (either side may be one)."""
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        if host.startswith("*."):
            return host[1:].endswith(suffix)
        return host.endswith(suffix) and len(host) > len(suffix)
    return False


def hosts_overlap(left: str, right: str) -> bool:
    """True if some concrete host name is matched by both `left` and `right`."""
    return host_matches(left, right) or host_matches(right, left)


@dataclass(frozen=True)
class Resource:
    """One manifest object with its identity parsed out."""

    kind: str
    group: str
    version: str
    name: str
    namespace: str  # "" for cluster-scoped kinds
    body: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def ref(self) -> str:
        """`Kind namespace/name`, or `Kind name` for cluster-scoped kinds."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def key(self) -> str:
        """`namespace/name`, the form VirtualServices use to reference Gateways."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def spec(self) -> dict[str, Any]:
        """The spec mapping (empty if absent or malformed)."""
        return as_dict(self.body.get("spec"))

    @property
    def labels(self) -> dict[str, str]:
        """metadata.labels as strings."""
        return label_map(dig(self.body, "metadata", "labels"))


@dataclass(frozen=True)
class Workload:
    """Something that runs pods, reduced to the labels those pods carry."""

    resource: Resource
    pod_labels: Mapping[str, str]

    @property
    def namespace(self) -> str:
        """The namespace the pods run in."""
        return self.resource.namespace


def _parse(obj: Any, default_namespace: str) -> Resource | None:
    if not isinstance(obj, dict):
        return None
    kind, api_version, name = obj.get("kind"), obj.get("apiVersion"), dig(obj, "metadata", "name")
    if not (isinstance(kind, str) and isinstance(api_version, str) and isinstance(name, str) and name):
        return None
    group, _, version = api_version.rpartition("/")
    if kind in CLUSTER_SCOPED_KINDS:
        namespace = ""
    else:
        declared = dig(obj, "metadata", "namespace")
        namespace = declared if isinstance(declared, str) and declared else default_namespace
    return Resource(kind=kind, group=group, version=version, name=name, namespace=namespace, body=obj)


def _is(resource: Resource, group: str, kind: str) -> bool:
    if resource.kind != kind or resource.group != group:
        return False
    # Istio serves v1, v1beta1 and v1alpha3 of the same schema; other versions are not Istio's.
    return group not in (NETWORKING, SECURITY) or resource.version in ISTIO_VERSIONS


class Index:
    """All objects of one analysis run, grouped by kind, with host and workload look-ups."""

    def __init__(self, objects: Iterable[Any], *, default_namespace: str) -> None:
        self.resources: list[Resource] = [
            parsed for parsed in (_parse(obj, default_namespace) for obj in objects) if parsed is not None
        ]
        by_kind: dict[tuple[str, str], list[Resource]] = {}
        for resource in self.resources:
            by_kind.setdefault((resource.group, resource.kind), []).append(resource)

        def kind(group: str, name: str) -> list[Resource]:
            return [r for r in by_kind.get((group, name), []) if _is(r, group, name)]

        self.namespaces: dict[str, Resource] = {r.name: r for r in kind("", "Namespace")}
        self.services: dict[tuple[str, str], Resource] = {(r.namespace, r.name): r for r in kind("", "Service")}
        self.virtual_services: list[Resource] = kind(NETWORKING, "VirtualService")
        self.destination_rules: list[Resource] = kind(NETWORKING, "DestinationRule")
        self._rules_by_host: dict[str, list[Resource]] = {}
        self.gateways: dict[str, Resource] = {r.key: r for r in kind(NETWORKING, "Gateway")}
        self.service_entries: list[Resource] = kind(NETWORKING, "ServiceEntry")
        self.peer_authentications: list[Resource] = kind(SECURITY, "PeerAuthentication")
        self.traffic_extensions: list[Resource] = kind(EXTENSIONS, "TrafficExtension")
        self.workloads: list[Workload] = [
            Workload(resource=r, pod_labels=label_map(dig(r.body, *path)))
            for (group, name), path in _POD_LABEL_PATHS.items()
            for r in kind(group, name)
        ]
        # What the input describes: a namespace whose Namespace object or any Service is given has
        # all its Services given; one with any workload given has all its workloads given. Outside
        # that, "not in the files" is not "does not exist" (see CODES.md, partial input).
        self.service_namespaces: frozenset[str] = frozenset(set(self.namespaces) | {ns for ns, _ in self.services})
        self.workload_namespaces: frozenset[str] = frozenset(w.namespace for w in self.workloads)

    # --- hosts -----------------------------------------------------------------------------

    def resolve_service(self, host: str, namespace: str) -> Resource | None:
        """The Service a host names, as Istio resolves it: a short name in `namespace`, or `name.ns.svc.cluster.local`."""
        named = service_name(fqdn(host, namespace))
        return self.services.get(named) if named else None

    def service_entries_declaring(self, host: str, namespace: str) -> list[Resource]:
        """ServiceEntries that declare `host` (written in `namespace`), wildcards included, visible or not."""
        wanted = fqdn(host, namespace)
        return [
            entry
            for entry in self.service_entries
            if any(
                isinstance(declared, str) and host_matches(fqdn(declared, entry.namespace), wanted)
                for declared in as_list(entry.spec.get("hosts"))
            )
        ]

    def service_entry_matches(self, host: str, namespace: str, viewers: Iterable[str] | None = None) -> bool:
        """True if a ServiceEntry visible to one of `viewers` (default: `namespace`) declares `host`, wildcards included."""
        seen_from = [namespace] if viewers is None else list(viewers)
        return any(
            visible_to(export_scope(entry.spec.get("exportTo"), entry.namespace), seen_from)
            for entry in self.service_entries_declaring(host, namespace)
        )

    def services_matching(self, pattern: str) -> list[Resource]:
        """Services whose FQDN is within the (possibly wildcard) FQDN `pattern`."""
        return [svc for svc in self.services.values() if host_matches(pattern, service_fqdn(svc))]

    def destination_rules_for(self, host: str) -> list[Resource]:
        """DestinationRules for the FQDN `host`: exact hosts win over wildcard ones, as in Istio."""
        # Memoized: every route destination asks, and a scan per ask grows with the square of a fleet.
        if host not in self._rules_by_host:
            self._rules_by_host[host] = self._scan_destination_rules(host)
        return self._rules_by_host[host]

    def _scan_destination_rules(self, wanted: str) -> list[Resource]:
        exact: list[Resource] = []
        wildcard: list[Resource] = []
        for rule in self.destination_rules:
            host = rule.spec.get("host")
            if not isinstance(host, str) or not host:
                continue
            pattern = fqdn(host, rule.namespace)
            if pattern == wanted:
                exact.append(rule)
            elif host_matches(pattern, wanted):
                wildcard.append(rule)
        return exact or wildcard

    # --- workloads -------------------------------------------------------------------------

    def workloads_in(self, namespace: str) -> list[Workload]:
        """Workloads whose pods run in `namespace`."""
        return [w for w in self.workloads if w.namespace == namespace]

    def workloads_selected(self, namespace: str, selector: Mapping[str, str]) -> list[Workload]:
        """Workloads in `namespace` whose pod labels satisfy `selector`."""
        return [w for w in self.workloads_in(namespace) if selects(selector, w.pod_labels)]


def fqdn(host: str, namespace: str) -> str:
    """`host` as Istio reads it in a resource of `namespace` (model.ResolveShortnameToFQDN).

    Only a name without dots is expanded (`ai-model` -> `ai-model.<namespace>.svc.cluster.local`);
    anything dotted is taken as written, so `ai-model.other` or `ai-model.other.svc` name no
    Service: Istio does not expand them, and neither does `istioctl analyze`.
    """
    name = host.strip().lower().rstrip(".")
    if name == EVERYWHERE or "." in name:
        return name
    return f"{name}.{namespace}{CLUSTER_SUFFIX}"


def service_name(host: str) -> tuple[str, str] | None:
    """(namespace, name) of the Service an FQDN `host` names, or None for any other host."""
    match = _SERVICE_FQDN.match(host)
    return (match.group(2), match.group(1)) if match else None


def _export_entries(export_to: Any) -> list[str]:
    return [item.strip() for item in as_list(export_to) if isinstance(item, str) and item.strip()]


def viewers(resource: Resource) -> list[str]:
    """Namespaces a VirtualService or DestinationRule is checked from, as istioctl checks them:
    its `exportTo` list (`.` = its namespace, `*` = everywhere), or its own namespace without one.

    `~` (exported to no namespace) adds none: a resource exported only to `~` applies nowhere,
    so what it references need not be visible anywhere (see `visible_to`).
    """
    entries = _export_entries(resource.spec.get("exportTo"))
    if not entries:
        return [resource.namespace]
    return [resource.namespace if item == HERE else item for item in entries if item != NOWHERE]


def export_scope(export_to: Any, namespace: str) -> frozenset[str] | None:
    """Namespaces a resource is visible to from its `exportTo` list; None means every namespace.

    `.` is the resource's own namespace, `*` (or no list at all) every namespace, `~` none (an
    empty set); istiod's mesh defaults (defaultServiceExportTo and friends) are not known offline
    and taken as `*`.
    """
    entries = _export_entries(export_to)
    if not entries or EVERYWHERE in entries:
        return None
    return frozenset(namespace if item == HERE else item for item in entries if item != NOWHERE)


def service_export_scope(service: Resource) -> frozenset[str] | None:
    """A Service's visibility from its `networking.istio.io/exportTo` annotation (comma-separated)."""
    annotation = dig(service.body, "metadata", "annotations", EXPORT_TO_ANNOTATION)
    entries = annotation.split(",") if isinstance(annotation, str) else []
    return export_scope(entries, service.namespace)


def visible_to(scope: frozenset[str] | None, viewers: Iterable[str]) -> bool:
    """True if something exported to `scope` is visible to at least one of `viewers` (`*`: every namespace).

    No viewers (a resource exported only to `~`) means it applies nowhere: nothing has to be visible to it.
    A `*` viewer sees only what is exported everywhere, as istioctl checks it.
    """
    seen_from = list(viewers)
    if scope is None or not seen_from:
        return True
    return any(viewer != EVERYWHERE and viewer in scope for viewer in seen_from)


def describe_scope(scope: frozenset[str] | None) -> str:
    """`every namespace`, `no namespace (~)` or `a, b`: an export scope in words."""
    if scope is None:
        return "every namespace"
    return ", ".join(sorted(scope)) or "no namespace (~)"


def service_fqdn(service: Resource) -> str:
    """`name.namespace.svc.cluster.local`."""
    return f"{service.name}.{service.namespace}{CLUSTER_SUFFIX}"


def service_port_numbers(service: Resource) -> list[int]:
    """The `port` numbers a Service exposes."""
    return [
        port["port"]
        for port in as_list(service.spec.get("ports"))
        if isinstance(port, dict) and isinstance(port.get("port"), int) and not isinstance(port.get("port"), bool)
    ]


def iter_routes(spec: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`http[0]`, rule) for every http, tcp and tls rule of a VirtualService spec."""
    for section in ("http", "tcp", "tls"):
        for number, rule in enumerate(as_list(spec.get(section))):
            if isinstance(rule, dict):
                yield f"{section}[{number}]", rule
