"""mTLS consistency, fault injection with retries, retry budgets and durations."""

from __future__ import annotations

import pytest

from helpers import ANALYZE_FIXTURES as FIXTURES
from helpers import analyzer_findings as findings_for
from helpers import flagged
from model_serving.checks.analyze import analyze, load_manifests, parse_duration

# --- 8. mTLS --------------------------------------------------------------------------------


def test_compatible_peer_authentication_and_tls_modes_pass() -> None:
    assert findings_for("mtls_pass.yaml", base=False) == []


@pytest.mark.parametrize(
    ("fixture", "resource", "needle"),
    [
        (
            "mtls_strict_disable.yaml",
            "DestinationRule ai-services/ai-model-plaintext",
            'subset "v2" sets tls mode DISABLE but PeerAuthentication ai-services/default',
        ),
        (
            "mtls_mesh_strict_simple.yaml",
            "DestinationRule ai-services/ai-model-simple",
            "port 8080 sets tls mode SIMPLE but PeerAuthentication istio-system/default",
        ),
        (
            "mtls_disable_istio_mutual.yaml",
            "DestinationRule ai-services/ai-model-mutual",
            "ISTIO_MUTUAL but PeerAuthentication ai-services/default makes namespace ai-services DISABLE",
        ),
    ],
)
def test_reports_MS1003_when_tls_mode_contradicts_peer_authentication(fixture: str, resource: str, needle: str) -> None:
    findings = findings_for(fixture)
    assert flagged(findings, "MS1003") == {resource}
    assert any(needle in f.message for f in findings if f.code == "MS1003")


def test_namespace_policy_overrides_mesh_wide_strict() -> None:
    findings = findings_for("mtls_pass.yaml", base=False)
    # legacy/old-model uses DISABLE under a namespace DISABLE despite the mesh-wide STRICT.
    assert flagged(findings, "MS1003") == set()


# --- 10. fault injection, retries, timeouts, durations --------------------------------------


def test_retries_within_timeout_and_isolated_fault_pass() -> None:
    assert findings_for("vs_resilience_pass.yaml") == []


def test_reports_MS1004_when_route_has_fault_and_retries() -> None:
    findings = findings_for("vs_fault_with_retries.yaml")
    assert flagged(findings, "MS1004") == {"VirtualService ai-services/ai-model-chaos"}
    assert {f.level for f in findings if f.code == "MS1004"} == {"Warning"}


def test_reports_MS1005_when_retries_outlast_the_timeout() -> None:
    findings = findings_for("vs_retries_exceed_timeout.yaml")
    assert flagged(findings, "MS1005") == {"VirtualService ai-services/ai-model-slow"}
    (finding,) = [f for f in findings if f.code == "MS1005"]
    assert "allows 3 retries, so up to 4 tries x 20s = 80s" in finding.message and "timeout 30s" in finding.message
    assert finding.level == "Warning"


def _route(retries: dict, timeout: str | None = None) -> list[dict]:
    rule: dict = {"retries": retries, "route": [{"destination": {"host": "ai-model", "subset": "v1"}}]}
    if timeout is not None:
        rule["timeout"] = timeout
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "ai-model-retry", "namespace": "ai-services"},
        "spec": {"hosts": ["ai-model"], "http": [rule]},
    }
    return [*load_manifests([FIXTURES / "base.yaml"]), vs]


@pytest.mark.parametrize(
    ("attempts", "per_try", "timeout", "reported"),
    [
        # Istio's attempts are retries (Envoy num_retries): the first try comes on top.
        (2, "30s", "60s", True),  # 3 tries x 30s = 90s
        (1, "30s", "60s", False),  # 2 tries x 30s = 60s
        (2, "20s", "60s", False),  # 3 tries x 20s = 60s
        (0, "30s", "10s", False),  # attempts 0 turns retries off
    ],
)
def test_MS1005_counts_the_first_try_and_every_retry(attempts: int, per_try: str, timeout: str, reported: bool) -> None:
    objects = _route({"attempts": attempts, "perTryTimeout": per_try}, timeout)
    assert bool(flagged(analyze(objects), "MS1005")) is reported


def test_reports_MS1006_when_duration_is_invalid() -> None:
    findings = findings_for("invalid_durations.yaml")
    assert flagged(findings, "MS1006") == {
        "VirtualService ai-services/ai-model-typo-timeout",
        "DestinationRule ai-services/ai-model-pool",
    }
    assert any("http[0].timeout" in f.message for f in findings if f.code == "MS1006")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1h2m3.5s", 3723.5),
        ("2m", 120.0),
        ("250us", 0.00025),
        ("0", 0.0),
        (".5s", 0.5),
    ],
)
def test_parse_duration_reads_istio_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("junk", ["", "30", "s", "30 seconds", "1d", "-5s", "5s junk", "1h-2m", "ms"])
def test_fails_when_duration_is_junk(junk: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(junk)


@pytest.mark.parametrize("value", [30, 1.5, None, True])
def test_fails_when_duration_is_not_a_string(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)  # type: ignore[arg-type]
