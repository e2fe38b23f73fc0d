"""Secure by default: strict mTLS, per-model authorization, JWT, TLS at the edge, restricted pods."""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, by_kind, model_deployments, objects_of, selects, synth_data
from model_serving.checks.analyze import analyze
from model_serving.fleet.load import ConfigError, parse_fleet

DIGEST = "@sha256:" + "4f1c3a0e2b9d8c7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
GATEWAY = "cluster.local/ns/ai-services/sa/ai-model-gateway"  # the fleet's own gateway in the reference


def gateway_of(namespace: str) -> str:
    """The identity of an environment's own gateway (named `<namespace>-gateway` by default)."""
    return f"cluster.local/ns/{namespace}/sa/{namespace}-gateway"
ISSUER = "https://auth.example.com/"


def secure_fleet() -> dict[str, Any]:
    """A fleet that turns on every security option (also scanned by checkov and the validators)."""
    return {
        "environments": {
            "production": {
                "namespace": "ai-prod",
                "gateway": {
                    "hosts": ["llm.example.com", "*.models.example.com"],
                    "tls": {"credentialName": "llm-tls", "minProtocolVersion": "TLSV1_3"},
                },
                "jwt": {
                    "issuer": ISSUER,
                    "jwksUri": "https://auth.example.com/.well-known/jwks.json",
                    "audiences": ["models"],
                },
                "metricsFrom": ["monitoring"],
            },
            "staging": {
                "namespace": "ai-staging",
                "gateway": {"hosts": ["*"], "plainHttp": True},
                "podSecurity": "baseline",
                "models": {"llm": {"host": "llm.staging.example.com"}},
            },
        },
        "models": {
            "llm": {
                "host": "llm.example.com",
                "consumers": [
                    {"namespace": "batch"},
                    {"namespace": "apps", "serviceAccount": "frontend", "methods": ["POST"],
                     "paths": ["/v1/chat/completions", "/v1/*"]},
                ],
                "resources": {"gpu": {"count": 1}},
                "autoscaling": {"maxReplicas": 4, "metric": "vllm_num_requests_waiting", "metricTarget": "5"},
                "metrics": {},
                "storage": {"downloadImage": f"registry.example.com/tools/fetch:1.0{DIGEST}",
                            "downloadCommand": ["fetch", "--to", "/models"]},
                "versions": {"v1": {"image": f"registry.example.com/llm:1.0{DIGEST}", "weight": 100}},
            },
            "embed": {
                "protocol": "grpc",
                "health": {"protocol": "grpc"},
                "serviceAccountToken": True,
                "storage": {"pvc": "embed-weights", "accessMode": "ReadOnlyMany"},
                "versions": {
                    "a": {"image": f"registry.example.com/embed:2.0{DIGEST}", "weight": 50, "replicas": 2},
                    "b": {"image": f"registry.example.com/embed:3.0{DIGEST}", "weight": 50, "replicas": 2},
                },
            },
        },
    }


_SECURE: list[tuple] = []


@pytest.fixture
def secure() -> tuple:
    """secure_fleet() synthesized once per session: (fleet, objects)."""
    if not _SECURE:
        fleet, outputs = synth_data(secure_fleet(), source="secure.yaml")
        _SECURE.append((fleet, objects_of(outputs)))
    return _SECURE[0]


def _named(objects: list[dict], kind: str, namespace: str, name: str) -> dict:
    [obj] = [o for o in by_kind(objects, kind) if o["metadata"]["namespace"] == namespace and o["metadata"]["name"] == name]
    return obj


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(data, source="serving.yaml")
    message = str(caught.value)
    assert "\n" not in message and "; fix: " in message, message
    return message


def test_every_security_option_synthesizes_cleanly(secure) -> None:
    fleet, objects = secure
    assert [str(finding) for finding in analyze(objects)] == []
    assert fleet.warnings == []  # all images pinned, JWT only behind TLS


# --- mesh: mTLS ------------------------------------------------------------------------------


