"""`model-serving plan`: real before/after pairs, compared as a reviewer would read them."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, synth_data, tree
from model_serving.commands import plan
from model_serving.commands.cli import main
from model_serving.commands.synth import render_files, write_atomically

DIGEST = "@sha256:" + "cd" * 32


def _version(model: str, tag: str, weight: int, replicas: int = 2) -> dict:
    return {"image": f"registry.example.com/ml/{model}:{tag}{DIGEST}", "weight": weight, "replicas": replicas}


@pytest.fixture
def fleet() -> dict:
    """Three models on one gateway: a canary, a shadowed one behind a prefix, a mesh-only one."""
    return {
        "environments": {
            "production": {
                "namespace": "ml",
                "gateway": {"name": "edge", "hosts": ["ai.example.com", "api.example.com"],
                            "tls": {"credentialName": "edge-tls"}},
            }
        },
        "models": {
            "ai-model": {
                "host": "ai.example.com",
                "versions": {"v1": _version("ai-model", "1", 90), "v2": _version("ai-model", "2", 10)},
            },
            "fraud-detector": {
                "host": "api.example.com",
                "prefix": "/models/fraud/",
                "versions": {"v1": _version("fraud", "1", 100), "v2": _version("fraud", "2", 0, replicas=1)},
                "mirror": {"version": "v2", "percent": 10},
            },
            "sentiment": {"versions": {"v1": _version("sentiment", "1", 0), "v2": _version("sentiment", "2", 100)}},
        },
    }


def _write_dist(data: dict, folder: Path) -> None:
    write_atomically(_files(data), folder)


def _plan(before: dict, after: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Write `before` as dist/, `after` as serving.yaml, run `model-serving plan` in-process."""
    _write_dist(before, tmp_path / "dist")
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(after))
    capsys.readouterr()
    code = main(["plan", "--config", str(tmp_path / "serving.yaml"), "--out", str(tmp_path / "dist"), *args])
    return code, capsys.readouterr().out


_SYNTHESIZED: dict[str, dict[str, str]] = {}


def _files(data: dict) -> dict[str, str]:
    """render_files of a config, cached: most pairs share their `before`."""
    key = json.dumps(data, sort_keys=True)
    if key not in _SYNTHESIZED:
        _SYNTHESIZED[key] = render_files(*synth_data(data, source="serving.yaml"))
    return _SYNTHESIZED[key]


def _traffic(before: dict, after: dict) -> list[str]:
    """The traffic lines of an in-memory pair (no files)."""
    old = plan.fresh_objects(_files(before))
    new = plan.fresh_objects(_files(after))
    return [line for p in plan.make_plan(old, new, source="serving.yaml", base="dist/") for line in p.traffic]


def test_no_change_exits_0(fleet: dict, tmp_path: Path, capsys) -> None:
    code, out = _plan(fleet, fleet, tmp_path, capsys)
    assert code == 0
    assert out == f"No changes: {tmp_path / 'dist'}/ matches a fresh synth of {tmp_path / 'serving.yaml'}.\n"


def test_weight_change_is_one_line_and_exits_1(fleet: dict, tmp_path: Path, capsys) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["ai-model"]["versions"]["v1"]["weight"] = 50
    after["models"]["ai-model"]["versions"]["v2"]["weight"] = 50
    code, out = _plan(fleet, after, tmp_path, capsys)
    assert code == 1
    assert out.splitlines()[2:] == [
        "production (production.k8s.yaml)",
        "  traffic:",
        "    ai-model: v1 90% → 50%, v2 10% → 50%",
        "  objects:",
        "    ~ VirtualService ml/ai-model",
        "    ~ VirtualService ml/ai-model-edge",
        "",
        "1 environment changed: 1 traffic change, 2 objects changed",
    ]


