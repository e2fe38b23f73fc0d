"""ModelAccess admits the metrics scraper: only GET on the metrics path, only from its namespace or identity."""
from __future__ import annotations

from conftest import one
from model_serving.fleet.workload import Metrics
from model_serving.k8s.security import ModelAccess


def _ns(name: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def test_without_metrics_no_scraper_is_admitted(synth) -> None:
    objects = synth(lambda c: ModelAccess(c, "Access", app="chat", namespace="ai", port=8000))
    assert one(objects, "AuthorizationPolicy")["spec"].get("rules") is None
    assert one(objects, "NetworkPolicy")["spec"]["ingress"] == []


def test_the_default_scraper_namespace_may_get_the_metrics_path_only(synth) -> None:
    objects = synth(lambda c: ModelAccess(c, "Access", app="chat", namespace="ai", port=8000, metrics=Metrics()))
    assert one(objects, "AuthorizationPolicy")["spec"]["rules"] == [{
        "from": [{"source": {"namespaces": ["monitoring"]}}],
        "to": [{"operation": {"methods": ["GET"], "paths": ["/metrics"], "ports": ["8000"]}}],
    }]
    assert one(objects, "NetworkPolicy")["spec"]["ingress"] == [{
        "from": [_ns("monitoring")],
        "ports": [{"port": 8000, "protocol": "TCP"}, {"port": 15020, "protocol": "TCP"}],
    }]


def test_an_in_mesh_scraper_is_admitted_by_its_identity_on_its_own_port(synth) -> None:
    metrics = Metrics(port=8002, path="/stats", scraper_namespace="obs", scraper_service_account="prometheus")
    objects = synth(lambda c: ModelAccess(c, "Access", app="chat", namespace="ai", port=8000, metrics=metrics))
    [rule] = one(objects, "AuthorizationPolicy")["spec"]["rules"]
    assert rule["from"] == [{"source": {"principals": ["cluster.local/ns/obs/sa/prometheus"]}}]
    assert rule["to"] == [{"operation": {"methods": ["GET"], "paths": ["/stats"], "ports": ["8002"]}}]
    [peer] = one(objects, "NetworkPolicy")["spec"]["ingress"]
    assert peer["from"] == [_ns("obs")] and [p["port"] for p in peer["ports"]] == [8002, 15020]
