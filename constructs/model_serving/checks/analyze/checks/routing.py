"""VirtualService checks: destinations, gateway bindings, mesh host conflicts and weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import (
    CONFLICTING_MESH_VS_HOSTS,
    DESTINATION_PORT_REQUIRED,
    GATEWAY_NOT_BOUND,
    INVALID_ROUTE_WEIGHT,
    REFERENCE_OUTSIDE_INPUT,
    REFERENCED_RESOURCE_NOT_FOUND,
    ROUTE_WEIGHTS_NOT_100,
    VS_HOST_NOT_IN_GATEWAY,
    Finding,
)
from ..index import (
    CLUSTER_SUFFIX,
    EXPORT_TO_ANNOTATION,
    MESH_GATEWAY,
    Index,
    Resource,
    as_dict,
    as_list,
    describe_scope,
    export_scope,
    fqdn,
    hosts_overlap,
    iter_routes,
    service_export_scope,
    service_name,
    service_port_numbers,
    viewers,
    visible_to,
)


def _destinations(where: str, rule: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Destination of a rule: route entries, `mirror` and `mirrors[]`."""
    for number, entry in enumerate(as_list(rule.get("route"))):
        destination = as_dict(as_dict(entry).get("destination"))
        if destination:
            yield f"{where}.route[{number}]", destination
    mirror = as_dict(rule.get("mirror"))
    if mirror:
        yield f"{where}.mirror", mirror
    for number, entry in enumerate(as_list(rule.get("mirrors"))):
        destination = as_dict(as_dict(entry).get("destination"))
        if destination:
            yield f"{where}.mirrors[{number}]", destination


def _string_list(value: Any) -> list[str]:
    return [item for item in as_list(value) if isinstance(item, str) and item]


def gateway_key(reference: str, namespace: str) -> str:
    """`ns/name` for a VirtualService gateway reference; a bare name means the VirtualService's namespace."""
    return reference if "/" in reference else f"{namespace}/{reference}"


def is_mesh_bound(vs: Resource) -> bool:
    """No `gateways` means the mesh gateway; otherwise `mesh` must be listed."""
    gateways = _string_list(vs.spec.get("gateways"))
    return not gateways or MESH_GATEWAY in gateways


def check_route_destinations(index: Index) -> Iterator[Finding]:
    """Route and mirror destinations name a known host, an exposed port and a defined subset."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            for location, destination in _destinations(where, rule):
                yield from _check_destination(index, vs, location, destination)


def _check_destination(index: Index, vs: Resource, where: str, destination: dict[str, Any]) -> Iterator[Finding]:
    host = destination.get("host")
    if not isinstance(host, str) or not host.strip():
        return  # schema validation's job, not a reference problem
    target = fqdn(host, vs.namespace)
    seen_from = viewers(vs)
    service = index.resolve_service(host, vs.namespace)
    if service is None:
        if not index.service_entry_matches(host, vs.namespace, seen_from):
            yield _missing_host(index, vs, where, host, target)
            return
    elif not visible_to(service_export_scope(service), seen_from):
        yield Finding.of(
            REFERENCED_RESOURCE_NOT_FOUND,
            vs.ref,
            f'destination host "{host}" at {where}: Service {service.key} is exported ({EXPORT_TO_ANNOTATION}) '
            f"to {describe_scope(service_export_scope(service))}, not to {', '.join(seen_from)}, "
            "where this VirtualService applies",
            f"add those namespaces to the Service's {EXPORT_TO_ANNOTATION} annotation, or narrow the VirtualService's exportTo",
        )
        return
    else:
        yield from _check_port(vs, where, destination, service, target)
    yield from _check_subset(index, vs, where, destination.get("subset"), target, seen_from)


def _missing_host(index: Index, vs: Resource, where: str, host: str, target: str) -> Finding:
    """IST0101 for a host nothing declares, or MS1007 when its namespace is not in the input at all."""
    named = service_name(target)
    if named and named[0] not in index.service_namespaces:
        namespace, name = named
        return Finding.of(
            REFERENCE_OUTSIDE_INPUT,
            vs.ref,
            f'destination host "{host}" at {where} is Service {name} of namespace {namespace}, which the given files '
            "do not describe (no Namespace object or Service of it), so it is not checked",
            f"analyze together with the manifests of namespace {namespace} to check it",
        )
    parts = target.split(".")
    dotted = len(parts) in (2, 3) and (len(parts) == 2 or parts[2] == "svc")
    fix = (
        f"Istio does not expand {target}: write the Service's full name {parts[0]}.{parts[1]}{CLUSTER_SUFFIX}"
        if dotted
        else "correct the host, create the Service, or declare an external host with a ServiceEntry"
    )
    # A ServiceEntry that declares the host but is not exported here is the likelier mistake.
    hidden = index.service_entries_declaring(host, vs.namespace)
    note = f"; ServiceEntry {hidden[0].key} declares it but is not exported to {', '.join(viewers(vs))}" if hidden else ""
    return Finding.of(
        REFERENCED_RESOURCE_NOT_FOUND,
        vs.ref,
        f'destination host "{host}" at {where} matches no Service or ServiceEntry (looked for {target}){note}',
        f"add {', '.join(viewers(vs))} to that ServiceEntry's exportTo" if hidden else fix,
    )


def _check_port(vs: Resource, where: str, destination: dict[str, Any], service: Resource, target: str) -> Iterator[Finding]:
    """The destination's port is one the Service exposes; a multi-port Service needs one."""
    ports = service_port_numbers(service)
    number = as_dict(destination.get("port")).get("number")
    if number is not None and number not in ports:
        yield Finding.of(
            REFERENCED_RESOURCE_NOT_FOUND,
            vs.ref,
            f"port {number} at {where} is not exposed by Service {service.key} "
            f"(ports: {', '.join(map(str, ports)) or 'none'})",
            "use one of the Service's port numbers in destination.port.number",
        )
    elif number is None and len(ports) > 1:
        yield Finding.of(
            DESTINATION_PORT_REQUIRED,
            vs.ref,
            f"destination {target} at {where} has no port but Service {service.key} exposes "
            f"{', '.join(map(str, ports))}",
            "set destination.port.number to the port this route should use",
        )


