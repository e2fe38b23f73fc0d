"""The translation's Envoy bootstrap, feature by feature: cheap regression tests (no Envoy run)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import manifests
from model_serving.rehearse.filters import HttpFilter, Phase
from model_serving.rehearse.translate import TranslateOptions as Options
from model_serving.rehearse.translate import Translation, TranslationError, translate

NS = "team"
HOST = f"m.{NS}.svc.cluster.local"


def service(name: str = "m", port: int = 8080, app_protocol: str = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "appProtocol": app_protocol}]}}


def deployment(version: str, replicas: int | None = 2, app: str = "m") -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"metadata": {"labels": {"app": app, "version": version}}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{app}-{version}", "namespace": NS},
            "spec": spec}


def rule(policy: dict[str, Any] | None = None, subsets: tuple[str, ...] = ("v1", "v2")) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": HOST, "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]}
    if policy is not None:
        spec["trafficPolicy"] = policy
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "m", "namespace": NS},
            "spec": spec}


def virtual_service(http: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "m", "namespace": NS},
            "spec": {"hosts": [HOST], "http": http, **spec}}


def dest(subset: str, weight: int | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"destination": {"host": HOST, "subset": subset, "port": {"number": 8080}}, **extra}
    if weight is not None:
        out["weight"] = weight
    return out


def fleet(*objects: dict[str, Any], policy: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [service(), deployment("v1"), deployment("v2"), rule(policy), *objects]


def mesh_routes(translation: Translation, port: int = 8080, host: str = HOST) -> list[dict[str, Any]]:
    listener = next(ln for ln in translation.listeners if ln["name"] == f"0.0.0.0_{port}")
    vhosts = hcm(listener)["route_config"]["virtual_hosts"]
    return next(v for v in vhosts if host in v["domains"])["routes"]


def hcm(listener: dict[str, Any]) -> dict[str, Any]:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def gateway_vhosts(translation: Translation, port: int) -> list[dict[str, Any]]:
    listener = next(ln for ln in translation.listeners if ln["name"] == f"gateway_{port}")
    return hcm(listener)["route_config"]["virtual_hosts"]


def cluster(translation: Translation, name: str) -> dict[str, Any]:
    return next(c for c in translation.clusters if c["name"] == name)


def one_route(http: dict[str, Any], policy: dict[str, Any] | None = None, scale: float = 1.0) -> dict[str, Any]:
    return mesh_routes(translate(fleet(virtual_service([http]), policy=policy), Options(time_scale=scale)))[0]


# --- listeners, hosts, endpoints ---------------------------------------------------------------


def test_reference_mesh_listener_accepts_every_host_form_istiod_generates() -> None:
    translation = translate(manifests())
    routes = hcm(next(ln for ln in translation.listeners if ln["name"] == "0.0.0.0_8080"))["route_config"]
    vhosts = {v["name"]: v["domains"] for v in routes["virtual_hosts"]}
    assert vhosts["ai-model.ai-services.svc.cluster.local:8080"] == [
        "ai-model.ai-services.svc.cluster.local", "ai-model.ai-services.svc.cluster.local.", "ai-model",
        "ai-model.ai-services.svc", "ai-model.ai-services"]
    # The external host is bound to the gateway only: the mesh listener does not route it.
    assert "ai-model.example.com:8080" not in vhosts
    assert routes["ignore_port_in_host_matching"] is True
    assert routes["virtual_hosts"][-1]["routes"][0]["direct_response"] == {"status": 502}
    assert translation.entry("mesh", port=8080).hosts[0] == "ai-model.ai-services.svc.cluster.local"


def test_listeners_and_admin_bind_ephemeral_loopback_ports() -> None:
    translation = translate(manifests())
    bootstrap = translation.bootstrap({r.key: 40000 + i for i, r in enumerate(translation.replicas)})
    assert bootstrap["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 0}
    for listener in bootstrap["static_resources"]["listeners"]:
        assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 0}
    names = {ln["name"] for ln in bootstrap["static_resources"]["listeners"]}
    assert names == {"0.0.0.0_8080", "gateway_443"}  # no port 80 unless tls.httpsRedirect asks for it


def test_one_endpoint_per_replica_grouped_by_subset_labels() -> None:
    translation = translate(manifests())
    ports = {r.key: 40000 + i for i, r in enumerate(translation.replicas)}
    clusters = {c["name"]: c for c in translation.bootstrap(ports)["static_resources"]["clusters"]}
    subset = clusters["outbound|8080|v1|ai-model.ai-services.svc.cluster.local"]
    endpoints = subset["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints] == [
        ports["ai-services/ai-model-v1-0"], ports["ai-services/ai-model-v1-1"]]
    everything = clusters["outbound|8080||ai-model.ai-services.svc.cluster.local"]
    assert len(everything["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 4


def test_replicas_come_from_the_hpa_min_when_the_deployment_leaves_them_out() -> None:
    translation = translate(manifests("fleet"))
    names = sorted(r.name for r in translation.replicas if r.model == "llm")
    assert names == ["llm-v1-0", "llm-v1-1", "llm-v2-0", "llm-v2-1"]  # autoscaling.minReplicas 2
    assert sum(1 for r in translation.replicas if r.model == "fraud-detector") == 6  # minReplicas 3 each


# --- routes -----------------------------------------------------------------------------------


def test_weight_zero_destinations_are_dropped_as_istiod_drops_them() -> None:
    routes = mesh_routes(translate(manifests("canary")), host="sentiment.ml-canary.svc.cluster.local")
    split = routes[0]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"].split("|")[2], c["weight"]) for c in split] == [("v1", 80), ("v2", 15), ("v3", 5)]


def test_unset_timeout_is_istiods_no_timeout_and_durations_are_scaled() -> None:
    translation = translate(manifests("fleet"), Options(time_scale=0.01))
    routes = {r["name"]: r["route"] for r in mesh_routes(translation, 8000, "llm.ai-fleet.svc.cluster.local")}
    assert routes["default"]["timeout"] == "0s"  # streaming: no `timeout` in the VirtualService
    assert "per_try_timeout" not in routes["default"]["retry_policy"]  # each try gets the whole (no) timeout
    fraud = {r["name"]: r["route"] for r in mesh_routes(translation, 8080, "fraud-detector.ai-fleet.svc.cluster.local")}
    assert fraud["default"]["timeout"] == "0.020s"  # 2s x 0.01
    assert fraud["default"]["retry_policy"]["per_try_timeout"] == "0.005s"  # 500ms x 0.01


def test_retries_attempts_are_retries_with_istiods_host_predicate() -> None:
    policy = mesh_routes(translate(manifests()), host="ai-model")[0]["route"]["retry_policy"]
    assert policy["num_retries"] == 2
    assert policy["retry_on"] == "connect-failure,refused-stream,reset-before-request"
    assert "per_try_timeout" not in policy  # Envoy then gives each try the route timeout
    assert policy["host_selection_retry_max_attempts"] == 5
    assert policy["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"


def test_a_route_without_retries_gets_the_mesh_default_policy() -> None:
    route = one_route({"name": "r", "route": [dest("v1")]})
    assert route["route"]["retry_policy"]["retry_on"] == (
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")
    assert route["route"]["retry_policy"]["num_retries"] == 2


def test_retry_on_status_codes_backoff_and_ignore_previous_hosts() -> None:
    retries = {"attempts": 3, "retryOn": "gateway-error,503", "backoff": "2s", "retryIgnorePreviousHosts": False}
    policy = one_route({"name": "r", "route": [dest("v1")], "retries": retries}, scale=0.5)["route"]["retry_policy"]
    assert policy["retry_on"] == "gateway-error,retriable-status-codes"
    assert policy["retriable_status_codes"] == [503]
    assert policy["retry_back_off"] == {"base_interval": "1.000s"}
    assert "retry_host_predicate" not in policy


def test_retry_on_numbers_are_status_codes_only_when_http_knows_them() -> None:
    # istiod's parseRetryOn: strconv.Atoi and http.StatusText; 599 is no status, so it stays a condition
    retries = {"attempts": 1, "retryOn": "503, 429,599,connect-failure"}
    policy = one_route({"name": "r", "route": [dest("v1")], "retries": retries})["route"]["retry_policy"]
    assert policy["retry_on"] == "599,connect-failure,retriable-status-codes"
    assert policy["retriable_status_codes"] == [503, 429]


def test_the_default_route_keeps_the_previous_hosts_predicate_beside_a_consistent_hash() -> None:
    # BuildDefaultHTTPOutboundRoute converts the retries with hashPolicy=false before the hash is added
    objects = [service(), deployment("v1"), rule({"loadBalancer": {"consistentHash": {"httpHeaderName": "x-s"}}})]
    route = mesh_routes(translate(objects))[0]
    assert route["name"] == "default" and route["route"]["hash_policy"] == [{"header": {"header_name": "x-s"}}]
    assert route["route"]["retry_policy"]["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"


def test_matches_in_order_with_headers_sorted_cookie_regex_and_query() -> None:
    routes = mesh_routes(translate(manifests("ab-test")), host="recommender.ml-ab.svc.cluster.local")
    # beta-cohort matches a JWT claim: the gateway's route only, never the mesh's.
    assert [r["name"] for r in routes] == ["pinned-version", "internal-testers", "experiment-link", "eu-clients", "default"]
    cookie = routes[1]["match"]["headers"][0]
    assert cookie == {"name": "cookie", "string_match": {"safe_regex": {"regex": r"^(.*?;\s*)?(ab-group=b)(;.*)?$"}}}
    assert routes[2]["match"]["query_parameters"] == [{"name": "variant", "string_match": {"exact": "b"}}]
    assert routes[4]["match"] == {"prefix": "/"}


def test_the_gateway_offers_no_mesh_only_route_and_leaves_claim_routes_out_without_tokens() -> None:
    translation = translate(manifests("ab-test"))
    [vhost] = gateway_vhosts(translation, 443)
    assert [r["name"] for r in vhost["routes"]] == ["internal-testers", "experiment-link", "eu-clients", "default"]
    assert any("JWT claims are left out" in note for note in translation.notes)


def test_uri_method_without_headers_and_present_matches() -> None:
    match = {"uri": {"regex": "/v[12]/.*"}, "ignoreUriCase": True, "method": {"exact": "POST"},
             "headers": {"x-b": {"prefix": "z"}, "x-a": {}}, "withoutHeaders": {"x-c": {"exact": "1"}},
             "queryParams": {"debug": {"regex": "*"}}}
    got = one_route({"name": "r", "match": [match], "route": [dest("v1")]})["match"]
    assert got["safe_regex"] == {"regex": "/v[12]/.*"} and got["case_sensitive"] is False
    assert [h["name"] for h in got["headers"]] == ["x-a", "x-b", "x-c", ":method"]
    assert got["headers"][0] == {"name": "x-a", "present_match": True}
    assert got["headers"][2] == {"name": "x-c", "string_match": {"exact": "1"}, "invert_match": True,
                                 "treat_missing_header_as_empty": True}
    assert got["query_parameters"] == [{"name": "debug", "present_match": True}]


def test_header_operations_per_route_and_per_destination() -> None:
    headers = {"request": {"set": {"x-b": "1", "x-a": "2"}, "add": {"x-c": "3"}, "remove": ["x-d", "host"]},
               "response": {"add": {"x-e": "4"}}}
    http = {"name": "r", "headers": headers, "route": [dest("v1", 60), dest("v2", 40, headers={
        "response": {"add": {"set-cookie": "v=2"}}, "request": {"set": {":authority": "other"}}})]}
    route = one_route(http)
    assert [(h["header"]["key"], h["append_action"]) for h in route["request_headers_to_add"]] == [
        ("x-a", "OVERWRITE_IF_EXISTS_OR_ADD"), ("x-b", "OVERWRITE_IF_EXISTS_OR_ADD"), ("x-c", "APPEND_IF_EXISTS_OR_ADD")]
    assert route["request_headers_to_remove"] == ["x-d"]
    weighted = route["route"]["weighted_clusters"]["clusters"][1]
    assert weighted["response_headers_to_add"][0]["header"] == {"key": "set-cookie", "value": "v=2"}
    assert weighted["host_rewrite_literal"] == "other"


def test_sticky_canary_sets_a_cookie_on_every_live_destination() -> None:
    routes = mesh_routes(translate(manifests("sticky-canary")), host="chat.ml-sticky.svc.cluster.local")
    split = routes[-1]["route"]["weighted_clusters"]["clusters"]
    assert split[0]["response_headers_to_add"][0]["header"]["value"].startswith("chat-version=v1.")
    assert split[1]["response_headers_to_add"][0]["header"]["value"].startswith("chat-version=v2.")


def test_rewrite_redirect_and_direct_response() -> None:
    rewritten = one_route({"name": "r", "route": [dest("v1")], "rewrite": {"uri": "/", "authority": "a.b"}})["route"]
    assert rewritten["prefix_rewrite"] == "/" and rewritten["host_rewrite_literal"] == "a.b"
    regex = one_route({"name": "r", "route": [dest("v1")],
                       "rewrite": {"uriRegexRewrite": {"match": "^/old/(.*)", "rewrite": "/new/\\1"}}})["route"]
    assert regex["regex_rewrite"] == {"pattern": {"regex": "^/old/(.*)"}, "substitution": "/new/\\1"}
    redirect = one_route({"name": "r", "redirect": {"uri": "/x", "authority": "h", "redirectCode": 308,
                                                   "scheme": "https", "port": 443}})["redirect"]
    assert redirect == {"response_code": "PERMANENT_REDIRECT", "path_redirect": "/x", "host_redirect": "h",
                        "scheme_redirect": "https"}  # no explicit :443 for https
    derived = one_route({"name": "r", "redirect": {"derivePort": "FROM_REQUEST_PORT"}})["redirect"]
    assert derived == {"response_code": "MOVED_PERMANENTLY", "port_redirect": 8080}
    direct = one_route({"name": "r", "directResponse": {"status": 418, "body": {"string": "teapot"}}})
    assert direct["direct_response"] == {"status": 418, "body": {"inline_string": "teapot"}}


def test_mirror_keeps_the_host_and_marks_the_copy() -> None:
    routes = mesh_routes(translate(manifests("shadow")), host="fraud-detector.ml-shadow.svc.cluster.local")
    mirror = routes[0]["route"]["request_mirror_policies"][0]
    assert mirror["cluster"] == "outbound|8080|v2|fraud-detector.ml-shadow.svc.cluster.local"
    assert mirror["runtime_fraction"] == {"default_value": {"numerator": 200000, "denominator": "MILLION"}}
    # istiod 1.30: DISABLE_SHADOW_HOST_SUFFIX=true, so no `-shadow` on the copy's Host.
    assert mirror["disable_shadow_host_suffix_append"] is True
    assert mirror["request_headers_mutations"][0]["append"]["header"]["key"] == "x-rehearse-mirror"


def test_mirror_defaults_to_100_percent_and_0_percent_mirrors_nothing() -> None:
    full = one_route({"name": "r", "route": [dest("v1")], "mirror": {"host": HOST, "subset": "v2"}})
    assert full["route"]["request_mirror_policies"][0]["runtime_fraction"]["default_value"]["numerator"] == 1000000
    none = one_route({"name": "r", "route": [dest("v1")], "mirror": {"host": HOST, "subset": "v2"},
                      "mirrorPercentage": {"value": 0}})
    assert "request_mirror_policies" not in none["route"]


def test_fault_delay_and_abort_with_percentages_and_scaled_delay() -> None:
    routes = mesh_routes(translate(manifests("environments", "staging"), Options(time_scale=0.05)),
                         host="qa.ml-staging.svc.cluster.local")
    fault = routes[0]["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["delay"] == {"fixed_delay": "0.100s", "percentage": {"numerator": 100000, "denominator": "MILLION"}}
    assert fault["abort"] == {"percentage": {"numerator": 20000, "denominator": "MILLION"}, "http_status": 503}
    # istiod: an abort without a percentage carries none, and Envoy then never aborts.
    bare = one_route({"name": "r", "route": [dest("v1")], "fault": {"abort": {"httpStatus": 500}}})
    assert "percentage" not in bare["typed_per_filter_config"]["envoy.filters.http.fault"]["abort"]


def test_cors_policy_per_route() -> None:
    cors = {"allowOrigins": [{"exact": "https://a.example"}, {"regex": ".*\\.b\\.example"}], "allowMethods": ["GET", "POST"],
            "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"], "maxAge": "24h", "allowCredentials": True}
    got = one_route({"name": "r", "route": [dest("v1")], "corsPolicy": cors})["typed_per_filter_config"]
    policy = got["envoy.filters.http.cors"]
    assert policy["allow_origin_string_match"] == [{"exact": "https://a.example"}, {"safe_regex": {"regex": ".*\\.b\\.example"}}]
    assert (policy["allow_methods"], policy["max_age"], policy["allow_credentials"]) == ("GET,POST", "86400", True)
    assert policy["forward_not_matching_preflights"] is True


def test_match_gateways_keep_edge_routes_off_the_mesh() -> None:
    translation = translate(manifests("edge-routing"))
    mesh = hcm(next(ln for ln in translation.listeners if ln["name"] == "0.0.0.0_8080"))["route_config"]
    assert all("api.example.com" not in v["domains"] for v in mesh["virtual_hosts"])
    api = next(v for v in gateway_vhosts(translation, 443) if v["domains"] == ["api.example.com"])
    assert [(r["match"]["prefix"], r["route"]["prefix_rewrite"]) for r in api["routes"]] == [
        ("/models/classify/", "/"), ("/models/summarize/", "/")]


# --- clusters ---------------------------------------------------------------------------------


def test_outlier_detection_mapping_is_istiods() -> None:
    translation = translate(manifests(), Options(time_scale=0.01))
    outlier = cluster(translation, "outbound|8080|v1|ai-model.ai-services.svc.cluster.local")
    assert outlier["outlier_detection"] == {"enforcing_success_rate": 0, "consecutive_5xx": 0,
                                            "enforcing_consecutive_5xx": 0, "consecutive_gateway_failure": 5,
                                            "enforcing_consecutive_gateway_failure": 100, "interval": "0.100s",
                                            "base_ejection_time": "0.300s", "max_ejection_percent": 50,
                                            "split_external_local_origin_errors": True,
                                            "enforcing_local_origin_success_rate": 0}
    assert outlier["common_lb_config"]["healthy_panic_threshold"] == {"value": 0.0}


@pytest.mark.parametrize(("outlier", "expected"), [
    ({"consecutiveGatewayErrors": 3, "consecutive5xxErrors": 0},
     {"consecutive_5xx": 0, "enforcing_consecutive_5xx": 0, "consecutive_gateway_failure": 3,
      "enforcing_consecutive_gateway_failure": 100}),
    ({"splitExternalLocalOriginErrors": True, "consecutiveLocalOriginFailures": 2},
     {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 2,
      "enforcing_consecutive_local_origin_failure": 100, "enforcing_local_origin_success_rate": 0}),
    # Split without consecutiveLocalOriginFailures leaves Envoy's defaults (5, enforced 100 %).
    ({"splitExternalLocalOriginErrors": True}, {"split_external_local_origin_errors": True,
                                                "enforcing_local_origin_success_rate": 0}),
])
def test_outlier_detection_gateway_and_local_origin_fields(outlier: dict[str, Any], expected: dict[str, Any]) -> None:
    got = cluster(translate(fleet(policy={"outlierDetection": outlier})), f"outbound|8080|v1|{HOST}")["outlier_detection"]
    assert got == {"enforcing_success_rate": 0, **expected}


def test_connection_pool_is_circuit_breakers_and_per_connection_limits() -> None:
    pool = {"tcp": {"maxConnections": 64, "connectTimeout": "2s"},
            "http": {"http1MaxPendingRequests": 32, "http2MaxRequests": 64, "maxRequestsPerConnection": 10,
                     "idleTimeout": "30s", "maxRetries": 4}}
    got = cluster(translate(fleet(policy={"connectionPool": pool}), Options(time_scale=0.1)), f"outbound|8080|v1|{HOST}")
    assert got["circuit_breakers"]["thresholds"] == [{"max_connections": 64, "max_pending_requests": 32,
                                                      "max_requests": 64, "max_retries": 4}]
    assert got["connect_timeout"] == "0.200s"
    options = got["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert options["common_http_protocol_options"] == {"idle_timeout": "3.000s", "max_requests_per_connection": 10}


def test_unset_pool_limits_are_unlimited() -> None:
    got = cluster(translate(fleet()), f"outbound|8080|v1|{HOST}")["circuit_breakers"]["thresholds"][0]
    assert set(got.values()) == {4294967295}


@pytest.mark.parametrize(("lb", "policy"), [({"simple": "ROUND_ROBIN"}, "ROUND_ROBIN"), ({"simple": "RANDOM"}, "RANDOM"),
                                            ({"simple": "LEAST_REQUEST"}, "LEAST_REQUEST"), (None, "LEAST_REQUEST")])
def test_simple_load_balancers(lb: dict[str, Any] | None, policy: str) -> None:
    got = cluster(translate(fleet(policy={"loadBalancer": lb} if lb else None)), f"outbound|8080|v1|{HOST}")
    assert got["lb_policy"] == policy


def test_consistent_hash_is_a_ring_hash_and_keeps_retries_on_the_same_host() -> None:
    translation = translate(manifests("fleet"))
    got = cluster(translation, "outbound|9000|v1|embedder.ai-fleet.svc.cluster.local")
    assert (got["lb_policy"], got["ring_hash_lb_config"]) == ("RING_HASH", {"minimum_ring_size": 1024})
    route = mesh_routes(translation, 9000, "embedder.ai-fleet.svc.cluster.local")[0]["route"]
    assert route["hash_policy"] == [{"header": {"header_name": "x-session-id"}}]
    assert "retry_host_predicate" not in route["retry_policy"]  # single destination: istiod drops it


@pytest.mark.parametrize(("hashing", "policy", "route_hash"), [
    ({"httpCookie": {"name": "s", "ttl": "1h"}, "maglev": {"tableSize": 65537}}, "MAGLEV",
     {"cookie": {"name": "s", "ttl": "3600.000s"}}),
    ({"useSourceIp": True, "ringHash": {"minimumRingSize": 64}}, "RING_HASH", {"connection_properties": {"source_ip": True}}),
])
def test_consistent_hash_variants(hashing: dict[str, Any], policy: str, route_hash: dict[str, Any]) -> None:
    translation = translate(fleet(virtual_service([{"name": "r", "route": [dest("v1")]}]),
                                  policy={"loadBalancer": {"consistentHash": hashing}}), Options(time_scale=0.01))
    assert cluster(translation, f"outbound|8080|v1|{HOST}")["lb_policy"] == policy
    assert mesh_routes(translation)[0]["route"]["hash_policy"] == [route_hash]


def test_subset_policy_overrides_the_rule_field_by_field() -> None:
    objects = fleet(policy={"loadBalancer": {"simple": "RANDOM"}, "outlierDetection": {"consecutive5xxErrors": 7}})
    objects[3]["spec"]["subsets"][1]["trafficPolicy"] = {"loadBalancer": {"simple": "ROUND_ROBIN"}}
    translation = translate(objects)
    v2 = cluster(translation, f"outbound|8080|v2|{HOST}")
    assert v2["lb_policy"] == "ROUND_ROBIN" and v2["outlier_detection"]["consecutive_5xx"] == 7
    assert cluster(translation, f"outbound|8080|v1|{HOST}")["lb_policy"] == "RANDOM"


# --- gateway ----------------------------------------------------------------------------------


def with_port_80(objects: list[dict[str, Any]], tls: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects with a port-80 server (`tls` e.g. {"httpsRedirect": True}) added to their Gateway."""
    objects = copy.deepcopy(objects)
    gateway = next(o for o in objects if o["kind"] == "Gateway")
    hosts = gateway["spec"]["servers"][0]["hosts"]
    gateway["spec"]["servers"].append({"name": "http", "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                       "hosts": hosts, "tls": tls})
    return objects


def test_gateway_https_server_and_port_80_redirect() -> None:
    translation = translate(with_port_80(manifests(), {"httpsRedirect": True}))
    https = gateway_vhosts(translation, 443)
    assert [v["domains"] for v in https] == [["ai-model.example.com"]]
    assert "require_tls" not in https[0]
    http = gateway_vhosts(translation, 80)
    assert http[0]["require_tls"] == "ALL" and http[0]["routes"]
    assert translation.entry("gateway", host="ai-model.example.com").port == 443


def scoped_gateway(hosts: list[str], vs_namespace: str) -> Translation:
    objects = with_port_80(manifests(), {"httpsRedirect": True})
    for obj in objects:
        if obj["kind"] == "Gateway":
            for server in obj["spec"]["servers"]:
                server["hosts"] = hosts
        if obj["kind"] == "VirtualService":
            obj["metadata"]["namespace"] = vs_namespace
            obj["spec"]["http"][0]["route"][0]["destination"]["host"] = "ai-model.ai-services.svc.cluster.local"
    return translate(objects)


def test_namespace_scoped_server_hosts_bind_only_that_namespaces_virtual_services() -> None:
    own = scoped_gateway(["ai-services/ai-model.example.com"], "ai-services")
    assert gateway_vhosts(own, 443)[0]["domains"] == ["ai-model.example.com"]
    foreign = scoped_gateway(["ai-services/ai-model.example.com"], "elsewhere")
    assert gateway_vhosts(foreign, 443) == [{"name": "blackhole:443", "domains": ["*"], "routes": []}]
    dot = scoped_gateway(["./ai-model.example.com"], "ai-services")
    assert gateway_vhosts(dot, 443)[0]["domains"] == ["ai-model.example.com"]


def test_a_scoped_https_redirect_host_gets_istiods_extra_virtual_host() -> None:
    # buildGatewayHTTPRouteConfig looks redirect hosts up as written ("ns/host").
    names = [v["name"] for v in gateway_vhosts(scoped_gateway(["ai-services/ai-model.example.com"], "ai-services"), 80)]
    assert names == ["ai-model.example.com:80", "ai-services/ai-model.example.com:80"]


def test_catch_all_routes_of_several_virtual_services_move_last() -> None:
    objects = copy.deepcopy(manifests("edge-routing"))
    catch_all = copy.deepcopy(next(o for o in objects if o["metadata"]["name"] == "classify-edge"))
    catch_all["metadata"]["name"] = "a-catch-all"
    catch_all["spec"]["http"] = [{"name": "all", "route": [{"destination": {"host": "translate", "subset": "v1",
                                                                           "port": {"number": 8080}}}]}]
    objects.insert(objects.index(next(o for o in objects if o["metadata"]["name"] == "classify")), catch_all)
    api = next(v for v in gateway_vhosts(translate(objects), 443) if v["domains"] == ["api.example.com"])
    assert [r["name"] for r in api["routes"]] == ["default", "default", "all"]


# --- filters and refusals ---------------------------------------------------------------------


def test_extension_filters_go_in_istiods_phase_order_before_fault_cors_and_router() -> None:
    lua = {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"}
    extra = (HttpFilter("late", lua), HttpFilter("authz", lua, Phase.AUTHZ), HttpFilter("authn-low", lua, Phase.AUTHN, 1),
             HttpFilter("authn-high", lua, Phase.AUTHN, 10), HttpFilter("mesh-only", lua, on_gateway=False, on_mesh=True))
    translation = translate(manifests(), Options(http_filters=extra))
    gateway = next(ln for ln in translation.listeners if ln["name"] == "gateway_443")
    assert [f["name"] for f in hcm(gateway)["http_filters"]] == [
        "authn-high", "authn-low", "authz", "late", "envoy.filters.http.fault", "envoy.filters.http.cors",
        "envoy.filters.http.router"]
    mesh = next(ln for ln in translation.listeners if ln["name"] == "0.0.0.0_8080")
    assert next(f["name"] for f in hcm(mesh)["http_filters"]) == "mesh-only"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda o: o["spec"]["http"][0].update(delegate={"name": "x"}), "spec.http[0].delegate: delegate"),
    (lambda o: o["spec"]["http"][0].update(bogus=1), "spec.http[0].bogus: not translated"),
    (lambda o: o["spec"].update(tcp=[{"route": []}]), "spec.tcp: TCP and TLS routes are not rehearsed"),
    (lambda o: o["spec"]["http"][0].update(match=[{"withoutHeaders": {"@request.auth.claims.group": {"exact": "a"}}}]),
     "JWT claim matching is not rehearsed"),
    (lambda o: o["spec"]["http"][0].update(match=[{"sourceLabels": {"app": "x"}}]), "sourceLabels: not translated"),
])
def test_untranslated_virtual_service_fields_are_refused_in_one_line(edit: Any, message: str) -> None:
    objects = copy.deepcopy(manifests())
    vs = next(o for o in objects if o["kind"] == "VirtualService")
    edit(vs)
    with pytest.raises(TranslationError) as caught:
        translate(objects)
    assert message in str(caught.value) and "VirtualService ai-services/ai-model" in str(caught.value)
    assert "\n" not in str(caught.value) and "; fix: " in str(caught.value)


