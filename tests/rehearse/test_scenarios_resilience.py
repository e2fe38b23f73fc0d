"""Timeouts, retries, outlier detection and fault injection, measured on the real Envoy.

Long scenarios are time-scaled: the config's durations and the stand-ins' are multiplied by the
same factor, so "a 150 s completion behind a 120 s per-try timeout" takes 0.75 s here. Counts of
Envoy's own events come from its admin stats, as differences around a run.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import bounds, delta, manifests, variant, within
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal
from model_serving.rehearse.standin import Behaviour

LLM_SCALE = 0.005  # 150 s completions -> 0.75 s, 400 s streams -> 2 s, a 60 s timeout -> 0.3 s
CHAT = "/v1/chat/completions"
JSON = ("content-type", "application/json")


def chat(*, stream: bool, accept: str = "application/json", requests: int = 20) -> RequestSpec:
    """A chat completion as the OpenAI SDK sends it (Accept: application/json, `stream` in the body)."""
    body = json.dumps({"model": "llm", "messages": [{"role": "user", "content": "hi"}], "stream": stream}).encode()
    return RequestSpec(model="llm", path=CHAT, method="POST", body=body, headers=(JSON, ("accept", accept)),
                       requests=requests, clients=requests)


def llm_default_route() -> dict[str, Any]:
    """The llm default route of examples/dist/fleet (`streaming: true`, retries without a per-try timeout)."""
    vs = next(o for o in manifests("fleet") if o["kind"] == "VirtualService" and o["metadata"]["name"] == "llm")
    route: dict[str, Any] = next(h for h in vs["spec"]["http"] if h["name"] == "default")
    return route


def ejection_thresholds() -> dict[str, Any]:
    """The reference's outlier detection for ai-model, as synthesized in dist/."""
    dr = next(o for o in manifests() if o["kind"] == "DestinationRule" and o["metadata"]["name"] == "ai-model")
    detection: dict[str, Any] = dr["spec"]["trafficPolicy"]["outlierDetection"]
    return detection


# --- timeouts -------------------------------------------------------------------------------------