def test_namespace_is_strict_mtls_injected_and_restricted(reference) -> None:
    objects = objects_of(reference[1])
    [ns] = by_kind(objects, "Namespace")
    assert ns["metadata"]["labels"] == {
        "istio-injection": "enabled",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    [peer] = by_kind(objects, "PeerAuthentication")
    # Namespace-wide: no selector, no per-port exception.
    assert peer["metadata"] == {"name": "default", "namespace": "ai-services"}
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}


def test_every_destination_rule_uses_istio_mutual(reference, secure) -> None:
    rules = by_kind(objects_of(reference[1]), "DestinationRule") + by_kind(secure[1], "DestinationRule")
    assert len(rules) == 1 + 4
    for rule in rules:
        assert rule["spec"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
        for subset in rule["spec"]["subsets"]:
            assert "tls" not in subset.get("trafficPolicy", {}), subset


# --- mesh: authorization ---------------------------------------------------------------------


def test_model_without_consumers_is_reachable_only_through_the_gateway(reference) -> None:
    [policy] = by_kind(objects_of(reference[1]), "AuthorizationPolicy")
    assert policy["spec"] == {
        "action": "ALLOW",
        "selector": {"matchLabels": {"app": "ai-model"}},
        "rules": [{"from": [{"source": {"principals": [GATEWAY]}}]}],
    }


def test_consumers_become_allow_rules_for_their_namespace_or_identity(secure) -> None:
    policy = _named(secure[1], "AuthorizationPolicy", "ai-staging", "llm")
    assert policy["spec"]["action"] == "ALLOW"
    assert policy["spec"]["rules"] == [
        {"from": [{"source": {"principals": [gateway_of("ai-staging")]}}]},
        {"from": [{"source": {"namespaces": ["batch"]}}]},
        {
            "from": [{"source": {"principals": ["cluster.local/ns/apps/sa/frontend"]}}],
            "to": [{"operation": {"methods": ["POST"], "paths": ["/v1/chat/completions", "/v1/*"]}}],
        },
        # metrics: {} -> the default scraper namespace may GET /metrics on the serving port
        {"from": [{"source": {"namespaces": ["monitoring"]}}],
         "to": [{"operation": {"methods": ["GET"], "paths": ["/metrics"], "ports": ["8080"]}}]},
    ]


def test_the_fleet_runs_its_own_gateway_and_admits_exactly_it(reference) -> None:
    objects = objects_of(reference[1])
    [deployment] = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "ai-model-gateway"]
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {"inject.istio.io/templates": "gateway"}
    assert template["metadata"]["labels"] == {"app": "ai-model-gateway", "istio": "ai-model-gateway",
                                              "sidecar.istio.io/inject": "true"}
    assert [c["image"] for c in template["spec"]["containers"]] == ["auto"]
    assert template["spec"]["serviceAccountName"] == "ai-model-gateway"
    pods = {"app": "ai-model-gateway", "istio": "ai-model-gateway"}
    assert _named(objects, "Service", "ai-services", "ai-model-gateway")["spec"]["type"] == "LoadBalancer"
    assert _named(objects, "HorizontalPodAutoscaler", "ai-services", "ai-model-gateway")["spec"]["minReplicas"] == 2
    assert _named(objects, "PodDisruptionBudget", "ai-services", "ai-model-gateway")["spec"]["minAvailable"] == 1
    _named(objects, "ServiceAccount", "ai-services", "ai-model-gateway")
    [gateway] = by_kind(objects, "Gateway")
    assert gateway["spec"]["selector"] == pods
    # The gateway's own pods: anyone, but only to the HTTPS port and the load balancer's health check.
    own = _named(objects, "NetworkPolicy", "ai-services", "ai-model-gateway")["spec"]
    assert own["podSelector"] == {"matchLabels": pods}
    assert own["ingress"] == [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 15021, "protocol": "TCP"}]}]
    network = _named(objects, "NetworkPolicy", "ai-services", "ai-model")
    assert network["spec"]["ingress"][0]["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ai-services"}},
        "podSelector": {"matchLabels": pods},
    }]