@pytest.mark.parametrize(("policy", "message"), [
    ({"tls": {"mode": "SIMPLE"}}, "tls.mode: SIMPLE: TLS origination is not rehearsed"),
    ({"loadBalancer": {"simple": "PASSTHROUGH"}}, "PASSTHROUGH is not rehearsed"),
    ({"outlierDetection": {"consecutiveErrors": 5}}, "outlierDetection.consecutiveErrors: not translated"),
    ({"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE"}}}, "UPGRADE: HTTP/2 to the stand-ins"),
])
def test_untranslated_destination_rule_fields_are_refused(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        translate(fleet(policy=policy))


def test_kinds_that_change_traffic_but_are_not_rehearsed_are_refused() -> None:
    envoy_filter = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
                    "metadata": {"name": "x", "namespace": NS}, "spec": {}}
    with pytest.raises(TranslationError, match="EnvoyFilter team/x: EnvoyFilter: patches"):
        translate(fleet(envoy_filter))


def test_what_is_accepted_but_not_rehearsed_is_noted() -> None:
    notes = translate(manifests("fleet")).notes
    assert any("mTLS" in n for n in notes) and any("JWT" in n for n in notes)
    assert any("embedder port 9000 (grpc): upstream HTTP/2 is not rehearsed" in n for n in notes)
