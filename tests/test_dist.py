"""dist/ is what a fresh synth of serving.yaml produces, and survives every failure."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, load_yaml, synth_data, tree


def test_committed_dist_equals_a_fresh_synth(reference) -> None:
    fleet, outputs = reference
    from model_serving.commands.synth import render_files

    assert tree(ROOT / "dist") == {name: text.encode() for name, text in render_files(fleet, outputs).items()}


def test_synth_is_deterministic(reference) -> None:
    _, again = synth_data(load_yaml(ROOT / "serving.yaml"), source="serving.yaml")
    assert [o.text for o in again] == [o.text for o in reference[1]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the project's inputs and dist/, to run the real command against."""
    for name in ("serving.yaml", "main.py", "cdk8s.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    return tmp_path


def _synth(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-O", "main.py"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_synth_command_writes_dist_and_summary(project: Path) -> None:
    shutil.rmtree(project / "dist")
    result = _synth(project)
    assert result.returncode == 0, result.stderr
    assert tree(project / "dist") == tree(ROOT / "dist")
    assert "ai-model: ai-model.ai-services.svc.cluster.local, https://ai-model.example.com" in result.stderr
    assert "default: v1 90%, v2 10%" in result.stderr


def test_weight_change_is_a_small_diff_in_dist(project: Path) -> None:
    config = project / "serving.yaml"
    config.write_text(config.read_text().replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20"))
    result = _synth(project)
    assert result.returncode == 0, result.stderr
    before = (ROOT / "dist" / "production.k8s.yaml").read_text().splitlines()
    after = (project / "dist" / "production.k8s.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=False) if a != b]
    assert len(before) == len(after)
    # The same two lines in the mesh VirtualService and in the gateway's (`-edge`).
    assert changed == [("          weight: 90", "          weight: 80"), ("          weight: 10", "          weight: 20")] * 2


def test_fails_when_config_is_bad_and_leaves_dist_untouched(project: Path) -> None:
    config = project / "serving.yaml"
    config.write_text(config.read_text().replace("weight: 10", "weight: 15"))
    before = tree(project / "dist")
    result = _synth(project)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: serving.yaml: models.ai-model")
    assert "sum to 105" in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in result.stderr
    assert tree(project / "dist") == before


def _cdk8s_synth(project: Path) -> subprocess.CompletedProcess[str]:
    """The real `cdk8s synth` (the CLI from node_modules, Node from the virtualenv)."""
    cli = ROOT / "node_modules" / ".bin" / "cdk8s"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(cli), "synth", "--no-check-upgrade"], cwd=project, env=env, capture_output=True, text=True, timeout=180
    )


def test_cdk8s_synth_writes_dist_through_its_scratch_folder(project: Path) -> None:
    shutil.rmtree(project / "dist")
    result = _cdk8s_synth(project)
    assert result.returncode == 0, result.stderr
    assert tree(project / "dist") == tree(ROOT / "dist")
    assert "  - .cdk8s.out/production.k8s.yaml" in result.stdout


def test_fails_when_cdk8s_synth_gets_a_bad_config_and_keeps_dist(project: Path) -> None:
    config = project / "serving.yaml"
    config.write_text(config.read_text().replace("replicas: 2", "replicas: two", 1))
    before = tree(project / "dist")
    result = _cdk8s_synth(project)
    assert result.returncode != 0
    assert "error: serving.yaml: models.ai-model.versions.v1.replicas: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(project / "dist") == before
