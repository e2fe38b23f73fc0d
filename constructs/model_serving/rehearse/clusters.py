"""DestinationRules -> Envoy clusters, as istiod's cluster builder and cluster_traffic_policy.go
make them: one `outbound|<port>||<fqdn>` cluster per Service port plus one
`outbound|<port>|<subset>|<fqdn>` per subset, each with the merged traffic policy applied."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model_serving.rehearse.common import (
    Scale,
    envoy_duration,
    only,
    refuse,
    typed,
    where,
)
from model_serving.rehearse.index import MTLS_NOTE, Index, Service, ServicePort

MAX_UINT32 = 4294967295
# MeshConfig.connectTimeout's default; not from the manifests, so not scaled.
MESH_CONNECT_TIMEOUT = "10s"
_POLICY_KEYS = {"connectionPool", "loadBalancer", "outlierDetection", "tls", "portLevelSettings", "retryBudget"}
_PORT_POLICY_KEYS = {"port", "connectionPool", "loadBalancer", "outlierDetection", "tls"}


def cluster_name(port: int, subset: str, host: str) -> str:
    """istiod's cluster name (model.BuildSubsetKey): `outbound|<port>|<subset>|<host>`."""
    return f"outbound|{port}|{subset}|{host}"


def build_clusters(index: Index, scale: Scale) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Every cluster, and the replica keys each one's endpoints come from."""
    clusters: list[dict[str, Any]] = []
    members: dict[str, list[str]] = {}
    for service in index.services.values():
        rule = index.destination_rules.get(service.host)
        spec = (rule or {}).get("spec") or {}
        at = where(rule) if rule else ""
        for port in service.ports:
            if port.protocol in ("http2", "grpc"):
                # istiod (setUpstreamProtocol) talks HTTP/2 to these ports; the stand-ins speak HTTP/1.1.
                index.note(f"Service {service.namespace}/{service.name} port {port.number} ({port.protocol}): "
                           "upstream HTTP/2 is not rehearsed; requests reach the stand-ins over HTTP/1.1")
            policy = port_policy(spec.get("trafficPolicy"), port.number, f"{at}: spec.trafficPolicy")
            name = cluster_name(port.number, "", service.host)
            clusters.append(_cluster(name, policy, index, scale, at))
            members[name] = [r.key for r in index.endpoints(service)]
            for i, subset in enumerate(spec.get("subsets") or []):
                sat = f"{at}: spec.subsets[{i}]"
                only(subset, {"name", "labels", "trafficPolicy"}, sat)
                merged = merge_subset_policy(policy, subset.get("trafficPolicy"), port.number, f"{sat}.trafficPolicy")
                name = cluster_name(port.number, subset["name"], service.host)
                clusters.append(_cluster(name, merged, index, scale, sat))
                members[name] = [r.key for r in index.endpoints(service, subset.get("labels") or {})]
    return clusters, members


def port_policy(policy: Mapping[str, Any] | None, port: int, at: str) -> dict[str, Any] | None:
    """The policy for one port: a matching portLevelSettings entry replaces the four per-port
    fields wholesale, inheriting nothing (istiod: GetPortLevelTrafficPolicy)."""
    if policy is None:
        return None
    only(policy, _POLICY_KEYS, at)
    for i, setting in enumerate(policy.get("portLevelSettings") or []):
        only(setting, _PORT_POLICY_KEYS, f"{at}.portLevelSettings[{i}]")
        if (setting.get("port") or {}).get("number") == port:
            return {k: setting[k] for k in ("connectionPool", "loadBalancer", "outlierDetection", "tls") if k in setting}
    return {k: v for k, v in policy.items() if k != "portLevelSettings"}


def merge_subset_policy(policy: dict[str, Any] | None, subset: Mapping[str, Any] | None, port: int,
                        at: str) -> dict[str, Any] | None:
    """A subset's policy over the rule's: each field the subset sets (or all four, when the subset
    has port-level settings for this port) replaces the rule's (istiod: MergeSubsetTrafficPolicy)."""
    if subset is None:
        return policy
    has_port_level = any((s.get("port") or {}).get("number") == port for s in subset.get("portLevelSettings") or [])
    own = port_policy(subset, port, at) or {}
    if policy is None:
        return own
    merged = dict(policy)
    for key in ("connectionPool", "outlierDetection", "loadBalancer", "tls"):
        if key in own or has_port_level:
            merged[key] = own.get(key)
    if "retryBudget" in own:
        merged["retryBudget"] = own["retryBudget"]
    return merged


