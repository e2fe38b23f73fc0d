"""A typed, indexed view over plain manifest dicts, with Istio's host and label semantics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

NETWORKING: Final = "networking.istio.io"
SECURITY: Final = "security.istio.io"
ISTIO_VERSIONS: Final = frozenset({"v1", "v1beta1", "v1alpha3"})
CLUSTER_SUFFIX: Final = ".svc.cluster.local"
MESH_GATEWAY: Final = "mesh"
ROOT_NAMESPACE: Final = "istio-system"

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
        self.workloads: list[Workload] = [
            Workload(resource=r, pod_labels=label_map(dig(r.body, *path)))
            for (group, name), path in _POD_LABEL_PATHS.items()
            for r in kind(group, name)
        ]
        # Namespaces the input talks about, used to tell `name.ns` service hosts from `example.com`.
        self.known_namespaces: frozenset[str] = frozenset(
            {r.namespace for r in self.resources if r.namespace} | set(self.namespaces)
        )

    # --- hosts -----------------------------------------------------------------------------

    def resolve_service(self, host: str, namespace: str) -> Resource | None:
        """The Service a host names: `svc`, `svc.ns`, `svc.ns.svc` or `svc.ns.svc.cluster.local`."""
        name = host.lower().rstrip(".")
        if name.endswith(CLUSTER_SUFFIX):
            name = name[: -len(CLUSTER_SUFFIX)]
        elif name.endswith(".svc"):
            name = name[: -len(".svc")]
        parts = name.split(".")
        if len(parts) == 1:
            return self.services.get((namespace, parts[0]))
        if len(parts) == 2:
            return self.services.get((parts[1], parts[0]))
        return None

    def canonical_host(self, host: str, namespace: str) -> str:
        """The FQDN Istio would use for `host` written in `namespace` (external hosts unchanged)."""
        service = self.resolve_service(host, namespace)
        if service is not None:
            return service_fqdn(service)
        name = host.lower().rstrip(".")
        if name == "*" or name.startswith("*."):
            return name
        if "." not in name:
            return f"{name}.{namespace}{CLUSTER_SUFFIX}"
        if name.endswith(".svc"):
            return f"{name}.cluster.local"
        first, _, second = name.partition(".")
        if "." not in second and second in self.known_namespaces:
            return f"{first}.{second}{CLUSTER_SUFFIX}"
        return name

    def service_entry_matches(self, host: str, namespace: str) -> bool:
        """True if a ServiceEntry declares `host` (wildcard ServiceEntry hosts included)."""
        wanted = {host.lower().rstrip("."), self.canonical_host(host, namespace)}
        for entry in self.service_entries:
            for declared in as_list(entry.spec.get("hosts")):
                if isinstance(declared, str):
                    pattern = self.canonical_host(declared, entry.namespace)
                    if any(host_matches(pattern, candidate) for candidate in wanted):
                        return True
        return False

    def services_matching(self, pattern: str) -> list[Resource]:
        """Services whose FQDN is within the (possibly wildcard) FQDN `pattern`."""
        return [svc for svc in self.services.values() if host_matches(pattern, service_fqdn(svc))]

    def destination_rules_for(self, fqdn: str) -> list[Resource]:
        """DestinationRules that apply to `fqdn`: exact hosts win over wildcard ones, as in Istio."""
        # Memoized: every route destination asks, and a scan per ask grows with the square of a fleet.
        if fqdn not in self._rules_by_host:
            self._rules_by_host[fqdn] = self._scan_destination_rules(fqdn)
        return self._rules_by_host[fqdn]

    def _scan_destination_rules(self, fqdn: str) -> list[Resource]:
        exact: list[Resource] = []
        wildcard: list[Resource] = []
        for rule in self.destination_rules:
            host = rule.spec.get("host")
            if not isinstance(host, str) or not host:
                continue
            pattern = self.canonical_host(host, rule.namespace)
            if pattern == fqdn:
                exact.append(rule)
            elif host_matches(pattern, fqdn):
                wildcard.append(rule)
        return exact or wildcard

    # --- workloads -------------------------------------------------------------------------

    def workloads_in(self, namespace: str) -> list[Workload]:
        """Workloads whose pods run in `namespace`."""
        return [w for w in self.workloads if w.namespace == namespace]

    def workloads_selected(self, namespace: str, selector: Mapping[str, str]) -> list[Workload]:
        """Workloads in `namespace` whose pod labels satisfy `selector`."""
        return [w for w in self.workloads_in(namespace) if selects(selector, w.pod_labels)]


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
