"""`model-serving promote | rollback | set-weights`: serving.yaml edited in place, then dist/ re-synthesized."""
from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from model_serving.commands.cli import main
from model_serving.commands.edit import (
    edit_text,
    merge_lines,
    parse_assignments,
    round_trip,
)
from model_serving.fleet.load import ConfigError, parse_fleet

REPO_TEXT = (ROOT / "serving.yaml").read_text()
ROLLOUT_LINE = "    rollout: {stable: v1, canary: v2, steps: [10, 25, 50, 100]}   # staged promotion\n"
KEPT_COMMENT = "# a TLS Secret in the ingress gateway's namespace"
WEIGHT_LINE = re.compile(r"^\s+weight: \d+$|^\s+v\d: \{.*weight: \d+.*\}")
STAGING = """  staging:
    namespace: ai-staging
    gateway:
      hosts: [ai-model.example.com]
      plainHttp: true
"""
STAGING_OVERRIDE = """    models:
      ai-model:
        versions:
          v1: {weight: 50}   # staging runs ahead
          v2: {weight: 50}
"""


def _with_rollout(text: str = REPO_TEXT, line: str = ROLLOUT_LINE) -> str:
    """The repo's serving.yaml with a rollout block for ai-model (after `port:`)."""
    anchor = "    port: 8080\n"
    assert text.count(anchor) == 1
    return text.replace(anchor, anchor + line)


def _two_envs(text: str, *, override: bool) -> str:
    """Add a staging environment, optionally overriding ai-model's weights."""
    extra = STAGING + (STAGING_OVERRIDE if override else "")
    assert text.count("\nmodels:") == 1
    return text.replace("\nmodels:", extra + "\nmodels:")


def _changed(old: str, new: str) -> list[str]:
    """The removed and added lines of a diff, without context."""
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("---", "+++"))
    ]


def _weights(text: str, env: str = "production") -> dict[str, int]:
    model = parse_fleet(yaml.safe_load(text)).environments[env].models["ai-model"]
    return {name: version.weight for name, version in model.versions.items()}


def _error(text: str, command: str, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        edit_text(text, command, "ai-model", **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and "; fix: " in message, message
    return message


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        REPO_TEXT,
        _with_rollout(),
        REPO_TEXT.replace("  ", "    "),  # four-space indentation
        "a:\n  - x   # dash indented\n  - 'y'\nb:\n  c: \"quoted\"\n",
        "a:\n- x\n- y\nb: {c: 1, d: [1, 2]}  # flow\n\n\n# end\n",
        "image: registry.example.com/ai/model:1.0.0@sha256:" + "0" * 64 + "   # a line longer than 80 columns\n",
    ],
    ids=["repo", "rollout", "indent-4", "indented-dashes", "indentless-dashes", "long-line"],
)
def test_untouched_file_round_trips_byte_identically(text: str) -> None:
    _, _, dumped = round_trip(text)
    assert dumped == text


def test_merge_keeps_lines_ruamel_would_normalize() -> None:
    odd = "---\n" + _with_rollout(line=ROLLOUT_LINE + "    sticky: True\n    fault: ~\n")
    _, _, dumped = round_trip(odd)
    assert dumped != odd  # ruamel alone would rewrite `---`, `True` and `~`
    edited = edit_text(odd, "promote", "ai-model")
    assert _changed(odd, edited.text) == ["-        weight: 90", "+        weight: 75", "-        weight: 10", "+        weight: 25"]
    assert edited.notes == []


def test_merge_gives_up_when_a_changed_line_differs_from_the_file() -> None:
    assert merge_lines("a: True\n", "a: true\n", "a: false\n") is None
    assert merge_lines("x: 1\na: True\n", "x: 1\na: true\n", "x: 2\na: true\n") == "x: 2\na: True\n"


def test_crlf_file_keeps_its_line_endings() -> None:
    text = REPO_TEXT.replace("\n", "\r\n")
    edited = edit_text(text, "set-weights", "ai-model", weights={"v1": 50, "v2": 50})
    assert edited.text == REPO_TEXT.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50").replace("\n", "\r\n")