def test_gateway_pods_meet_the_restricted_pod_security_standard(reference) -> None:
    [gateway] = [d for d in by_kind(objects_of(reference[1]), "Deployment") if d not in model_deployments(objects_of(reference[1]))]
    spec = gateway["spec"]["template"]["spec"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # The one sysctl Pod Security counts as safe (baseline and restricted), so the proxy may bind 80/443.
    assert spec["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    assert spec["automountServiceAccountToken"] is False
    [proxy] = spec["containers"]
    assert proxy["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                        "privileged": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True}


def test_service_type_and_replicas_of_the_own_gateway_are_configurable(base_config: dict) -> None:
    base_config["environments"]["production"]["gateway"]["deployment"] = {
        "serviceType": "NodePort", "minReplicas": 1, "maxReplicas": 3,
    }
    objects = objects_of(synth_data(base_config)[1])
    assert _named(objects, "Service", "ai-services", "ai-model-gateway")["spec"]["type"] == "NodePort"
    assert _named(objects, "HorizontalPodAutoscaler", "ai-services", "ai-model-gateway")["spec"]["maxReplicas"] == 3
    # One pod minimum: a budget of minAvailable 1 would block every node drain.
    assert _named(objects, "PodDisruptionBudget", "ai-services", "ai-model-gateway")["spec"]["maxUnavailable"] == 1


def test_a_shared_gateway_is_named_explicitly_and_admitted_exactly(base_config: dict) -> None:
    # The Helm chart istio/gateway, release istio-ingress in namespace istio-ingress.
    base_config["environments"]["production"]["gateway"]["workload"] = {
        "namespace": "istio-ingress", "serviceAccount": "istio-ingress", "selector": {"istio": "ingress"},
    }
    base_config["environments"]["production"]["gateway"]["tls"]["httpsRedirect"] = True
    _, outputs = synth_data(base_config)
    objects = objects_of(outputs)
    assert model_deployments(objects) == by_kind(objects, "Deployment")  # no gateway pods of our own
    [policy] = by_kind(objects, "AuthorizationPolicy")
    assert policy["spec"]["rules"][0]["from"][0]["source"]["principals"] == ["cluster.local/ns/istio-ingress/sa/istio-ingress"]
    [network] = by_kind(objects, "NetworkPolicy")
    assert network["spec"]["ingress"][0]["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
        "podSelector": {"matchLabels": {"istio": "ingress"}},
    }]
    assert [g["spec"]["selector"] for g in by_kind(objects, "Gateway")] == [{"istio": "ingress"}] * 2
    # The gateway's proxies must see the Service, its subsets, the edge routes and the redirect.
    edge = _named(objects, "VirtualService", "ai-services", "ai-model-edge")
    assert edge["spec"]["exportTo"] == ["istio-ingress"]
    redirect = _named(objects, "VirtualService", "ai-services", "ai-model-gateway-https-redirect")
    assert redirect["spec"]["exportTo"] == ["istio-ingress"]
    assert _named(objects, "DestinationRule", "ai-services", "ai-model")["spec"]["exportTo"] == [".", "istio-ingress"]


@pytest.mark.parametrize("workload", [
    {"namespace": "istio-system"},
    {"namespace": "istio-system", "serviceAccount": "istio-ingressgateway-service-account"},
    {"namespace": "istio-system", "serviceAccount": "x", "selector": {}},
])
def test_a_shared_gateway_must_be_named_completely(base_config: dict, workload: dict) -> None:
    base_config["environments"]["production"]["gateway"]["workload"] = workload
    assert "gateway.workload" in _error(base_config)


def test_every_model_pod_is_selected_by_an_allow_policy_and_a_network_policy(reference, secure) -> None:
    for objects in (objects_of(reference[1]), secure[1]):
        for deployment in model_deployments(objects):
            namespace = deployment["metadata"]["namespace"]
            pod = deployment["spec"]["template"]["metadata"]["labels"]
            for kind, selector in (("AuthorizationPolicy", "selector"), ("NetworkPolicy", "podSelector")):
                assert any(
                    o["metadata"]["namespace"] == namespace and selects(o["spec"][selector]["matchLabels"], pod)
                    for o in by_kind(objects, kind)
                ), f"{kind} misses {deployment['metadata']['name']}"


# --- mesh: JWT -------------------------------------------------------------------------------


def test_jwt_validates_tokens_and_requires_one_on_gateway_requests(secure) -> None:
    objects = secure[1]
    [request_auth] = by_kind(objects, "RequestAuthentication")
    assert request_auth["metadata"] == {"name": "jwt", "namespace": "ai-prod"}
    assert request_auth["spec"] == {
        "jwtRules": [
            {"issuer": ISSUER, "jwksUri": "https://auth.example.com/.well-known/jwks.json", "audiences": ["models"]}
        ]
    }
    rules = _named(objects, "AuthorizationPolicy", "ai-prod", "llm")["spec"]["rules"]
    # Gateway traffic needs our issuer's token; mesh consumers are identified by mTLS alone.
    assert rules[0] == {"from": [{"source": {"principals": [gateway_of("ai-prod")], "requestPrincipals": [f"{ISSUER}/*"]}}]}
    assert all("requestPrincipals" not in rule["from"][0]["source"] for rule in rules[1:])


def test_no_jwt_objects_unless_declared(secure) -> None:
    assert [o for o in by_kind(secure[1], "RequestAuthentication") if o["metadata"]["namespace"] == "ai-staging"] == []
    staging = _named(secure[1], "AuthorizationPolicy", "ai-staging", "embed")
    assert staging["spec"]["rules"] == [{"from": [{"source": {"principals": [gateway_of("ai-staging")]}}]}]


# --- network policy --------------------------------------------------------------------------


def _namespaces(rule: dict) -> list[str]:
    return [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]]


def test_network_policy_admits_only_the_gateway_and_consumer_namespaces(reference, secure) -> None:
    network = _named(objects_of(reference[1]), "NetworkPolicy", "ai-services", "ai-model")
    assert network["spec"]["policyTypes"] == ["Ingress"]
    assert network["spec"]["podSelector"] == {"matchLabels": {"app": "ai-model"}}
    [rule] = network["spec"]["ingress"]
    assert _namespaces(rule) == ["ai-services"]  # the gateway's pods (podSelector), not the whole namespace
    assert rule["from"][0]["podSelector"] == {"matchLabels": {"app": "ai-model-gateway", "istio": "ai-model-gateway"}}
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]

    serving, scraper = _named(secure[1], "NetworkPolicy", "ai-staging", "llm")["spec"]["ingress"]
    assert _namespaces(serving) == ["ai-staging", "apps", "batch"]
    assert serving["ports"] == [{"port": 8080, "protocol": "TCP"}]
    # llm declares metrics: its scraper reaches istio-agent's merged metrics and the server's port
    assert _namespaces(scraper) == ["monitoring"]
    assert scraper["ports"] == [{"port": 8080, "protocol": "TCP"}, {"port": 15020, "protocol": "TCP"}]