def _cluster(name: str, policy: Mapping[str, Any] | None, index: Index, scale: Scale, at: str) -> dict[str, Any]:
    """One cluster with the traffic policy applied (istiod: applyTrafficPolicy)."""
    policy = policy or {}
    cluster: dict[str, Any] = {"name": name, "type": "STATIC", "connect_timeout": MESH_CONNECT_TIMEOUT,
                               "common_lb_config": {}}
    _connection_pool(cluster, policy.get("connectionPool") or {}, policy.get("retryBudget"), scale, f"{at}.connectionPool")
    _outlier_detection(cluster, policy.get("outlierDetection"), scale, f"{at}.outlierDetection")
    _load_balancer(cluster, policy.get("loadBalancer"), scale, f"{at}.loadBalancer")
    _tls(policy.get("tls"), index, f"{at}.tls")
    return cluster


def _connection_pool(cluster: dict[str, Any], pool: Mapping[str, Any], budget: Mapping[str, Any] | None,
                     scale: Scale, at: str) -> None:
    """Circuit-breaker thresholds (unlimited unless set) and per-connection limits (applyConnectionPool)."""
    only(pool, {"tcp", "http"}, at)
    tcp = only(pool.get("tcp"), {"maxConnections", "connectTimeout", "maxConnectionDuration", "idleTimeout",
                                 "tcpKeepalive"}, f"{at}.tcp")
    http = only(pool.get("http"), {"http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection",
                                   "maxRetries", "idleTimeout", "h2UpgradePolicy", "useClientProtocol"}, f"{at}.http")
    threshold: dict[str, Any] = {"max_connections": MAX_UINT32, "max_pending_requests": MAX_UINT32,
                                 "max_requests": MAX_UINT32, "max_retries": MAX_UINT32}
    sources = (("max_requests", http.get("http2MaxRequests")), ("max_pending_requests", http.get("http1MaxPendingRequests")),
               ("max_retries", http.get("maxRetries")), ("max_connections", tcp.get("maxConnections")))
    for key, source in sources:
        if source and int(source) > 0:  # istiod cannot tell 0 from unset: 0 keeps the default
            threshold[key] = int(source)
    if budget is not None:
        only(budget, {"percent", "minRetryConcurrency"}, f"{at[: -len('.connectionPool')]}.retryBudget")
        threshold["retry_budget"] = {"budget_percent": {"value": float((budget.get("percent") or {}).get("value", 20.0))},
                                     "min_retry_concurrency": int(budget.get("minRetryConcurrency") or 3)}
    cluster["circuit_breakers"] = {"thresholds": [threshold]}
    if tcp.get("connectTimeout"):
        cluster["connect_timeout"] = scale.duration(tcp["connectTimeout"], f"{at}.tcp.connectTimeout")
    if tcp.get("tcpKeepalive"):
        _keepalive(cluster, tcp["tcpKeepalive"], scale, f"{at}.tcp.tcpKeepalive")
    _protocol_options(cluster, tcp, http, scale, at)


def _keepalive(cluster: dict[str, Any], keepalive: Mapping[str, Any], scale: Scale, at: str) -> None:
    only(keepalive, {"probes", "time", "interval"}, at)
    options: dict[str, Any] = {}
    if keepalive.get("probes"):
        options["keepalive_probes"] = int(keepalive["probes"])
    for key, field in (("keepalive_time", "time"), ("keepalive_interval", "interval")):
        if keepalive.get(field):
            options[key] = max(1, round(scale.seconds(keepalive[field], f"{at}.{field}") or 0))
    cluster["upstream_connection_options"] = {"tcp_keepalive": options}


def _protocol_options(cluster: dict[str, Any], tcp: Mapping[str, Any], http: Mapping[str, Any], scale: Scale,
                      at: str) -> None:
    """Idle timeout, requests per connection, connection lifetime: HttpProtocolOptions."""
    policy = http.get("h2UpgradePolicy", "DEFAULT")
    if policy not in ("DEFAULT", "DO_NOT_UPGRADE"):
        raise refuse(f"{at}.http.h2UpgradePolicy", f"{policy}: HTTP/2 to the stand-ins is not rehearsed")
    common: dict[str, Any] = {}
    idle = http.get("idleTimeout") or tcp.get("idleTimeout")
    if idle:
        common["idle_timeout"] = scale.duration(idle, f"{at}.http.idleTimeout")
    if http.get("maxRequestsPerConnection"):
        common["max_requests_per_connection"] = int(http["maxRequestsPerConnection"])
    if tcp.get("maxConnectionDuration"):
        common["max_connection_duration"] = scale.duration(tcp["maxConnectionDuration"], f"{at}.tcp.maxConnectionDuration")
    if not common and not http.get("useClientProtocol"):
        return
    options: dict[str, Any] = {"common_http_protocol_options": common}
    if http.get("useClientProtocol"):
        options["use_downstream_protocol_config"] = {"http_protocol_options": {}, "http2_protocol_options": {}}
    else:
        options["explicit_http_config"] = {"http_protocol_options": {}}
    cluster["typed_extension_protocol_options"] = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", **options)}