# --- promote ----------------------------------------------------------------------------------


def test_promote_walks_every_step_to_completion() -> None:
    text = _with_rollout()
    seen = []
    for expected in [(75, 25, "step 2 of 4"), (50, 50, "step 3 of 4"), (0, 100, "step 4 of 4")]:
        edited = edit_text(text, "promote", "ai-model")
        assert all(WEIGHT_LINE.match(line[1:]) for line in _changed(text, edited.text))
        assert _weights(edited.text) == {"v1": expected[0], "v2": expected[1]}
        seen.append(edited.description)
        text = edited.text
    assert seen[0] == "ai-model: v1 90% -> 75%, v2 10% -> 25% (step 2 of 4)"
    assert seen[2] == "ai-model: v1 50% -> 0%, v2 50% -> 100% (step 4 of 4)"

    done = edit_text(text, "promote", "ai-model")
    assert _changed(text, done.text) == [
        "-" + ROLLOUT_LINE.rstrip("\n"),
        "+    rollout: {stable: v2, steps: [10, 25, 50, 100]}               # staged promotion",
    ]
    assert done.description == (
        "ai-model: promotion complete: v2 is now rollout.stable, rollout.canary removed; v1 stays deployed at 0%"
    )
    model = parse_fleet(yaml.safe_load(done.text)).environments["production"].models["ai-model"]
    assert model.rollout is not None and (model.rollout.stable, model.rollout.canary) == ("v2", None)
    assert model.versions["v1"].weight == 0  # still deployed, until removed in a later change
    assert "no canary to promote" in _error(done.text, "promote")


def test_promote_starts_at_the_first_step_above_the_canary_weight() -> None:
    text = _with_rollout().replace("weight: 90", "weight: 70").replace("weight: 10", "weight: 30")
    edited = edit_text(text, "promote", "ai-model")
    assert _weights(edited.text) == {"v1": 50, "v2": 50}
    assert edited.description.endswith("(step 3 of 4)")


def test_promote_sets_other_versions_to_zero_and_reports_it() -> None:
    text = _with_rollout().replace("weight: 90", "weight: 85") + (
        "      v3:\n        image: registry.example.com/ai/ai-model:3.0.0\n        weight: 5\n"
    )
    edited = edit_text(text, "promote", "ai-model")
    assert _weights(edited.text) == {"v1": 75, "v2": 25, "v3": 0}
    assert edited.description == "ai-model: v1 85% -> 75%, v2 10% -> 25%, v3 5% -> 0% (step 2 of 4)"


def test_promote_completes_from_a_last_step_below_100() -> None:
    text = _with_rollout(line="    rollout: {stable: v1, canary: v2, steps: [10]}\n")
    edited = edit_text(text, "promote", "ai-model")
    assert _weights(edited.text) == {"v1": 0, "v2": 100}
    assert edited.description.startswith("ai-model: v1 90% -> 0%, v2 10% -> 100%; promotion complete")
    assert "    rollout: {stable: v2, steps: [10]}\n" in edited.text


def test_promote_completion_keeps_comments_around_the_removed_canary() -> None:
    block = "    rollout:\n      stable: v1\n      canary: v2   # the new build\n      # steps follow\n      steps: [10]\n"
    text = _with_rollout(line=block).replace("weight: 90", "weight: 0").replace("weight: 10", "weight: 100")
    edited = edit_text(text, "promote", "ai-model")
    assert _changed(text, edited.text) == [
        "-      stable: v1",
        "-      canary: v2   # the new build",
        "+      stable: v2",
    ]
    assert "      # steps follow\n      steps: [10]\n" in edited.text


def test_fails_when_promote_has_no_rollout() -> None:
    message = _error(REPO_TEXT, "promote")
    assert message == (
        "serving.yaml: models.ai-model: no rollout to promote; "
        "fix: add rollout: {stable: v1, canary: v2, steps: [10, 25, 50, 100]}"
    )


