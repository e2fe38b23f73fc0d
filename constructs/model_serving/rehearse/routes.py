"""VirtualService HTTP routes -> Envoy routes, following istiod's route/route.go and retry/retry.go
(BuildHTTPRoutesForVirtualService, TranslateRoute, TranslateRouteMatch, ConvertPolicy, ...)."""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from model_serving.rehearse.clusters import cluster_name, consistent_hash, hash_policy
from model_serving.rehearse.common import (
    MIRROR_HEADER,
    Scale,
    fqdn,
    fractional,
    only,
    refuse,
    typed,
    where,
)
from model_serving.rehearse.index import Index

# retry.go: the mesh's default policy when a route sets none.
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
PREVIOUS_HOSTS = {"name": "envoy.retry_host_predicates.previous_hosts",
                  "typed_config": typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate")}
_HTTP_KEYS = {"name", "match", "route", "redirect", "directResponse", "rewrite", "timeout", "retries", "fault",
              "mirror", "mirrorPercentage", "mirrorPercent", "mirrors", "corsPolicy", "headers"}
_MATCH_KEYS = {"name", "uri", "scheme", "method", "authority", "headers", "port", "queryParams", "ignoreUriCase",
               "withoutHeaders", "gateways", "statPrefix"}
_GRPC_STATUS = {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
                "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
                "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13,
                "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16}
# The codes Go's http.StatusText names (Python's HTTPStatus lists the same ones).
_KNOWN_STATUS = frozenset(int(s) for s in HTTPStatus)
_REDIRECT_CODES = {0: "MOVED_PERMANENTLY", 301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER",
                   307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT"}


JWT_CLAIMS = "@request.auth.claims"


@dataclass(frozen=True)
class RouteContext:
    """Where routes are being built: for which listener port, as which gateway(s), over TLS or not."""

    index: Index
    scale: Scale
    gateway_names: frozenset[str]
    listen_port: int
    tls: bool = False


def build_routes(vs: Mapping[str, Any], ctx: RouteContext) -> list[dict[str, Any]]:
    """A VirtualService's routes for one listener, in order; stop after a catch-all
    (istiod: BuildHTTPRoutesForVirtualService)."""
    spec = vs.get("spec") or {}
    only(spec, {"hosts", "gateways", "http", "exportTo", "tcp", "tls"}, f"{where(vs)}: spec")
    if spec.get("tcp") or spec.get("tls"):
        raise refuse(f"{where(vs)}: spec.{'tcp' if spec.get('tcp') else 'tls'}", "TCP and TLS routes are not rehearsed")
    out: list[dict[str, Any]] = []
    for i, http in enumerate(spec.get("http") or []):
        at = f"{where(vs)}: spec.http[{i}]"
        if "delegate" in http:
            raise refuse(f"{at}.delegate", "delegate VirtualServices are not rehearsed")
        only(http, _HTTP_KEYS, at)
        for j, match in enumerate(http.get("match") or [None]):
            route = translate_route(vs, http, match, ctx, at, f"{at}.match[{j}]")
            if route is not None:
                out.append(route)
                if is_catch_all(route):
                    return out
    return out


def translate_route(vs: Mapping[str, Any], http: Mapping[str, Any], match: Mapping[str, Any] | None,
                    ctx: RouteContext, at: str, match_at: str) -> dict[str, Any] | None:
    """One Envoy route for one HTTPRoute and one of its matches, or None when the match is for
    another port or gateway (istiod: TranslateRoute, sourceMatchHTTP)."""
    if match is not None:
        only(match, _MATCH_KEYS, match_at)
        if match.get("port") and int(match["port"]) != ctx.listen_port:
            return None
        if match.get("gateways") and not set(match["gateways"]) & ctx.gateway_names:
            return None
        if any(str(h).startswith(JWT_CLAIMS) for h in match.get("headers") or {}):
            # The rehearsal's clients carry no token, and istiod's claim match needs a validated one.
            ctx.index.note("routes matching JWT claims are left out: rehearsal requests carry no token, so they never match")
            return None
    name = str(http.get("name", ""))
    if match is not None and match.get("name"):
        name = f"{name}.{match['name']}"
    route: dict[str, Any] = {"name": name, "match": translate_match(match, match_at)}
    authority = _apply_headers(route, http.get("headers"), f"{at}.headers")
    if http.get("redirect") is not None:
        route["redirect"] = _redirect(http["redirect"], ctx, f"{at}.redirect")
    elif http.get("directResponse") is not None:
        route["direct_response"] = _direct_response(http["directResponse"], f"{at}.directResponse")
    else:
        route["route"] = _route_action(vs, http, route, authority, ctx, at)
    per_filter: dict[str, Any] = {}
    if http.get("fault") is not None:
        fault = translate_fault(http["fault"], ctx.scale, f"{at}.fault")
        if fault is not None:
            per_filter["envoy.filters.http.fault"] = fault
    if http.get("corsPolicy") is not None:
        per_filter["envoy.filters.http.cors"] = translate_cors(http["corsPolicy"], f"{at}.corsPolicy")
    if per_filter:
        route["typed_per_filter_config"] = per_filter
    return route


def translate_match(match: Mapping[str, Any] | None, at: str) -> dict[str, Any]:
    """Envoy's RouteMatch: headers sorted by name (withoutHeaders inverted), then method, authority
    and scheme, then query parameters; case-sensitive unless ignoreUriCase (TranslateRouteMatch)."""
    out: dict[str, Any] = {"prefix": "/"}
    if match is None:
        return out
    headers = []
    for name, value in (match.get("headers") or {}).items():
        headers.append(_header_matcher(name, value, f"{at}.headers.{name}"))
    for name, value in (match.get("withoutHeaders") or {}).items():
        matcher = _header_matcher(name, value, f"{at}.withoutHeaders.{name}")
        matcher["invert_match"] = True
        if "present_match" not in matcher:
            matcher["treat_missing_header_as_empty"] = True
        headers.append(matcher)
    headers.sort(key=lambda h: h["name"])
    if match.get("uri") is not None:
        out = _path_match(match["uri"], f"{at}.uri")
    out["case_sensitive"] = not match.get("ignoreUriCase", False)
    for field, header in (("method", ":method"), ("authority", ":authority"), ("scheme", ":scheme")):
        if match.get(field) is not None:
            headers.append(_header_matcher(header, match[field], f"{at}.{field}"))
    if headers:
        out["headers"] = headers
    params = [_query_matcher(n, v, f"{at}.queryParams.{n}") for n, v in (match.get("queryParams") or {}).items()]
    if params:
        out["query_parameters"] = params
    return out


def string_matcher(value: Mapping[str, Any], at: str) -> dict[str, Any]:
    """An Istio StringMatch as Envoy's StringMatcher (regex: RE2 through safe_regex)."""
    value = only(value, {"exact", "prefix", "regex"}, at)
    if "exact" in value:
        return {"exact": value["exact"]}
    if "prefix" in value:
        return {"prefix": value["prefix"]}
    if "regex" in value:
        return {"safe_regex": {"regex": value["regex"]}}
    raise refuse(at, "a string match needs exact, prefix or regex", "add one")


def _present(value: Mapping[str, Any] | None) -> bool:
    """istiod's canBeConvertedToPresentMatch: an empty match, or the regex "*", means "is present"."""
    return not value or value.get("regex") == "*"


def _header_matcher(name: str, value: Mapping[str, Any] | None, at: str) -> dict[str, Any]:
    if name.startswith("@request.auth.claims"):
        raise refuse(at, "JWT claim matching is not rehearsed (JWT is not validated)")
    if _present(value):
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": string_matcher(value or {}, at)}


def _query_matcher(name: str, value: Mapping[str, Any] | None, at: str) -> dict[str, Any]:
    if _present(value):
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": string_matcher(value or {}, at)}


def _path_match(uri: Mapping[str, Any], at: str) -> dict[str, Any]:
    uri = only(uri, {"exact", "prefix", "regex"}, at)
    if "exact" in uri:
        return {"path": uri["exact"]}
    if "prefix" in uri:
        return {"prefix": uri["prefix"]}
    if "regex" in uri:
        return {"safe_regex": {"regex": uri["regex"]}}
    raise refuse(at, "a uri match needs exact, prefix or regex", "add one")


def is_catch_all(route: Mapping[str, Any]) -> bool:
    """A route that matches every request: prefix `/` (or regex `.*`), no header or query condition
    (istiod: IsCatchAllRoute)."""
    match = route["match"]
    everything = match.get("prefix") == "/" or (match.get("safe_regex") or {}).get("regex") == ".*"
    return everything and not match.get("headers") and not match.get("query_parameters")


def _header_options(headers: Mapping[str, str] | None, append: bool) -> tuple[list[dict[str, Any]], str]:
    """Header values to add, sorted by name, and any authority they set (translateAppendHeaders)."""
    out: list[dict[str, Any]] = []
    authority = ""
    for key, value in (headers or {}).items():
        if key.lower() in (":authority", "host"):
            authority = str(value)
        if key.startswith(":") or key.lower() == "host":
            continue
        action = "APPEND_IF_EXISTS_OR_ADD" if append else "OVERWRITE_IF_EXISTS_OR_ADD"
        out.append({"header": {"key": key, "value": str(value)}, "append_action": action})
    out.sort(key=lambda h: h["header"]["key"])
    return out, authority


def header_operations(headers: Mapping[str, Any] | None, at: str) -> tuple[dict[str, list[Any]], str]:
    """Istio Headers -> Envoy's four header lists, plus the authority (TranslateHeadersOperations)."""
    headers = only(headers, {"request", "response"}, at)
    request = only(headers.get("request"), {"set", "add", "remove"}, f"{at}.request")
    response = only(headers.get("response"), {"set", "add", "remove"}, f"{at}.response")
    req_set, set_authority = _header_options(request.get("set"), append=False)
    req_add, add_authority = _header_options(request.get("add"), append=True)
    resp_set, _ = _header_options(response.get("set"), append=False)
    resp_add, _ = _header_options(response.get("add"), append=True)
    keep = [h for h in request.get("remove") or [] if not h.startswith(":") and h.lower() != "host"]
    keep_resp = [h for h in response.get("remove") or [] if not h.startswith(":") and h.lower() != "host"]
    ops = {"request_headers_to_add": req_set + req_add, "response_headers_to_add": resp_set + resp_add,
           "request_headers_to_remove": keep, "response_headers_to_remove": keep_resp}
    return ops, set_authority or add_authority


def _apply_headers(target: dict[str, Any], headers: Mapping[str, Any] | None, at: str) -> str:
    """Append header operations to a route or cluster weight; return the authority they set."""
    if headers is None:
        return ""
    ops, authority = header_operations(headers, at)
    for key, values in ops.items():
        if values:
            target[key] = [*target.get(key, []), *values]
    return authority


def _route_action(vs: Mapping[str, Any], http: Mapping[str, Any], route: dict[str, Any], authority: str,
                  ctx: RouteContext, at: str) -> dict[str, Any]:
    """Timeout, rewrite, mirrors, destinations and retries (istiod: applyHTTPRouteDestination)."""
    action: dict[str, Any] = {}
    timeout = ctx.scale.duration(http.get("timeout"), f"{at}.timeout") if http.get("timeout") else None
    # istiod's default is no timeout at all (0s), not Envoy's 15 s (setTimeout).
    action["timeout"] = timeout or "0s"
    action["max_grpc_timeout"] = action["timeout"]
    authority = _rewrite(action, http.get("rewrite"), f"{at}.rewrite") or authority
    if authority:
        action["host_rewrite_literal"] = authority
    mirrors = _mirrors(vs, http, ctx, at)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    destinations = http.get("route") or []
    if not destinations:
        raise refuse(f"{at}.route", "a route needs destinations, a redirect or a directResponse", "add one")
    hashed = _destinations(vs, destinations, route, action, ctx, at)
    retry = retry_policy(http.get("retries"), hashed, ctx.scale, f"{at}.retries")
    if retry is not None:
        action["retry_policy"] = retry
    return action


def _rewrite(action: dict[str, Any], rewrite: Mapping[str, Any] | None, at: str) -> str:
    """uri -> prefix_rewrite, uriRegexRewrite -> regex_rewrite; returns a rewritten authority."""
    if rewrite is None:
        return ""
    rewrite = only(rewrite, {"uri", "authority", "uriRegexRewrite"}, at)
    if rewrite.get("uriRegexRewrite"):
        regex = only(rewrite["uriRegexRewrite"], {"match", "rewrite"}, f"{at}.uriRegexRewrite")
        action["regex_rewrite"] = {"pattern": {"regex": regex["match"]}, "substitution": regex.get("rewrite", "")}
    elif rewrite.get("uri"):
        action["prefix_rewrite"] = rewrite["uri"]
    return str(rewrite.get("authority") or "")


def destination_cluster(vs: Mapping[str, Any], destination: Mapping[str, Any], ctx: RouteContext, at: str) -> str:
    """The cluster a destination names: its port, else the Service's only port, else the listener's
    port (istiod: GetDestinationCluster)."""
    destination = only(destination, {"host", "subset", "port"}, at)
    namespace = vs["metadata"].get("namespace", "default")
    host = fqdn(str(destination["host"]), namespace)
    service = ctx.index.services.get(host)
    port = (destination.get("port") or {}).get("number")
    if port is None:
        port = service.ports[0].number if service is not None and len(service.ports) == 1 else ctx.listen_port
    return cluster_name(int(port), str(destination.get("subset", "")), host)


def _destinations(vs: Mapping[str, Any], destinations: list[Mapping[str, Any]], route: dict[str, Any],
                  action: dict[str, Any], ctx: RouteContext, at: str) -> bool:
    """A single cluster, or weighted clusters without the weight-0 ones; returns whether a
    consistent hash applies (only for a single destination, as in istiod)."""
    namespace = vs["metadata"].get("namespace", "default")
    hashes = []
    if len(destinations) == 1:
        dest = only(destinations[0], {"destination", "weight", "headers"}, f"{at}.route[0]")
        action["cluster"] = destination_cluster(vs, dest["destination"], ctx, f"{at}.route[0].destination")
        authority = _apply_headers(route, dest.get("headers"), f"{at}.route[0].headers")
        if authority and "host_rewrite_literal" not in action:
            action["host_rewrite_literal"] = authority
        hashes.append(_hash_for(dest["destination"], namespace, ctx))
    else:
        weighted = []
        for i, dest in enumerate(destinations):
            dest = only(dest, {"destination", "weight", "headers"}, f"{at}.route[{i}]")
            if not dest.get("weight"):
                continue  # istiod drops weight-0 destinations of a split
            entry: dict[str, Any] = {"name": destination_cluster(vs, dest["destination"], ctx, f"{at}.route[{i}]"),
                                     "weight": int(dest["weight"])}
            authority = _apply_headers(entry, dest.get("headers"), f"{at}.route[{i}].headers")
            if authority:
                entry["host_rewrite_literal"] = authority
            weighted.append(entry)
            hashes.append(_hash_for(dest["destination"], namespace, ctx))
        if not weighted:
            raise refuse(f"{at}.route", "every destination of the split has weight 0", "give one a weight")
        action["weighted_clusters"] = {"clusters": weighted}
    policies = [h for h in hashes if h is not None]
    if policies:
        action["hash_policy"] = policies
    return len(destinations) == 1 and bool(policies)


def _hash_for(destination: Mapping[str, Any], namespace: str, ctx: RouteContext) -> dict[str, Any] | None:
    host = fqdn(str(destination["host"]), namespace)
    port = (destination.get("port") or {}).get("number")
    return hash_policy(consistent_hash(ctx.index, host, destination.get("subset"), port))


def retry_policy(retries: Mapping[str, Any] | None, hashed: bool, scale: Scale, at: str) -> dict[str, Any] | None:
    """istiod's ConvertPolicy: no `retries` means the mesh default (2 retries on connection-level
    failures, other hosts preferred); attempts 0 means none. `attempts` is the number of retries."""
    policy: dict[str, Any] = {"retry_on": DEFAULT_RETRY_ON, "num_retries": 2, "host_selection_retry_max_attempts": 5}
    if not hashed:  # a consistent hash must not move a retry to another host
        policy["retry_host_predicate"] = [PREVIOUS_HOSTS]
    if retries is None:
        return policy
    retries = only(retries, {"attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities",
                             "retryIgnorePreviousHosts", "backoff"}, at)
    if int(retries.get("attempts") or 0) <= 0:
        return None
    policy["num_retries"] = int(retries["attempts"])
    if retries.get("retryOn"):
        conditions, codes = _parse_retry_on(str(retries["retryOn"]))
        if codes and "retriable-status-codes" not in conditions:
            conditions.append("retriable-status-codes")
        policy["retry_on"] = ",".join(conditions)
        if codes:
            policy["retriable_status_codes"] = codes
    if retries.get("perTryTimeout"):
        policy["per_try_timeout"] = scale.duration(retries["perTryTimeout"], f"{at}.perTryTimeout")
    if retries.get("retryIgnorePreviousHosts") is not None:
        if retries["retryIgnorePreviousHosts"]:
            policy["retry_host_predicate"] = [PREVIOUS_HOSTS]
        else:
            policy.pop("retry_host_predicate", None)
    if retries.get("retryRemoteLocalities"):
        policy["retry_priority"] = {"name": "envoy.retry_priorities.previous_priorities", "typed_config": typed(
            "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", update_frequency=2)}
    if retries.get("backoff"):
        policy["retry_back_off"] = {"base_interval": scale.duration(retries["backoff"], f"{at}.backoff")}
    return policy


def _parse_retry_on(text: str) -> tuple[list[str], list[int]]:
    """Split retryOn into Envoy conditions and HTTP status codes (istiod: parseRetryOn). Only a
    number Go's http.StatusText knows is a status code; any other stays a retry condition, as in
    istiod's output."""
    conditions, codes = [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.isdigit() and int(part) in _KNOWN_STATUS:
            codes.append(int(part))
        else:
            conditions.append(part)
    return conditions, codes


def _mirrors(vs: Mapping[str, Any], http: Mapping[str, Any], ctx: RouteContext, at: str) -> list[dict[str, Any]]:
    """`mirror` (+ mirrorPercentage / mirrorPercent, 100 % by default) and each of `mirrors`;
    an explicit 0 % mirrors nothing (istiod: MirrorPercent, MirrorPercentByPolicy)."""
    out = []
    if http.get("mirror") is not None:
        if http.get("mirrorPercentage") is not None:
            percent = float(only(http["mirrorPercentage"], {"value"}, f"{at}.mirrorPercentage").get("value", 0))
        elif http.get("mirrorPercent") is not None:
            percent = float(http["mirrorPercent"])
        else:
            percent = 100.0
        if percent > 0:
            out.append(_mirror_policy(destination_cluster(vs, http["mirror"], ctx, f"{at}.mirror"), percent))
    for i, mirror in enumerate(http.get("mirrors") or []):
        mirror = only(mirror, {"destination", "percentage"}, f"{at}.mirrors[{i}]")
        percentage = mirror.get("percentage")
        percent = 100.0 if percentage is None else float(percentage.get("value", 0))
        if percent > 0 and mirror.get("destination"):
            cluster = destination_cluster(vs, mirror["destination"], ctx, f"{at}.mirrors[{i}].destination")
            out.append(_mirror_policy(cluster, percent))
    return out


def _mirror_policy(cluster: str, percent: float) -> dict[str, Any]:
    """istiod's TranslateRequestMirrorPolicy. DISABLE_SHADOW_HOST_SUFFIX defaults to true in
    Istio 1.30, so the mirrored copy keeps the original Host (Envoy would otherwise append
    `-shadow`); the rehearsal adds its own marker header so stand-ins can count the copies."""
    return {"cluster": cluster, "runtime_fraction": {"default_value": fractional(percent)},
            "trace_sampled": False, "disable_shadow_host_suffix_append": True,
            "request_headers_mutations": [{"append": {"header": {"key": MIRROR_HEADER, "value": "1"},
                                                      "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}]}


def _redirect(redirect: Mapping[str, Any], ctx: RouteContext, at: str) -> dict[str, Any]:
    """istiod's ApplyRedirect: path, authority, scheme, port (derived from the request's listener
    port when asked, never an explicit :80 for http or :443 for https) and the status code."""
    redirect = only(redirect, {"uri", "authority", "port", "derivePort", "scheme", "redirectCode"}, at)
    code = int(redirect.get("redirectCode") or 0)
    if code not in _REDIRECT_CODES:
        raise refuse(f"{at}.redirectCode", f"{code} is not a redirect istiod supports", "use 301, 302, 303, 307 or 308")
    out: dict[str, Any] = {"response_code": _REDIRECT_CODES[code]}
    if redirect.get("uri"):
        out["path_redirect"] = redirect["uri"]
    if redirect.get("authority"):
        out["host_redirect"] = redirect["authority"]
    if redirect.get("scheme"):
        out["scheme_redirect"] = redirect["scheme"]
    port = None
    if redirect.get("derivePort") == "FROM_REQUEST_PORT":
        port = ctx.listen_port
    elif redirect.get("port"):
        port = int(redirect["port"])
    if port is not None:
        scheme = redirect.get("scheme") or ("https" if ctx.tls else "http")
        if not ((port == 80 and scheme == "http") or (port == 443 and scheme == "https")):
            out["port_redirect"] = port
    return out


def _direct_response(direct: Mapping[str, Any], at: str) -> dict[str, Any]:
    direct = only(direct, {"status", "body"}, at)
    out: dict[str, Any] = {"status": int(direct["status"])}
    body = only(direct.get("body"), {"string", "bytes"}, f"{at}.body")
    if "string" in body:
        out["body"] = {"inline_string": body["string"]}
    elif "bytes" in body:
        out["body"] = {"inline_bytes": base64.b64encode(base64.b64decode(body["bytes"])).decode()}
    return out


def translate_fault(fault: Mapping[str, Any], scale: Scale, at: str) -> dict[str, Any] | None:
    """HTTPFaultInjection -> Envoy's per-route HTTPFault (istiod: TranslateFault). Without a
    percentage, an abort never fires; a delay uses the deprecated integer `percent` (0 if unset)."""
    fault = only(fault, {"delay", "abort"}, at)
    out: dict[str, Any] = {}
    if fault.get("delay") is not None:
        delay = only(fault["delay"], {"fixedDelay", "percentage", "percent", "exponentialDelay"}, f"{at}.delay")
        if delay.get("exponentialDelay") is not None:
            raise refuse(f"{at}.delay.exponentialDelay", "istiod does not translate exponential delays")
        percentage = (fractional(float(delay["percentage"].get("value", 0))) if delay.get("percentage") is not None
                      else {"numerator": int(delay.get("percent") or 0), "denominator": "HUNDRED"})
        out["delay"] = {"fixed_delay": scale.duration(delay.get("fixedDelay", "0s"), f"{at}.delay.fixedDelay"),
                        "percentage": percentage}
    if fault.get("abort") is not None:
        out["abort"] = _abort(fault["abort"], f"{at}.abort")
    return typed("envoy.extensions.filters.http.fault.v3.HTTPFault", **out) if out else None


def _abort(abort: Mapping[str, Any], at: str) -> dict[str, Any]:
    abort = only(abort, {"httpStatus", "grpcStatus", "percentage"}, at)
    out: dict[str, Any] = {}
    if abort.get("percentage") is not None:
        out["percentage"] = fractional(float(abort["percentage"].get("value", 0)))
    if abort.get("httpStatus") is not None:
        out["http_status"] = int(abort["httpStatus"])
    elif abort.get("grpcStatus") is not None:
        if abort["grpcStatus"] not in _GRPC_STATUS:
            raise refuse(f"{at}.grpcStatus", f"unknown gRPC status {abort['grpcStatus']!r}", "use e.g. UNAVAILABLE")
        out["grpc_status"] = _GRPC_STATUS[abort["grpcStatus"]]
    else:
        raise refuse(at, "an abort needs httpStatus or grpcStatus", "add one")
    return out


def translate_cors(cors: Mapping[str, Any], at: str) -> dict[str, Any]:
    """CorsPolicy -> Envoy's per-route CORS policy, always enabled (istiod: TranslateCORSPolicy).
    maxAge only becomes a response header, so it is not time-scaled."""
    cors = only(cors, {"allowOrigins", "allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge",
                       "allowCredentials", "unmatchedPreflights"}, at)
    out: dict[str, Any] = {"filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                           "forward_not_matching_preflights": cors.get("unmatchedPreflights") != "IGNORE"}
    if cors.get("allowOrigins") is not None:
        out["allow_origin_string_match"] = [string_matcher(m, f"{at}.allowOrigins[{i}]")
                                            for i, m in enumerate(cors["allowOrigins"])]
    elif cors.get("allowOrigin") is not None:
        out["allow_origin_string_match"] = [{"exact": o} for o in cors["allowOrigin"]]
    if cors.get("allowCredentials") is not None:
        out["allow_credentials"] = bool(cors["allowCredentials"])
    for key, field in (("allow_headers", "allowHeaders"), ("allow_methods", "allowMethods"),
                       ("expose_headers", "exposeHeaders")):
        if cors.get(field):
            out[key] = ",".join(cors[field])
    if cors.get("maxAge"):
        out["max_age"] = str(int(Scale().seconds(cors["maxAge"], f"{at}.maxAge") or 0))
    return typed("envoy.extensions.filters.http.cors.v3.CorsPolicy", **out)
