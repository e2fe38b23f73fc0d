"""House codes for production behaviour of YAML someone else wrote (MS1010-MS1020).

Each is valid to Istio and passes istioctl, and each misbehaves with model serving traffic:
gateway host scoping, redirects, retries, outlier detection, streaming, sync waves, sticky
cohorts and the OpenAI endpoint's model header.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import ANALYZE_FIXTURES as FIXTURES
from helpers import analyzer_findings as findings_for
from helpers import flagged
from model_serving.checks.analyze import ALL_CODES, analyze, load_manifests

PAIRS = [
    # (code, failing fixture, passing fixture, resources the failing one reports)
    ("MS1010", "gateway_host_unscoped.yaml", "gateway_host_scoped_pass.yaml", {"Gateway ai-services/llm-gateway"}),
    ("MS1011", "gateway_https_redirect.yaml", "gateway_https_redirect_pass.yaml", {"Gateway ai-services/llm-gateway"}),
    ("MS1012", "vs_per_try_timeout_retried.yaml", "vs_per_try_timeout_pass.yaml", {"VirtualService ai-services/llm-retries"}),
    ("MS1013", "vs_grpc_retry_on_http.yaml", "vs_grpc_retry_pass.yaml", {"VirtualService ai-services/ai-model-retries"}),
    (
        "MS1014",
        "dr_outlier_counts_timeouts.yaml",
        "dr_outlier_pass.yaml",
        {
            "DestinationRule ai-services/ai-model-5xx",
            "DestinationRule ai-services/ai-model-defaults",
            "DestinationRule ai-services/ai-model-gateway-errors",
        },
    ),
    ("MS1015", "vs_streaming_accept_match.yaml", "vs_streaming_pass.yaml", {"VirtualService ai-services/llm"}),
    (
        "MS1016",
        "vs_sync_wave_after_deployments.yaml",
        "vs_sync_wave_pass.yaml",
        {"VirtualService ai-services/ai-model-split", "VirtualService ai-services/ai-model-v1-only"},
    ),
    ("MS1017", "vs_sticky_cookie_partial.yaml", "vs_sticky_cookie_pass.yaml", {"VirtualService ai-services/chat"}),
    ("MS1018", "openai_model_header_unset.yaml", "openai_model_routes_pass.yaml", {"VirtualService ai-services/llm"}),
    ("MS1019", "openai_models_route_missing.yaml", "openai_model_routes_pass.yaml", {"VirtualService ai-services/llm"}),
    (
        "MS1020",
        "openai_model_name_collision.yaml",
        "openai_model_routes_pass.yaml",
        {"VirtualService ai-services/llm", "VirtualService ai-services/llm-finetune"},
    ),
]
LEVELS = {code.code: code.level for code in ALL_CODES}


@pytest.mark.parametrize(("code", "failing", "passing", "resources"), PAIRS, ids=[p[0] for p in PAIRS])
def test_passing_fixture_has_no_findings(code: str, failing: str, passing: str, resources: set[str]) -> None:
    assert findings_for(passing) == []


@pytest.mark.parametrize(("code", "failing", "passing", "resources"), PAIRS, ids=[p[0] for p in PAIRS])
def test_failing_fixture_reports_only_its_code(code: str, failing: str, passing: str, resources: set[str]) -> None:
    findings = findings_for(failing)
    assert flagged(findings, code) == resources
    assert {(f.code, f.level) for f in findings} == {(code, LEVELS[code])}


def test_new_codes_have_the_levels_asked_for() -> None:
    errors = {"MS1018", "MS1020"}
    assert {code: level for code, level in LEVELS.items() if code >= "MS1010"} == {
        f"MS10{n}": ("Error" if f"MS10{n}" in errors else "Warning") for n in range(10, 21)
    }


def _with(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [*load_manifests([FIXTURES / "base.yaml"]), *extra]


def _vs(name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "ai-services"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": metadata, "spec": spec}


# --- MS1010 / MS1011: gateway servers --------------------------------------------------------


def test_MS1010_suggests_the_namespace_of_the_binding_virtual_services() -> None:
    (finding,) = findings_for("gateway_host_unscoped.yaml")
    assert "[*.models.example.com, llm.example.com]" in finding.message
    assert "ai-services/llm.example.com" in finding.fix


def test_MS1011_names_the_port_and_the_308_fix() -> None:
    (finding,) = findings_for("gateway_https_redirect.yaml")
    assert "servers[1] (port 80)" in finding.message and "301" in finding.message
    assert "redirectCode: 308" in finding.fix


# --- MS1012 / MS1013: retries -----------------------------------------------------------------


def test_MS1012_reports_each_route_whose_conditions_retry_a_per_try_timeout() -> None:
    findings = findings_for("vs_per_try_timeout_retried.yaml")
    heads = sorted(f.message.split(" sets ")[0] for f in findings)
    assert heads == ["http[0]", "http[1]", "http[2]"]
    assert any("below its unlimited route timeout" in f.message for f in findings)  # no route timeout


@pytest.mark.parametrize(
    ("retries", "timeout", "reported"),
    [
        ({"attempts": 2, "perTryTimeout": "30s", "retryOn": "5xx"}, "300s", True),
        ({"attempts": 2, "perTryTimeout": "30s", "retryOn": "reset"}, None, True),
        # Envoy does not retry a per-try timeout on retriable-status-codes: no status came back.
        ({"attempts": 2, "perTryTimeout": "30s", "retryOn": "retriable-status-codes,504"}, "300s", False),
        ({"attempts": 2, "perTryTimeout": "30s"}, "300s", False),  # Istio's default retryOn
        ({"attempts": 2, "retryOn": "5xx"}, "300s", False),  # no per-try timeout
        ({"attempts": 0, "perTryTimeout": "30s", "retryOn": "5xx"}, "300s", False),  # retries off
        ({"attempts": 1, "perTryTimeout": "300s", "retryOn": "5xx"}, "300s", False),  # not below the timeout
    ],
)
def test_MS1012_fires_only_when_a_per_try_timeout_is_retried(retries: dict, timeout: str | None, reported: bool) -> None:
    rule: dict[str, Any] = {"retries": retries, "route": [{"destination": {"host": "ai-model", "subset": "v1"}}]}
    if timeout:
        rule["timeout"] = timeout
    findings = analyze(_with(_vs("llm", {"hosts": ["llm"], "http": [rule]})))
    assert bool(flagged(findings, "MS1012")) is reported


def test_MS1013_needs_a_known_port_of_a_known_service() -> None:
    retries = {"attempts": 2, "retryOn": "unavailable"}
    rule = {"retries": retries, "route": [{"destination": {"host": "api.openai.com"}}]}
    external = _vs("egress", {"hosts": ["api.openai.com"], "http": [rule]})
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "openai", "namespace": "ai-services"},
        "spec": {"hosts": ["api.openai.com"], "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]},
    }
    assert flagged(analyze(_with(external, entry)), "MS1013") == set()


# --- MS1014: outlier detection ----------------------------------------------------------------


def test_MS1014_says_which_counter_counts_timeouts() -> None:
    messages = {f.resource: f.message for f in findings_for("dr_outlier_counts_timeouts.yaml")}
    assert "consecutive5xxErrors 5" in messages["DestinationRule ai-services/ai-model-5xx"]
    assert "Envoy's default of 5" in messages["DestinationRule ai-services/ai-model-defaults"]
    assert messages["DestinationRule ai-services/ai-model-defaults"].startswith("trafficPolicy port 8080 ")
    assert 'subset "v1"' in messages["DestinationRule ai-services/ai-model-gateway-errors"]


# --- MS1015: streaming ------------------------------------------------------------------------


def test_MS1015_reports_headers_and_without_headers_matches() -> None:
    wheres = sorted(f.message.split(" keys ")[0] for f in findings_for("vs_streaming_accept_match.yaml"))
    assert wheres == ["http[0].match[0].headers", "http[1].match[0].headers", "http[2].match[0].withoutHeaders"]


# --- MS1016: sync waves -----------------------------------------------------------------------


def test_MS1016_names_the_deployments_behind_the_subsets() -> None:
    messages = {f.resource: f.message for f in findings_for("vs_sync_wave_after_deployments.yaml")}
    split = messages["VirtualService ai-services/ai-model-split"]
    assert "ai-model-v1 (wave 0), Deployment ai-services/ai-model-v2 (wave 0)" in split
    assert "ai-model-v2" not in messages["VirtualService ai-services/ai-model-v1-only"]


@pytest.mark.parametrize(("wave", "reported"), [("2", True), (2, True), ("-3", False), ("soon", False)])
def test_MS1016_reads_the_wave_as_argo_cd_does(wave: object, reported: bool) -> None:
    # Deployments without the annotation are wave 0; a wave that is not an integer is not judged.
    vs = _vs("split", {"hosts": ["split"], "http": [{"route": [{"destination": {"host": "ai-model"}}]}]},
             {"argocd.argoproj.io/sync-wave": wave})  # type: ignore[dict-item]
    assert bool(flagged(analyze(_with(vs)), "MS1016")) is reported


# --- MS1017: sticky cohorts -------------------------------------------------------------------


def test_MS1017_names_both_sides_of_the_split() -> None:
    (finding,) = findings_for("vs_sticky_cookie_partial.yaml")
    assert "for ai-model subset v2 (10%) but not for ai-model subset v1 (90%)" in finding.message


# --- MS1018-MS1020: the OpenAI model header -----------------------------------------------------


def test_MS1018_accepts_a_traffic_extension_in_the_root_namespace() -> None:
    objects = load_manifests([FIXTURES / "base.yaml", FIXTURES / "openai_model_header_unset.yaml"])
    objects.append(
        {
            "apiVersion": "extensions.istio.io/v1alpha1",
            "kind": "TrafficExtension",
            "metadata": {"name": "model-header", "namespace": "istio-system"},
            "spec": {"lua": {"inlineCode": "function envoy_on_request(handle) end"}},
        }
    )
    assert flagged(analyze(objects), "MS1018") == set()


def test_MS1018_looks_in_the_namespace_of_the_gateway_not_of_the_virtual_service() -> None:
    findings = findings_for("openai_model_header_unset.yaml")
    (finding,) = [f for f in findings if f.code == "MS1018"]
    assert "in namespace ai-services or istio-system" in finding.message


def test_MS1020_message_lists_both_destinations_whatever_the_file_order() -> None:
    paths = [FIXTURES / "base.yaml", FIXTURES / "openai_model_name_collision.yaml"]
    forward = analyze(load_manifests(paths))
    assert analyze(reversed(load_manifests(paths))) == forward
    assert all("subset v1" in f.message and "subset v2" in f.message for f in forward)