def test_new_shadow_version_is_named_with_its_mirror(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    fraud = after["models"]["fraud-detector"]
    fraud["versions"]["v3"] = _version("fraud", "3", 0, replicas=1)
    fraud["mirror"] = {"version": "v3", "percent": 5}
    assert _traffic(fleet, after) == [
        "fraud-detector: new version v3 (shadow 5%)",
        "fraud-detector: stops mirroring to v2 (was 10%)",
    ]


def test_version_removed_after_the_weight_0_step(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    del after["models"]["sentiment"]["versions"]["v1"]
    assert _traffic(fleet, after) == ["sentiment: version v1 removed"]


def test_new_version_with_weight_and_the_weights_that_moved(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    versions = after["models"]["ai-model"]["versions"]
    versions["v1"]["weight"], versions["v3"] = 80, _version("ai-model", "3", 10)
    assert _traffic(fleet, after) == ["ai-model: new version v3 (weight 10%)", "ai-model: v1 90% → 80%"]


def test_new_and_removed_models_with_where_they_are_served(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    del after["models"]["ai-model"]
    after["models"]["summarize"] = {"host": "api.example.com", "prefix": "/models/summarize/",
                                    "versions": {"v1": _version("summarize", "1", 100)}}
    assert _traffic(fleet, after) == [
        "new model summarize: v1 100%, served at api.example.com/models/summarize/ via ml/edge",
        "model ai-model removed (was served at ai.example.com/ via ml/edge)",
    ]


def test_route_added_changed_retargeted_reordered_and_removed(fleet: dict) -> None:
    before = copy.deepcopy(fleet)
    model = before["models"]["ai-model"]
    model["routes"] = [
        {"name": "beta", "match": {"headers": {"x-group": "beta"}}, "version": "v2"},
        {"name": "legacy", "match": {"uri": {"prefix": "/v1/"}}, "version": "v1"},
        {"name": "internal", "match": {"queryParams": {"debug": "1"}}, "version": "v2"},
    ]
    after = copy.deepcopy(before)
    after["models"]["ai-model"]["routes"] = [
        {"name": "legacy", "match": {"uri": {"prefix": "/v0/"}}, "version": "v1"},
        {"name": "beta", "match": {"headers": {"x-group": "beta"}}, "version": "v1"},
        {"name": "cohort", "match": {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(x=v2)(;.*)?$"}}}, "version": "v2"},
    ]
    assert _traffic(before, after) == [
        "ai-model: route legacy match: uri starts with /v1/ → uri starts with /v0/",
        "ai-model: route beta: v2 → v1",
        r"ai-model: new route cohort (header cookie matches ^(.*?;\s*)?(x=v2)(;.*)?$) → v2",
        "ai-model: route internal removed",
        "ai-model: route order beta, legacy, default → legacy, beta, default (the first match wins)",
    ]


def test_mirror_percent_added_and_removed(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["fraud-detector"]["mirror"]["percent"] = 25
    after["models"]["ai-model"]["mirror"] = {"version": "v2", "percent": 50}
    lines = _traffic(fleet, after)
    assert "ai-model: now mirrors 50% to v2" in lines
    assert "fraud-detector: mirror to v2 10% → 25%" in lines
    undone = copy.deepcopy(fleet)
    del undone["models"]["fraud-detector"]["mirror"]
    assert _traffic(fleet, undone) == ["fraud-detector: stops mirroring to v2 (was 10%)"]


def test_host_prefix_and_gateway_hosts(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    after["environments"]["production"]["gateway"]["hosts"] = ["ai.example.com", "api.example.com", "new.example.com"]
    after["models"]["fraud-detector"]["prefix"] = "/fraud/"
    after["models"]["sentiment"]["host"] = "new.example.com"
    assert _traffic(fleet, after) == [
        "gateway ml/edge: hosts added new.example.com",
        "fraud-detector: now served at api.example.com/fraud/ via ml/edge",
        "fraud-detector: no longer served at api.example.com/models/fraud/ via ml/edge",
        "sentiment: now served at new.example.com/ via ml/edge",
    ]


def test_image_and_replicas(fleet: dict) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["ai-model"]["versions"]["v2"] = _version("ai-model", "2.1", 10, replicas=4)
    assert _traffic(fleet, after) == [
        f"ai-model: v2 image ai-model:2{DIGEST[:20]} → ai-model:2.1{DIGEST[:20]}",
        "ai-model: v2 replicas 2 → 4",
    ]


def test_non_traffic_objects_are_listed_by_kind_and_name(fleet: dict, tmp_path: Path, capsys) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["sentiment"]["consumers"] = [{"namespace": "payments"}]
    code, out = _plan(fleet, after, tmp_path, capsys)
    assert code == 1
    assert "  traffic:" not in out
    assert "    ~ AuthorizationPolicy ml/sentiment\n" in out


def test_new_environment_and_first_plan_without_dist(fleet: dict, tmp_path: Path, capsys) -> None:
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(fleet))
    code = main(["plan", "--config", str(tmp_path / "serving.yaml"), "--out", str(tmp_path / "dist")])
    out = capsys.readouterr().out
    assert code == 1
    assert "    new environment production\n" in out
    assert "    new model ai-model: v1 90%, v2 10%, served at ai.example.com/ via ml/edge\n" in out
    assert "    + Deployment ml/ai-model-v1\n" in out
    assert not (tmp_path / "dist").exists(), "plan must not write the output folder"


def test_plan_never_writes_dist(fleet: dict, tmp_path: Path, capsys) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["ai-model"]["versions"]["v1"]["weight"] = 0
    after["models"]["ai-model"]["versions"]["v2"]["weight"] = 100
    _write_dist(fleet, tmp_path / "dist")
    before = tree(tmp_path / "dist")
    code, _ = _plan(fleet, after, tmp_path, capsys)
    assert code == 1
    assert tree(tmp_path / "dist") == before


def test_markdown_for_a_pr_comment(fleet: dict, tmp_path: Path, capsys) -> None:
    after = copy.deepcopy(fleet)
    after["models"]["ai-model"]["routes"] = [
        {"name": "cohort", "match": {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(x=v2)(;.*)?$"}}}, "version": "v2"}
    ]
    code, out = _plan(fleet, after, tmp_path, capsys, "--format", "markdown")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"### Change plan: `{tmp_path / 'dist'}/` → fresh synth of `{tmp_path / 'serving.yaml'}`"
    assert "#### production (`production.k8s.yaml`)" in lines
    assert "**Traffic**" in lines and "**Objects**" in lines
    # Markdown specials in a regex are escaped, so the comment shows it as written.
    assert r"- ai-model: new route cohort (header cookie matches ^(.\*?;\\s\*)?(x=v2)(;.\*)?\$) → v2" in lines
    assert "- changed `VirtualService ml/ai-model`" in lines


def test_markdown_without_changes(fleet: dict, tmp_path: Path, capsys) -> None:
    code, out = _plan(fleet, fleet, tmp_path, capsys, "--format", "markdown")
    assert code == 0 and out.splitlines()[-1] == "No changes."


def test_plan_warns_about_a_removal_synth_refuses(fleet: dict, tmp_path: Path, capsys) -> None:
    after = copy.deepcopy(fleet)
    del after["models"]["ai-model"]["versions"]["v1"]
    after["models"]["ai-model"]["versions"]["v2"]["weight"] = 100
    code, out = _plan(fleet, after, tmp_path, capsys)
    assert code == 1
    assert "    ai-model: version v1 removed\n" in out
    assert "  synth refuses this in one step:\n" in out
    assert "models.ai-model.versions: removing v1 while" in out and "(weight 90); fix:" in out


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def test_ref_compares_with_dist_as_committed(fleet: dict, tmp_path: Path, capsys, monkeypatch) -> None:
    _git(tmp_path, "init", "-q")
    _write_dist(fleet, tmp_path / "dist")
    _git(tmp_path, "add", "dist")
    _git(tmp_path, "commit", "-q", "-m", "90/10")
    after = copy.deepcopy(fleet)
    after["models"]["ai-model"]["versions"]["v1"]["weight"] = 70
    after["models"]["ai-model"]["versions"]["v2"]["weight"] = 30
    _write_dist(after, tmp_path / "dist")  # the working tree already has the new dist/
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(after))
    monkeypatch.chdir(tmp_path)
    assert main(["plan"]) == 0  # against the files in dist/: nothing left to apply
    capsys.readouterr()
    assert main(["plan", "--ref", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Plan: HEAD:dist/ → fresh synth of serving.yaml\n")
    assert "    ai-model: v1 90% → 70%, v2 10% → 30%\n" in out


def test_ref_without_a_dist_folder_makes_everything_new(fleet: dict, tmp_path: Path, capsys, monkeypatch) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(fleet))
    _git(tmp_path, "add", "serving.yaml")
    _git(tmp_path, "commit", "-q", "-m", "config only")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--ref", "HEAD"]) == 1
    assert "    new environment production\n" in capsys.readouterr().out


def test_fails_when_the_ref_is_unknown(fleet: dict, tmp_path: Path, capsys, monkeypatch) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(fleet))
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--ref", "no-such-branch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: --ref: ") and "fix: name a commit" in captured.err
    assert captured.err.count("\n") == 1


def test_fails_when_the_config_is_bad(fleet: dict, tmp_path: Path, capsys) -> None:
    bad = copy.deepcopy(fleet)
    bad["models"]["ai-model"]["versions"]["v2"]["weight"] = 15
    _write_dist(fleet, tmp_path / "dist")
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(bad))
    capsys.readouterr()
    code = main(["plan", "--config", str(tmp_path / "serving.yaml"), "--out", str(tmp_path / "dist")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(f"error: {tmp_path / 'serving.yaml'}: models.ai-model: version weights sum to 105")
    assert captured.err.count("\n") == 1


def test_fails_when_dist_holds_broken_yaml(fleet: dict, tmp_path: Path, capsys) -> None:
    _write_dist(fleet, tmp_path / "dist")
    (tmp_path / "dist" / "production.k8s.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump(fleet))
    code = main(["plan", "--config", str(tmp_path / "serving.yaml"), "--out", str(tmp_path / "dist")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'dist' / 'production.k8s.yaml'}: line ") and "fix: re-run" in err
    assert err.count("\n") == 1


def test_plan_command_end_to_end_on_the_repo() -> None:
    """The installed command against the committed dist/: nothing to apply, exit 0."""
    command = Path(sys.executable).with_name("model-serving")
    done = subprocess.run([str(command), "plan"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "No changes: dist/ matches a fresh synth of serving.yaml.\n"