def test_metrics_from_opens_only_the_sidecar_metrics_port(secure) -> None:
    serving, metrics = _named(secure[1], "NetworkPolicy", "ai-prod", "embed")["spec"]["ingress"]
    assert _namespaces(serving) == ["ai-prod"]
    assert _namespaces(metrics) == ["monitoring"]
    assert metrics["ports"] == [{"port": 15020, "protocol": "TCP"}]
    _, gateway_metrics = _named(secure[1], "NetworkPolicy", "ai-prod", "ai-prod-gateway")["spec"]["ingress"]
    assert _namespaces(gateway_metrics) == ["monitoring"]
    assert gateway_metrics["ports"] == [{"port": 15020, "protocol": "TCP"}, {"port": 15090, "protocol": "TCP"}]


# --- edge ------------------------------------------------------------------------------------


def test_gateway_serves_https_with_the_declared_secret_and_not_port_80(reference) -> None:
    [gateway] = by_kind(objects_of(reference[1]), "Gateway")
    [https] = gateway["spec"]["servers"]
    assert https["port"] == {"number": 443, "name": "https", "protocol": "HTTPS"}
    assert https["tls"] == {"mode": "SIMPLE", "credentialName": "ai-model-tls", "minProtocolVersion": "TLSV1_2"}
    service = _named(objects_of(reference[1]), "Service", "ai-services", "ai-model-gateway")
    assert [p["port"] for p in service["spec"]["ports"]] == [15021, 443]


