"""Weighted splits, weight 0, mirrors and sticky cohorts, measured on the real Envoy.

Every share is checked with `within()`: exact binomial acceptance bounds at a two-sided
false-failure probability of 1e-6 (conftest), over at least 2,000 requests; 0 % and 100 % are exact.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import bounds, within
from model_serving.rehearse.drive import RequestSpec, RunResult
from model_serving.rehearse.runner import Rehearsal
from model_serving.rehearse.standin import Behaviour

N = 2000


def test_reference_splits_90_10_on_the_mesh_and_through_the_gateway(rehearse: Callable[..., Rehearsal]) -> None:
    rehearsal = rehearse()
    mesh, edge = rehearsal.run_many([RequestSpec(model="ai-model", requests=N),
                                     RequestSpec(host="ai-model.example.com", requests=N)])
    for result in (mesh, edge):
        assert result.statuses == {"200": N}
        v1, v2 = result.versions["ai-model/v1"], result.versions["ai-model/v2"]
        assert v1 + v2 == N
        assert within(v2, N, 10), f"{result.target.label}: v2 {v2}/{N}, accepted {bounds(N, 10)}"


def test_n_way_split_follows_every_weight_and_weight_0_receives_nothing(rehearse: Callable[..., Rehearsal]) -> None:
    rehearsal = rehearse("canary")
    result = rehearsal.run(RequestSpec(host="sentiment.example.com", requests=N))
    assert result.statuses == {"200": N}
    for version, weight in (("v1", 80), ("v2", 15), ("v3", 5)):
        count = result.versions[f"sentiment/{version}"]
        assert within(count, N, weight), f"{version}: {count}/{N}, accepted {bounds(N, weight)}"
    # weight 0: no response, and no request reached any of its replicas either
    assert result.versions["sentiment/v0"] == 0
    assert not [r for r in result.records if r.version == "v0"]


def test_blue_green_sends_everything_to_the_colour_at_100(rehearse: Callable[..., Rehearsal]) -> None:
    result = rehearse("blue-green").run(RequestSpec(host="ranker.example.com", requests=N))
    assert result.versions == {"ranker/blue": N}
    assert {r.version for r in result.records} == {"blue"}


# --- mirrors ------------------------------------------------------------------------------------


def test_shadow_copies_its_percentage_and_no_mirrored_response_reaches_a_client(
        fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    # v2 answers 500 to everything and slowly: if a mirrored response ever reached a client, the
    # client would see a 500 or a v2 header.
    rehearsal = fresh_rehearsal("shadow", time_scale=0.01,
                                behaviours={"v2": Behaviour(error_rate=1.0, error_status=500, latency=2.0)})
    result = rehearsal.run(RequestSpec(host="fraud.example.com", requests=N))
    assert result.statuses == {"200": N}
    assert result.versions == {"fraud-detector/v1": N}
    copies = result.mirrored["fraud-detector/v2"]
    assert within(copies, N, 20), f"mirrored {copies}/{N}, accepted {bounds(N, 20)}"
    # each copy is a copy of a request a client sent (same request id), never an extra request
    live = {r.request for r in result.records if not r.shadow}
    assert {r.request for r in result.records if r.shadow} <= live
    assert not [r for r in result.records if r.shadow and r.version != "v2"]


def test_fleet_mirror_beside_a_weight_0_destination_copies_10_percent(rehearse: Callable[..., Rehearsal]) -> None:
    result = rehearse("fleet").run(RequestSpec(model="fraud-detector", requests=N))
    assert result.versions == {"fraud-detector/v1": N}
    copies = result.mirrored["fraud-detector/v2"]
    assert within(copies, N, 10), f"mirrored {copies}/{N}, accepted {bounds(N, 10)}"


# --- sticky cohorts -------------------------------------------------------------------------------

CLIENTS = 200
PER_CLIENT = 20


@pytest.fixture(scope="module")
def sticky_runs(rehearse: Callable[..., Rehearsal]) -> dict[str, RunResult]:
    """sticky-canary (90/10, cookie chat-version): 200 clients x 20 requests, through the HTTPS
    gateway and on the mesh host; each client keeps its own cookie jar, like a browser."""
    rehearsal = rehearse("sticky-canary")
    specs = {"gateway": RequestSpec(host="chat.example.com", requests=CLIENTS * PER_CLIENT, clients=CLIENTS),
             "mesh": RequestSpec(model="chat", requests=CLIENTS * PER_CLIENT, clients=CLIENTS)}
    return dict(zip(specs, rehearsal.run_many(list(specs.values())), strict=True))


def _first_version(result: RunResult) -> dict[int, str]:
    """Each client's first version (outcomes of one client are in its request order)."""
    first: dict[int, str] = {}
    for outcome in result.outcomes:
        if outcome.served_by:
            first.setdefault(outcome.client, outcome.served_by)
    return first


def test_a_client_with_the_canary_cookie_stays_on_the_canary(sticky_runs: dict[str, RunResult]) -> None:
    """The canary sets its cookie over HTTPS, and the cookie route keeps its client."""
    result = sticky_runs["gateway"]
    first = _first_version(result)
    canary_clients = {c for c, v in first.items() if v == "chat/v2"}
    assert canary_clients, "no client started on v2 (10 % of 200 clients)"
    for outcome in result.outcomes:
        if outcome.client in canary_clients:
            assert outcome.served_by == "chat/v2"


@pytest.mark.parametrize("side", ["gateway", "mesh"])
def test_sticky_cohorts_keep_every_client_and_split_clients_by_weight(sticky_runs: dict[str, RunResult],
                                                                      side: str) -> None:
    result = sticky_runs[side]
    assert result.statuses == {"200": CLIENTS * PER_CLIENT}
    assert result.switched == 0, f"{result.switched} of {CLIENTS} clients saw more than one version"
    canary = sum(1 for v in _first_version(result).values() if v == "chat/v2")
    assert within(canary, CLIENTS, 10), f"{canary}/{CLIENTS} clients on v2, accepted {bounds(CLIENTS, 10)}"
