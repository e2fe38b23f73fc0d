"""The examples' A/B, shadow and sticky scenarios report what README.md (Traffic strategies)
promises, as `model-serving rehearse` reports them. Their declared `rehearse:` expectations run in
test_rehearse_command.py; here, what an expectation cannot state (mirrored copies, a rollback)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ROOT, bounds, variant, within
from model_serving.commands.cli import main
from model_serving.rehearse.drive import RequestSpec
from model_serving.rehearse.runner import Rehearsal

N = 2000


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """The command's JSON report (exit 0 asserted)."""
    assert main(["rehearse", *args, "--output", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_shadow_copies_20_percent_to_v2_and_clients_only_see_v1(capsys: pytest.CaptureFixture[str]) -> None:
    """README: "copy a percentage of live traffic to a version whose responses are discarded"."""
    (run,) = report(capsys, "--config", str(ROOT / "examples/shadow.yaml"), "--host", "fraud.example.com",
                    "--requests", str(N))["runs"]
    assert run["versions"] == {"fraud-detector/v1": N} and run["statuses"] == {"200": N}
    copies = run["mirrored"]["fraud-detector/v2"]
    assert within(copies, N, 20), f"mirrored {copies}/{N}, accepted {bounds(N, 20)}"


def test_ab_rules_win_over_the_weighted_default_as_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """README: "rules are evaluated in order, before the weighted default"."""
    (run,) = report(capsys, "--config", str(ROOT / "examples/ab-test.yaml"), "--host", "recommender.example.com",
                    "--cookie", "ab-group=b", "--header", "x-client-region: eu-west-1", "--requests", "500")["runs"]
    assert run["versions"] == {"recommender/v2": 500}
    assert run["clients"] == {"count": 10, "switched": 0}


def test_sticky_canary_sets_its_cookie_and_brings_the_client_back(capsys: pytest.CaptureFixture[str]) -> None:
    """README: "each destination of the weighted route adds a `Set-Cookie` to its responses and a
    cookie-match route per version sends returning users back"; the value is `<version>.<rollout>`,
    so a cookie of another rollout (here the bare `v2` of an older release) is drawn afresh by the weights."""
    from model_serving.fleet.load import load_fleet
    from model_serving.fleet.routes import cohort_value

    chat = load_fleet(ROOT / "examples/sticky-canary.yaml").environments["production"].models["chat"]
    config = ("--config", str(ROOT / "examples/sticky-canary.yaml"), "--host", "chat.example.com")
    for version in ("v1", "v2"):
        (run,) = report(capsys, *config, "--cookie", f"chat-version={cohort_value(chat, version)}",
                        "--requests", "500", "--show-body")["runs"]
        assert run["versions"] == {f"chat/{version}": 500}
        assert run["body"]["200"]["rehearsal"]["version"] == version
    (stale,) = report(capsys, *config, "--cookie", "chat-version=v2", "--requests", str(N), "--clients", str(N))["runs"]
    canary = stale["versions"]["chat/v2"]
    assert stale["versions"]["chat/v1"] + canary == N
    assert within(canary, N, 10), f"v2 {canary}/{N}, accepted {bounds(N, 10)}"


def _roll_back(data: dict[str, Any]) -> None:
    versions = data["models"]["chat"]["versions"]
    versions["v1"]["weight"], versions["v2"]["weight"] = 100, 0


def test_a_rollback_to_0_releases_the_sticky_cohort_at_once(fresh_rehearsal: Callable[..., Rehearsal]) -> None:
    """README: "A version at weight 0 has no cookie route, so its users fall through to the weighted route"."""
    from model_serving.fleet.load import load_fleet
    from model_serving.fleet.routes import cohort_value

    chat = load_fleet(ROOT / "examples/sticky-canary.yaml").environments["production"].models["chat"]
    rehearsal = fresh_rehearsal(objects=variant("sticky-canary", _roll_back))
    result = rehearsal.run(RequestSpec(host="chat.example.com", cookies=(("chat-version", cohort_value(chat, "v2")),),
                                       requests=500))
    assert result.versions == {"chat/v1": 500}