def test_port_80_redirects_with_308_on_a_gateway_of_its_own(base_config: dict) -> None:
    base_config["environments"]["production"]["gateway"]["tls"]["httpsRedirect"] = True
    objects = objects_of(synth_data(base_config)[1])
    main, http = by_kind(objects, "Gateway")
    assert [s["port"]["number"] for s in main["spec"]["servers"]] == [443]
    [server] = http["spec"]["servers"]
    assert server["port"]["number"] == 80 and "tls" not in server  # no httpsRedirect: that answers 301
    assert server["hosts"] == ["ai-services/ai-model.example.com"]
    redirect = _named(objects, "VirtualService", "ai-services", "ai-model-gateway-https-redirect")
    assert redirect["spec"]["gateways"] == ["ai-services/ai-model-gateway-http"]
    assert redirect["spec"]["http"] == [{"name": "https-redirect", "redirect": {"scheme": "https", "redirectCode": 308}}]
    # No model route is bound to the port-80 Gateway: plain HTTP never reaches a model.
    bound = {g for vs in by_kind(objects, "VirtualService") for g in vs["spec"]["gateways"]}
    assert bound == {"mesh", "ai-services/ai-model-gateway", "ai-services/ai-model-gateway-http"}
    assert [vs["metadata"]["name"] for vs in by_kind(objects, "VirtualService")
            if "ai-services/ai-model-gateway-http" in vs["spec"]["gateways"]] == ["ai-model-gateway-https-redirect"]
    service = _named(objects, "Service", "ai-services", "ai-model-gateway")
    assert [p["port"] for p in service["spec"]["ports"]] == [15021, 80, 443]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [(["ai-model.example.com"], ["ai-services/ai-model.example.com"]),
     (["ai-model.example.com", "*.example.com"], ["ai-services/ai-model.example.com", "ai-services/*.example.com"]),
     (["*"], ["ai-services/*"])],
)
def test_gateway_hosts_are_exactly_the_declared_ones_in_our_namespace(base_config: dict, hosts: list[str], expected: list[str]) -> None:
    # A bare host means */host: a VirtualService of any namespace could bind to our Gateway for it.
    base_config["environments"]["production"]["gateway"]["hosts"] = hosts
    base_config["environments"]["production"]["gateway"]["tls"]["httpsRedirect"] = True
    _, outputs = synth_data(base_config)
    gateways = by_kind(objects_of(outputs), "Gateway")
    assert [server["hosts"] for gateway in gateways for server in gateway["spec"]["servers"]] == [expected, expected]


