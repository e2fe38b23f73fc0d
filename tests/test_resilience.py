"""Serving-grade resilience: inference-safe retries, timeouts, circuit breaking, load balancing."""
from __future__ import annotations

import pytest

from helpers import ROOT, by_kind, objects_of
from model_serving.fleet.load import ConfigError, parse_fleet
from model_serving.units import parse_duration

EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
CONNECTION_LEVEL = {"connect-failure", "refused-stream", "unavailable", "cancelled"}


def _routes(outputs) -> list[dict]:
    return [r for vs in by_kind(objects_of(outputs), "VirtualService") for r in vs["spec"]["http"]]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_route_has_explicit_retries_that_fit_its_timeout(name: str, example) -> None:
    for route in _routes(example(name)[1]):
        if "directResponse" in route:  # answered by the gateway itself: nothing to retry
            continue
        retries = route["retries"]  # explicit, or Istio's default (incl. 503) would replay GPU work
        if retries["attempts"]:
            assert set(retries["retryOn"].split(",")) <= CONNECTION_LEVEL, route["name"]
            if "timeout" in route:
                budget = retries["attempts"] * parse_duration(retries["perTryTimeout"])
                assert budget <= parse_duration(route["timeout"]), route["name"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_destination_rules_break_circuits_and_never_eject_a_whole_version(name: str, example) -> None:
    objects = objects_of(example(name)[1])
    smallest = {}
    for dep in by_kind(objects, "Deployment"):
        smallest.setdefault(dep["metadata"]["labels"]["app"], []).append(dep["spec"].get("replicas"))
    hpa_min = {h["metadata"]["labels"]["app"]: h["spec"]["minReplicas"] for h in by_kind(objects, "HorizontalPodAutoscaler")}
    for dr in by_kind(objects, "DestinationRule"):
        app = dr["metadata"]["name"]
        policy = dr["spec"]["trafficPolicy"]
        assert policy["connectionPool"]["tcp"]["maxConnections"] > 0
        assert policy["connectionPool"]["http"]["http1MaxPendingRequests"] > 0
        replicas = hpa_min.get(app) or min(r for r in smallest[app] if r is not None)
        percent = policy["outlierDetection"]["maxEjectionPercent"]
        if replicas >= 2:
            # Envoy keeps ejecting while the ejected share is below the cap: the last replica must stay.
            assert percent <= 100 * (replicas - 1) / replicas, (app, replicas, percent)
        balancer = policy["loadBalancer"]
        assert balancer.get("simple") == "LEAST_REQUEST" or "consistentHash" in balancer


def test_llm_gets_long_timeouts_and_an_unlimited_streaming_route(example) -> None:
    routes = {r["name"]: r for r in _routes(example("fleet")[1])}
    assert "timeout" not in routes["streaming"] and routes["streaming"]["retries"] == {"attempts": 0}
    assert "timeout" not in routes["streaming-sticky-v2"]
    llm_default = next(r for vs in by_kind(objects_of(example("fleet")[1]), "VirtualService")
                   if vs["metadata"]["name"] == "llm" for r in vs["spec"]["http"] if r["name"] == "default")
    assert llm_default["timeout"] == "300s" and llm_default["retries"]["perTryTimeout"] == "120s"


def test_fault_injection_is_off_unless_declared(example) -> None:
    for name in EXAMPLES:
        for out in example(name)[1]:
            faulted = [r["name"] for r in _routes([out]) if "fault" in r]
            expected = out.env == "staging" and name == "environments"
            assert bool(faulted) == expected, (name, out.env, faulted)


def test_fault_profile_becomes_delay_and_abort_percentages(example) -> None:
    staging = [o for o in example("environments")[1] if o.env == "staging"]
    (route,) = _routes(staging)
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
        ("retries", {"attempts": 3, "perTryTimeout": "30s"}, "retries 3 x perTryTimeout 30s exceed timeout 60s"),
        ("timeout", "soon", "'soon' is not a duration; fix: write it like 500ms, 30s, 5m or 1h30m"),
        ("outlierDetection", {"maxEjectionPercent": 100}, "maxEjectionPercent 100 could eject every replica of a 2-replica version; fix: use at most 50"),
        ("loadBalancer", {"consistentHash": {"header": "a", "cookie": "b"}}, "consistentHash needs exactly one of header, cookie or sourceIp"),
        ("loadBalancer", {"simple": "FASTEST"}, "loadBalancer.simple: Input should be 'LEAST_REQUEST', 'ROUND_ROBIN' or 'RANDOM'"),
        ("fault", {"delayPercent": 5}, "a fault needs delay or abortStatus"),
        ("routes", [{"name": "s", "match": {"uri": {"prefix": "/x"}}, "weighted": True, "timeout": "10s",
                     "retries": {"attempts": 2, "perTryTimeout": "10s"}}], "route 's': retries exceed its timeout"),
    ],
)
def test_fails_when_resilience_settings_are_unsafe(base_config: dict, field: str, value, message: str) -> None:
    base_config["models"]["ai-model"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_fleet(base_config, source="serving.yaml")
    text = str(caught.value)
    assert message in text and text.startswith("serving.yaml: models.ai-model") and "fix:" in text, text