def _outlier_detection(cluster: dict[str, Any], outlier: Mapping[str, Any] | None, scale: Scale, at: str) -> None:
    """istiod's applyOutlierDetection, field for field: success-rate ejection off; each consecutive
    counter that is set gets `enforcing_* = 100` when above 0 (else 0); local-origin errors are
    split only on request; the panic threshold becomes minHealthPercent (0 unless set)."""
    if outlier is None:
        return
    only(outlier, {"consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime",
                   "maxEjectionPercent", "minHealthPercent", "splitExternalLocalOriginErrors",
                   "consecutiveLocalOriginFailures"}, at)
    out: dict[str, Any] = {"enforcing_success_rate": 0}
    for count, enforcing, field in (("consecutive_5xx", "enforcing_consecutive_5xx", "consecutive5xxErrors"),
                                    ("consecutive_gateway_failure", "enforcing_consecutive_gateway_failure",
                                     "consecutiveGatewayErrors")):
        if outlier.get(field) is not None:
            out[count] = int(outlier[field])
            out[enforcing] = 100 if int(outlier[field]) > 0 else 0
    for key, field in (("interval", "interval"), ("base_ejection_time", "baseEjectionTime")):
        if outlier.get(field):
            out[key] = scale.duration(outlier[field], f"{at}.{field}")
    if int(outlier.get("maxEjectionPercent") or 0) > 0:
        out["max_ejection_percent"] = int(outlier["maxEjectionPercent"])
    if outlier.get("splitExternalLocalOriginErrors"):
        out["split_external_local_origin_errors"] = True
        if int(outlier.get("consecutiveLocalOriginFailures") or 0) > 0:
            out["consecutive_local_origin_failure"] = int(outlier["consecutiveLocalOriginFailures"])
            out["enforcing_consecutive_local_origin_failure"] = 100
        out["enforcing_local_origin_success_rate"] = 0
    cluster["outlier_detection"] = out
    cluster["common_lb_config"]["healthy_panic_threshold"] = {"value": float(outlier.get("minHealthPercent") or 0)}


def _load_balancer(cluster: dict[str, Any], lb: Mapping[str, Any] | None, scale: Scale, at: str) -> None:
    """LEAST_REQUEST unless told otherwise; consistent hashing as a ring hash (1024 entries) or
    Maglev (istiod: applyLoadBalancer, ApplyRingHashLoadBalancer)."""
    lb = only(lb, {"simple", "consistentHash", "warmupDurationSecs", "warmup"}, at)
    simple = lb.get("simple", "LEAST_REQUEST")
    policies = {"LEAST_REQUEST": "LEAST_REQUEST", "LEAST_CONN": "LEAST_REQUEST", "ROUND_ROBIN": "ROUND_ROBIN",
                "RANDOM": "RANDOM", "UNSPECIFIED": "LEAST_REQUEST"}
    if simple not in policies:
        raise refuse(f"{at}.simple", f"{simple} is not rehearsed (stand-ins have no original destination)")
    cluster["lb_policy"] = policies[simple]
    slow_start = _slow_start(lb, scale, at)
    if slow_start and cluster["lb_policy"] in ("LEAST_REQUEST", "ROUND_ROBIN"):
        key = "least_request_lb_config" if cluster["lb_policy"] == "LEAST_REQUEST" else "round_robin_lb_config"
        cluster[key] = {"slow_start_config": slow_start}
    hashing = lb.get("consistentHash")
    if hashing is None:
        return
    hashing = only(hashing, {"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName", "ringHash",
                             "maglev", "minimumRingSize"}, f"{at}.consistentHash")
    cluster.pop("least_request_lb_config", None)
    cluster.pop("round_robin_lb_config", None)
    if hashing.get("maglev") is not None:
        cluster["lb_policy"] = "MAGLEV"
        if (hashing["maglev"] or {}).get("tableSize"):
            cluster["maglev_lb_config"] = {"table_size": int(hashing["maglev"]["tableSize"])}
    elif hashing.get("ringHash") is not None:
        cluster["lb_policy"] = "RING_HASH"
        if (hashing["ringHash"] or {}).get("minimumRingSize"):
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": int(hashing["ringHash"]["minimumRingSize"])}
    else:
        cluster["lb_policy"] = "RING_HASH"
        cluster["ring_hash_lb_config"] = {"minimum_ring_size": int(hashing.get("minimumRingSize") or 1024)}


