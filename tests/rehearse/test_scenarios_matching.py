"""A/B rules by header, cookie and query parameter, and their order, measured on the real Envoy.

A rule sends 100 % to its version, so one stray response fails a check (0 % and 100 % are exact).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import variant
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal

N = 500
HOST = "recommender.example.com"

# ab-test.yaml: v1 takes all live weight; every rule but the last pins v2. Expected version on the
# (gateway, mesh) side: `pinned-version` is `from: mesh`, so through the gateway it is never offered;
# `beta-cohort` needs a JWT claim, so it exists on the gateway only and a header without a token
# claim does not match it (the rehearsal sends no token); elsewhere both sides agree.
RULES = [
    ("pinned-version header", {"headers": (("x-model-version", "v2"),)}, ("v1", "v2")),
    ("beta-cohort header, no token claim", {"headers": (("x-user-cohort", "beta"),)}, ("v1", "v1")),
    ("internal-testers cookie", {"cookies": (("ab-group", "b"),)}, ("v2", "v2")),
    ("the cookie among others", {"cookies": (("session", "42"), ("ab-group", "b"), ("theme", "dark"))}, ("v2", "v2")),
    ("experiment-link query", {"query": (("variant", "b"),)}, ("v2", "v2")),
    ("exact header, other value", {"headers": (("x-user-cohort", "betamax"),)}, ("v1", "v1")),
    ("cookie, longer value", {"cookies": (("ab-group", "bb"),)}, ("v1", "v1")),
    ("cookie name as a suffix", {"cookies": (("xab-group", "b"),)}, ("v1", "v1")),
    ("query, other value", {"query": (("variant", "a"),)}, ("v1", "v1")),
    ("no attribute", {}, ("v1", "v1")),
]
SIDES = ("gateway", "mesh")


@pytest.mark.parametrize("side", SIDES)
def test_each_ab_rule_sends_its_requests_to_its_version(rehearse: Callable[..., Rehearsal], side: str) -> None:
    rehearsal = rehearse("ab-test")
    target: dict[str, Any] = {"host": HOST} if side == "gateway" else {"model": "recommender"}
    results = rehearsal.run_many([RequestSpec(**target, **request, requests=N) for _, request, _ in RULES])
    for (name, _, versions), result in zip(RULES, results, strict=True):
        version = versions[SIDES.index(side)]
        assert result.statuses == {"200": N}, name
        assert result.versions == {f"recommender/{version}": N}, f"{name}: {dict(result.versions)}"


def _default_to_v2(data: dict[str, Any]) -> None:
    """ab-test with the live weight moved to v2, so the v1 rule (eu-clients) shows in the outcome."""
    versions = data["models"]["recommender"]["versions"]
    versions["v1"]["weight"], versions["v2"]["weight"] = 0, 100


# On the mesh host, where every rule exists: the first matching rule wins.
ORDER = [
    ("eu-clients regex alone", {"headers": (("x-client-region", "eu-west-1"),)}, "v1"),
    ("regex does not match", {"headers": (("x-client-region", "eu-south-1"),)}, "v2"),
    ("pinned-version comes before eu-clients", {"headers": (("x-client-region", "eu-west-1"),
                                                            ("x-model-version", "v2"))}, "v2"),
    ("internal-testers comes before eu-clients", {"headers": (("x-client-region", "eu-central-1"),),
                                                  "cookies": (("ab-group", "b"),)}, "v2"),
    ("experiment-link comes before eu-clients", {"headers": (("x-client-region", "eu-west-2"),),
                                                 "query": (("variant", "b"),)}, "v2"),
]
# Through the gateway the mesh-only pin is absent, so the same request falls to eu-clients.
ORDER_GATEWAY = [
    ("a mesh-only pin is skipped at the gateway", {"headers": (("x-client-region", "eu-west-1"),
                                                               ("x-model-version", "v2"))}, "v1"),
    ("internal-testers comes before eu-clients", {"headers": (("x-client-region", "eu-central-1"),),
                                                  "cookies": (("ab-group", "b"),)}, "v2"),
    ("regex does not match", {"headers": (("x-client-region", "eu-south-1"),)}, "v2"),
]


def test_rules_are_evaluated_in_order_before_the_weighted_default(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    rehearsal = fresh_rehearsal(objects=variant("ab-test", _default_to_v2))
    cases = [(name, {"model": "recommender", **request}, version) for name, request, version in ORDER]
    cases += [(f"gateway: {name}", {"host": HOST, **request}, version) for name, request, version in ORDER_GATEWAY]
    results = rehearsal.run_many([RequestSpec(**request, requests=N) for _, request, _ in cases])
    for (name, _, version), result in zip(cases, results, strict=True):
        assert result.versions == {f"recommender/{version}": N}, f"{name}: {dict(result.versions)}"
