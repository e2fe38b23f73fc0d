"""Serving-grade resilience: inference-safe retries, timeouts, circuit breaking, load balancing."""
from __future__ import annotations

import pytest

from helpers import ROOT, by_kind, model_deployments, objects_of
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.units import parse_duration

EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
# Failures where the request never reached the model (gRPC's UNAVAILABLE only on gRPC models).
NEVER_REACHED = {"connect-failure", "refused-stream", "reset-before-request"}
GRPC_STATUS = {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}


def _routes(outputs) -> list[dict]:
    return [r for vs in by_kind(objects_of(outputs), "VirtualService") for r in vs["spec"]["http"]]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_route_has_explicit_retries_that_fit_its_timeout(name: str, example) -> None:
    objects = objects_of(example(name)[1])
    grpc = {s["metadata"]["name"] for s in by_kind(objects, "Service") if s["spec"]["ports"][0]["name"] == "grpc"}
    for vs in by_kind(objects, "VirtualService"):
        for route in vs["spec"]["http"]:
            if "directResponse" in route:  # answered by the gateway itself: nothing to retry
                continue
            retries = route["retries"]  # explicit, or Istio's default (incl. 503) would replay GPU work
            if not retries["attempts"]:
                continue
            conditions = set(retries["retryOn"].split(","))
            allowed = NEVER_REACHED | ({"unavailable"} if vs["metadata"]["labels"]["app"] in grpc else set())
            assert conditions <= allowed, (vs["metadata"]["name"], route["name"])
            if "perTryTimeout" in retries and "timeout" in route:
                # attempts counts retries: the first try plus `attempts` more must fit.
                budget = (retries["attempts"] + 1) * parse_duration(retries["perTryTimeout"])
                assert budget <= parse_duration(route["timeout"]), route["name"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_destination_rules_break_circuits_and_never_eject_a_whole_version(name: str, example) -> None:
    objects = objects_of(example(name)[1])
    smallest = {}
    for dep in model_deployments(objects):
        smallest.setdefault(dep["metadata"]["labels"]["app"], []).append(dep["spec"].get("replicas"))
    hpa_min = {h["metadata"]["labels"]["app"]: h["spec"]["minReplicas"] for h in by_kind(objects, "HorizontalPodAutoscaler")}
    for dr in by_kind(objects, "DestinationRule"):
        app = dr["metadata"]["name"]
        policy = dr["spec"]["trafficPolicy"]
        # Caller-side caps are per calling proxy: none by default, so no gateway pod is held below capacity.
        assert "tcp" not in policy.get("connectionPool", {}), app
        assert "http1MaxPendingRequests" not in policy.get("connectionPool", {}).get("http", {}), app
        # Broken replicas are ejected, busy ones are not: only 502/503/504 the replica answered count.
        outlier = policy["outlierDetection"]
        assert outlier["consecutive5xxErrors"] == 0 and outlier["consecutiveGatewayErrors"] > 0, app
        assert outlier["splitExternalLocalOriginErrors"] is True, app
        replicas = hpa_min.get(app) or min(r for r in smallest[app] if r is not None)
        percent = policy["outlierDetection"]["maxEjectionPercent"]
        if replicas >= 2:
            # Envoy keeps ejecting while the ejected share is below the cap: the last replica must stay.
            assert percent <= 100 * (replicas - 1) / replicas, (app, replicas, percent)
        balancer = policy["loadBalancer"]
        assert balancer.get("simple") == "LEAST_REQUEST" or "consistentHash" in balancer


def test_a_streaming_llm_has_no_route_or_per_try_timeout_and_no_accept_header_route(example) -> None:
    llm = [r for vs in by_kind(objects_of(example("fleet")[1]), "VirtualService")
           if vs["metadata"]["name"] in ("llm", "llm-edge") for r in vs["spec"]["http"]]
    assert llm and all("timeout" not in r and "perTryTimeout" not in r["retries"] for r in llm)
    # The OpenAI SDK streams with `Accept: application/json` and "stream": true in the body:
    # a route keyed on `accept: text/event-stream` would never match it.
    assert not any("accept" in m.get("headers", {}) for r in llm for m in r.get("match", []))


def test_streaming_models_default_to_no_timeout_and_an_explicit_one_stays(base_config: dict) -> None:
    model = base_config["models"]["ai-model"]
    model["streaming"] = True
    assert parse_fleet(base_config).environments["production"].models["ai-model"].timeout is None
    model["timeout"] = "10m"
    assert parse_fleet(base_config).environments["production"].models["ai-model"].timeout == "10m"


def test_grpc_models_retry_unavailable_and_http_models_may_not(base_config: dict, example) -> None:
    embedder = example("fleet")[0].environments["production"].models["embedder"]
    assert embedder.retries.retry_on == "connect-failure,refused-stream,unavailable"
    base_config["models"]["ai-model"]["retries"] = {"retryOn": "connect-failure,unavailable,cancelled"}
    with pytest.raises(ConfigError, match="gRPC status conditions cancelled,unavailable on an HTTP model; fix: "):
        parse_fleet(base_config, source="serving.yaml")


def test_declared_concurrency_sizes_callers_and_is_enforced_on_each_pods_inbound_side(example) -> None:
    objects = objects_of(example("fleet")[1])
    (dr,) = [d for d in by_kind(objects, "DestinationRule") if d["metadata"]["name"] == "llm"]
    # 64 per pod x 8 pods at most (autoscaling.maxReplicas): a caller may fill the largest version.
    assert dr["spec"]["trafficPolicy"]["connectionPool"] == {"http": {"http2MaxRequests": 512}}
    (sidecar,) = [s for s in by_kind(objects, "Sidecar") if s["metadata"]["name"] == "llm-inbound"]
    assert sidecar["spec"]["workloadSelector"] == {"labels": {"app": "llm"}}
    # HTTP/1.1 to the server: one request per connection, so 64 connections are 64 requests; no
    # pending cap, because an overflow 503 would get a busy pod ejected by its callers.
    assert sidecar["spec"]["inboundConnectionPool"] == {"tcp": {"maxConnections": 64}}
    assert "ingress" not in sidecar["spec"]  # inbound capture stays as istiod builds it
    # A workload Sidecar without egress would import every host of the mesh (`*/*`).
    assert sidecar["spec"]["egress"] == [{"hosts": ["./*", "istio-system/*"]}]


def test_fault_injection_is_off_unless_declared(example) -> None:
    for name in EXAMPLES:
        for out in example(name)[1]:
            faulted = [r["name"] for r in _routes([out]) if "fault" in r]
            expected = out.env == "staging" and name == "environments"
            assert bool(faulted) == expected, (name, out.env, faulted)


def test_fault_profile_becomes_delay_and_abort_percentages(example) -> None:
    staging = [o for o in example("environments")[1] if o.env == "staging"]
    mesh, edge = _routes(staging)  # the in-mesh host and the gateway's
    for route in (mesh, edge):
        assert route["fault"] == {
            "abort": {"httpStatus": 503, "percentage": {"value": 2}},
            "delay": {"fixedDelay": "2s", "percentage": {"value": 10}},
        }


def test_warns_that_faults_disable_retries(example) -> None:
    fleet, _ = example("environments")
    assert any("Istio turns off retries and timeouts on routes with fault injection" in w for w in fleet.warnings)


def test_warns_when_retries_would_replay_gpu_work(base_config: dict) -> None:
    base_config["models"]["ai-model"]["retries"] = {"retryOn": "5xx,connect-failure"}
    (warning,) = parse_fleet(base_config).warnings
    assert "retries.retryOn: 5xx retries requests the model already spent GPU time on" in warning


def test_consistent_hash_is_available_for_stickiness_to_a_replica(example) -> None:
    (dr,) = [d for d in by_kind(objects_of(example("fleet")[1]), "DestinationRule") if d["metadata"]["name"] == "embedder"]
    assert dr["spec"]["trafficPolicy"]["loadBalancer"] == {"consistentHash": {"httpHeaderName": "x-session-id"}}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retries", {"attempts": 2, "perTryTimeout": "30s"}, "1 try + 2 retries x perTryTimeout 30s exceed timeout 60s"),
        ("timeout", "soon", "'soon' is not a duration; fix: write it like 500ms, 30s, 5m or 1h30m"),
        ("outlierDetection", {"maxEjectionPercent": 100}, "maxEjectionPercent 100 could eject every replica of a 2-replica version; fix: use at most 50"),
        ("loadBalancer", {"consistentHash": {"header": "a", "cookie": "b"}}, "consistentHash needs exactly one of header, cookie or sourceIp"),
        ("loadBalancer", {"simple": "FASTEST"}, "loadBalancer.simple: Input should be 'LEAST_REQUEST', 'ROUND_ROBIN' or 'RANDOM'"),
        ("fault", {"delayPercent": 5}, "a fault needs delay or abortStatus"),
        ("routes", [{"name": "s", "match": {"uri": {"prefix": "/x"}}, "weighted": True, "timeout": "10s",
                     "retries": {"attempts": 1, "perTryTimeout": "6s"}}], "route 's': its 2 tries exceed its timeout"),
    ],
)
def test_fails_when_resilience_settings_are_unsafe(base_config: dict, field: str, value, message: str) -> None:
    base_config["models"]["ai-model"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_fleet(base_config, source="serving.yaml")
    text = str(caught.value)
    assert message in text and text.startswith("serving.yaml: models.ai-model") and "fix:" in text, text


def test_warns_when_a_declared_pool_caps_callers_below_a_versions_capacity(base_config: dict) -> None:
    model = base_config["models"]["ai-model"]
    model.update(concurrency=16, connectionPool={"maxRequests": 20})
    (warning,) = parse_fleet(base_config).warnings
    assert "connectionPool.maxRequests: 20 caps each calling proxy below what v1 serves at once (16 x 2 replicas = 32)" \
        in warning
    model["connectionPool"] = {"maxRequests": 32}
    assert parse_fleet(base_config).warnings == []
