"""Every synthesized manifest passes strict schema validation: built-in kinds with
kubernetes-validate's strict schemas, Istio kinds with their CRD schema and CEL rules."""
from __future__ import annotations

from pathlib import Path

import yaml

from helpers import ROOT, objects_of, synth_data
from model_serving.checks.validate import validate_manifests
from test_security import secure_fleet

BUILTIN = {"Namespace", "ServiceAccount", "Deployment", "PodDisruptionBudget", "Service", "NetworkPolicy",
           "HorizontalPodAutoscaler"}
ISTIO = {"PeerAuthentication", "RequestAuthentication", "AuthorizationPolicy", "DestinationRule", "Gateway",
         "VirtualService", "Sidecar", "TrafficExtension"}


def committed_manifests() -> list[Path]:
    """Every manifest file the project commits: dist/ and, when present, examples/dist/<name>/."""
    files = sorted((ROOT / "dist").glob("*.yaml"))
    files += sorted((ROOT / "examples" / "dist").glob("*/*.yaml"))
    return files


def test_every_synthesized_object_passes_strict_schema_and_cel_validation() -> None:
    objects = [doc for path in committed_manifests() for doc in yaml.safe_load_all(path.read_text()) if doc]
    _, outputs = synth_data(secure_fleet(), source="secure.yaml")
    objects += objects_of(outputs)
    # The run covers every kind we emit, built-in and Istio, not just a lucky subset.
    assert {o["kind"] for o in objects} == BUILTIN | ISTIO
    assert [str(error) for error in validate_manifests(objects)] == []


def test_strict_validation_catches_a_field_the_api_server_would_reject(reference) -> None:
    objects = [dict(o) for o in objects_of(reference[1])]
    network = next(o for o in objects if o["kind"] == "NetworkPolicy")
    objects[objects.index(network)] = {**network, "spec": {**network["spec"], "ingres": []}}
    errors = [str(error) for error in validate_manifests(objects)]
    assert len(errors) == 1 and "NetworkPolicy ai-services/ai-model" in errors[0] and "ingres" in errors[0]
