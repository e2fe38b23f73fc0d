"""How traffic moves during rollouts and rollbacks: Argo CD sync waves and sticky cohorts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..findings import STICKY_COOKIE_PARTIAL, SYNC_WAVE_AFTER_WORKLOADS, Finding
from ..index import Index, Resource, Workload, as_dict, as_list, dig, fqdn, is_topology_label, iter_routes, label_map

SYNC_WAVE: Final = "argocd.argoproj.io/sync-wave"
# Kinds whose health Argo CD waits for before the next wave, and that serve a route's traffic.
_SERVING_KINDS: Final = frozenset({"Deployment", "StatefulSet"})


def sync_wave(resource: Resource) -> int | None:
    """The resource's Argo CD sync wave (0 without the annotation), or None if it is not an integer."""
    value = dig(resource.body, "metadata", "annotations", SYNC_WAVE)
    if value is None:
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _subset_labels(index: Index, host: str, subset: Any) -> dict[str, str]:
    """Pod labels a destination subset adds (topology labels dropped: they come from the node)."""
    for rule in index.destination_rules_for(host):
        for item in as_list(rule.spec.get("subsets")):
            if as_dict(item).get("name") == subset:
                return {k: v for k, v in label_map(as_dict(item).get("labels")).items() if not is_topology_label(k)}
    return {}


def routed_workloads(index: Index, vs: Resource) -> list[Workload]:
    """Deployments and StatefulSets whose pods the VirtualService's route destinations reach."""
    found: dict[str, Workload] = {}
    for _, rule in iter_routes(vs.spec):
        for entry in as_list(rule.get("route")):
            destination = as_dict(as_dict(entry).get("destination"))
            host = destination.get("host")
            service = index.resolve_service(host, vs.namespace) if isinstance(host, str) else None
            selector = label_map(service.spec.get("selector")) if service else {}
            if not isinstance(host, str) or service is None or not selector:
                continue  # unknown, external or hand-managed endpoints: no workload to name
            wanted = {**selector, **_subset_labels(index, fqdn(host, vs.namespace), destination.get("subset"))}
            for workload in index.workloads_selected(service.namespace, wanted):
                if workload.resource.kind in _SERVING_KINDS:
                    found[workload.resource.ref] = workload
    return [found[ref] for ref in sorted(found)]


def check_sync_wave_order(index: Index) -> Iterator[Finding]:
    """A VirtualService syncs no later than the workloads it routes to, so a weight-only rollback is never held back."""
    for vs in index.virtual_services:
        wave = sync_wave(vs)
        if wave is None:
            continue
        waves = [(w.resource.ref, sync_wave(w.resource)) for w in routed_workloads(index, vs)]
        earlier = [(ref, their) for ref, their in waves if their is not None and their < wave]
        if not earlier:
            continue
        listed = ", ".join(f"{ref} (wave {their})" for ref, their in earlier)
        yield Finding.of(
            SYNC_WAVE_AFTER_WORKLOADS,
            vs.ref,
            f"sync wave {wave} comes after {listed}, which it routes to: Argo CD applies a wave only once every "
            "earlier wave is healthy, so a rollback that only changes weights waits behind the unhealthy "
            "Deployment it should move traffic away from",
            f"give the VirtualService an {SYNC_WAVE} annotation no later than its workloads' wave "
            f"(here {min(t for _, t in earlier)}), or drop the annotation from both",
        )


def _sets_cookie(entry: dict[str, Any]) -> bool:
    """True if a route destination adds or sets a Set-Cookie response header."""
    response = as_dict(dig(entry, "headers", "response"))
    return any(str(key).lower() == "set-cookie" for part in ("set", "add") for key in as_dict(response.get(part)))


def _weight(entry: dict[str, Any], alone: bool) -> int:
    # A lone destination takes all traffic; among several, a missing weight is 0 (as for MS1002).
    weight = entry.get("weight", 100 if alone else 0)
    return weight if isinstance(weight, int) and not isinstance(weight, bool) else 0


def _label(entry: dict[str, Any]) -> str:
    destination = as_dict(entry.get("destination"))
    subset = destination.get("subset")
    return f"{destination.get('host')}{f' subset {subset}' if subset else ''} ({_weight(entry, False)}%)"


def check_sticky_cohorts(index: Index) -> Iterator[Finding]:
    """A split that pins users with a cookie pins every weighted destination, not just some."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            if _sets_cookie(rule):
                continue  # a route-level Set-Cookie reaches every destination alike
            entries = [as_dict(entry) for entry in as_list(rule.get("route"))]
            weighted = [entry for entry in entries if _weight(entry, len(entries) == 1) > 0]
            pinned = [_label(entry) for entry in weighted if _sets_cookie(entry)]
            loose = [_label(entry) for entry in weighted if not _sets_cookie(entry)]
            if not pinned or not loose:
                continue
            yield Finding.of(
                STICKY_COOKIE_PARTIAL,
                vs.ref,
                f"{where} sets a cookie (Set-Cookie) for {', '.join(pinned)} but not for {', '.join(loose)}: a user "
                "without the cookie is drawn again on every request, and once drawn into a cookie-setting "
                "destination stays there, so users drift toward it far beyond its weight",
                "set a cookie on every weighted destination (e.g. version=v1 on v1 too) and match each cookie on "
                "its own route, or set none",
            )