def test_fails_when_rollout_has_no_canary() -> None:
    message = _error(_with_rollout(line="    rollout: {stable: v1}\n"), "promote")
    assert message.startswith("serving.yaml: models.ai-model.rollout.canary: no canary to promote; fix: add rollout:")


# --- rollback and set-weights -----------------------------------------------------------------


def test_rollback_sends_all_live_traffic_to_stable_and_keeps_mirror_and_routes() -> None:
    extras = (
        "    mirror: {version: v2, percent: 5}\n"
        "    routes:\n      - name: beta\n        match: {headers: {x-cohort: beta}}\n        version: v2\n"
    )
    text = _with_rollout(line=ROLLOUT_LINE + extras).replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50")
    edited = edit_text(text, "rollback", "ai-model")
    assert _changed(text, edited.text) == ["-        weight: 50", "+        weight: 100", "-        weight: 50", "+        weight: 0"]
    assert edited.description == "ai-model: v1 50% -> 100%, v2 50% -> 0% (rolled back to stable v1)"
    assert extras in edited.text


def test_rollback_when_already_on_stable_changes_nothing() -> None:
    text = _with_rollout().replace("weight: 10\n", "weight: 0\n").replace("weight: 90", "weight: 100")
    edited = edit_text(text, "rollback", "ai-model")
    assert (edited.changed, edited.text) == (False, text)
    assert edited.description == "ai-model: no change (v1 100%, v2 0%)"


def test_fails_when_rollback_has_neither_rollout_nor_committed_output() -> None:
    assert _error(REPO_TEXT, "rollback") == (
        "serving.yaml: models.ai-model: no rollout.stable and no committed output to roll back to; "
        "fix: pass --to <git ref>, or add rollout: {stable: v1}"
    )


def test_set_weights_keeps_the_versions_not_named() -> None:
    text = REPO_TEXT.replace("weight: 90", "weight: 80") + (
        "      v3:\n        image: registry.example.com/ai/ai-model:3.0.0\n        weight: 10\n"
    )
    edited = edit_text(text, "set-weights", "ai-model", weights={"v1": 60, "v2": 30})
    assert _weights(edited.text) == {"v1": 60, "v2": 30, "v3": 10}
    assert edited.description == "ai-model: v1 80% -> 60%, v2 10% -> 30%"


