"""Make-before-break: a version that dist/ still routes to is removed in two steps, not one."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from helpers import assert_apply_order, by_kind, model_deployments, synth_data, tree
from model_serving.commands.cli import main
from model_serving.commands.plan import read_dir
from model_serving.commands.synth import run

FIX = "fix: set its weight to 0 and remove its routes first, synth and apply, then remove the version"


@pytest.fixture
def project(tmp_path: Path, base_config: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch project (serving.yaml + dist/ from the reference fleet) as the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(base_config))
    assert run(Path("serving.yaml"), Path("dist"), quiet=True) == 0
    return tmp_path



def _synth(data: dict, *args: str) -> int:
    Path("serving.yaml").write_text(yaml.safe_dump(data))
    return main(["synth", "--config", "serving.yaml", "--out", "dist", *args])


def _without(data: dict, version: str, *, weights: dict[str, int]) -> dict:
    data = copy.deepcopy(data)
    versions = data["models"]["ai-model"]["versions"]
    del versions[version]
    for name, weight in weights.items():
        versions[name]["weight"] = weight
    return data


def test_fails_when_a_routed_version_is_removed_in_one_step(project: Path, base_config: dict, capsys) -> None:
    before = tree(project / "dist")
    capsys.readouterr()
    assert _synth(_without(base_config, "v1", weights={"v2": 100})) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: serving.yaml: models.ai-model.versions: removing v1 while dist/ still routes to it (weight 90); "
        f"{FIX}\n"
    )
    assert tree(project / "dist") == before


def test_removal_in_two_steps_keeps_the_subset_until_nothing_routes_to_it(project: Path, base_config: dict) -> None:
    step1 = copy.deepcopy(base_config)
    step1["models"]["ai-model"]["versions"]["v1"]["weight"] = 0
    step1["models"]["ai-model"]["versions"]["v2"]["weight"] = 100
    assert _synth(step1) == 0
    objects = [o for objs in read_dir(project / "dist").values() for o in objs]
    (rule,) = by_kind(objects, "DestinationRule")
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["v1", "v2"]  # v1 still defined ...
    v1 = [d for d in model_deployments(objects) if d["metadata"]["name"] == "ai-model-v1"]
    assert v1 and v1[0]["spec"]["replicas"] == 2  # ... and still has its pods
    for service in by_kind(objects, "VirtualService"):  # the mesh's and the gateway's
        weights = {d["destination"]["subset"]: d["weight"] for d in service["spec"]["http"][-1]["route"]}
        assert weights == {"v1": 0, "v2": 100}  # ... but takes no traffic
    assert_apply_order(objects)

    assert _synth(_without(step1, "v1", weights={})) == 0
    objects = [o for objs in read_dir(project / "dist").values() for o in objs]
    (rule,) = by_kind(objects, "DestinationRule")
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["v2"]
    assert [d["metadata"]["name"] for d in model_deployments(objects)] == ["ai-model-v2"]


def test_fails_when_an_ab_route_still_targets_the_version(project: Path, base_config: dict, capsys) -> None:
    step1 = copy.deepcopy(base_config)
    model = step1["models"]["ai-model"]
    model["versions"]["v1"]["weight"], model["versions"]["v2"]["weight"] = 100, 0
    model["routes"] = [{"name": "beta", "match": {"headers": {"x-group": "beta"}}, "version": "v2"}]
    assert _synth(step1) == 0
    capsys.readouterr()
    assert _synth({**step1, "models": {"ai-model": {**model, "routes": [],
                                                    "versions": {"v1": model["versions"]["v1"]}}}}) == 2
    assert "removing v2 while dist/ still routes to it (route beta); fix:" in capsys.readouterr().err


def test_fails_when_a_mirror_still_targets_the_version(project: Path, base_config: dict, capsys) -> None:
    step1 = copy.deepcopy(base_config)
    model = step1["models"]["ai-model"]
    model["versions"]["v1"]["weight"], model["versions"]["v2"]["weight"] = 100, 0
    model["mirror"] = {"version": "v2", "percent": 5}
    assert _synth(step1) == 0
    capsys.readouterr()
    del model["mirror"]
    assert _synth(_without(step1, "v2", weights={})) == 2
    err = capsys.readouterr().err
    assert "removing v2 while dist/ still routes to it (mirror 5%); fix: set its weight to 0 and remove its routes and mirror first" in err
    assert err.count("\n") == 1


def test_allow_break_removes_a_routed_version_in_one_step_and_warns(project: Path, base_config: dict, capsys) -> None:
    capsys.readouterr()
    assert _synth(_without(base_config, "v1", weights={"v2": 100}), "--allow-break") == 0
    assert "ai-model-v1" not in (project / "dist" / "production.k8s.yaml").read_text()
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warning == (
        "warning: --allow-break skipped the make-before-break rule (serving.yaml: models.ai-model.versions: "
        "removing v1 while dist/ still routes to it (weight 90)); requests still routed to a removed version "
        "get 503s until every proxy has the new routes"
    )


def test_allow_break_from_the_environment_for_cdk8s_synth(project: Path, base_config: dict, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MODEL_SERVING_ALLOW_BREAK", "1")
    capsys.readouterr()
    assert _synth(base_config) == 0  # nothing to skip: still said, so the switch is never left on unnoticed
    assert "warning: --allow-break skipped the make-before-break rule (no removal needed it this time)" in capsys.readouterr().err
    assert _synth(_without(base_config, "v1", weights={"v2": 100})) == 0


def test_first_synth_has_nothing_to_compare(tmp_path: Path, base_config: dict, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _synth(_without(base_config, "v1", weights={"v2": 100})) == 0
    assert (tmp_path / "dist" / "production.k8s.yaml").exists()


def test_removing_a_whole_model_is_left_to_the_plan(project: Path, base_config: dict) -> None:
    data = copy.deepcopy(base_config)
    data["models"]["other"] = {"versions": {"v1": {"image": "registry.example.com/ml/other:1", "weight": 100}}}
    assert _synth(data) == 0
    assert _synth(base_config) == 0


def test_fails_when_one_environment_still_routes_and_names_it(tmp_path: Path, base_config: dict, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    data = copy.deepcopy(base_config)
    staging_host = {"host": "staging.example.com"}
    data["environments"]["staging"] = {
        "namespace": "ai-staging",
        "gateway": {"hosts": ["staging.example.com"], "tls": {"credentialName": "staging-tls"}},
        "models": {"ai-model": staging_host},
    }
    assert _synth(data) == 0
    data["environments"]["staging"]["models"] = {
        "ai-model": {**staging_host, "versions": {"v1": {"weight": 0}, "v2": {"weight": 100}}}
    }
    assert _synth(data) == 0  # staging, step 1: v1 takes no traffic there
    capsys.readouterr()
    everywhere = _without(data, "v1", weights={"v2": 100})
    everywhere["environments"]["staging"]["models"] = {"ai-model": staging_host}
    assert _synth(everywhere) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: serving.yaml: environments.production + models.ai-model.versions: removing v1 while dist/ still routes to it (weight 90)"
    )
    assert "staging" not in err  # staging already took the first step


def test_synth_output_keeps_rules_and_workloads_before_routes(base_config: dict) -> None:
    data = copy.deepcopy(base_config)
    data["models"]["ai-model"]["mirror"] = {"version": "v2", "percent": 5}
    data["models"]["ai-model"]["routes"] = [{"name": "beta", "match": {"headers": {"x-group": "beta"}}, "version": "v2"}]
    _, outputs = synth_data(data)
    for out in outputs:
        assert_apply_order(out.objects)


def test_fails_when_the_only_version_is_replaced_in_one_step(project: Path, base_config: dict, capsys) -> None:
    single = _without(base_config, "v2", weights={"v1": 100})
    assert _synth(single, "--allow-break") == 0  # set-up: a model with one version
    capsys.readouterr()
    renamed = copy.deepcopy(single)
    renamed["models"]["ai-model"]["versions"] = {"v3": {**single["models"]["ai-model"]["versions"]["v1"]}}
    assert _synth(renamed) == 2
    assert "removing v1 while dist/ still routes to it (weight 100); fix:" in capsys.readouterr().err
