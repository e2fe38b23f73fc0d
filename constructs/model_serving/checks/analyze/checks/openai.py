"""Routes for OpenAI-style clients: how streaming is told apart, and routing by model name.

Our OpenAI endpoint routes on the `x-model-serving-model` request header, which a TrafficExtension
(a Lua filter on the ingress gateway) copies from the `model` field of the JSON body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..findings import (
    MODEL_HEADER_NEVER_SET,
    MODEL_LIST_ROUTE_MISSING,
    MODEL_NAME_COLLISION,
    STREAMING_MATCH_ON_ACCEPT,
    Finding,
)
from ..index import MESH_GATEWAY, ROOT_NAMESPACE, Index, Resource, as_dict, as_list, fqdn, string_list
from .routing import gateway_key

MODEL_HEADER: Final = "x-model-serving-model"
MODELS_PATH: Final = "/v1/models"
EVENT_STREAM: Final = "text/event-stream"


def _http_matches(vs: Resource) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(`http[0].match[1]`, rule, match) for every match of every http rule."""
    for number, rule in enumerate(as_list(vs.spec.get("http"))):
        rule = as_dict(rule)
        for match_number, match in enumerate(as_list(rule.get("match"))):
            yield f"http[{number}].match[{match_number}]", rule, as_dict(match)


def _header(match: dict[str, Any], name: str, field: str = "headers") -> dict[str, Any]:
    """The StringMatch a match's `headers` (or `withoutHeaders`) sets for request header `name`
    (header names are case-insensitive)."""
    for key, value in as_dict(match.get(field)).items():
        if str(key).lower() == name:
            return as_dict(value)
    return {}


def check_streaming_accept_match(index: Index) -> Iterator[Finding]:
    """Streaming is not told apart by `accept: text/event-stream`, which OpenAI SDKs do not send."""
    effects = {
        "headers": "their streaming requests never match this route and take the next one",
        "withoutHeaders": "their streaming requests match this route, meant for whole responses",
    }
    for vs in index.virtual_services:
        for where, _, match in _http_matches(vs):
            for field, effect in effects.items():
                accept = _header(match, "accept", field)
                kinds = [kind for kind, value in accept.items() if isinstance(value, str) and EVENT_STREAM in value]
                if kinds:
                    yield _streaming_finding(vs, f"{where}.{field}", f"{kinds[0]} {accept[kinds[0]]!r}", effect)


def _streaming_finding(vs: Resource, where: str, value: str, effect: str) -> Finding:
    return Finding.of(
        STREAMING_MATCH_ON_ACCEPT,
        vs.ref,
        f"{where} keys on header accept {value}, but OpenAI SDKs ask for a stream with \"stream\": true in "
        f"the JSON body and send Accept: application/json, so {effect} (with its timeouts and retries)",
        "do not tell streams apart by Accept: give the shared route settings that suit streams too, or "
        f"route on a header your gateway derives from the body (as for {MODEL_HEADER})",
    )