def _check_subset(index: Index, vs: Resource, where: str, subset: Any, target: str, seen_from: list[str]) -> Iterator[Finding]:
    """The subset is defined by a DestinationRule for the host that is exported to where the route applies."""
    if not isinstance(subset, str) or not subset:
        return
    defining = [
        rule for rule in index.destination_rules_for(target)
        if subset in {as_dict(item).get("name") for item in as_list(rule.spec.get("subsets"))}
    ]
    visible = [rule for rule in defining if visible_to(export_scope(rule.spec.get("exportTo"), rule.namespace), seen_from)]
    if visible:
        return
    hidden = f"; DestinationRule {defining[0].key} defines it but is not exported to {', '.join(seen_from)}" if defining else ""
    yield Finding.of(
        REFERENCED_RESOURCE_NOT_FOUND,
        vs.ref,
        f'subset "{subset}" at {where} is not defined by any DestinationRule for host {target}{hidden}',
        f'add subset "{subset}" to the DestinationRule for {target} (exported to the VirtualService\'s namespaces), '
        "or route to an existing subset",
    )


def _gateway_references(vs: Resource) -> Iterator[tuple[str, str]]:
    for number, reference in enumerate(as_list(vs.spec.get("gateways"))):
        if isinstance(reference, str) and reference:
            yield f"gateways[{number}]", reference
    for where, rule in iter_routes(vs.spec):
        for match_number, match in enumerate(as_list(rule.get("match"))):
            for number, reference in enumerate(as_list(as_dict(match).get("gateways"))):
                if isinstance(reference, str) and reference:
                    yield f"{where}.match[{match_number}].gateways[{number}]", reference


def check_gateway_references(index: Index) -> Iterator[Finding]:
    """`gateways` and `match[].gateways` entries name an existing Gateway (or `mesh`)."""
    for vs in index.virtual_services:
        for where, reference in _gateway_references(vs):
            if reference == MESH_GATEWAY:
                continue
            key = gateway_key(reference, vs.namespace)
            if key not in index.gateways:
                yield Finding.of(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    vs.ref,
                    f'gateway "{reference}" at {where} not found (looked for Gateway {key})',
                    'reference an existing Gateway as "namespace/name", or create it',
                )


def check_gateways_bound(index: Index) -> Iterator[Finding]:
    """Every Gateway is bound by some VirtualService; otherwise ingress answers 404 for all its hosts."""
    if not index.virtual_services:
        return  # no VirtualService in the input at all: the bindings live elsewhere, absence proves nothing
    # Only the top-level list attaches a VirtualService to a Gateway (pilot's getGatewayNames);
    # match[].gateways merely narrows a match of an attached VirtualService.
    bound = {
        gateway_key(reference, vs.namespace)
        for vs in index.virtual_services
        for reference in _string_list(vs.spec.get("gateways"))
    }
    for key, gateway in sorted(index.gateways.items()):
        if key in bound:
            continue
        hosts = sorted({h for server in as_list(gateway.spec.get("servers")) for h in _string_list(as_dict(server).get("hosts"))})
        yield Finding.of(
            GATEWAY_NOT_BOUND,
            gateway.ref,
            f"no VirtualService lists Gateway {key} in its top-level gateways, so the ingress gateway answers 404 "
            f"for {', '.join(hosts) or 'its hosts'}",
            f'add "{key}" (or "{gateway.name}" from namespace {gateway.namespace}) to the gateways of the '
            "VirtualService that routes those hosts, or remove the Gateway",
        )