def _slow_start(lb: Mapping[str, Any], scale: Scale, at: str) -> dict[str, Any] | None:
    """Warm-up of new endpoints (istiod: setWarmup, setSlowStartConfig)."""
    if lb.get("warmup"):
        warmup = only(lb["warmup"], {"duration", "minimumPercent", "aggression"}, f"{at}.warmup")
        return {"slow_start_window": scale.duration(warmup.get("duration"), f"{at}.warmup.duration"),
                "aggression": {"default_value": float(warmup.get("aggression", 1.0)), "runtime_key": "("},
                "min_weight_percent": {"value": float(warmup.get("minimumPercent", 10.0))}}
    if lb.get("warmupDurationSecs"):
        return {"slow_start_window": scale.duration(lb["warmupDurationSecs"], f"{at}.warmupDurationSecs")}
    return None


def _tls(tls: Mapping[str, Any] | None, index: Index, at: str) -> None:
    """Upstream TLS is not rehearsed: mesh mTLS is noted, origination to external TLS refused."""
    if tls is None:
        return
    only(tls, {"mode"}, at)
    mode = tls.get("mode", "DISABLE")
    if mode == "ISTIO_MUTUAL":
        index.note(MTLS_NOTE)
    elif mode != "DISABLE":
        raise refuse(f"{at}.mode", f"{mode}: TLS origination is not rehearsed")


def consistent_hash(index: Index, host: str, subset: str | None, port: int | None) -> Mapping[str, Any] | None:
    """The consistent-hash settings that apply to a route destination: the subset's port-level,
    then the subset's, then the rule's port-level, then the rule's (istiod: HashForHTTPDestination)."""
    rule = index.destination_rules.get(host)
    if rule is None:
        return None
    policy = (rule.get("spec") or {}).get("trafficPolicy") or {}

    def port_level(p: Mapping[str, Any]) -> Mapping[str, Any] | None:
        for setting in p.get("portLevelSettings") or []:
            if port is not None and (setting.get("port") or {}).get("number") == port:
                return ((setting.get("loadBalancer") or {}).get("consistentHash"))
        return None

    chosen = (policy.get("loadBalancer") or {}).get("consistentHash")
    pls = port_level(policy)
    for item in (rule.get("spec") or {}).get("subsets") or []:
        if item.get("name") == subset:
            sub = item.get("trafficPolicy") or {}
            return port_level(sub) or (sub.get("loadBalancer") or {}).get("consistentHash") or pls or chosen
    return pls or chosen


def hash_policy(hashing: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A route's hash policy for consistent hashing (istiod: consistentHashToHashPolicy). A cookie's
    TTL only becomes the Max-Age of the cookie Envoy sets, so it is not time-scaled."""
    if not hashing:
        return None
    if hashing.get("httpHeaderName"):
        return {"header": {"header_name": hashing["httpHeaderName"]}}
    if hashing.get("httpCookie"):
        cookie = only(hashing["httpCookie"], {"name", "path", "ttl", "attributes"}, "consistentHash.httpCookie")
        out: dict[str, Any] = {"name": cookie["name"]}
        if cookie.get("ttl") is not None:
            out["ttl"] = envoy_duration(Scale().seconds(cookie["ttl"], "consistentHash.httpCookie.ttl") or 0)
        if cookie.get("path"):
            out["path"] = cookie["path"]
        if cookie.get("attributes"):
            out["attributes"] = [{"name": a["name"], "value": a.get("value", "")} for a in cookie["attributes"]]
        return {"cookie": out}
    if hashing.get("useSourceIp"):
        return {"connection_properties": {"source_ip": True}}
    if hashing.get("httpQueryParameterName"):
        return {"query_parameter": {"name": hashing["httpQueryParameterName"]}}
    return None


def service_port_for(service: Service | None, number: int | None) -> ServicePort | None:
    """A Service's port by number (None when either is unknown)."""
    return service.port(number) if service is not None and number is not None else None