def test_set_weights_adds_a_missing_weight_key_beside_its_siblings() -> None:
    text = REPO_TEXT + "      v3: {image: registry.example.com/ai/ai-model:3.0.0}   # next\n"
    edited = edit_text(text, "set-weights", "ai-model", weights={"v1": 80, "v3": 10})
    assert _changed(text, edited.text)[-1] == "+      v3: {image: registry.example.com/ai/ai-model:3.0.0, weight: 10} # next"
    assert _weights(edited.text) == {"v1": 80, "v2": 10, "v3": 10}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["v1"], "'v1': no '=' between version and weight"),
        (["v1="], "'v1=': the weight is missing"),
        (["v1=abc"], "'v1=abc': weight 'abc' is not a whole number"),
        (["=5"], "'=5': the version name is missing"),
        (["v1=-3"], "'v1=-3': weight -3 is outside 0-100"),
        (["v1=101"], "'v1=101': weight 101 is outside 0-100"),
        (["v1=50", "v1=50"], "'v1=50': version v1 is named twice; fix: give each version once"),
    ],
)
def test_fails_when_an_assignment_is_malformed(args: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_assignments(args)
    message = str(caught.value)
    assert message.startswith(f"model-serving set-weights: {expected}")
    assert "\n" not in message and "; fix: " in message


def test_assignments_parse_into_weights() -> None:
    assert parse_assignments(["v1=50", "v2=50", "v3=0"]) == {"v1": 50, "v2": 50, "v3": 0}


def test_fails_when_weights_do_not_sum_to_100() -> None:
    assert _error(REPO_TEXT, "set-weights", weights={"v1": 50, "v2": 40}) == (
        "serving.yaml: models.ai-model: version weights sum to 90 (v1=50, v2=40); fix: make them add up to 100"
    )


def test_fails_when_a_version_is_unknown() -> None:
    assert _error(REPO_TEXT, "set-weights", weights={"v9": 10}) == (
        "serving.yaml: models.ai-model.versions: unknown version 'v9' in v9=10; fix: use one of v1, v2"
    )


def test_fails_when_the_model_is_unknown() -> None:
    with pytest.raises(ConfigError, match=r"^serving.yaml: models: unknown model 'nope'; fix: use one of ai-model$"):
        edit_text(REPO_TEXT, "rollback", "nope")


def test_fails_when_versions_share_a_yaml_alias() -> None:
    text = REPO_TEXT.replace("      v1:\n", "      v1: &shared\n", 1).replace("weight: 90", "weight: 50")
    v2 = text[text.index("      v2:"):]
    text = text.replace(v2, "      v2: *shared\n")
    assert _weights(text) == {"v1": 50, "v2": 50}
    assert "serving.yaml: models.ai-model:" in _error(text, "set-weights", weights={"v1": 60, "v2": 40})


# --- environments -----------------------------------------------------------------------------


def test_edits_top_level_when_no_environment_overrides_weights() -> None:
    text = _two_envs(_with_rollout(), override=False)
    edited = edit_text(text, "promote", "ai-model")
    assert edited.description == "ai-model (production, staging): v1 90% -> 75%, v2 10% -> 25% (step 2 of 4)"
    assert _weights(edited.text, "staging") == _weights(edited.text, "production") == {"v1": 75, "v2": 25}


def test_edits_the_environment_override_that_sets_weights() -> None:
    text = _two_envs(_with_rollout(), override=True)
    edited = edit_text(text, "promote", "ai-model", env="staging")
    assert _changed(text, edited.text) == [
        "-          v1: {weight: 50}   # staging runs ahead",
        "-          v2: {weight: 50}",
        "+          v1: {weight: 0}    # staging runs ahead",
        "+          v2: {weight: 100}",
    ]
    assert _weights(edited.text, "production") == {"v1": 90, "v2": 10}
    assert edited.description == "ai-model (staging): v1 50% -> 0%, v2 50% -> 100% (step 4 of 4)"

    done = edit_text(edited.text, "promote", "ai-model", env="staging")
    staging = parse_fleet(yaml.safe_load(done.text)).environments["staging"].models["ai-model"]
    production = parse_fleet(yaml.safe_load(done.text)).environments["production"].models["ai-model"]
    assert staging.rollout is not None and (staging.rollout.stable, staging.rollout.canary) == ("v2", None)
    assert production.rollout is not None and (production.rollout.stable, production.rollout.canary) == ("v1", "v2")


def test_env_without_override_edits_the_top_level() -> None:
    text = _two_envs(_with_rollout(), override=True)
    edited = edit_text(text, "rollback", "ai-model", env="production")
    assert _weights(edited.text, "production") == {"v1": 100, "v2": 0}
    assert _weights(edited.text, "staging") == {"v1": 50, "v2": 50}
    assert edited.description.startswith("ai-model (production): ")


def test_fails_when_environments_are_ambiguous_without_env() -> None:
    assert _error(_two_envs(_with_rollout(), override=True), "promote") == (
        "serving.yaml: environments: environment staging overrides the weights of ai-model, so the edit is ambiguous; "
        "fix: add --env with one of production, staging"
    )


def test_fails_when_the_environment_is_unknown() -> None:
    assert _error(REPO_TEXT, "rollback", env="qa") == (
        "serving.yaml: environments: unknown environment 'qa'; fix: use one of production"
    )


def test_fails_when_completing_at_top_level_would_change_another_environment() -> None:
    text = _two_envs(_with_rollout(), override=True).replace("weight: 90", "weight: 0").replace("weight: 10\n", "weight: 100\n")
    assert _error(text, "promote", env="production") == (
        "serving.yaml: environments.staging.models.ai-model: editing models.ai-model would also change this environment; "
        "fix: give staging its own rollout and weights under environments.staging.models.ai-model, or make the change by hand"
    )


def test_fails_when_a_top_level_edit_would_change_a_partial_override() -> None:
    partial = STAGING_OVERRIDE.replace("          v2: {weight: 50}\n", "").replace("{weight: 50}", "{weight: 90}")
    text = _two_envs(REPO_TEXT, override=False).replace("      plainHttp: true\n", "      plainHttp: true\n" + partial)
    message = _error(text, "set-weights", weights={"v1": 80, "v2": 20}, env="production")
    assert message.startswith("serving.yaml: environments.staging + models.ai-model: version weights sum to 110")


# --- the command, end to end ------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A temp copy of serving.yaml (with a rollout for ai-model) and dist/."""
    (tmp_path / "serving.yaml").write_text(_with_rollout())
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    return tmp_path


def _snapshot(workdir: Path) -> dict[str, bytes]:
    files = [workdir / "serving.yaml", *sorted((workdir / "dist").rglob("*"))]
    return {str(p.relative_to(workdir)): p.read_bytes() for p in files if p.is_file()}


def _dist_weights(workdir: Path) -> dict[str, int]:
    docs = yaml.safe_load_all((workdir / "dist" / "production.k8s.yaml").read_text())
    service = next(d for d in docs if d and d["kind"] == "VirtualService" and d["metadata"]["name"] == "ai-model")
    default = next(r for r in service["spec"]["http"] if r["name"] == "default")
    return {d["destination"]["subset"]: d["weight"] for d in default["route"]}


def _cli(workdir: Path, *args: str) -> list[str]:
    return [*args, "--config", str(workdir / "serving.yaml"), "--out", str(workdir / "dist")]


def test_console_script_promotes_and_resynthesizes(workdir: Path) -> None:
    script = Path(sys.executable).with_name("model-serving")
    before = (workdir / "serving.yaml").read_text()
    done = subprocess.run([str(script), *_cli(workdir, "promote", "ai-model")], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ai-model: v1 90% -> 75%, v2 10% -> 25% (step 2 of 4)\n"
    assert "ai-model: v1 90% -> 75%" not in done.stderr  # the synth summary stays on stderr
    after = (workdir / "serving.yaml").read_text()
    assert KEPT_COMMENT in after and "# staged promotion" in after
    assert _changed(before, after) == ["-        weight: 90", "+        weight: 75", "-        weight: 10", "+        weight: 25"]
    assert _dist_weights(workdir) == {"v1": 75, "v2": 25}


def test_console_script_bad_argument_changes_nothing(workdir: Path) -> None:
    script = Path(sys.executable).with_name("model-serving")
    before = _snapshot(workdir)
    done = subprocess.run(
        [str(script), *_cli(workdir, "set-weights", "ai-model", "v1=abc")], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: model-serving set-weights: 'v1=abc': weight 'abc' is not a whole number; "
        "fix: write VERSION=WEIGHT with a whole number from 0 to 100, e.g. v1=50\n"
    )
    assert _snapshot(workdir) == before


def test_cli_walks_promotion_to_completion_then_rolls_back(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = [{"v1": 75, "v2": 25}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}, {"v1": 0, "v2": 100}]
    for weights in steps:
        assert main(_cli(workdir, "promote", "ai-model")) == 0
        assert _dist_weights(workdir) == weights
    assert capsys.readouterr().out.splitlines()[-1].startswith("ai-model: promotion complete: v2 is now rollout.stable")
    assert "rollout: {stable: v2, steps: [10, 25, 50, 100]}" in (workdir / "serving.yaml").read_text()

    assert main(_cli(workdir, "set-weights", "ai-model", "v1=10", "v2=90")) == 0
    assert _dist_weights(workdir) == {"v1": 10, "v2": 90}
    assert main(_cli(workdir, "rollback", "ai-model")) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ai-model: v1 0% -> 10%, v2 100% -> 90%",
        "ai-model: v1 10% -> 0%, v2 90% -> 100% (rolled back to stable v2)",
    ]
    assert _dist_weights(workdir) == {"v1": 0, "v2": 100}
    text = (workdir / "serving.yaml").read_text()
    assert KEPT_COMMENT in text and "# staged promotion" in text


@pytest.mark.parametrize(
    "args",
    [
        ["set-weights", "ai-model", "v1"],
        ["set-weights", "ai-model", "v1="],
        ["set-weights", "ai-model", "v1=abc"],
        ["set-weights", "ai-model", "=5"],
        ["set-weights", "ai-model", "v1=-3"],
        ["set-weights", "ai-model", "v1=101"],
        ["set-weights", "ai-model", "v1=50", "v1=50"],
        ["set-weights", "ai-model", "v1=50", "v2=40"],
        ["set-weights", "ai-model", "v9=10"],
        ["promote", "nope"],
        ["rollback", "ai-model", "--env", "qa"],
    ],
    ids=lambda a: " ".join(a),
)
def test_fails_with_one_line_and_changes_nothing(workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    before = _snapshot(workdir)
    assert main(_cli(workdir, *args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "; fix: " in err, err
    assert _snapshot(workdir) == before


def test_promote_fails_without_rollout_and_changes_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "serving.yaml").write_text(REPO_TEXT)
    before = _snapshot(workdir)
    assert main(_cli(workdir, "promote", "ai-model")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fix: add rollout: {stable: v1" in err, err
    assert _snapshot(workdir) == before


def _git(workdir: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": os.environ["PATH"], "HOME": str(workdir)}
    subprocess.run(["git", *args], cwd=workdir, env=env, check=True, capture_output=True, timeout=60)


def _committed(workdir: Path) -> None:
    _git(workdir, "add", "-A")
    _git(workdir, "commit", "-q", "-m", "state")


def test_rollback_without_rollout_returns_to_the_heaviest_version_in_committed_dist(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "serving.yaml").write_text(REPO_TEXT)
    _git(workdir, "init", "-q")
    _committed(workdir)  # dist/ at v1 90%, v2 10%
    assert main(_cli(workdir, "set-weights", "ai-model", "v1=30", "v2=70")) == 0  # not committed
    assert main(_cli(workdir, "rollback", "ai-model")) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "ai-model: v1 30% -> 100%, v2 70% -> 0% (rolled back to v1, the heaviest in HEAD:dist/)")
    assert _dist_weights(workdir) == {"v1": 100, "v2": 0}


def test_rollback_to_a_ref_restores_its_weights_even_with_a_rollout(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _git(workdir, "init", "-q")
    assert main(_cli(workdir, "set-weights", "ai-model", "v1=60", "v2=40")) == 0
    _committed(workdir)
    _git(workdir, "tag", "good")
    assert main(_cli(workdir, "set-weights", "ai-model", "v1=5", "v2=95")) == 0
    _committed(workdir)
    assert main([*_cli(workdir, "rollback", "ai-model"), "--to", "good"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ai-model: v1 5% -> 60%, v2 95% -> 40% (weights of good:dist/)"
    assert _dist_weights(workdir) == {"v1": 60, "v2": 40}


def test_rollback_to_an_unknown_ref_fails_with_one_line_and_changes_nothing(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _git(workdir, "init", "-q")
    _committed(workdir)
    before = _snapshot(workdir)
    assert main([*_cli(workdir, "rollback", "ai-model"), "--to", "no-such-ref"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --to: ") and "; fix: " in err, err
    assert _snapshot(workdir) == before


def test_restores_serving_yaml_when_synth_fails(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "blocker").write_text("a file where the output folder's parent should be\n")
    before = _snapshot(workdir)
    args = ["promote", "ai-model", "--config", str(workdir / "serving.yaml"), "--out", str(workdir / "blocker" / "dist")]
    assert main(args) != 0
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: ")
    assert _snapshot(workdir) == before
    assert not list(workdir.glob(".serving.yaml.*"))  # no temp file left behind
