"""Shared test helpers: synthesize fleets in-process and check the foundation's invariants."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from model_serving.commands.synth import Output, synthesize
from model_serving.fleet.fleet import Fleet
from model_serving.fleet.load import parse_fleet

ROOT = Path(__file__).resolve().parents[1]
ISTIO = ".istio.io/"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder`, by relative path: compare two to prove nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def synth_data(data: dict, source: str = "test.yaml") -> tuple[Fleet, list[Output]]:
    """Validate a config dict and synthesize it (one cdk8s App per environment)."""
    fleet = parse_fleet(copy.deepcopy(data), source=source)
    return fleet, synthesize(fleet)


def objects_of(outputs: list[Output]) -> list[dict]:
    return [obj for out in outputs for obj in out.objects]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def is_gateway(deployment: dict) -> bool:
    """Ingress gateway pods (Istio's gateway injection template), not a model version."""
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get("inject.istio.io/templates") == "gateway"


def model_deployments(objects: list[dict]) -> list[dict]:
    """The Deployments of model versions (the fleet's gateway pods left out)."""
    return [d for d in by_kind(objects, "Deployment") if not is_gateway(d)]


def pod_templates(objects: list[dict]) -> list[tuple[str, dict[str, str]]]:
    return [
        (o["metadata"]["namespace"], o["spec"]["template"]["metadata"]["labels"])
        for o in by_kind(objects, "Deployment")
    ]


def service_hosts(objects: list[dict]) -> dict[str, dict]:
    return {
        f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local": s for s in by_kind(objects, "Service")
    }


def host_covered(host: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.split("/", 1)[-1]
        if pattern in ("*", host) or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def assert_invariants(objects: list[dict]) -> None:
    """The foundation's correctness rules; each failure message names the broken object."""
    services = service_hosts(objects)
    rules = {dr["spec"]["host"]: dr for dr in by_kind(objects, "DestinationRule")}
    templates = pod_templates(objects)
    gateways = {f"{g['metadata']['namespace']}/{g['metadata']['name']}": g for g in by_kind(objects, "Gateway")}
    namespaces = {n["metadata"]["name"]: n for n in by_kind(objects, "Namespace")}

    for ns in namespaces.values():
        labels = ns["metadata"]["labels"]
        assert labels.get("istio-injection") == "enabled" or labels.get("istio.io/rev"), f"namespace {ns['metadata']['name']} not injected"
    gateway_pods = [d["spec"]["template"]["metadata"]["labels"] for d in by_kind(objects, "Deployment") if is_gateway(d)]
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] in namespaces, f"{obj['kind']} {obj['metadata']['name']} outside our namespaces"

    for host, svc in services.items():
        selector = svc["spec"]["selector"]
        assert any(selects(selector, labels) for ns, labels in templates if ns == svc["metadata"]["namespace"]), (
            f"Service {host} selects no pods"
        )
        if any(selects(selector, labels) for labels in gateway_pods):
            continue  # the gateway's Service: clients' ports, not mesh protocols
        for port in svc["spec"]["ports"]:
            assert port["name"].split("-")[0] in ("http", "grpc", "http2") and port.get("appProtocol"), port

    for host, dr in rules.items():
        assert host in services, f"DestinationRule {dr['metadata']['name']} host {host} is no Service"
        base = services[host]["spec"]["selector"]
        for subset in dr["spec"]["subsets"]:
            assert any(selects({**base, **subset["labels"]}, labels) for _, labels in templates), (
                f"subset {subset['name']} of {host} selects no pods"
            )

    for vs in by_kind(objects, "VirtualService"):
        name = vs["metadata"]["name"]
        for ref in vs["spec"].get("gateways", ["mesh"]):
            if ref == "mesh":
                continue
            assert ref in gateways, f"VirtualService {name} binds to missing Gateway {ref}"
            server_hosts = [h for s in gateways[ref]["spec"]["servers"] for h in s["hosts"]]
            for host in vs["spec"]["hosts"]:
                if host not in services:
                    assert host_covered(host, server_hosts), f"{host} of {name} not in Gateway {ref}"
        for route in vs["spec"]["http"]:
            if "redirect" in route:
                continue
            assert ("route" in route) != ("directResponse" in route), (name, route["name"])  # one action each
            weights = [d.get("weight") for d in route.get("route", [])]
            if len(weights) > 1:
                assert all(w is not None and w >= 0 for w in weights) and sum(weights) == 100, (name, route["name"], weights)
            targets = [d["destination"] for d in route.get("route", [])]
            targets += [m["destination"] for m in route.get("mirrors", [])]
            for dest in targets:
                assert dest["host"] in rules, f"{name}/{route['name']} routes to {dest['host']} without DestinationRule"
                subsets = {s["name"] for s in rules[dest["host"]]["spec"]["subsets"]}
                assert dest["subset"] in subsets, f"{name}/{route['name']} routes to undefined subset {dest['subset']}"
                port = dest.get("port", {}).get("number")
                assert port in {p["port"] for p in services[dest["host"]]["spec"]["ports"]}, (name, port)


def assert_apply_order(objects: list[dict]) -> None:
    """Namespace first; every VirtualService after the DestinationRule, Service and workloads it routes to."""
    kinds = [o["kind"] for o in objects]
    assert kinds[0] == "Namespace"
    position = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): i for i, o in enumerate(objects)}
    rules = {o["spec"]["host"]: position[("DestinationRule", o["metadata"]["namespace"], o["metadata"]["name"])]
             for o in by_kind(objects, "DestinationRule")}
    for i, vs in enumerate(objects):
        if vs["kind"] != "VirtualService":
            continue
        for route in vs["spec"].get("http", []):
            for dest in route.get("route", []):
                host = dest["destination"]["host"]
                app, namespace = host.split(".")[:2]
                assert rules[host] < i, f"DestinationRule of {host} comes after VirtualService {vs['metadata']['name']}"
                assert position[("Service", namespace, app)] < i, f"Service {app} comes after its VirtualService"
                deployment = ("Deployment", namespace, f"{app}-{dest['destination']['subset']}")
                assert position[deployment] < i, f"{deployment} comes after VirtualService {vs['metadata']['name']}"


ANALYZE_FIXTURES = ROOT / "tests" / "fixtures" / "analyze"


def analyzer_findings(*names: str, base: bool = True) -> list:
    """Analyze the named analyzer fixtures, on top of base.yaml unless `base` is False."""
    from model_serving.checks.analyze import analyze, load_manifests

    files = (["base.yaml"] if base else []) + list(names)
    return analyze(load_manifests([ANALYZE_FIXTURES / name for name in files]))


def flagged(findings: list, code: str) -> set[str]:
    """Resources that got a finding with `code`."""
    return {finding.resource for finding in findings if finding.code == code}