def test_plain_http_only_when_declared(secure) -> None:
    gateway = _named(secure[1], "Gateway", "ai-staging", "ai-staging-gateway")
    assert gateway["spec"]["servers"] == [
        {"name": "http", "port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["ai-staging/*"]}
    ]
    production = _named(secure[1], "Gateway", "ai-prod", "ai-prod-gateway")
    assert [s["port"]["protocol"] for s in production["spec"]["servers"]] == ["HTTPS"]
    assert production["spec"]["servers"][0]["tls"]["minProtocolVersion"] == "TLSV1_3"


def test_no_port_80_unless_asked(base_config: dict) -> None:
    base_config["environments"]["production"]["gateway"]["tls"].update(mode="MUTUAL")
    _, outputs = synth_data(base_config)
    [gateway] = by_kind(objects_of(outputs), "Gateway")
    [server] = gateway["spec"]["servers"]
    assert server["port"]["number"] == 443 and server["tls"]["mode"] == "MUTUAL"


def test_no_secret_is_ever_synthesized(reference, secure) -> None:
    kinds = {o["kind"] for o in objects_of(reference[1]) + secure[1]}
    assert "Secret" not in kinds


# --- workloads -------------------------------------------------------------------------------


def _containers(deployment: dict) -> list[dict]:
    spec = deployment["spec"]["template"]["spec"]
    return spec["containers"] + spec.get("initContainers", [])


def test_every_pod_meets_the_restricted_pod_security_standard(reference, secure) -> None:
    deployments = model_deployments(objects_of(reference[1])) + model_deployments(secure[1])
    assert len(deployments) == 2 + 6
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000 and pod["runAsGroup"] >= 10000
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "persistentVolumeClaim"}, volume
        for container in _containers(deployment):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["privileged"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] >= 10000
            assert "ports" not in container or all("hostPort" not in p for p in container["ports"])


def test_writable_paths_are_empty_dirs_under_a_read_only_root(reference) -> None:
    deployment = model_deployments(objects_of(reference[1]))[0]
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in spec["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/home/model"}
    assert all("emptyDir" in volume for volume in mounts.values())


def test_service_account_token_is_mounted_only_when_asked(secure) -> None:
    objects = secure[1]
    for namespace in ("ai-prod", "ai-staging"):
        assert _named(objects, "ServiceAccount", namespace, "llm")["automountServiceAccountToken"] is False
        assert _named(objects, "ServiceAccount", namespace, "embed")["automountServiceAccountToken"] is True
    for deployment in model_deployments(objects):
        asked = deployment["metadata"]["name"].startswith("embed-")
        assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is asked
        # The opt-in is recorded for policy scanners on exactly the objects that declared it.
        waiver = deployment["metadata"].get("annotations", {}).get("checkov.io/skip1", "")
        assert waiver.startswith("CKV_K8S_38=") is asked
        assert waiver.count("=") <= 1  # checkov splits the annotation on '='


def test_images_are_pinned_by_digest_in_the_committed_output(reference) -> None:
    for deployment in model_deployments(objects_of(reference[1])):
        for container in _containers(deployment):
            assert "@sha256:" in container["image"], container["image"]


@pytest.mark.parametrize(
    ("image", "warned"),
    [
        ("registry.example.com/ai/model:latest", True),
        ("registry.example.com/ai/model", True),
        ("registry.example.com:5000/ai/model", True),
        ("registry.example.com/ai/model@sha256:abc", True),
        ("registry.example.com/ai/model:1.2.3", False),
        (f"registry.example.com/ai/model{DIGEST}", False),
        (f"registry.example.com:5000/ai/model:1.2.3{DIGEST}", False),
    ],
)
def test_warns_when_an_image_is_not_pinned(base_config: dict, image: str, warned: bool) -> None:
    base_config["models"]["ai-model"]["versions"]["v2"]["image"] = image
    fleet = parse_fleet(base_config, source="serving.yaml")
    mine = [w for w in fleet.warnings if "versions.v2.image" in w]
    assert bool(mine) is warned, fleet.warnings
    if warned:
        assert mine[0].startswith("serving.yaml: production: models.ai-model.versions.v2.image: ")


def test_warns_when_jwt_can_travel_over_plain_http(base_config: dict) -> None:
    env = base_config["environments"]["production"]
    env["jwt"] = {"issuer": ISSUER, "jwksUri": "https://auth.example.com/keys"}
    assert not [w for w in parse_fleet(copy.deepcopy(base_config)).warnings if ".jwt:" in w]
    env["gateway"]["plainHttp"] = True
    [warning] = [w for w in parse_fleet(base_config).warnings if ".jwt:" in w]
    assert "environments.production.jwt" in warning and "plain HTTP" in warning


# --- bad input: one line naming file, field and fix -----------------------------------------


def _model(config: dict) -> dict:
    return config["models"]["ai-model"]


def _env(config: dict) -> dict:
    return config["environments"]["production"]


@pytest.mark.parametrize(
    ("break_it", "where", "problem"),
    [
        (lambda c: _model(c).update(consumers=[{"serviceAccount": "frontend"}]),
         "models.ai-model.consumers[0].namespace", "missing; fix: add it (namespace: The caller's namespace.)"),
        (lambda c: _model(c).update(consumers=[{}]), "models.ai-model.consumers[0].namespace", "missing; fix: add it"),
        (lambda c: _model(c).update(consumers=["batch"]), "models.ai-model.consumers[0]", "fix: write {namespace: batch}"),
        (lambda c: _model(c).update(consumers=[{"namespace": "Batch_Jobs"}]),
         "models.ai-model.consumers[0].namespace", "is not a DNS-1123 label"),
        (lambda c: _model(c).update(consumers=[{"namespace": "apps", "serviceAccount": "*"}]),
         "models.ai-model.consumers[0].serviceAccount", "is not a DNS-1123 label"),
        (lambda c: _model(c).update(consumers=[{"namespace": "apps", "methods": ["get"]}]),
         "models.ai-model.consumers[0].methods", "unknown HTTP method 'get'"),
        (lambda c: _model(c).update(consumers=[{"namespace": "apps", "paths": ["v1/chat"]}]),
         "models.ai-model.consumers[0].paths[0]", "does not start with '/'"),
        (lambda c: _model(c).update(consumers=[{"namespace": "apps", "paths": ["/v1/*/chat"]}]),
         "models.ai-model.consumers[0].paths", "'*' before its end"),
        (lambda c: _model(c).update(consumers=[{"namespace": "apps", "team": "x"}]),
         "models.ai-model.consumers[0].team", "unknown field"),
        (lambda c: _env(c)["gateway"].update(tls={"mode": "MUTUAL"}),
         "environments.production.gateway.tls.credentialName", "missing; fix: add it (credentialName: The TLS Secret"),
        (lambda c: _env(c)["gateway"]["tls"].update(mode="PASSTHROUGH"),
         "environments.production.gateway.tls.mode", "use one of the allowed values"),
        (lambda c: _env(c)["gateway"]["tls"].update(minProtocolVersion="TLSV1_0"),
         "environments.production.gateway.tls.minProtocolVersion", "use one of the allowed values"),
        (lambda c: _env(c)["gateway"].pop("tls"), "environments.production.gateway", "the gateway has no tls"),
        (lambda c: _env(c)["gateway"].update(hosts=[]), "environments.production.gateway.hosts", "at least 1 item"),
        (lambda c: _env(c).update(jwt={"jwksUri": "https://auth.example.com/keys"}),
         "environments.production.jwt.issuer", "missing; fix: add it (issuer: The token issuer"),
        (lambda c: _env(c).update(jwt={"issuer": ISSUER}), "environments.production.jwt.jwksUri", "missing; fix: add it (jwksUri: The issuer's key set"),
        (lambda c: _env(c).update(jwt={"issuer": "http://auth.example.com/", "jwksUri": "https://a.example.com/k"}),
         "environments.production.jwt.issuer", "is not an https URL"),
        (lambda c: _env(c).update(metricsFrom=["Monitoring"]),
         "environments.production.metricsFrom[0]", "is not a DNS-1123 label"),
        (lambda c: _env(c).update(podSecurity="privileged"),
         "environments.production.podSecurity", "use one of the allowed values"),
        (lambda c: _model(c).update(serviceAccountToken="yes please"),
         "models.ai-model.serviceAccountToken", "use true or false"),
    ],
)
def test_fails_when_security_settings_are_wrong(
    base_config: dict, break_it: Callable[[dict], Any], where: str, problem: str
) -> None:
    break_it(base_config)
    message = _error(base_config)
    assert message.startswith(f"serving.yaml: {where}: "), message
    assert problem in message, message


def test_fails_when_a_consumer_names_nobody_and_leaves_dist_untouched(tmp_path: Path) -> None:
    for name in ("serving.yaml", "main.py", "cdk8s.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    config = tmp_path / "serving.yaml"
    config.write_text(config.read_text().replace("    port: 8080\n", "    port: 8080\n    consumers: [{serviceAccount: batch}]\n"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "dist").iterdir()}
    result = subprocess.run(
        [sys.executable, "-O", "main.py"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: serving.yaml: models.ai-model.consumers[0].namespace: missing; fix: add it (namespace: The caller's namespace.)"
    ]
    assert {p.name: p.read_bytes() for p in (tmp_path / "dist").iterdir()} == before