def _model_matches(vs: Resource) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, rule, StringMatch) for every match on the model header."""
    for where, rule, match in _http_matches(vs):
        header = _header(match, MODEL_HEADER)
        if header:
            yield where, rule, header


def _filter_namespaces(vs: Resource) -> list[str]:
    """Where a TrafficExtension setting the header for `vs` can live: its Gateways' namespaces (its
    own namespace if it is bound to the mesh only), or the root namespace, whose extensions apply
    to every proxy."""
    gateways = [ref for ref in string_list(vs.spec.get("gateways")) if ref != MESH_GATEWAY]
    namespaces = {gateway_key(ref, vs.namespace).split("/")[0] for ref in gateways} or {vs.namespace}
    return sorted(namespaces | {ROOT_NAMESPACE})


def check_model_header_is_set(index: Index) -> Iterator[Finding]:
    """A route on the model header has a TrafficExtension that sets the header where its gateway runs."""
    present = {extension.namespace for extension in index.traffic_extensions}
    for vs in index.virtual_services:
        matches = [where for where, _, _ in _model_matches(vs)]
        namespaces = _filter_namespaces(vs)
        if not matches or present & set(namespaces):
            continue
        yield Finding.of(
            MODEL_HEADER_NEVER_SET,
            vs.ref,
            f"routes on header {MODEL_HEADER} ({', '.join(matches)}), but no TrafficExtension (extensions.istio.io) in "
            f"namespace {' or '.join(namespaces)} sets it from the JSON body's model field: no request carries it, "
            "so every request falls to the default route",
            f"deploy the TrafficExtension (Lua) that copies the body's model into {MODEL_HEADER} in the gateway's "
            "namespace, next to this VirtualService's Gateway",
        )


def _hosts(vs: Resource) -> list[str]:
    return sorted({fqdn(host, vs.namespace) for host in string_list(vs.spec.get("hosts"))})


def _lists_models(vs: Resource) -> bool:
    """True if some http match sends GET /v1/models (uri exact, or prefix /v1/models; any or GET method)."""
    for _, _, match in _http_matches(vs):
        uri, method = as_dict(match.get("uri")), as_dict(match.get("method"))
        if MODELS_PATH in (uri.get("exact"), uri.get("prefix")) and method.get("exact", "GET") == "GET":
            return True
    return False


def check_model_list_route(index: Index) -> Iterator[Finding]:
    """A host routed by the model header also routes GET /v1/models, which carries no model to route by."""
    listing = {host for vs in index.virtual_services if _lists_models(vs) for host in _hosts(vs)}
    for vs in index.virtual_services:
        if not any(True for _ in _model_matches(vs)):
            continue
        missing = [host for host in _hosts(vs) if host not in listing]
        if not missing:
            continue
        yield Finding.of(
            MODEL_LIST_ROUTE_MISSING,
            vs.ref,
            f"routes by header {MODEL_HEADER}, but no VirtualService routes GET {MODELS_PATH} (uri exact or prefix) on "
            f"{', '.join(missing)}: a GET has no body, hence no model header, so {MODELS_PATH} falls to the default "
            "route and clients see only the default model server's own model",
            f"add a route matching uri exact {MODELS_PATH} (method GET) to the service that lists every model "
            "served on this host",
        )


def _destination_set(vs: Resource, rule: dict[str, Any]) -> frozenset[str]:
    """The rule's route destinations as `host[ subset][:port]` strings (host as FQDN)."""
    found = set()
    for entry in as_list(rule.get("route")):
        destination = as_dict(as_dict(entry).get("destination"))
        host, subset, port = destination.get("host"), destination.get("subset"), as_dict(destination.get("port")).get("number")
        if isinstance(host, str) and host:
            found.add(f"{fqdn(host, vs.namespace)}{f' subset {subset}' if subset else ''}{f':{port}' if port else ''}")
    return frozenset(found)


def check_model_name_collisions(index: Index) -> Iterator[Finding]:
    """One model name (exact header value) leads to one destination per host."""
    routes: dict[tuple[str, str], dict[frozenset[str], list[tuple[Resource, str]]]] = {}
    for vs in index.virtual_services:
        for where, rule, header in _model_matches(vs):
            value = header.get("exact")
            if not isinstance(value, str):
                continue
            for host in _hosts(vs):
                routes.setdefault((host, value), {}).setdefault(_destination_set(vs, rule), []).append((vs, where))
    for (host, value), by_destination in sorted(routes.items()):
        if len(by_destination) < 2:
            continue
        # Sorted, so the message does not depend on the order of the input files.
        described = "; ".join(
            sorted(
                f"{', '.join(sorted(f'{vs.key} {where}' for vs, where in users))} -> {', '.join(sorted(targets)) or 'nothing'}"
                for targets, users in by_destination.items()
            )
        )
        for users in by_destination.values():
            for vs, _ in users:
                yield Finding.of(
                    MODEL_NAME_COLLISION,
                    vs.ref,
                    f'model "{value}" on host {host} is routed to different destinations ({described}): only the '
                    "first matching route is used, so the other model cannot be reached by that name",
                    "give each model a unique name on the host, or route every match of that name to the same destination",
                )