def _gateway_admits(index: Index, gateway: Resource, vs: Resource, host: str) -> bool:
    """True if one of the Gateway's `[namespace/]host` entries exposes `host` of `vs`."""
    wanted = fqdn(host, vs.namespace)
    for server in as_list(gateway.spec.get("servers")):
        for entry in _string_list(as_dict(server).get("hosts")):
            scope, slash, name = entry.rpartition("/")
            scope = scope if slash else "*"
            if scope == ".":
                scope = gateway.namespace
            if scope not in ("*", vs.namespace):
                continue
            if hosts_overlap(fqdn(name, gateway.namespace), wanted):
                return True
    return False


def check_gateway_hosts(index: Index) -> Iterator[Finding]:
    """Hosts of a gateway-bound VirtualService are exposed by its Gateways' servers."""
    for vs in index.virtual_services:
        hosts = _string_list(vs.spec.get("hosts"))
        keys = sorted(
            {gateway_key(ref, vs.namespace) for ref in _string_list(vs.spec.get("gateways")) if ref != MESH_GATEWAY}
        )
        covered: set[str] = set()
        for key in keys:
            gateway = index.gateways.get(key)
            if gateway is None or not hosts:
                continue  # a missing Gateway is reported as IST0101
            exposed = {host for host in hosts if _gateway_admits(index, gateway, vs, host)}
            covered |= exposed
            if not exposed:
                # Istio's own rule: a bound Gateway must expose at least one of the hosts.
                yield Finding.of(
                    VS_HOST_NOT_IN_GATEWAY,
                    vs.ref,
                    f"none of the hosts [{', '.join(hosts)}] is exposed by Gateway {key}",
                    f"add the host to a server of Gateway {key} (hosts may be scoped as namespace/host), "
                    "or remove the binding",
                )
        missing = [host for host in hosts if host not in covered]
        if covered and missing and not is_mesh_bound(vs):
            # Stricter than Istio: without `mesh`, a host no bound Gateway exposes is dead config.
            yield Finding.of(
                VS_HOST_NOT_IN_GATEWAY,
                vs.ref,
                f"hosts [{', '.join(missing)}] are exposed by none of the bound gateways "
                f"[{', '.join(keys)}] and the VirtualService is not bound to mesh",
                "add the hosts to a bound Gateway, bind the VirtualService to mesh, or drop the hosts",
            )


def _scopes_overlap(left: frozenset[str] | None, right: frozenset[str] | None) -> bool:
    # An empty scope (exportTo ["~"]) is seen by no sidecar, so it meets nothing.
    if left == frozenset() or right == frozenset():
        return False
    return left is None or right is None or bool(left & right)


def check_mesh_host_conflicts(index: Index) -> Iterator[Finding]:
    """At most one mesh-bound VirtualService per host within a visibility scope."""
    by_host: dict[str, list[tuple[Resource, frozenset[str] | None]]] = {}
    for vs in index.virtual_services:
        if not is_mesh_bound(vs):
            continue
        scope = export_scope(vs.spec.get("exportTo"), vs.namespace)
        for name in sorted({fqdn(host, vs.namespace) for host in _string_list(vs.spec.get("hosts"))}):
            by_host.setdefault(name, []).append((vs, scope))
    for name, owners in by_host.items():
        for vs, scope in owners:
            others = sorted(
                other.key for other, other_scope in owners if other is not vs and _scopes_overlap(scope, other_scope)
            )
            if others:
                yield Finding.of(
                    CONFLICTING_MESH_VS_HOSTS,
                    vs.ref,
                    f"host {name} is also defined by mesh-bound VirtualService {', '.join(others)}; "
                    "sidecars use only one of them",
                    "merge the VirtualServices into one, or narrow their exportTo so they never meet",
                )


def _weight_problem(weight: Any) -> str | None:
    if isinstance(weight, bool) or not isinstance(weight, int):
        return f"weight {weight!r} is not an integer"
    if weight < 0:
        return f"weight {weight} is negative"
    return None


def check_route_weights(index: Index) -> Iterator[Finding]:
    """Weights are non-negative integers and, across several destinations, add up to 100."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            entries = [as_dict(entry) for entry in as_list(rule.get("route"))]
            valid = True
            for number, entry in enumerate(entries):
                problem = _weight_problem(entry["weight"]) if "weight" in entry else None
                if problem:
                    valid = False
                    yield Finding.of(
                        INVALID_ROUTE_WEIGHT,
                        vs.ref,
                        f"{problem} at {where}.route[{number}]",
                        "use an integer from 0 to 100",
                    )
            if valid and len(entries) > 1:
                weights = [entry.get("weight", 0) for entry in entries]
                if sum(weights) != 100:
                    yield Finding.of(
                        ROUTE_WEIGHTS_NOT_100,
                        vs.ref,
                        f"weights at {where}.route add up to {sum(weights)} ({' + '.join(map(str, weights))}), not 100",
                        "give every destination an explicit weight so that they total 100",
                    )
