"""make synth's examples step: quiet about the examples' known warnings unless an example changed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

SHADOW_WARNING = "warning: examples/shadow.yaml: production: models.fraud-detector.mirror: 20% of live traffic"


def _scratch(tmp_path: Path) -> Path:
    """scripts/ plus two examples and their committed output: one warns (shadow), one does not."""
    (tmp_path / "examples" / "dist").mkdir(parents=True)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    for name in ("canary", "shadow"):
        shutil.copy(ROOT / "examples" / f"{name}.yaml", tmp_path / "examples")
        shutil.copytree(ROOT / "examples" / "dist" / name, tmp_path / "examples" / "dist" / name)
    return tmp_path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-O", "scripts/synth_examples.py", *args],
        cwd=root, env={**os.environ, "MODEL_SERVING_VALIDATE": "0"}, capture_output=True, text=True, check=False, timeout=300,
    )


def test_unchanged_examples_keep_their_warnings_to_themselves(tmp_path: Path) -> None:
    root = _scratch(tmp_path)
    quiet = _run(root)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    loud = _run(root, "--warnings")
    assert loud.returncode == 0
    assert [line for line in loud.stderr.splitlines() if line.startswith("warning:")] == [
        line for line in loud.stderr.splitlines() if line.startswith(SHADOW_WARNING)
    ] != []


def test_an_example_whose_output_changed_shows_its_warnings(tmp_path: Path) -> None:
    root = _scratch(tmp_path)
    config = root / "examples" / "shadow.yaml"
    config.write_text(config.read_text().replace("weight: 100, replicas: 3", "weight: 100, replicas: 4"))
    done = _run(root)
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[1] for line in done.stderr.splitlines()] == [" examples/shadow.yaml"]
    assert "replicas: 4" in (root / "examples" / "dist" / "shadow" / "production.k8s.yaml").read_text()