def test_a_completion_longer_than_any_fixed_timeout_is_answered_200_and_sent_once(
        fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    """Issue 12 item 5: no per-try timeout may cut a successful inference. The llm (streaming: true)
    has no route timeout and its retries no per-try timeout, so a 150 s completion is answered."""
    route = llm_default_route()
    assert "timeout" not in route and "perTryTimeout" not in route["retries"]
    rehearsal = fresh_rehearsal("fleet", time_scale=LLM_SCALE, behaviours={"llm/*": Behaviour(latency=150.0)})
    result = rehearsal.run(chat(stream=False))
    assert result.statuses == {"200": 20}, result.first_bodies()
    assert all(o.seconds >= 150.0 * LLM_SCALE for o in result.outcomes)  # the stand-ins really took the 150 s
    # each request reached a stand-in once: nothing was cut and replayed
    assert len(result.records) == 20 and max(Counter(r.request for r in result.records).values()) == 1


def _per_try_120s(data: dict[str, Any]) -> None:
    data["models"]["llm"]["retries"] = {"attempts": 2, "perTryTimeout": "120s"}


def test_an_explicit_per_try_timeout_cuts_a_longer_completion_with_504_and_does_not_retry_it(
        fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    """Why the default has no per-try timeout: a config that asks for one (120 s) still gets Envoy's
    504 for a 150 s completion the model would have answered; retryOn has no 5xx, so it is not replayed."""
    rehearsal = fresh_rehearsal(objects=variant("fleet", _per_try_120s), time_scale=LLM_SCALE,
                                behaviours={"llm/*": Behaviour(latency=150.0)})
    result = rehearsal.run(chat(stream=False))
    assert result.statuses == {"504": 20}
    assert len(result.records) == 20 and max(Counter(r.request for r in result.records).values()) == 1


@pytest.fixture(scope="module")
def streaming() -> Iterator[Rehearsal]:
    """The fleet with every llm replica streaming its tokens over 400 s (scaled: 2 s)."""
    with Rehearsal(manifests("fleet"), time_scale=LLM_SCALE, behaviours={"llm/*": Behaviour(stream=400.0)}) as rehearsal:
        yield rehearsal


def _completed_streams(result_bodies: list[bytes]) -> int:
    return sum(1 for body in result_bodies if body.rstrip().endswith(b"data: [DONE]"))


def _not_streaming(data: dict[str, Any]) -> None:
    data["models"]["llm"]["streaming"] = False


def test_a_streaming_model_has_no_route_timeout_so_a_long_sse_stream_completes(
        streaming: Rehearsal, fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    """`streaming: true` (examples/fleet.yaml's llm) leaves the route timeout out; the same model
    without it gets the 60 s default, which cuts the same 400 s stream (the counter-check)."""
    assert "timeout" not in llm_default_route()
    result = streaming.run(chat(stream=True, accept="text/event-stream", requests=10))
    assert result.statuses == {"200": 10}
    assert _completed_streams([o.body for o in result.outcomes]) == 10
    cut = fresh_rehearsal(objects=variant("fleet", _not_streaming), time_scale=LLM_SCALE,
                          behaviours={"llm/*": Behaviour(stream=400.0)})
    result = cut.run(chat(stream=True, accept="text/event-stream", requests=10))
    assert _completed_streams([o.body for o in result.outcomes]) == 0


def test_an_sse_stream_the_openai_sdk_asks_for_completes(streaming: Rehearsal) -> None:
    result = streaming.run(chat(stream=True, requests=10))
    assert result.statuses == {"200": 10}
    assert _completed_streams([o.body for o in result.outcomes]) == 10


# --- retries ----------------------------------------------------------------------------------------

V1 = "outbound|8080|v1|ai-model.ai-services.svc.cluster.local"
V2 = "outbound|8080|v2|ai-model.ai-services.svc.cluster.local"


def test_a_connect_failure_on_one_replica_is_retried_onto_another(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    rehearsal = fresh_rehearsal(time_scale=1.0, behaviours={"v1#0": Behaviour(down=True)})
    before = rehearsal.stats("upstream_rq_retry$")
    result = rehearsal.run(RequestSpec(model="ai-model", requests=N_RETRY))
    after = rehearsal.stats("upstream_rq_retry$")
    assert result.statuses == {"200": N_RETRY}
    assert within(result.versions["ai-model/v1"], N_RETRY, 90)
    assert {r.replica for r in result.records if r.version == "v1"} == {"ai-model-v1-1"}
    assert delta(before, after, f"{V1}.upstream_rq_retry") >= 1  # the refused connections were retried


N_RETRY = 2000


def test_a_5xx_is_never_retried(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    rehearsal = fresh_rehearsal(time_scale=1.0, behaviours={"v2": Behaviour(error_rate=1.0, error_status=503)})
    before = rehearsal.stats("upstream_rq_retry$")
    result = rehearsal.run(RequestSpec(model="ai-model", requests=N_RETRY))
    after = rehearsal.stats("upstream_rq_retry$")
    failed = result.statuses["503"]
    assert result.statuses["200"] + failed == N_RETRY
    assert within(failed, N_RETRY, 10), f"503: {failed}/{N_RETRY}, accepted {bounds(N_RETRY, 10)}"
    assert result.versions["ai-model/v2"] == failed  # every 503 is v2's own answer, passed through
    assert max(Counter(r.request for r in result.records).values()) == 1  # no request reached a stand-in twice
    assert delta(before, after, "upstream_rq_retry") == 0


# --- outlier detection --------------------------------------------------------------------------------


def test_a_slow_but_healthy_replica_within_the_route_timeout_is_not_ejected(
        fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    # reference: timeout 60s, no per-try timeout, consecutiveGatewayErrors 5; v1#0 answers in 10 s (scaled: 0.1 s, the others ~2 ms)
    rehearsal = fresh_rehearsal(time_scale=0.01, behaviours={"v1#0": Behaviour(latency=10.0)})
    result = rehearsal.run(RequestSpec(model="ai-model", requests=300, clients=20))
    assert result.statuses == {"200": 300}
    assert any(r.replica == "ai-model-v1-0" for r in result.records)
    assert delta({}, rehearsal.stats("outlier_detection"), "ejections_enforced_total") == 0


def test_a_slow_but_healthy_llm_replica_is_not_ejected(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    rehearsal = fresh_rehearsal("fleet", time_scale=LLM_SCALE, behaviours={"llm/v1#0": Behaviour(latency=150.0)})
    result = rehearsal.run(chat(stream=False, requests=40))
    assert result.statuses == {"200": 40}
    assert delta({}, rehearsal.stats("outlier_detection"), "ejections_enforced_total") == 0


def test_a_replica_answering_5xx_is_ejected_and_then_gets_nothing(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    # Unscaled, so the 30 s ejection outlasts the second run. A 503 is a gateway error (502/503/504),
    # which is what the reference counts: consecutiveGatewayErrors, with 5xx counting off.
    detection = ejection_thresholds()
    threshold = detection["consecutiveGatewayErrors"]
    assert detection["consecutive5xxErrors"] == 0 and detection["splitExternalLocalOriginErrors"] is True
    rehearsal = fresh_rehearsal(time_scale=1.0, behaviours={"v1#0": Behaviour(error_rate=1.0, error_status=503)})
    first = rehearsal.run(RequestSpec(model="ai-model", requests=400))
    assert threshold <= first.statuses["503"] < 400 * 0.45 / 2  # ejected long before half of its share
    stats = rehearsal.stats("outlier_detection")
    assert delta({}, stats, f"{V1}.outlier_detection.ejections_enforced_consecutive_gateway_failure") == 1
    assert delta({}, stats, f"{V1}.outlier_detection.ejections_enforced_consecutive_5xx") == 0
    second = rehearsal.run(RequestSpec(model="ai-model", requests=N_RETRY))
    assert second.statuses == {"200": N_RETRY}
    assert not [r for r in second.records if r.replica == "ai-model-v1-0"]
    assert within(second.versions["ai-model/v1"], N_RETRY, 90)


# --- fault injection ------------------------------------------------------------------------------------


def test_fault_injection_percentages_hold(rehearse: Callable[..., Rehearsal]) -> None:
    # environments.yaml, staging: delay 2s for 10 %, abort 503 for 2 % (scaled: 20 ms delays)
    rehearsal = rehearse("environments", "staging", time_scale=0.01)
    before = rehearsal.stats(r"\.fault\.")
    result = rehearsal.run(RequestSpec(model="qa", requests=N_RETRY))
    after = rehearsal.stats(r"\.fault\.")
    aborted = sum(1 for o in result.outcomes if o.status == "503" and o.served_by is None)
    delayed = delta(before, after, "fault.delays_injected")
    assert within(aborted, N_RETRY, 2), f"aborted {aborted}/{N_RETRY}, accepted {bounds(N_RETRY, 2)}"
    assert within(delayed, N_RETRY, 10), f"delayed {delayed}/{N_RETRY}, accepted {bounds(N_RETRY, 10)}"
    assert delta(before, after, "fault.aborts_injected") == aborted
    assert result.statuses["200"] == N_RETRY - aborted
    assert len([r for r in result.records if not r.shadow]) == N_RETRY - aborted  # aborts never reach the model
    # The delays are real: every delayed request that was not also aborted took about 20 ms (Envoy's
    # timer can fire a millisecond or two early, hence 15 ms); undelayed ones take ~2 ms.
    assert sum(1 for o in result.outcomes if o.seconds >= 0.015) >= delayed - aborted
